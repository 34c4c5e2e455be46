// SPDX-License-Identifier: MIT
#include <lokiqt/lokiclient.h>

#include "lokiclient_p.h"
#include "lokiworker_p.h"
#include "memorybuffer_p.h"
#include "spoolbuffer_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QMetaObject>
#include <QtNetwork/QNetworkInformation>

// Debug output of the client is off unless enabled (QT_LOGGING_RULES="lokiqt.*.debug=true").
Q_LOGGING_CATEGORY(lcLoki, "lokiqt.client", QtInfoMsg)

namespace {

LokiEntryBuffer::Limits bufferLimits(const LokiConfig &config)
{
    LokiEntryBuffer::Limits limits;
    limits.batchEntries = qMax(1, config.batch.maxEntries);
    limits.batchBytes = qMax<qint64>(1, config.batch.maxBytes);
    limits.mode = config.backpressure;
    limits.blockTimeout = config.blockTimeout;
    return limits;
}

QString validateConfig(const LokiConfig &config)
{
    QString why;
    return config.isValid(&why) ? QString() : why;
}

// Loki refuses a stream without labels; give such entries the one label Loki 3 would derive itself.
LokiRender::LabelMap withFallbackLabel(LokiRender::LabelMap labels)
{
    if (labels.isEmpty()) {
        QString name = QCoreApplication::applicationName();
        labels.insert(QStringLiteral("service_name"),
                      name.isEmpty() ? QStringLiteral("unknown_service") : name);
    }
    return labels;
}
} // namespace

LokiClientPrivate::LokiClientPrivate(LokiClient *q, const LokiConfig &config)
    : q_ptr(q)
    , config(config)
    , configError(validateConfig(config))
    , pushUrl(config.pushUrl().adjusted(QUrl::RemoveUserInfo))
{
    defaultStream = intern(withFallbackLabel(config.labels));
}

const LokiStreamInfo *LokiClientPrivate::streamFor(const LokiRender::LabelMap &labels, LokiMetadata *metadata,
                                                   QString *line)
{
    if (const LokiStreamInfo *stream = intern(labels, config.limits.maxStreams))
        return stream;
    // Over the cap: the labels beyond the static ones travel as metadata (or in the line), in the static
    // stream.
    for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
        if (config.labels.value(it.key()) == it.value())
            continue;
        if (config.structuredMetadata) {
            metadata->append({it.key().toUtf8(), it.value().toUtf8()});
        } else if (config.lineFormat == LokiConfig::LineFormat::Json && line->endsWith(QLatin1Char('}'))) {
            QByteArray pair(",\"");
            LokiRender::appendJsonEscaped(pair, it.key().toUtf8());
            pair += "\":\"";
            LokiRender::appendJsonEscaped(pair, it.value().toUtf8());
            pair += '"';
            line->insert(line->size() - 1, QString::fromUtf8(pair));
        } else {
            *line = LokiRender::renderLine(*line, {{LokiRender::logfmtKey(it.key()), it.value()}});
        }
    }
    if (counters.demoted.fetch_add(1) == 0)
        reportError(
            LokiError(LokiError::Kind::Limit,
                      QStringLiteral("more than %1 streams (LokiConfig::limits.maxStreams): extra labels "
                                     "now go into %2 instead of creating streams (reported once; "
                                     "counted in Counters::demoted)")
                          .arg(config.limits.maxStreams)
                          .arg(config.structuredMetadata ? QStringLiteral("structured metadata")
                                                         : QStringLiteral("the line")),
                      1));
    return defaultStream;
}

QString LokiClientPrivate::redact(QString text) const
{
    const QString hidden = QStringLiteral("<redacted>");
    if (!config.url.userInfo().isEmpty()) {
        text.replace(config.url.toString(), config.url.toString(QUrl::RemoveUserInfo));
        text.replace(config.pushUrl().toString(), pushUrl.toString());
    }
    QStringList secrets{config.basicAuthPassword, config.bearerToken, config.url.password()};
    for (const auto &header : config.headers)
        secrets << QString::fromUtf8(header.second);
    for (const QString &secret : std::as_const(secrets)) {
        if (secret.size() >= 3) // shorter strings would blank out ordinary words
            text.replace(secret, hidden);
    }
    return text;
}

