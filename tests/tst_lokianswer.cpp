// SPDX-License-Identifier: MIT
// Reading Loki's error answers: how many entries of a push a 400 refused (the others were stored).
#include "lokianswer_p.h"
#include "lokitestreceiver.h"

#include <lokiqt/lokiclient.h>

#include <QtTest/QtTest>

namespace {
// Loki 2.9.13's answers, as measured on it (tests/tst_realloki.cpp checks them against the real one).
const QByteArray tooOld =
    "entry for stream '{app=\"t1\"}' has timestamp too old: 2026-11-23T16:00:31Z, oldest "
    "acceptable timestamp is: 2026-11-24T16:00:31Z";
const QByteArray tooNew = "entry for stream '{app=\"t\"}' has timestamp too new: 2026-12-01T17:00:31Z";
const QByteArray tooLong =
    "Max entry size '10' bytes exceeded for stream '{app=\"t\"}' while adding an entry "
    "with length '12' bytes";
const QByteArray metadata =
    "stream '{app=\"t\"}' includes structured metadata, but this feature is disallowed. "
    "Please see limits_config.allow_structured_metadata or contact your Loki "
    "administrator to enable it.";
} // namespace

class tst_LokiAnswer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void refusedEntries_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("batchEntries");
        QTest::addColumn<int>("expected");
        QTest::newRow("one too old, as Loki writes it") << tooOld + '\n' << 1001 << 1;
        QTest::newRow("one too new") << tooNew << 10 << 1;
        QTest::newRow("one line too long") << tooLong << 10 << 1;
        QTest::newRow("one with metadata refused") << metadata << 10 << 1;
        QTest::newRow("grouped, one kind") << "3 errors like: " + tooOld + '\n' << 10 << 3;
        QTest::newRow("grouped, two kinds")
            << "2 errors like: " + tooOld + "; 1 errors like: " + tooNew + '\n'
            << 10 << 3;
        QTest::newRow("grouped, three kinds")
            << "5 errors like: " + tooLong + "; 1 errors like: " + tooOld + "; 2 errors like: " + metadata
            << 8 << 8;
        QTest::newRow("every entry refused") << "4 errors like: " + tooOld << 4 << 4;
        QTest::newRow("more than the batch") << "5 errors like: " + tooOld << 4 << -1;
        QTest::newRow("a stream's labels: all its entries")
            << QByteArray("error at least one label pair is required per stream") << 10 << -1;
        QTest::newRow("labels among entries")
            << "1 errors like: " + tooOld + "; 1 errors like: couldn't parse labels: 1:2: parse error" << 10
            << -1;
        QTest::newRow("malformed JSON")
            << QByteArray("loghttp.PushRequest.Streams: []*loghttp.Stream: ...") << 10 << -1;
        QTest::newRow("no org id") << QByteArray("no org id\n") << 10 << -1;
        QTest::newRow("empty") << QByteArray() << 10 << -1;
        QTest::newRow("cut short") << tooOld.left(tooOld.size() - 30) << 10 << -1;
        QTest::newRow("cut inside a group")
            << "2 errors like: " + tooOld + "; 1 errors like: entry for stream '{app=\"t\"}' has tim" << 10
            << -1;
        QTest::newRow("text before the reason") << "rpc error: " + tooOld << 10 << -1;
        QTest::newRow("a group without its count") << tooOld + "; 1 errors like: " + tooNew << 10 << -1;
        QTest::newRow("zero count") << "0 errors like: " + tooOld << 10 << -1;
        QTest::newRow("no batch") << tooOld << 0 << -1;
        // A label value that imitates the separator does not fool it: the pieces are no reasons.
        QTest::newRow("forged separator in a label")
            << QByteArray("entry for stream '{app=\"x; 9 errors like: y\"}' has timestamp too new: "
                          "2026-12-01T17:00:31Z")
            << 20 << -1;
        const QByteArray ingester = "entry with timestamp 2026-12-01 15:00:00 +0000 UTC ignored, reason: "
                                    "'entry too far behind, oldest "
                                    "acceptable timestamp is: 2026-12-01T15:30:00Z',\n"
                                    "entry with timestamp 2026-12-01 15:00:01 +0000 UTC ignored, reason: "
                                    "'entry too far behind, oldest "
                                    "acceptable timestamp is: 2026-12-01T15:30:00Z',\n"
                                    "user 'fake', total ignored: 2 out of 50 for stream: {app=\"t\"}";
        QTest::newRow("ingester, the batch's one stream") << ingester << 50 << 2;
        QTest::newRow("ingester, one of several streams") << ingester << 80 << -1;
    }
    void refusedEntries()
    {
        QFETCH(QByteArray, body);
        QFETCH(int, batchEntries);
        QFETCH(int, expected);
        QCOMPARE(LokiAnswer::refusedEntries(body, batchEntries), expected);
    }

    // One entry 8 days old among 1,000 good ones: the receiver answers 400 the way Loki does and stores the
    // 1,000. Only the old one counts as failed; the 1,000 count as sent, and the error says so.
    void onlyTheRefusedEntryFails()
    {
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.setCheckTimestamps(true);
        receiver.setGroupedErrors(true);
        LokiConfig config;
        config.url = receiver.url();
        config.labels = {{QStringLiteral("app"), QStringLiteral("answer")}};
        config.batch.maxWait = std::chrono::milliseconds(60000); // one batch: flush() sends it
        LokiClient client(config);
        const qint64 eightDaysAgoNs =
            (QDateTime::currentMSecsSinceEpoch() - 8LL * 24 * 3600 * 1000) * 1000000;
        for (int i = 0; i < 1000; ++i) {
            if (i == 500) {
                LokiEntry old(QStringLiteral("eight days old"));
                old.timestampNs = eightDaysAgoNs;
                QCOMPARE(client.send(old), LokiClient::SendResult::Accepted);
            }
            QCOMPARE(client.send(QStringLiteral("good %1").arg(i)), LokiClient::SendResult::Accepted);
        }
        QVERIFY(!client.flush(QDeadlineTimer(30000))); // not all delivered: one failed
        QCOMPARE(receiver.pushCount(), 1);
        QCOMPARE(receiver.entryCount(), 1000);
        const LokiClient::Counters c = client.counters();
        QCOMPARE(c.failed, qint64(1));
        QCOMPARE(c.sent, qint64(1000));
        QCOMPARE(c.retried, qint64(0));
        const LokiError error = client.lastError();
        QCOMPARE(error.httpStatus(), 400);
        QCOMPARE(error.entries(), 1);
        QVERIFY2(error.message().contains(QLatin1String("timestamp too old")), qPrintable(error.message()));
        QVERIFY2(error.message().contains(QLatin1String("stored the other 1000 of the 1001 entries")),
                 qPrintable(error.message()));
    }

    // A reason the reader cannot count keeps today's rule: the whole batch counts as failed.
    void anUnreadableAnswerFailsTheWholeBatch()
    {
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.failNext(1, 400, "something Loki never says");
        LokiConfig config;
        config.url = receiver.url();
        config.batch.maxWait = std::chrono::milliseconds(60000);
        LokiClient client(config);
        for (int i = 0; i < 10; ++i)
            QCOMPARE(client.send(QStringLiteral("line %1").arg(i)), LokiClient::SendResult::Accepted);
        QVERIFY(!client.flush(QDeadlineTimer(30000)));
        QCOMPARE(client.counters().failed, qint64(10));
        QCOMPARE(client.counters().sent, qint64(0));
        QCOMPARE(client.lastError().entries(), 10);
    }
};

QTEST_GUILESS_MAIN(tst_LokiAnswer)
#include "tst_lokianswer.moc"
