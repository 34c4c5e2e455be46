// SPDX-License-Identifier: MIT
#include "lokiworker_p.h"

#include "lokiclient_p.h"
#include "retrypolicy_p.h"
#include "sockettuning_p.h"

#include <QtCore/QDateTime>
#include <QtCore/QRandomGenerator>
#include <QtCore/QTimer>
#include <QtNetwork/QHostInfo>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>

namespace {
// The most of an error answer that is read: enough for Loki's reasons, too little to exhaust memory.
constexpr qint64 maxErrorBodyBytes = 64 * 1024;
constexpr int maxReasonChars = 1024;

QString reasonText(const QByteArray &body, const QString &fallback)
{
    QString text = QString::fromUtf8(body).trimmed();
    if (text.isEmpty())
        return fallback;
    if (text.size() > maxReasonChars)
        text = text.left(maxReasonChars) + QStringLiteral("...");
    return text;
}
} // namespace

LokiWorker::LokiWorker(LokiClientPrivate *d)
    : d(d)
    , m_encoding(d->config.encoding)
{
    // Credentials: explicit settings first, else the user info of the URL (which never goes out in the URL).
    const LokiConfig &c = d->config;
    QString user = c.basicAuthUser;
    QString password = c.basicAuthPassword;
    if (user.isEmpty() && !c.url.userName().isEmpty()) {
        user = c.url.userName();
        password = c.url.password();
    }
    if (!user.isEmpty())
        m_authorization = "Basic " + (user + QLatin1Char(':') + password).toUtf8().toBase64();
    else if (!c.bearerToken.isEmpty())
        m_authorization = "Bearer " + c.bearerToken.toUtf8();
}

LokiWorker::~LokiWorker() = default;

void LokiWorker::start()
{
    m_nam = new QNetworkAccessManager(this);
    m_nam->setRedirectPolicy(QNetworkRequest::SameOriginRedirectPolicy);
    m_waitTimer = new QTimer(this);
    m_waitTimer->setSingleShot(true);
    m_waitTimer->setTimerType(Qt::CoarseTimer);
    connect(m_waitTimer, &QTimer::timeout, this, [this] {
        m_waitDue = true;
        schedule();
    });
    const QHostAddress literal(d->pushUrl.host());
    if (!literal.isNull()) {
        m_lokiAddresses = {literal};
    } else {
        QHostInfo::lookupHost(d->pushUrl.host(), this,
                              [this](const QHostInfo &info) { m_lokiAddresses = info.addresses(); });
    }
    m_backoffTimer = new QTimer(this);
    m_backoffTimer->setSingleShot(true);
    connect(m_backoffTimer, &QTimer::timeout, this, &LokiWorker::post);
    if (d->buffer->syncTimerInterval().count() >= 0) {
        m_syncTimer = new QTimer(this);
        m_syncTimer->setSingleShot(true);
        m_syncTimer->setTimerType(Qt::CoarseTimer);
        connect(m_syncTimer, &QTimer::timeout, this, [this] {
            d->buffer->sync();
            schedule();
        });
    }
}

void LokiWorker::schedule()
{
    if (m_stopped)
        return;
    reportDrops();
    d->notifyCounters();
    // Written entries reach the storage at most syncInterval later; no timer runs when nothing waits.
    if (m_syncTimer && !m_syncTimer->isActive() && d->buffer->needsSync())
        m_syncTimer->start(d->buffer->syncTimerInterval());
    if (batchUnderWay())
        return; // its completion calls schedule() again
    for (;;) {
        if (d->buffer->isEmpty()) {
            m_waitTimer->stop();
            m_waitDue = false;
            finishFlushes();
            // Nothing to send: no timer runs until the next entry wakes us.
            if (d->buffer->armWake(LokiEntryBuffer::WakeWhen::AnyEntry))
                continue;
            d->setState(LokiClient::State::Idle);
            return;
        }
        if (!m_flushes.empty() || m_waitDue || d->buffer->hasFullBatch()) {
            dispatch();
            return;
        }
        if (!m_waitTimer->isActive())
            m_waitTimer->start(d->config.batch.maxWait);
        d->setState(LokiClient::State::Sending);
        if (d->buffer->armWake(LokiEntryBuffer::WakeWhen::FullBatch))
            continue;
        return;
    }
}

