// SPDX-License-Identifier: MIT
#ifndef LOKIQT_ENTRY_P_H
#define LOKIQT_ENTRY_P_H

// The values an entry is made of on its way through the client: what ingest makes, the entry buffer keeps
// and the worker pushes. No behaviour here, so every room can include it.

#include <QtCore/QByteArray>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QList>
#include <QtCore/QPair>

#include <chrono>

/** One stream's label set, interned for the client's lifetime (entries point at it). */
struct LokiStreamInfo
{
    QByteArray key;        ///< Prometheus text form: {a="x", b="y"}
    QByteArray jsonLabels; ///< JSON object form: {"a":"x","b":"y"}
};

/** Structured metadata of one entry: name/value pairs, UTF-8. */
using LokiMetadata = QList<QPair<QByteArray, QByteArray>>;

/** An entry as the worker sees it: rendered, with its stream resolved. */
struct LokiQueuedEntry
{
    qint64 timestampNs = 0; ///< 0 until the buffer stamps it with "now"
    const LokiStreamInfo *stream = nullptr;
    QByteArray line;       ///< UTF-8
    LokiMetadata metadata; ///< empty for most entries (costs no allocation then)
};

/**
 * How long a push may wait for room in Block mode: a deadline fixed by the caller, a timeout that starts
 * only when the buffer is found full, or the configuration's LokiConfig::blockTimeout (send() without a
 * deadline), so the common case reads no clock.
 */
struct LokiWait
{
    static LokiWait until(QDeadlineTimer deadline)
    {
        if (isDefaultDeadline(deadline))
            return {QDeadlineTimer(), std::chrono::milliseconds(0), Kind::BlockTimeout};
        return {deadline, std::chrono::milliseconds(0), Kind::Until};
    }
    static LokiWait atMost(std::chrono::milliseconds timeout)
    {
        return {QDeadlineTimer(), timeout, Kind::AtMost};
    }

    /**
     * What LokiClient::send() without a deadline passes on: a value no caller makes (an absolute deadline
     * 1 s + 1 ns after the monotonic clock's origin), built without reading the clock, that until() turns
     * into "LokiConfig::blockTimeout from the moment the buffer is found full".
     */
    static QDeadlineTimer defaultDeadline()
    {
        QDeadlineTimer deadline;
        deadline.setPreciseDeadline(1, 1);
        return deadline;
    }
    static bool isDefaultDeadline(const QDeadlineTimer &deadline)
    {
        return !deadline.isForever() && deadline.deadlineNSecs() == 1000000001;
    }

    /** The deadline, resolved when the buffer is found full; @p blockTimeout: LokiConfig::blockTimeout. */
    QDeadlineTimer resolve(std::chrono::milliseconds blockTimeout) const
    {
        switch (kind) {
        case Kind::Until:
            return deadline;
        case Kind::AtMost:
            return relativeDeadline(timeout);
        case Kind::BlockTimeout:
            break;
        }
        return relativeDeadline(blockTimeout);
    }

    enum class Kind { Until, AtMost, BlockTimeout };
    QDeadlineTimer deadline;
    std::chrono::milliseconds timeout;
    Kind kind;

private:
    static QDeadlineTimer relativeDeadline(std::chrono::milliseconds timeout)
    {
        return timeout.count() < 0 ? QDeadlineTimer(QDeadlineTimer::Forever) : QDeadlineTimer(timeout);
    }
};

#endif // LOKIQT_ENTRY_P_H
