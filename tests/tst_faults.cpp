// SPDX-License-Identifier: MIT
// Fault injection: exact counts at the receiver and in the client's counters under failing servers.
#include <lokiqt/lokiclient.h>

#include "lokiclient_p.h"
#include "lokitestcertificates.h"
#include "lokitestreceiver.h"
#include "lokiworker_p.h"
#include "reachability_p.h"

#include <QtTest/QtTest>

#include <memory>

using namespace std::chrono_literals;
using Mode = LokiConfig::Backpressure;

namespace {
constexpr int longWait = 60000;

LokiConfig configFor(const LokiTestReceiver &receiver, Mode mode)
{
    LokiConfig config;
    config.url = receiver.url();
    config.labels = {{QStringLiteral("app"), QStringLiteral("faults")}};
    config.backpressure = mode;
    config.batch.maxEntries = 100;
    config.batch.maxWait = 20ms;
    config.retry.initialBackoff = 5ms;
    config.retry.maxBackoff = 20ms;
    config.retry.maxAttempts = 1000; // transient faults never exhaust the retries here
    return config;
}

void setReachable(LokiWorker *worker, bool reachable)
{
    QMetaObject::invokeMethod(
        worker, [worker, reachable] { worker->setNetworkReachable(reachable); },
        Qt::BlockingQueuedConnection);
}

int injectedFailures(const LokiTestReceiver &receiver)
{
    int n = 0;
    for (const ReceivedPush &push : receiver.pushes())
        n += push.fault == ReceivedPush::Fault::FailNext ? 1 : 0;
    return n;
}

// Every entry the client counts as sent is at the receiver exactly once, and nothing else is.
void checkExactlyOnce(const LokiClient &client, const LokiTestReceiver &receiver, int offered)
{
    const LokiClient::Counters c = client.counters();
    QCOMPARE(c.accepted + c.droppedNew + c.timedOut, qint64(offered));
    QCOMPARE(c.sent + c.failed + c.droppedOldest + c.droppedClosed, c.accepted);
    QCOMPARE(c.queued, 0);
    const QStringList got = lines(receiver.entries());
    QCOMPARE(qint64(got.size()), c.sent);
    QCOMPARE(QSet<QString>(got.cbegin(), got.cend()).size(), got.size());
    // The figures of each scenario, for the record (`ctest -R faults -V`).
    qInfo("%s(%s): offered %d, delivered %lld, duplicates dropped by the receiver %d, dropped: new %lld, "
          "oldest %lld, timed out %lld, at close %lld; failed %lld; retries %lld",
          QTest::currentTestFunction(), QTest::currentDataTag() ? QTest::currentDataTag() : "", offered,
          c.sent, receiver.duplicateCount(), c.droppedNew, c.droppedOldest, c.timedOut, c.droppedClosed,
          c.failed, c.retried);
}
} // namespace

