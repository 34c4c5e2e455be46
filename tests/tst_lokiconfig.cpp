// SPDX-License-Identifier: MIT
#include <lokiqt/lokiconfig.h>

#include <QtTest/QtTest>

using namespace std::chrono_literals;

class tst_LokiConfig : public QObject
{
    Q_OBJECT
private Q_SLOTS:
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