const LokiStreamInfo *LokiClientPrivate::internRaw(const QByteArray &key, const QByteArray &json)
{
    QMutexLocker lock(&streamsMutex);
    auto it = streams.constFind(key);
    if (it != streams.constEnd())
        return it.value();
    auto *info = new LokiStreamInfo{key, json};
    streams.insert(key, info);
    return info;
}

void LokiClientPrivate::openBuffer()
{
    if (!config.spool.directory.isEmpty() && configError.isEmpty()) {
        LokiSpoolBuffer::Options options;
        options.directory = config.spool.directory;
        options.maxBytes = config.spool.maxBytes;
        options.segmentBytes = config.spool.segmentBytes;
        options.sync = config.spool.sync;
        options.syncInterval = config.spool.syncInterval;
        options.maxAge = config.spool.maxAge;
        options.syncEntries = qMax(1, config.batch.maxEntries);
        options.syncBytes = qMax<qint64>(1, config.batch.maxBytes);
        auto spool = std::make_unique<LokiSpoolBuffer>(
            options, bufferLimits(config), &counters,
            [this](const QByteArray &key, const QByteArray &json) { return internRaw(key, json); },
            [this](const QString &message) { reportError(LokiError(LokiError::Kind::Spool, message)); });
        QString why;
        if (spool->open(&why)) {
            counters.replayed.store(spool->replayedCount());
            if (spool->replayedCount() > 0)
                qCInfo(lcLoki, "%lld entries left in the spool by an earlier run are sent first",
                       spool->replayedCount());
            buffer = std::move(spool);
            return;
        }
        qCWarning(lcLoki, "%s; entries are kept in memory only", qPrintable(why));
        reportError(
            LokiError(LokiError::Kind::Spool, why + QStringLiteral("; entries are kept in memory only")));
    }
    buffer = std::make_unique<LokiMemoryBuffer>(config.queueCapacity, bufferLimits(config), &counters);
}

void LokiClientPrivate::followReachability()
{
    // The instance is shared by the whole application; the first user loads a backend (none on some
    // platforms: then nothing changes).
    if (!QNetworkInformation::instance()) {
#if QT_VERSION >= QT_VERSION_CHECK(6, 3, 0)
        QNetworkInformation::loadBackendByFeatures(QNetworkInformation::Feature::Reachability);
#else
        QNetworkInformation::load(QNetworkInformation::Feature::Reachability);
#endif
    }
    QNetworkInformation *info = QNetworkInformation::instance();
    if (!info || !info->supports(QNetworkInformation::Feature::Reachability)) {
        qCDebug(lcLoki, "no network information backend: retries follow the backoff only");
        return;
    }
    qCDebug(lcLoki) << "network information from" << info->backendName() << "now" << info->reachability();
    LokiWorker *w = worker;
    auto apply = [w](QNetworkInformation::Reachability reachability) {
        w->setNetworkReachable(reachability != QNetworkInformation::Reachability::Disconnected);
    };
    QObject::connect(info, &QNetworkInformation::reachabilityChanged, worker, apply);
    const auto now = info->reachability();
    QMetaObject::invokeMethod(
        worker, [apply, now] { apply(now); }, Qt::QueuedConnection);
}

const LokiStreamInfo *LokiClientPrivate::intern(const LokiRender::LabelMap &labels, qsizetype maxStreams)
{
    QByteArray key = LokiRender::streamKey(labels);
    QMutexLocker lock(&streamsMutex);
    auto it = streams.constFind(key);
    if (it != streams.constEnd())
        return it.value();
    if (streams.size() >= maxStreams)
        return nullptr;
    auto *info = new LokiStreamInfo{key, LokiRender::jsonLabels(labels)};
    streams.insert(key, info);
    return info;
}

