// SPDX-License-Identifier: MIT
#include "lokitestcertificates.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QStandardPaths>
#include <QtCore/QTemporaryDir>

#if QT_CONFIG(ssl)
#include <QtNetwork/QSslSocket>
#endif

struct LokiTestCertificates::Private
{
    std::unique_ptr<QTemporaryDir> dir;
    bool valid = false;
#if QT_CONFIG(ssl)
    QSslCertificate ca;
    QSslCertificate server;
    QSslKey serverKey;
    QSslCertificate client;
    QSslKey clientKey;
#endif

    QString path(const char *name) const
    {
        return dir ? dir->filePath(QString::fromLatin1(name)) : QString();
    }
};

namespace {
constexpr int opensslTimeoutMs = 60000;

bool runOpenssl(const QString &program, const QString &workingDirectory, const QStringList &arguments,
                QString *error)
{
    QProcess process;
    process.setWorkingDirectory(workingDirectory);
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(program, arguments);
    if (!process.waitForFinished(opensslTimeoutMs) || process.exitStatus() != QProcess::NormalExit ||
        process.exitCode() != 0) {
        if (error) {
            *error = QStringLiteral("openssl %1 failed: %2")
                         .arg(arguments.join(QLatin1Char(' ')),
                              process.error() == QProcess::UnknownError
                                  ? QString::fromLocal8Bit(process.readAll()).trimmed()
                                  : process.errorString());
        }
        return false;
    }
    return true;
}

bool writeFile(const QString &path, const QByteArray &contents, QString *error)
{
    QFile file(path);
    if (file.open(QIODevice::WriteOnly) && file.write(contents) == contents.size())
        return true;
    if (error)
        *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
    return false;
}

#if QT_CONFIG(ssl)
bool readCertificate(const QString &path, QSslCertificate *out, QString *error)
{
    const QList<QSslCertificate> certificates = QSslCertificate::fromPath(path, QSsl::Pem);
    if (certificates.isEmpty() || certificates.first().isNull()) {
        if (error)
            *error = QStringLiteral("cannot read the certificate %1").arg(path);
        return false;
    }
    *out = certificates.first();
    return true;
}

bool readKey(const QString &path, QSslKey *out, QString *error)
{
    QFile file(path);
    if (file.open(QIODevice::ReadOnly)) {
        QSslKey key(file.readAll(), QSsl::Rsa, QSsl::Pem, QSsl::PrivateKey);
        if (!key.isNull()) {
            *out = key;
            return true;
        }
    }
    if (error)
        *error = QStringLiteral("cannot read the private key %1").arg(path);
    return false;
}
#endif
} // namespace

LokiTestCertificates::LokiTestCertificates()
    : d(std::make_unique<Private>())
{}

LokiTestCertificates::~LokiTestCertificates() = default;