void LokiWorker::requestFlush(const std::shared_ptr<LokiFlushWaiter> &waiter, qint64 acceptedTarget)
{
    if (m_stopped) {
        waiter->finish(false);
        return;
    }
    m_flushes.push_back({waiter, acceptedTarget, d->failuresSoFar()});
    finishFlushes();
    schedule();
}

void LokiWorker::dispatch()
{
    m_waitTimer->stop();
    m_waitDue = false;
    std::vector<LokiQueuedEntry> batch;
    d->buffer->takeBatch(batch);
    if (batch.empty()) {
        // Every entry read from the spool was too old (or lost): resolved without a push.
        d->buffer->acknowledge();
        reportDrops();
        finishFlushes();
        QMetaObject::invokeMethod(this, &LokiWorker::schedule, Qt::QueuedConnection);
        return;
    }
    m_parts.push_back(std::move(batch));
    m_batchClockOffsetNs = d->buffer->clockOffset();
    m_batchClockCorrected = false;
    encodeFront();
    post();
}

void LokiWorker::encodeFront()
{
    m_body = LokiPushEncoder::encode(m_parts.front(), m_encoding, d->config.gzipLevel);
    m_attempt = 0;
}

QNetworkRequest LokiWorker::makeRequest() const
{
    QNetworkRequest request(d->pushUrl);
    request.setHeader(QNetworkRequest::ContentTypeHeader, m_body.contentType);
    if (!m_body.contentEncoding.isEmpty())
        request.setRawHeader(QByteArrayLiteral("Content-Encoding"), m_body.contentEncoding);
    if (!d->config.tenant.isEmpty())
        request.setRawHeader(QByteArrayLiteral("X-Scope-OrgID"), d->config.tenant.toUtf8());
    if (!m_authorization.isEmpty())
        request.setRawHeader(QByteArrayLiteral("Authorization"), m_authorization);
    for (const auto &header : d->config.headers)
        request.setRawHeader(header.first, header.second);
#if QT_CONFIG(ssl)
    if (!d->config.sslConfiguration.isNull())
        request.setSslConfiguration(d->config.sslConfiguration);
#endif
    request.setTransferTimeout(int(d->config.requestTimeout.count()));
    return request;
}

void LokiWorker::post()
{
    m_waitingForNetwork = false;
    ++m_attempt;
    m_reply = m_nam->post(makeRequest(), m_body.data);
    m_pushClock.start();
    connect(m_reply, &QNetworkReply::finished, this, &LokiWorker::onReplyFinished);
#if QT_VERSION >= QT_VERSION_CHECK(6, 3, 0)
    connect(m_reply, &QNetworkReply::socketStartedConnecting, this, [this] { m_newConnection = true; });
#endif
    d->setState(LokiClient::State::Sending);
}

