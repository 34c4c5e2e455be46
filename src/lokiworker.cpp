// SPDX-License-Identifier: MIT
#include "lokiworker_p.h"

#include "batcher_p.h"
#include "clientstatus_p.h"
#include "clockskew_p.h"
#include "counters_p.h"
#include "entrybuffer_p.h"
#include "lokianswer_p.h"
#include "pushtransport_p.h"
#include "retrypolicy_p.h"

#include <QtCore/QDateTime>
#include <QtCore/QRandomGenerator>
#include <QtCore/QTimer>

#include <algorithm>

LokiWorker::LokiWorker(const LokiWorkerContext &context)
    : m_config(context.config)
    , m_buffer(context.buffer)
    , m_counters(context.counters)
    , m_status(context.status)
    , m_encoding(m_config.encoding)
{}

LokiWorker::~LokiWorker() = default;

void LokiWorker::start()
{
    m_transport = new LokiPushTransport(m_config, this);
    m_transport->start();
    connect(m_transport, &LokiPushTransport::finished, this, &LokiWorker::onPushFinished);
    m_slotTimer = new QTimer(this);
    m_slotTimer->setSingleShot(true);
    m_slotTimer->setTimerType(Qt::PreciseTimer);
    connect(m_slotTimer, &QTimer::timeout, this, &LokiWorker::schedule);
    m_waitTimer = new QTimer(this);
    m_waitTimer->setSingleShot(true);
    m_waitTimer->setTimerType(Qt::CoarseTimer);
    connect(m_waitTimer, &QTimer::timeout, this, [this] {
        m_waitDue = true;
        schedule();
    });
    if (m_buffer.syncTimerInterval().count() >= 0) {
        m_syncTimer = new QTimer(this);
        m_syncTimer->setSingleShot(true);
        m_syncTimer->setTimerType(Qt::CoarseTimer);
        connect(m_syncTimer, &QTimer::timeout, this, [this] {
            m_buffer.sync();
            schedule();
        });
    }
}

void LokiWorker::schedule()
{
    if (m_stopped)
        return;
    reportDrops();
    m_status.notifyCounters();
    // Written entries reach the storage at most syncInterval later; no timer runs when nothing waits.
    if (m_syncTimer && !m_syncTimer->isActive() && m_buffer.needsSync())
        m_syncTimer->start(m_buffer.syncTimerInterval());
    for (;;) {
        LokiBatcher::Inputs in;
        in.pushesUnderWay = unresolvedPushes(); // each completion calls schedule() again
        // While a push waits to be retried, Loki (or the way there) is in trouble: no new batch is taken, so
        // the queue fills and backpressure applies as with one push at a time.
        in.maxPushes = openSlots();
        in.bufferEmpty = m_buffer.isEmpty();
        in.fullBatch = !in.bufferEmpty && m_buffer.hasFullBatch();
        in.waitDue = m_waitDue;
        in.flushRequested = !m_flushes.empty();
        switch (LokiBatcher::decide(in)) {
        case LokiBatcher::Action::None:
            return;
        case LokiBatcher::Action::Idle:
            m_waitTimer->stop();
            m_slotTimer->stop(); // nothing under way: no slot to open
            m_waitDue = false;
            finishFlushes();
            // Nothing to send: no timer runs until the next entry wakes us.
            if (m_buffer.armWake(LokiEntryBuffer::WakeWhen::AnyEntry))
                continue;
            m_status.setState(LokiClient::State::Idle);
            return;
        case LokiBatcher::Action::Listen:
            // A free push slot: the next entry starts its batch's wait (the pushes' state stays).
            if (m_buffer.armWake(LokiEntryBuffer::WakeWhen::AnyEntry))
                continue;
            return;
        case LokiBatcher::Action::Dispatch:
            // Then look again: another push slot may be free and more entries waiting.
            if (dispatch())
                continue;
            return;
        case LokiBatcher::Action::Wait:
            if (!m_waitTimer->isActive())
                m_waitTimer->start(m_config.batch.maxWait);
            m_status.setState(LokiClient::State::Sending);
            if (m_buffer.armWake(LokiEntryBuffer::WakeWhen::FullBatch))
                continue;
            return;
        }
    }
}