bool LokiTestCertificates::generate(QString *error)
{
    d->valid = false;
    const QString openssl = QStandardPaths::findExecutable(QStringLiteral("openssl"));
    if (openssl.isEmpty()) {
        if (error)
            *error = QStringLiteral(
                "the openssl command-line tool is not installed (Debian: apt install openssl)");
        return false;
    }
    d->dir = std::make_unique<QTemporaryDir>();
    if (!d->dir->isValid()) {
        if (error)
            *error = QStringLiteral("cannot create a temporary folder: %1").arg(d->dir->errorString());
        return false;
    }
    const QString work = d->dir->path();
    // Extensions for the two leaf certificates. Qt matches 127.0.0.1 against an IP subjectAltName.
    if (!writeFile(d->path("server.ext"),
                   "basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
                   error) ||
        !writeFile(d->path("client.ext"),
                   "basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=clientAuth\n",
                   error))
        return false;

    const QStringList newKey{QStringLiteral("-newkey"), QStringLiteral("rsa:2048"), QStringLiteral("-nodes")};
    // The CA: self-signed, valid for two days.
    if (!runOpenssl(openssl, work,
                    QStringList{QStringLiteral("req"), QStringLiteral("-x509")} + newKey +
                        QStringList{QStringLiteral("-keyout"), QStringLiteral("ca.key"),
                                    QStringLiteral("-out"), QStringLiteral("ca.pem"), QStringLiteral("-days"),
                                    QStringLiteral("2"), QStringLiteral("-subj"),
                                    QStringLiteral("/CN=lokiqt test CA"), QStringLiteral("-addext"),
                                    QStringLiteral("basicConstraints=critical,CA:TRUE"),
                                    QStringLiteral("-addext"),
                                    QStringLiteral("keyUsage=critical,keyCertSign,cRLSign")},
                    error))
        return false;
    const auto leaf = [&](const QString &name, const QString &subject, const QString &serial) {
        return runOpenssl(openssl, work,
                          QStringList{QStringLiteral("req")} + newKey +
                              QStringList{QStringLiteral("-keyout"), name + QStringLiteral(".key"),
                                          QStringLiteral("-out"), name + QStringLiteral(".csr"),
                                          QStringLiteral("-subj"), subject},
                          error) &&
               runOpenssl(openssl, work,
                          {QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"),
                           name + QStringLiteral(".csr"), QStringLiteral("-CA"), QStringLiteral("ca.pem"),
                           QStringLiteral("-CAkey"), QStringLiteral("ca.key"), QStringLiteral("-set_serial"),
                           serial, QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-extfile"),
                           name + QStringLiteral(".ext"), QStringLiteral("-out"),
                           name + QStringLiteral(".pem")},
                          error);
    };
    if (!leaf(QStringLiteral("server"), QStringLiteral("/CN=localhost"), QStringLiteral("2")) ||
        !leaf(QStringLiteral("client"), QStringLiteral("/CN=lokiqt test client"), QStringLiteral("3")))
        return false;

#if QT_CONFIG(ssl)
    if (!readCertificate(caCertificatePath(), &d->ca, error) ||
        !readCertificate(serverCertificatePath(), &d->server, error) ||
        !readKey(serverKeyPath(), &d->serverKey, error) ||
        !readCertificate(clientCertificatePath(), &d->client, error) ||
        !readKey(clientKeyPath(), &d->clientKey, error))
        return false;
#endif
    d->valid = true;
    return true;
}

bool LokiTestCertificates::isValid() const
{
    return d->valid;
}

QString LokiTestCertificates::directory() const
{
    return d->dir ? d->dir->path() : QString();
}

QString LokiTestCertificates::caCertificatePath() const
{
    return d->path("ca.pem");
}

QString LokiTestCertificates::serverCertificatePath() const
{
    return d->path("server.pem");
}

QString LokiTestCertificates::serverKeyPath() const
{
    return d->path("server.key");
}

QString LokiTestCertificates::clientCertificatePath() const
{
    return d->path("client.pem");
}

QString LokiTestCertificates::clientKeyPath() const
{
    return d->path("client.key");
}

#if QT_CONFIG(ssl)
QSslCertificate LokiTestCertificates::caCertificate() const
{
    return d->ca;
}

QSslCertificate LokiTestCertificates::serverCertificate() const
{
    return d->server;
}

QSslKey LokiTestCertificates::serverKey() const
{
    return d->serverKey;
}

QSslCertificate LokiTestCertificates::clientCertificate() const
{
    return d->client;
}

QSslKey LokiTestCertificates::clientKey() const
{
    return d->clientKey;
}

QSslConfiguration LokiTestCertificates::serverConfiguration(bool requireClientCertificate) const
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificate(d->server);
    configuration.setPrivateKey(d->serverKey);
    if (requireClientCertificate) {
        configuration.setCaCertificates({d->ca});
        configuration.setPeerVerifyMode(QSslSocket::VerifyPeer);
    } else {
        configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    }
    return configuration;
}

QSslConfiguration LokiTestCertificates::clientConfiguration(bool withClientCertificate) const
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setCaCertificates({d->ca});
    configuration.setPeerVerifyMode(QSslSocket::VerifyPeer);
    if (withClientCertificate) {
        configuration.setLocalCertificate(d->client);
        configuration.setPrivateKey(d->clientKey);
    }
    return configuration;
}
#endif
