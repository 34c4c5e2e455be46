// SPDX-License-Identifier: MIT
#ifndef LOKIQT_ENTRYQUEUE_P_H
#define LOKIQT_ENTRYQUEUE_P_H

// The bounded queue between the threads that send and the client's worker: the only state they share.

#include <lokiqt/lokiconfig.h>

#include <QtCore/QByteArray>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QList>
#include <QtCore/QMutex>
#include <QtCore/QPair>
#include <QtCore/QWaitCondition>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <vector>

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
    qint64 timestampNs = 0; ///< 0 until the queue stamps it with "now"
    const LokiStreamInfo *stream = nullptr;
    QByteArray line;       ///< UTF-8
    LokiMetadata metadata; ///< empty for most entries (costs no allocation then)
};

/**
 * Counters shared by senders, the worker and readers in any thread. The senders' counters and the worker's
 * live on separate cache lines, so the two sides never fight over one line at a high send rate.
 */
struct LokiCounterSet
{
    // Written by senders.
    alignas(64) std::atomic<qint64> accepted{0};
    std::atomic<qint64> droppedNew{0};
    std::atomic<qint64> droppedOldest{0};
    std::atomic<qint64> timedOut{0};
    std::atomic<qint64> rejected{0};
    std::atomic<qint64> truncated{0};
    std::atomic<qint64> demoted{0};
    // Written by the worker.
    alignas(64) std::atomic<qint64> sent{0};
    std::atomic<qint64> failed{0};
    std::atomic<qint64> droppedClosed{0};
    std::atomic<qint64> retried{0};
    std::atomic<qint64> splits{0};
    std::atomic<qint64> expired{0};   ///< read from the spool older than Spool::maxAge
    std::atomic<qint64> corrupted{0}; ///< lost with a spool segment damaged while the client ran
    std::atomic<qint64> replayed{0};  ///< found in the spool at start (written by an earlier run)

    /** Entries resolved: delivered, failed for good, or dropped after they were accepted. */
    qint64 resolved() const
    {
        return sent.load() + failed.load() + droppedOldest.load() + droppedClosed.load() + expired.load() +
               corrupted.load();
    }

    /** Accepted but not yet sent, failed or dropped. */
    qint64 queued() const
    {
        // Read the resolutions first, so a concurrent accept can only make the result larger; a drop-oldest
        // counted just before its accept is published can make it one less, hence the clamp.
        const qint64 done = resolved();
        return std::max<qint64>(0, accepted.load() + replayed.load() - done);
    }

    static void add(std::atomic<qint64> &counter, qint64 n)
    {
        counter.fetch_add(n, std::memory_order_relaxed);
    }
};

/**
 * How long a push may wait for room in Block mode: a deadline fixed by the caller, or a timeout that starts
 * only when the queue is found full, so the common case reads no clock.
 */
struct LokiWait
{
    static LokiWait until(QDeadlineTimer deadline) { return {deadline, std::chrono::milliseconds(0), false}; }
    static LokiWait atMost(std::chrono::milliseconds timeout) { return {QDeadlineTimer(), timeout, true}; }
    QDeadlineTimer resolve() const { return relative ? QDeadlineTimer(timeout) : deadline; }

    QDeadlineTimer deadline;
    std::chrono::milliseconds timeout;
    bool relative;
};

class LokiSpool;

/**
 * The queue in memory (a ring buffer of capacity entries) or, with a spool attached, on disk: then every
 * accepted entry is written to the spool before push() returns, batches are read back from it, and the
 * spool's disk bound takes the place of the capacity.
 */
class LokiEntryQueue
{
public:
    enum class PushResult { Accepted, Dropped, TimedOut, Closed };

    struct Limits
    {
        int capacity = 1;
        int batchEntries = 1;
        qint64 batchBytes = 1;
        LokiConfig::Backpressure mode = LokiConfig::Backpressure::Block;
    };

    LokiEntryQueue(const Limits &limits, LokiCounterSet *counters);

    /**
     * Any thread. Queues @p entry according to the backpressure mode; stamps a zero timestamp with "now",
     * kept strictly increasing across all entries so each stream gets distinct, ordered timestamps.
     * @p wake is called (outside the lock) when the worker asked to be told about new entries.
     */
    PushResult push(LokiQueuedEntry &&entry, const LokiWait &wait);

    /** Worker. Moves up to one batch of entries (by count and line bytes) from the head into @p out. */
    void takeBatch(std::vector<LokiQueuedEntry> &out);
    /** Worker. Takes and returns everything (at shutdown); nothing with a spool, where it stays. */
    std::vector<LokiQueuedEntry> takeAll();

    /** Before any push. Keeps the entries in @p spool from now on (see the class comment). */
    void attachSpool(LokiSpool *spool);
    bool hasSpool() const { return m_spool != nullptr; }
    /** Worker. The batch taken last is resolved (delivered or failed for good): the spool may free it. */
    void batchDone();
    /** Any thread. Forces the spool's writes onto the storage. */
    void syncSpool();
    bool spoolNeedsSync() const;

    /** Worker. What the worker wants to hear about: nothing, the first entry, or a full batch. */
    enum class WakeWhen { Never, AnyEntry, FullBatch };
    /** Worker. Sets when the wake callback is called next; returns true when that moment has already come. */
    bool armWake(WakeWhen when);
    void setWakeCallback(std::function<void()> wake) { m_wake = std::move(wake); }

    /**
     * Any thread. Added to the clock for the timestamps the queue assigns (see
     * LokiConfig::clockSkewThreshold). Entries waiting in the queue are shifted by the change, so every entry
     * not yet taken carries the new correction, and the timestamps stay increasing.
     */
    void setClockOffset(qint64 ns);
    qint64 clockOffset() const { return m_clockOffsetNs.load(std::memory_order_relaxed); }

    /** Any thread. Refuses all later pushes and wakes blocked senders. */
    void close();
    bool isClosed() const;

    int size() const;
    bool isEmpty() const { return size() == 0; }
    bool hasFullBatch() const;
    /** Entries removed from the head so far (taken by the worker or dropped as oldest). */
    qint64 removedCount() const;
    /** Entries that entered the queue so far: accepted, and found in the spool at start. */
    qint64 acceptedCount() const;

private:
    bool hasFullBatchLocked() const;
    bool fullFor(const LokiQueuedEntry &entry) const;
    /** Makes room in DropOldest mode; false when nothing can be dropped. */
    bool dropOldestLocked();
    // A ring buffer that grows (doubling) up to the capacity, so an idle client holds little memory and a
    // busy one allocates nothing per entry.
    void pushBack(LokiQueuedEntry &&entry);
    LokiQueuedEntry takeFront();
    const LokiQueuedEntry &front() const { return m_ring[m_head]; }

    const Limits m_limits;
    LokiCounterSet *const m_counters;
    std::function<void()> m_wake;
    LokiSpool *m_spool = nullptr;

    mutable QMutex m_mutex;
    QWaitCondition m_notFull;
    std::vector<LokiQueuedEntry> m_ring;
    size_t m_head = 0;
    size_t m_count = 0;
    qint64 m_bytes = 0;
    qint64 m_lastTimestamp = 0;
    std::atomic<qint64> m_clockOffsetNs{0};
    qint64 m_removed = 0;
    qint64 m_accepted = 0;
    qint64 m_replayed = 0;
    WakeWhen m_wakeWhen = WakeWhen::AnyEntry;
    bool m_closed = false;
};

#endif // LOKIQT_ENTRYQUEUE_P_H