void LokiWorker::requestFlush(const std::shared_ptr<LokiFlushWaiter> &waiter, qint64 acceptedTarget)
{
    if (m_stopped) {
        waiter->finish(false);
        return;
    }
    // A flush() that gave up waiting left its request behind: forget those, so that a periodic short flush
    // while Loki is away does not grow this list for good.
    m_flushes.erase(std::remove_if(m_flushes.begin(), m_flushes.end(),
                                   [](const PendingFlush &flush) { return flush.waiter->abandoned.load(); }),
                    m_flushes.end());
    m_flushes.push_back({waiter, acceptedTarget, m_counters.failures()});
    finishFlushes();
    schedule();
}

int LokiWorker::unresolvedPushes() const
{
    int count = 0;
    for (const auto &push : m_pushes)
        count += push->resolved ? 0 : 1;
    return count;
}

int LokiWorker::openSlots()
{
    qint64 oldestWaitMs = -1;
    for (const auto &push : m_pushes) {
        if (!push->resolved && push->ticket != 0)
            oldestWaitMs = qMax(oldestWaitMs, push->posted.elapsed());
    }
    const LokiBatcher::Slots window = LokiBatcher::pushSlots(maxInFlight(), unresolvedPushes(), oldestWaitMs,
                                                             anyRetrying(), besideOthersAfterMs);
    if (window.lookAgainInMs >= 0 && !m_slotTimer->isActive())
        m_slotTimer->start(int(window.lookAgainInMs));
    return window.maxPushes;
}

bool LokiWorker::anyRetrying() const
{
    return std::any_of(m_pushes.begin(), m_pushes.end(), [](const auto &push) {
        return !push->resolved && push->ticket == 0 && !push->parts.empty();
    });
}

int LokiWorker::maxInFlight() const
{
    return m_config.batch.maxInFlight;
}

bool LokiWorker::dispatch()
{
    m_waitTimer->stop();
    m_waitDue = false;
    auto push = std::make_unique<Push>();
    push->removedBefore = m_buffer.removedCount();
    std::vector<LokiQueuedEntry> batch;
    m_buffer.takeBatch(batch);
    push->takes = 1;
    // While a backlog waits (more than a batch), the batch grows toward batch.maxBytes: fewer, larger
    // pushes, so that a Loki far away is not asked once per maxEntries. Bounded by 4x maxEntries as well, so
    // that tiny lines do not make one huge request.
    qint64 bytes = 0;
    for (const LokiQueuedEntry &entry : batch)
        bytes += entry.line.size();
    const size_t maxEntries = size_t(m_config.batch.maxEntries) * 4;
    // A batch that may grow gets its room at once: takeBatch() reserves only what it adds, so each growth
    // would move the whole batch into a new allocation (fresh pages, each a page fault).
    if (!batch.empty() && batch.size() < maxEntries && m_buffer.hasFullBatch())
        batch.reserve(maxEntries);
    while (!batch.empty() && batch.size() < maxEntries && m_buffer.hasFullBatch()) {
        const qint64 perEntry = bytes / qint64(batch.size()) + 1;
        if (bytes + perEntry * m_config.batch.maxEntries > m_config.batch.maxBytes ||
            batch.size() + size_t(m_config.batch.maxEntries) > maxEntries)
            break;
        const size_t before = batch.size();
        m_buffer.takeBatch(batch);
        ++push->takes;
        if (batch.size() == before)
            break;
        for (size_t i = before; i < batch.size(); ++i)
            bytes += batch[i].line.size();
    }
    if (batch.empty()) {
        // Every entry read from the spool was too old (or lost): resolved without a push, acknowledged in
        // its turn.
        push->resolved = true;
        m_pushes.push_back(std::move(push));
        acknowledgeResolved();
        reportDrops();
        QMetaObject::invokeMethod(this, &LokiWorker::schedule, Qt::QueuedConnection);
        return false;
    }
    push->parts.push_back(std::move(batch));
    push->clockOffsetNs = m_buffer.clockOffset();
    Push &pushed = *push;
    m_pushes.push_back(std::move(push));
    encodeFront(pushed);
    post(pushed);
    return true;
}

void LokiWorker::encodeFront(Push &push)
{
    push.encoding = m_encoding;
    push.body = LokiPushEncoder::encode(push.parts.front(), push.encoding, m_config.gzipLevel);
    push.attempt = 0;
}

void LokiWorker::post(Push &push)
{
    push.waitingForNetwork = false;
    ++push.attempt;
    push.ticket = m_transport->post(push.body.data, push.body.contentType, push.body.contentEncoding);
    push.posted.start();
    m_status.setState(LokiClient::State::Sending);
}

