// SPDX-License-Identifier: MIT
#ifndef LOKIQT_COUNTERS_P_H
#define LOKIQT_COUNTERS_P_H

#include <QtCore/QtGlobal>

#include <algorithm>
#include <atomic>
#include <functional>

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
    std::atomic<qint64> droppedNoSpace{0}; ///< refused: the spool could not write them (a full disk)
    // Written by the worker.
    alignas(64) std::atomic<qint64> sent{0};
    std::atomic<qint64> failed{0};
    std::atomic<qint64> droppedClosed{0};
    std::atomic<qint64> retried{0};
    std::atomic<qint64> splits{0};
    std::atomic<qint64> expired{0};   ///< read from the spool older than Spool::maxAge
    std::atomic<qint64> corrupted{0}; ///< lost with a spool segment damaged while the client ran
    std::atomic<qint64> replayed{0};  ///< found in the spool at start (written by an earlier run)

    /**
     * Set (before any send) by a buffer that counts some accepted entries where senders share no cache line
     * (the memory buffer's per-thread lanes): returns `accepted` plus those, consistently. Empty: `accepted`.
     */
    std::function<qint64()> acceptedWithLanes;
    /** Entries accepted so far, exact: what readers use instead of `accepted`. */
    qint64 acceptedTotal() const { return acceptedWithLanes ? acceptedWithLanes() : accepted.load(); }

    /** Entries resolved: delivered, failed for good, or dropped after they were accepted. */
    qint64 resolved() const
    {
        return sent.load() + failed.load() + droppedOldest.load() + droppedClosed.load() + expired.load() +
               corrupted.load();
    }

    /** Entries lost after they were accepted: failed for good, or dropped (a flush() that saw any failed). */
    qint64 failures() const
    {
        return failed.load() + droppedOldest.load() + droppedClosed.load() + expired.load() +
               corrupted.load();
    }

    /** Accepted but not yet sent, failed or dropped. */
    qint64 queued() const
    {
        // Read the resolutions first, so a concurrent accept can only make the result larger; a drop-oldest
        // counted just before its accept is published can make it one less, hence the clamp.
        const qint64 done = resolved();
        return std::max<qint64>(0, acceptedTotal() + replayed.load() - done);
    }

    static void add(std::atomic<qint64> &counter, qint64 n)
    {
        counter.fetch_add(n, std::memory_order_relaxed);
    }
};

#endif // LOKIQT_COUNTERS_P_H
