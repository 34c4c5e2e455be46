// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKICLIENT_H
#define LOKIQT_LOKICLIENT_H

#include <lokiqt/lokiconfig.h>
#include <lokiqt/lokientry.h>
#include <lokiqt/lokierror.h>
#include <lokiqt/lokiqt_export.h>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QObject>

#include <memory>

class LokiClientPrivate;

/**
 * Counters of entries, as LokiClient::counters() returns them (LokiClient::Counters is this type); each is
 * monotonic except queued.
 *
 * A Q_GADGET: each field is also a read-only property of the same name (and dropped() is one too), so
 * QML reads them from the client's `counters` property, e.g. `client.counters.sent` (the QML module
 * LokiQt registers the type; see README.md "The QML example").
 */
struct LOKIQT_EXPORT LokiClientCounters
{
    Q_GADGET
    Q_PROPERTY(qint64 accepted MEMBER accepted CONSTANT)
    Q_PROPERTY(qint64 sent MEMBER sent CONSTANT)
    Q_PROPERTY(qint64 droppedNew MEMBER droppedNew CONSTANT)
    Q_PROPERTY(qint64 droppedOldest MEMBER droppedOldest CONSTANT)
    Q_PROPERTY(qint64 droppedClosed MEMBER droppedClosed CONSTANT)
    Q_PROPERTY(qint64 timedOut MEMBER timedOut CONSTANT)
    Q_PROPERTY(qint64 rejected MEMBER rejected CONSTANT)
    Q_PROPERTY(qint64 failed MEMBER failed CONSTANT)
    Q_PROPERTY(qint64 retried MEMBER retried CONSTANT)
    Q_PROPERTY(qint64 queued MEMBER queued CONSTANT)
    Q_PROPERTY(qint64 truncated MEMBER truncated CONSTANT)
    Q_PROPERTY(qint64 demoted MEMBER demoted CONSTANT)
    Q_PROPERTY(qint64 splits MEMBER splits CONSTANT)
    Q_PROPERTY(qint64 expired MEMBER expired CONSTANT)
    Q_PROPERTY(qint64 corrupted MEMBER corrupted CONSTANT)
    Q_PROPERTY(qint64 replayed MEMBER replayed CONSTANT)
    Q_PROPERTY(qint64 droppedNoSpace MEMBER droppedNoSpace CONSTANT)
    Q_PROPERTY(qint64 dropped READ dropped)

public:
    qint64 accepted = 0;      ///< entries send() accepted
    qint64 sent = 0;          ///< entries Loki acknowledged
    qint64 droppedNew = 0;    ///< entries refused because the queue was full (DropNew)
    qint64 droppedOldest = 0; ///< queued entries discarded to make room (DropOldest)
    qint64 droppedClosed = 0; ///< entries still queued when close() reached its deadline
    qint64 timedOut = 0;      ///< entries refused because the queue stayed full until the deadline (Block)
    qint64 rejected = 0;      ///< invalid entries refused by send()
    qint64 failed = 0;        ///< entries whose batch failed for good
    qint64 retried = 0;       ///< retried pushes (not entries)
    qint64 queued = 0;        ///< entries accepted (or replayed) but neither sent, failed nor dropped yet;
                              ///< with a spool, what close() leaves there for the next start
    qint64 truncated = 0;     ///< lines cut to Limits::maxLineBytes (still delivered)
    qint64 demoted = 0;       ///< entries whose extra labels were demoted because of Limits::maxStreams
    qint64 splits = 0;        ///< batches split in halves after a 413 (or Loki's "larger than max")
    qint64 expired = 0;       ///< spooled entries older than Spool::maxAge when read: dropped
    qint64 corrupted = 0;     ///< spooled entries lost because their segment file was damaged meanwhile
    qint64 replayed = 0;      ///< entries an earlier run left in the spool (sent before new ones)
    /** entries refused because the spool could not write them: its file system is full ("No space
     *  left on device") or failing; lastError() has the system's reason */
    qint64 droppedNoSpace = 0;