void LokiWorker::onReplyFinished()
{
    QNetworkReply *reply = m_reply;
    m_reply = nullptr;
    reply->deleteLater();
    tuneSockets();
    learnClock(reply);
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const auto disposition = LokiRetry::classify(status);
    std::vector<LokiQueuedEntry> &part = m_parts.front();
    const int entries = int(part.size());

    if (disposition == LokiRetry::Disposition::Delivered) {
        LokiCounterSet::add(d->counters.sent, entries);
        nextPart();
        return;
    }

    const QByteArray body = status ? reply->read(maxErrorBodyBytes) : QByteArray();
    if (LokiRetry::isTooLarge(status, body) && entries > 1) {
        // The server (or a gateway) refuses the size, not the content: send the halves, down to single
        // entries.
        std::vector<LokiQueuedEntry> second(std::make_move_iterator(part.begin() + entries / 2),
                                            std::make_move_iterator(part.end()));
        part.resize(size_t(entries / 2));
        m_parts.insert(m_parts.begin() + 1, std::move(second));
        LokiCounterSet::add(d->counters.splits, 1);
        encodeFront();
        post();
        return;
    }
    const qint64 clockShift = d->buffer->clockOffset() - m_batchClockOffsetNs;
    if (status == 400 && clockShift != 0 && !m_batchClockCorrected &&
        (body.contains("timestamp too old") || body.contains("timestamp too new"))) {
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
    }
    if (status == 415 && m_encoding == LokiConfig::Encoding::ProtobufSnappy) {
        // A proxy or an old server that takes only JSON: fall back for good, and say so once.
        m_encoding = LokiConfig::Encoding::Json;
        d->reportError(
            LokiError(LokiError::Kind::Limit,
                      QStringLiteral("the server refused protobuf (HTTP 415): falling back to JSON "
                                     "for the rest of this client's life; set LokiConfig::encoding "
                                     "to Json to skip the first attempt"),
                      entries, status));
        encodeFront();
        post();
        return;
    }

    LokiError::Kind kind = LokiError::Kind::Http;
    QString message;
    if (status == 0) {
        kind = LokiError::Kind::Network;
        message = reply->errorString();
    } else {
        message = reasonText(body, reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString());
        if (message.contains(QLatin1String("structured metadata")))
            message += QStringLiteral(" (this server does not take structured metadata: set "
                                      "LokiConfig::structuredMetadata to false)");
    }
    message = d->redact(message);
    // Without a network, retrying is pointless and would use up the attempts: wait for the network.
    const bool waitForNetwork = status == 0 && m_offline;
    // With a spool, a transient failure never fails the batch: it stays on disk and is retried (at most
    // every maxBackoff) until delivered, or until the client closes and leaves it for the next start.
    const bool retry = disposition == LokiRetry::Disposition::Retry &&
                       (m_attempt < d->config.retry.maxAttempts || waitForNetwork || d->buffer->isDurable());
    d->reportError(LokiError(kind, message, entries, status, retry, m_attempt));
    if (waitForNetwork) {
        --m_attempt;
        m_waitingForNetwork = true;
        d->setState(LokiClient::State::Retrying);
        d->notifyCounters();
        return;
    }
    if (retry) {
        LokiCounterSet::add(d->counters.retried, 1);
        const auto delay =
            LokiRetry::backoffDelay(d->config.retry, m_attempt, QRandomGenerator::global()->generateDouble());
        // A server (or the gateway in front of Loki) that says when to come back is believed, within
        // maxBackoff.
        const auto asked =
            (status == 429 || status == 503)
                ? LokiRetry::retryAfterDelay(reply->rawHeader(QByteArrayLiteral("Retry-After")),
                                             QDateTime::currentDateTimeUtc(), d->config.retry.maxBackoff)
                : std::chrono::milliseconds(-1);
        m_backoffTimer->start(asked.count() >= 0 ? asked : delay);
        d->setState(LokiClient::State::Retrying);
        d->notifyCounters();
        return;
    }
    LokiCounterSet::add(d->counters.failed, entries);
    nextPart();
}

void LokiWorker::setNetworkReachable(bool reachable)
{
    m_offline = !reachable;
    if (!reachable || m_stopped || !batchUnderWay() || m_reply)
        return;
    // A push waits for the network or for its backoff: the network is back, so send it now.
    if (m_waitingForNetwork || m_backoffTimer->isActive()) {
        if (m_waitingForNetwork) // a retry scheduled by a backoff was counted when it was
            LokiCounterSet::add(d->counters.retried, 1);
        m_backoffTimer->stop();
        post();
    }
}

void LokiWorker::tuneSockets()
{
    // After a new connection (Qt 6.3+ says when), or a push slow enough to have met Nagle (at most once a
    // second, for older Qt and for connections Qt opened without telling): see sockettuning_p.h.
    const bool slow = m_pushClock.isValid() && m_pushClock.elapsed() >= 30 &&
                      (!m_lastTuning.isValid() || m_lastTuning.elapsed() >= 1000);
    if (!m_newConnection && !slow)
        return;
    m_newConnection = false;
    m_lastTuning.start();
    const int defaultPort = d->pushUrl.scheme() == QLatin1String("https") ? 443 : 80;
    LokiSocketTuning::disableNagleToward(m_lokiAddresses, quint16(d->pushUrl.port(defaultPort)));
}

