// SPDX-License-Identifier: MIT
// What following the network's state costs and when: QNetworkInformation (megabytes and threads to load) is
// loaded at the first push that fails for a network error, never for a client whose pushes succeed, never
// with followNetworkReachability off. QNetworkInformation is one instance per process that stays loaded, so
// the functions here run in the order written, and this file is a process of its own.
#include <lokiqt/lokiclient.h>

#include "lokiclient_p.h"
#include "lokitestreceiver.h"
#include "lokiworker_p.h"
#include "reachability_p.h"

#include <QtCore/QDir>
#include <QtNetwork/QNetworkInformation>
#include <QtTest/QtTest>

#include <memory>

using namespace std::chrono_literals;

namespace {
constexpr int longWait = 60000;

LokiConfig configFor(const LokiTestReceiver &receiver)
{
    LokiConfig config;
    config.url = receiver.url();
    config.labels = {{QStringLiteral("app"), QStringLiteral("reachability")}};
    config.batch.maxWait = 20ms;
    config.retry.maxAttempts = 1000;
    return config;
}

#ifdef Q_OS_LINUX
// The names of this process's threads (/proc/self/task/<tid>/comm).
QStringList threadNames()
{
    QStringList names;
    const QDir tasks(QStringLiteral("/proc/self/task"));
    for (const QString &tid : tasks.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QFile comm(tasks.filePath(tid + QStringLiteral("/comm")));
        if (comm.open(QIODevice::ReadOnly))
            names.append(QString::fromUtf8(comm.readAll().trimmed()));
    }
    names.sort();
    return names;
}
#endif

bool followable()
{
    const QNetworkInformation *info = QNetworkInformation::instance();
    return info && info->supports(QNetworkInformation::Feature::Reachability);
}

// Until the client's thread has started and handled a request (its worker then created what it creates).
void settle(LokiClient &client)
{
    QVERIFY(client.flush(QDeadlineTimer(longWait)));
    QCoreApplication::processEvents();
}
} // namespace

class tst_Reachability : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init()
    {
        receiver = std::make_unique<LokiTestReceiver>();
        QVERIFY(receiver->listen());
    }
    void cleanup() { receiver.reset(); }

    // A client constructed, delivering and idle adds its own thread only, and loads no QNetworkInformation.
    void deliveringClientLoadsNoNetworkInformation()
    {
        QVERIFY(!QNetworkInformation::instance()); // nothing in this process loaded it yet
#ifdef Q_OS_LINUX
        const QStringList before = threadNames();
#endif
        LokiClient client(configFor(*receiver)); // followNetworkReachability is on by default
        settle(client);
#ifdef Q_OS_LINUX
        QStringList added = threadNames();
        for (const QString &name : before)
            added.removeOne(name);
        QCOMPARE(added, QStringList{QStringLiteral("lokiqt-client")});
#endif
        QVERIFY(!QNetworkInformation::instance());
        for (int i = 0; i < 10; ++i)
            QCOMPARE(client.send(QStringLiteral("delivered %1").arg(i)), LokiClient::SendResult::Accepted);
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QTest::qWait(200); // signals and whatever else the pushes left for the owner thread
        QCOMPARE(receiver->entryCount(), 10);
        QVERIFY(!QNetworkInformation::instance());
        QVERIFY(!LokiClientPrivate::get(&client)->reachability->isFollowing());
    }

    // With followNetworkReachability off, network failures load nothing either.
    void notFollowingLoadsNothingOnFailures()
    {
        LokiConfig config = configFor(*receiver);
        config.followNetworkReachability = false;
        config.retry.initialBackoff = 5ms;
        config.retry.maxBackoff = 10ms;
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver->stop();
        QCOMPARE(client.send(QStringLiteral("after a few failures")), LokiClient::SendResult::Accepted);
        QTRY_VERIFY_WITH_TIMEOUT(errors.count() >= 3, longWait);
        QCOMPARE(errors.first().first().value<LokiError>().kind(), LokiError::Kind::Network);
        QVERIFY(!QNetworkInformation::instance());
        QVERIFY(!LokiClientPrivate::get(&client)->reachability);
        QVERIFY(receiver->restart());
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 1);
        QVERIFY(!QNetworkInformation::instance());
    }

    // The first push that fails for a network error makes the client follow the system's network state.
    // Loading it does not cut short that push's backoff (the system saying "reachable" is no news), and the
    // push is delivered on its backoff when the server is back.
    void firstNetworkFailureStartsFollowing()
    {
        LokiConfig config = configFor(*receiver);
        config.retry.initialBackoff = 3s;
        config.retry.maxBackoff = 3s;
        config.retry.jitter = 0;
        LokiClient client(config);
        LokiClientPrivate *d = LokiClientPrivate::get(&client);
        settle(client);
        QVERIFY(!QNetworkInformation::instance());
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver->stop();
        QCOMPARE(client.send(QStringLiteral("after the outage")), LokiClient::SendResult::Accepted);
        QVERIFY(errors.wait(longWait));
        const LokiError first = errors.first().first().value<LokiError>();
        QCOMPARE(first.kind(), LokiError::Kind::Network);
        QVERIFY(first.willRetry());
        // Loaded by the owner thread as the error was signalled (when the platform has a backend at all).
        QCOMPARE(bool(QNetworkInformation::instance()), !QNetworkInformation::availableBackends().isEmpty());
        QCOMPARE(d->reachability->isFollowing(), followable());
        QTest::qWait(1000);
        QCOMPARE(errors.count(), 1); // still in its 3 s backoff: no second attempt yet
        QCOMPARE(client.retried(), 1);
        QVERIFY(receiver->restart());
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        QCOMPARE(client.failed(), 0);
        QCOMPARE(errors.count(), 1);
    }

    // Once QNetworkInformation is loaded (by the application, or above), a new client follows it at once,
    // and what it reports reaches the worker: unreachable holds a failed push, reachable sends it.
    void loadedIsFollowedAtOnce()
    {
        LokiConfig config = configFor(*receiver);
        config.retry.initialBackoff = 30s;
        config.retry.maxBackoff = 30s;
        LokiClient client(config);
        LokiClientPrivate *d = LokiClientPrivate::get(&client);
        settle(client);
        QCOMPARE(d->reachability->isFollowing(), followable());
        d->reachability->inject(false);
        receiver->stop();
        QCOMPARE(client.send(QStringLiteral("held for the network")), LokiClient::SendResult::Accepted);
        QTRY_COMPARE_WITH_TIMEOUT(client.lastError().kind(), LokiError::Kind::Network, longWait);
        QTest::qWait(200);
        bool waiting = false;
        QMetaObject::invokeMethod(
            d->worker, [&] { waiting = d->worker->isWaitingForNetwork(); }, Qt::BlockingQueuedConnection);
        QVERIFY(waiting);
        QCOMPARE(client.retried(), 0);
        QVERIFY(receiver->restart());
        d->reachability->inject(true);
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, 10000); // at once, not after 30 s
        QCOMPARE(client.failed(), 0);
    }

private:
    std::unique_ptr<LokiTestReceiver> receiver;
};

QTEST_GUILESS_MAIN(tst_Reachability)
#include "tst_reachability.moc"