LokiClient::SendResult LokiClientPrivate::enqueue(const LokiStreamInfo *stream, qint64 timestampNs,
                                                  QByteArray line, const LokiWait &wait,
                                                  LokiMetadata metadata)
{
    if (line.size() > config.limits.maxLineBytes) {
        line = LokiRender::truncateLine(line, config.limits.maxLineBytes);
        if (counters.truncated.fetch_add(1) == 0)
            reportError(LokiError(LokiError::Kind::Limit,
                                  QStringLiteral("a line longer than %1 bytes was cut (reported once; "
                                                 "counted in Counters::truncated)")
                                      .arg(config.limits.maxLineBytes),
                                  1));
    }
    LokiQueuedEntry entry;
    entry.timestampNs = timestampNs;
    entry.stream = stream;
    entry.line = std::move(line);
    entry.metadata = std::move(metadata);
    switch (buffer->push(std::move(entry), wait)) {
    case LokiEntryBuffer::PushResult::Accepted:
        return LokiClient::SendResult::Accepted;
    case LokiEntryBuffer::PushResult::Dropped:
        return LokiClient::SendResult::Dropped;
    case LokiEntryBuffer::PushResult::TimedOut:
        return LokiClient::SendResult::TimedOut;
    case LokiEntryBuffer::PushResult::Closed:
        break;
    }
    return LokiClient::SendResult::Closed;
}

LokiClient::SendResult LokiClientPrivate::reject(const QString &why)
{
    LokiCounterSet::add(counters.rejected, 1);
    reportError(LokiError(LokiError::Kind::InvalidEntry, why, 1));
    notifyCounters();
    return LokiClient::SendResult::Rejected;
}

void LokiClientPrivate::reportError(const LokiError &error)
{
    {
        QMutexLocker lock(&errorMutex);
        lastError = error;
    }
    qCDebug(lcLoki) << error.toString();
    Q_Q(LokiClient);
    QMetaObject::invokeMethod(
        q, [q, error] { Q_EMIT q->errorOccurred(error); }, Qt::QueuedConnection);
}

void LokiClientPrivate::notifyCounters()
{
    if (countersNotifyPending.load(std::memory_order_relaxed) || countersNotifyPending.exchange(true))
        return;
    Q_Q(LokiClient);
    QMetaObject::invokeMethod(
        q,
        [this, q] {
            countersNotifyPending.store(false);
            Q_EMIT q->countersChanged();
        },
        Qt::QueuedConnection);
}

void LokiClientPrivate::setState(LokiClient::State next)
{
    if (closing.load())
        return;
    if (state.exchange(next) == next)
        return;
    Q_Q(LokiClient);
    QMetaObject::invokeMethod(
        q,
        [this, q] {
            // Emit what holds now: bursts of changes arrive as one signal with the latest state.
            Q_EMIT q->stateChanged(state.load());
        },
        Qt::QueuedConnection);
}

LokiClient::LokiClient(const LokiConfig &config, QObject *parent)
    : QObject(parent)
    , d_ptr(new LokiClientPrivate(this, config))
{
    Q_D(LokiClient);
    qRegisterMetaType<LokiError>();
    qRegisterMetaType<LokiClient::State>();
    d->openBuffer();
    d->thread.setObjectName(QStringLiteral("lokiqt-client"));
    d->worker = new LokiWorker(d);
    d->worker->moveToThread(&d->thread);
    connect(&d->thread, &QThread::started, d->worker, &LokiWorker::start, Qt::DirectConnection);
    LokiWorker *worker = d->worker;
    d->buffer->setWakeCallback(
        [worker] { QMetaObject::invokeMethod(worker, &LokiWorker::schedule, Qt::QueuedConnection); });
    d->thread.start();
    if (config.followNetworkReachability)
        d->followReachability();
    if (!d->configError.isEmpty()) {
        qCWarning(lcLoki, "invalid configuration: %s", qPrintable(d->configError));
        d->reportError(LokiError(LokiError::Kind::InvalidEntry,
                                 QStringLiteral("invalid configuration: ") + d->configError));
    }
}

LokiClient::~LokiClient()
{
    Q_D(LokiClient);
    close(QDeadlineTimer(d->config.destructorCloseTimeout));
    delete d->worker;
    d->worker = nullptr;
    qDeleteAll(d->streams);
}

const LokiConfig &LokiClient::config() const
{
    Q_D(const LokiClient);
    return d->config;
}

