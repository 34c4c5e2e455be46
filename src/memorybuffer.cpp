// SPDX-License-Identifier: MIT
#include "memorybuffer_p.h"

#include <QtCore/QThread>

#if defined(Q_PROCESSOR_X86_64) && (defined(Q_CC_GNU) || defined(Q_CC_CLANG))
#include <x86intrin.h>
#define LOKIQT_HAVE_TSC 1
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

qint64 LokiBufferClock::nowNs()
{
    using namespace std::chrono;
    return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

namespace LokiRawCopy {
/** @p out = @p text (null: empty), keeping @p out's capacity: no allocation once it is large enough. */
void assign(QByteArray &out, const char *text)
{
    const qsizetype size = text ? qsizetype(std::strlen(text)) : 0;
    if (size == 0 && out.isEmpty())
        return; // (resize() of a null array costs a call into QByteArray every time)
    out.resize(size);
    if (size > 0)
        std::memcpy(out.data(), text, size_t(size));
}
void assign(QString &out, const QString &text)
{
    if (text.isEmpty() && out.isEmpty())
        return;
    out.resize(text.size());
    if (!text.isEmpty())
        std::memcpy(static_cast<void *>(out.data()), text.constData(), size_t(text.size()) * sizeof(QChar));
}
} // namespace LokiRawCopy

void LokiRawMessage::assign(const LokiMessageParts &parts)
{
    stream = parts.stream;
    type = parts.type;
    line = parts.line;
    LokiRawCopy::assign(text, *parts.text);
    const bool context = parts.flags & LokiMessageParts::ContextFields;
    const bool categoryWanted = context || (parts.flags & LokiMessageParts::CategoryField);
    const bool withCategory = categoryWanted && parts.category && std::strcmp(parts.category, "default") != 0;
    const bool withFile = context && parts.file;
    const bool withFunction = context && parts.function;
    LokiRawCopy::assign(category, withCategory ? parts.category : nullptr);
    LokiRawCopy::assign(file, withFile ? parts.file : nullptr);
    LokiRawCopy::assign(function, withFunction ? parts.function : nullptr);
    flags = quint8(parts.flags & (LokiMessageParts::LevelField | LokiMessageParts::ContextFields |
                                  LokiMessageParts::CategoryField)) |
            (withCategory ? LokiMessageParts::HasCategory : 0) | (withFile ? LokiMessageParts::HasFile : 0) |
            (withFunction ? LokiMessageParts::HasFunction : 0);
}

namespace {
/**
 * The wall clock for one thread, read once per message, cheaply. On x86-64 the time-stamp counter (about a
 * third of a vDSO clock_gettime() here) is extrapolated from the latest real reading, at the rate measured
 * between the two latest ones; the real clock is read again every 64 messages and whenever 2 ms passed since
 * it was, so a timestamp is within microseconds of the real clock, follows its steps within 2 ms, and a
 * counter that is not steady (or not in step across cores) costs at most that much accuracy. Elsewhere:
 * the real clock every time. The caller keeps the timestamps distinct and increasing.
 */
class ThreadClock
{
public:
    qint64 nowNs()
    {
#ifdef LOKIQT_HAVE_TSC
        const quint64 ticks = __rdtsc();
        const quint64 elapsed = ticks - m_anchorTicks;
        if (m_left > 0 && elapsed < m_maxTicks) {
            --m_left;
            return m_anchorNs + qint64(double(elapsed) * m_nsPerTick);
        }
        const qint64 now = LokiBufferClock::nowNs();
        const qint64 elapsedNs = now - m_anchorNs;
        // A rate only from a long enough interval (the readings' jitter is tens of ns), with a sane result.
        if (m_anchorTicks != 0 && elapsed > 20000 && elapsed < (quint64(1) << 52) && elapsedNs > 0) {
            const double rate = double(elapsedNs) / double(elapsed);
            if (rate > 0.01 && rate < 100) {
                m_nsPerTick = rate;
                m_maxTicks = quint64(2e6 / rate); // 2 ms
            }
        }
        m_anchorTicks = ticks;
        m_anchorNs = now;
        m_left = m_nsPerTick > 0 ? 63 : 0;
        return now;
#else
        return LokiBufferClock::nowNs();
#endif
    }

private:
#ifdef LOKIQT_HAVE_TSC
    quint64 m_anchorTicks = 0;
    qint64 m_anchorNs = 0;
    double m_nsPerTick = 0; ///< 0 until measured
    quint64 m_maxTicks = 0;
    int m_left = 0; ///< messages until the next real reading
#endif
};
} // namespace

/**
 * One thread's way into one buffer: a ring of raw messages with one producer (the thread) and one consumer
 * (whoever holds the buffer's mutex). Indexes count up for good; a slot is index & mask.
 */
struct LokiMemoryBuffer::Lane
{
    explicit Lane(size_t size)
        : messages(size)
        , mask(size - 1)
    {}
    std::vector<LokiRawMessage> messages; ///< a power of two; resized only by its producer under the mutex
    size_t mask;

    // Written by the producer only.
    alignas(64) std::atomic<quint64> tail{0}; ///< messages published
    std::atomic<qint64> pushedBytes{0};       ///< their text sizes, for the byte trigger (an estimate)
    qint64 lease = 0;      ///< room leased from m_free and not used yet (read by others once orphaned)
    qint64 unreported = 0; ///< messages (and bytes) published since the last report to the hint
    qint64 unreportedBytes = 0;
    bool watching = false; ///< near a full batch: report every message, so the wake comes at the batch
    qint64 lastStamp = 0;  ///< distinct, increasing timestamps per thread
    quint64 seenHead = 0;  ///< head as the producer read it last (at most head: room it may use)
    ThreadClock clock;     ///< the lane's thread's clock
    std::atomic<qint64> accepted{0};   ///< messages accepted (LokiCounterSet::acceptedTotal() adds them)
    std::atomic<bool> orphaned{false}; ///< its thread ended (or forgot it): freed once empty

    // Written by the mutex holder only.
    alignas(64) std::atomic<quint64> head{0}; ///< messages taken
    qint64 takenBytes = 0;
};

namespace {
std::atomic<quint64> g_nextBufferId{1};

// Each thread's lanes, by buffer (a few; a thread that uses more buffers at once evicts the oldest, whose
// lane is then freed once empty). Ids never repeat, so a destroyed buffer's entry never matches a new one.
struct LaneRef
{
    quint64 buffer = 0;
    std::shared_ptr<LokiMemoryBuffer::Lane> lane;
};
struct LaneCache
{
    std::array<LaneRef, 4> refs;
    unsigned next = 0;
    ~LaneCache();
};
thread_local LaneCache t_lanes;
thread_local bool t_lanesGone = false; // a message logged by a thread-local destructor after ours ran

LaneCache::~LaneCache()
{
    t_lanesGone = true;
    for (LaneRef &ref : refs) {
        if (ref.lane)
            ref.lane->orphaned.store(true, std::memory_order_release);
    }
}

size_t powerOfTwoAtLeast(size_t n)
{
    size_t p = 1;
    while (p < n)
        p *= 2;
    return p;
}

constexpr size_t initialLaneSize = 64;
constexpr qsizetype largeText = 4096; // a slot's string larger than this is freed after use
} // namespace

LokiMemoryBuffer::LokiMemoryBuffer(int capacity, const Limits &limits, LokiCounterSet *counters)
    : m_capacity(size_t(std::max(1, capacity)))
    , m_limits(limits)
    , m_counters(counters)
    , m_id(g_nextBufferId.fetch_add(1))
    // Small enough that leases held by idle threads take little of the capacity; 1 for small queues.
    , m_leaseChunk(std::clamp<qint64>(qint64(m_capacity) / 128, 1, 32))
    , m_free(qint64(m_capacity))
{
    m_counters->acceptedWithLanes = [this] { return acceptedCount(); };
}

LokiMemoryBuffer::~LokiMemoryBuffer()
{
    // Threads may keep their (empty) lane objects until they end; the memory of the messages goes now.
    QMutexLocker lock(&m_mutex);
    m_counters->accepted.fetch_add(laneAcceptedLocked());
    m_counters->acceptedWithLanes = nullptr;
    for (const std::shared_ptr<Lane> &lane : m_lanes)
        lane->messages = std::vector<LokiRawMessage>();
    m_lanes.clear();
}

LokiEntryBuffer::PushResult LokiMemoryBuffer::takeRoomLocked(const LokiWait &wait, QMutexLocker<QMutex> &lock)
{
    QDeadlineTimer deadline;
    bool deadlineResolved = false;
    for (;;) {
        if (m_closed.load())
            return PushResult::Closed;
        qint64 free = m_free.load();
        while (free > 0) {
            if (m_free.compare_exchange_weak(free, free - 1))
                return PushResult::Accepted;
        }
        switch (m_limits.mode) {
        case LokiConfig::Backpressure::DropNew:
            LokiCounterSet::add(m_counters->droppedNew, 1);
            return PushResult::Dropped;
        case LokiConfig::Backpressure::DropOldest:
            drainLanesLocked();
            if (m_count == 0) {
                // All the room is leased by lanes of threads that are not using it: nothing to drop.
                LokiCounterSet::add(m_counters->droppedNew, 1);
                return PushResult::Dropped;
            }
            m_bytes -= front().line.size();
            m_hintBytes.fetch_sub(front().line.size());
            takeFront();
            ++m_removed;
            m_hintEntries.fetch_sub(1);
            LokiCounterSet::add(m_counters->droppedOldest, 1);
            return PushResult::Accepted; // the dropped entry's room
        case LokiConfig::Backpressure::Block:
            if (!deadlineResolved) {
                deadline = wait.resolve(m_limits.blockTimeout);
                deadlineResolved = true;
                // A full queue is a full batch: make sure the worker knows.
                lock.unlock();
                maybeWake(true);
                lock.relock();
                continue;
            }
            ++m_blocked;
            const bool woken = m_notFull.wait(&m_mutex, deadline);
            --m_blocked;
            if (!woken && m_free.load() <= 0 && !m_closed.load()) {
                LokiCounterSet::add(m_counters->timedOut, 1);
                return PushResult::TimedOut;
            }
            break;
        }
    }
}

LokiEntryBuffer::PushResult LokiMemoryBuffer::push(LokiQueuedEntry &&entry, const LokiWait &wait)
{
    bool wake = false;
    {
        QMutexLocker lock(&m_mutex);
        if (m_closed.load())
            return PushResult::Closed;
        // Messages this thread handed to its lane before come first.
        if (!m_lanes.empty())
            drainLanesLocked();
        const PushResult room = takeRoomLocked(wait, lock);
        if (room != PushResult::Accepted)
            return room;
        LokiBufferClock::stamp(entry, m_clockOffsetNs.load(std::memory_order_relaxed), &m_lastTimestamp);
        const qint64 size = entry.line.size();
        m_bytes += size;
        pushBack(std::move(entry));
        m_hintEntries.fetch_add(1);
        m_hintBytes.fetch_add(size);
        m_counters->accepted.fetch_add(1);
        int armed = m_wakeWhen.load();
        if (armed == int(WakeWhen::AnyEntry) || (armed == int(WakeWhen::FullBatch) && hasFullBatchLocked()))
            wake = m_wakeWhen.compare_exchange_strong(armed, int(WakeWhen::Never));
    }
    if (wake && m_wake)
        m_wake();
    return PushResult::Accepted;
}

LokiMemoryBuffer::Lane *LokiMemoryBuffer::currentLane()
{
    if (t_lanesGone)
        return nullptr;
    for (LaneRef &ref : t_lanes.refs) {
        if (ref.buffer == m_id)
            return ref.lane.get();
    }
    auto lane = std::make_shared<Lane>(std::min(initialLaneSize, powerOfTwoAtLeast(m_capacity)));
    {
        QMutexLocker lock(&m_mutex);
        m_lanes.push_back(lane);
    }
    LaneRef &ref = t_lanes.refs[t_lanes.next++ % t_lanes.refs.size()];
    if (ref.lane)
        ref.lane->orphaned.store(true, std::memory_order_release);
    ref.buffer = m_id;
    ref.lane = lane;
    return lane.get();
}

bool LokiMemoryBuffer::leaseRoom(Lane *lane)
{
    if (lane->lease > 0) {
        --lane->lease;
        return true;
    }
    qint64 free = m_free.load(std::memory_order_relaxed);
    for (;;) {
        if (free <= 0)
            return false;
        const qint64 take = std::min(free, m_leaseChunk);
        if (m_free.compare_exchange_weak(free, free - take)) {
            lane->lease = take - 1;
            break;
        }
    }
    if (report(lane))
        maybeWake(true);
    return true;
}

bool LokiMemoryBuffer::report(Lane *lane)
{
    // Once per lease (every message when near a full batch): tell the hint what this lane published since,
    // and wake the worker when that makes a full batch.
    const qint64 entries = m_hintEntries.fetch_add(lane->unreported) + lane->unreported;
    const qint64 bytes = m_hintBytes.fetch_add(lane->unreportedBytes) + lane->unreportedBytes;
    const qint64 chunkBytes = lane->unreportedBytes;
    lane->unreported = 0;
    lane->unreportedBytes = 0;
    const qint64 fullBatch = std::min<qint64>(m_limits.batchEntries, qint64(m_capacity));
    if (entries >= fullBatch || bytes >= m_limits.batchBytes) {
        lane->watching = false;
        return true;
    }
    // The next lease's worth could complete the batch: report each message until it does.
    lane->watching = entries + m_leaseChunk >= fullBatch || bytes + 2 * chunkBytes >= m_limits.batchBytes;
    return false;
}

bool LokiMemoryBuffer::publish(Lane *lane, const LokiMessageParts &parts)
{
    const quint64 index = lane->tail.load(std::memory_order_relaxed);
    LokiRawMessage &slot = lane->messages[index & lane->mask];
    slot.assign(parts);
    // The one clock read; distinct and increasing per thread (across threads when they enter the ring).
    const qint64 now = lane->clock.nowNs();
    slot.timestampNs = now > lane->lastStamp ? now : lane->lastStamp + 1;
    lane->lastStamp = slot.timestampNs;
    const qint64 size = slot.text.size();
    lane->pushedBytes.store(lane->pushedBytes.load(std::memory_order_relaxed) + size,
                            std::memory_order_relaxed);
    ++lane->unreported;
    lane->unreportedBytes += size;
    // Sequentially consistent: the loads of m_wakeWhen and m_closed that follow are ordered after it, as the
    // worker's armWake() and close() order their store before they look at the lanes.
    lane->tail.store(index + 1, std::memory_order_seq_cst);
    return lane->watching && report(lane);
}

LokiEntryBuffer::PushResult LokiMemoryBuffer::pushMessage(const LokiMessageParts &parts, const LokiWait &wait)
{
    if (m_closed.load(std::memory_order_relaxed))
        return PushResult::Closed;
    Lane *lane = currentLane();
    if (!lane) {
        // This thread is ending: the way of the spool, rendered here.
        return LokiEntryBuffer::pushMessage(parts, wait);
    }
    const quint64 index = lane->tail.load(std::memory_order_relaxed);
    // The consumer's position is read again only when the lane is full by the one read last (or fuller: a
    // slow path below may have drained it since). Its cache line is the mutex holder's, written while it
    // renders: reading it per message cost a cache miss per message.
    bool laneFull = index - lane->seenHead >= lane->messages.size();
    if (laneFull) {
        lane->seenHead = lane->head.load(std::memory_order_acquire);
        laneFull = index - lane->seenHead == lane->messages.size();
    }
    if (laneFull || !leaseRoom(lane)) {
        PushResult result;
        bool fullBatch = false;
        {
            QMutexLocker lock(&m_mutex);
            result = pushMessageLocked(lane, parts, wait, lock, &fullBatch);
        }
        if (result == PushResult::Accepted)
            maybeWake(fullBatch);
        return result;
    }
    const bool fullBatch = publish(lane, parts);
    if (m_closed.load()) {
        // Closed meanwhile. When the worker's shutdown already counted what the lanes held, this message
        // missed it: take it back and refuse it; otherwise it is accepted and will be counted.
        QMutexLocker lock(&m_mutex);
        if (m_shutDown && lane->head.load() <= index) {
            lane->tail.store(index);
            return PushResult::Closed;
        }
    }
    // Counted in the lane (on this thread's cache line); the counters' readers add the lanes.
    lane->accepted.store(lane->accepted.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    maybeWake(fullBatch);
    return PushResult::Accepted;
}

LokiEntryBuffer::PushResult LokiMemoryBuffer::pushMessageLocked(Lane *lane, const LokiMessageParts &parts,
                                                                const LokiWait &wait,
                                                                QMutexLocker<QMutex> &lock, bool *fullBatch)
{
    if (m_closed.load())
        return PushResult::Closed;
    if (lane->lease > 0) {
        --lane->lease;
    } else {
        const PushResult room = takeRoomLocked(wait, lock);
        if (room != PushResult::Accepted)
            return room;
    }
    const quint64 tail = lane->tail.load(std::memory_order_relaxed);
    const quint64 head = lane->head.load();
    if (tail - head == lane->messages.size()) {
        // The lane is full: give it more slots, up to the capacity (its consumers hold the mutex, so its
        // messages can move). Rendering stays with the worker.
        const size_t most = powerOfTwoAtLeast(m_capacity);
        if (lane->messages.size() < most) {
            const size_t grown = std::min(most, lane->messages.size() * 2);
            std::vector<LokiRawMessage> messages(grown);
            for (quint64 i = head; i != tail; ++i)
                messages[i & (grown - 1)] = std::move(lane->messages[i & lane->mask]);
            lane->messages = std::move(messages);
            lane->mask = grown - 1;
        } else {
            drainLanesLocked(); // (not reached: the lane holds fewer entries than the capacity)
        }
    }
    *fullBatch = publish(lane, parts) || hasFullBatchLocked();
    lane->accepted.store(lane->accepted.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return PushResult::Accepted;
}

void LokiMemoryBuffer::maybeWake(bool fullBatchHint)
{
    int armed = m_wakeWhen.load();
    if (armed == int(WakeWhen::Never) || (armed == int(WakeWhen::FullBatch) && !fullBatchHint))
        return;
    if (m_wakeWhen.compare_exchange_strong(armed, int(WakeWhen::Never)) && m_wake)
        m_wake();
}

void LokiMemoryBuffer::drainLanesLocked()
{
    struct Run
    {
        Lane *lane;
        quint64 position;
        quint64 end;
    };
    std::vector<Run> runs;
    for (const std::shared_ptr<Lane> &lane : m_lanes) {
        const quint64 head = lane->head.load(std::memory_order_relaxed);
        const quint64 end = lane->tail.load(std::memory_order_acquire);
        if (end != head)
            runs.push_back({lane.get(), head, end});
    }
    const qint64 offset = m_clockOffsetNs.load(std::memory_order_relaxed);
    qint64 rendered = 0;
    while (!runs.empty()) {
        // Oldest first across the lanes (each lane is in order already).
        size_t oldest = 0;
        for (size_t i = 1; i < runs.size(); ++i) {
            const Run &r = runs[i];
            if (r.lane->messages[r.position & r.lane->mask].timestampNs <
                runs[oldest].lane->messages[runs[oldest].position & runs[oldest].lane->mask].timestampNs)
                oldest = i;
        }
        Run &run = runs[oldest];
        LokiRawMessage &raw = run.lane->messages[run.position & run.lane->mask];
        LokiQueuedEntry entry;
        m_renderer(raw, entry);
        const qint64 stamp = raw.timestampNs + offset;
        entry.timestampNs = stamp > m_lastTimestamp ? stamp : m_lastTimestamp + 1;
        m_lastTimestamp = entry.timestampNs;
        run.lane->takenBytes += raw.text.size();
        rendered += entry.line.size() - raw.text.size(); // the hint counted the text's size
        if (raw.text.capacity() > largeText)
            raw.text = QString();
        m_bytes += entry.line.size();
        pushBack(std::move(entry));
        if (++run.position == run.end) {
            run.lane->head.store(run.end, std::memory_order_release);
            runs.erase(runs.begin() + qsizetype(oldest));
        }
    }
    if (rendered != 0)
        m_hintBytes.fetch_add(rendered);
    // Lanes of threads that ended: their unused lease goes back.
    for (auto it = m_lanes.begin(); it != m_lanes.end();) {
        Lane *lane = it->get();
        if (lane->orphaned.load(std::memory_order_acquire) &&
            lane->head.load(std::memory_order_relaxed) == lane->tail.load(std::memory_order_acquire)) {
            m_free.fetch_add(lane->lease);
            m_counters->accepted.fetch_add(
                lane->accepted.load()); // under the mutex, as acceptedCount() reads
            m_hintEntries.fetch_add(lane->unreported);
            m_hintBytes.fetch_add(lane->unreportedBytes);
            lane->lease = 0;
            lane->messages = std::vector<LokiRawMessage>();
            it = m_lanes.erase(it);
        } else {
            ++it;
        }
    }
}

qint64 LokiMemoryBuffer::laneEntriesLocked() const
{
    qint64 n = 0;
    for (const std::shared_ptr<Lane> &lane : m_lanes)
        n += qint64(lane->tail.load() - lane->head.load(std::memory_order_relaxed));
    return n;
}

qint64 LokiMemoryBuffer::laneBytesLocked() const
{
    qint64 n = 0;
    for (const std::shared_ptr<Lane> &lane : m_lanes)
        n += lane->pushedBytes.load(std::memory_order_relaxed) - lane->takenBytes;
    return n;
}

LokiEntryBuffer::TakeStats LokiMemoryBuffer::takeBatch(std::vector<LokiQueuedEntry> &out)
{
    QMutexLocker lock(&m_mutex);
    drainLanesLocked();
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
    if (taken > 0) {
        m_hintEntries.fetch_sub(taken);
        m_hintBytes.fetch_sub(bytes);
        m_free.fetch_add(taken);
        if (m_blocked > 0)
            m_notFull.wakeAll();
    }
    return {};
}

LokiEntryBuffer::Leftovers LokiMemoryBuffer::shutdownLeftovers(qint64 inFlight)
{
    QMutexLocker lock(&m_mutex);
    m_shutDown = true;
    Leftovers left;
    const qint64 inLanes = laneEntriesLocked();
    left.lost = qint64(m_count) + inLanes + inFlight;
    m_removed += qint64(m_count) + inLanes;
    while (m_count > 0)
        takeFront();
    for (const std::shared_ptr<Lane> &lane : m_lanes) {
        lane->head.store(lane->tail.load(), std::memory_order_release);
        lane->takenBytes = lane->pushedBytes.load(std::memory_order_relaxed);
    }
    m_ring = std::vector<LokiQueuedEntry>();
    m_head = 0;
    m_bytes = 0;
    m_notFull.wakeAll();
    return left;
}

bool LokiMemoryBuffer::armWake(WakeWhen when)
{
    QMutexLocker lock(&m_mutex);
    // Stored before looking at the lanes; a lane publishes before it looks at m_wakeWhen (both
    // sequentially consistent), so a message is either seen here or wakes the worker itself.
    m_wakeWhen.store(int(when));
    const bool ready = (when == WakeWhen::AnyEntry && (m_count > 0 || laneEntriesLocked() > 0)) ||
                       (when == WakeWhen::FullBatch && hasFullBatchLocked());
    if (ready)
        m_wakeWhen.store(int(WakeWhen::Never));
    return ready;
}

void LokiMemoryBuffer::setClockOffset(qint64 ns)
{
    QMutexLocker lock(&m_mutex);
    // Messages still in the lanes get the offset in force when they enter the ring.
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
    m_closed.store(true);
    m_notFull.wakeAll();
}

qint64 LokiMemoryBuffer::size() const
{
    QMutexLocker lock(&m_mutex);
    return qint64(m_count) + laneEntriesLocked();
}

bool LokiMemoryBuffer::hasFullBatch() const
{
    QMutexLocker lock(&m_mutex);
    return hasFullBatchLocked();
}

bool LokiMemoryBuffer::hasFullBatchLocked() const
{
    // A full queue is a full batch too: with a capacity below batch.maxEntries it would otherwise wait for
    // the timer while Block senders wait for room. Room all leased counts as full.
    const qint64 count = qint64(m_count) + laneEntriesLocked();
    const qint64 fullBatch = std::min<qint64>(m_limits.batchEntries, qint64(m_capacity));
    return count >= fullBatch || m_bytes + laneBytesLocked() >= m_limits.batchBytes ||
           (count > 0 && m_free.load() <= 0);
}

void LokiMemoryBuffer::pushBack(LokiQueuedEntry &&entry)
{
    if (m_count == m_ring.size()) {
        const size_t grown = std::min(m_capacity, std::max<size_t>(64, m_ring.size() * 2));
        Q_ASSERT(grown > m_count);
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

qint64 LokiMemoryBuffer::laneAcceptedLocked() const
{
    qint64 n = 0;
    for (const std::shared_ptr<Lane> &lane : m_lanes)
        n += lane->accepted.load(std::memory_order_acquire);
    return n;
}

qint64 LokiMemoryBuffer::acceptedCount() const
{
    // Under the mutex: a freed lane's count moves into `accepted` under it too.
    QMutexLocker lock(&m_mutex);
    return m_counters->accepted.load() + laneAcceptedLocked();
}

QString LokiMemoryBuffer::boundDescription() const
{
    return QStringLiteral("the queue was full (capacity %1, backpressure %2)")
        .arg(m_capacity)
        .arg(LokiConfig::backpressureName(m_limits.mode));
}
