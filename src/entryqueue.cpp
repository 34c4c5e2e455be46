// SPDX-License-Identifier: MIT
#include "entryqueue_p.h"

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

LokiEntryQueue::PushResult LokiEntryQueue::push(LokiQueuedEntry &&entry, QDeadlineTimer deadline)
{
    bool wake = false;
    {
        QMutexLocker lock(&m_mutex);
        if (m_closed)
            return PushResult::Closed;
        while (m_entries.size() >= size_t(m_limits.capacity)) {
            switch (m_limits.mode) {
            case LokiConfig::Backpressure::DropNew:
                LokiCounterSet::add(m_counters->droppedNew, 1);
                return PushResult::Dropped;
            case LokiConfig::Backpressure::DropOldest:
                m_bytes -= m_entries.front().line.size();
                m_entries.pop_front();
                ++m_removed;
                LokiCounterSet::add(m_counters->droppedOldest, 1);
                break;
            case LokiConfig::Backpressure::Block:
                if (!m_notFull.wait(&m_mutex, deadline) && m_entries.size() >= size_t(m_limits.capacity)) {
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
            const qint64 now = nowNs();
            entry.timestampNs = now > m_lastTimestamp ? now : m_lastTimestamp + 1;
            m_lastTimestamp = entry.timestampNs;
        }
        m_bytes += entry.line.size();
        m_entries.push_back(std::move(entry));
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

void LokiEntryQueue::takeBatch(std::vector<LokiQueuedEntry> &out)
{
    QMutexLocker lock(&m_mutex);
    qint64 bytes = 0;
    int taken = 0;
    while (!m_entries.empty() && taken < m_limits.batchEntries) {
        const qint64 size = m_entries.front().line.size();
        // A single entry larger than maxBytes still goes out, alone.
        if (taken > 0 && bytes + size > m_limits.batchBytes)
            break;
        bytes += size;
        out.push_back(std::move(m_entries.front()));
        m_entries.pop_front();
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
    std::vector<LokiQueuedEntry> out(std::make_move_iterator(m_entries.begin()),
                                     std::make_move_iterator(m_entries.end()));
    m_removed += qint64(m_entries.size());
    m_entries.clear();
    m_bytes = 0;
    m_notFull.wakeAll();
    return out;
}

bool LokiEntryQueue::armWake(WakeWhen when)
{
    QMutexLocker lock(&m_mutex);
    const bool ready = (when == WakeWhen::AnyEntry && !m_entries.empty()) ||
                       (when == WakeWhen::FullBatch && hasFullBatchLocked());
    m_wakeWhen = ready ? WakeWhen::Never : when;
    return ready;
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
    return int(m_entries.size());
}

bool LokiEntryQueue::hasFullBatch() const
{
    QMutexLocker lock(&m_mutex);
    return hasFullBatchLocked();
}

bool LokiEntryQueue::hasFullBatchLocked() const
{
    return m_entries.size() >= size_t(m_limits.batchEntries) || m_bytes >= m_limits.batchBytes;
}

qint64 LokiEntryQueue::removedCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_removed;
}

qint64 LokiEntryQueue::acceptedCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_accepted;
}
