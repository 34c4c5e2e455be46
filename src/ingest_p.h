// SPDX-License-Identifier: MIT
#ifndef LOKIQT_INGEST_P_H
#define LOKIQT_INGEST_P_H

// The ingest room: everything between what the application hands over (a LokiEntry, a line, a Qt message)
// and an entry ready for the buffer. Validation (label names, lengths, count), rendering (render_p.h), label
// composition (allow/deny lists, sanitizing, the fallback label), the choice of structured metadata, the
// cardinality guard (Limits::maxStreams) and line truncation all happen here, once, for send(), sendUtf8()
// and LokiMessageHandler alike. Its functions return a value (an entry, or why it was refused) and change
// nothing but the stream table: counting and reporting are the facade's.

#include "entry_p.h" // LokiStreamInfo, LokiQueuedEntry, LokiMetadata
#include "render_p.h"

#include <lokiqt/lokiconfig.h>
#include <lokiqt/lokientry.h>
#include <lokiqt/lokierror.h>
#include <lokiqt/lokimessagehandler.h>

#include <QtCore/QHash>
#include <QtCore/QMutex>
#include <QtCore/QStringList>

#include <array>
#include <limits>

/** The interned label sets of one client: each distinct set once, alive as long as the table. Thread-safe. */
class LokiStreamTable
{
public:
    LokiStreamTable() = default;
    ~LokiStreamTable();
    Q_DISABLE_COPY_MOVE(LokiStreamTable)

    /** Any thread. The stream for @p labels (already complete: static labels merged, fallback applied);
     *  nullptr when it would be new and @p maxStreams streams exist already. */
    const LokiStreamInfo *intern(const LokiRender::LabelMap &labels,
                                 qsizetype maxStreams = std::numeric_limits<qsizetype>::max());
    /** Any thread. The stream for a key and JSON form read back from the spool (never refused). */
    const LokiStreamInfo *internRaw(const QByteArray &key, const QByteArray &json);
    /** Any thread. How many streams exist. */
    qsizetype size() const;

private:
    mutable QMutex m_mutex;
    QHash<QByteArray, LokiStreamInfo *> m_streams; ///< owned
};

/** What ingest makes of one input: an entry ready for the buffer, or why it was refused. */
struct LokiIngested
{
    LokiQueuedEntry entry;  ///< ready to queue, unless rejected
    QString rejection;      ///< why the input is refused; nothing is to be queued then
    bool truncated = false; ///< the line was cut to Limits::maxLineBytes
    bool demoted =
        false; ///< over Limits::maxStreams: labels beyond the static ones went to metadata/the line

    bool isRejected() const { return !rejection.isEmpty(); }
};

/**
 * The one path from input to entry for one client, built from its configuration. Thread-safe: every
 * function may be called from any thread at once (the stream table locks itself; the rest is const).
 */
class LokiIngest
{
public:
    explicit LokiIngest(const LokiConfig &config);
    Q_DISABLE_COPY_MOVE(LokiIngest)

    /** Empty when the configuration is valid; otherwise why not, and every input is refused. */
    const QString &configError() const { return m_configError; }

    /** A LokiEntry: labels validated, fields rendered, labels composed, under the cardinality guard. */
    LokiIngested entry(const LokiEntry &entry);
    /** A line in the default stream, rendered in the configured line format. */
    LokiIngested line(const QString &line) const;
    /** A line already in UTF-8, in the default stream as it is (invalid UTF-8 becomes U+FFFD). */
    LokiIngested utf8(const QByteArray &line) const;

    /**
     * What the message handler needs for every message, prepared once when it is installed: the options as
     * they are used (a level label Loki would refuse is sanitized or left out), and the validated stream of
     * each level.
     */
    struct HandlerContext
    {
        LokiMessageHandler::Options
            options;                  ///< levelLabel as used: sanitized, or empty when it cannot be one
        bool categoryIsLabel = false; ///< the category is allow-listed and fits the label limits
        std::array<LokiRender::LabelMap, 5> levelLabels;      ///< by severity(), without the fallback label
        std::array<const LokiStreamInfo *, 5> levelStreams{}; ///< by severity(); used when no category label
    };
    /**
     * Validates @p options against Loki's rules and the limits, as send() validates an entry's labels.
     * Options that would make Loki refuse the handler's pushes are adjusted (a level label name sanitized,
     * `log-level` → `log_level`; a level or category label over the limits left out, its value going into
     * the line); @p problems gets one sentence per adjustment.
     */
    HandlerContext handlerContext(const LokiMessageHandler::Options &options, QStringList *problems);
    /** One Qt message through a context from handlerContext(). Never refused. */
    LokiIngested message(const HandlerContext &context, QtMsgType type, const QMessageLogContext &where,
                         const QString &message);
    /**
     * Any thread, cheap: whether @p category becomes a label of this message (allow-listed and within the
     * label limits). Such a message needs message(): its stream depends on the category and the stream cap.
     */
    bool categoryIsLabel(const HandlerContext &context, const char *category) const;
    /**
     * Any thread, cheap: what the handler hands to LokiEntryBuffer::pushMessage() for a message whose
     * category is not a label (see categoryIsLabel()). @p text must outlive the use of the result.
     */
    static LokiMessageParts messageParts(const HandlerContext &context, QtMsgType type,
                                         const QMessageLogContext &where, const QString *text);
    /**
     * Any thread (the worker, for the memory buffer). The line, stream and metadata of a message kept raw:
     * the same as message() gives for it. Returns whether the line was cut to Limits::maxLineBytes.
     */
    bool renderMessage(const LokiRawMessage &raw, LokiQueuedEntry &entry) const;

    /** The stream of entries without labels of their own: the static labels, or the fallback label. */
    const LokiStreamInfo *defaultStream() const { return m_defaultStream; }
    LokiStreamTable &streams() { return m_streams; }

    /** What the facade reports the first time an entry is truncated / demoted. */
    LokiError truncatedReport() const;
    LokiError demotedReport() const;

    /** Severity order of Qt's message types (QtMsgType's numeric order is not: QtInfoMsg came last), 0..4. */
    static int severity(QtMsgType type);

private:
    /** @p labels, or the fallback label `service_name` when it is empty (Loki refuses a stream without). */
    LokiRender::LabelMap withFallback(LokiRender::LabelMap labels) const;
    /** The stream for complete @p labels under the cardinality guard (see LokiConfig::Limits::maxStreams). */
    const LokiStreamInfo *streamFor(const LokiRender::LabelMap &labels, LokiMetadata *metadata, QString *line,
                                    bool *demoted);
    /** Why a complete label set breaks a limit; empty when it does not. */
    QString labelSetProblem(const LokiRender::LabelMap &labels) const;
    /** @p utf8 as the entry of @p ingested, cut to Limits::maxLineBytes. */
    void setLine(LokiIngested &ingested, QByteArray utf8) const;
    /** @p utf8 cut to Limits::maxLineBytes; returns whether it was cut. */
    bool cutLine(QByteArray &utf8) const;
    /** The line of a raw message, before UTF-8 and truncation. */
    QString messageLine(const LokiRawMessage &raw) const;
    LokiIngested rejected(const QString &why) const;

    const LokiConfig m_config;
    const QString m_configError;
    const QString m_fallbackName; ///< the value of the fallback label service_name
    LokiStreamTable m_streams;
    const LokiStreamInfo *m_defaultStream = nullptr;
};

#endif // LOKIQT_INGEST_P_H
