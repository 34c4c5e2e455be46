// SPDX-License-Identifier: MIT
#include <lokiqt/lokiclient.h>

#include "lokiclient_p.h"
#include "lokitestreceiver.h"
#include "lokiworker_p.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QSet>
#include <QtCore/QThread>
#include <QtTest/QtTest>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

using namespace std::chrono_literals;

namespace {
constexpr int longWait = 20000; // generous: a loaded CI machine must never fail a test by being slow

LokiConfig configFor(const LokiTestReceiver &receiver)
{
    LokiConfig config;
    config.url = receiver.url();
    config.labels = {{QStringLiteral("app"), QStringLiteral("test")}};
    config.batch.maxWait = 50ms;
    config.retry.initialBackoff = 20ms;
    config.retry.maxBackoff = 100ms;
    return config;
}

// A queue of 5 and batches of 5 that keep retrying: with the receiver stopped, the queue fills at once.
LokiConfig saturatingConfig(const LokiTestReceiver &receiver, LokiConfig::Backpressure mode)
{
    LokiConfig config = configFor(receiver);
    config.queueCapacity = 5;
    config.batch.maxEntries = 5;
    config.retry.maxAttempts = 1000;
    config.retry.initialBackoff = 200ms;
    config.retry.maxBackoff = 200ms;
    config.backpressure = mode;
    return config;
}

// Stops the receiver and sends 0..4: one full batch, which the worker takes and keeps retrying.
bool stallFirstBatch(LokiClient &client, LokiTestReceiver &receiver)
{
    QSignalSpy errors(&client, &LokiClient::errorOccurred);
    receiver.stop();
    for (int i = 0; i < 5; ++i) {
        if (client.send(QString::number(i)) != LokiClient::SendResult::Accepted)
            return false;
    }
    return QTest::qWaitFor([&] { return !errors.isEmpty(); }, longWait);
}

// The number of the worker's own timers that run, read in the worker's thread.
int activeWorkerTimers(LokiClient &client)
{
    LokiWorker *worker = LokiClientPrivate::get(&client)->worker;
    int active = -1;
    QMetaObject::invokeMethod(
        worker, [worker, &active] { active = worker->activeTimers(); }, Qt::BlockingQueuedConnection);
    return active;
}

QStringList numbered(int from, int to)
{
    QStringList out;
    for (int i = from; i < to; ++i)
        out << QString::number(i);
    return out;
}
} // namespace

class tst_LokiClient : public QObject
{
    Q_OBJECT
private:
    std::unique_ptr<LokiTestReceiver> receiver;

private Q_SLOTS:
    void init()
    {
        receiver = std::make_unique<LokiTestReceiver>();
        QVERIFY(receiver->listen());
    }
    void cleanup() { receiver.reset(); }

