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
 * How long a push may wait for room in Block mode: a deadline fixed by the caller, or a timeout that starts
 * only when the buffer is found full, so the common case reads no clock.
 */
struct LokiWait
{
    static LokiWait until(QDeadlineTimer deadline) { return {deadline, std::chrono::milliseconds(0), false}; }
    static LokiWait atMost(std::chrono::milliseconds timeout) { return {QDeadlineTimer(), timeout, true}; }
    QDeadlineTimer resolve() const
    {
        return relative
                   ? (timeout.count() < 0 ? QDeadlineTimer(QDeadlineTimer::Forever) : QDeadlineTimer(timeout))
                   : deadline;
    }

    QDeadlineTimer deadline;
    std::chrono::milliseconds timeout;
    bool relative;
};

#endif // LOKIQT_ENTRY_P_H