void LokiWorker::learnClock(const QNetworkReply *reply)
{
    const qint64 thresholdMs = d->config.clockSkewThreshold.count();
    if (thresholdMs <= 0 || !reply->hasRawHeader(QByteArrayLiteral("Date")))
        return;
    QDateTime server = QDateTime::fromString(QString::fromLatin1(reply->rawHeader(QByteArrayLiteral("Date"))),
                                             QStringLiteral("ddd, dd MMM yyyy hh:mm:ss 'GMT'"));
    if (!server.isValid())
        return;
    server.setTimeSpec(Qt::UTC);
    const qint64 measuredMs = QDateTime::currentDateTimeUtc().msecsTo(server);
    const qint64 currentMs = d->buffer->clockOffset() / 1000000;
    // Date has a resolution of one second and arrives late by the answer's transit: only a difference beyond
    // the threshold counts, both to start correcting and to change (or end) a correction.
    if (qAbs(measuredMs - currentMs) <= thresholdMs)
        return;
    const qint64 offsetMs = qAbs(measuredMs) > thresholdMs ? measuredMs : 0;
    d->buffer->setClockOffset(offsetMs * 1000000);
    d->reportError(LokiError(LokiError::Kind::Limit,
                             offsetMs
                                 ? QStringLiteral("this device's clock is %1 s behind Loki's (from its Date "
                                                  "header): timestamps are corrected by that")
                                       .arg(offsetMs / 1000)
                                 : QStringLiteral("this device's clock agrees with Loki's again: timestamps "
                                                  "are no longer corrected")));
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
    d->buffer->acknowledge();
    finishFlushes();
    schedule();
}

void LokiWorker::finishFlushes()
{
    if (m_flushes.empty() || batchUnderWay())
        return;
    const qint64 removed = d->buffer->removedCount();
    const qint64 failures = d->failuresSoFar();
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
    const qint64 expired = d->counters.expired.load();
    if (expired != m_reportedExpired) {
        const qint64 delta = expired - m_reportedExpired;
        m_reportedExpired = expired;
        d->reportError(
            LokiError(LokiError::Kind::Dropped,
                      QStringLiteral("spooled entries older than spool.maxAge (%1 h) were dropped: "
                                     "Loki refuses entries that old")
                          .arg(d->config.spool.maxAge.count() / 3600000.0),
                      int(qMin<qint64>(delta, std::numeric_limits<int>::max()))));
    }
    const qint64 drops =
        d->counters.droppedNew.load() + d->counters.droppedOldest.load() + d->counters.timedOut.load();
    if (drops != m_reportedDrops) {
        const qint64 delta = drops - m_reportedDrops;
        m_reportedDrops = drops;
        d->reportError(LokiError(LokiError::Kind::Dropped, d->buffer->boundDescription(),
                                 int(qMin<qint64>(delta, std::numeric_limits<int>::max()))));
    }
    // Refused because the spool's file system could not take them: its own reason, in the system's words.
    const qint64 noSpace = d->counters.droppedNoSpace.load();
    if (noSpace != m_reportedNoSpace) {
        const qint64 delta = noSpace - m_reportedNoSpace;
        m_reportedNoSpace = noSpace;
        d->reportError(LokiError(
            LokiError::Kind::Dropped,
            QStringLiteral("refused: the spool could not write them (%1)").arg(d->buffer->lastWriteError()),
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
    if (m_reply) {
        disconnect(m_reply, nullptr, this, nullptr);
        m_reply->abort();
        delete m_reply;
        m_reply = nullptr;
    }
    qint64 inFlight = 0;
    for (const auto &part : m_parts)
        inFlight += qint64(part.size());
    m_parts.clear();
    const LokiEntryBuffer::Leftovers left = d->buffer->shutdownLeftovers(inFlight);
    if (left.kept > 0)
        d->reportError(LokiError(LokiError::Kind::Spool,
                                 QStringLiteral("undelivered when close() reached its deadline: kept in "
                                                "%1 for the next start")
                                     .arg(left.keptIn),
                                 int(qMin<qint64>(left.kept, std::numeric_limits<int>::max()))));
    if (left.lost > 0) {
        LokiCounterSet::add(d->counters.droppedClosed, left.lost);
        d->reportError(LokiError(LokiError::Kind::Dropped,
                                 QStringLiteral("undelivered when close() reached its deadline"),
                                 int(qMin<qint64>(left.lost, std::numeric_limits<int>::max()))));
    }
    for (PendingFlush &flush : m_flushes)
        flush.waiter->finish(false);
    m_flushes.clear();
    delete m_nam;
    m_nam = nullptr;
    delete m_waitTimer;
    m_waitTimer = nullptr;
    delete m_backoffTimer;
    m_backoffTimer = nullptr;
    delete m_syncTimer;
    m_syncTimer = nullptr;
    d->notifyCounters();
}