    /** Every entry lost on the way: dropped for any reason, timed out, expired or corrupted. */
    qint64 dropped() const
    {
        return droppedNew + droppedOldest + droppedClosed + timedOut + expired + corrupted + droppedNoSpace;
    }
};

/**
 * Ships log entries to Grafana Loki from a thread of its own.
 *
 * @code
 * LokiConfig config;
 * config.url = QUrl("http://loki:3100");
 * config.labels = {{"service", "kiosk"}, {"env", "prod"}};
 * LokiClient client(config);
 * QObject::connect(&client, &LokiClient::errorOccurred, &window, &MainWindow::showLokiError);
 * client.send(LokiEntry(QStringLiteral("started")));
 * ...
 * client.close(QDeadlineTimer(5000));   // deliver what is queued, at most 5 s
 * @endcode
 *
 * send() renders the entry in the caller's thread and puts it in a bounded queue. A worker on the client's
 * own QThread batches queued entries per stream and pushes a batch to `/loki/api/v1/push` when it holds
 * LokiConfig::Batching::maxEntries entries or maxBytes bytes, or maxWait after its first entry. Network
 * errors, HTTP 429 and 5xx are retried with exponential backoff and jitter (timers, never sleeps); any other
 * error fails the batch at once. Every failure is reported by errorOccurred().
 *
 * Its properties (state, counters and each counter, lastError, spooling) have NOTIFY signals, so that a
 * QML UI handed the client from C++ binds them directly, e.g. `client.counters.sent` or
 * `client.lastError.message`; the optional QML module LokiQt registers the types (README.md "The QML
 * example").
 *
 * Thread safety: the object lives in the thread that created it (its owner thread), where its signals are
 * emitted. send(), flush(), counters, state() and lastError() may be called from any thread. close() and
 * the destructor belong to the owner thread. No function may be called from a slot connected to the
 * client's signals with Qt::DirectConnection while the client is being destroyed.
 */
class LOKIQT_EXPORT LokiClient : public QObject
{
    Q_OBJECT
    Q_PROPERTY(State state READ state NOTIFY stateChanged)
    Q_PROPERTY(qint64 accepted READ accepted NOTIFY countersChanged)
    Q_PROPERTY(qint64 sent READ sent NOTIFY countersChanged)
    Q_PROPERTY(qint64 dropped READ dropped NOTIFY countersChanged)
    Q_PROPERTY(qint64 failed READ failed NOTIFY countersChanged)
    Q_PROPERTY(qint64 retried READ retried NOTIFY countersChanged)
    Q_PROPERTY(qint64 queued READ queued NOTIFY countersChanged)
    Q_PROPERTY(LokiError lastError READ lastError NOTIFY errorOccurred)
    Q_PROPERTY(LokiClientCounters counters READ counters NOTIFY countersChanged)
    Q_PROPERTY(bool spooling READ isSpooling CONSTANT)
public:
    /** What the client is doing. */
    enum class State {
        Idle,     ///< nothing to send
        Sending,  ///< entries are waiting for a batch or a push is under way
        Retrying, ///< a push failed and waits for its backoff to end
        Closed,   ///< close() was called: send() refuses entries
    };
    Q_ENUM(State)

    /** What became of one send(). */
    enum class SendResult {
        Accepted, ///< queued; it will be pushed (or reported by errorOccurred)
        Dropped,  ///< the queue was full in DropNew mode
        TimedOut, ///< the queue stayed full in Block mode until the deadline
        Closed,   ///< the client was closed
        Rejected, ///< the entry was invalid (for example a bad label name); see lastError()
    };
    Q_ENUM(SendResult)

    /** Counters of entries: see LokiClientCounters (a type of its own so that moc can make it a Q_GADGET:
     *  moc gives nested classes no meta-object). */
    using Counters = LokiClientCounters;

    /** Starts the client's thread. An invalid @p config is reported by errorOccurred and refuses sends. */
    explicit LokiClient(const LokiConfig &config, QObject *parent = nullptr);
    /** Owner thread. Closes with LokiConfig::destructorCloseTimeout as deadline, never longer. */
    ~LokiClient() override;

    /** Any thread. The configuration the client was created with. */
    const LokiConfig &config() const;

