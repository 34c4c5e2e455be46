// SPDX-License-Identifier: MIT
#include "lokitestcertificates.h"

#include <lokiqt/lokiconfig.h>

#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <memory>

using namespace std::chrono_literals;

namespace {
// Every variable LokiConfig::fromEnvironment() reads.
const char *const environmentNames[] = {"LOKI_URL",
                                        "LOKI_ADDR",
                                        "LOKI_USERNAME",
                                        "LOKI_PASSWORD",
                                        "LOKI_ORG_ID",
                                        "LOKI_BEARER_TOKEN",
                                        "LOKI_BEARER_TOKEN_FILE",
                                        "LOKI_CA_CERT_PATH",
                                        "LOKI_CLIENT_CERT_PATH",
                                        "LOKI_CLIENT_KEY_PATH",
                                        "LOKI_TLS_SKIP_VERIFY"};

// TLS expectations of a fromEnvironment row.
enum Tls { NoTls = -1, Ca = 1, ClientCertificate = 2, NoVerify = 4 };
} // namespace

class tst_LokiConfig : public QObject
{
    Q_OBJECT
private:
    // The environment as it was before a test, restored after it.
    QList<std::pair<const char *, std::optional<QByteArray>>> savedEnvironment;
    LokiTestCertificates certificates;
    QTemporaryDir files;

    QString writeFile(const QString &name, const QByteArray &content)
    {
        QFile file(files.filePath(name));
        if (!file.open(QIODevice::WriteOnly))
            return QString();
        file.write(content);
        return file.fileName();
    }

private Q_SLOTS:
    void initTestCase()
    {
        QString why;
        QVERIFY2(certificates.generate(&why), qPrintable(why)); // openssl is a test dependency
        QVERIFY(files.isValid());
    }

    void init()
    {
        savedEnvironment.clear();
        for (const char *name : environmentNames) {
            savedEnvironment.append(
                {name, qEnvironmentVariableIsSet(name) ? std::optional(qgetenv(name)) : std::nullopt});
            qunsetenv(name);
        }
    }

    void cleanup()
    {
        for (const auto &[name, value] : std::as_const(savedEnvironment)) {
            if (value)
                qputenv(name, *value);
            else
                qunsetenv(name);
        }
    }

