// SPDX-License-Identifier: MIT
// The spool buffer on its own (src/spoolbuffer_p.h) and its record format (src/spoolformat_p.h): append,
// take, acknowledge, reopen, damage, the disk bound and a full disk, the age rule, files it does not own.
#include "spoolbuffer_p.h"
#include "spoolformat_p.h"

#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QProcess>
#include <QtCore/QStorageInfo>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#ifdef Q_OS_UNIX
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

using Mode = LokiConfig::Backpressure;

namespace {
/** Streams for a spool used without a client. */
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
    LokiCounterSet counters;
    std::unique_ptr<LokiSpoolBuffer> spool;

    bool open(const QString &dir, qint64 segmentBytes = 4096, qint64 maxBytes = 64 * 1024 * 1024,
              Mode mode = Mode::DropNew, int batchEntries = 7,
              LokiConfig::SpoolSync sync = LokiConfig::SpoolSync::Never,
              std::chrono::milliseconds maxAge = std::chrono::hours(24 * 7))
    {
        LokiSpoolBuffer::Options options;
        options.directory = dir;
        options.segmentBytes = segmentBytes;
        options.maxBytes = maxBytes;
        options.sync = sync;
        options.maxAge = maxAge;
        LokiEntryBuffer::Limits limits;
        limits.batchEntries = batchEntries;
        limits.batchBytes = 1 << 20;
        limits.mode = mode;
        spool = std::make_unique<LokiSpoolBuffer>(
            options, limits, &counters,
            [this](const QByteArray &k, const QByteArray &j) { return streams.get(k, j); },
            [this](const QString &message) { reports << message; });
        QString why;
        const bool ok = spool->open(&why);
        if (!ok)
            reports << why;
        return ok;
    }
    static qint64 now() { return QDateTime::currentMSecsSinceEpoch() * 1000000; }
    LokiEntryBuffer::PushResult push(const QByteArray &stream, const QByteArray &line, qint64 ts = 0)
    {
        LokiQueuedEntry e;
        e.timestampNs = ts;
        e.stream = streams.get("{s=\"" + stream + "\"}", "{\"s\":\"" + stream + "\"}");
        e.line = line;
        return spool->push(std::move(e), LokiWait::until(QDeadlineTimer(0)));
    }
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
            QCOMPARE(spool->push(std::move(e), LokiWait::until(QDeadlineTimer(0))),
                     LokiEntryBuffer::PushResult::Accepted);
        }
    }
    /** Takes batches (acknowledging each) until nothing is left. */
    QList<QByteArray> takeAll(bool acknowledge = true)
    {
        QList<QByteArray> out;
        std::vector<LokiQueuedEntry> batch;
        qint64 before = 0;
        do {
            before = spool->removedCount();
            batch.clear();
            spool->takeBatch(batch);
            for (const auto &e : batch)
                out << e.line;
            if (acknowledge)
                spool->acknowledge();
        } while (spool->removedCount() != before);
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

QList<QByteArray> expectedLines(int n, const QByteArray &prefix = "entry ", int from = 0)
{
    QList<QByteArray> out;
    for (int i = from; i < n; ++i)
        out << prefix + QByteArray::number(i);
    return out;
}

/** A 2 MiB tmpfs for one test, unmounted at its end whatever the outcome (root only; CI runs as root). */
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
        mounted =
            QProcess::execute(QStringLiteral("mount"),
                              {QStringLiteral("-t"), QStringLiteral("tmpfs"), QStringLiteral("-o"),
                               QStringLiteral("size=2m"), QStringLiteral("tmpfs"), mountPoint.path()}) == 0;
        if (!mounted)
            why = QStringLiteral("mount -t tmpfs failed here");
#else
        why = QStringLiteral("a small tmpfs is made with Linux's mount");
#endif
    }
    ~SmallDisk()
    {
        if (mounted)
            QProcess::execute(QStringLiteral("umount"), {QStringLiteral("-l"), mountPoint.path()});
    }
    QString path() const
    {
        return mountPoint.filePath(QStringLiteral("spool"));
    }
};
#ifdef Q_OS_LINUX
/**
 * Runs @p work in a forked child on a SpoolFixture of its own, then kills the child with SIGKILL while the
 * fixture is still alive (no destructor trims, syncs or closes anything). @p work returns 0 to be killed,
 * or an exit code that says where it went wrong. Returns an empty string when the child died of the
 * SIGKILL, else what happened instead.
 */
QString runThenSigkill(const std::function<int(SpoolFixture &)> &work)
{
    const pid_t child = ::fork();
    if (child < 0)
        return QStringLiteral("fork() failed");
    if (child == 0) {
        SpoolFixture f;
        const int code = work(f);
        if (code == 0)
            ::kill(::getpid(), SIGKILL);
        ::_exit(code == 0 ? 100 : code);
    }
    int status = 0;
    if (::waitpid(child, &status, 0) != child)
        return QStringLiteral("waitpid() failed");
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        return QString();
    return WIFEXITED(status) ? QStringLiteral("the child exited with %1").arg(WEXITSTATUS(status))
                             : QStringLiteral("the child ended with status %1").arg(status);
}
#endif
} // namespace

