// SPDX-License-Identifier: MIT
#include <lokiqt/lokiclient.h>

#include "lokiclient_p.h"
#include "lokimessagehandler_p.h"
#include "lokiworker_p.h"
#include "memorybuffer_p.h"
#include "reachability_p.h"
#include "spoolbuffer_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QMetaObject>

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
} // namespace

namespace {
// The clients whose thread runs. The application object's destructor closes them (qAddPostRoutine) while Qt
// still delivers events: after it, no event or timer reaches any thread that needs the application, so the
// worker could neither deliver nor count what it leaves. Constant-initialized (a QBasicMutex and a pointer),
// so no order of static initialization or destruction can break it.
QBasicMutex g_runningMutex;
LokiClientPrivate *g_running = nullptr;

void closeRunningClients()
{
    QMutexLocker lock(&g_runningMutex);
    // Held throughout: a client destroyed meanwhile in another thread waits in unregisterRunning() until
    // its close here is done.
    while (LokiClientPrivate *d = g_running) {
        g_running = d->nextRunning;
        if (g_running)
            g_running->previousRunning = nullptr;
        d->nextRunning = d->previousRunning = nullptr;
        d->registered = false;
        d->applicationGone.store(true);
        d->q_ptr->close(QDeadlineTimer(d->config.destructorCloseTimeout));
    }
}
} // namespace

void LokiClientPrivate::registerRunning(LokiClientPrivate *d)
{
    QMutexLocker lock(&g_runningMutex);
    if (!g_running)
        qAddPostRoutine(&closeRunningClients);
    d->nextRunning = g_running;
    if (g_running)
        g_running->previousRunning = d;
    g_running = d;
    d->registered = true;
}

void LokiClientPrivate::unregisterRunning(LokiClientPrivate *d)
{
    QMutexLocker lock(&g_runningMutex);
    if (!d->registered)
        return;
    if (d->previousRunning)
        d->previousRunning->nextRunning = d->nextRunning;
    else
        g_running = d->nextRunning;
    if (d->nextRunning)
        d->nextRunning->previousRunning = d->previousRunning;
    d->nextRunning = d->previousRunning = nullptr;
    d->registered = false;
    if (!g_running)
        qRemovePostRoutine(&closeRunningClients);
}

LokiClientPrivate::LokiClientPrivate(LokiClient *q, const LokiConfig &config)
    : q_ptr(q)
    , config(config)
    , configError(validateConfig(config))
    , ingest(config)
    , status(q)
{}

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
    Q_Q(LokiClient);
    reachability = std::make_unique<LokiReachability>();
    reachability->moveToThread(q->thread()); // QNetworkInformation belongs to the application's threads
    LokiWorker *w = worker;
    // Queued into the worker's thread (the worker is the context), whichever thread reports.
    QObject::connect(reachability.get(), &LokiReachability::reachableChanged, worker,
                     [w](bool reachable) { w->setNetworkReachable(reachable); });
    LokiReachability *r = reachability.get();
    if (QThread::currentThread() == q->thread())
        r->startIfLoaded();
    else
        QMetaObject::invokeMethod(
            r, [r] { r->startIfLoaded(); }, Qt::QueuedConnection);
}

void LokiClientPrivate::onErrorSignalled(const LokiError &error)
{
    // A push that failed below HTTP: only now is what the system says about the network worth loading
    // (QNetworkInformation's backends cost megabytes and threads; a client whose pushes succeed never needs
    // them).
    if (!reachability || closing.load() || error.kind() != LokiError::Kind::Network ||
        error.httpStatus() != 0)
        return;
    LokiReachability *r = reachability.get();
    if (QThread::currentThread() == r->thread())
        r->networkFailed();
    else
        QMetaObject::invokeMethod(
            r, [r] { r->networkFailed(); }, Qt::QueuedConnection);
}

