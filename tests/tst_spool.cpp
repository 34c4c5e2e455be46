// SPDX-License-Identifier: MIT
// The disk spool: its format, replay after a restart, damage, the disk bound, the lock, file permissions,
// the age rule, and delivery through processes killed with SIGKILL.
#include <lokiqt/lokiclient.h>

#include "lokitestreceiver.h"
#include "spool_p.h"

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QProcess>
#include <QtCore/QRandomGenerator>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <memory>

#ifdef Q_OS_UNIX
#include <signal.h>
#endif

using namespace std::chrono_literals;
using Mode = LokiConfig::Backpressure;

namespace {
constexpr int longWait = 60000;

/** Streams for a LokiSpool used without a client. */
struct StreamTable
{
    std::vector<std::unique_ptr<LokiStreamInfo>> owned;

    const LokiStreamInfo *get(const QByteArray &key, const QByteArray &json)
    {
        for (const auto &info : owned) {
            if (info->key == key)
                return info.get();
        }
        owned.push_back(std::make_unique<LokiStreamInfo>(LokiStreamInfo{key, json}));
        return owned.back().get();
    }
};

struct SpoolFixture
{
    StreamTable streams;
    QStringList reports;
    std::unique_ptr<LokiSpool> spool;

    bool open(const QString &dir, qint64 segmentBytes = 4096, qint64 maxBytes = 64 * 1024 * 1024)
    {
        LokiSpool::Options options;
        options.directory = dir;
        options.segmentBytes = segmentBytes;
        options.maxBytes = maxBytes;
        options.sync = LokiConfig::SpoolSync::Never;
        spool = std::make_unique<LokiSpool>(
            options, [this](const QByteArray &k, const QByteArray &j) { return streams.get(k, j); },
            [this](const QString &message) { reports << message; });
        QString why;
        const bool ok = spool->open(&why);
        if (!ok)
            reports << why;
        return ok;
    }
    static qint64 now() { return QDateTime::currentMSecsSinceEpoch() * 1000000; }
    void append(const QByteArray &stream, int n, const QByteArray &prefix = "entry ", qint64 firstTs = now())
    {
        const LokiStreamInfo *info = streams.get("{s=\"" + stream + "\"}", "{\"s\":\"" + stream + "\"}");
        for (int i = 0; i < n; ++i) {
            LokiQueuedEntry e;
            e.timestampNs = firstTs + i;
            e.stream = info;
            e.line = prefix + QByteArray::number(i);
            if (i % 3 == 0)
                e.metadata = {{"trace_id", "t" + QByteArray::number(i)}};
            QVERIFY(spool->append(e, 0));
        }
    }
    QList<QByteArray> takeAll()
    {
        QList<QByteArray> out;
        std::vector<LokiQueuedEntry> batch;
        qint64 expired = 0, damaged = 0;
        do {
            batch.clear();
            spool->take(batch, 7, 1 << 20, 0, &expired, &damaged);
            for (const auto &e : batch)
                out << e.line;
        } while (!batch.empty());
        return out;
    }
};

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

QList<QByteArray> expectedLines(int n, const QByteArray &prefix = "entry ")
{
    QList<QByteArray> out;
    for (int i = 0; i < n; ++i)
        out << prefix + QByteArray::number(i);
    return out;
}
} // namespace