void LokiWorker::onBackoffTimeout(Push *push)
{
    // The slow timer of a push waiting for the network: a retry like one the network's return sends.
    if (push->waitingForNetwork)
        LokiCounterSet::add(m_counters.retried, 1);
    post(*push);
}

void LokiWorker::startBackoff(Push &push, std::chrono::milliseconds delay, bool precise)
{
    if (!push.backoff) {
        push.backoff = new QTimer(this);
        push.backoff->setSingleShot(true);
        Push *target = &push; // the timer is deleted with its push
        connect(push.backoff, &QTimer::timeout, this, [this, target] { onBackoffTimeout(target); });
    }
    push.backoff->setTimerType(precise ? Qt::PreciseTimer : Qt::CoarseTimer);
    push.backoff->start(delay);
    m_status.setState(LokiClient::State::Retrying);
    m_status.notifyCounters();
}

void LokiWorker::onPushFinished(quint64 ticket, const LokiPushOutcome &outcome)
{
    const auto found = std::find_if(m_pushes.begin(), m_pushes.end(),
                                    [ticket](const auto &push) { return push->ticket == ticket; });
    if (found == m_pushes.end())
        return;
    Push &push = **found;
    push.ticket = 0;
    // Drops wake nobody: every answer is a moment to report them, also while a push retries for long.
    reportDrops();
    learnClock(outcome.date);
    const int status = outcome.httpStatus;
    std::vector<LokiQueuedEntry> &part = push.parts.front();
    const int entries = int(part.size());
    const qint64 clockShift = m_buffer.clockOffset() - push.clockOffsetNs;

    LokiRetry::Context context;
    context.attempt = push.attempt;
    context.entries = entries;
    context.spool = m_buffer.isDurable();
    context.offline = m_offline;
    context.protobuf = push.encoding == LokiConfig::Encoding::ProtobufSnappy;
    context.clockShifted = clockShift != 0 && !push.clockCorrected;
    context.retry = m_config.retry;
    context.random01 = QRandomGenerator::global()->generateDouble();
    context.nowUtc = QDateTime::currentDateTimeUtc();
    const LokiRetry::Decision decision = LokiRetry::decide(outcome, context);

    switch (decision.action) {
    case LokiRetry::Action::Deliver:
        LokiCounterSet::add(m_counters.sent, entries);
        nextPart(push);
        return;
    case LokiRetry::Action::Split: {
        std::vector<LokiQueuedEntry> second(std::make_move_iterator(part.begin() + entries / 2),
                                            std::make_move_iterator(part.end()));
        part.resize(size_t(entries / 2));
        push.parts.insert(push.parts.begin() + 1, std::move(second));
        LokiCounterSet::add(m_counters.splits, 1);
        encodeFront(push);
        post(push);
        return;
    }
    case LokiRetry::Action::CorrectClockAndResend:
        // Refused for its time, stamped before the clock's offset was known: correct it and send it again
        // once.
        for (auto &batchPart : push.parts) {
            for (LokiQueuedEntry &entry : batchPart)
                entry.timestampNs += clockShift;
        }
        push.clockCorrected = true;
        encodeFront(push);
        post(push);
        return;
    case LokiRetry::Action::FallBackToJson:
        // A proxy or an old server that takes only JSON: fall back for good, and say so once (other pushes
        // under way in protobuf meet the same answer).
        if (m_encoding != LokiConfig::Encoding::Json) {
            m_encoding = LokiConfig::Encoding::Json;
            m_status.reportError(
                LokiError(LokiError::Kind::Limit,
                          QStringLiteral("the server refused protobuf (HTTP 415): falling back to JSON "
                                         "for the rest of this client's life; set LokiConfig::encoding "
                                         "to Json to skip the first attempt"),
                          entries, status));
        }
        encodeFront(push);
        post(push);
        return;
    case LokiRetry::Action::FailNow:
    case LokiRetry::Action::RetryAfter:
    case LokiRetry::Action::WaitForNetwork:
        break;
    }

    const LokiError::Kind kind = status == 0 ? LokiError::Kind::Network : LokiError::Kind::Http;
    QString message = outcome.reason;
    if (status != 0 && message.contains(QLatin1String("structured metadata")))
        message += QStringLiteral(" (this server does not take structured metadata: set "
                                  "LokiConfig::structuredMetadata to false)");
    if (outcome.networkError == LokiPushOutcome::NetworkError::Tls)
        message += QStringLiteral(" (a TLS failure is a configuration error and is not retried: check the "
                                  "URL, LokiConfig::sslConfiguration and the server's certificate)");
    // A 400 may refuse only some entries (too old, too long...): Loki stored the rest, and says how many.
    const int refused = status == 400 && outcome.body.size() < LokiPushOutcome::maxBodyBytes
                            ? LokiAnswer::refusedEntries(outcome.body, entries)
                            : -1;
    if (refused >= 0 && refused < entries)
        message += QStringLiteral(" (Loki stored the other %1 of the %2 entries)")
                       .arg(entries - refused)
                       .arg(entries);
    m_status.reportError(LokiError(kind, message, refused >= 0 ? refused : entries, status,
                                   decision.willRetry(), push.attempt));
    if (decision.action == LokiRetry::Action::WaitForNetwork) {
        // Waits for the network, or for the slow timer; the failure used up no attempt.
        --push.attempt;
        push.waitingForNetwork = true;
        startBackoff(push, decision.delay, false);
        return;
    }
    if (decision.action == LokiRetry::Action::RetryAfter) {
        LokiCounterSet::add(m_counters.retried, 1);
        // A server's Retry-After is a floor, not a hint: a coarse timer could fire up to 5% early.
        startBackoff(push, decision.delay, decision.serverAsked);
        return;
    }
    LokiCounterSet::add(m_counters.failed, refused >= 0 ? refused : entries);
    LokiCounterSet::add(m_counters.sent, refused >= 0 ? entries - refused : 0);
    nextPart(push);
}

