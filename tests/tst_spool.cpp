// SPDX-License-Identifier: MIT
// The disk spool through a client: replay after a restart, the disk bound, a small full disk, the lock, the
// age rule, and delivery through processes killed with SIGKILL. The spool buffer alone: tst_spoolbuffer.
#include <lokiqt/lokiclient.h>

#include "lokitestreceiver.h"

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QProcess>
#include <QtCore/QRandomGenerator>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <memory>

#ifdef Q_OS_UNIX
#include <signal.h>
#include <unistd.h>
#endif

#include <thread>

using namespace std::chrono_literals;
using Mode = LokiConfig::Backpressure;

namespace {
constexpr int longWait = 60000;

QStringList segmentFiles(const QString &dir)
{
    return QDir(dir).entryList({QStringLiteral("seg-*.lqs")}, QDir::Files, QDir::Name);
}

qint64 spoolBytes(const QString &dir)
{
    qint64 total = 0;
    for (const QString &name : segmentFiles(dir))
        total += QFileInfo(dir + QLatin1Char('/') + name).size();
    return total;
}

LokiConfig spoolConfig(const QUrl &url, const QString &dir)
{
    LokiConfig config;
    config.url = url;
    config.labels = {{QStringLiteral("app"), QStringLiteral("spool")}};
    config.spool.directory = dir;
    config.batch.maxEntries = 100;
    config.batch.maxWait = 10ms;
    config.retry.initialBackoff = 5ms;
    config.retry.maxBackoff = 50ms;
    config.retry.maxAttempts = 1000;
    return config;
}

/**
 * A file system of 2 MiB (tmpfs) mounted for one test and unmounted when it ends, whatever the outcome.
 * Needs root (CI runs as root); isValid() is false, with the reason in why, when it cannot be had.
 */
struct SmallDisk
{
    QTemporaryDir mountPoint;
    bool mounted = false;
    QString why;

    SmallDisk()
    {
#ifdef Q_OS_LINUX
        if (::geteuid() != 0) {
            why = QStringLiteral("mounting a 2 MiB tmpfs needs root (CI runs as root)");
            return;
        }
        QProcess mount;
        mount.start(QStringLiteral("mount"),
                    {QStringLiteral("-t"), QStringLiteral("tmpfs"), QStringLiteral("-o"),
                     QStringLiteral("size=2m"), QStringLiteral("tmpfs"), mountPoint.path()});
        mounted = mount.waitForFinished(longWait) && mount.exitStatus() == QProcess::NormalExit &&
                  mount.exitCode() == 0;
        if (!mounted)
            why = QStringLiteral("cannot mount a tmpfs: %1")
                      .arg(QString::fromLocal8Bit(mount.readAllStandardError()).trimmed());
#else
        why = QStringLiteral("a small tmpfs is made with Linux's mount");
#endif
    }
    ~SmallDisk()
    {
        if (mounted)
            QProcess::execute(QStringLiteral("umount"), {QStringLiteral("-l"), mountPoint.path()});
    }
    bool isValid() const
    {
        return mounted;
    }
    QString path() const
    {
        return mountPoint.filePath(QStringLiteral("spool"));
    }
};

/** Sends @p n numbered lines of about 100 bytes ("<prefix> 000042 xxx..."); returns how many were accepted.
 */
int sendNumbered(LokiClient &client, const QString &prefix, int n,
                 QDeadlineTimer deadline = QDeadlineTimer(0))
{
    const QString padding(80, QLatin1Char('x'));
    int accepted = 0;
    for (int i = 0; i < n; ++i) {
        if (client.send(QStringLiteral("%1 %2 %3").arg(prefix).arg(i, 6, 10, QLatin1Char('0')).arg(padding),
                        deadline) == LokiClient::SendResult::Accepted)
            ++accepted;
    }
    return accepted;
}
} // namespace

