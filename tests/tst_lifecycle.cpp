// SPDX-License-Identifier: MIT
// The client around the edges of its life: no application object, one destroyed before the client, a global
// static client, close() from other threads, and what an owner thread that runs no event loop accumulates.
#include <lokiqt/lokiclient.h>

#include "clientstatus_p.h"
#include "lokiclient_p.h"
#include "lokitestreceiver.h"
#include "lokiworker_p.h"

#include <QtCore/QProcess>
#include <QtCore/QThread>
#include <QtTest/QtTest>

#include <atomic>
#include <thread>

using namespace std::chrono_literals;

namespace {
constexpr int longWait = 30000;

LokiConfig configFor(const QUrl &url)
{
    LokiConfig config;
    config.url = url;
    config.labels = {{QStringLiteral("app"), QStringLiteral("lifecycle")}};
    config.batch.maxWait = 20ms;
    config.retry.initialBackoff = 20ms;
    config.retry.maxBackoff = 100ms;
    return config;
}

struct ProbeResult
{
    int exitCode = -1;
    QProcess::ExitStatus exitStatus = QProcess::CrashExit;
    QHash<QString, QString> values;
    QString stderrText;
};

ProbeResult runProbe(const QStringList &arguments, const QUrl &staticUrl = QUrl())
{
    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    if (staticUrl.isValid())
        env.insert(QStringLiteral("LOKIQT_PROBE_URL"), staticUrl.toString());
    process.setProcessEnvironment(env);
    process.start(QStringLiteral(LOKIQT_LIFECYCLE_PROBE), arguments);
    ProbeResult result;
    if (!process.waitForFinished(60000)) {
        process.kill();
        process.waitForFinished();
        result.stderrText = QStringLiteral("the probe did not finish within 60 s");
        return result;
    }
    result.exitCode = process.exitCode();
    result.exitStatus = process.exitStatus();
    result.stderrText = QString::fromUtf8(process.readAllStandardError());
    const QStringList lines = QString::fromUtf8(process.readAllStandardOutput()).split(QLatin1Char('\n'));
    for (const QString &line : lines) {
        const qsizetype eq = line.indexOf(QLatin1Char('='));
        if (eq > 0)
            result.values.insert(line.left(eq), line.mid(eq + 1));
    }
    return result;
}

int pendingFlushes(LokiClient &client)
{
    LokiWorker *worker = LokiClientPrivate::get(&client)->worker;
    int pending = -1;
    QMetaObject::invokeMethod(
        worker, [worker, &pending] { pending = worker->pendingFlushes(); }, Qt::BlockingQueuedConnection);
    return pending;
}
} // namespace

