// SPDX-License-Identifier: MIT
#ifndef LOKIQT_ENTRY_P_H
#define LOKIQT_ENTRY_P_H

// The values an entry is made of on its way through the client: what ingest makes, the entry buffer keeps
// and the worker pushes. No behaviour here, so every room can include it.

#include <QtCore/QByteArray>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QList>
#include <QtCore/QPair>
#include <QtCore/QString>
#include <QtCore/qlogging.h>

#include <chrono>
#include <functional>

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
 * One Qt message as the message handler hands it over (LokiEntryBuffer::pushMessage): what rendering it into
 * a line needs, nothing rendered yet. The pointers are valid for the call only; the buffer copies what it
 * keeps.
 */
struct LokiMessageParts
{
    enum Flag : quint8 {
        LevelField = 1,    ///< Plain line format: `level=` goes into the line (no level label)
        ContextFields = 2, ///< category (unless "default"), file, line, function go into the line
        CategoryField = 4, ///< the category goes into the line even without ContextFields (a demoted label)
        // Set by LokiRawMessage::assign(): which of the strings were given (an empty one is a field too).
        HasCategory = 8,
        HasFile = 16,
        HasFunction = 32,
    };
    const QString *text = nullptr; ///< the message (already through qFormatLogMessage when asked for)
    const char *category = nullptr;
    const char *file = nullptr;
    const char *function = nullptr;
    int line = 0;
    QtMsgType type = QtDebugMsg;
    quint8 flags = 0;
    const LokiStreamInfo *stream = nullptr; ///< the level's stream
};

/**
 * A message kept as the caller handed it over, until the worker renders it (the memory buffer's per-thread
 * lanes keep these; their strings keep their capacity from message to message, so the steady state allocates
 * nothing). Rendering it (see LokiMessageRenderer) gives the same line as rendering it at once.
 */
struct LokiRawMessage
{
    qint64 timestampNs = 0; ///< the wall clock when it was handed over, without the clock offset
    const LokiStreamInfo *stream = nullptr;
    QString text;
    QByteArray category; ///< only what goes into the line: empty when no field is wanted
    QByteArray file;
    QByteArray function;
    int line = 0;
    QtMsgType type = QtDebugMsg;
    quint8 flags = 0; ///< LokiMessageParts::Flag

    /** Copies @p parts into this message, reusing the capacity its strings have (memorybuffer.cpp). */
    void assign(const LokiMessageParts &parts);
};

/**
 * Renders a raw message into @p entry's line, stream and metadata (never its timestamp); counts and reports a
 * truncation. Set once by the client (LokiEntryBuffer::setMessageRenderer); thread-safe.
 */
using LokiMessageRenderer = std::function<void(const LokiRawMessage &message, LokiQueuedEntry &entry)>;

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
