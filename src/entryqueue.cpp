// SPDX-License-Identifier: MIT
#include "entryqueue_p.h"

#include "spool_p.h"

#include <algorithm>
#include <chrono>

namespace {
qint64 nowNs()
{
    using namespace std::chrono;
    return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}
} // namespace

LokiEntryQueue::LokiEntryQueue(const Limits &limits, LokiCounterSet *counters)
    : m_limits(limits)
    , m_counters(counters)
{}

LokiEntryQueue::PushResult LokiEntryQueue::push(LokiQueuedEntry &&entry, const LokiWait &wait)
{
    QDeadlineTimer deadline;
    bool deadlineResolved = false;
    bool wake = false;
    {
        QMutexLocker lock(&m_mutex);
        if (m_closed)
            return PushResult::Closed;
        while (fullFor(entry)) {
            switch (m_limits.mode) {
            case LokiConfig::Backpressure::DropNew:
                LokiCounterSet::add(m_counters->droppedNew, 1);
                return PushResult::Dropped;
            case LokiConfig::Backpressure::DropOldest:
                if (!dropOldestLocked()) {
                    LokiCounterSet::add(m_counters->droppedNew, 1);
                    return PushResult::Dropped;
                }
                break;
            case LokiConfig::Backpressure::Block:
                if (!deadlineResolved) {
                    deadline = wait.resolve();
                    deadlineResolved = true;
                }
                if (!m_notFull.wait(&m_mutex, deadline) && fullFor(entry)) {
                    LokiCounterSet::add(m_counters->timedOut, 1);
                    return PushResult::TimedOut;
                }
                if (m_closed)
                    return PushResult::Closed;
                break;
            }
        }
        if (entry.timestampNs == 0) {
            // Distinct and increasing across threads: entries of one stream never share a timestamp, so
            // Loki never takes two different entries for duplicates, and order within a stream is kept.
            const qint64 now = nowNs() + m_clockOffsetNs.load(std::memory_order_relaxed);
            entry.timestampNs = now > m_lastTimestamp ? now : m_lastTimestamp + 1;
            m_lastTimestamp = entry.timestampNs;
        }
        if (m_spool) {
            if (!m_spool->append(entry, m_clockOffsetNs.load(std::memory_order_relaxed))) {
                LokiCounterSet::add(m_counters->droppedNew, 1); // reported by the spool
                return PushResult::Dropped;
            }
            ++m_count;
            m_bytes += entry.line.size();
        } else {
            m_bytes += entry.line.size();
            pushBack(std::move(entry));
        }
        ++m_accepted;
        m_counters->accepted.store(m_accepted, std::memory_order_relaxed); // only written under m_mutex
        if (m_wakeWhen == WakeWhen::AnyEntry || (m_wakeWhen == WakeWhen::FullBatch && hasFullBatchLocked())) {
            m_wakeWhen = WakeWhen::Never;
            wake = true;
        }
    }
    if (wake && m_wake)
        m_wake();
    return PushResult::Accepted;
}

bool LokiEntryQueue::fullFor(const LokiQueuedEntry &entry) const
{
    return m_spool ? !m_spool->hasRoomFor(entry) : m_count >= size_t(m_limits.capacity);
}

bool LokiEntryQueue::dropOldestLocked()
{
    if (!m_spool) {
        m_bytes -= front().line.size();
        takeFront();
        ++m_removed;
        LokiCounterSet::add(m_counters->droppedOldest, 1);
        return true;
    }
    qint64 bytes = 0;
    const qint64 dropped = m_spool->dropOldestSegment(&bytes);
    if (dropped < 0)
        return false;
    m_count -= size_t(dropped);
    m_bytes -= bytes;
    m_removed += dropped;
    LokiCounterSet::add(m_counters->droppedOldest, dropped);
    return true;
}

void LokiEntryQueue::attachSpool(LokiSpool *spool)
{
    QMutexLocker lock(&m_mutex);
    m_spool = spool;
    m_count = size_t(spool->pendingEntries());
    m_bytes = spool->pendingBytes();
    m_replayed = spool->pendingEntries();
}

void LokiEntryQueue::batchDone()
{
    QMutexLocker lock(&m_mutex);
    if (m_spool && m_spool->acknowledge())
        m_notFull.wakeAll(); // disk space was freed
}

void LokiEntryQueue::syncSpool()
{
    QMutexLocker lock(&m_mutex);
    if (m_spool)
        m_spool->sync();
}

bool LokiEntryQueue::spoolNeedsSync() const
{
    QMutexLocker lock(&m_mutex);
    return m_spool && m_spool->needsSync();
}