class tst_Lifecycle : public QObject
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

    // No QCoreApplication at all: nothing could ever be delivered, so send() refuses with the reason instead
    // of answering Accepted, and flush() does not wait out its deadline.
    void withoutAnApplicationSendRefusesWithTheReason()
    {
        const ProbeResult probe = runProbe({QStringLiteral("noapp"), receiver->url().toString()});
        QVERIFY2(probe.exitStatus == QProcess::NormalExit && probe.exitCode == 0,
                 qPrintable(probe.stderrText));
        QCOMPARE(probe.values.value(QStringLiteral("send")), QStringLiteral("Rejected"));
        QCOMPARE(probe.values.value(QStringLiteral("rejected")), QStringLiteral("1"));
        QCOMPARE(probe.values.value(QStringLiteral("accepted")), QStringLiteral("0"));
        QVERIFY2(probe.values.value(QStringLiteral("lastError")).contains(QLatin1String("QCoreApplication")),
                 qPrintable(probe.values.value(QStringLiteral("lastError"))));
        QVERIFY2(probe.values.value(QStringLiteral("flushMs")).toInt() < 4000,
                 qPrintable(probe.values.value(QStringLiteral("flushMs"))));
        QCOMPARE(receiver->entryCount(), 0);
    }

    // The application object destroyed while the client lives: the client closes with it (within
    // destructorCloseTimeout), delivering what it can and counting the rest as droppedClosed; later sends are
    // refused, and nothing warns about timers.
    void aClientThatOutlivesTheApplicationClosesWithIt_data()
    {
        QTest::addColumn<bool>("lokiUp");
        QTest::newRow("Loki up: delivered") << true;
        QTest::newRow("Loki down: counted") << false;
    }
    void aClientThatOutlivesTheApplicationClosesWithIt()
    {
        QFETCH(bool, lokiUp);
        if (!lokiUp)
            receiver->stop();
        const ProbeResult probe =
            runProbe({QStringLiteral("appgone"), receiver->url().toString(), QStringLiteral("50")});
        QVERIFY2(probe.exitStatus == QProcess::NormalExit && probe.exitCode == 0,
                 qPrintable(probe.stderrText));
        QCOMPARE(probe.values.value(QStringLiteral("destroyed")), QStringLiteral("1"));
        QCOMPARE(probe.values.value(QStringLiteral("afterApp")), QStringLiteral("Closed"));
        QCOMPARE(probe.values.value(QStringLiteral("state")), QStringLiteral("Closed"));
        const qint64 accepted = probe.values.value(QStringLiteral("accepted")).toLongLong();
        const qint64 sent = probe.values.value(QStringLiteral("sent")).toLongLong();
        const qint64 droppedClosed = probe.values.value(QStringLiteral("droppedClosed")).toLongLong();
        QCOMPARE(accepted, 50);
        QCOMPARE(probe.values.value(QStringLiteral("failed")), QStringLiteral("0"));
        QCOMPARE(probe.values.value(QStringLiteral("queued")), QStringLiteral("0"));
        if (lokiUp) {
            QCOMPARE(sent, 50);
            QCOMPARE(receiver->entryCount(), 50);
        } else {
            QCOMPARE(droppedClosed, 50);
            QVERIFY2(probe.values.value(QStringLiteral("lastError")).contains(QLatin1String("undelivered")),
                     qPrintable(probe.values.value(QStringLiteral("lastError"))));
        }
        QVERIFY2(!probe.stderrText.contains(QLatin1String("Timers cannot be stopped")),
                 qPrintable(probe.stderrText));
        QVERIFY2(!probe.stderrText.contains(QLatin1String("QThread: Destroyed while thread")),
                 qPrintable(probe.stderrText));
    }

    // A global static client, constructed before main() and so before the application object: it starts once
    // the application exists, delivers, and is destroyed after the application without trouble.
    void aGlobalStaticClientDeliversAndDiesQuietly()
    {
        const ProbeResult probe = runProbe(
            {QStringLiteral("static"), receiver->url().toString(), QStringLiteral("20")}, receiver->url());
        QVERIFY2(probe.exitStatus == QProcess::NormalExit && probe.exitCode == 0,
                 qPrintable(probe.stderrText));
        QCOMPARE(probe.values.value(QStringLiteral("flush")), QStringLiteral("1"));
        QCOMPARE(probe.values.value(QStringLiteral("sent")), QStringLiteral("20"));
        QCOMPARE(receiver->entryCount(), 20);
        QVERIFY2(!probe.stderrText.contains(QLatin1String("Timers cannot be stopped")),
                 qPrintable(probe.stderrText));
        QVERIFY2(!probe.stderrText.contains(QLatin1String("QThread: Destroyed while thread")),
                 qPrintable(probe.stderrText));
    }

    // close() from a thread other than the owner: it closes, stateChanged(Closed) still arrives in the owner
    // thread, and the client's thread is stopped.
    void closeFromAnotherThread()
    {
        LokiClient client(configFor(receiver->url()));
        QThread *owner = QThread::currentThread();
        QList<QThread *> emittedIn;
        QList<LokiClient::State> states;
        QMutex mutex; // direct: records the thread that emits
        connect(
            &client, &LokiClient::stateChanged, &client,
            [&](LokiClient::State state) {
                QMutexLocker lock(&mutex);
                emittedIn << QThread::currentThread();
                states << state;
            },
            Qt::DirectConnection);
        for (int i = 0; i < 10; ++i)
            QCOMPARE(client.send(QString::number(i)), LokiClient::SendResult::Accepted);
        std::atomic<int> result{-1};
        std::thread closer([&] { result = client.close(QDeadlineTimer(longWait)) ? 1 : 0; });
        QTRY_VERIFY_WITH_TIMEOUT(result.load() != -1, longWait);
        closer.join();
        QCOMPARE(result.load(), 1);
        QCOMPARE(client.state(), LokiClient::State::Closed);
        QCOMPARE(receiver->entryCount(), 10);
        QVERIFY(!LokiClientPrivate::get(&client)->thread.isRunning());
        QCOMPARE(client.send(QStringLiteral("late")), LokiClient::SendResult::Closed);
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                QMutexLocker lock(&mutex);
                return states.contains(LokiClient::State::Closed);
            }(),
            longWait);
        QMutexLocker lock(&mutex);
        for (QThread *thread : std::as_const(emittedIn))
            QCOMPARE(thread, owner);
        QCOMPARE(states.last(), LokiClient::State::Closed);
        QVERIFY(client.close()); // the first answer again
    }

    // close() from the client's own thread cannot wait for itself: it refuses sends at once and answers
    // false; the owner's close() then delivers and stops the thread.
    void closeFromTheClientsOwnThread()
    {
#if QT_VERSION >= QT_VERSION_CHECK(6, 3, 0)
        QTest::failOnWarning(QRegularExpression(QStringLiteral("Dead lock detected|wait on itself")));
#endif
        LokiClient client(configFor(receiver->url()));
        for (int i = 0; i < 5; ++i)
            QCOMPARE(client.send(QString::number(i)), LokiClient::SendResult::Accepted);
        LokiWorker *worker = LokiClientPrivate::get(&client)->worker;
        int result = -1;
        QMetaObject::invokeMethod(
            worker, [&] { result = client.close() ? 1 : 0; }, Qt::BlockingQueuedConnection);
        QCOMPARE(result, 0);
        QCOMPARE(client.send(QStringLiteral("refused")), LokiClient::SendResult::Closed);
        QCOMPARE(client.state(), LokiClient::State::Closed);
        QVERIFY(client.close(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 5);
        QVERIFY(!LokiClientPrivate::get(&client)->thread.isRunning());
    }

    // Once Closed is published, the worker's later state changes never replace it.
    void theStateNeverLeavesClosed()
    {
        LokiClient client(configFor(receiver->url()));
        LokiClientStatus &status = LokiClientPrivate::get(&client)->status;
        QVERIFY(status.close());
        status.setState(LokiClient::State::Sending);
        status.setState(LokiClient::State::Retrying);
        QCOMPARE(client.state(), LokiClient::State::Closed);
        QVERIFY(!status.close());
    }

    // Each flush() that gives up leaves nothing behind in the worker: a periodic short flush while Loki is
    // away must not grow a list for good.
    void abandonedFlushesAreForgotten()
    {
        LokiConfig config = configFor(receiver->url());
        config.retry.maxAttempts = 1000000;
        config.retry.initialBackoff = 50ms;
        config.retry.maxBackoff = 50ms;
        LokiClient client(config);
        receiver->stop();
        QCOMPARE(client.send(QStringLiteral("waits")), LokiClient::SendResult::Accepted);
        for (int i = 0; i < 100; ++i)
            QVERIFY(!client.flush(QDeadlineTimer(1)));
        QVERIFY2(pendingFlushes(client) <= 2, qPrintable(QString::number(pendingFlushes(client))));
        QVERIFY(receiver->restart());
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(pendingFlushes(client), 0);
    }

    // An owner thread that runs no event loop for a while (busy, or a blocking call) while the worker reports
    // a failure every few milliseconds: the backlog of signals it finds stays bounded, the latest error is
    // the last one signalled, and lastError() is current all along.
    void errorsWaitingForTheOwnerThreadStayBounded()
    {
        LokiConfig config = configFor(receiver->url());
        config.retry.maxAttempts = 1000000;
        config.retry.initialBackoff = 1ms;
        config.retry.maxBackoff = 2ms;
        config.retry.jitter = 0;
        config.followNetworkReachability = false;
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        QSignalSpy states(&client, &LokiClient::stateChanged);
        receiver->stop();
        QCOMPARE(client.send(QStringLiteral("keeps failing")), LokiClient::SendResult::Accepted);
        // No event loop here until enough failures happened.
        QElapsedTimer timer;
        timer.start();
        while (client.retried() < 300 && timer.elapsed() < longWait)
            QThread::msleep(10);
        QVERIFY2(client.retried() >= 300, qPrintable(QString::number(client.retried())));
        LokiClientStatus &status = LokiClientPrivate::get(&client)->status;
        QVERIFY(status.pendingErrors() <= LokiClientStatus::maxPendingErrors);
        QVERIFY(status.droppedSignals() > 0);
        const LokiError latest = client.lastError();
        QCOMPARE(latest.kind(), LokiError::Kind::Network);
        QCoreApplication::processEvents();
        QVERIFY2(errors.count() <= LokiClientStatus::maxPendingErrors + 1,
                 qPrintable(QString::number(errors.count())));
        QVERIFY(errors.count() >= 1);
        QVERIFY(states.count() <= 3);
        QVERIFY(receiver->restart());
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
    }
};

QTEST_GUILESS_MAIN(tst_Lifecycle)
#include "tst_lifecycle.moc"