void LokiWorker::setNetworkReachable(bool reachable)
{
    m_offline = !reachable;
    if (!reachable || m_stopped || !m_transport)
        return;
    // Pushes that wait for the network or for their backoff: the network is back, so send them now.
    for (const auto &push : m_pushes) {
        if (push->resolved || push->ticket != 0)
            continue;
        if (push->waitingForNetwork || (push->backoff && push->backoff->isActive())) {
            if (push->waitingForNetwork) // a retry scheduled by a backoff was counted when it was
                LokiCounterSet::add(m_counters.retried, 1);
            if (push->backoff)
                push->backoff->stop();
            post(*push);
        }
    }
}

bool LokiWorker::isWaitingForNetwork() const
{
    return std::any_of(m_pushes.begin(), m_pushes.end(),
                       [](const auto &push) { return !push->resolved && push->waitingForNetwork; });
}

void LokiWorker::learnClock(const QByteArray &date)
{
    const auto change =
        LokiClockSkew::learn(date, QDateTime::currentDateTimeUtc(), m_buffer.clockOffset() / 1000000,
                             m_config.clockSkewThreshold.count());
    if (!change)
        return;
    m_buffer.setClockOffset(change->offsetMs * 1000000);
    m_status.reportError(LokiError(LokiError::Kind::Limit, change->message));
}

void LokiWorker::nextPart(Push &push)
{
    push.parts.pop_front();
    push.body = LokiPushEncoder::Body();
    push.attempt = 0;
    if (!push.parts.empty()) {
        encodeFront(push);
        post(push);
        return;
    }
    push.resolved = true;
    delete push.backoff;
    push.backoff = nullptr;
    acknowledgeResolved();
    schedule();
}

void LokiWorker::acknowledgeResolved()
{
    // In the order taken: a later batch answered first frees nothing until the earlier ones are resolved.
    while (!m_pushes.empty() && m_pushes.front()->resolved) {
        // One acknowledgement per batch the buffer handed out (a grown batch is several).
        for (int i = 0; i < m_pushes.front()->takes; ++i)
            m_buffer.acknowledge();
        m_pushes.erase(m_pushes.begin());
    }
    finishFlushes();
}

void LokiWorker::finishFlushes()
{
    if (m_flushes.empty())
        return;
    // A flush is done when everything accepted before it left the buffer and no batch still under way
    // holds any of it.
    const qint64 removed = m_buffer.removedCount();
    qint64 unresolvedFrom = std::numeric_limits<qint64>::max();
    for (const auto &push : m_pushes) {
        if (!push->resolved)
            unresolvedFrom = qMin(unresolvedFrom, push->removedBefore);
    }
    const qint64 failures = m_counters.failures();
    for (auto it = m_flushes.begin(); it != m_flushes.end();) {
        if (removed >= it->target && unresolvedFrom >= it->target) {
            it->waiter->finish(failures == it->failuresAtStart);
            it = m_flushes.erase(it);
        } else {
            ++it;
        }
    }
}

