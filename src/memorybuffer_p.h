// SPDX-License-Identifier: MIT
#ifndef LOKIQT_MEMORYBUFFER_P_H
#define LOKIQT_MEMORYBUFFER_P_H

#include "entrybuffer_p.h"

#include <QtCore/QMutex>
#include <QtCore/QWaitCondition>

#include <atomic>

/**
 * The entry buffer in memory: a ring of at most capacity entries. Full, it applies the backpressure mode:
 * Block waits for room (the worker taking a batch makes it), DropNew refuses, DropOldest discards the head.
 * Entries still in it at shutdown are lost (counted by the caller as droppedClosed).
 */
class LokiMemoryBuffer final : public LokiEntryBuffer
{
public:
    LokiMemoryBuffer(int capacity, const Limits &limits, LokiCounterSet *counters);

    PushResult push(LokiQueuedEntry &&entry, const LokiWait &wait) override;
    TakeStats takeBatch(std::vector<LokiQueuedEntry> &out) override;
    void acknowledge() override {}
    void close() override;
    bool isClosed() const override;
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

private:
    bool hasFullBatchLocked() const;
    // A ring buffer that grows (doubling) up to the capacity, so an idle client holds little memory and a
    // busy one allocates nothing per entry.
    void pushBack(LokiQueuedEntry &&entry);
    LokiQueuedEntry takeFront();
    const LokiQueuedEntry &front() const { return m_ring[m_head]; }

    const size_t m_capacity;
    const Limits m_limits;
    LokiCounterSet *const m_counters;
    std::function<void()> m_wake;

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
    WakeWhen m_wakeWhen = WakeWhen::AnyEntry;
    bool m_closed = false;
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