class tst_Faults : public QObject
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

    void thirtyPercentOfPushesAnswered503_data()
    {
        QTest::addColumn<Mode>("mode");
        QTest::newRow("block: nothing lost") << Mode::Block;
        QTest::newRow("drop-new: drops counted") << Mode::DropNew;
        QTest::newRow("drop-oldest: drops counted") << Mode::DropOldest;
    }
    void thirtyPercentOfPushesAnswered503()
    {
        QFETCH(Mode, mode);
        constexpr int offered = 5000;
        receiver->setFailRate(0.3, 503, 42);
        receiver->failNext(2, 503); // the drop modes make few pushes: make sure some of them fail
        LokiConfig config = configFor(*receiver, mode);
        config.queueCapacity = mode == Mode::Block ? 4096 : 300;
        LokiClient client(config);
        for (int i = 0; i < offered; ++i)
            client.send(QString::number(i));
        QVERIFY(client.flush(QDeadlineTimer(longWait)) || mode != Mode::Block);
        QTRY_COMPARE_WITH_TIMEOUT(client.queued(), 0, longWait);
        checkExactlyOnce(client, *receiver, offered);
        QCOMPARE(client.failed(), 0);
        QCOMPARE(client.retried(), injectedFailures(*receiver)); // every injected 503 was retried, once
        QVERIFY(injectedFailures(*receiver) > 0);
        if (mode == Mode::Block)
            QCOMPARE(client.sent(), offered);
    }

    void retryAfterOn429IsCountedLikeAnyRetry()
    {
        receiver->failNext(3, 429, "Ingestion rate limit exceeded", "0");
        LokiClient client(configFor(*receiver, Mode::Block));
        for (int i = 0; i < 250; ++i)
            client.send(QString::number(i));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        checkExactlyOnce(client, *receiver, 250);
        QCOMPARE(client.sent(), 250);
        QCOMPARE(client.retried(), 3);
    }

    void answersSlowerThanTheRequestTimeout()
    {
        LokiConfig config = configFor(*receiver, Mode::Block);
        config.requestTimeout = 300ms;
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver->setResponseDelay(2s);
        for (int i = 0; i < 50; ++i)
            client.send(QString::number(i));
        QTRY_VERIFY_WITH_TIMEOUT(errors.size() >= 2, longWait); // timed out, retried, timed out again
        QCOMPARE(errors.first().at(0).value<LokiError>().kind(), LokiError::Kind::Network);
        receiver->setResponseDelay(0ms);
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        // The slow answers' pushes were stored before they timed out: the resends are exact duplicates, which
        // Loki (and the receiver) drop, so each entry is stored once.
        checkExactlyOnce(client, *receiver, 50);
        QCOMPARE(client.sent(), 50);
        QVERIFY(client.retried() >= 2);
    }

    void receiverDownFor20Seconds_data()
    {
        QTest::addColumn<Mode>("mode");
        QTest::addColumn<bool>("spool");
        QTest::newRow("block, memory: overflow counted") << Mode::Block << false;
        QTest::newRow("drop-oldest, memory: drops counted") << Mode::DropOldest << false;
        QTest::newRow("block + spool: nothing lost") << Mode::Block << true;
    }
    void receiverDownFor20Seconds()
    {
        QFETCH(Mode, mode);
        QFETCH(bool, spool);
        QTemporaryDir dir;
        LokiConfig config = configFor(*receiver, mode);
        config.queueCapacity = 1000;
        config.retry.maxBackoff = 1s;
        if (spool)
            config.spool.directory = dir.path();
        LokiClient client(config);
        QCOMPARE(client.isSpooling(), spool);
        receiver->stop();
        QElapsedTimer down;
        down.start();
        int offered = 0;
        while (down.elapsed() < 20000) { // an app that goes on logging, 150 entries a second
            for (int i = 0; i < 15; ++i)
                client.send(QString::number(offered++), QDeadlineTimer(0)); // Block: a full queue times out
            QTest::qWait(100);
        }
        const qint64 retriedWhileDown = client.retried();
        QVERIFY(retriedWhileDown >= 5); // it kept trying, with backoff
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(client.queued(), 0, longWait);
        checkExactlyOnce(client, *receiver, offered);
        const LokiClient::Counters c = client.counters();
        QCOMPARE(c.failed, 0);
        if (spool) {
            QCOMPARE(c.sent, offered); // the disk held what memory could not
        } else if (mode == Mode::Block) {
            QVERIFY(c.timedOut > 0);
            QCOMPARE(c.sent + c.timedOut, offered);
        } else {
            QVERIFY(c.droppedOldest > 0);
            QCOMPARE(c.sent + c.droppedOldest, offered);
        }
        qInfo(
            "down 20 s: offered %d, delivered %lld, dropped %lld (timed out %lld, oldest %lld), failed %lld, "
            "duplicates %d, retries while down %lld",
            offered, c.sent, c.dropped(), c.timedOut, c.droppedOldest, c.failed, receiver->duplicateCount(),
            retriedWhileDown);
    }

    void noNetworkHoldsRetriesUntilItIsBack()
    {
        LokiConfig config = configFor(*receiver, Mode::Block);
        config.followNetworkReachability = false; // the test says what the network does
        config.retry.initialBackoff = 30s;
        config.retry.maxBackoff = 30s;
        config.retry.maxAttempts = 2;
        LokiClient client(config);
        LokiWorker *worker = LokiClientPrivate::get(&client)->worker;
        setReachable(worker, false);
        receiver->stop();
        QCOMPARE(client.send(QStringLiteral("held")), LokiClient::SendResult::Accepted);
        QTRY_COMPARE_WITH_TIMEOUT(client.lastError().kind(), LokiError::Kind::Network, longWait);
        QVERIFY(client.lastError().willRetry());
        QTest::qWait(300);
        bool waiting = false;
        int timers = -1;
        QMetaObject::invokeMethod(
            worker,
            [&] {
                waiting = worker->isWaitingForNetwork();
                timers = worker->activeTimers();
            },
            Qt::BlockingQueuedConnection);
        QVERIFY(waiting);
        // No backoff runs, only the slow timer of retry.offlineRetryInterval (30 s; see
        // offlineStillRetriesOnASlowTimer): nothing is tried meanwhile.
        QCOMPARE(timers, 1);
        QCOMPARE(client.retried(), 0);
        QVERIFY(receiver->restart());
        setReachable(worker, true);
        // At once, not after the 30 s backoff; and the failure without a network used up no attempt.
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, 10000);
        QCOMPARE(client.failed(), 0);
        QCOMPARE(client.retried(), 1);
    }

    // What the reachability room reports reaches the worker: unreachable holds a failed push, reachable
    // sends it at once (not after the 30 s backoff or slow timer).
    void reachabilityReportsReachTheWorker()
    {
        LokiConfig config = configFor(*receiver, Mode::Block);
        config.followNetworkReachability = true;
        config.retry.initialBackoff = 30s;
        config.retry.maxBackoff = 30s;
        LokiClient client(config);
        LokiClientPrivate *d = LokiClientPrivate::get(&client);
        QVERIFY(d->reachability); // also without a backend: then only the test reports
        d->reachability->inject(false);
        receiver->stop();
        client.send(QStringLiteral("held for the network"));
        QTRY_COMPARE_WITH_TIMEOUT(client.lastError().kind(), LokiError::Kind::Network, longWait);
        bool waiting = false;
        QMetaObject::invokeMethod(
            d->worker, [&] { waiting = d->worker->isWaitingForNetwork(); }, Qt::BlockingQueuedConnection);
        QVERIFY(waiting);
        QVERIFY(receiver->restart());
        d->reachability->inject(true);
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, 10000);
        QCOMPARE(client.failed(), 0);
    }

    void networkBackCutsTheBackoffShort()
    {
        LokiConfig config = configFor(*receiver, Mode::Block);
        config.followNetworkReachability = false;
        config.retry.initialBackoff = 30s;
        config.retry.maxBackoff = 30s;
        LokiClient client(config);
        LokiWorker *worker = LokiClientPrivate::get(&client)->worker;
        receiver->stop();
        client.send(QStringLiteral("after the outage"));
        QTRY_COMPARE_WITH_TIMEOUT(client.retried(), 1, longWait); // a 30 s backoff runs
        QVERIFY(receiver->restart());
        setReachable(worker, false);
        setReachable(worker, true);
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, 10000);
        QCOMPARE(client.retried(), 1);
    }

    // 2.9: a server (or gateway) that echoes the request's headers in its error answer must not make the
    // client repeat a secret in any form it was sent in: the password, the token, a header's value, and the
    // base64 of user:password that Authorization: Basic carries.
    void secretsNeverInErrorText_data()
    {
        QTest::addColumn<QString>("how");
        QTest::newRow("URL user info") << QStringLiteral("url");
        QTest::newRow("basicAuthPassword") << QStringLiteral("basic");
        QTest::newRow("bearerToken") << QStringLiteral("bearer");
        QTest::newRow("header value") << QStringLiteral("header");
    }
    void secretsNeverInErrorText()
    {
        QFETCH(QString, how);
        LokiConfig config = configFor(*receiver, Mode::Block);
        config.retry.maxAttempts = 1;
        QStringList secrets;
        if (how == QLatin1String("url")) {
            config.url.setUserName(QStringLiteral("user"));
            config.url.setPassword(QStringLiteral("password-in-url"));
            secrets << QStringLiteral("password-in-url") << QStringLiteral("user:password-in-url");
        } else if (how == QLatin1String("basic") || how == QLatin1String("header")) {
            config.basicAuthUser = QStringLiteral("tenant-9");
            config.basicAuthPassword = QStringLiteral("pw-setting-123");
            secrets << QStringLiteral("pw-setting-123") << QStringLiteral("tenant-9:pw-setting-123");
        } else {
            config.bearerToken = QStringLiteral("tok-abc-123");
            secrets << QStringLiteral("tok-abc-123");
        }
        if (how == QLatin1String("header")) {
            config.headers = {{QByteArray("X-Api-Key"), QByteArray("key-abcdef")}};
            secrets << QStringLiteral("key-abcdef");
        }
        // Every encoded form of each secret.
        QStringList forms;
        for (const QString &secret : std::as_const(secrets)) {
            forms << secret << QString::fromLatin1(secret.toUtf8().toBase64())
                  << QString::fromLatin1(secret.toUtf8().toBase64(QByteArray::Base64UrlEncoding |
                                                                  QByteArray::OmitTrailingEquals));
        }
        if (how == QLatin1String("bearer"))
            receiver->setRequiredBearerToken(QStringLiteral("the-right-token"));
        else
            receiver->setRequiredBasicAuth(QStringLiteral("someone"), QStringLiteral("else"));
        receiver->setEchoHeadersInErrors(true);
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        client.send(QStringLiteral("refused"));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->pushCount(), 1);
        // The receiver did echo them (so the test shows something).
        QVERIFY(receiver->pushes().first().headers.contains("authorization"));
        QCOMPARE(client.lastError().httpStatus(), 401);
        QTRY_VERIFY_WITH_TIMEOUT(!errors.isEmpty(), longWait);
        QStringList texts{client.lastError().toString(), client.lastError().message()};
        for (const auto &signal : std::as_const(errors))
            texts << signal.at(0).value<LokiError>().toString();
        for (const QString &text : std::as_const(texts)) {
            QVERIFY2(text.contains(QStringLiteral("unauthorized")), qPrintable(text)); // the reason stays
            QVERIFY2(text.contains(QStringLiteral("request headers")), qPrintable(text));
            for (const QString &form : std::as_const(forms))
                QVERIFY2(!text.contains(form), qPrintable(form + QStringLiteral(" in: ") + text));
        }
    }