void LokiEntryQueue::takeBatch(std::vector<LokiQueuedEntry> &out)
{
    QMutexLocker lock(&m_mutex);
    if (m_spool) {
        qint64 expired = 0;
        qint64 damaged = 0;
        const size_t before = out.size();
        const qint64 bytes =
            m_spool->take(out, m_limits.batchEntries, m_limits.batchBytes,
                          m_clockOffsetNs.load(std::memory_order_relaxed), &expired, &damaged);
        const qint64 removed = qint64(out.size() - before) + expired + damaged;
        m_count -= size_t(removed);
        m_bytes -= bytes;
        m_removed += removed;
        LokiCounterSet::add(m_counters->expired, expired);
        LokiCounterSet::add(m_counters->corrupted, damaged);
        return;
    }
    qint64 bytes = 0;
    int taken = 0;
    out.reserve(out.size() + std::min(m_count, size_t(m_limits.batchEntries)));
    while (m_count > 0 && taken < m_limits.batchEntries) {
        const qint64 size = front().line.size();
        // A single entry larger than maxBytes still goes out, alone.
        if (taken > 0 && bytes + size > m_limits.batchBytes)
            break;
        bytes += size;
        out.push_back(takeFront());
        ++taken;
    }
    m_bytes -= bytes;
    m_removed += taken;
    if (taken > 0)
        m_notFull.wakeAll();
}

std::vector<LokiQueuedEntry> LokiEntryQueue::takeAll()
{
    QMutexLocker lock(&m_mutex);
    std::vector<LokiQueuedEntry> out;
    if (m_spool)
        return out;
    out.reserve(m_count);
    m_removed += qint64(m_count);
    while (m_count > 0)
        out.push_back(takeFront());
    m_bytes = 0;
    m_notFull.wakeAll();
    return out;
}

bool LokiEntryQueue::armWake(WakeWhen when)
{
    QMutexLocker lock(&m_mutex);
    const bool ready =
        (when == WakeWhen::AnyEntry && m_count > 0) || (when == WakeWhen::FullBatch && hasFullBatchLocked());
    m_wakeWhen = ready ? WakeWhen::Never : when;
    return ready;
}

void LokiEntryQueue::setClockOffset(qint64 ns)
{
    QMutexLocker lock(&m_mutex);
    const qint64 delta = ns - m_clockOffsetNs.load(std::memory_order_relaxed);
    for (size_t i = 0; i < m_count; ++i)
        m_ring[(m_head + i) % m_ring.size()].timestampNs += delta;
    if (m_lastTimestamp != 0)
        m_lastTimestamp += delta;
    m_clockOffsetNs.store(ns, std::memory_order_relaxed);
}

void LokiEntryQueue::close()
{
    QMutexLocker lock(&m_mutex);
    m_closed = true;
    m_notFull.wakeAll();
}

bool LokiEntryQueue::isClosed() const
{
    QMutexLocker lock(&m_mutex);
    return m_closed;
}

int LokiEntryQueue::size() const
{
    QMutexLocker lock(&m_mutex);
    return int(m_count);
}

bool LokiEntryQueue::hasFullBatch() const
{
    QMutexLocker lock(&m_mutex);
    return hasFullBatchLocked();
}

bool LokiEntryQueue::hasFullBatchLocked() const
{
    // A full queue is a full batch too: with a capacity below batch.maxEntries it would otherwise wait for
    // the timer while Block senders wait for room.
    const int fullBatch =
        m_spool ? m_limits.batchEntries : std::min(m_limits.batchEntries, m_limits.capacity);
    return m_count >= size_t(fullBatch) || m_bytes >= m_limits.batchBytes;
}

void LokiEntryQueue::pushBack(LokiQueuedEntry &&entry)
{
    if (m_count == m_ring.size()) {
        const size_t grown = std::min(size_t(m_limits.capacity), std::max<size_t>(64, m_ring.size() * 2));
        std::vector<LokiQueuedEntry> ring;
        ring.reserve(grown);
        for (size_t i = 0; i < m_count; ++i)
            ring.push_back(std::move(m_ring[(m_head + i) % m_ring.size()]));
        ring.resize(grown);
        m_ring = std::move(ring);
        m_head = 0;
    }
    m_ring[(m_head + m_count) % m_ring.size()] = std::move(entry);
    ++m_count;
}

LokiQueuedEntry LokiEntryQueue::takeFront()
{
    LokiQueuedEntry entry = std::move(m_ring[m_head]);
    m_head = (m_head + 1) % m_ring.size();
    --m_count;
    return entry;
}

qint64 LokiEntryQueue::removedCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_removed;
}

qint64 LokiEntryQueue::acceptedCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_accepted + m_replayed;
}
