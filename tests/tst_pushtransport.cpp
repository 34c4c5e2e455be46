// SPDX-License-Identifier: MIT
// The transport's pure parts: the Authorization header a configuration asks for, and the redaction of every
// form of a secret in error text.
#include "pushtransport_p.h"

#include <QtTest/QtTest>

class tst_PushTransport : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void authorization_data()
    {
        QTest::addColumn<QUrl>("url");
        QTest::addColumn<QString>("user");
        QTest::addColumn<QString>("password");
        QTest::addColumn<QString>("token");
        QTest::addColumn<QByteArray>("expected");
        const QUrl plain(QStringLiteral("http://loki:3100"));
        QTest::newRow("none") << plain << QString() << QString() << QString() << QByteArray();
        QTest::newRow("basic settings")
            << plain << QStringLiteral("u") << QStringLiteral("p") << QString() << QByteArray("Basic dTpw");
        QTest::newRow("URL user info") << QUrl(QStringLiteral("http://user:pass@loki:3100")) << QString()
                                       << QString() << QString() << QByteArray("Basic dXNlcjpwYXNz");
        QTest::newRow("settings before URL")
            << QUrl(QStringLiteral("http://user:pass@loki:3100")) << QStringLiteral("u")
            << QStringLiteral("p") << QString() << QByteArray("Basic dTpw");
        QTest::newRow("bearer") << plain << QString() << QString() << QStringLiteral("tok")
                                << QByteArray("Bearer tok");
        QTest::newRow("basic before bearer") << plain << QStringLiteral("u") << QStringLiteral("p")
                                             << QStringLiteral("tok") << QByteArray("Basic dTpw");
    }
    void authorization()
    {
        QFETCH(QUrl, url);
        QFETCH(QString, user);
        QFETCH(QString, password);
        QFETCH(QString, token);
        QFETCH(QByteArray, expected);
        LokiConfig config;
        config.url = url;
        config.basicAuthUser = user;
        config.basicAuthPassword = password;
        config.bearerToken = token;
        QCOMPARE(LokiPushTransport::authorizationFor(config), expected);
    }

    void redaction_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QStringList>("mustNotContain");
        QTest::addColumn<QStringList>("mustContain");
        const QString b64 = QString::fromLatin1(QByteArray("tenant-9:s3cr3t-pw").toBase64());
        const QString b64url = QString::fromLatin1(
            QByteArray("tenant-9:s3cr3t-pw")
                .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
        QTest::newRow("password") << QStringLiteral("bad password s3cr3t-pw")
                                  << QStringList{QStringLiteral("s3cr3t-pw")}
                                  << QStringList{QStringLiteral("bad password <redacted>")};
        QTest::newRow("whole Authorization value")
            << QStringLiteral("authorization: Basic %1\nhost: loki").arg(b64)
            << QStringList{b64, QStringLiteral("Basic ") + b64} << QStringList{QStringLiteral("host: loki")};
        QTest::newRow("base64 alone") << QStringLiteral("got %1").arg(b64) << QStringList{b64}
                                      << QStringList{QStringLiteral("got <redacted>")};
        QTest::newRow("base64url") << QStringLiteral("got %1").arg(b64url) << QStringList{b64url}
                                   << QStringList{};
        QTest::newRow("user:password") << QStringLiteral("creds tenant-9:s3cr3t-pw")
                                       << QStringList{QStringLiteral("s3cr3t-pw")} << QStringList{};
        QTest::newRow("header value")
            << QStringLiteral("x-api-key: key-abcdef") << QStringList{QStringLiteral("key-abcdef")}
            << QStringList{QStringLiteral("x-api-key: <redacted>")};
        QTest::newRow("URL password, percent-encoded")
            << QStringLiteral("to http://me:p%40ss-word@loki:3100/loki/api/v1/push")
            << QStringList{QStringLiteral("p%40ss-word"), QStringLiteral("p@ss-word")}
            << QStringList{QStringLiteral("http://loki:3100/loki/api/v1/push")};
        QTest::newRow("URL password, decoded") << QStringLiteral("password p@ss-word")
                                               << QStringList{QStringLiteral("p@ss-word")} << QStringList{};
        QTest::newRow("ordinary text untouched")
            << QStringLiteral("entry for stream '{app=\"x\"}' has timestamp too old") << QStringList{}
            << QStringList{QStringLiteral("entry for stream '{app=\"x\"}' has timestamp too old")};
    }
    void redaction()
    {
        QFETCH(QString, text);
        QFETCH(QStringList, mustNotContain);
        QFETCH(QStringList, mustContain);
        LokiConfig config;
        config.url = QUrl(QStringLiteral("http://me:p%40ss-word@loki:3100"));
        config.basicAuthUser = QStringLiteral("tenant-9");
        config.basicAuthPassword = QStringLiteral("s3cr3t-pw");
        config.headers = {{QByteArray("X-Api-Key"), QByteArray("key-abcdef")}};
        const LokiRedactor redactor(config, LokiPushTransport::authorizationFor(config));
        const QString out = redactor.redact(text);
        for (const QString &secret : mustNotContain)
            QVERIFY2(!out.contains(secret), qPrintable(out));
        for (const QString &kept : mustContain)
            QVERIFY2(out.contains(kept), qPrintable(out));
    }

    void bearerTokenRedacted()
    {
        LokiConfig config;
        config.bearerToken = QStringLiteral("tok-abc-123");
        const LokiRedactor redactor(config, LokiPushTransport::authorizationFor(config));
        const QString out = redactor.redact(QStringLiteral("authorization: Bearer tok-abc-123"));
        QVERIFY2(!out.contains(QStringLiteral("tok-abc-123")), qPrintable(out));
    }
};

QTEST_GUILESS_MAIN(tst_PushTransport)
#include "tst_pushtransport.moc"