LokiClient::SendResult LokiClientPrivate::enqueue(LokiIngested &&ingested, const LokiWait &wait)
{
    // Nothing is accepted that could never be delivered: without an application object the thread cannot run.
    if (!started.load(std::memory_order_relaxed) && !ensureStarted())
        return closing.load() ? LokiClient::SendResult::Closed : reject(noApplicationReason());
    if (ingested.isRejected())
        return reject(ingested.rejection);
    if (ingested.truncated && counters.truncated.fetch_add(1) == 0)
        reportError(ingest.truncatedReport());
    if (ingested.demoted && counters.demoted.fetch_add(1) == 0)
        reportError(ingest.demotedReport());
    // The one handoff to the buffer.
    switch (buffer->push(std::move(ingested.entry), wait)) {
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

QString LokiClientPrivate::noApplicationReason() const
{
    if (applicationGone.load())
        return QStringLiteral(
            "the application object (QCoreApplication) was destroyed: the client closed with "
            "it");
    if (!QCoreApplication::instance())
        return QStringLiteral("no QCoreApplication exists: lokiqt's thread runs a Qt event loop, which needs "
                              "one; create the application object before sending");
    return QString();
}

bool LokiClientPrivate::ensureStarted()
{
    if (started.load(std::memory_order_acquire))
        return true;
    QMutexLocker lock(&startMutex);
    if (started.load())
        return true;
    if (!QCoreApplication::instance() || applicationGone.load() || closing.load())
        return false;
    started.store(true, std::memory_order_release);
    // Before the thread starts: what the connection to the worker sets up is then published to the worker's
    // thread by its creation.
    if (config.followNetworkReachability)
        followReachability();
    thread.start();
    registerRunning(this);
    return true;
}

void LokiClientPrivate::beginClose()
{
    closing.store(true);
    buffer->close();
    status.close();
}

void LokiClientPrivate::stopThread()
{
    if (!thread.isRunning())
        return;
    QMetaObject::invokeMethod(worker, &LokiWorker::shutdown, Qt::BlockingQueuedConnection);
    thread.quit();
    thread.wait();
}

LokiClient::LokiClient(const LokiConfig &config, QObject *parent)
    : QObject(parent)
    , d_ptr(new LokiClientPrivate(this, config))
{
    Q_D(LokiClient);
    qRegisterMetaType<LokiError>();
    qRegisterMetaType<LokiClient::State>();
    qRegisterMetaType<LokiClientCounters>(); // the counters property, also by name (QML, QVariant)
    d->openBuffer();
    d->thread.setObjectName(QStringLiteral("lokiqt-client"));
    d->worker = new LokiWorker({d->config, *d->buffer, d->counters, d->status});
    d->worker->moveToThread(&d->thread);
    connect(&d->thread, &QThread::started, d->worker, &LokiWorker::start, Qt::DirectConnection);
    LokiWorker *worker = d->worker;
    d->buffer->setWakeCallback(
        [worker] { QMetaObject::invokeMethod(worker, &LokiWorker::schedule, Qt::QueuedConnection); });
    d->status.setErrorObserver([d](const LokiError &error) { d->onErrorSignalled(error); });
    // The message handler's messages, rendered where the buffer renders them (a memory buffer: the worker).
    d->buffer->setMessageRenderer([d](const LokiRawMessage &message, LokiQueuedEntry &entry) {
        if (d->ingest.renderMessage(message, entry) && d->counters.truncated.fetch_add(1) == 0)
            d->reportError(d->ingest.truncatedReport());
    });
    if (!d->configError.isEmpty()) {
        qCWarning(lcLoki, "invalid configuration: %s", qPrintable(d->configError));
        d->reportError(LokiError(LokiError::Kind::InvalidEntry,
                                 QStringLiteral("invalid configuration: ") + d->configError));
    }
    // Without an application object yet (a global static client), the thread starts with the first send()
    // or flush() after it was created.
    d->ensureStarted();
}

LokiClient::~LokiClient()
{
    LokiMessageHandlerPrivate::clientDestroyed(this); // no message may reach a destroyed client
    Q_D(LokiClient);
    close(QDeadlineTimer(d->config.destructorCloseTimeout));
    LokiClientPrivate::unregisterRunning(d);
    delete d->worker;
    d->worker = nullptr;
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
    return d->enqueue(d->ingest.entry(entry), LokiWait::until(deadline));
}

LokiClient::SendResult LokiClient::send(const QString &line, QDeadlineTimer deadline)
{
    Q_D(LokiClient);
    if (d->closing.load(std::memory_order_relaxed))
        return SendResult::Closed;
    return d->enqueue(d->ingest.line(line), LokiWait::until(deadline));
}

LokiClient::SendResult LokiClient::sendUtf8(const QByteArray &line, QDeadlineTimer deadline)
{
    Q_D(LokiClient);
    if (d->closing.load(std::memory_order_relaxed))
        return SendResult::Closed;
    return d->enqueue(d->ingest.utf8(line), LokiWait::until(deadline));
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
    if (QThread::currentThread() == &d->thread)
        return d->counters.queued() == 0;
    if (!d->ensureStarted() || !d->thread.isRunning()) {
        const bool done = d->counters.queued() == 0;
        if (!done && !d->started.load() && !d->closing.load())
            d->reportError(LokiError(LokiError::Kind::Network, d->noApplicationReason()));
        return done;
    }
    auto waiter = std::make_shared<LokiFlushWaiter>();
    const qint64 target = d->buffer->acceptedCount();
    LokiWorker *worker = d->worker;
    QMetaObject::invokeMethod(
        worker, [worker, waiter, target] { worker->requestFlush(waiter, target); }, Qt::QueuedConnection);
    QMutexLocker lock(&waiter->mutex);
    while (!waiter->finished) {
        if (!waiter->done.wait(&waiter->mutex, deadline)) {
            if (waiter->finished)
                break;
            waiter->abandoned.store(true); // the worker forgets it instead of keeping it for good
            return false;
        }
    }
    return waiter->ok;
}

bool LokiClient::close(QDeadlineTimer deadline)
{
    Q_D(LokiClient);
    if (QThread::currentThread() == &d->thread) {
        // From the client's own thread (a slot or handler running there) it cannot wait for itself: sends are
        // refused from now on, and the owner thread's close() or the destructor delivers and stops.
        d->beginClose();
        return false;
    }
    // Any other thread: the first caller closes, a concurrent one waits for it and gets the same answer.
    QMutexLocker lock(&d->closeMutex);
    if (d->closed)
        return d->closeResult;
    d->beginClose();
    bool ok = flush(deadline);
    d->stopThread();
    ok = ok && d->counters.queued() == 0;
    d->closed = true;
    d->closeResult = ok;
    return ok;
}

LokiClient::State LokiClient::state() const
{
    Q_D(const LokiClient);
    return d->status.state();
}

LokiClient::Counters LokiClient::counters() const
{
    Q_D(const LokiClient);
    const LokiCounterSet &c = d->counters;
    Counters out;
    out.accepted = c.acceptedTotal();
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
    return d_func()->counters.acceptedTotal();
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
    return d->status.lastError();
}

bool LokiClient::isSpooling() const
{
    return d_func()->buffer->isDurable();
}

bool LokiClient::isClientThread(const QThread *thread) const
{
    return thread == &d_func()->thread;
}
