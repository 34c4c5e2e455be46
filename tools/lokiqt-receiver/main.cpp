// SPDX-License-Identifier: MIT
// lokiqt-receiver: a Loki-compatible push receiver on 127.0.0.1 that prints every stream it stores.

#include "lokitestreceiver.h"

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QSaveFile>
#include <QtCore/QTextStream>
#include <QtCore/QTimeZone>
#include <QtCore/QTimer>

#if QT_CONFIG(ssl)
#include <QtCore/QFile>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QSslSocket>
#endif

#include <csignal>
#include <cstdio>

namespace {
constexpr int exitOk = 0;
constexpr int exitCannotListen = 1;
constexpr int exitUsage = 2;

volatile std::sig_atomic_t stopRequested = 0;

extern "C" void requestStop(int)
{
    stopRequested = 1;
}

int usageError(const QString &message)
{
    QTextStream(stderr) << "lokiqt-receiver: " << message << "\nTry 'lokiqt-receiver --help'.\n";
    return exitUsage;
}

// Loki's own rendering of a timestamp: RFC 3339 in UTC with all nine digits of nanoseconds.
QByteArray rfc3339(qint64 timestampNs)
{
    qint64 seconds = timestampNs / 1000000000;
    qint64 nanos = timestampNs % 1000000000;
    if (nanos < 0) {
        nanos += 1000000000;
        --seconds;
    }
    const QDateTime time = QDateTime::fromSecsSinceEpoch(seconds, QTimeZone::utc());
    return time.toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss")).toLatin1() + '.' +
           QByteArray::number(nanos).rightJustified(9, '0') + 'Z';
}

void printStored(const ReceivedPush &push, const QList<ReceivedStream> &stored)
{
    QByteArray out;
    for (const ReceivedStream &stream : stored) {
        if (stream.entries.isEmpty())
            continue; // every entry was a duplicate: nothing was stored
        out += LokiTestReceiver::formatLabels(stream.labels).toUtf8();
        out += " (" + QByteArray::number(stream.entries.size()) + " entries)\n";
        for (const ReceivedEntry &entry : stream.entries) {
            out += "  " + rfc3339(entry.timestampNs) + ' ' + entry.line.toUtf8();
            if (!entry.metadata.isEmpty())
                out += '\t' + LokiTestReceiver::formatLabels(entry.metadata).toUtf8();
            out += '\n';
        }
    }
    if (!out.isEmpty()) {
        std::fwrite(out.constData(), 1, size_t(out.size()), stdout);
        std::fflush(stdout);
    }
    if (push.status >= 300 || push.fault != ReceivedPush::Fault::None || push.duplicates > 0) {
        QByteArray note = "push answered " + QByteArray::number(push.status);
        if (!push.error.isEmpty())
            note += ": " + push.error.toUtf8();
        if (push.duplicates > 0)
            note += " (" + QByteArray::number(push.duplicates) + " duplicates dropped)";
        note += '\n';
        std::fwrite(note.constData(), 1, size_t(note.size()), stderr);
    }
}

#if QT_CONFIG(ssl)
// The server side of --tls-cert/--tls-key: the first certificate of the file is the server's, any others
// its chain. The key is PEM, RSA or EC, unencrypted.
bool loadTls(const QString &certPath, const QString &keyPath, QSslConfiguration *out, QString *error)
{
    const QList<QSslCertificate> chain = QSslCertificate::fromPath(certPath, QSsl::Pem);
    if (chain.isEmpty()) {
        *error = QStringLiteral("no PEM certificate in %1").arg(certPath);
        return false;
    }
    QFile keyFile(keyPath);
    if (!keyFile.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read %1: %2").arg(keyPath, keyFile.errorString());
        return false;
    }
    const QByteArray pem = keyFile.readAll();
    QSslKey key(pem, QSsl::Rsa, QSsl::Pem, QSsl::PrivateKey);
    if (key.isNull())
        key = QSslKey(pem, QSsl::Ec, QSsl::Pem, QSsl::PrivateKey);
    if (key.isNull()) {
        *error = QStringLiteral("no unencrypted PEM RSA or EC private key in %1").arg(keyPath);
        return false;
    }
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificateChain(chain);
    configuration.setPrivateKey(key);
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    *out = configuration;
    return true;
}
#endif
} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lokiqt-receiver"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "A Loki-compatible push receiver on 127.0.0.1 (POST /loki/api/v1/push, GET /ready): JSON, gzip or\n"
        "deflate JSON, and snappy-compressed protobuf; HTTPS with --tls-cert and --tls-key.\n"
        "Prints each stored stream to stdout as it arrives: a line with its labels and entry count,\n"
        "then one line per entry: RFC 3339 time with nanoseconds, the line, and a tab and the\n"
        "structured metadata when there is some. Refused pushes are reported on stderr.\n"
        "Stops on SIGINT or SIGTERM and prints 'received pushes=N entries=N' on stderr."));
    parser.addHelpOption();
    const QCommandLineOption portOption(
        QStringLiteral("port"), QStringLiteral("The port to listen on; 0 (the default) picks a free one."),
        QStringLiteral("N"), QStringLiteral("0"));
    const QCommandLineOption portFileOption(
        QStringLiteral("port-file"), QStringLiteral("Write the port listened on to FILE (atomically)."),
        QStringLiteral("FILE"));
    const QCommandLineOption quietOption(QStringLiteral("quiet"),
                                         QStringLiteral("Print nothing per push, only the summary."));
    const QCommandLineOption exitAfterOption(
        QStringLiteral("exit-after-ms"), QStringLiteral("Stop after MS milliseconds."), QStringLiteral("MS"));
    const QCommandLineOption countOnlyOption(
        QStringLiteral("count-only"),
        QStringLiteral("Count entries without keeping them (no duplicate filter): memory stays flat."));
    const QCommandLineOption tlsCertOption(
        QStringLiteral("tls-cert"),
        QStringLiteral(
            "Serve HTTPS with the PEM certificate in FILE (then its chain, if any); needs --tls-key."),
        QStringLiteral("FILE"));
    const QCommandLineOption tlsKeyOption(
        QStringLiteral("tls-key"),
        QStringLiteral("The unencrypted PEM private key (RSA or EC) for --tls-cert."),
        QStringLiteral("FILE"));
    parser.addOptions({portOption, portFileOption, quietOption, exitAfterOption, countOnlyOption,
                       tlsCertOption, tlsKeyOption});
    parser.process(app);
    if (!parser.positionalArguments().isEmpty())
        return usageError(
            QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().first()));

    bool ok = false;
    const uint port = parser.value(portOption).toUInt(&ok);
    if (!ok || port > 65535)
        return usageError(QStringLiteral("--port needs a number from 0 to 65535"));
    qint64 exitAfterMs = -1;
    if (parser.isSet(exitAfterOption)) {
        exitAfterMs = parser.value(exitAfterOption).toLongLong(&ok);
        if (!ok || exitAfterMs < 0)
            return usageError(QStringLiteral("--exit-after-ms needs a number of milliseconds"));
    }

    const bool tls = parser.isSet(tlsCertOption) || parser.isSet(tlsKeyOption);
    if (tls && !(parser.isSet(tlsCertOption) && parser.isSet(tlsKeyOption)))
        return usageError(QStringLiteral("--tls-cert and --tls-key go together"));