#if QT_CONFIG(ssl)
    // 2.10: a certificate the client does not trust is a configuration error, not a transient one: one
    // attempt, failed at once with the TLS reason, never retried (with a spool neither).
    void untrustedCertificateFailsAtOnce_data()
    {
        QTest::addColumn<bool>("spool");
        QTest::newRow("memory") << false;
        QTest::newRow("spool") << true;
    }
    void untrustedCertificateFailsAtOnce()
    {
        QFETCH(bool, spool);
        LokiTestCertificates certificates;
        QString why;
        QVERIFY2(certificates.generate(&why), qPrintable(why));
        LokiTestReceiver tlsReceiver;
        QVERIFY(tlsReceiver.listenTls(certificates.serverConfiguration()));
        QTemporaryDir dir;
        LokiConfig config = configFor(tlsReceiver, Mode::Block);
        config.followNetworkReachability = false;
        if (spool)
            config.spool.directory = dir.path();
        // No sslConfiguration: the system's CAs, which do not know the test CA.
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        for (int i = 0; i < 3; ++i)
            client.send(QString::number(i));
        QTRY_COMPARE_WITH_TIMEOUT(client.failed(), 3, longWait);
        QTest::qWait(500); // retries would come every 5 to 20 ms
        QCOMPARE(client.retried(), 0);
        QCOMPARE(client.queued(), 0);
        QCOMPARE(client.failed(), 3);
        QCOMPARE(tlsReceiver.pushCount(), 0);
        QTRY_VERIFY_WITH_TIMEOUT(!errors.isEmpty(), longWait);
        int pushErrors = 0;
        for (const auto &signal : std::as_const(errors)) {
            const LokiError error = signal.at(0).value<LokiError>();
            if (error.kind() != LokiError::Kind::Network)
                continue;
            ++pushErrors;
            QVERIFY2(!error.willRetry(), qPrintable(error.toString()));
            QCOMPARE(error.attempt(), 1);
            QVERIFY2(error.message().contains(QStringLiteral("certificate"), Qt::CaseInsensitive),
                     qPrintable(error.message()));
        }
        QCOMPARE(pushErrors, 1);
    }