class tst_SpoolBuffer : public QObject
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

    // Version 3's CRC-32C: the check value of the standard, and the instruction (where there is one) agrees
    // with the table-driven code and with a bit-by-bit reference at every length and alignment.
    void crc32cIsTheCastagnoliCrc()
    {
        QCOMPARE(LokiSpoolFormat::crc32cOf("123456789", 9), 0xE3069283u);
        QCOMPARE(LokiSpoolFormat::crc32cPortable("123456789", 9), 0xE3069283u);
        QCOMPARE(LokiSpoolFormat::crc32cOf("", 0), 0u);
        auto reference = [](const char *data, qsizetype size) {
            quint32 crc = ~0u;
            for (qsizetype i = 0; i < size; ++i) {
                crc ^= quint8(data[i]);
                for (int k = 0; k < 8; ++k)
                    crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
            }
            return ~crc;
        };
        QByteArray data(300, Qt::Uninitialized);
        for (int i = 0; i < data.size(); ++i)
            data[i] = char((i * 7919 + 13) ^ (i >> 3));
        for (int start = 0; start < 8; ++start) {
            for (qsizetype size = 0; start + size <= data.size(); size += (size < 40 ? 1 : 37)) {
                const char *p = data.constData() + start;
                const quint32 expected = reference(p, size);
                QCOMPARE(LokiSpoolFormat::crc32cOf(p, size), expected);
                QCOMPARE(LokiSpoolFormat::crc32cPortable(p, size), expected);
            }
        }
        QVERIFY(LokiSpoolFormat::crc32cOf("123456789", 9) != LokiSpoolFormat::crcOf("123456789", 9));

        // The writers compute the CRC field by field; with the instruction and without, the same records.
        auto records = [] {
            QByteArray out;
            LokiSpoolFormat::appendStream(out, 7, "{a=\"b\"}", "{\"a\":\"b\"}");
            for (int i = 0; i < 40; ++i)
                LokiSpoolFormat::appendEntry(out, -i * 1000003, i, 7, QByteArray(i * 3, char('a' + i)),
                                             i % 3 ? LokiMetadata{}
                                                   : LokiMetadata{{"k", QByteArray(i, 'v')}});
            return out;
        };
        const QByteArray fast = records();
        const bool switched = LokiSpoolFormat::setPortableCrc32c(true);
        const QByteArray portable = records();
        QCOMPARE(LokiSpoolFormat::crc32cOf("123456789", 9), 0xE3069283u);
        LokiSpoolFormat::setPortableCrc32c(false);
        QCOMPARE(portable, fast);
        qsizetype pos = 0;
        LokiSpoolFormat::Record record;
        while (pos < fast.size()) {
            qsizetype used = 0;
            QCOMPARE(LokiSpoolFormat::readRecord(fast.constData() + pos, fast.size() - pos, &record, &used),
                     LokiSpoolFormat::ReadStatus::Ok);
            pos += used;
        }
        if (!switched)
            qInfo("this processor has no CRC-32C instruction (or lokiqt does not use it here): the "
                  "table-driven "
                  "code was compared with itself and the reference");
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

    // --- append, take, acknowledge, reopen ---
    void openingCreatesNoSegmentFile()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path()));
        QVERIFY(segmentFiles(dir.path()).isEmpty()); // the first append makes it
        QVERIFY(f.spool->isEmpty());
        f.append("s", 1);
        QCOMPARE(segmentFiles(dir.path()).size(), 1);
    }

    void entriesWrittenAreReadBackAfterReopening()
    {
        QTemporaryDir dir;
        const qint64 base = SpoolFixture::now();
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path()));
            f.append("one", 100, "one ", base);
            f.append("two", 100, "two ", base);
            QCOMPARE(f.spool->size(), 200);
            QVERIFY(f.spool->segmentCount() > 2); // 4 KiB segments: the entries span several
        }
        SpoolFixture g;
        QVERIFY(g.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 1000));
        QCOMPARE(g.spool->replayedCount(), 200);
        QCOMPARE(g.spool->acceptedCount(), 200);
        std::vector<LokiQueuedEntry> all;
        while (!g.spool->isEmpty())
            g.spool->takeBatch(all);
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
        QCOMPARE(g.counters.expired + g.counters.corrupted, 0);
        QVERIFY(g.reports.isEmpty());
    }

    void takeBatchRespectsTheBatchLimits()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 1 << 20));
        f.append("s", 20);
        std::vector<LokiQueuedEntry> batch;
        f.spool->takeBatch(batch);
        QCOMPARE(batch.size(), size_t(7));
        QCOMPARE(f.spool->size(), 13);
        QCOMPARE(f.spool->removedCount(), 7);
        QVERIFY(f.spool->hasFullBatch());
    }

    // Batches under way side by side are acknowledged in the order taken: acknowledging once resolves the
    // oldest batch only, and the one taken after it is replayed by the next start.
    void batchesAreAcknowledgedInTheOrderTaken()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 350));
            f.append("s", 1000);
            std::vector<LokiQueuedEntry> first, second;
            f.spool->takeBatch(first);
            f.spool->takeBatch(second);
            QCOMPARE(first.size(), size_t(350));
            QCOMPARE(second.size(), size_t(350));
            QCOMPARE(second.front().line, QByteArray("entry 350"));
            f.spool->acknowledge(); // the first batch; the second is still under way
        }
        SpoolFixture g;
        QVERIFY(g.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 1000));
        QCOMPARE(g.spool->replayedCount(), 650);
        const QList<QByteArray> replayed = g.takeAll();
        QCOMPARE(replayed.size(), 650);
        QCOMPARE(replayed.front(), QByteArray("entry 350"));
        QCOMPARE(replayed.back(), QByteArray("entry 999"));
        QCOMPARE(spoolBytes(dir.path()), g.spool->diskBytes());
    }

    void acknowledgedEntriesAreNotReplayedAndTheirFilesGo()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 350));
            f.append("s", 400);
            QVERIFY(segmentFiles(dir.path()).size() > 3);
            std::vector<LokiQueuedEntry> batch;
            f.spool->takeBatch(batch);
            QCOMPARE(batch.size(), size_t(350));
            const qint64 before = f.spool->diskBytes();
            f.spool->acknowledge();
            QVERIFY(f.spool->diskBytes() < before / 2); // the acknowledged segments were deleted
            QCOMPARE(spoolBytes(dir.path()), f.spool->diskBytes());
        }
        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.spool->replayedCount(), 50);
        QCOMPARE(g.takeAll(), expectedLines(400, "entry ", 350));
        // Everything acknowledged: no file is left, not even one that never reached rotation size.
        QCOMPARE(segmentFiles(dir.path()).size(), 0);
        QCOMPARE(g.spool->diskBytes(), 0);
        g.append("s", 3, "again ");
        QCOMPARE(g.takeAll(), expectedLines(3, "again "));
    }

    // An application that logs steadily has all of the segment being written delivered after each batch:
    // the segment then goes on in the same file, renamed to the next number (no new file, reservation and
    // deletion per batch). What it held is never taken again, in this run or the next.
    void aFullyAcknowledgedWriteSegmentGoesOnInItsFile()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 1 << 20)); // one segment that never reaches rotation size
        f.append("s", 50);
        const QStringList first = segmentFiles(dir.path());
        QCOMPARE(first.size(), 1);
        QCOMPARE(f.takeAll().size(), 50);
        const QStringList second = segmentFiles(dir.path());
        QCOMPARE(second.size(), 1);
        QVERIFY2(second.first() > first.first(), qPrintable(second.first())); // the next number
        f.append("s", 5, "next ");
        QCOMPARE(f.takeAll(), expectedLines(5, "next "));
        f.append("s", 7, "kept ");
        f.spool.reset();
        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.spool->replayedCount(), 7); // delivered means delivered, also for the new segments
        QCOMPARE(g.takeAll(), expectedLines(7, "kept "));
        QVERIFY2(g.reports.isEmpty(), qPrintable(g.reports.join(QLatin1String("; "))));
    }

    // The same, killed (no destructor trims the file): the records of the earlier batches are still in the
    // file behind the new ones, and only what was not delivered comes back.
    void aSegmentGoingOnInItsFileSurvivesSigkill()
    {
#ifndef Q_OS_LINUX
        QSKIP("fork() and the mapped writer are Linux's");
#else
        QTemporaryDir dir;
        constexpr int rounds = 30;
        constexpr int tail = 77;
        auto line = [](int i) { return "steady " + QByteArray::number(i) + ' ' + QByteArray(i % 150, 's'); };
        const QString killed = runThenSigkill([&](SpoolFixture &f) {
            if (!f.open(dir.path(), 1 << 20, 64 * 1024 * 1024, Mode::DropNew, 1000))
                return 3;
            int n = 0;
            for (int round = 0; round < rounds; ++round) {
                for (int i = 0; i < 200 + round * 7; ++i) {
                    if (f.push("s", line(n++)) != LokiEntryBuffer::PushResult::Accepted)
                        return 4;
                }
                std::vector<LokiQueuedEntry> batch;
                f.spool->takeBatch(batch);
                f.spool->acknowledge();
                if (!f.spool->isEmpty() || segmentFiles(dir.path()).size() != 1)
                    return 5; // every round ends with all delivered, in one file
            }
            for (int i = 0; i < tail; ++i) {
                if (f.push("s", line(n + i)) != LokiEntryBuffer::PushResult::Accepted)
                    return 6;
            }
            return 0;
        });
        QVERIFY2(killed.isEmpty(), qPrintable(killed));
        const int first = rounds * 200 + 7 * rounds * (rounds - 1) / 2; // the first line not delivered
        const QStringList files = segmentFiles(dir.path());
        QCOMPARE(files.size(), 1);
        QFile file(dir.filePath(files.first()));
        QVERIFY(file.open(QIODevice::ReadOnly));
        // The last delivered batch's last record, behind the new ones.
        QVERIFY(file.readAll().contains(line(first - 1)));
        file.close();
        SpoolFixture g;
        QVERIFY(g.open(dir.path(), 1 << 20, 64 * 1024 * 1024, Mode::DropNew, 1000));
        QVERIFY2(g.reports.isEmpty(), qPrintable(g.reports.join(QLatin1String("; "))));
        QCOMPARE(g.spool->replayedCount(), tail);
        const QList<QByteArray> got = g.takeAll();
        QCOMPARE(got.size(), tail);
        for (int i = 0; i < tail; ++i)
            QCOMPARE(got[i], line(first + i));
#endif
    }

    void newSegmentsSortAfterTheAcknowledgedOne()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path()));
            f.append("s", 400);
            f.takeAll(); // the ack file now names a late segment
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
        QCOMPARE(g.spool->replayedCount(), 5); // not taken for delivered because of their file names
        QCOMPARE(g.takeAll(), expectedLines(5, "kept "));
    }

    void timestampsAreStampedIncreasingAndCorrectedByTheClockOffset()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 1 << 20, 64 * 1024 * 1024, Mode::DropNew, 100));
        for (int i = 0; i < 10; ++i)
            QCOMPARE(f.push("s", "x"), LokiEntryBuffer::PushResult::Accepted);
        const qint64 shift = qint64(3600) * 1000000000;
        f.spool->setClockOffset(shift); // entries waiting get the correction when taken
        std::vector<LokiQueuedEntry> batch;
        f.spool->takeBatch(batch);
        QCOMPARE(batch.size(), size_t(10));
        const qint64 now = SpoolFixture::now();
        for (size_t i = 0; i < batch.size(); ++i) {
            QVERIFY(qAbs(batch[i].timestampNs - (now + shift)) < qint64(60) * 1000000000);
            if (i > 0)
                QVERIFY(batch[i].timestampNs > batch[i - 1].timestampNs);
        }
        QCOMPARE(f.push("s", "after"), LokiEntryBuffer::PushResult::Accepted);
        batch.clear();
        f.spool->takeBatch(batch);
        QVERIFY(batch.front().timestampNs > now + shift - qint64(60) * 1000000000);
    }

    // --- damage ---
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
        QCOMPARE(g.spool->replayedCount(), 19);
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

    void damageWhileRunningIsCountedAsCorrupted()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 1 << 20, 64 * 1024 * 1024, Mode::DropNew, 1000));
        f.append("s", 100);
        QFile file(dir.filePath(segmentFiles(dir.path()).first()));
        QVERIFY(file.open(QIODevice::ReadWrite));
        // Halfway through the records (the file may be longer: space reserved ahead of them is zeros).
        const QByteArray written = file.readAll();
        qsizetype end = written.size();
        while (end > 0 && written[end - 1] == 0)
            --end;
        file.seek(end / 2);
        file.putChar('\xff');
        file.putChar('\xff');
        file.close();
        const QList<QByteArray> got = f.takeAll();
        QVERIFY(got.size() > 10 && got.size() < 100);
        QCOMPARE(f.counters.corrupted.load(), 100 - got.size());
        QVERIFY(f.spool->isEmpty());
        QCOMPARE(f.reports.size(), 1);
        f.append("s", 3, "later "); // written to a new segment, never behind the damage
        QCOMPARE(f.takeAll(), expectedLines(3, "later "));
    }

    // The spool directory removed while the client runs (a cleanup job, a user clearing a cache): it was
    // never made again, so every entry after it was refused (Block: timed out) until the process restarted.
    // Now the directory, its lock and its acknowledgement file are made again and writing goes on. What the
    // removed files held is delivered while a handle of the spool's own still reaches them (a file not synced
    // yet, with a sync policy), else counted as lost, with a report; nothing acknowledged comes back at the
    // next start, and the directory is locked again.
    void aRemovedSpoolDirectoryIsMadeAgain_data()
    {
        QTest::addColumn<LokiConfig::SpoolSync>("sync");
        QTest::newRow("sync never") << LokiConfig::SpoolSync::Never;
        QTest::newRow("sync interval") << LokiConfig::SpoolSync::Interval;
    }
    void aRemovedSpoolDirectoryIsMadeAgain()
    {
        QFETCH(LokiConfig::SpoolSync, sync);
        QTemporaryDir base;
        const QString dir = base.filePath(QStringLiteral("spool"));
        SpoolFixture f;
        QVERIFY(f.open(dir, 4096, 64 * 1024 * 1024, Mode::DropNew, 1000, sync));
        f.append("s", 30, "delivered ");
        QCOMPARE(f.takeAll().size(), 30);
        f.append("s", 300, "gone "); // several segments ahead of the worker, which opened none of them
        QVERIFY(segmentFiles(dir).size() > 2);
        QVERIFY(QDir(dir).removeRecursively());

        // Several segments' worth: each refused before (no file could be made).
        f.append("s", 200, "after ");
        QVERIFY(QFileInfo::exists(dir + QStringLiteral("/lock")));
        QVERIFY(!segmentFiles(dir).isEmpty());
        QVERIFY2(f.reports.join(QLatin1String("; ")).contains(QLatin1String("removed")),
                 qPrintable(f.reports.join(QLatin1String("; "))));
        const QList<QByteArray> all = expectedLines(300, "gone ") + expectedLines(200, "after ");
        const QList<QByteArray> got = f.takeAll();
        // In order, each once, and what is not delivered is counted: the removed segments the spool no longer
        // had open (with sync never, those it had closed at rotation).
        qsizetype at = 0;
        for (const QByteArray &line : got) {
            while (at < all.size() && all.at(at) != line)
                ++at;
            QVERIFY2(at < all.size(), line.constData());
            ++at;
        }
        QCOMPARE(f.counters.corrupted.load(), all.size() - got.size());
        QCOMPARE(got.mid(got.size() - 100), expectedLines(200, "after ", 100)); // the new directory's
        if (sync == LokiConfig::SpoolSync::Never)
            QVERIFY2(got.size() < all.size(), qPrintable(QString::number(got.size())));
        else
            QCOMPARE(got.size(), all.size()); // their files still open, not synced yet

        // The directory is the spool's again: locked, and what is acknowledged in it stays delivered.
        SpoolFixture other;
        QVERIFY(!other.open(dir));
        QVERIFY2(other.reports.join(QString()).contains(QLatin1String("in use")),
                 qPrintable(other.reports.join(QString())));
        f.append("s", 20, "kept ");
        std::vector<LokiQueuedEntry> batch;
        f.spool->takeBatch(batch);
        QCOMPARE(batch.size(), size_t(20));
        f.spool->acknowledge();
        f.append("s", 6, "replayed ");
        f.spool.reset();
        SpoolFixture g;
        QVERIFY(g.open(dir));
        QCOMPARE(g.spool->replayedCount(), 6);
        QCOMPARE(g.takeAll(), expectedLines(6, "replayed "));
    }

    // Failure 2.14 of issue 9: a file named like a segment that is none was deleted, although reported
    // "skipped". It is left as it is, not replayed, and outside the bound.
    void filesThatAreNotSegmentsAreLeftUntouched()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path()));
            f.append("s", 5);
            f.takeAll(); // acknowledged past segment 1: an earlier-numbered file must still not go
            f.append("s", 5);
        }
        const QString early = dir.filePath(QStringLiteral("seg-0000000000000000.lqs"));
        const QString late = dir.filePath(QStringLiteral("seg-0000000000000099.lqs"));
        const QByteArray junk(1000, 'x');
        for (const QString &path : {early, late}) {
            QFile file(path);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(junk);
        }
        {
            SpoolFixture g;
            QVERIFY(g.open(dir.path()));
            QCOMPARE(g.reports.size(), 2);
            for (const QString &report : std::as_const(g.reports))
                QVERIFY2(report.contains(QLatin1String("kept as it is")), qPrintable(report));
            QCOMPARE(g.takeAll(), expectedLines(5));
            QCOMPARE(g.spool->diskBytes(), 0); // the foreign files do not count toward maxBytes
            g.append("s", 2, "new ");
            QCOMPARE(g.takeAll(), expectedLines(2, "new ")); // new segments sort after the foreign one
        }
        for (const QString &path : {early, late}) {
            QFile file(path);
            QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(path));
            QCOMPARE(file.readAll(), junk);
        }
    }

    // Failure 2.14: the acknowledgement write's result was ignored. Now it is reported once and the spool
    // goes on.
    void aFailedAcknowledgementWriteIsReportedOnce()
    {
#ifndef Q_OS_UNIX
        QSKIP("RLIMIT_FSIZE makes the write fail; Unix only");
#else
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 1 << 20, 64 * 1024 * 1024, Mode::DropNew, 5));
        f.append("s", 20);
        // Writes beyond byte 10 of any file fail (EFBIG) from now on: the 20-byte acknowledgement cannot go.
        struct rlimit old;
        QCOMPARE(::getrlimit(RLIMIT_FSIZE, &old), 0);
        const auto previous = ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit small = old;
        small.rlim_cur = 10;
        QCOMPARE(::setrlimit(RLIMIT_FSIZE, &small), 0);
        const QList<QByteArray> got = f.takeAll();
        ::setrlimit(RLIMIT_FSIZE, &old);
        ::signal(SIGXFSZ, previous);
        QCOMPARE(got, expectedLines(20)); // it went on taking and acknowledging
        QCOMPARE(f.reports.size(), 1);
        QVERIFY2(f.reports.first().contains(QLatin1String("acknowledgement")), qPrintable(f.reports.first()));
        f.append("s", 2, "ok ");
        QCOMPARE(f.takeAll(), expectedLines(2, "ok ")); // and it works again once writes do
        QCOMPARE(f.reports.size(), 1);