    void fromEnvironment_data()
    {
        QTest::addColumn<QStringList>("environment"); // NAME=value; @FILE@ names a file of the test
        QTest::addColumn<QString>("url");
        QTest::addColumn<QString>("tenant");
        QTest::addColumn<QString>("user");
        QTest::addColumn<QString>("password");
        QTest::addColumn<QString>("token");
        QTest::addColumn<int>("tls");         // NoTls, or the Tls bits the sslConfiguration has
        QTest::addColumn<QString>("problem"); // in the problems; empty: there are none
        QTest::addColumn<bool>("warned");

        const QString local = QStringLiteral("http://localhost:3100");
        const QString none;
        QTest::newRow("nothing set") << QStringList{} << local << none << none << none << none << int(NoTls)
                                     << none << false;
        QTest::newRow("empty is unset") << QStringList{"LOKI_ADDR=", "LOKI_ORG_ID="} << local << none << none
                                        << none << none << int(NoTls) << none << false;
        QTest::newRow("LOKI_ADDR") << QStringList{"LOKI_ADDR=http://loki:3100"} << "http://loki:3100" << none
                                   << none << none << none << int(NoTls) << none << false;
        QTest::newRow("LOKI_ADDR with a prefix")
            << QStringList{"LOKI_ADDR=https://gw.example/tenant-a"} << "https://gw.example/tenant-a" << none
            << none << none << none << int(NoTls) << none << false;
        QTest::newRow("LOKI_URL wins over LOKI_ADDR")
            << QStringList{"LOKI_ADDR=http://addr:3100", "LOKI_URL=http://url:3100/loki/api/v1/push"}
            << "http://url:3100/loki/api/v1/push" << none << none << none << none << int(NoTls) << none
            << false;
        QTest::newRow("malformed LOKI_ADDR") << QStringList{"LOKI_ADDR=http://"} << local << none << none
                                             << none << none << int(NoTls) << "LOKI_ADDR: " << false;
        QTest::newRow("LOKI_URL not http")
            << QStringList{"LOKI_URL=ftp://u:pa55-secret@loki"} << local << none << none << none << none
            << int(NoTls) << "LOKI_URL: 'ftp://loki' is not an http" << false;
        QTest::newRow("malformed LOKI_URL with a password")
            << QStringList{"LOKI_URL=http://u:pa55-secret@lo ki:3100"} << local << none << none << none
            << none << int(NoTls) << "not shown" << false;
        QTest::newRow("basic auth and tenant")
            << QStringList{"LOKI_USERNAME=loki", "LOKI_PASSWORD=pa55-secret", "LOKI_ORG_ID=team-a"} << local
            << "team-a"
            << "loki"
            << "pa55-secret" << none << int(NoTls) << none << false;
        QTest::newRow("user without password")
            << QStringList{"LOKI_USERNAME=loki"} << local << none << none << none << none << int(NoTls)
            << "LOKI_USERNAME: set without" << false;
        QTest::newRow("password without user")
            << QStringList{"LOKI_PASSWORD=pa55-secret"} << local << none << none << none << none << int(NoTls)
            << "LOKI_PASSWORD: set without" << false;
        QTest::newRow("bearer token") << QStringList{"LOKI_BEARER_TOKEN=t0ken-secret"} << local << none
                                      << none << none << "t0ken-secret" << int(NoTls) << none << false;
        QTest::newRow("token file") << QStringList{"LOKI_BEARER_TOKEN_FILE=@TOKEN@"} << local << none << none
                                    << none << "t0ken-secret" << int(NoTls) << none << false;
        QTest::newRow("unreadable token file")
            << QStringList{"LOKI_BEARER_TOKEN_FILE=@MISSING@"} << local << none << none << none << none
            << int(NoTls) << "LOKI_BEARER_TOKEN_FILE: cannot read" << false;
        QTest::newRow("empty token file") << QStringList{"LOKI_BEARER_TOKEN_FILE=@EMPTY@"} << local << none
                                          << none << none << none << int(NoTls) << "holds no token" << false;
        QTest::newRow("token file of two lines")
            << QStringList{"LOKI_BEARER_TOKEN_FILE=@TWOLINES@"} << local << none << none << none << none
            << int(NoTls) << "more than one line" << false;
        QTest::newRow("token and basic auth")
            << QStringList{"LOKI_USERNAME=loki", "LOKI_PASSWORD=pa55-secret",
                           "LOKI_BEARER_TOKEN=t0ken-secret"}
            << local << none << none << none << none << int(NoTls) << "LOKI_BEARER_TOKEN: set together"
            << false;
        QTest::newRow("token and token file")
            << QStringList{"LOKI_BEARER_TOKEN=t0ken-secret", "LOKI_BEARER_TOKEN_FILE=@TOKEN@"} << local
            << none << none << none << none << int(NoTls) << "LOKI_BEARER_TOKEN_FILE: set together" << false;
        QTest::newRow("CA") << QStringList{"LOKI_CA_CERT_PATH=@CA@"} << local << none << none << none << none
                            << int(Ca) << none << false;
        QTest::newRow("unreadable CA")
            << QStringList{"LOKI_CA_CERT_PATH=@MISSING@"} << local << none << none << none << none
            << int(NoTls) << "LOKI_CA_CERT_PATH: cannot read" << false;
        QTest::newRow("CA not PEM") << QStringList{"LOKI_CA_CERT_PATH=@NOTPEM@"} << local << none << none
                                    << none << none << int(NoTls) << "LOKI_CA_CERT_PATH: no PEM certificate"
                                    << false;
        QTest::newRow("client certificate")
            << QStringList{"LOKI_CLIENT_CERT_PATH=@CERT@", "LOKI_CLIENT_KEY_PATH=@KEY@"} << local << none
            << none << none << none << int(ClientCertificate) << none << false;
        QTest::newRow("key without certificate")
            << QStringList{"LOKI_CLIENT_KEY_PATH=@KEY@"} << local << none << none << none << none
            << int(NoTls) << "LOKI_CLIENT_KEY_PATH: set without LOKI_CLIENT_CERT_PATH" << false;
        QTest::newRow("certificate without key")
            << QStringList{"LOKI_CLIENT_CERT_PATH=@CERT@"} << local << none << none << none << none
            << int(NoTls) << "LOKI_CLIENT_CERT_PATH: set without LOKI_CLIENT_KEY_PATH" << false;
        QTest::newRow("key not a key")
            << QStringList{"LOKI_CLIENT_CERT_PATH=@CERT@", "LOKI_CLIENT_KEY_PATH=@NOTPEM@"} << local << none
            << none << none << none << int(NoTls) << "LOKI_CLIENT_KEY_PATH: no unencrypted PEM private key"
            << false;
        QTest::newRow("unreadable key")
            << QStringList{"LOKI_CLIENT_CERT_PATH=@CERT@", "LOKI_CLIENT_KEY_PATH=@MISSING@"} << local << none
            << none << none << none << int(NoTls) << "LOKI_CLIENT_KEY_PATH: cannot read" << false;
        QTest::newRow("skip verify") << QStringList{"LOKI_TLS_SKIP_VERIFY=true"} << local << none << none
                                     << none << none << int(NoVerify) << none << true;
        QTest::newRow("skip verify 1") << QStringList{"LOKI_TLS_SKIP_VERIFY=1"} << local << none << none
                                       << none << none << int(NoVerify) << none << true;
        QTest::newRow("skip verify false") << QStringList{"LOKI_TLS_SKIP_VERIFY=false"} << local << none
                                           << none << none << none << int(NoTls) << none << false;
        QTest::newRow("skip verify yes")
            << QStringList{"LOKI_TLS_SKIP_VERIFY=yes"} << local << none << none << none << none << int(NoTls)
            << "LOKI_TLS_SKIP_VERIFY: 'yes'" << false;
        QTest::newRow("everything TLS")
            << QStringList{"LOKI_ADDR=https://loki.example", "LOKI_CA_CERT_PATH=@CA@",
                           "LOKI_CLIENT_CERT_PATH=@CERT@", "LOKI_CLIENT_KEY_PATH=@KEY@",
                           "LOKI_TLS_SKIP_VERIFY=T"}
            << "https://loki.example" << none << none << none << none
            << int(Ca | ClientCertificate | NoVerify) << none << true;
    }
    void fromEnvironment()
    {
        QFETCH(QStringList, environment);
        QFETCH(QString, url);
        QFETCH(QString, tenant);
        QFETCH(QString, user);
        QFETCH(QString, password);
        QFETCH(QString, token);
        QFETCH(int, tls);
        QFETCH(QString, problem);
        QFETCH(bool, warned);

        const QMap<QString, QString> paths{
            {QStringLiteral("@CA@"), certificates.caCertificatePath()},
            {QStringLiteral("@CERT@"), certificates.clientCertificatePath()},
            {QStringLiteral("@KEY@"), certificates.clientKeyPath()},
            {QStringLiteral("@TOKEN@"), writeFile(QStringLiteral("token"), "  t0ken-secret \n")},
            {QStringLiteral("@EMPTY@"), writeFile(QStringLiteral("empty"), " \n")},
            {QStringLiteral("@TWOLINES@"), writeFile(QStringLiteral("two"), "t0ken-secret\nsecond-secret\n")},
            {QStringLiteral("@NOTPEM@"), writeFile(QStringLiteral("not.pem"), "just text\n")},
            {QStringLiteral("@MISSING@"), files.filePath(QStringLiteral("missing"))},
        };
        for (QString assignment : std::as_const(environment)) {
            for (auto it = paths.cbegin(); it != paths.cend(); ++it)
                assignment.replace(it.key(), it.value());
            const qsizetype eq = assignment.indexOf(QLatin1Char('='));
            qputenv(assignment.left(eq).toLatin1().constData(), assignment.mid(eq + 1).toUtf8());
        }

#if !QT_CONFIG(ssl)
        // Without TLS support every TLS variable is a problem, and nothing else changes.
        if (environment.join(QLatin1Char(' '))
                .contains(QRegularExpression(
                    QStringLiteral("LOKI_(CA_CERT_PATH|CLIENT_CERT_PATH|CLIENT_KEY_PATH|TLS_SKIP_"
                                   "VERIFY)=")))) {
            problem = QStringLiteral("needs a Qt built with TLS support");
            tls = NoTls;
            warned = false;
        }
#endif
        if (warned)
            QTest::ignoreMessage(QtWarningMsg,
                                 QRegularExpression(QStringLiteral("LOKI_TLS_SKIP_VERIFY.*NOT")));
        QStringList problems{QStringLiteral("stale")};
        QStringList warnings;
        const LokiConfig config = LokiConfig::fromEnvironment(&problems, &warnings);
        const QString all = problems.join(QLatin1Char('\n'));
        if (problem.isEmpty())
            QVERIFY2(problems.isEmpty(), qPrintable(all));
        else
            QVERIFY2(all.contains(problem), qPrintable(all));
        // Each problem names its variable first; no secret ever appears.
        const QRegularExpression named(QStringLiteral("^LOKI_[A-Z_]+: "));
        for (const QString &text : std::as_const(problems)) {
            QVERIFY2(named.match(text).hasMatch(), qPrintable(text));
            QVERIFY2(!text.contains(QLatin1String("secret")), qPrintable(text));
            QVERIFY2(!text.contains(QLatin1String("PRIVATE")), qPrintable(text));
        }
        QCOMPARE(!warnings.isEmpty(), warned);

        QCOMPARE(config.url, QUrl(url));
        QCOMPARE(config.tenant, tenant);
        QCOMPARE(config.basicAuthUser, user);
        QCOMPARE(config.basicAuthPassword, password);
        QCOMPARE(config.bearerToken, token);
#if QT_CONFIG(ssl)
        QCOMPARE(config.sslConfiguration.has_value(), tls != NoTls);
        if (config.sslConfiguration) {
            const QSslConfiguration &ssl = *config.sslConfiguration;
            if (tls & Ca)
                QCOMPARE(ssl.caCertificates(), QList<QSslCertificate>{certificates.caCertificate()});
            else
                QVERIFY(!ssl.caCertificates().contains(certificates.caCertificate()));
            QCOMPARE(ssl.localCertificate(),
                     (tls & ClientCertificate) ? certificates.clientCertificate() : QSslCertificate());
            QCOMPARE(ssl.privateKey().isNull(), !(tls & ClientCertificate));
            QCOMPARE(ssl.peerVerifyMode() == QSslSocket::VerifyNone, bool(tls & NoVerify));
        }
#else
        Q_UNUSED(tls);
#endif
        // Whatever fromEnvironment() accepted passes isValid(), and the reports are optional.
        QVERIFY(config.isValid());
        if (warned) // every call warns
            QTest::ignoreMessage(QtWarningMsg,
                                 QRegularExpression(QStringLiteral("LOKI_TLS_SKIP_VERIFY.*NOT")));
        QCOMPARE(LokiConfig::fromEnvironment().url, config.url);
    }

