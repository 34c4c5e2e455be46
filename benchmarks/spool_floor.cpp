// SPDX-License-Identifier: MIT
// lokiqt-spool-floor: what putting a spool's bytes through the page cache costs on a disk, whatever the
// client does around it. It writes the records lokiqt's spool would write for the same lines (the record
// sizes come from the spool's own format), reads them back and deletes the segment files, with no queue, no
// CRC and no network, in four ways (only map2 starts a thread):
//   copy   the records copied into a reused buffer and out again: memory traffic only, no file at all;
//   write  records gathered in a 64 KiB buffer, one pwrite() per 64 KiB into 4 MiB segment files, read back
//          with pread(), each file deleted: the least page-cache work a spool can do (but it would lose the
//          buffer's records at SIGKILL, which lokiqt's spool must not);
//   map    lokiqt's way: space reserved with posix_fallocate() and zeros written in 256 KiB steps, each
//          record copied into a shared mapping of the segment (in the page cache at once: it survives
//          SIGKILL), read back through the mapping, unmapped and deleted.
//   map2   the same with the client's two threads: one writes the records into the mapping (as a sender does)
//          and says so every 2,000 records (a batch: one wake of the worker), the other reads them as they
//          come, through the same mapping, and unmaps and deletes each segment when it has read all of it
//          (as lokiqt's worker does, which maps each segment a second time on top of this).
// benchmarks/spool.sh prints these beside the client's figures: the spool's CPU over memory mode cannot go
// below what "write" costs on that disk, and lokiqt's design below what "map" costs, or below "map2" with a
// worker thread that reads what the caller's thread writes.
//
//   lokiqt-spool-floor --dir DIR [--count 200000] [--line-bytes 100 | --input FILE] [--runs 5]
// prints one line per way: floor way=... entries=... record_bytes=... cpu_s_per_100k=<median>

#include "benchutil.h"
#include "spoolformat_p.h"

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

constexpr qint64 segmentBytes = 4 * 1024 * 1024;
constexpr qint64 chunkBytes = 64 * 1024;
constexpr qint64 reserveStep = 256 * 1024;

struct Records
{
    std::vector<QByteArray> bytes; // one record's worth of bytes each (the line, padded to the record size)
    qint64 total = 0;
};

bool fail(const char *what)
{
    std::fprintf(stderr, "lokiqt-spool-floor: %s: %s\n", what, std::strerror(errno));
    return false;
}

// Walks the records in segments of segmentBytes: @p segment(first, last) gets each segment's range.
template<typename F>
bool forEachSegment(const Records &records, F segment)
{
    size_t first = 0;
    while (first < records.bytes.size()) {
        size_t last = first;
        qint64 size = 0;
        while (last < records.bytes.size() && size + records.bytes[last].size() <= segmentBytes)
            size += records.bytes[last++].size();
        if (last == first)
            ++last; // a record larger than a segment gets one of its own
        if (!segment(first, last))
            return false;
        first = last;
    }
    return true;
}