#endif
    }

    // --- the bound, a full disk, age ---
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
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 16 * 1024, 64 * 1024, mode));
        const QByteArray padding(200, 'x');
        int accepted = 0;
        for (int i = 0; i < 1000; ++i) {
            if (f.push("s", QByteArray::number(i) + ' ' + padding) == LokiEntryBuffer::PushResult::Accepted)
                ++accepted;
            QVERIFY(spoolBytes(dir.path()) <= 64 * 1024);
        }
        switch (mode) {
        case Mode::Block:
            QVERIFY(f.counters.timedOut > 0);
            QCOMPARE(f.counters.timedOut + accepted, 1000);
            break;
        case Mode::DropNew:
            QCOMPARE(f.counters.droppedNew + accepted, 1000);
            break;
        case Mode::DropOldest:
            QCOMPARE(accepted, 1000);
            QVERIFY(f.counters.droppedOldest > 0);
            QCOMPARE(f.spool->size(), 1000 - f.counters.droppedOldest);
            break;
        }
        const QList<QByteArray> got = f.takeAll();
        QCOMPARE(qint64(got.size()), accepted - f.counters.droppedOldest);
        if (mode == Mode::DropOldest)
            QVERIFY(got.last().startsWith("999 "));
        else
            QVERIFY(got.first().startsWith("0 "));
    }

    void blockWaitsUntilAnAcknowledgementMakesRoom()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 16 * 1024, 64 * 1024, Mode::Block, 1000));
        const QByteArray padding(200, 'x');
        while (f.push("s", padding) == LokiEntryBuffer::PushResult::Accepted) {
        }
        std::atomic<int> result{-1};
        std::thread sender([&] {
            LokiQueuedEntry e;
            e.stream = f.streams.owned.front().get();
            e.line = padding; // as large as those that filled it
            result = int(f.spool->push(std::move(e), LokiWait::atMost(std::chrono::seconds(60))));
        });
        QTest::qWait(100);
        const int early = result.load();
        std::vector<LokiQueuedEntry> batch;
        f.spool->takeBatch(batch);
        f.spool->acknowledge();
        QTRY_COMPARE_WITH_TIMEOUT(result.load(), int(LokiEntryBuffer::PushResult::Accepted), 30000);
        sender.join();
        QCOMPARE(early, -1); // it waited for the acknowledgement
    }

    void closeWakesBlockedSenders()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 16 * 1024, 64 * 1024, Mode::Block));
        while (f.push("s", QByteArray(200, 'x')) == LokiEntryBuffer::PushResult::Accepted) {
        }
        std::atomic<int> result{-1};
        std::thread sender([&] {
            LokiQueuedEntry e;
            e.stream = f.streams.owned.front().get();
            e.line = QByteArray(200, 'x');
            result =
                int(f.spool->push(std::move(e), LokiWait::until(QDeadlineTimer(QDeadlineTimer::Forever))));
        });
        QTest::qWait(100);
        f.spool->close();
        QTRY_COMPARE_WITH_TIMEOUT(result.load(), int(LokiEntryBuffer::PushResult::Closed), 30000);
        sender.join();
    }

    void aFullDiskAppliesTheBackpressureMode_data()
    {
        theDiskBoundAppliesTheBackpressureMode_data();
    }
    void aFullDiskAppliesTheBackpressureMode()
    {
        QFETCH(Mode, mode);
        SmallDisk disk;
        if (!disk.mounted)
            QSKIP(qPrintable(disk.why));
        SpoolFixture f;
        QVERIFY(f.open(disk.path(), 4 * 1024 * 1024, 64 * 1024 * 1024, mode, 1000));
        QVERIFY(f.spool->segmentLimit() <= 256 * 1024); // a fraction of the small disk
        const QByteArray padding(100, 'x');
        int accepted = 0;
        for (int i = 0; i < 30000; ++i) {
            if (f.push("s", QByteArray::number(i) + ' ' + padding) == LokiEntryBuffer::PushResult::Accepted)
                ++accepted;
        }
        switch (mode) {
        case Mode::Block:
            QVERIFY(f.counters.timedOut > 0);
            QCOMPARE(f.counters.timedOut + accepted, 30000);
            break;
        case Mode::DropNew:
            QVERIFY(f.counters.droppedNoSpace > 0);
            QCOMPARE(f.counters.droppedNoSpace + accepted, 30000);
            QVERIFY2(f.spool->lastWriteError().contains(QLatin1String("No space left on device")),
                     qPrintable(f.spool->lastWriteError()));
            QCOMPARE(f.reports.size(), 1);
            break;
        case Mode::DropOldest:
            QCOMPARE(accepted, 30000);
            QVERIFY(f.counters.droppedOldest > 0);
            QCOMPARE(f.counters.droppedNoSpace.load(), 0);
            break;
        }
        const QList<QByteArray> got = f.takeAll();
        QCOMPARE(qint64(got.size()), accepted - f.counters.droppedOldest);
        if (mode == Mode::DropOldest)
            QVERIFY(got.last().startsWith("29999 "));
        else
            QVERIFY(got.first().startsWith("0 "));
        // All acknowledged: the disk is free again and takes new entries.
        QVERIFY(spoolBytes(disk.path()) <= LokiSpoolFormat::magicSize); // at most the spare, made ahead
        QCOMPARE(f.push("s", "after"), LokiEntryBuffer::PushResult::Accepted);
    }

    void entriesOlderThanMaxAgeExpire()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 1 << 20, 64 * 1024 * 1024, Mode::DropNew, 100,
                       LokiConfig::SpoolSync::Never, std::chrono::hours(1)));
        const qint64 hour = qint64(3600) * 1000000000;
        f.append("s", 4, "old ", SpoolFixture::now() - 2 * hour);
        f.append("s", 3, "new ");
        std::vector<LokiQueuedEntry> batch;
        const LokiEntryBuffer::TakeStats stats = f.spool->takeBatch(batch);
        QCOMPARE(stats.expired, 4);
        QCOMPARE(f.counters.expired.load(), 4);
        QCOMPARE(batch.size(), size_t(3));
        QCOMPARE(f.spool->removedCount(), 7);
        QVERIFY(f.spool->isEmpty());
    }

    void perBatchSyncsTheDirectoryAndFilesWithoutBreakingAnything()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(
            f.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 10, LokiConfig::SpoolSync::PerBatch));
        QCOMPARE(f.spool->syncTimerInterval().count(), 0);
        int wakes = 0;
        f.spool->setWakeCallback([&wakes] { ++wakes; });
        f.spool->armWake(LokiEntryBuffer::WakeWhen::Never);
        f.append("s", 3000); // more than syncEntries (2000): the worker is woken to sync
        QVERIFY(wakes >= 1);
        QVERIFY(f.spool->needsSync());
        f.spool->sync();
        QVERIFY(!f.spool->needsSync());
        QCOMPARE(f.takeAll().size(), 3000);
    }

    // Rotation uses a segment file the worker made beforehand, so a sender creates no file under the lock.
    void theWorkerPreparesTheNextSegment()
    {
        QTemporaryDir dir;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 1));
            f.append("s", 40); // past half a segment
            QCOMPARE(segmentFiles(dir.path()).size(), 1);
            std::vector<LokiQueuedEntry> batch;
            f.spool->takeBatch(batch); // the worker's turn: it makes the spare
            const QStringList files = segmentFiles(dir.path());
            QCOMPARE(files.size(), 2);
            QCOMPARE(QFileInfo(dir.filePath(files.last())).size(), LokiSpoolFormat::magicSize);
            f.append("s", 100, "more ");       // rotates into the spare (and beyond)
            QCOMPARE(f.takeAll().size(), 139); // one was taken above
        }
        // A spare left behind (here: after a rotation into it, another one) holds nothing: the next start
        // deletes it and replays nothing twice.
        SpoolFixture g;
        QVERIFY(g.open(dir.path()));
        QCOMPARE(g.spool->replayedCount(), 0);
        QVERIFY(g.reports.isEmpty());
        g.append("s", 3, "next ");
        g.spool.reset();
        SpoolFixture h;
        QVERIFY(h.open(dir.path()));
        QCOMPARE(h.takeAll(), expectedLines(3, "next "));
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

    // --- issue 10: records written through a mapping of the segment, into space reserved ahead ---

    // A segment of the format before issue 10 (LOKIQTS1) is replayed as it always was; there, zeros after the
    // records are damage (reported), while in a new segment (LOKIQTS2) they are reserved space (silent).
    void oldFormatSegmentsAreReplayed()
    {
        QTemporaryDir dir;
        const qint64 base = SpoolFixture::now();
        // Each version with its own CRC: zlib's CRC-32 in versions 1 and 2, CRC-32C in versions 3 and 4.
        // Version 4's CRC covers the segment's number too (salt): records of one segment do not check in
        // another.
        auto records = [base](int version, quint64 salt = 0) {
            QByteArray data;
            LokiSpoolFormat::appendStream(data, 0, "{s=\"old\"}", "{\"s\":\"old\"}", version, salt);
            for (int i = 0; i < 5; ++i)
                LokiSpoolFormat::appendEntry(data, base + i, 0, 0, "old " + QByteArray::number(i),
                                             i == 2 ? LokiMetadata{{"k", "v"}} : LokiMetadata{}, version,
                                             salt);
            return data;
        };
        QVERIFY(records(1) == records(2));
        QVERIFY(records(1, 6) == records(2)); // versions 1 to 3 have no salt
        QVERIFY(records(3, 6) == records(3));
        QVERIFY(records(2) != records(3)); // the CRCs differ
        QVERIFY(records(3) != records(4));
        QVERIFY(records(4, 6) != records(4, 7));
        auto write = [&dir](const char *name, const QByteArray &data) {
            QFile file(dir.filePath(QLatin1String(name)));
            QVERIFY(file.open(QIODevice::WriteOnly));
            QCOMPARE(file.write(data), data.size());
        };
        const QByteArray v1(LokiSpoolFormat::magicV1, LokiSpoolFormat::magicSize);
        const QByteArray v2(LokiSpoolFormat::magicV2, LokiSpoolFormat::magicSize);
        const QByteArray v3(LokiSpoolFormat::magicV3, LokiSpoolFormat::magicSize);
        const QByteArray v4(LokiSpoolFormat::magic, LokiSpoolFormat::magicSize);
        write("seg-0000000000000001.lqs", v1 + records(1));
        write("seg-0000000000000002.lqs", v1 + records(1) + QByteArray(100, '\0'));
        write("seg-0000000000000003.lqs", v2 + records(2) + QByteArray(5000, '\0'));
        // A version 2 segment with version 4 records, and a version 3 one with version 2 records: every
        // record is damage.
        write("seg-0000000000000004.lqs", v2 + records(4, 4));
        write("seg-0000000000000005.lqs", v3 + records(2));
        // Version 4: a zero length ends the records; what follows (the rest of a reused file) is not read.
        write("seg-0000000000000006.lqs", v4 + records(4, 6) + QByteArray(4, '\0') + records(4, 6));
        write("seg-0000000000000007.lqs", v4 + records(4, 6)); // another segment's records: damage
        // Version 3 (CRC-32C without the salt) with its reserved space.
        write("seg-0000000000000008.lqs", v3 + records(3) + QByteArray(3000, '\0'));
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 100));
            QCOMPARE(f.spool->replayedCount(), 25);
            // The zeros in the version 1 segment (not those in the later ones), and the mixed-up CRCs.
            QCOMPARE(f.reports.size(), 4);
            QVERIFY2(f.reports.at(0).contains(QLatin1String("seg-0000000000000002.lqs")),
                     qPrintable(f.reports.at(0)));
            QVERIFY2(f.reports.at(1).contains(QLatin1String("seg-0000000000000004.lqs: a damaged record")),
                     qPrintable(f.reports.at(1)));
            QVERIFY2(f.reports.at(2).contains(QLatin1String("seg-0000000000000005.lqs: a damaged record")),
                     qPrintable(f.reports.at(2)));
            QVERIFY2(f.reports.at(3).contains(QLatin1String("seg-0000000000000007.lqs: a damaged record")),
                     qPrintable(f.reports.at(3)));
            // The reserved space of the newer ones was given back at once.
            QCOMPARE(QFileInfo(dir.filePath(QStringLiteral("seg-0000000000000003.lqs"))).size(),
                     LokiSpoolFormat::magicSize + records(2).size());
            QCOMPARE(QFileInfo(dir.filePath(QStringLiteral("seg-0000000000000006.lqs"))).size(),
                     LokiSpoolFormat::magicSize + records(4, 6).size());
            QCOMPARE(QFileInfo(dir.filePath(QStringLiteral("seg-0000000000000008.lqs"))).size(),
                     LokiSpoolFormat::magicSize + records(3).size());
            std::vector<LokiQueuedEntry> all;
            while (!f.spool->isEmpty())
                f.spool->takeBatch(all);
            QCOMPARE(all.size(), size_t(25));
            for (size_t i = 0; i < all.size(); ++i) {
                QCOMPARE(all[i].line, "old " + QByteArray::number(int(i % 5)));
                QCOMPARE(all[i].timestampNs, base + qint64(i % 5));
                QCOMPARE(all[i].stream->key, QByteArray("{s=\"old\"}"));
                QCOMPARE(all[i].metadata.size(), i % 5 == 2 ? 1 : 0);
            }
        }
    }

    // Records that do not fit the rest of the segment's mapping (one larger than a whole segment among them)
    // are written with write() behind the mapped ones; all read back in order, in this run and the next.
    void recordsLargerThanTheRestOfASegmentAreKept()
    {
        QTemporaryDir dir;
        QList<QByteArray> lines;
        for (int i = 0; i < 12; ++i) {
            const int size = i % 4 == 3 ? 10000 : 100 + 700 * (i % 4); // 100, 800, 1500, 10000 bytes
            lines << QByteArray::number(i) + ' ' + QByteArray(size, char('a' + i));
        }
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 1000));
            for (const QByteArray &line : std::as_const(lines))
                QCOMPARE(f.push("s", line), LokiEntryBuffer::PushResult::Accepted);
            QVERIFY(f.spool->segmentCount() >= 3); // 4 KiB segments
            std::vector<LokiQueuedEntry> batch;
            f.spool->takeBatch(batch); // read back in this run (batch bytes 1 MiB: all of them)
            QCOMPARE(batch.size(), size_t(lines.size()));
            for (size_t i = 0; i < batch.size(); ++i)
                QCOMPARE(batch[i].line, lines[int(i)]);
            QVERIFY(f.reports.isEmpty());
            // not acknowledged: the next run has them all
        }
        for (const QString &name : segmentFiles(dir.path())) {
            QFile file(dir.filePath(name));
            QVERIFY(file.open(QIODevice::ReadOnly));
            // No reserved space left behind (a record ends in its metadata count: four zero bytes at most).
            QVERIFY2(!file.readAll().endsWith(QByteArray(16, '\0')), qPrintable(name));
        }
        SpoolFixture g;
        QVERIFY(g.open(dir.path(), 4096, 64 * 1024 * 1024, Mode::DropNew, 1000));
        QCOMPARE(g.spool->replayedCount(), lines.size());
        QCOMPARE(g.takeAll(), lines);
        QVERIFY(g.reports.isEmpty());
    }

    // A process killed right after push() returned (records in the mapping's pages only, no write(), no
    // sync): the next open finds every record, and the space reserved after them is no damage.
    // The lines taken are slices of a few shared buffers (one allocation per 64 KiB read back, not one per
    // entry): each stays valid and its own after its segment is acknowledged, deleted and unmapped, and after
    // the spool is gone; changing one changes no other.
    void linesTakenOutliveTheirSegmentsAndTheSpool()
    {
        QTemporaryDir dir;
        QList<QByteArray> lines;
        for (int i = 0; i < 2000; ++i)
            lines << QByteArray::number(i) + ' ' +
                         QByteArray(i % 97 == 0 ? 20000 : 10 + i % 300, char('a' + i % 26));
        std::vector<LokiQueuedEntry> taken;
        {
            SpoolFixture f;
            QVERIFY(f.open(dir.path(), 64 * 1024, 64 * 1024 * 1024, Mode::DropNew, 300));
            for (const QByteArray &line : std::as_const(lines))
                QCOMPARE(f.push("s", line), LokiEntryBuffer::PushResult::Accepted);
            QVERIFY(f.spool->segmentCount() > 4);
            while (!f.spool->isEmpty()) {
                f.spool->takeBatch(taken);
                f.spool->acknowledge();
            }
            QCOMPARE(f.spool->segmentCount(), 0);
        }
        QCOMPARE(taken.size(), size_t(lines.size()));
        for (size_t i = 0; i < taken.size(); ++i)
            QCOMPARE(taken[i].line, lines[int(i)]);
        taken[1].line[0] = 'X';    // detaches it from its buffer
        taken[2].line.append("!"); // may not grow into its neighbour's bytes
        QCOMPARE(taken[1].line, "X" + lines[1].mid(1));
        QCOMPARE(taken[2].line, lines[2] + "!");
        QCOMPARE(taken[3].line, lines[3]);
        QCOMPARE(taken[0].line, lines[0]);
        taken.erase(taken.begin(), taken.begin() + 1000); // the first half's buffers go
        for (size_t i = 0; i < taken.size(); ++i)
            QCOMPARE(taken[i].line, lines[int(i) + 1000]);
    }

    void recordsInTheMappingSurviveSigkill()
    {
#ifndef Q_OS_LINUX
        QSKIP("fork() and the mapped writer are Linux's");
#else
        QTemporaryDir dir;
        constexpr int count = 3000; // a few segments and reserved chunks
        const QString killed = runThenSigkill([&](SpoolFixture &f) {
            if (!f.open(dir.path(), 128 * 1024, 64 * 1024 * 1024, Mode::DropNew, 100))
                return 3;
            const LokiStreamInfo *stream = f.streams.get("{s=\"k\"}", "{\"s\":\"k\"}");
            for (int i = 0; i < count; ++i) {
                LokiQueuedEntry e;
                e.stream = stream;
                e.line = "killed " + QByteArray::number(i) + ' ' + QByteArray(i % 200, 'z');
                if (f.spool->push(std::move(e), LokiWait::until(QDeadlineTimer(0))) !=
                    LokiEntryBuffer::PushResult::Accepted)
                    return 4;
            }
            return 0;
        });
        QVERIFY2(killed.isEmpty(), qPrintable(killed));
        bool reservedTail = false;
        for (const QString &name : segmentFiles(dir.path())) {
            QFile file(dir.filePath(name));
            QVERIFY(file.open(QIODevice::ReadOnly));
            reservedTail = reservedTail || file.readAll().endsWith(QByteArray(64, '\0'));
        }
        QVERIFY(reservedTail); // the killed writer had space reserved ahead, as it should
        SpoolFixture g;
        QVERIFY(g.open(dir.path(), 128 * 1024, 64 * 1024 * 1024, Mode::DropNew, 500));
        QCOMPARE(g.spool->replayedCount(), count);
        QVERIFY2(g.reports.isEmpty(), qPrintable(g.reports.join(QLatin1String("; "))));
        const QList<QByteArray> got = g.takeAll();
        QCOMPARE(got.size(), count);
        for (int i = 0; i < count; ++i)
            QCOMPARE(got[i], "killed " + QByteArray::number(i) + ' ' + QByteArray(i % 200, 'z'));
#endif
    }

    // A delivered segment's file is reused for a later segment (its blocks and pages kept): the records of
    // its earlier use are never read again, in this run or after a SIGKILL, and the spool keeps only a few
    // files alive however many segments it writes.
    void reusedSegmentFilesNeverReplayTheirEarlierRecords()
    {
#ifndef Q_OS_LINUX
        QSKIP("fork() and the mapped writer are Linux's");
#else
        QTemporaryDir dir;
        constexpr int rounds = 40;
        constexpr int perRound = 300;
        constexpr int tail = 100; // records into the segment written last
        auto line = [](int i) {
            return "reused " + QByteArray::number(i) + ' ' + QByteArray(50 + i % 120, 'r');
        };
        const QString killed = runThenSigkill([&](SpoolFixture &f) {
            if (!f.open(dir.path(), 64 * 1024, 64 * 1024 * 1024, Mode::DropNew, 100))
                return 3;
            int n = 0;
            qint64 acked = 0;
            int reusedRounds = 0; // rounds that ended while a reused file was written
            std::vector<LokiQueuedEntry> batch;
            for (int round = 0; round < rounds; ++round) {
                for (int i = 0; i < perRound; ++i) {
                    if (f.push("s", line(n++)) != LokiEntryBuffer::PushResult::Accepted)
                        return 4;
                }
                while (f.spool->size() > 150) { // a backlog stays, in the segment written
                    batch.clear();
                    f.spool->takeBatch(batch);
                    for (const LokiQueuedEntry &e : batch) {
                        if (e.line != line(int(acked++)))
                            return 5; // in this run too, only what was written into each use
                    }
                    f.spool->acknowledge();
                }
                reusedRounds += f.spool->writesIntoReusedFile() ? 1 : 0;
            }
            // Killed in the middle of a segment written into a reused file, the earlier records behind it:
            // on as before until the segment being written is a reused file, then a few more records.
            for (int i = 0; i < 20000 && !f.spool->writesIntoReusedFile(); ++i) {
                f.push("s", line(n++));
                while (f.spool->size() > 150) {
                    batch.clear();
                    f.spool->takeBatch(batch);
                    acked += qint64(batch.size());
                    f.spool->acknowledge();
                }
            }
            const bool reusedFile = f.spool->writesIntoReusedFile();
            for (int i = 0; i < tail; ++i)
                f.push("s", line(n++));
            QFile out(dir.filePath(QStringLiteral("child.txt")));
            if (!out.open(QIODevice::WriteOnly))
                return 6;
            out.write(QByteArray::number(acked) + ' ' + QByteArray::number(reusedRounds) + ' ' +
                      QByteArray::number(f.spool->reusesSegmentFiles() ? 1 : 0) + ' ' +
                      QByteArray::number(n) + ' ' + QByteArray::number(reusedFile ? 1 : 0));
            out.close();
            return 0;
        });
        QVERIFY2(killed.isEmpty(), qPrintable(killed));
        QFile in(dir.filePath(QStringLiteral("child.txt")));
        QVERIFY(in.open(QIODevice::ReadOnly));
        const QList<QByteArray> fields = in.readAll().split(' ');
        QCOMPARE(fields.size(), 5);
        const int acked = fields[0].toInt();

        const int reusedRounds = fields[1].toInt();
        const int total = fields[3].toInt();
        QVERIFY(acked > total / 2);
        if (fields[2] == "1") { // about 30 segments written, most of them into reused files
            QVERIFY2(reusedRounds > rounds / 4, qPrintable(QString::number(reusedRounds)));
            QCOMPARE(fields[4], QByteArray("1")); // the segment written last is in a reused file
        } else {
            qInfo("segment files are not reused on this file system: only the replay is checked");
        }
        SpoolFixture g;
        QVERIFY(g.open(dir.path(), 64 * 1024, 64 * 1024 * 1024, Mode::DropNew, 500));
        QCOMPARE(g.spool->replayedCount(), qint64(total - acked));
        QVERIFY2(g.reports.isEmpty(), qPrintable(g.reports.join(QLatin1String("; "))));
        const QList<QByteArray> got = g.takeAll();
        QCOMPARE(got.size(), total - acked);
        for (int i = 0; i < got.size(); ++i)
            QCOMPARE(got[i], line(acked + i));
#endif
    }

    // A disk with less room than one reserved chunk: the spool fills it to the end (it then reserves what
    // each record needs), then a refused reservation is a refused write: DropNew counts droppedNoSpace with
    // the system's words, no SIGBUS, and what was accepted reads back.
    void aReservationRefusedByAFullDiskIsAFullDisk()
    {
        SmallDisk disk;
        if (!disk.mounted)
            QSKIP(qPrintable(disk.why));
        QVERIFY(QDir().mkpath(disk.path()));
        {
            // Fill it, then give back about 100 KiB: less than the 256 KiB a chunk reserves.
            QFile filler(disk.mountPoint.filePath(QStringLiteral("filler")));
            QVERIFY(filler.open(QIODevice::WriteOnly | QIODevice::Unbuffered));
            const QByteArray block(4096, 'f');
            while (filler.write(block) == block.size()) {
            }
            QVERIFY(filler.resize(filler.size() - 100 * 1024));
        }
        const qint64 free = QStorageInfo(disk.mountPoint.path()).bytesFree();
        QVERIFY2(free > 64 * 1024 && free < 200 * 1024, qPrintable(QString::number(free)));
        SpoolFixture f;
        QVERIFY(f.open(disk.path(), 4 * 1024 * 1024, 64 * 1024 * 1024, Mode::DropNew, 100000));
        const QByteArray padding(100, 'x');
        int accepted = 0;
        for (int i = 0; i < 5000; ++i) {
            if (f.push("s", QByteArray::number(i) + ' ' + padding) == LokiEntryBuffer::PushResult::Accepted)
                ++accepted;
        }
        const qint64 record = LokiSpoolFormat::entrySize(QByteArray("1000 ") + padding, {});
        QVERIFY2(accepted > (free - 16 * 1024) / record, qPrintable(QString::number(accepted))); // to the end
        QVERIFY(accepted < 5000);
        QCOMPARE(f.counters.droppedNoSpace + accepted, 5000);
        QVERIFY2(f.spool->lastWriteError().contains(QLatin1String("No space left on device")),
                 qPrintable(f.spool->lastWriteError()));
        QCOMPARE(f.reports.size(), 1);
        const QList<QByteArray> got = f.takeAll();
        QCOMPARE(got.size(), accepted);
        QVERIFY(got.first().startsWith("0 "));
        QVERIFY(got.last().startsWith(QByteArray::number(accepted - 1) + ' '));
    }

    void sendersAndTheWorkerRunConcurrently()
    {
        QTemporaryDir dir;
        SpoolFixture f;
        QVERIFY(f.open(dir.path(), 8192, 256 * 1024, Mode::DropOldest, 50));
        const LokiStreamInfo *stream = f.streams.get("{s=\"a\"}", "{\"s\":\"a\"}");
        constexpr int perThread = 5000;
        std::atomic<int> finished{0};
        std::vector<std::thread> senders;
        for (int t = 0; t < 3; ++t) {
            senders.emplace_back([&f, &finished, stream, t] {
                for (int i = 0; i < perThread; ++i) {
                    LokiQueuedEntry e;
                    e.stream = stream;
                    e.line = QByteArray::number(t) + ' ' + QByteArray::number(i) + ' ' + QByteArray(50, 'y');
                    f.spool->push(std::move(e), LokiWait::until(QDeadlineTimer(0)));
                }
                ++finished;
            });
        }
        qint64 taken = 0;
        qint64 last = 0;
        bool increasing = true;
        auto takeSome = [&] {
            std::vector<LokiQueuedEntry> batch;
            f.spool->takeBatch(batch);
            for (const auto &e : batch) {
                increasing = increasing && e.timestampNs > last;
                last = e.timestampNs;
            }
            taken += qint64(batch.size());
            f.spool->acknowledge();
        };
        while (finished.load() < 3)
            takeSome(); // the worker reads while senders write
        for (auto &sender : senders)
            sender.join();
        qint64 before = -1;
        while (before != f.spool->removedCount()) {
            before = f.spool->removedCount();
            takeSome();
        }
        QVERIFY(increasing); // one order on disk: the stamping order
        QCOMPARE(taken + f.counters.droppedOldest + f.counters.droppedNew, 3 * perThread);
        QCOMPARE(f.spool->removedCount(), f.spool->acceptedCount());
    }
};

QTEST_MAIN(tst_SpoolBuffer)
#include "tst_spoolbuffer.moc"