    void defaultsAreValid()
    {
        LokiConfig config;
        QString why = QStringLiteral("untouched");
        QVERIFY(config.isValid(&why));
        QCOMPARE(why, QStringLiteral("untouched"));
        QCOMPARE(config.batch.maxEntries, 2000);
        QCOMPARE(config.batch.maxBytes, 1024 * 1024);
        QCOMPARE(config.batch.maxWait, 1000ms);
        QCOMPARE(config.retry.maxAttempts, 5);
        QCOMPARE(config.backpressure, LokiConfig::Backpressure::Block);
    }

    void pushUrl_data()
    {
        QTest::addColumn<QString>("url");
        QTest::addColumn<QString>("push");
        QTest::newRow("base") << "http://loki:3100"
                              << "http://loki:3100/loki/api/v1/push";
        QTest::newRow("base with slash") << "http://loki:3100/"
                                         << "http://loki:3100/loki/api/v1/push";
        QTest::newRow("prefix") << "https://gw.example/tenant-a/"
                                << "https://gw.example/tenant-a/loki/api/v1/push";
        QTest::newRow("full push URL") << "http://loki:3100/loki/api/v1/push"
                                       << "http://loki:3100/loki/api/v1/push";
    }
    void pushUrl()
    {
        QFETCH(QString, url);
        QFETCH(QString, push);
        LokiConfig config;
        config.url = QUrl(url);
        QCOMPARE(config.pushUrl(), QUrl(push));
    }