#endif

    // 2.11: while the system reports no network, a failed push still retries on a slow timer: a Loki on
    // loopback, a local agent or a VPN the OS does not count is reached without any reachability change.
    void offlineStillRetriesOnASlowTimer()
    {
        LokiConfig config = configFor(*receiver, Mode::Block);
        config.followNetworkReachability = false; // the test says what the network does
        config.retry.maxAttempts = 2;
        config.retry.offlineRetryInterval = 300ms;
        LokiClient client(config);
        LokiWorker *worker = LokiClientPrivate::get(&client)->worker;
        setReachable(worker, false);
        receiver->stop();
        QCOMPARE(client.send(QStringLiteral("through the loopback")), LokiClient::SendResult::Accepted);
        QTRY_COMPARE_WITH_TIMEOUT(client.lastError().kind(), LokiError::Kind::Network, longWait);
        QVERIFY(client.lastError().willRetry());
        QTest::qWait(1000); // several slow retries fail: none uses up an attempt
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, 20000); // still "offline"
        QCOMPARE(client.failed(), 0);
        QVERIFY(client.retried() >= 1);
    }

    // 2.15: a server that asks for a pause longer than maxBackoff gets it (up to retry.maxRetryAfter).
    void retryAfterBeyondMaxBackoffIsHonoured()
    {
        LokiConfig config = configFor(*receiver, Mode::Block); // maxBackoff 20 ms
        QMutex mutex;
        QList<qint64> arrivals;
        QElapsedTimer clock;
        clock.start();
        receiver->setPushCallback([&](const ReceivedPush &, const QList<ReceivedStream> &) {
            QMutexLocker lock(&mutex);
            arrivals << clock.elapsed();
        });
        receiver->failNext(1, 429, "Ingestion rate limit exceeded", "2");
        LokiClient client(config);
        client.send(QStringLiteral("patient"));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 1);
        receiver->setPushCallback({});
        QMutexLocker lock(&mutex);
        QCOMPARE(arrivals.size(), 2);
        QVERIFY2(
            arrivals.at(1) - arrivals.at(0) >= 2000,
            qPrintable(QStringLiteral("second attempt after %1 ms").arg(arrivals.at(1) - arrivals.at(0))));
        QCOMPARE(client.retried(), 1);
    }

    void brokenAnswers_data()
    {
        QTest::addColumn<bool>("garbage");
        QTest::newRow("connection reset mid-response") << false;
        QTest::newRow("garbage instead of HTTP") << true;
    }
    void brokenAnswers()
    {
        QFETCH(bool, garbage);
        LokiClient client(configFor(*receiver, Mode::Block));
        // Qt resends a POST whose answer broke off a few times by itself; 12 faults reach the client too.
        if (garbage)
            receiver->answerGarbageNext(12);
        else
            receiver->closeMidResponseNext(12);
        for (int i = 0; i < 1000; ++i)
            client.send(QString::number(i));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        // A cut answer may follow a stored push; its resend is an exact duplicate, dropped as Loki does.
        checkExactlyOnce(client, *receiver, 1000);
        QCOMPARE(client.sent(), 1000);
        QCOMPARE(client.failed(), 0);
        QVERIFY(client.retried() >= 1);
    }

    void oneBadBatchAmongGoodOnes()
    {
        LokiConfig config = configFor(*receiver, Mode::Block);
        config.batch.maxWait = 1h;
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        for (int i = 0; i < 100; ++i)
            client.send(QStringLiteral("a%1").arg(i));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        receiver->failNext(1, 400, "entry for stream '{app=\"faults\"}' has timestamp too old");
        for (int i = 0; i < 100; ++i)
            client.send(QStringLiteral("b%1").arg(i));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        for (int i = 0; i < 100; ++i)
            client.send(QStringLiteral("c%1").arg(i));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(client.failed(), 100);
        QCOMPARE(client.sent(), 200);
        QCOMPARE(receiver->entryCount(), 200);
        QVERIFY(lines(receiver->entries()).filter(QStringLiteral("b")).isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(errors.size(), 1, longWait); // only that batch was reported
        QCOMPARE(errors.first().at(0).value<LokiError>().entries(), 100);
        checkExactlyOnce(client, *receiver, 300);
    }
};

QTEST_GUILESS_MAIN(tst_Faults)
#include "tst_faults.moc"