LokiClient::SendResult LokiClient::send(const LokiEntry &entry, QDeadlineTimer deadline)
{
    Q_D(LokiClient);
    if (d->closing.load(std::memory_order_relaxed))
        return SendResult::Closed;
    if (!d->configError.isEmpty())
        return d->reject(QStringLiteral("invalid configuration: ") + d->configError);
    const LokiConfig::Limits &limits = d->config.limits;
    for (auto it = entry.labels.cbegin(); it != entry.labels.cend(); ++it) {
        if (!LokiRender::isValidLabelName(it.key()))
            return d->reject(QStringLiteral("label name '%1' breaks Loki's rules ([a-zA-Z_][a-zA-Z0-9_]*, "
                                            "not starting with __); try '%2'")
                                 .arg(it.key(), LokiRender::sanitizeLabelName(it.key())));
        if (it.key().size() > limits.maxLabelNameLength)
            return d->reject(QStringLiteral("label name '%1...' is longer than %2 characters")
                                 .arg(it.key().left(32))
                                 .arg(limits.maxLabelNameLength));
        if (it.value().size() > limits.maxLabelValueLength)
            return d->reject(QStringLiteral("the value of label '%1' is longer than %2 characters")
                                 .arg(it.key())
                                 .arg(limits.maxLabelValueLength));
    }

    // Fields named in structuredMetadataFields become metadata; the others go into the line.
    LokiRender::FieldList fields = LokiRender::flattenFields(entry.fields);
    LokiMetadata metadata;
    if (d->config.structuredMetadata && !d->config.structuredMetadataFields.isEmpty()) {
        for (auto it = fields.begin(); it != fields.end();) {
            if (d->config.structuredMetadataFields.contains(it->first)) {
                metadata.append({it->first.toUtf8(), it->second.toUtf8()});
                it = fields.erase(it);
            } else {
                ++it;
            }
        }
    }
    QString line = LokiRender::renderLine(d->config.lineFormat, QString(), entry.line, fields);

    const LokiStreamInfo *stream = d->defaultStream;
    const bool mayPromote = !d->config.labelAllowList.isEmpty() && !fields.isEmpty();
    if (!entry.labels.isEmpty() || mayPromote) {
        const LokiRender::LabelMap labels = withFallbackLabel(LokiRender::composeLabels(
            d->config.labels, entry.labels, fields, d->config.labelAllowList, d->config.labelDenyList));
        if (labels.size() > limits.maxLabelNames)
            return d->reject(QStringLiteral("%1 labels on one stream; at most %2 are allowed (Loki's "
                                            "max_label_names_per_series)")
                                 .arg(labels.size())
                                 .arg(limits.maxLabelNames));
        stream = d->streamFor(labels, &metadata, &line);
    }
    return d->enqueue(stream, entry.timestampNs, LokiRender::toUtf8Exact(line), LokiWait::until(deadline),
                      std::move(metadata));
}

LokiClient::SendResult LokiClient::send(const QString &line, QDeadlineTimer deadline)
{
    Q_D(LokiClient);
    if (d->closing.load(std::memory_order_relaxed))
        return SendResult::Closed;
    if (!d->configError.isEmpty())
        return d->reject(QStringLiteral("invalid configuration: ") + d->configError);
    if (d->config.lineFormat != LokiConfig::LineFormat::Plain)
        return d->enqueue(
            d->defaultStream, 0,
            LokiRender::toUtf8Exact(LokiRender::renderLine(d->config.lineFormat, QString(), line, {})),
            LokiWait::until(deadline));
    return d->enqueue(d->defaultStream, 0, LokiRender::toUtf8Exact(line), LokiWait::until(deadline));
}

LokiClient::SendResult LokiClient::sendUtf8(const QByteArray &line, QDeadlineTimer deadline)
{
    Q_D(LokiClient);
    if (d->closing.load(std::memory_order_relaxed))
        return SendResult::Closed;
    if (!d->configError.isEmpty())
        return d->reject(QStringLiteral("invalid configuration: ") + d->configError);
    if (!LokiRender::isValidUtf8(line))
        return d->enqueue(d->defaultStream, 0, LokiRender::toUtf8Exact(QString::fromUtf8(line)),
                          LokiWait::until(deadline)); // U+FFFD for junk
    return d->enqueue(d->defaultStream, 0, line, LokiWait::until(deadline));
}

