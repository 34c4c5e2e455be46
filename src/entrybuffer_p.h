// SPDX-License-Identifier: MIT
#ifndef LOKIQT_ENTRYBUFFER_P_H
#define LOKIQT_ENTRYBUFFER_P_H

// The entry buffer: what lies between the threads that send and the client's worker, the only state they
// share. Two implementations: LokiMemoryBuffer (a ring in memory) and LokiSpoolBuffer (segment files on
// disk). Which one a client has is decided once, when it is constructed; nothing else asks.

#include "counters_p.h"
#include "entry_p.h"

#include <lokiqt/lokiconfig.h>

#include <QtCore/QString>

#include <chrono>
#include <functional>
#include <vector>

class LokiEntryBuffer
{
public:
    enum class PushResult { Accepted, Dropped, TimedOut, Closed };

    /** What a buffer needs to know besides its own bound. */
    struct Limits
    {
        int batchEntries = 1;
        qint64 batchBytes = 1;
        LokiConfig::Backpressure mode = LokiConfig::Backpressure::Block;
        /** Block mode, for a push without a deadline of its own (LokiConfig::blockTimeout; negative: none).
         */
        std::chrono::milliseconds blockTimeout{5000};
    };

    /** What takeBatch() resolved without handing it out. */
    struct TakeStats
    {
        qint64 expired = 0; ///< older than Spool::maxAge (counted in LokiCounterSet::expired)
        qint64 damaged = 0; ///< lost to a damaged file (counted in LokiCounterSet::corrupted)
    };

    /** What is left when the client shuts down (see shutdownLeftovers()). */
    struct Leftovers
    {
        qint64 lost = 0; ///< gone with the process: the caller counts them as droppedClosed
        qint64 kept = 0; ///< stay for the next client that opens the same place
        QString keptIn;  ///< where they stay, for the report
    };

    /** Worker. What the worker wants to hear about: nothing, the first entry, or a full batch. */
    enum class WakeWhen { Never, AnyEntry, FullBatch };

    virtual ~LokiEntryBuffer() = default;

    /**
     * Any thread. Keeps @p entry according to the backpressure mode (Limits::mode) on the buffer's bound;
     * stamps a zero timestamp with "now" (plus clockOffset()), kept strictly increasing across all entries so
     * each stream gets distinct, ordered timestamps. Calls the wake callback (outside any lock) when the
     * worker asked to be told. In Block mode it waits for room until @p wait's deadline.
     */
    virtual PushResult push(LokiQueuedEntry &&entry, const LokiWait &wait) = 0;

    /**
     * Any thread. One Qt message from the message handler, as push() of its rendered entry (stamped with
     * "now"). By default it is rendered at once, on the calling thread (the spool writes the entry before
     * the call returns); the memory buffer keeps it raw in a lane of the calling thread and renders it on
     * the worker (see LokiMemoryBuffer).
     */
    virtual PushResult pushMessage(const LokiMessageParts &parts, const LokiWait &wait)
    {
        LokiRawMessage raw;
        raw.assign(parts);
        LokiQueuedEntry entry;
        m_renderer(raw, entry);
        return push(std::move(entry), wait);
    }
    /** Before any pushMessage(). How raw messages become entries. */
    void setMessageRenderer(LokiMessageRenderer renderer) { m_renderer = std::move(renderer); }

    /**
     * Worker. Moves up to one batch of entries (by Limits::batchEntries and line bytes; a single entry larger
     * than batchBytes still goes, alone) from the head into @p out. What it resolved on the way without
     * handing it out is returned, and already counted.
     */
    virtual TakeStats takeBatch(std::vector<LokiQueuedEntry> &out) = 0;
    /**
     * Worker. The oldest batch taken and not acknowledged yet is resolved (delivered or failed for good): its
     * room may be freed. Several batches may be under way at once; they are acknowledged in the order taken,
     * once per takeBatch() call, so a later batch resolved first frees nothing before the earlier ones.
     */
    virtual void acknowledge() = 0;

    /** Any thread. Refuses all later pushes and wakes blocked senders. */
    virtual void close() = 0;
    virtual bool isClosed() const = 0;

    /** Any thread. Forces what was written onto the storage (nothing to do in memory). Never holds a lock
     *  that push() takes while it waits for the storage. */
    virtual void sync() = 0;
    /** Any thread. Whether sync() has something to do now. */
    virtual bool needsSync() const = 0;
    /** How often the worker should call sync() once needsSync() says so; negative: it never needs a timer. */
    virtual std::chrono::milliseconds syncTimerInterval() const = 0;

    /**
     * Any thread. Added to the clock for the timestamps the buffer assigns (see
     * LokiConfig::clockSkewThreshold). Entries not taken yet are corrected by the change, so every entry
     * taken from now on carries the new correction, and the timestamps stay increasing.
     */
    virtual void setClockOffset(qint64 ns) = 0;
    virtual qint64 clockOffset() const = 0;

    /** Entries kept and not taken yet. */
    virtual qint64 size() const = 0;
    bool isEmpty() const { return size() == 0; }
    virtual bool hasFullBatch() const = 0;
    /** Entries removed from the head so far (taken by the worker, dropped as oldest, expired, lost). */
    virtual qint64 removedCount() const = 0;
    /** Entries that entered the buffer so far: accepted, and found at start (an earlier run's). */
    virtual qint64 acceptedCount() const = 0;
    /** Entries an earlier run left (found when the buffer was opened). */
    virtual qint64 replayedCount() const { return 0; }

    /** Worker. Sets when the wake callback is called next; returns true when that moment has already come. */
    virtual bool armWake(WakeWhen when) = 0;
    /** Before any push. Called (from the pushing thread, outside locks) when the worker asked to be woken. */
    virtual void setWakeCallback(std::function<void()> wake) = 0;

    /**
     * Worker, at shutdown, after the last push under way was abandoned. @p inFlight entries were taken and
     * never acknowledged. A memory buffer drops what it holds and says they are lost (with @p inFlight); a
     * spool syncs and says they are kept (with @p inFlight, which stay unacknowledged on disk), except
     * in-flight entries whose segment DropOldest deleted meanwhile: lost.
     */
    virtual Leftovers shutdownLeftovers(qint64 inFlight) = 0;

    /**
     * Whether what was accepted outlives the process (a spool). Exactly one use: an input of the retry
     * decision, where a durable buffer retries transient failures without limit (the entries wait on disk
     * for as long as it takes, or for the next start). Nothing else should ask.
     */
    virtual bool isDurable() const = 0;

    /** For drop reports: what the bound is, e.g. "the queue was full (capacity 4096, backpressure Block)". */
    virtual QString boundDescription() const = 0;
    /** The system's reason for the latest failed write (LokiCounterSet::droppedNoSpace), empty if none. */
    virtual QString lastWriteError() const { return QString(); }

protected:
    LokiMessageRenderer m_renderer;
};

#endif // LOKIQT_ENTRYBUFFER_P_H