class tst_Spool : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    // --- the record format ---
    void recordsRoundTrip()
    {
        QByteArray data;
        LokiSpoolFormat::appendStream(data, 3, "{a=\"b\"}", "{\"a\":\"b\"}");
        const LokiMetadata metadata{{"trace_id", "abc"}, {"user", QByteArray("\xc3\xa9", 2)}};
        LokiSpoolFormat::appendEntry(data, -42, 7, 3, QByteArray("line\0with nul", 13), metadata);
        LokiSpoolFormat::Record record;
        qsizetype used = 0;
        QCOMPARE(LokiSpoolFormat::readRecord(data.constData(), data.size(), &record, &used),
                 LokiSpoolFormat::ReadStatus::Ok);
        QCOMPARE(record.type, LokiSpoolFormat::RecordType::Stream);
        QCOMPARE(record.streamId, 3u);
        QCOMPARE(record.key, QByteArray("{a=\"b\"}"));
        QCOMPARE(record.json, QByteArray("{\"a\":\"b\"}"));
        const qsizetype first = used;
        QCOMPARE(LokiSpoolFormat::readRecord(data.constData() + first, data.size() - first, &record, &used),
                 LokiSpoolFormat::ReadStatus::Ok);
        QCOMPARE(first + used, data.size());
        QCOMPARE(record.type, LokiSpoolFormat::RecordType::Entry);
        QCOMPARE(record.timestampNs, -42);
        QCOMPARE(record.clockOffsetNs, 7);
        QCOMPARE(record.line, QByteArray("line\0with nul", 13));
        QCOMPARE(record.metadata, metadata);
    }

    void everyTruncationAndEveryDamagedByteIsDetected()
    {
        QByteArray record;
        LokiSpoolFormat::appendEntry(record, 1, 0, 0, "a line of some length", {{"k", "v"}});
        LokiSpoolFormat::Record out;
        qsizetype used = 0;
        for (qsizetype n = 0; n < record.size(); ++n)
            QCOMPARE(LokiSpoolFormat::readRecord(record.constData(), n, &out, &used),
                     LokiSpoolFormat::ReadStatus::NeedMore);
        for (qsizetype i = 0; i < record.size(); ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                QByteArray damaged = record;
                damaged[i] = char(damaged[i] ^ (1 << bit));
                QVERIFY2(LokiSpoolFormat::readRecord(damaged.constData(), damaged.size(), &out, &used) !=
                             LokiSpoolFormat::ReadStatus::Ok,
                         qPrintable(QStringLiteral("byte %1 bit %2").arg(i).arg(bit)));
            }
        }
    }

    // --- the spool on its own ---
    void entriesWrittenAreReadBackAfterReopening()
    {
        QTemporaryDir dir;
        const qint64 base = SpoolFixture::now();
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path()));
            f.append("one", 100, "one ", base);
            f.append("two", 100, "two ", base);
            QCOMPARE(f.spool->pendingEntries(), 200);
            QVERIFY(f.spool->segmentCount() > 2); // 4 KiB segments: the entries span several
        }
        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.spool->replayedEntries(), 200);
        std::vector<LokiQueuedEntry> all;
        qint64 expired = 0, damaged = 0;
        while (g.spool->take(all, 1000, 1 << 20, 0, &expired, &damaged) > 0) {
        }
        QCOMPARE(all.size(), size_t(200));
        for (int i = 0; i < 200; ++i) {
            const bool one = i < 100;
            const int n = i % 100;
            QCOMPARE(all[size_t(i)].line,
                     (one ? QByteArray("one ") : QByteArray("two ")) + QByteArray::number(n));
            QCOMPARE(all[size_t(i)].timestampNs, base + n);
            QCOMPARE(all[size_t(i)].stream->key, one ? QByteArray("{s=\"one\"}") : QByteArray("{s=\"two\"}"));
            QCOMPARE(all[size_t(i)].metadata.isEmpty(), n % 3 != 0);
        }
        QCOMPARE(expired + damaged, 0);
        QVERIFY(g.reports.isEmpty());
    }

    void acknowledgedEntriesAreNotReplayedAndTheirFilesGo()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path()));
            f.append("s", 400);
            QVERIFY(segmentFiles(dir.path()).size() > 3);
            std::vector<LokiQueuedEntry> batch;
            qint64 expired = 0, damaged = 0;
            f.spool->take(batch, 350, 1 << 20, 0, &expired, &damaged);
            QCOMPARE(batch.size(), size_t(350));
            const qint64 before = f.spool->diskBytes();
            QVERIFY(f.spool->acknowledge());
            QVERIFY(f.spool->diskBytes() < before / 2); // the acknowledged segments were deleted
            QCOMPARE(spoolBytes(dir.path()), f.spool->diskBytes());
        }
        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.spool->replayedEntries(), 50);
        const QList<QByteArray> rest = g.takeAll();
        QCOMPARE(rest, expectedLines(400).mid(350));
        QVERIFY(g.spool->acknowledge());
        QCOMPARE(segmentFiles(dir.path()).size(), 1); // only the one being written
    }

    void newSegmentsSortAfterTheAcknowledgedOne()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path()));
            f.append("s", 400);
            f.takeAll();
            f.spool->acknowledge(); // the ack file now names a late segment
        }
        for (const QString &name : segmentFiles(dir.path()))
            QVERIFY(QFile::remove(dir.filePath(name))); // say, someone cleaned the directory by hand
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path()));
            f.append("s", 5, "kept ");
        }
        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.spool->replayedEntries(), 5); // not taken for delivered because of their file names
        QCOMPARE(g.takeAll(), expectedLines(5, "kept "));
    }

    void aTornTailIsReportedOnceAndTheRecordsBeforeItAreKept()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path(), 1 << 20));
            f.append("s", 20);
        }
        const QStringList files = segmentFiles(dir.path());
        QCOMPARE(files.size(), 1);
        QFile file(dir.filePath(files.first()));
        QVERIFY(file.resize(file.size() - 5)); // a crash in the middle of the last write
        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.reports.size(), 1);
        QVERIFY2(g.reports.first().contains(QLatin1String("incomplete")), qPrintable(g.reports.first()));
        QCOMPARE(g.spool->replayedEntries(), 19);
        QCOMPARE(g.takeAll(), expectedLines(19));
        QCOMPARE(g.reports.size(), 1);
    }

    void aDamagedRecordLosesOnlyWhatFollowsItInItsSegment()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path(), 4096));
            f.append("s", 300);
        }
        QStringList files = segmentFiles(dir.path());
        QVERIFY(files.size() >= 3);
        // Damage the middle of the first segment.
        QFile file(dir.filePath(files.first()));
        QVERIFY(file.open(QIODevice::ReadWrite));
        const qint64 at = file.size() / 2;
        file.seek(at);
        char byte = 0;
        file.getChar(&byte);
        file.seek(at);
        file.putChar(char(byte ^ 0x20));
        file.close();

        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.reports.size(), 1);
        QVERIFY2(g.reports.first().contains(QLatin1String("damaged")), qPrintable(g.reports.first()));
        const QList<QByteArray> got = g.takeAll();
        // A prefix of the first segment, then every entry of the others, in order.
        QVERIFY(got.size() < 300 && got.size() > 200);
        QCOMPARE(got.last(), QByteArray("entry 299"));
        int expected = 0;
        int gaps = 0;
        for (const QByteArray &line : got) {
            const int n = line.mid(6).toInt();
            if (n != expected)
                ++gaps;
            expected = n + 1;
        }
        QCOMPARE(gaps, 1);
    }

    void aFileThatIsNotASegmentIsSkipped()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path()));
            f.append("s", 5);
        }
        QFile junk(dir.filePath(QStringLiteral("seg-0000000000000000.lqs")));
        QVERIFY(junk.open(QIODevice::WriteOnly));
        junk.write(QByteArray(1000, 'x'));
        junk.close();
        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.reports.size(), 1);
        QCOMPARE(g.takeAll(), expectedLines(5));
    }

    void aSecondUserOfTheDirectoryGetsAClearError()
    {
        QTemporaryDir dir;
        SpoolFixture first;
        QVERIFY(first.open(dir.path()));
        SpoolFixture second;
        QVERIFY(!second.open(dir.path()));
        QVERIFY2(second.reports.last().contains(
                     QStringLiteral("in use by process %1").arg(QCoreApplication::applicationPid())),
                 qPrintable(second.reports.last()));

        // A client keeps working, from memory, and says why.
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        LokiClient client(spoolConfig(receiver.url(), dir.path()));
        QVERIFY(!client.isSpooling());
        QCOMPARE(client.lastError().kind(), LokiError::Kind::Spool);
        QVERIFY(client.lastError().message().contains(QLatin1String("in use")));
        QCOMPARE(client.send(QStringLiteral("still delivered")), LokiClient::SendResult::Accepted);
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(lines(receiver.entries()), QStringList{QStringLiteral("still delivered")});
    }

    void filesAreReadableByTheOwnerOnly()
    {
        QTemporaryDir parent;
        const QString dir = parent.filePath(QStringLiteral("spool"));
        SpoolFixture f;
        QVERIFY(f.open(dir));
        f.append("s", 3);
        const auto others = QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ExeGroup |
                            QFileDevice::ReadOther | QFileDevice::WriteOther | QFileDevice::ExeOther;
        QCOMPARE(QFileInfo(dir).permissions() & others, QFileDevice::Permissions());
        const QStringList names = QDir(dir).entryList(QDir::Files);
        QVERIFY(names.contains(QStringLiteral("ack")));
        QVERIFY(!segmentFiles(dir).isEmpty());
        for (const QString &name : names) {
            if (name == QLatin1String("lock"))
                continue; // QLockFile's own file holds only a process id
            QCOMPARE(QFileInfo(dir + QLatin1Char('/') + name).permissions() & others,
                     QFileDevice::Permissions());
        }
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
        qint64 accepted = 0, refused = 0, maxDisk = 0;
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
            QCOMPARE(client.counters().queued, c.accepted - c.droppedOldest);
        }
        // Everything kept is delivered by the next client; exactly the entries the counters promise.
        QVERIFY(receiver.restart());
        LokiClient next(config);
        const qint64 kept = next.counters().replayed;
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