    void deliversEntriesWithLabelsAndFields()
    {
        LokiClient client(configFor(*receiver));
        LokiEntry entry(QStringLiteral("order placed"));
        entry.fields = {
            {QStringLiteral("order_id"), 4711},
            {QStringLiteral("http"), QVariantMap{{QStringLiteral("method"), QStringLiteral("POST")}}},
            {QStringLiteral("note"), QStringLiteral("two words")}};
        entry.labels = {{QStringLiteral("env"), QStringLiteral("prod")}};
        QCOMPARE(client.send(entry), LokiClient::SendResult::Accepted);
        QCOMPARE(client.send(QStringLiteral("plain")), LokiClient::SendResult::Accepted);
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 2, longWait);
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got[0].line,
                 QStringLiteral("order placed http.method=POST note=\"two words\" order_id=4711"));
        const QMap<QString, QString> expectedLabels{{QStringLiteral("app"), QStringLiteral("test")},
                                                    {QStringLiteral("env"), QStringLiteral("prod")}};
        QCOMPARE(got[0].labels, expectedLabels);
        QCOMPARE(got[1].line, QStringLiteral("plain"));
        QCOMPARE(got[1].labels, (QMap<QString, QString>{{QStringLiteral("app"), QStringLiteral("test")}}));
        QCOMPARE(receiver->pushes().first().contentType, QByteArray("application/x-protobuf")); // the default
        QTRY_COMPARE_WITH_TIMEOUT(client.sent(), 2, longWait);
        QCOMPARE(client.accepted(), 2);
        QCOMPARE(client.queued(), 0);
        QTRY_COMPARE_WITH_TIMEOUT(client.state(), LokiClient::State::Idle, longWait);
    }

    void fieldsBecomeLabelsOnlyWhenAllowListed()
    {
        LokiConfig config = configFor(*receiver);
        config.labelAllowList = {QStringLiteral("http.method"), QStringLiteral("user_id")};
        config.labelDenyList = {QStringLiteral("user_id")};
        LokiClient client(config);
        LokiEntry entry(QStringLiteral("request"));
        entry.fields = {
            {QStringLiteral("http"), QVariantMap{{QStringLiteral("method"), QStringLiteral("GET")}}},
            {QStringLiteral("user_id"), 7},
            {QStringLiteral("request_id"), QStringLiteral("r-1")}};
        client.send(entry);
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        const ReceivedEntry got = receiver->entries().first();
        const QMap<QString, QString> expected{{QStringLiteral("app"), QStringLiteral("test")},
                                              {QStringLiteral("http_method"), QStringLiteral("GET")}};
        QCOMPARE(got.labels, expected);
        QCOMPARE(got.line, QStringLiteral("request http.method=GET request_id=r-1 user_id=7"));
    }

    void streamWithoutLabelsGetsServiceName()
    {
        LokiConfig config = configFor(*receiver);
        config.labels.clear();
        LokiClient client(config);
        client.send(QStringLiteral("no labels configured"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        QVERIFY(receiver->entries().first().labels.contains(QStringLiteral("service_name")));
    }

    void flushesOnMaxEntries()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 10;
        config.batch.maxWait = 1h;
        LokiClient client(config);
        for (int i = 0; i < 9; ++i)
            client.send(QString::number(i));
        // Nine entries trigger nothing; the tenth completes a batch and all ten go out as one push.
        client.send(QStringLiteral("9"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 10, longWait);
        const QList<ReceivedPush> pushes = receiver->pushes();
        QCOMPARE(pushes.size(), 1);
        QCOMPARE(pushes[0].streams.size(), 1);
        QCOMPARE(lines(pushes[0].streams[0].entries), numbered(0, 10));
    }

    // Several pushes under way at once against a slow server (each answer waits 300 ms): up to
    // batch.maxInFlight at a time, never more, and everything stored exactly once with exact counters.
    void severalPushesAreUnderWayAtOnce_data()
    {
        QTest::addColumn<int>("maxInFlight");
        QTest::newRow("4") << 4;
        QTest::newRow("one at a time") << 1;
    }
    void severalPushesAreUnderWayAtOnce()
    {
        QFETCH(int, maxInFlight);
        receiver->setResponseDelay(300ms);
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 100;
        config.batch.maxInFlight = maxInFlight;
        config.queueCapacity = 10000;
        LokiClient client(config);
        for (int i = 0; i < 2000; ++i)
            QCOMPARE(client.send(QString::number(i)), LokiClient::SendResult::Accepted);
        QVERIFY(client.flush(QDeadlineTimer(60000)));
        QCOMPARE(receiver->entryCount(), 2000);
        QCOMPARE(receiver->duplicateCount(), 0);
        QCOMPARE(client.counters().sent, 2000);
        QCOMPARE(client.counters().queued, 0);
        if (maxInFlight == 1) {
            QCOMPARE(receiver->maxConcurrentRequests(), 1);
            // One at a time: the pushes arrive in the order the entries were accepted.
            QCOMPARE(lines(receiver->entriesInArrivalOrder()), numbered(0, 2000));
        } else {
            QVERIFY2(receiver->maxConcurrentRequests() > 1, "never more than one push under way");
            QVERIFY(receiver->maxConcurrentRequests() <= maxInFlight);
            // Side by side, pushes may arrive in any order; the timestamps keep the order of acceptance.
            QCOMPARE(lines(receiver->entries()), numbered(0, 2000));
        }
    }

    // While a push waits for its retry, no further batch is taken, whatever maxInFlight allows: the queue
    // fills and backpressure applies, instead of one batch after the other being held in memory retrying.
    void noNewBatchWhileAPushRetries()
    {
        LokiConfig config = saturatingConfig(*receiver, LokiConfig::Backpressure::DropNew);
        config.batch.maxInFlight = 8;
        LokiClient client(config);
        QVERIFY(stallFirstBatch(client, *receiver));
        for (int i = 5; i < 10; ++i) // a full batch, and the queue is full
            QCOMPARE(client.send(QString::number(i)), LokiClient::SendResult::Accepted);
        QTest::qWait(500); // time enough for the worker to take that batch, if it took one
        int accepted = 0;
        for (int i = 10; i < 110; ++i)
            accepted += client.send(QString::number(i)) == LokiClient::SendResult::Accepted ? 1 : 0;
        QCOMPARE(accepted, 0); // the queue is still full: no second batch was taken
        QCOMPARE(client.counters().droppedNew, qint64(100));
    }

    // A spool pushes batches side by side too, acknowledges them in the order taken, and keeps nothing
    // once all are delivered.
    void aSpoolPushesSideBySide()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        receiver->setResponseDelay(100ms);
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 50;
        config.batch.maxInFlight = 4;
        config.spool.directory = dir.path();
        LokiClient client(config);
        QVERIFY(client.isSpooling());
        for (int i = 0; i < 1000; ++i)
            client.send(QString::number(i));
        QVERIFY(client.flush(QDeadlineTimer(60000)));
        QCOMPARE(receiver->entryCount(), 1000);
        QCOMPARE(receiver->duplicateCount(), 0);
        QVERIFY2(receiver->maxConcurrentRequests() > 1, "the spool pushed one batch at a time");
        QVERIFY(receiver->maxConcurrentRequests() <= 4);
        QCOMPARE(lines(receiver->entries()), numbered(0, 1000));
        QCOMPARE(client.counters().sent, qint64(1000));
        QVERIFY(client.close(QDeadlineTimer(longWait)));
        LokiClient next(config); // everything was acknowledged: nothing is replayed
        QCOMPARE(next.counters().replayed, qint64(0));
    }

    // With pushes under way at once, a flush() waits for every push that holds its entries, also one
    // answered after later ones.
    void flushWaitsForEveryPushUnderWay()
    {
        receiver->setResponseDelay(200ms);
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 10;
        config.batch.maxInFlight = 8;
        LokiClient client(config);
        for (int i = 0; i < 55; ++i)
            client.send(QString::number(i));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 55);
        QCOMPARE(client.counters().sent, 55);
    }

    void flushesOnMaxBytes()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 1000;
        config.batch.maxBytes = 100;
        config.batch.maxWait = 1h;
        LokiClient client(config);
        const QString line(25, QLatin1Char('x'));
        for (int i = 0; i < 10; ++i)
            client.send(line);
        // 25-byte lines: every 100 bytes make a batch of four; the last two wait for another trigger.
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 8, longWait);
        const QList<ReceivedPush> pushes = receiver->pushes();
        QCOMPARE(pushes.size(), 2);
        for (const ReceivedPush &push : pushes)
            QCOMPARE(push.streams[0].entries.size(), 4);
        QCOMPARE(client.queued(), 2);
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 10);
    }

    void fullQueueSmallerThanABatchFlushes()
    {
        LokiConfig config = configFor(*receiver);
        config.queueCapacity = 5;
        config.batch.maxEntries = 100;
        config.batch.maxWait = 1h;
        LokiClient client(config);
        for (int i = 0; i < 12;
             ++i) // Block mode: each full queue must go out, not wait an hour for the timer
            QCOMPARE(client.send(QString::number(i), QDeadlineTimer(longWait)),
                     LokiClient::SendResult::Accepted);
        QTRY_VERIFY_WITH_TIMEOUT(receiver->entryCount() >= 10, longWait);
        QCOMPARE(lines(receiver->entries()).mid(0, 10), numbered(0, 10));
    }

    void flushesOnMaxWait()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 1000;
        config.batch.maxWait = 300ms;
        LokiClient client(config);
        QElapsedTimer timer;
        timer.start();
        client.send(QStringLiteral("a"));
        client.send(QStringLiteral("b"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 2, longWait);
        // Not before the wait is over: no other trigger was hit.
        QVERIFY2(timer.elapsed() >= 250, qPrintable(QString::number(timer.elapsed())));
        QCOMPARE(receiver->pushCount(), 1);
    }

    void noTimerRunsWhileIdle()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxWait = 1h;
        LokiClient client(config);
        QCOMPARE(activeWorkerTimers(client), 0);
        client.send(QStringLiteral("pending"));
        QTRY_COMPARE_WITH_TIMEOUT(activeWorkerTimers(client), 1, longWait); // the batch wait runs
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QTRY_COMPARE_WITH_TIMEOUT(client.state(), LokiClient::State::Idle, longWait);
        QCOMPARE(activeWorkerTimers(client), 0); // nothing to send: nothing wakes the thread
    }

    void timestampsStrictlyIncrease()
    {
        LokiClient client(configFor(*receiver));
        for (int i = 0; i < 2000; ++i)
            client.send(QString::number(i));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 2000, longWait);
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(lines(got), numbered(0, 2000));
        for (int i = 1; i < got.size(); ++i)
            QVERIFY(got[i].timestampNs > got[i - 1].timestampNs);
    }

    void explicitTimestampIsKept()
    {
        LokiClient client(configFor(*receiver));
        const qint64 ts = QDateTime::currentMSecsSinceEpoch() * 1000000 - 5000;
        LokiEntry entry(QStringLiteral("stamped"));
        entry.timestampNs = ts;
        client.send(entry);
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        QCOMPARE(receiver->entries().first().timestampNs, ts);
    }

    void retriesTransientFailures_data()
    {
        QTest::addColumn<int>("status");
        QTest::newRow("429") << 429;
        QTest::newRow("500") << 500;
        QTest::newRow("502") << 502;
        QTest::newRow("503") << 503;
        QTest::newRow("504") << 504;
    }
    void retriesTransientFailures()
    {
        QFETCH(int, status);
        LokiClient client(configFor(*receiver));
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver->failNext(2, status, "busy, try later");
        for (int i = 0; i < 5; ++i)
            client.send(QString::number(i));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 5, longWait);
        QCOMPARE(receiver->pushCount(), 3);
        QTRY_COMPARE_WITH_TIMEOUT(errors.size(), 2, longWait);
        for (const QList<QVariant> &args : std::as_const(errors)) {
            const auto error = args.at(0).value<LokiError>();
            QCOMPARE(error.kind(), LokiError::Kind::Http);
            QCOMPARE(error.httpStatus(), status);
            QVERIFY(error.willRetry());
            QCOMPARE(error.entries(), 5);
            QCOMPARE(error.message(), QStringLiteral("busy, try later"));
        }
        QCOMPARE(errors.at(1).at(0).value<LokiError>().attempt(), 2);
        QTRY_COMPARE_WITH_TIMEOUT(client.sent(), 5, longWait);
        QCOMPARE(client.retried(), 2);
        QCOMPARE(client.failed(), 0);
    }

    void honoursRetryAfter()
    {
        LokiConfig config = configFor(*receiver); // backoff 20 ms .. 100 ms
        config.retry.maxBackoff = 5s;
        LokiClient client(config);
        receiver->failNext(1, 429, "slow down", "1");
        QElapsedTimer timer;
        timer.start();
        client.send(QStringLiteral("patient"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        // The server asked for one second; the configured backoff alone would have retried after 20 ms.
        QVERIFY2(timer.elapsed() >= 950, qPrintable(QString::number(timer.elapsed())));
        QCOMPARE(client.retried(), 1);
    }

    void correctsTimestampsOfADeviceWithAWrongClock_data()
    {
        QTest::addColumn<qint64>("offsetMs");
        QTest::addColumn<bool>("spool");
        const qint64 threeYears = qint64(3) * 365 * 24 * 3600 * 1000;
        const qint64 twoDays = qint64(2) * 24 * 3600 * 1000;
        QTest::newRow("device three years behind") << threeYears << false;
        QTest::newRow("device two days ahead") << -twoDays << false;
        QTest::newRow("device three years behind, spool") << threeYears << true;
        QTest::newRow("device two days ahead, spool") << -twoDays << true;
    }
    void correctsTimestampsOfADeviceWithAWrongClock()
    {
        QFETCH(qint64, offsetMs);
        QFETCH(bool, spool);
        receiver->setCheckTimestamps(true); // Loki's one-week and ten-minute rules, on the receiver's clock
        receiver->setClockOffset(std::chrono::milliseconds(offsetMs));
        LokiConfig config = configFor(*receiver);
        config.batch.maxWait = 1h; // the three entries go out together, when flushed
        QTemporaryDir dir;
        if (spool)
            config.spool.directory = dir.path();
        LokiClient client(config);
        QCOMPARE(client.isSpooling(), spool);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        for (int i = 0; i < 3; ++i)
            client.send(QString::number(i));
        QVERIFY2(client.flush(QDeadlineTimer(longWait)), qPrintable(client.lastError().toString()));
        client.send(QStringLiteral("after"));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(lines(got), numbered(0, 3) << QStringLiteral("after"));
        const qint64 serverNowNs = (QDateTime::currentMSecsSinceEpoch() + offsetMs) * 1000000;
        for (const ReceivedEntry &e : got)
            QVERIFY2(qAbs(e.timestampNs - serverNowNs) < qint64(120) * 1000000000, qPrintable(e.line));
        for (int i = 1; i < got.size(); ++i)
            QVERIFY(got[i].timestampNs > got[i - 1].timestampNs); // still distinct and in order
        QCOMPARE(receiver->pushCount(), 3); // refused once, corrected and resent, then right from the start
        QCOMPARE(client.failed(), 0);
        QTRY_VERIFY_WITH_TIMEOUT(std::any_of(errors.cbegin(), errors.cend(),
                                             [](const QList<QVariant> &args) {
                                                 const auto e = args.at(0).value<LokiError>();
                                                 return e.kind() == LokiError::Kind::Limit &&
                                                        e.message().contains(QStringLiteral("clock"));
                                             }),
                                 longWait);
    }

    // Failure 2.1 of issue 9: the Date header that corrects the clock arrives while entries wait in a spool
    // (the memory ring is empty then); the correction divided by the ring's size, 0, and died of SIGFPE.
    void aClockCorrectionWhileEntriesWaitInTheSpoolKeepsThemAll()
    {
        const qint64 threeYearsMs = qint64(3) * 365 * 24 * 3600 * 1000;
        receiver->setClockOffset(std::chrono::milliseconds(threeYearsMs));
        receiver->setResponseDelay(300ms); // the later entries are queued when the first answer arrives
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 1; // one entry per push, one push at a time: the others wait in the spool
        config.batch.maxInFlight = 1;
        config.batch.maxWait = 1ms;
        QTemporaryDir dir;
        config.spool.directory = dir.path();
        LokiClient client(config);
        QVERIFY(client.isSpooling());
        for (int i = 0; i < 5; ++i)
            QCOMPARE(client.send(QString::number(i)), LokiClient::SendResult::Accepted);
        QVERIFY2(client.flush(QDeadlineTimer(longWait)), qPrintable(client.lastError().toString()));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(lines(got), numbered(0, 5));
        // The entries taken after the correction carry it.
        const qint64 serverNowNs = (QDateTime::currentMSecsSinceEpoch() + threeYearsMs) * 1000000;
        QVERIFY2(qAbs(got.last().timestampNs - serverNowNs) < qint64(120) * 1000000000,
                 qPrintable(QString::number(got.last().timestampNs)));
        for (int i = 1; i < got.size(); ++i)
            QVERIFY(got[i].timestampNs > got[i - 1].timestampNs);
    }

    void smallClockDifferencesAreLeftAlone()
    {
        receiver->setCheckTimestamps(true);
        receiver->setClockOffset(std::chrono::seconds(30)); // below the 5-minute threshold
        LokiClient client(configFor(*receiver));
        const qint64 before = QDateTime::currentMSecsSinceEpoch() * 1000000;
        client.send(QStringLiteral("x"));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        const qint64 after = QDateTime::currentMSecsSinceEpoch() * 1000000;
        const qint64 ts = receiver->entries().first().timestampNs;
        QVERIFY(ts >= before - 1000000000 && ts <= after + 1000000000);
    }

    void clockCorrectionCanBeTurnedOff()
    {
        receiver->setCheckTimestamps(true);
        receiver->setClockOffset(std::chrono::hours(24 * 365));
        LokiConfig config = configFor(*receiver);
        config.clockSkewThreshold = std::chrono::milliseconds(0);
        LokiClient client(config);
        client.send(QStringLiteral("too old for that server"));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(client.failed(), 1);
        QVERIFY2(client.lastError().message().contains(QStringLiteral("timestamp too old")),
                 qPrintable(client.lastError().message()));
        QCOMPARE(receiver->pushCount(), 1);
    }

    void failsAtOnceOnOtherErrors_data()
    {
        QTest::addColumn<int>("status");
        QTest::newRow("400") << 400;
        QTest::newRow("401") << 401;
        QTest::newRow("403") << 403;
        QTest::newRow("404") << 404;
        QTest::newRow("260 ingestion blocked") << 260;
    }
    void failsAtOnceOnOtherErrors()
    {
        QFETCH(int, status);
        LokiClient client(configFor(*receiver));
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver->failNext(1, status, "entry for stream '{app=\"test\"}' has timestamp too old");
        for (int i = 0; i < 3; ++i)
            client.send(QString::number(i));
        QTRY_COMPARE_WITH_TIMEOUT(errors.size(), 1, longWait);
        const auto error = errors.at(0).at(0).value<LokiError>();
        QCOMPARE(error.kind(), LokiError::Kind::Http);
        QCOMPARE(error.httpStatus(), status);
        QVERIFY(!error.willRetry());
        QCOMPARE(error.entries(), 3);
        QVERIFY(error.message().contains(QStringLiteral("timestamp too old")));
        QVERIFY(error.toString().contains(QString::number(status)));
        QCOMPARE(client.lastError().httpStatus(), status);
        QTRY_COMPARE_WITH_TIMEOUT(client.failed(), 3, longWait);
        // Later entries are not affected, and the failed batch was not resent.
        client.send(QStringLiteral("after"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        QCOMPARE(lines(receiver->entries()), QStringList{QStringLiteral("after")});
        QCOMPARE(receiver->pushCount(), 2);
        QCOMPARE(client.retried(), 0);
    }

    void givesUpAfterLastAttempt()
    {
        LokiConfig config = configFor(*receiver);
        config.retry.maxAttempts = 3;
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver->failNext(100, 503);
        client.send(QStringLiteral("doomed"));
        QTRY_COMPARE_WITH_TIMEOUT(client.failed(), 1, longWait);
        QTRY_COMPARE_WITH_TIMEOUT(errors.size(), 3, longWait);
        QCOMPARE(receiver->pushCount(), 3);
        QVERIFY(errors.at(0).at(0).value<LokiError>().willRetry());
        QVERIFY(errors.at(1).at(0).value<LokiError>().willRetry());
        const auto last = errors.at(2).at(0).value<LokiError>();
        QVERIFY(!last.willRetry());
        QCOMPARE(last.attempt(), 3);
        QCOMPARE(client.retried(), 2);
        QCOMPARE(client.sent(), 0);
        QCOMPARE(client.queued(), 0);
    }

    void retriesNetworkErrorsUntilServerReturns()
    {
        LokiConfig config = configFor(*receiver);
        config.retry.maxAttempts = 1000;
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver->stop();
        client.send(QStringLiteral("patient"));
        QTRY_VERIFY_WITH_TIMEOUT(errors.size() >= 2, longWait);
        const auto error = errors.at(0).at(0).value<LokiError>();
        QCOMPARE(error.kind(), LokiError::Kind::Network);
        QVERIFY(error.willRetry());
        QTRY_COMPARE_WITH_TIMEOUT(client.state(), LokiClient::State::Retrying, longWait);
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        QTRY_COMPARE_WITH_TIMEOUT(client.sent(), 1, longWait);
        QCOMPARE(client.failed(), 0);
    }

    void garbageAnswersAreRetried()
    {
        LokiConfig config = configFor(*receiver);
        config.retry.maxAttempts = 50; // how many faults one attempt absorbs is up to Qt (see below)
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        // QNetworkAccessManager itself resends a POST whose answer broke off (up to 3 times in Qt 6.4), so
        // enough faults are queued to reach the client; then the receiver answers properly again.
        receiver->answerGarbageNext(6);
        client.send(QStringLiteral("survives garbage"));
        QTRY_VERIFY_WITH_TIMEOUT(!errors.isEmpty(), longWait);
        QCOMPARE(errors.at(0).at(0).value<LokiError>().kind(), LokiError::Kind::Network);
        QVERIFY(errors.at(0).at(0).value<LokiError>().willRetry());
        QTRY_COMPARE_WITH_TIMEOUT(client.sent(), 1, longWait);
        QCOMPARE(lines(receiver->entries()), QStringList{QStringLiteral("survives garbage")});

        receiver->closeMidResponseNext(6);
        client.send(QStringLiteral("survives cut answers"));
        QTRY_COMPARE_WITH_TIMEOUT(client.sent(), 2, longWait);
        // A cut answer may follow a stored push: the resend is an exact duplicate, which Loki drops.
        QCOMPARE(receiver->entryCount(), 2);
        QCOMPARE(client.failed(), 0);
    }

    // Each backpressure test first gets a batch of 0..4 stuck in retries against the stopped receiver, so
    // the queue (capacity 5) is empty and everything after that is deterministic.
    void blockTimesOutAtDeadline()
    {
        LokiClient client(saturatingConfig(*receiver, LokiConfig::Backpressure::Block));
        QVERIFY(stallFirstBatch(client, *receiver));
        int timedOut = 0;
        for (int i = 5; i < 30; ++i) {
            QElapsedTimer timer;
            timer.start();
            const auto result = client.send(QString::number(i), QDeadlineTimer(50ms));
            if (i < 10) {
                QCOMPARE(result, LokiClient::SendResult::Accepted);
            } else {
                QCOMPARE(result, LokiClient::SendResult::TimedOut);
                QVERIFY2(timer.elapsed() >= 45, qPrintable(QString::number(timer.elapsed())));
                ++timedOut;
            }
        }
        QCOMPARE(client.counters().timedOut, 20);
        QCOMPARE(client.accepted(), 10);
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(client.sent(), 10, longWait);
        QCOMPARE(lines(receiver->entries()), numbered(0, 10)); // nothing accepted was lost
    }

    // Issue 9 (2.5): without a deadline, Block mode waits LokiConfig::blockTimeout, not forever; an explicit
    // deadline (Forever included) is still the caller's.
    void blockWithoutADeadlineWaitsBlockTimeout()
    {
        LokiConfig config = saturatingConfig(*receiver, LokiConfig::Backpressure::Block);
        config.blockTimeout = 300ms;
        LokiClient client(config);
        QVERIFY(stallFirstBatch(client, *receiver));
        for (int i = 5; i < 10; ++i)
            QCOMPARE(client.send(QString::number(i)), LokiClient::SendResult::Accepted);
        QElapsedTimer timer;
        timer.start();
        QCOMPARE(client.send(QStringLiteral("a")), LokiClient::SendResult::TimedOut);
        QVERIFY2(timer.elapsed() >= 250, qPrintable(QString::number(timer.elapsed())));
        QCOMPARE(client.sendUtf8("b"), LokiClient::SendResult::TimedOut);
        QCOMPARE(client.send(LokiEntry(QStringLiteral("c"))), LokiClient::SendResult::TimedOut);
        QCOMPARE(client.counters().timedOut, 3);
        // Forever, asked for explicitly, waits until room comes: here, when Loki is back.
        std::atomic<int> result{-1};
        std::thread sender([&] {
            result = int(client.send(QStringLiteral("waited"), QDeadlineTimer(QDeadlineTimer::Forever)));
        });
        QTest::qWait(600); // longer than blockTimeout
        const int early = result.load();
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(result.load(), int(LokiClient::SendResult::Accepted), longWait);
        sender.join();
        QCOMPARE(early, -1);
    }

    void dropNewKeepsOldest()
    {
        LokiClient client(saturatingConfig(*receiver, LokiConfig::Backpressure::DropNew));
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        QVERIFY(stallFirstBatch(client, *receiver));
        for (int i = 5; i < 105; ++i) {
            QElapsedTimer timer;
            timer.start();
            const auto result = client.send(QString::number(i));
            QVERIFY(timer.elapsed() < 1000); // never blocks (a generous bound: it returns at once)
            QCOMPARE(result, i < 10 ? LokiClient::SendResult::Accepted : LokiClient::SendResult::Dropped);
        }
        QCOMPARE(client.counters().droppedNew, 95);
        QCOMPARE(client.dropped(), 95);
        QCOMPARE(client.accepted(), 10);
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(client.sent(), 10, longWait);
        QCOMPARE(lines(receiver->entries()), numbered(0, 10)); // the oldest were kept
        QTRY_VERIFY_WITH_TIMEOUT(std::any_of(errors.cbegin(), errors.cend(),
                                             [](const QList<QVariant> &args) {
                                                 const auto error = args.at(0).value<LokiError>();
                                                 return error.kind() == LokiError::Kind::Dropped &&
                                                        error.entries() == 95;
                                             }),
                                 longWait);
    }

    void dropOldestKeepsNewest()
    {
        LokiClient client(saturatingConfig(*receiver, LokiConfig::Backpressure::DropOldest));
        QVERIFY(stallFirstBatch(client, *receiver));
        for (int i = 5; i < 105; ++i)
            QCOMPARE(client.send(QString::number(i)), LokiClient::SendResult::Accepted);
        QCOMPARE(client.accepted(), 105);
        QCOMPARE(client.counters().droppedOldest, 95);
        QCOMPARE(client.queued(), 10);
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(client.sent(), 10, longWait);
        QCOMPARE(lines(receiver->entries()), numbered(0, 5) + numbered(100, 105)); // the newest were kept
        QCOMPARE(client.counters().droppedOldest, 95);
        QCOMPARE(client.queued(), 0);
    }

    void manyThreadsDeliverEverythingOnceInOrder()
    {
        constexpr int threads = 8;
        constexpr int perThread = 10000;
        LokiConfig config = configFor(*receiver);
        LokiClient client(config);
        std::vector<std::unique_ptr<QThread>> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back(QThread::create([&client, t] {
                for (int i = 0; i < perThread; ++i)
                    client.send(QStringLiteral("t%1 %2").arg(t).arg(i));
            }));
            workers.back()->start();
        }
        for (auto &w : workers)
            QVERIFY(w->wait(longWait * 3));
        QVERIFY(client.flush(QDeadlineTimer(longWait * 3)));
        QCOMPARE(client.sent(), threads * perThread);
        QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), threads * perThread);
        std::stable_sort(got.begin(), got.end(), [](const ReceivedEntry &a, const ReceivedEntry &b) {
            return a.timestampNs < b.timestampNs;
        });
        std::vector<int> next(threads, 0);
        QSet<qint64> timestamps;
        for (const ReceivedEntry &e : std::as_const(got)) {
            const QStringList parts = e.line.split(QLatin1Char(' '));
            const int t = parts[0].mid(1).toInt();
            QCOMPARE(parts[1].toInt(), next[size_t(t)]); // in order per thread, none missing or repeated
            ++next[size_t(t)];
            timestamps.insert(e.timestampNs);
        }
        for (int n : next)
            QCOMPARE(n, perThread);
        QCOMPARE(timestamps.size(), threads * perThread); // distinct timestamps
    }

    void flushPushesWithoutWaitingForTriggers()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxWait = 1h;
        config.batch.maxEntries = 4;
        LokiClient client(config);
        for (int i = 0; i < 10; ++i)
            client.send(QString::number(i));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 10); // acknowledged before flush() returned
        QCOMPARE(client.sent(), 10);
        QVERIFY(client.flush(QDeadlineTimer(longWait))); // nothing left: true at once
    }

    void flushReturnsFalseAtDeadlineWhileServerDown()
    {
        LokiConfig config = configFor(*receiver);
        config.retry.maxAttempts = 1000;
        LokiClient client(config);
        receiver->stop();
        client.send(QStringLiteral("waiting"));
        QElapsedTimer timer;
        timer.start();
        QVERIFY(!client.flush(QDeadlineTimer(500ms)));
        QVERIFY(timer.elapsed() >= 450);
        QVERIFY(timer.elapsed() < longWait);
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait); // still delivered afterwards
    }

    void flushReportsFailure()
    {
        LokiClient client(configFor(*receiver));
        receiver->failNext(1, 400, "bad");
        client.send(QStringLiteral("refused"));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(client.failed(), 1);
    }

    void closeDeliversWhatIsQueued()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxWait = 1h;
        LokiClient client(config);
        QSignalSpy states(&client, &LokiClient::stateChanged);
        for (int i = 0; i < 20; ++i)
            client.send(QString::number(i));
        QVERIFY(client.close(QDeadlineTimer(longWait)));
        QCOMPARE(lines(receiver->entries()), numbered(0, 20));
        QCOMPARE(client.state(), LokiClient::State::Closed);
        QVERIFY(!states.isEmpty());
        QCOMPARE(states.last().at(0).value<LokiClient::State>(), LokiClient::State::Closed);
        QVERIFY(client.close(QDeadlineTimer(longWait))); // the same answer again
    }

    void sendAfterCloseIsRefused()
    {
        LokiClient client(configFor(*receiver));
        QVERIFY(client.close());
        QCOMPARE(client.send(QStringLiteral("late")), LokiClient::SendResult::Closed);
        LokiEntry entry(QStringLiteral("late too"));
        entry.labels = {{QStringLiteral("x"), QStringLiteral("y")}};
        QCOMPARE(client.send(entry), LokiClient::SendResult::Closed);
        QVERIFY(client.flush(QDeadlineTimer(100ms)));
        QCOMPARE(client.accepted(), 0);
    }

    void closeWhileServerDownReturnsByDeadline()
    {
        LokiConfig config = configFor(*receiver);
        config.retry.maxAttempts = 1000;
        auto client = std::make_unique<LokiClient>(config);
        QSignalSpy errors(client.get(), &LokiClient::errorOccurred);
        receiver->stop();
        for (int i = 0; i < 10; ++i)
            client->send(QString::number(i));
        QElapsedTimer timer;
        timer.start();
        QVERIFY(!client->close(QDeadlineTimer(700ms)));
        QVERIFY(timer.elapsed() >= 650);
        QVERIFY(timer.elapsed() < longWait);
        QCOMPARE(client->counters().droppedClosed, 10);
        QCOMPARE(client->queued(), 0);
        QCOMPARE(client->lastError().kind(), LokiError::Kind::Dropped);
        QTRY_VERIFY_WITH_TIMEOUT(!errors.isEmpty(), longWait);
    }

    void destructorNeverHangs()
    {
        LokiConfig config = configFor(*receiver);
        config.retry.maxAttempts = 1000;
        config.destructorCloseTimeout = 300ms;
        receiver->setResponseDelay(60s); // a server that never answers in time
        auto client = std::make_unique<LokiClient>(config);
        client->send(QStringLiteral("stuck"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->pushCount(), 1, longWait);
        QElapsedTimer timer;
        timer.start();
        client.reset();
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
        receiver->setResponseDelay(0ms);
    }

    void invalidLabelIsRejectedAndNothingElseLost()
    {
        LokiClient client(configFor(*receiver));
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        client.send(QStringLiteral("before"));
        LokiEntry bad(QStringLiteral("bad"));
        bad.labels = {{QStringLiteral("app-x"), QStringLiteral("v")}};
        QCOMPARE(client.send(bad), LokiClient::SendResult::Rejected);
        client.send(QStringLiteral("after"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 2, longWait);
        QCOMPARE(lines(receiver->entries()),
                 (QStringList{QStringLiteral("before"), QStringLiteral("after")}));
        QCOMPARE(client.counters().rejected, 1);
        QTRY_VERIFY_WITH_TIMEOUT(!errors.isEmpty(), longWait);
        const auto error = errors.at(0).at(0).value<LokiError>();
        QCOMPARE(error.kind(), LokiError::Kind::InvalidEntry);
        QVERIFY(error.message().contains(QStringLiteral("app-x")));
        QVERIFY(error.message().contains(QStringLiteral("app_x")));
    }

    void invalidConfigRefusesSends()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 0;
        LokiClient client(config);
        QCOMPARE(client.send(QStringLiteral("x")), LokiClient::SendResult::Rejected);
        QVERIFY(client.lastError().message().contains(QStringLiteral("batch.maxEntries")));
    }

    void tenantAndHeadersAreSent()
    {
        LokiConfig config = configFor(*receiver);
        config.tenant = QStringLiteral("team-a");
        config.headers = {{QByteArray("X-Extra"), QByteArray("yes")}};
        LokiClient client(config);
        client.send(QStringLiteral("hello"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        const ReceivedPush push = receiver->pushes().first();
        QCOMPARE(push.headers.value("x-scope-orgid"), QByteArray("team-a"));
        QCOMPARE(push.headers.value("x-extra"), QByteArray("yes"));
    }

    void fullPushUrlWorks()
    {
        LokiConfig config = configFor(*receiver);
        config.url = receiver->pushUrl();
        LokiClient client(config);
        client.send(QStringLiteral("direct"));
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
    }

    void countersAreObservableProperties()
    {
        LokiClient client(configFor(*receiver));
        QSignalSpy changed(&client, &LokiClient::countersChanged);
        for (int i = 0; i < 3; ++i)
            client.send(QString::number(i));
        QTRY_COMPARE_WITH_TIMEOUT(client.property("sent").toLongLong(), 3, longWait);
        QTRY_VERIFY_WITH_TIMEOUT(!changed.isEmpty(), longWait);
        QCOMPARE(client.property("accepted").toLongLong(), 3);
        QCOMPARE(client.property("queued").toLongLong(), 0);
        QCOMPARE(client.property("dropped").toLongLong(), 0);
        QCOMPARE(client.property("state").value<LokiClient::State>(), client.state());
    }

    void errorReachesAnotherThreadThroughQueuedConnection()
    {
        LokiClient client(configFor(*receiver));
        QThread uiThread;
        QObject receiverObject;
        receiverObject.moveToThread(&uiThread);
        std::atomic<int> seenStatus{0};
        std::atomic<bool> rightThread{false};
        connect(
            &client, &LokiClient::errorOccurred, &receiverObject,
            [&](const LokiError &error) {
                rightThread = QThread::currentThread() == &uiThread;
                seenStatus = error.httpStatus();
            },
            Qt::QueuedConnection);
        uiThread.start();
        receiver->failNext(1, 403, "forbidden");
        client.send(QStringLiteral("x"));
        QTRY_COMPARE_WITH_TIMEOUT(seenStatus.load(), 403, longWait);
        QVERIFY(rightThread.load());
        uiThread.quit();
        uiThread.wait();
    }
};

QTEST_GUILESS_MAIN(tst_LokiClient)
#include "tst_lokiclient.moc"