void LokiWorker::reportDrops()
{
    const qint64 expired = m_counters.expired.load();
    if (expired != m_reportedExpired) {
        const qint64 delta = expired - m_reportedExpired;
        m_reportedExpired = expired;
        m_status.reportError(
            LokiError(LokiError::Kind::Dropped,
                      QStringLiteral("spooled entries older than spool.maxAge (%1 h) were dropped: "
                                     "Loki refuses entries that old")
                          .arg(m_config.spool.maxAge.count() / 3600000.0),
                      int(qMin<qint64>(delta, std::numeric_limits<int>::max()))));
    }
    const qint64 drops =
        m_counters.droppedNew.load() + m_counters.droppedOldest.load() + m_counters.timedOut.load();
    if (drops != m_reportedDrops) {
        const qint64 delta = drops - m_reportedDrops;
        m_reportedDrops = drops;
        m_status.reportError(LokiError(LokiError::Kind::Dropped, m_buffer.boundDescription(),
                                       int(qMin<qint64>(delta, std::numeric_limits<int>::max()))));
    }
    // Refused because the spool's file system could not take them: its own reason, in the system's words.
    const qint64 noSpace = m_counters.droppedNoSpace.load();
    if (noSpace != m_reportedNoSpace) {
        const qint64 delta = noSpace - m_reportedNoSpace;
        m_reportedNoSpace = noSpace;
        m_status.reportError(LokiError(
            LokiError::Kind::Dropped,
            QStringLiteral("refused: the spool could not write them (%1)").arg(m_buffer.lastWriteError()),
            int(qMin<qint64>(delta, std::numeric_limits<int>::max()))));
    }
}

int LokiWorker::activeTimers() const
{
    int backoffs = 0;
    for (const auto &push : m_pushes)
        backoffs += push->backoff && push->backoff->isActive() ? 1 : 0;
    return (m_waitTimer && m_waitTimer->isActive() ? 1 : 0) + backoffs +
           (m_slotTimer && m_slotTimer->isActive() ? 1 : 0) +
           (m_syncTimer && m_syncTimer->isActive() ? 1 : 0);
}

void LokiWorker::shutdown()
{
    if (m_stopped)
        return;
    reportDrops();
    m_stopped = true;
    m_waitTimer->stop();
    m_slotTimer->stop();
    if (m_syncTimer)
        m_syncTimer->stop();
    if (m_transport)
        m_transport->abortAll();
    // What was taken and is not resolved: the resolved ones behind it were delivered (or failed) already.
    qint64 inFlight = 0;
    for (const auto &push : m_pushes) {
        if (push->resolved)
            continue;
        for (const auto &part : push->parts)
            inFlight += qint64(part.size());
    }
    for (const auto &push : m_pushes)
        delete push->backoff;
    m_pushes.clear();
    const LokiEntryBuffer::Leftovers left = m_buffer.shutdownLeftovers(inFlight);
    if (left.kept > 0)
        m_status.reportError(
            LokiError(LokiError::Kind::Spool,
                      QStringLiteral("undelivered when close() reached its deadline: kept in "
                                     "%1 for the next start")
                          .arg(left.keptIn),
                      int(qMin<qint64>(left.kept, std::numeric_limits<int>::max()))));
    if (left.lost > 0) {
        LokiCounterSet::add(m_counters.droppedClosed, left.lost);
        m_status.reportError(LokiError(LokiError::Kind::Dropped,
                                       QStringLiteral("undelivered when close() reached its deadline"),
                                       int(qMin<qint64>(left.lost, std::numeric_limits<int>::max()))));
    }
    for (PendingFlush &flush : m_flushes)
        flush.waiter->finish(false);
    m_flushes.clear();
    delete m_transport;
    m_transport = nullptr;
    delete m_waitTimer;
    m_waitTimer = nullptr;
    delete m_slotTimer;
    m_slotTimer = nullptr;
    delete m_syncTimer;
    m_syncTimer = nullptr;
    m_status.notifyCounters();
}
