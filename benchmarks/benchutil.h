// SPDX-License-Identifier: MIT
#ifndef LOKIQT_BENCHUTIL_H
#define LOKIQT_BENCHUTIL_H

// Small helpers shared by the benchmark programs: clocks, rusage, synthetic lines and the corpus rule of
// shared/peer-bench (so that line bytes per entry match the other clients measured in the same run).

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayList>
#include <QtCore/QFile>
#include <QtCore/QString>

#include <sys/resource.h>

#include <array>
#include <chrono>
#include <cstdio>

namespace Bench {

inline qint64 epochNs()
{
    using namespace std::chrono;
    return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

inline double monotonicSeconds()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

/** User + system CPU seconds of the whole process (all threads). */
inline double cpuSeconds()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/** Peak resident set size (ru_maxrss, KiB on Linux) in MiB. */
inline double peakRssMiB()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;
}

/** Current resident set size from /proc/self/status (VmRSS) in MiB; -1 when unknown. */
inline double currentRssMiB()
{
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    const QByteArrayList lines = status.readAll().split('\n');
    for (const QByteArray &line : lines) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').value(0).toDouble() / 1024.0;
    }
    return -1;
}

inline bool parsePositive(const QString &text, qint64 *out)
{
    bool ok = false;
    const qint64 value = text.toLongLong(&ok);
    if (!ok || value < 1)
        return false;
    *out = value;
    return true;
}

/**
 * Synthetic line @p index of exactly @p bytes bytes: a sequence number and words picked by a cheap hash of
 * the index, so consecutive lines differ (as real logs do) without a costly generator.
 */
inline QByteArray syntheticLine(qint64 index, int bytes)
{
    static const std::array<const char *, 16> words = {
        "request", "user",  "session", "cache",   "miss",  "hit",     "upstream", "latency",
        "ok",      "retry", "queue",   "handler", "order", "payment", "render",   "frame"};
    QByteArray line;
    line.reserve(bytes + 16);
    char prefix[40];
    const int n =
        std::snprintf(prefix, sizeof prefix, "bench msg seq=%010lld ", static_cast<long long>(index));
    line.append(prefix, n);
    quint64 h = quint64(index) * 0x9E3779B97F4A7C15ULL;
    while (line.size() < bytes) {
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ULL;
        line.append(words[size_t(h >> 60)]);
        line.append(' ');
    }
    line.truncate(bytes);
    return line;
}

/**
 * The lines of @p path by peer-bench's rule: split on '\n', one trailing '\r' stripped, empty lines skipped.
 * Returns false with @p why set when the file cannot be read, is not UTF-8 or holds no line.
 */
inline bool readCorpus(const QString &path, QByteArrayList *lines, QString *why)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *why = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return false;
    }
    const QByteArray data = file.readAll();
    if (QString::fromUtf8(data).toUtf8() != data) { // a round trip turns invalid UTF-8 into U+FFFD
        *why = QStringLiteral("%1 is not UTF-8 text").arg(path);
        return false;
    }
    lines->clear();
    for (QByteArray line : data.split('\n')) {
        if (line.endsWith('\r'))
            line.chop(1);
        if (!line.isEmpty())
            lines->append(line);
    }
    if (lines->isEmpty()) {
        *why = QStringLiteral("%1 holds no log line").arg(path);
        return false;
    }
    return true;
}

} // namespace Bench

#endif // LOKIQT_BENCHUTIL_H
