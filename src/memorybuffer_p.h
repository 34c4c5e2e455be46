// SPDX-License-Identifier: MIT
#ifndef LOKIQT_MEMORYBUFFER_P_H
#define LOKIQT_MEMORYBUFFER_P_H

#include "entrybuffer_p.h"

#include <QtCore/QMutex>
#include <QtCore/QWaitCondition>

#include <atomic>
#include <memory>

/**
 * The entry buffer in memory: at most capacity entries. Full, it applies the backpressure mode: Block waits
 * for room (the worker taking a batch makes it), DropNew refuses, DropOldest discards the head. Entries still
 * in it at shutdown are lost (counted by the caller as droppedClosed).
 *
 * Two ways in. push() (send(), sendUtf8()) puts a rendered entry into the ring under the mutex.
 * pushMessage() (the message handler) takes no lock in the steady state: each thread has a lane of its own,
 * a single-producer ring of raw messages (LokiRawMessage) whose strings keep their capacity, so a message
 * costs a copy of its text, one clock read and no allocation. Room is leased from the capacity in chunks
 * (m_free), so threads share no cache line per message. The lanes' consumer side belongs to whoever holds
 * the mutex: the worker moves their messages into the ring (rendering them there, merged by timestamp) when
 * it takes a batch; push() and a lane's slow path (no room, lane full) do the same first, so each thread's
 * entries stay in the order it made them. Timestamps are read once by the caller, distinct and increasing
 * per thread; when they enter the ring they get the clock offset in force and are kept distinct and
 * increasing across all threads, as push() stamps them.
 */
class LokiMemoryBuffer final : public LokiEntryBuffer
{
public:
    LokiMemoryBuffer(int capacity, const Limits &limits, LokiCounterSet *counters);

    ~LokiMemoryBuffer() override;

    PushResult push(LokiQueuedEntry &&entry, const LokiWait &wait) override;
    PushResult pushMessage(const LokiMessageParts &parts, const LokiWait &wait) override;
    TakeStats takeBatch(std::vector<LokiQueuedEntry> &out) override;
    void acknowledge() override {}
    void close() override;
    bool isClosed() const override { return m_closed.load(); }
    void sync() override {}
    bool needsSync() const override { return false; }
    std::chrono::milliseconds syncTimerInterval() const override { return std::chrono::milliseconds(-1); }
    void setClockOffset(qint64 ns) override;
    qint64 clockOffset() const override { return m_clockOffsetNs.load(std::memory_order_relaxed); }
    qint64 size() const override;
    bool hasFullBatch() const override;
    qint64 removedCount() const override;
    qint64 acceptedCount() const override;
    bool armWake(WakeWhen when) override;
    void setWakeCallback(std::function<void()> wake) override { m_wake = std::move(wake); }
    Leftovers shutdownLeftovers(qint64 inFlight) override;
    bool isDurable() const override { return false; }
    QString boundDescription() const override;

    struct Lane;

private:
    bool hasFullBatchLocked() const;
    /** The calling thread's lane, registered on first use; null when it cannot have one. */
    Lane *currentLane();
    /** A unit of room for the calling thread's lane, from its lease or a new one; false: none free. */
    bool leaseRoom(Lane *lane);
    /** The slow path of pushMessage(): room (by the backpressure mode), a lane with space, under the mutex.
     */
    PushResult pushMessageLocked(Lane *lane, const LokiMessageParts &parts, const LokiWait &wait,
                                 QMutexLocker<QMutex> &lock, bool *fullBatch);
    /** Adds what @p lane published since it last reported to the hint; returns whether that is a full batch.
     */
    bool report(Lane *lane);
    /** Writes a message into @p lane (room leased, a free slot) and publishes it; the producer's side.
     *  Returns whether the buffer now holds a full batch, as far as the lanes' reports tell. */
    bool publish(Lane *lane, const LokiMessageParts &parts);
    /** Room for one entry under the mutex, by the backpressure mode; Accepted when there is. */
    PushResult takeRoomLocked(const LokiWait &wait, QMutexLocker<QMutex> &lock);
    /** Mutex held. Moves every lane's messages into the ring, rendered, oldest first; frees dead lanes. */
    void drainLanesLocked();
    /** Mutex held. Entries and (estimated) bytes waiting in the lanes. */
    qint64 laneEntriesLocked() const;
    qint64 laneBytesLocked() const;
    qint64 laneAcceptedLocked() const;
    /** Wakes the worker when it asked for the state the buffer is in now (lanes included). */
    void maybeWake(bool fullBatchHint);
    // A ring buffer that grows (doubling) up to the capacity, so an idle client holds little memory and a
    // busy one allocates nothing per entry.
    void pushBack(LokiQueuedEntry &&entry);
    LokiQueuedEntry takeFront();
    const LokiQueuedEntry &front() const { return m_ring[m_head]; }

    const size_t m_capacity;
    const Limits m_limits;
    LokiCounterSet *const m_counters;
    const quint64 m_id;        ///< unique per buffer for the life of the process (the lanes' thread caches)
    const qint64 m_leaseChunk; ///< how much room a lane leases at a time
    std::function<void()> m_wake;

    /** Room not leased by a lane nor used by an entry (credits: entries + leases + this = capacity). */
    alignas(64) std::atomic<qint64> m_free;
    /**
     * About the entries and bytes held, for the lanes' full-batch wake: what lanes reported (once per lease)
     * and push() added, less what was taken or dropped; short by what lanes published and not reported yet.
     */
    std::atomic<qint64> m_hintEntries{0};
    std::atomic<qint64> m_hintBytes{0};
    std::atomic<int> m_wakeWhen{int(WakeWhen::AnyEntry)};
    std::atomic<bool> m_closed{false};

    alignas(64) mutable QMutex m_mutex;
    QWaitCondition m_notFull;
    std::vector<LokiQueuedEntry> m_ring;
    size_t m_head = 0;
    size_t m_count = 0;
    qint64 m_bytes = 0;
    qint64 m_lastTimestamp = 0;
    std::atomic<qint64> m_clockOffsetNs{0};
    qint64 m_removed = 0;
    int m_blocked = 0; ///< senders waiting in m_notFull
    bool m_shutDown = false;
    std::vector<std::shared_ptr<Lane>> m_lanes;
};

namespace LokiBufferClock {
/** The wall clock in ns since the epoch. */
qint64 nowNs();
/** Stamps @p entry (when its timestamp is 0) with now + @p offsetNs, after @p *last; updates @p *last. */
inline void stamp(LokiQueuedEntry &entry, qint64 offsetNs, qint64 *last)
{
    if (entry.timestampNs != 0)
        return;
    // Distinct and increasing across threads: entries of one stream never share a timestamp, so Loki never
    // takes two different entries for duplicates, and order within a stream is kept.
    const qint64 now = nowNs() + offsetNs;
    entry.timestampNs = now > *last ? now : *last + 1;
    *last = entry.timestampNs;
}
} // namespace LokiBufferClock

#endif // LOKIQT_MEMORYBUFFER_P_H