#if QT_CONFIG(ssl)
    QSslConfiguration tlsConfiguration;
    if (tls) {
        if (!QSslSocket::supportsSsl())
            return usageError(QStringLiteral("this Qt has no TLS backend: --tls-cert cannot be used"));
        QString why;
        if (!loadTls(parser.value(tlsCertOption), parser.value(tlsKeyOption), &tlsConfiguration, &why))
            return usageError(why);
    }
#else
    if (tls)
        return usageError(QStringLiteral("this Qt was built without TLS: --tls-cert cannot be used"));
#endif

    LokiTestReceiver receiver;
    receiver.setRecordEntries(!parser.isSet(countOnlyOption));
    if (!parser.isSet(quietOption))
        receiver.setPushCallback(printStored);
#if QT_CONFIG(ssl)
    const bool listening =
        tls ? receiver.listenTls(tlsConfiguration, quint16(port)) : receiver.listen(quint16(port));
#else
    const bool listening = receiver.listen(quint16(port));
#endif
    if (!listening) {
        QTextStream(stderr) << "lokiqt-receiver: cannot listen on 127.0.0.1:" << port << '\n';
        return exitCannotListen;
    }
    if (parser.isSet(portFileOption)) {
        QSaveFile file(parser.value(portFileOption));
        if (!file.open(QIODevice::WriteOnly) || file.write(QByteArray::number(receiver.port()) + '\n') < 0 ||
            !file.commit()) {
            QTextStream(stderr) << "lokiqt-receiver: cannot write " << file.fileName() << ": "
                                << file.errorString() << '\n';
            return exitCannotListen;
        }
    }
    QTextStream(stderr) << "listening on " << receiver.url().toString() << Qt::endl;

    // A signal handler may only set a flag; the event loop looks at it.
    std::signal(SIGINT, requestStop);
    std::signal(SIGTERM, requestStop);
    QTimer signalPoll;
    QObject::connect(&signalPoll, &QTimer::timeout, &app, [] {
        if (stopRequested)
            QCoreApplication::quit();
    });
    signalPoll.start(50);
    if (exitAfterMs >= 0)
        QTimer::singleShot(std::chrono::milliseconds(exitAfterMs), &app, &QCoreApplication::quit);

    app.exec();
    receiver.stop(); // returns once a push being printed is done
    std::fflush(stdout);
    QTextStream(stderr) << "received pushes=" << receiver.pushCount() << " entries=" << receiver.entryCount()
                        << Qt::endl;
    return exitOk;
}