// A new segment file in @p dir: its descriptor (or -1), and its name in @p path for the unlink().
int openSegment(const QString &dir, int serial, QByteArray *path)
{
    *path = QFile::encodeName(dir + QStringLiteral("/floor-%1.seg").arg(serial));
    return ::open(path->constData(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

bool copyWay(const Records &records, qint64 *sink)
{
    std::vector<char> buffer(static_cast<size_t>(segmentBytes)), out(static_cast<size_t>(chunkBytes));
    return forEachSegment(records, [&](size_t first, size_t last) {
        qint64 at = 0;
        for (size_t i = first; i < last; ++i) {
            const QByteArray &r = records.bytes[i];
            const qint64 n = std::min<qint64>(r.size(), segmentBytes - at);
            std::memcpy(buffer.data() + at, r.constData(), size_t(n));
            at += n;
        }
        for (qint64 off = 0; off < at; off += chunkBytes) {
            const qint64 n = std::min(chunkBytes, at - off);
            std::memcpy(out.data(), buffer.data() + off, size_t(n));
            *sink += out[size_t(n - 1)];
        }
        return true;
    });
}

bool writeWay(const QString &dir, const Records &records, qint64 *sink)
{
    std::vector<char> chunk(static_cast<size_t>(chunkBytes));
    int serial = 0;
    return forEachSegment(records, [&](size_t first, size_t last) {
        QByteArray path;
        const int fd = openSegment(dir, serial++, &path);
        if (fd < 0)
            return fail("open");
        qint64 filled = 0, offset = 0;
        auto flush = [&] {
            if (filled > 0 && ::pwrite(fd, chunk.data(), size_t(filled), off_t(offset)) != filled)
                return fail("pwrite");
            offset += filled;
            filled = 0;
            return true;
        };
        for (size_t i = first; i < last; ++i) {
            const QByteArray &r = records.bytes[i];
            for (qint64 done = 0; done < r.size();) {
                const qint64 n = std::min<qint64>(r.size() - done, chunkBytes - filled);
                std::memcpy(chunk.data() + filled, r.constData() + done, size_t(n));
                filled += n;
                done += n;
                if (filled == chunkBytes && !flush())
                    return false;
            }
        }
        if (!flush())
            return false;
        for (qint64 off = 0; off < offset; off += chunkBytes) {
            const ssize_t n =
                ::pread(fd, chunk.data(), size_t(std::min(chunkBytes, offset - off)), off_t(off));
            if (n <= 0)
                return fail("pread");
            *sink += chunk[size_t(n - 1)];
        }
        ::close(fd);
        return ::unlink(path.constData()) == 0 || fail("unlink");
    });
}

bool mapWay(const QString &dir, const Records &records, qint64 *sink)
{
    static char zeros[reserveStep];
    std::vector<char> out(static_cast<size_t>(chunkBytes));
    int serial = 0;
    return forEachSegment(records, [&](size_t first, size_t last) {
        QByteArray path;
        const int fd = openSegment(dir, serial++, &path);
        if (fd < 0)
            return fail("open");
        qint64 size = 0;
        for (size_t i = first; i < last; ++i)
            size += records.bytes[i].size();
        const qint64 mapSize = std::max(size, segmentBytes);
        char *map =
            static_cast<char *>(::mmap(nullptr, size_t(mapSize), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
        if (map == MAP_FAILED)
            return fail("mmap");
        qint64 reserved = 0, at = 0;
        for (size_t i = first; i < last; ++i) {
            const QByteArray &r = records.bytes[i];
            while (at + r.size() > reserved) {
                const qint64 step = std::min(reserveStep, mapSize - reserved);
                if (::posix_fallocate(fd, off_t(reserved), off_t(step)) != 0)
                    return fail("posix_fallocate");
                if (::pwrite(fd, zeros, size_t(step), off_t(reserved)) != step)
                    return fail("pwrite");
                reserved += step;
            }
            std::memcpy(map + at, r.constData(), size_t(r.size()));
            at += r.size();
        }
        for (qint64 off = 0; off < at; off += chunkBytes) {
            const qint64 n = std::min(chunkBytes, at - off);
            std::memcpy(out.data(), map + off, size_t(n));
            *sink += out[size_t(n - 1)];
        }
        ::munmap(map, size_t(mapSize));
        ::close(fd);
        return ::unlink(path.constData()) == 0 || fail("unlink");
    });
}

// map's work split as lokiqt's client splits it: the caller's thread writes, the worker's thread reads back
// and deletes. The writer publishes how far it wrote every batchRecords records (and at a segment's end); the
// reader waits for that on a condition variable, never spinning.
bool mapTwoThreadsWay(const QString &dir, const Records &records, qint64 *sink)
{
    constexpr size_t batchRecords = 2000;
    static char zeros[reserveStep];
    struct Segment
    {
        int fd = -1;
        QByteArray path;
        char *map = nullptr;
        qint64 mapSize = 0;
        qint64 written = 0; // published under the mutex
        bool complete = false;
    };
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<Segment> segments; // the reader's queue, oldest first
    bool writerDone = false;
    bool failed = false;

    std::thread reader([&] {
        std::vector<char> out(static_cast<size_t>(chunkBytes));
        qint64 readSum = 0;
        for (;;) {
            // The oldest segment, read as it is written, then unmapped and deleted.
            Segment segment;
            qint64 from = 0;
            for (;;) {
                {
                    std::unique_lock<std::mutex> lock(mutex);
                    changed.wait(lock, [&] {
                        return failed || (segments.empty() && writerDone) ||
                               (!segments.empty() &&
                                (segments.front().written > from || segments.front().complete));
                    });
                    if (failed || segments.empty()) {
                        *sink += readSum;
                        return;
                    }
                    segment = segments.front();
                    if (segment.complete)
                        segments.pop_front(); // what is left of it is read below, then it goes
                }
                for (qint64 off = from; off < segment.written; off += chunkBytes) {
                    const qint64 n = std::min(chunkBytes, segment.written - off);
                    std::memcpy(out.data(), segment.map + off, size_t(n));
                    readSum += out[size_t(n - 1)];
                }
                from = segment.written;
                if (segment.complete)
                    break;
            }
            ::munmap(segment.map, size_t(segment.mapSize));
            ::close(segment.fd);
            ::unlink(segment.path.constData());
        }
    });

    int serial = 0;
    const bool ok = forEachSegment(records, [&](size_t first, size_t last) {
        Segment segment;
        segment.fd = openSegment(dir, serial++, &segment.path);
        if (segment.fd < 0)
            return fail("open");
        qint64 size = 0;
        for (size_t i = first; i < last; ++i)
            size += records.bytes[i].size();
        segment.mapSize = std::max(size, segmentBytes);
        segment.map = static_cast<char *>(
            ::mmap(nullptr, size_t(segment.mapSize), PROT_READ | PROT_WRITE, MAP_SHARED, segment.fd, 0));
        if (segment.map == MAP_FAILED)
            return fail("mmap");
        char *const map = segment.map;
        {
            std::lock_guard<std::mutex> lock(mutex);
            segments.push_back(segment);
        }
        Segment *const shared = &segments.back(); // a deque keeps its elements in place at push_back
        qint64 reserved = 0, at = 0;
        auto publish = [&](bool complete) {
            {
                std::lock_guard<std::mutex> lock(mutex);
                shared->written = at;
                shared->complete = complete;
            }
            changed.notify_one();
        };
        for (size_t i = first; i < last; ++i) {
            const QByteArray &r = records.bytes[i];
            while (at + r.size() > reserved) {
                const qint64 step = std::min(reserveStep, segment.mapSize - reserved);
                if (::posix_fallocate(segment.fd, off_t(reserved), off_t(step)) != 0)
                    return fail("posix_fallocate");
                if (::pwrite(segment.fd, zeros, size_t(step), off_t(reserved)) != step)
                    return fail("pwrite");
                reserved += step;
            }
            std::memcpy(map + at, r.constData(), size_t(r.size()));
            at += r.size();
            if ((i - first + 1) % batchRecords == 0)
                publish(false);
        }
        publish(true);
        return true;
    });
    {
        std::lock_guard<std::mutex> lock(mutex);
        writerDone = true;
        failed = !ok;
    }
    changed.notify_one();
    reader.join();
    return ok;
}

} // namespace
#endif

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("What a spool's page-cache traffic costs on a disk."));
    parser.addHelpOption();
    const QCommandLineOption dirOption(
        QStringLiteral("dir"), QStringLiteral("Folder on the disk to measure."), QStringLiteral("DIR"));
    const QCommandLineOption countOption(QStringLiteral("count"), QStringLiteral("Entries (200000)."),
                                         QStringLiteral("N"), QStringLiteral("200000"));
    const QCommandLineOption lineOption(QStringLiteral("line-bytes"),
                                        QStringLiteral("Synthetic line length (100), as lokiqt-bench's."),
                                        QStringLiteral("N"), QStringLiteral("100"));
    const QCommandLineOption inputOption(QStringLiteral("input"), QStringLiteral("Corpus, one line each."),
                                         QStringLiteral("FILE"));
    const QCommandLineOption runsOption(QStringLiteral("runs"),
                                        QStringLiteral("Runs per way; the median is printed (5)."),
                                        QStringLiteral("N"), QStringLiteral("5"));
    parser.addOptions({dirOption, countOption, lineOption, inputOption, runsOption});
    parser.process(app);
    qint64 count = 0, lineBytes = 0, runs = 0;
    if (!parser.isSet(dirOption) || !Bench::parsePositive(parser.value(countOption), &count) ||
        !Bench::parsePositive(parser.value(lineOption), &lineBytes) ||
        !Bench::parsePositive(parser.value(runsOption), &runs)) {
        std::fprintf(stderr,
                     "usage: lokiqt-spool-floor --dir DIR [--count N] [--line-bytes N | --input FILE] "
                     "[--runs N]\n");
        return 2;
    }
#ifndef Q_OS_UNIX
    std::fprintf(stderr, "lokiqt-spool-floor: POSIX only\n");
    return 2;
#else
    QByteArrayList lines;
    if (parser.isSet(inputOption)) {
        QString why;
        if (!Bench::readCorpus(parser.value(inputOption), &lines, &why)) {
            std::fprintf(stderr, "lokiqt-spool-floor: %s\n", qPrintable(why));
            return 2;
        }
    }
    const QString dir = parser.value(dirOption);
    if (!QDir().mkpath(dir)) {
        std::fprintf(stderr, "lokiqt-spool-floor: cannot make %s\n", qPrintable(dir));
        return 2;
    }
    // Each record as many bytes as the spool's format gives that line (no metadata), filled with the line.
    Records records;
    records.bytes.reserve(size_t(count));
    for (qint64 i = 0; i < count; ++i) {
        const QByteArray line =
            lines.isEmpty() ? Bench::syntheticLine(i, int(lineBytes)) : lines.at(int(i % lines.size()));
        QByteArray record = line;
        record.resize(qsizetype(LokiSpoolFormat::entrySize(line, {})), ' ');
        records.total += record.size();
        records.bytes.push_back(std::move(record));
    }
    qint64 sink = 0;
    struct Way
    {
        const char *name;
        bool (*run)(const QString &, const Records &, qint64 *);
    };
    const Way ways[] = {
        {"copy", [](const QString &, const Records &r, qint64 *s) { return copyWay(r, s); }},
        {"write", writeWay},
        {"map", mapWay},
        {"map2", mapTwoThreadsWay},
    };
    for (const Way &way : ways) {
        std::vector<double> cpu;
        for (qint64 run = 0; run < runs; ++run) {
            const double start = Bench::cpuSeconds();
            if (!way.run(dir, records, &sink))
                return 1;
            cpu.push_back(Bench::cpuSeconds() - start);
        }
        std::sort(cpu.begin(), cpu.end());
        std::printf("floor way=%s entries=%lld record_bytes=%.1f cpu_s_per_100k=%.4f\n", way.name,
                    static_cast<long long>(count), double(records.total) / double(count),
                    cpu[cpu.size() / 2] * 100000.0 / double(count));
    }
    return sink == 42 ? 3 : 0; // the sink keeps the reads from being optimized away
#endif
}