// Without a deadline, Block mode waits at most LokiConfig::blockTimeout, counted from the moment the buffer
// is found full (LokiWait::defaultDeadline() reads no clock).
LokiClient::SendResult LokiClient::send(const LokiEntry &entry)
{
    return send(entry, LokiWait::defaultDeadline());
}

LokiClient::SendResult LokiClient::send(const QString &line)
{
    return send(line, LokiWait::defaultDeadline());
}

LokiClient::SendResult LokiClient::sendUtf8(const QByteArray &line)
{
    return sendUtf8(line, LokiWait::defaultDeadline());
}

bool LokiClient::flush(QDeadlineTimer deadline)
{
    Q_D(LokiClient);
    if (QThread::currentThread() == &d->thread || !d->thread.isRunning())
        return d->counters.queued() == 0;
    auto waiter = std::make_shared<LokiFlushWaiter>();
    const qint64 target = d->buffer->acceptedCount();
    LokiWorker *worker = d->worker;
    QMetaObject::invokeMethod(
        worker, [worker, waiter, target] { worker->requestFlush(waiter, target); }, Qt::QueuedConnection);
    QMutexLocker lock(&waiter->mutex);
    while (!waiter->finished) {
        if (!waiter->done.wait(&waiter->mutex, deadline))
            return waiter->finished && waiter->ok;
    }
    return waiter->ok;
}

bool LokiClient::close(QDeadlineTimer deadline)
{
    Q_D(LokiClient);
    if (d->closed)
        return d->closeResult;
    d->closing.store(true);
    d->buffer->close();
    if (d->state.exchange(State::Closed) != State::Closed)
        Q_EMIT stateChanged(State::Closed);
    bool ok = flush(deadline);
    if (d->thread.isRunning()) {
        QMetaObject::invokeMethod(d->worker, &LokiWorker::shutdown, Qt::BlockingQueuedConnection);
        d->thread.quit();
        d->thread.wait();
    }
    ok = ok && d->counters.queued() == 0;
    d->closed = true;
    d->closeResult = ok;
    return ok;
}

LokiClient::State LokiClient::state() const
{
    Q_D(const LokiClient);
    return d->state.load();
}

LokiClient::Counters LokiClient::counters() const
{
    Q_D(const LokiClient);
    const LokiCounterSet &c = d->counters;
    Counters out;
    out.accepted = c.accepted.load();
    out.sent = c.sent.load();
    out.droppedNew = c.droppedNew.load();
    out.droppedOldest = c.droppedOldest.load();
    out.droppedClosed = c.droppedClosed.load();
    out.timedOut = c.timedOut.load();
    out.rejected = c.rejected.load();
    out.failed = c.failed.load();
    out.retried = c.retried.load();
    out.queued = c.queued();
    out.truncated = c.truncated.load();
    out.demoted = c.demoted.load();
    out.splits = c.splits.load();
    out.expired = c.expired.load();
    out.corrupted = c.corrupted.load();
    out.replayed = c.replayed.load();
    out.droppedNoSpace = c.droppedNoSpace.load();
    return out;
}

qint64 LokiClient::accepted() const
{
    return d_func()->counters.accepted.load();
}

qint64 LokiClient::sent() const
{
    return d_func()->counters.sent.load();
}

qint64 LokiClient::dropped() const
{
    return counters().dropped();
}

qint64 LokiClient::failed() const
{
    return d_func()->counters.failed.load();
}

qint64 LokiClient::retried() const
{
    return d_func()->counters.retried.load();
}

qint64 LokiClient::queued() const
{
    return d_func()->counters.queued();
}

LokiError LokiClient::lastError() const
{
    Q_D(const LokiClient);
    QMutexLocker lock(&d->errorMutex);
    return d->lastError;
}

bool LokiClient::isSpooling() const
{
    return d_func()->buffer->isDurable();
}

bool LokiClient::isClientThread(const QThread *thread) const
{
    return thread == &d_func()->thread;
}