class tst_Spool : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void aSecondUserOfTheDirectoryGetsAClearError()
    {
        QTemporaryDir dir;
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        LokiClient first(spoolConfig(receiver.url(), dir.path()));
        QVERIFY(first.isSpooling());

        // The second keeps working, from memory, and says why.
        LokiClient client(spoolConfig(receiver.url(), dir.path()));
        QVERIFY(!client.isSpooling());
        QCOMPARE(client.lastError().kind(), LokiError::Kind::Spool);
        QVERIFY2(client.lastError().message().contains(
                     QStringLiteral("in use by process %1").arg(QCoreApplication::applicationPid())),
                 qPrintable(client.lastError().message()));
        QCOMPARE(client.send(QStringLiteral("still delivered")), LokiClient::SendResult::Accepted);
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(lines(receiver.entries()), QStringList{QStringLiteral("still delivered")});
    }

    // --- through a client ---
    void closeWhileLokiIsDownKeepsEntriesForTheNextStart()
    {
        QTemporaryDir dir;
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.stop();
        {
            LokiConfig config = spoolConfig(receiver.url(), dir.path());
            config.retry.maxAttempts = 2; // not a limit for transient failures with a spool
            LokiClient client(config);
            QVERIFY(client.isSpooling());
            QSignalSpy errors(&client, &LokiClient::errorOccurred);
            for (int i = 0; i < 50; ++i)
                QCOMPARE(client.send(QStringLiteral("old %1").arg(i)), LokiClient::SendResult::Accepted);
            QTRY_VERIFY_WITH_TIMEOUT(client.retried() >= 4, longWait);
            QCOMPARE(client.failed(), 0);
            QVERIFY(client.lastError().willRetry());
            QDeadlineTimer deadline(500ms);
            QVERIFY(!client.close(deadline));
            QVERIFY(deadline.remainingTime() > -2000); // returned by its deadline (with slack for a slow CI)
            const LokiClient::Counters c = client.counters();
            QCOMPARE(c.queued, 50);
            QCOMPARE(c.droppedClosed, 0);
            QCOMPARE(c.sent, 0);
            QTRY_VERIFY(!errors.isEmpty());
            QCOMPARE(client.lastError().kind(), LokiError::Kind::Spool);
            QCOMPARE(client.lastError().entries(), 50);
        }
        QVERIFY(receiver.restart());
        LokiClient next(spoolConfig(receiver.url(), dir.path()));
        QCOMPARE(next.counters().replayed, 50);
        for (int i = 0; i < 10; ++i)
            next.send(QStringLiteral("new %1").arg(i));
        QVERIFY(next.flush(QDeadlineTimer(longWait)));
        QStringList expected;
        for (int i = 0; i < 50; ++i)
            expected << QStringLiteral("old %1").arg(i);
        for (int i = 0; i < 10; ++i)
            expected << QStringLiteral("new %1").arg(i);
        QCOMPARE(lines(receiver.entries()), expected); // the earlier run's first, in order
        const LokiClient::Counters c = next.counters();
        QCOMPARE(c.sent, 60);
        QCOMPARE(c.queued, 0);
        QVERIFY(next.close(QDeadlineTimer(longWait)));
    }

    void theDiskBoundAppliesTheBackpressureMode_data()
    {
        QTest::addColumn<Mode>("mode");
        QTest::newRow("block") << Mode::Block;
        QTest::newRow("drop-new") << Mode::DropNew;
        QTest::newRow("drop-oldest") << Mode::DropOldest;
    }
    void theDiskBoundAppliesTheBackpressureMode()
    {
        QFETCH(Mode, mode);
        QTemporaryDir dir;
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.stop();
        LokiConfig config = spoolConfig(receiver.url(), dir.path());
        config.backpressure = mode;
        config.spool.maxBytes = 1024 * 1024;
        config.spool.segmentBytes = 64 * 1024;
        constexpr int offered = 3000; // about 3 MiB of 1000-byte lines: three times the bound
        const QString padding(980, QLatin1Char('x'));
        qint64 accepted = 0, refused = 0, maxDisk = 0, keptByCounters = -1;
        {
            LokiClient client(config);
            QVERIFY(client.isSpooling());
            for (int i = 0; i < offered; ++i) {
                const auto result =
                    client.send(QStringLiteral("%1 %2").arg(i, 5, 10, QLatin1Char('0')).arg(padding),
                                QDeadlineTimer(mode == Mode::Block ? 1 : 0));
                (result == LokiClient::SendResult::Accepted ? accepted : refused) += 1;
                if (i % 100 == 0)
                    maxDisk = qMax(maxDisk, spoolBytes(dir.path()));
            }
            maxDisk = qMax(maxDisk, spoolBytes(dir.path()));
            QVERIFY2(maxDisk <= config.spool.maxBytes, qPrintable(QString::number(maxDisk)));
            const LokiClient::Counters c = client.counters();
            QCOMPARE(c.accepted, accepted);
            QCOMPARE(accepted + refused, offered);
            switch (mode) {
            case Mode::Block:
                QVERIFY(c.timedOut > 0);
                QCOMPARE(c.timedOut, refused);
                break;
            case Mode::DropNew:
                QVERIFY(c.droppedNew > 0);
                QCOMPARE(c.droppedNew, refused);
                break;
            case Mode::DropOldest:
                QCOMPARE(refused, 0);
                QVERIFY(c.droppedOldest > 0);
                break;
            }
            client.close(QDeadlineTimer(200ms));
            // DropOldest may delete the segment of the batch under way: it is lost at close, and says so.
            const LokiClient::Counters after = client.counters();
            QCOMPARE(after.queued, c.accepted - c.droppedOldest - after.droppedClosed);
            if (mode != Mode::DropOldest)
                QCOMPARE(after.droppedClosed, 0);
            keptByCounters = after.queued;
        }
        // Everything kept is delivered by the next client; exactly the entries the counters promise.
        QVERIFY(receiver.restart());
        LokiClient next(config);
        const qint64 kept = next.counters().replayed;
        QCOMPARE(kept, keptByCounters);
        QVERIFY(next.flush(QDeadlineTimer(longWait)));
        const QStringList got = lines(receiver.entries());
        QCOMPARE(qint64(got.size()), kept);
        QCOMPARE(QSet<QString>(got.cbegin(), got.cend()).size(), got.size());
        QVERIFY(!got.isEmpty());
        if (mode == Mode::DropOldest) {
            QVERIFY(got.last().startsWith(QStringLiteral("%1 ").arg(offered - 1, 5, 10, QLatin1Char('0'))));
            QVERIFY(!got.first().startsWith(QLatin1String("00000 ")));
        } else {
            QVERIFY(got.first().startsWith(QLatin1String("00000 ")));
        }
    }

    void replayedEntriesOlderThanMaxAgeAreDroppedAndCounted()
    {
        QTemporaryDir dir;
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.stop();
        LokiConfig config = spoolConfig(receiver.url(), dir.path());
        const qint64 day = 24LL * 3600 * 1000 * 1000 * 1000;
        const qint64 now = QDateTime::currentMSecsSinceEpoch() * 1000000;
        {
            config.spool.maxAge = std::chrono::hours(24 * 30); // this run keeps them
            LokiClient client(config);
            for (int i = 0; i < 5; ++i) {
                LokiEntry old(QStringLiteral("eight days old %1").arg(i));
                old.timestampNs = now - 8 * day + i;
                QCOMPARE(client.send(old), LokiClient::SendResult::Accepted);
                LokiEntry recent(QStringLiteral("six days old %1").arg(i));
                recent.timestampNs = now - 6 * day + i;
                QCOMPARE(client.send(recent), LokiClient::SendResult::Accepted);
            }
            client.close(QDeadlineTimer(100ms));
        }
        QVERIFY(receiver.restart());
        config.spool.maxAge = std::chrono::hours(24 * 7); // the default: Loki's
        LokiClient next(config);
        QSignalSpy errors(&next, &LokiClient::errorOccurred);
        QCOMPARE(next.counters().replayed, 10);
        next.flush(QDeadlineTimer(longWait));
        QTRY_COMPARE(next.counters().expired, 5);
        QCOMPARE(next.counters().sent, 5);
        QCOMPARE(next.counters().queued, 0);
        for (const QString &line : lines(receiver.entries()))
            QVERIFY(line.startsWith(QLatin1String("six days old")));
        QTRY_VERIFY(!errors.isEmpty());
        bool reported = false;
        for (const auto &args : errors) {
            const LokiError e = args.at(0).value<LokiError>();
            reported = reported || (e.kind() == LokiError::Kind::Dropped && e.entries() == 5 &&
                                    e.message().contains(QLatin1String("maxAge")));
        }
        QVERIFY(reported);
    }

    // --- failures of issue 9 ---
    // 2.5: Block mode with a spool frees room only on acknowledgement; with Loki down and send()'s default
    // deadline, a sender waited forever.
    void blockModeOnAFullSpoolTimesOutWithTheDefaultDeadline()
    {
        QTemporaryDir dir;
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.stop();
        LokiConfig config = spoolConfig(receiver.url(), dir.path());
        config.backpressure = Mode::Block;
        config.spool.maxBytes = 1024 * 1024; // the smallest allowed: about 1,000 of these lines
        config.spool.segmentBytes = 64 * 1024;
        LokiClient client(config);
        QVERIFY(client.isSpooling());
        std::atomic<bool> done{false};
        std::atomic<int> timedOut{0};
        std::atomic<int> accepted{0};
        QElapsedTimer timer;
        timer.start();
        std::thread sender([&] {
            const QString padding(1000, QLatin1Char('x'));
            for (int i = 0; i < 5000 && timedOut.load() == 0; ++i) {
                const auto result = client.send(QStringLiteral("%1 %2").arg(i).arg(padding));
                if (result == LokiClient::SendResult::TimedOut)
                    ++timedOut;
                else if (result == LokiClient::SendResult::Accepted)
                    ++accepted;
                else
                    break;
            }
            done = true;
        });
        const bool returned = QTest::qWaitFor([&] { return done.load(); }, longWait);
        if (!returned)
            client.close(QDeadlineTimer(0)); // wakes the blocked sender, so the thread can be joined
        sender.join();
        QVERIFY2(returned, "send() still blocked after 60 s with the default deadline");
        QCOMPARE(timedOut.load(), 1);
        QVERIFY(accepted.load() > 500);
        QCOMPARE(client.counters().timedOut, 1);
        QVERIFY(timer.elapsed() >= 4000); // it did wait for room, LokiConfig::blockTimeout (5 s) long
    }

    // 2.14: a segment file that cannot be read as one is reported "skipped", and must stay as it was.
    void aFileWithAForeignHeaderIsKeptUntouched()
    {
        QTemporaryDir dir;
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        const QString foreign = dir.filePath(QStringLiteral("seg-0000000000000000.lqs"));
        const QByteArray junk("not a spool segment, but someone's data\n");
        {
            QFile file(foreign);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(junk);
        }
        {
            LokiClient client(spoolConfig(receiver.url(), dir.path()));
            QVERIFY(client.isSpooling());
            QCOMPARE(client.lastError().kind(), LokiError::Kind::Spool);
            QVERIFY2(client.lastError().message().contains(QLatin1String("kept")),
                     qPrintable(client.lastError().message()));
            QCOMPARE(client.send(QStringLiteral("delivered")), LokiClient::SendResult::Accepted);
            QVERIFY(client.flush(QDeadlineTimer(longWait)));
            QVERIFY(client.close(QDeadlineTimer(longWait)));
        }
        QCOMPARE(lines(receiver.entries()), QStringList{QStringLiteral("delivered")});
        QFile file(foreign);
        QVERIFY2(file.open(QIODevice::ReadOnly), "the foreign file was deleted");
        QCOMPARE(file.readAll(), junk);
    }

    // 2.4 (a, d): Loki down, a 2 MiB disk filled by the spool. The disk's error is named and counted under
    // its own reason; the next start replays what is there although no new file fits.
    void aFullSmallDiskIsReportedAndReplayedByTheNextStart()
    {
        SmallDisk disk;
        if (!disk.isValid())
            QSKIP(qPrintable(disk.why));
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.stop();
        LokiConfig config = spoolConfig(receiver.url(), disk.path());
        config.backpressure = Mode::DropNew;
        qint64 kept = 0;
        {
            LokiClient client(config);
            QVERIFY(client.isSpooling());
            QSignalSpy errors(&client, &LokiClient::errorOccurred);
            const int accepted = sendNumbered(client, QStringLiteral("old"), 100000);
            QVERIFY(accepted > 1000 && accepted < 100000);
            const LokiClient::Counters c = client.counters();
            QCOMPARE(c.droppedNoSpace, 100000 - accepted);
            QCOMPARE(c.droppedNew, 0);
            // Reported as its own reason, in the system's words (network errors come and go meanwhile).
            const auto noSpaceReported = [&errors] {
                return std::any_of(errors.cbegin(), errors.cend(), [](const QList<QVariant> &args) {
                    const auto e = args.at(0).value<LokiError>();
                    return e.kind() == LokiError::Kind::Dropped &&
                           e.message().contains(QLatin1String("No space left on device"));
                });
            };
            QTRY_VERIFY_WITH_TIMEOUT(noSpaceReported(), longWait);
            client.close(QDeadlineTimer(100ms));
            kept = client.counters().queued;
            QCOMPARE(kept, accepted);
        }
        QVERIFY(receiver.restart());
        LokiClient next(config);
        QVERIFY2(next.isSpooling(), qPrintable(next.lastError().toString()));
        QCOMPARE(next.counters().replayed, kept);
        QVERIFY(next.flush(QDeadlineTimer(longWait)));
        QCOMPARE(qint64(receiver.entryCount()), kept);
        // Then it takes new lines as usual: the replayed segments made room.
        QCOMPARE(sendNumbered(next, QStringLiteral("new"), 100), 100);
        QVERIFY(next.flush(QDeadlineTimer(longWait)));
        QCOMPARE(qint64(receiver.entryCount()), kept + 100);
    }

    // 2.4 (b): DropOldest on a full disk drops the oldest lines, as on the spool's own bound.
    void dropOldestOnAFullSmallDiskKeepsTheNewestLines()
    {
        SmallDisk disk;
        if (!disk.isValid())
            QSKIP(qPrintable(disk.why));
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.stop();
        LokiConfig config = spoolConfig(receiver.url(), disk.path());
        config.backpressure = Mode::DropOldest;
        {
            LokiClient client(config);
            QVERIFY(client.isSpooling());
            QCOMPARE(sendNumbered(client, QStringLiteral("line"), 50000), 50000);
            const LokiClient::Counters c = client.counters();
            QVERIFY(c.droppedOldest > 0);
            QCOMPARE(c.droppedNew + c.droppedNoSpace, 0);
            client.close(QDeadlineTimer(100ms));
        }
        QVERIFY(receiver.restart());
        LokiClient next(config);
        QVERIFY2(next.isSpooling(), qPrintable(next.lastError().toString()));
        QVERIFY(next.flush(QDeadlineTimer(longWait)));
        const QStringList got = lines(receiver.entries());
        QVERIFY2(got.size() > 1000, qPrintable(QString::number(got.size())));
        QVERIFY2(got.last().startsWith(QLatin1String("line 049999 ")), qPrintable(got.last()));
        QVERIFY2(!got.first().startsWith(QLatin1String("line 000000 ")), qPrintable(got.first()));
    }

    // 2.4 (c): in one run, Loki down until the disk is full, then back: what was spooled is delivered, the
    // acknowledged files are freed, and lines sent after that are taken and delivered.
    void aFullSmallDiskRecoversInOneRunWhenLokiComesBack()
    {
        SmallDisk disk;
        if (!disk.isValid())
            QSKIP(qPrintable(disk.why));
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.stop();
        LokiConfig config = spoolConfig(receiver.url(), disk.path());
        config.backpressure = Mode::DropNew;
        LokiClient client(config);
        QVERIFY(client.isSpooling());
        const int spooled = sendNumbered(client, QStringLiteral("before"), 100000);
        QVERIFY(spooled < 100000);
        QVERIFY(receiver.restart());
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver.entryCount(), spooled);
        QVERIFY2(spoolBytes(disk.path()) < 64 * 1024, qPrintable(QString::number(spoolBytes(disk.path()))));
        const int after = sendNumbered(client, QStringLiteral("after"), 5000);
        QVERIFY2(after == 5000, qPrintable(QStringLiteral("%1 accepted; %2; disk %3")
                                               .arg(after)
                                               .arg(client.lastError().toString())
                                               .arg(spoolBytes(disk.path()))));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver.entryCount(), spooled + 5000);
        QVERIFY(client.close(QDeadlineTimer(longWait)));
    }

    void everyAcceptedEntrySurvivesSigkill()
    {
#ifndef Q_OS_UNIX
        QSKIP("SIGKILL is a Unix signal");
#else
        QTemporaryDir dir;
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        receiver.setFailRate(0.2, 503, 7); // retries, so kills also land between a push and its answer
        receiver.closeMidResponseNext(3);  // answers lost after the entries were stored: duplicates to come
        QSet<QString> accepted;
        QSet<QString> offered;
        auto *rng = QRandomGenerator::global();
        constexpr int rounds = 8;
        for (int round = 0; round < rounds; ++round) {
            QProcess writer;
            writer.start(QStringLiteral(LOKIQT_SPOOL_WRITER),
                         {receiver.url().toString(), dir.path(), QStringLiteral("r%1").arg(round),
                          QStringLiteral("100000000")});
            QVERIFY(writer.waitForStarted(longWait));
            QVERIFY(writer.waitForReadyRead(longWait)); // it accepts entries (a loaded machine starts slowly)
            QTest::qWait(int(rng->bounded(20, 500)));
            ::kill(pid_t(writer.processId()), SIGKILL);
            QVERIFY(writer.waitForFinished(longWait));
            QCOMPARE(writer.exitStatus(), QProcess::CrashExit);
            const QList<QByteArray> out = writer.readAllStandardOutput().split('\n');
            int last = -1;
            for (const QByteArray &line : out) {
                if (line.startsWith("a ")) { // a partial last line has no newline and is not split off whole
                    accepted << QStringLiteral("r%1 %2").arg(round).arg(line.mid(2).toInt());
                    last = qMax(last, line.mid(2).toInt());
                }
            }
            for (int i = 0; i <= last + 1; ++i)
                offered << QStringLiteral("r%1 %2").arg(round).arg(i);
            QVERIFY2(last > 0, "the writer accepted nothing before it was killed");
        }
        // A last run with nothing of its own delivers what the killed ones left.
        receiver.setFailRate(0);
        QProcess last;
        last.start(QStringLiteral(LOKIQT_SPOOL_WRITER),
                   {receiver.url().toString(), dir.path(), QStringLiteral("last"), QStringLiteral("0")});
        QVERIFY(last.waitForFinished(150000));
        const QByteArray summary = last.readAllStandardOutput();
        QCOMPARE(last.exitCode(), 0);
        QVERIFY2(summary.contains("closed 1 queued=0"), summary.constData());

        const QStringList got = lines(receiver.entries());
        const QSet<QString> arrived(got.cbegin(), got.cend());
        QCOMPARE(arrived.size(), got.size()); // the receiver drops exact duplicates, as Loki does
        QSet<QString> missing = accepted;
        missing.subtract(arrived);
        QVERIFY2(missing.isEmpty(),
                 qPrintable(QStringList(missing.values()).mid(0, 10).join(QLatin1String(", "))));
        QSet<QString> unexpected = arrived;
        unexpected.subtract(offered);
        QVERIFY(unexpected.isEmpty());
        qInfo("kill test: %d rounds, %lld accepted, %lld arrived (%lld written but killed before send() "
              "returned), %d exact duplicates dropped by the receiver",
              rounds, qint64(accepted.size()), qint64(arrived.size()),
              qint64(arrived.size() - accepted.size()), receiver.duplicateCount());
#endif
    }
};

QTEST_MAIN(tst_Spool)
#include "tst_spool.moc"
