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
    m_waitTimer = new QTimer(this);
    m_waitTimer->setSingleShot(true);
    m_waitTimer->setTimerType(Qt::CoarseTimer);
    connect(m_waitTimer, &QTimer::timeout, this, [this] {
        m_waitDue = true;
        schedule();
    });
    m_backoffTimer = new QTimer(this);
    m_backoffTimer->setSingleShot(true);
    connect(m_backoffTimer, &QTimer::timeout, this, &LokiWorker::onBackoffTimeout);
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
        in.batchUnderWay = batchUnderWay(); // its completion calls schedule() again
        in.bufferEmpty = m_buffer.isEmpty();
        in.fullBatch = !in.bufferEmpty && m_buffer.hasFullBatch();
        in.waitDue = m_waitDue;
        in.flushRequested = !m_flushes.empty();
        switch (LokiBatcher::decide(in)) {
        case LokiBatcher::Action::None:
            return;
        case LokiBatcher::Action::Idle:
            m_waitTimer->stop();
            m_waitDue = false;
            finishFlushes();
            // Nothing to send: no timer runs until the next entry wakes us.
            if (m_buffer.armWake(LokiEntryBuffer::WakeWhen::AnyEntry))
                continue;
            m_status.setState(LokiClient::State::Idle);
            return;
        case LokiBatcher::Action::Dispatch:
            dispatch();
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

void LokiWorker::dispatch()
{
    m_waitTimer->stop();
    m_waitDue = false;
    std::vector<LokiQueuedEntry> batch;
    m_buffer.takeBatch(batch);
    if (batch.empty()) {
        // Every entry read from the spool was too old (or lost): resolved without a push.
        m_buffer.acknowledge();
        reportDrops();
        finishFlushes();
        QMetaObject::invokeMethod(this, &LokiWorker::schedule, Qt::QueuedConnection);
        return;
    }
    m_parts.push_back(std::move(batch));
    m_batchClockOffsetNs = m_buffer.clockOffset();
    m_batchClockCorrected = false;
    encodeFront();
    post();
}

void LokiWorker::encodeFront()
{
    m_body = LokiPushEncoder::encode(m_parts.front(), m_encoding, m_config.gzipLevel);
    m_attempt = 0;
}

void LokiWorker::post()
{
    m_waitingForNetwork = false;
    ++m_attempt;
    m_transport->post(m_body.data, m_body.contentType, m_body.contentEncoding);
    m_status.setState(LokiClient::State::Sending);
}

void LokiWorker::onBackoffTimeout()
{
    // The slow timer of a push waiting for the network: a retry like one the network's return sends.
    if (m_waitingForNetwork)
        LokiCounterSet::add(m_counters.retried, 1);
    post();
}

void LokiWorker::onPushFinished(const LokiPushOutcome &outcome)
{
    learnClock(outcome.date);
    const int status = outcome.httpStatus;
    std::vector<LokiQueuedEntry> &part = m_parts.front();
    const int entries = int(part.size());
    const qint64 clockShift = m_buffer.clockOffset() - m_batchClockOffsetNs;

    LokiRetry::Context context;
    context.attempt = m_attempt;
    context.entries = entries;
    context.spool = m_buffer.isDurable();
    context.offline = m_offline;
    context.protobuf = m_encoding == LokiConfig::Encoding::ProtobufSnappy;
    context.clockShifted = clockShift != 0 && !m_batchClockCorrected;
    context.retry = m_config.retry;
    context.random01 = QRandomGenerator::global()->generateDouble();
    context.nowUtc = QDateTime::currentDateTimeUtc();
    const LokiRetry::Decision decision = LokiRetry::decide(outcome, context);

    switch (decision.action) {
    case LokiRetry::Action::Deliver:
        LokiCounterSet::add(m_counters.sent, entries);
        nextPart();
        return;
    case LokiRetry::Action::Split: {
        std::vector<LokiQueuedEntry> second(std::make_move_iterator(part.begin() + entries / 2),
                                            std::make_move_iterator(part.end()));
        part.resize(size_t(entries / 2));
        m_parts.insert(m_parts.begin() + 1, std::move(second));
        LokiCounterSet::add(m_counters.splits, 1);
        encodeFront();
        post();
        return;
    }
    case LokiRetry::Action::CorrectClockAndResend:
        // Refused for its time, stamped before the clock's offset was known: correct it and send it again
        // once.
        for (auto &batchPart : m_parts) {
            for (LokiQueuedEntry &entry : batchPart)
                entry.timestampNs += clockShift;
        }
        m_batchClockCorrected = true;
        encodeFront();
        post();
        return;
    case LokiRetry::Action::FallBackToJson:
        // A proxy or an old server that takes only JSON: fall back for good, and say so once.
        m_encoding = LokiConfig::Encoding::Json;
        m_status.reportError(
            LokiError(LokiError::Kind::Limit,
                      QStringLiteral("the server refused protobuf (HTTP 415): falling back to JSON "
                                     "for the rest of this client's life; set LokiConfig::encoding "
                                     "to Json to skip the first attempt"),
                      entries, status));
        encodeFront();
        post();
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
    m_status.reportError(
        LokiError(kind, message, refused >= 0 ? refused : entries, status, decision.willRetry(), m_attempt));
    if (decision.action == LokiRetry::Action::WaitForNetwork) {
        // Waits for the network, or for the slow timer; the failure used up no attempt.
        --m_attempt;
        m_waitingForNetwork = true;
        m_backoffTimer->setTimerType(Qt::CoarseTimer);
        m_backoffTimer->start(decision.delay);
        m_status.setState(LokiClient::State::Retrying);
        m_status.notifyCounters();
        return;
    }
    if (decision.action == LokiRetry::Action::RetryAfter) {
        LokiCounterSet::add(m_counters.retried, 1);
        // A server's Retry-After is a floor, not a hint: a coarse timer could fire up to 5% early.
        m_backoffTimer->setTimerType(decision.serverAsked ? Qt::PreciseTimer : Qt::CoarseTimer);
        m_backoffTimer->start(decision.delay);
        m_status.setState(LokiClient::State::Retrying);
        m_status.notifyCounters();
        return;
    }
    LokiCounterSet::add(m_counters.failed, refused >= 0 ? refused : entries);
    LokiCounterSet::add(m_counters.sent, refused >= 0 ? entries - refused : 0);
    nextPart();
}

void LokiWorker::setNetworkReachable(bool reachable)
{
    m_offline = !reachable;
    if (!reachable || m_stopped || !batchUnderWay() || !m_transport || m_transport->isBusy())
        return;
    // A push waits for the network or for its backoff: the network is back, so send it now.
    if (m_waitingForNetwork || m_backoffTimer->isActive()) {
        if (m_waitingForNetwork) // a retry scheduled by a backoff was counted when it was
            LokiCounterSet::add(m_counters.retried, 1);
        m_backoffTimer->stop();
        post();
    }
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

void LokiWorker::nextPart()
{
    m_parts.pop_front();
    m_body = LokiPushEncoder::Body();
    m_attempt = 0;
    if (!m_parts.empty()) {
        encodeFront();
        post();
        return;
    }
    m_buffer.acknowledge();
    finishFlushes();
    schedule();
}

void LokiWorker::finishFlushes()
{
    if (m_flushes.empty() || batchUnderWay())
        return;
    const qint64 removed = m_buffer.removedCount();
    const qint64 failures = m_counters.failures();
    for (auto it = m_flushes.begin(); it != m_flushes.end();) {
        if (removed >= it->target) {
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
    return (m_waitTimer && m_waitTimer->isActive() ? 1 : 0) +
           (m_backoffTimer && m_backoffTimer->isActive() ? 1 : 0) +
           (m_syncTimer && m_syncTimer->isActive() ? 1 : 0);
}

void LokiWorker::shutdown()
{
    if (m_stopped)
        return;
    reportDrops();
    m_stopped = true;
    m_waitTimer->stop();
    m_backoffTimer->stop();
    if (m_syncTimer)
        m_syncTimer->stop();
    if (m_transport)
        m_transport->abort();
    qint64 inFlight = 0;
    for (const auto &part : m_parts)
        inFlight += qint64(part.size());
    m_parts.clear();
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
    delete m_backoffTimer;
    m_backoffTimer = nullptr;
    delete m_syncTimer;
    m_syncTimer = nullptr;
    m_status.notifyCounters();
}
