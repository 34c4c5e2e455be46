// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKICONFIG_H
#define LOKIQT_LOKICONFIG_H

#include <lokiqt/lokiqt_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QObject>
#include <QtCore/QPair>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>

#include <chrono>

/**
 * The whole configuration of a LokiClient: a plain value with a sane default for every field.
 *
 * @code
 * LokiConfig config;                          // every field has a default
 * config.url = QUrl("http://loki:3100");      // base URL or the full push URL
 * config.labels = {{"service", "kiosk"}};
 * config.batch.maxWait = std::chrono::milliseconds(500);
 * QString why;
 * if (!config.isValid(&why))
 *     qFatal("%s", qPrintable(why));
 * LokiClient client(config);
 * @endcode
 *
 * A client copies its configuration when it is constructed; nothing changes while it runs.
 *
 * Thread safety: a value type; copies may be used from any thread.
 */
struct LOKIQT_EXPORT LokiConfig
{
    Q_GADGET
public:
    /** What `LokiClient::send()` does when the queue is full. */
    enum class Backpressure {
        Block,     ///< wait for room, at most until the deadline given to send()
        DropNew,   ///< refuse the new entry (the queue keeps the oldest)
        DropOldest ///< discard the oldest queued entry to make room (the queue keeps the newest)
    };
    Q_ENUM(Backpressure)

    /** Parses "block", "drop-new" or "drop-oldest". Returns false (and leaves @p out alone) otherwise. */
    static bool parseBackpressure(const QString &text, Backpressure *out);
    /** The inverse of parseBackpressure(). */
    static QString backpressureName(Backpressure mode);

    /** Loki's base URL (`http://loki:3100`) or the full push URL (`.../loki/api/v1/push`). http or https. */
    QUrl url = QUrl(QStringLiteral("http://localhost:3100"));

    /** Labels every entry carries (for example service, env, host). Keep them few and bounded. */
    QMap<QString, QString> labels;

    /** The tenant sent as `X-Scope-OrgID`; empty sends no header. */
    QString tenant;

    /** Extra HTTP headers sent with every push, for example an `Authorization` header. */
    QList<QPair<QByteArray, QByteArray>> headers;

    struct Batching
    {
        int maxEntries = 500;                    ///< flush when a batch holds this many entries
        qint64 maxBytes = 1024 * 1024;           ///< flush when a batch's lines add up to this many bytes
        std::chrono::milliseconds maxWait{1000}; ///< flush this long after a batch received its first entry
    } batch;

    struct Retry
    {
        std::chrono::milliseconds initialBackoff{100}; ///< delay before the first retry
        std::chrono::milliseconds maxBackoff{3000};    ///< no delay is longer than this
        double multiplier = 2.0;                       ///< growth of the delay from one retry to the next
        double jitter = 0.2; ///< each delay is spread uniformly by ± this fraction (0 to 1)
        int maxAttempts = 5; ///< attempts per batch, the first one included; then the batch fails
    } retry;

    /** Entries that may wait in the queue; the worker holds up to two batches more. */
    int queueCapacity = 10000;

    /** What send() does when the queue is full. */
    Backpressure backpressure = Backpressure::Block;

    /** Time one push may take before it counts as a network failure (and is retried). */
    std::chrono::milliseconds requestTimeout{10000};

    /** The deadline the destructor gives close() when the client was not closed before. */
    std::chrono::milliseconds destructorCloseTimeout{2000};

    /**
     * Field names that may become labels (after sanitizing: `http.method` becomes `http_method`).
     * Empty: no field ever becomes a label, the cardinality-safe default.
     */
    QStringList labelAllowList;
    /** Field names that never become labels, even when allow-listed. */
    QStringList labelDenyList;

    /**
     * Whether every value is acceptable. When not, and @p why is given, it receives a sentence that names
     * the offending setting and says what is wrong.
     */
    bool isValid(QString *why = nullptr) const;

    /** The URL pushes go to: @ref url when it already ends in `/loki/api/v1/push`, else url + that path. */
    QUrl pushUrl() const;
};

#endif // LOKIQT_LOKICONFIG_H