    /**
     * Thread-safe, any thread. Renders @p entry and queues it. Never blocks unless backpressure is Block;
     * then it waits for room at most LokiConfig::blockTimeout (5 s by default), and answers TimedOut after.
     */
    SendResult send(const LokiEntry &entry);
    /** As send(entry), but in Block mode waits for room until @p deadline (QDeadlineTimer::Forever: as long
     *  as it takes, also when Loki is down and a spool is full). */
    SendResult send(const LokiEntry &entry, QDeadlineTimer deadline);
    /** Thread-safe, any thread. Shorthand for send(LokiEntry(line)). */
    SendResult send(const QString &line);
    /** Thread-safe, any thread. Shorthand for send(LokiEntry(line), deadline). */
    SendResult send(const QString &line, QDeadlineTimer deadline);
    /**
     * Thread-safe, any thread. The fastest way in: a line that is already UTF-8, with the static labels and
     * a timestamp of now. Invalid UTF-8 sequences are replaced by U+FFFD (Loki would refuse them). Waits
     * as send() does.
     */
    SendResult sendUtf8(const QByteArray &line);
    /** Thread-safe, any thread. As sendUtf8(line), waiting in Block mode until @p deadline. */
    SendResult sendUtf8(const QByteArray &line, QDeadlineTimer deadline);

    /**
     * Thread-safe, any thread but the client's own. Pushes everything accepted before the call without
     * waiting for the batch triggers, and waits until it is acknowledged or @p deadline expires.
     * Returns true when all of it was delivered (none failed or was dropped).
     */
    bool flush(QDeadlineTimer deadline = QDeadlineTimer(QDeadlineTimer::Forever));

    /**
     * Owner thread. Refuses further sends, delivers what is queued within @p deadline, then stops the
     * client's thread. Entries still undelivered at the deadline are counted as droppedClosed and reported;
     * with a spool they stay in it instead (Counters::queued) for the next client that opens it.
     * Returns true when everything accepted was delivered. Calling it again returns the first answer.
     */
    bool close(QDeadlineTimer deadline = QDeadlineTimer(5000));

    /** Thread-safe. */
    State state() const;
    /** Thread-safe. A consistent-enough snapshot of all counters. */
    Counters counters() const;
    qint64 accepted() const; ///< Thread-safe.
    qint64 sent() const;     ///< Thread-safe.
    qint64 dropped() const;  ///< Thread-safe. All entries dropped or timed out, whatever the reason.
    qint64 failed() const;   ///< Thread-safe.
    qint64 retried() const;  ///< Thread-safe.
    qint64 queued() const;   ///< Thread-safe.
    /** Thread-safe. The latest failure (Kind::NoError when there was none). */
    LokiError lastError() const;

    /** Thread-safe. True when entries go through the disk spool (LokiConfig::spool is set and usable). */
    bool isSpooling() const;

    /** Thread-safe. True when @p thread is the client's own worker thread (used to avoid feedback loops). */
    bool isClientThread(const QThread *thread) const;

Q_SIGNALS:
    /** Emitted in the owner thread for every failure: network, HTTP, invalid entry, dropped entries. The
     *  NOTIFY signal of lastError: a burst of failures is delivered in one go, and lastError() is then the
     *  latest of them. */
    void errorOccurred(const LokiError &error);
    /** Emitted in the owner thread when state() changes (the NOTIFY signal of state): a burst of changes
     *  arrives as one signal with the state that holds then, and never repeats the state signalled last. */
    void stateChanged(LokiClient::State state);
    /** Emitted in the owner thread, at most every few milliseconds, when counters have changed; the NOTIFY
     *  signal of counters and of each counter property. */
    void countersChanged();

private:
    friend class LokiClientPrivate;
    friend class LokiMessageHandler;
    std::unique_ptr<LokiClientPrivate> const d_ptr;
    Q_DECLARE_PRIVATE(LokiClient)
    Q_DISABLE_COPY(LokiClient)
};

Q_DECLARE_METATYPE(LokiClientCounters)

#endif // LOKIQT_LOKICLIENT_H