    void invalid_data()
    {
        QTest::addColumn<int>("which");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("ftp url") << 0 << "scheme";
        QTest::newRow("no host") << 1 << "url";
        QTest::newRow("bad label name") << 2 << "app-x";
        QTest::newRow("reserved label name") << 3 << "__name__";
        QTest::newRow("zero max entries") << 4 << "batch.maxEntries";
        QTest::newRow("zero max bytes") << 5 << "batch.maxBytes";
        QTest::newRow("zero max wait") << 6 << "batch.maxWait";
        QTest::newRow("zero queue") << 7 << "queueCapacity";
        QTest::newRow("jitter above 1") << 8 << "retry.jitter";
        QTest::newRow("multiplier below 1") << 9 << "retry.multiplier";
        QTest::newRow("zero attempts") << 10 << "retry.maxAttempts";
        QTest::newRow("max below initial backoff") << 11 << "retry.maxBackoff";
        QTest::newRow("bad header name") << 12 << "headers";
        QTest::newRow("16 labels") << 13 << "at most 15";
        QTest::newRow("empty label value") << 14 << "empty value";
        QTest::newRow("zero request timeout") << 15 << "requestTimeout";
    }
    void invalid()
    {
        QFETCH(int, which);
        QFETCH(QString, mentions);
        LokiConfig c;
        switch (which) {
        case 0:
            c.url = QUrl(QStringLiteral("ftp://loki:3100"));
            break;
        case 1:
            c.url = QUrl(QStringLiteral("http://"));
            break;
        case 2:
            c.labels.insert(QStringLiteral("app-x"), QStringLiteral("v"));
            break;
        case 3:
            c.labels.insert(QStringLiteral("__name__"), QStringLiteral("v"));
            break;
        case 4:
            c.batch.maxEntries = 0;
            break;
        case 5:
            c.batch.maxBytes = 0;
            break;
        case 6:
            c.batch.maxWait = 0ms;
            break;
        case 7:
            c.queueCapacity = 0;
            break;
        case 8:
            c.retry.jitter = 1.5;
            break;
        case 9:
            c.retry.multiplier = 0.5;
            break;
        case 10:
            c.retry.maxAttempts = 0;
            break;
        case 11:
            c.retry.maxBackoff = 10ms;
            break;
        case 12:
            c.headers.append({QByteArray("Bad Header"), QByteArray("v")});
            break;
        case 13:
            for (int i = 0; i < 16; ++i)
                c.labels.insert(QStringLiteral("l%1").arg(i), QStringLiteral("v"));
            break;
        case 14:
            c.labels.insert(QStringLiteral("env"), QString());
            break;
        case 15:
            c.requestTimeout = 0ms;
            break;
        }
        QString why;
        QVERIFY(!c.isValid(&why));
        QVERIFY2(why.contains(mentions), qPrintable(why));
        QVERIFY(!c.isValid()); // without a reason pointer too
    }

    void backpressureNames()
    {
        for (auto mode : {LokiConfig::Backpressure::Block, LokiConfig::Backpressure::DropNew,
                          LokiConfig::Backpressure::DropOldest}) {
            LokiConfig::Backpressure parsed = LokiConfig::Backpressure::Block;
            QVERIFY(LokiConfig::parseBackpressure(LokiConfig::backpressureName(mode), &parsed));
            QCOMPARE(parsed, mode);
        }
        LokiConfig::Backpressure untouched = LokiConfig::Backpressure::DropNew;
        QVERIFY(!LokiConfig::parseBackpressure(QStringLiteral("drop"), &untouched));
        QCOMPARE(untouched, LokiConfig::Backpressure::DropNew);
    }

    void secretsStayOutOfReasons()
    {
        LokiConfig c;
        c.url = QUrl(QStringLiteral("ftp://user:s3cret@loki:3100"));
        QString why;
        QVERIFY(!c.isValid(&why));
        QVERIFY2(!why.contains(QStringLiteral("s3cret")), qPrintable(why));
    }
};

QTEST_GUILESS_MAIN(tst_LokiConfig)
#include "tst_lokiconfig.moc"
