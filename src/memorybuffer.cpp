// SPDX-License-Identifier: MIT
#include "memorybuffer_p.h"

#include <algorithm>
#include <chrono>

qint64 LokiBufferClock::nowNs()
{
    using namespace std::chrono;
    return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

LokiMemoryBuffer::LokiMemoryBuffer(int capacity, const Limits &limits, LokiCounterSet *counters)
    : m_capacity(size_t(std::max(1, capacity)))
    , m_limits(limits)
    , m_counters(counters)
{}

LokiEntryBuffer::PushResult LokiMemoryBuffer::push(LokiQueuedEntry &&entry, const LokiWait &wait)
{
    QDeadlineTimer deadline;
    bool deadlineResolved = false;
    bool wake = false;
    {
        QMutexLocker lock(&m_mutex);
        if (m_closed)
            return PushResult::Closed;
        while (m_count >= m_capacity) {
            switch (m_limits.mode) {
            case LokiConfig::Backpressure::DropNew:
                LokiCounterSet::add(m_counters->droppedNew, 1);
                return PushResult::Dropped;
            case LokiConfig::Backpressure::DropOldest:
                m_bytes -= front().line.size();
                takeFront();
                ++m_removed;
                LokiCounterSet::add(m_counters->droppedOldest, 1);
                break;
            case LokiConfig::Backpressure::Block:
                if (!deadlineResolved) {
                    deadline = wait.resolve(m_limits.blockTimeout);
                    deadlineResolved = true;
                }
                if (!m_notFull.wait(&m_mutex, deadline) && m_count >= m_capacity && !m_closed) {
                    LokiCounterSet::add(m_counters->timedOut, 1);
                    return PushResult::TimedOut;
                }
                if (m_closed)
                    return PushResult::Closed;
                break;
            }
        }
        LokiBufferClock::stamp(entry, m_clockOffsetNs.load(std::memory_order_relaxed), &m_lastTimestamp);
        m_bytes += entry.line.size();
        pushBack(std::move(entry));
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

LokiEntryBuffer::TakeStats LokiMemoryBuffer::takeBatch(std::vector<LokiQueuedEntry> &out)
{
    QMutexLocker lock(&m_mutex);
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
    return {};
}

LokiEntryBuffer::Leftovers LokiMemoryBuffer::shutdownLeftovers(qint64 inFlight)
{
    QMutexLocker lock(&m_mutex);
    Leftovers left;
    left.lost = qint64(m_count) + inFlight;
    m_removed += qint64(m_count);
    while (m_count > 0)
        takeFront();
    m_ring = std::vector<LokiQueuedEntry>();
    m_head = 0;
    m_bytes = 0;
    m_notFull.wakeAll();
    return left;
}

bool LokiMemoryBuffer::armWake(WakeWhen when)
{
    QMutexLocker lock(&m_mutex);
    const bool ready =
        (when == WakeWhen::AnyEntry && m_count > 0) || (when == WakeWhen::FullBatch && hasFullBatchLocked());
    m_wakeWhen = ready ? WakeWhen::Never : when;
    return ready;
}

void LokiMemoryBuffer::setClockOffset(qint64 ns)
{
    QMutexLocker lock(&m_mutex);
    const qint64 delta = ns - m_clockOffsetNs.load(std::memory_order_relaxed);
    for (size_t i = 0; i < m_count; ++i)
        m_ring[(m_head + i) % m_ring.size()].timestampNs += delta; // m_count > 0: the ring is not empty
    if (m_lastTimestamp != 0)
        m_lastTimestamp += delta;
    m_clockOffsetNs.store(ns, std::memory_order_relaxed);
}

void LokiMemoryBuffer::close()
{
    QMutexLocker lock(&m_mutex);
    m_closed = true;
    m_notFull.wakeAll();
}

bool LokiMemoryBuffer::isClosed() const
{
    QMutexLocker lock(&m_mutex);
    return m_closed;
}

qint64 LokiMemoryBuffer::size() const
{
    QMutexLocker lock(&m_mutex);
    return qint64(m_count);
}

bool LokiMemoryBuffer::hasFullBatch() const
{
    QMutexLocker lock(&m_mutex);
    return hasFullBatchLocked();
}

bool LokiMemoryBuffer::hasFullBatchLocked() const
{
    // A full queue is a full batch too: with a capacity below batch.maxEntries it would otherwise wait for
    // the timer while Block senders wait for room.
    const size_t fullBatch = std::min(size_t(m_limits.batchEntries), m_capacity);
    return m_count >= fullBatch || m_bytes >= m_limits.batchBytes;
}

void LokiMemoryBuffer::pushBack(LokiQueuedEntry &&entry)
{
    if (m_count == m_ring.size()) {
        const size_t grown = std::min(m_capacity, std::max<size_t>(64, m_ring.size() * 2));
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

LokiQueuedEntry LokiMemoryBuffer::takeFront()
{
    LokiQueuedEntry entry = std::move(m_ring[m_head]);
    m_head = (m_head + 1) % m_ring.size();
    --m_count;
    return entry;
}

qint64 LokiMemoryBuffer::removedCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_removed;
}

qint64 LokiMemoryBuffer::acceptedCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_accepted;
}

QString LokiMemoryBuffer::boundDescription() const
{
    return QStringLiteral("the queue was full (capacity %1, backpressure %2)")
        .arg(m_capacity)
        .arg(LokiConfig::backpressureName(m_limits.mode));
}
