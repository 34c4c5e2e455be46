// SPDX-License-Identifier: MIT
#include <lokiqt/lokimessagehandler.h>

#include "lokiclient_p.h"
#include "lokimessagehandler_p.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QMutex>
#include <QtCore/QThread>

#include <algorithm>
#include <atomic>
#include <vector>

namespace {
// The thread of the application object: the UI thread of a GUI application.
bool isMainThread(const QThread *current)
{
    const QCoreApplication *app = QCoreApplication::instance();
    return !app || current == app->thread();
}

struct HandlerState
{
    LokiClient *client = nullptr;
    LokiClientPrivate *d = nullptr;
    LokiIngest::HandlerContext context; ///< the options as used, and the validated stream of each level
    quint64 generation = 0;             ///< which install() made it
};

// The installed state. A thread handling a message marks itself busy first, so uninstall() can wait until no
// thread uses the state any more before it frees it and lets the caller destroy the client. Each thread has
// its own mark (on a cache line of its own), so threads logging at once share no line per message.
std::atomic<HandlerState *> g_state{nullptr};
QBasicMutex g_installMutex;
thread_local bool t_inHandler = false;

struct alignas(64) BusyMark
{
    std::atomic<int> depth{0}; ///< how many of this thread's handle() frames use the state
};
QBasicMutex g_marksMutex;
std::vector<BusyMark *> *g_marks =
    nullptr; // guarded by g_marksMutex; never freed (threads may outlive statics)

thread_local bool t_markGone = false;

struct MarkHolder
{
    BusyMark *mark = nullptr;
    ~MarkHolder()
    {
        if (!mark)
            return;
        t_markGone = true;
        QMutexLocker lock(&g_marksMutex);
        g_marks->erase(std::find(g_marks->begin(), g_marks->end(), mark));
        delete mark;
    }
};
thread_local MarkHolder t_mark;

// For a thread whose mark is gone (a message logged by a thread-local destructor after ours ran).
std::atomic<int> g_busyFallback{0};

BusyMark *currentMark()
{
    if (Q_LIKELY(t_mark.mark))
        return t_mark.mark;
    if (t_markGone)
        return nullptr;
    auto *mark = new BusyMark;
    QMutexLocker lock(&g_marksMutex);
    if (!g_marks)
        g_marks = new std::vector<BusyMark *>;
    g_marks->push_back(mark);
    t_mark.mark = mark;
    return mark;
}

/** Marks this thread busy with the state (sequentially consistent, before the state is loaded). */
BusyMark *enterBusy()
{
    BusyMark *mark = currentMark();
    if (mark)
        mark->depth.store(mark->depth.load(std::memory_order_relaxed) + 1);
    else
        g_busyFallback.fetch_add(1);
    return mark;
}

void leaveBusy(BusyMark *mark)
{
    if (mark)
        mark->depth.store(mark->depth.load(std::memory_order_relaxed) - 1, std::memory_order_release);
    else
        g_busyFallback.fetch_sub(1);
}

/**
 * The install lock held, after g_state changed: waits until no thread uses an earlier state. Each thread
 * needs to be seen outside handle() once (it loads the new state when it comes back), not all of them at
 * the same moment, so threads that log without pause cannot hold it up for good.
 */
void waitUntilNotBusy()
{
    while (g_busyFallback.load() > 0)
        QThread::yieldCurrentThread();
    QMutexLocker lock(&g_marksMutex);
    if (!g_marks)
        return;
    for (BusyMark *mark : *g_marks) {
        while (mark->depth.load() > 0)
            QThread::yieldCurrentThread();
    }
}

// Our handle() as a link in Qt's chain of handlers, apart from the state: whether it is in the chain (as
// far as we know; guarded by g_installMutex), and the handler it passes messages on to (the one installed
// before ours). When the application installs a handler after ours, that handler calls ours as its
// "previous", so ours must stay a working link after uninstall(): inert, passing messages on.
//
// install() while an application's handler X is on top of ours puts ours on top of X too, a second link
// (X may not call ours at all). When X does call ours, handle() is entered again for the same message on
// the same thread while it passes the message on (t_passing): that entry is the lower link, and only
// passes the message on to the handler before it, so nothing is sent twice and nothing loops.
bool g_linked = false;
std::atomic<QtMessageHandler> g_chainPrevious{nullptr}; ///< what the lower (first) link passes messages to
std::atomic<QtMessageHandler> g_topPrevious{nullptr};   ///< what the upper link passes to; null: one link
quint64 g_generation = 0;                               // guarded by g_installMutex
thread_local int t_passing = 0; ///< how many of our frames on this thread are passing a message on

// The handler the outermost of our links passes messages on to.
QtMessageHandler nextHandler()
{
    const QtMessageHandler top = g_topPrevious.load();
    return top ? top : g_chainPrevious.load();
}

void passOn(QtMessageHandler handler, QtMsgType type, const QMessageLogContext &context,
            const QString &message)
{
    ++t_passing;
    handler(type, context, message);
    --t_passing;
}
} // namespace

void LokiMessageHandlerPrivate::detachLocked()
{
    HandlerState *old = g_state.exchange(nullptr);
    waitUntilNotBusy();
    delete old;
}

void LokiMessageHandlerPrivate::unlinkLocked()
{
    if (!g_linked)
        return;
    // Swapping is the only way to see which handler is current. When it is not ours, the application
    // installed its own after ours, and that one calls ours as its previous: put it back (messages logged in
    // between reach the handler before ours directly) and leave ours in its chain, inert.
    const QtMessageHandler top = g_topPrevious.load();
    const QtMessageHandler current = qInstallMessageHandler(top ? top : g_chainPrevious.load());
    if (current != &LokiMessageHandler::handle) {
        qInstallMessageHandler(current);
        return;
    }
    if (top)
        g_topPrevious.store(nullptr); // the upper link is gone; the lower one stays in the chain of `top`
    else
        g_linked = false;
}

QString LokiMessageHandler::levelName(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg:
        return QStringLiteral("debug");
    case QtInfoMsg:
        return QStringLiteral("info");
    case QtWarningMsg:
        return QStringLiteral("warning");
    case QtCriticalMsg:
        return QStringLiteral("error");
    case QtFatalMsg:
        return QStringLiteral("fatal");
    }
    return QStringLiteral("unknown");
}

quint64 LokiMessageHandlerPrivate::install(LokiClient *client, const LokiMessageHandler::Options &options,
                                           bool *optionsOk)
{
    *optionsOk = false;
    if (!client) {
        qCWarning(lcLoki, "LokiMessageHandler::install: no client; nothing installed");
        return 0;
    }
    LokiClientPrivate *d = LokiClientPrivate::get(client);
    if (!d->ingest.configError().isEmpty()) {
        const QString why = QStringLiteral("LokiMessageHandler not installed: the client's configuration is "
                                           "invalid: ") +
                            d->ingest.configError();
        qCWarning(lcLoki, "%s", qPrintable(why));
        d->reportError(LokiError(LokiError::Kind::InvalidEntry, why));
        return 0;
    }
    auto *state = new HandlerState;
    state->client = client;
    state->d = d;
    QStringList problems;
    state->context = d->ingest.handlerContext(options, &problems);

    QMutexLocker lock(&g_installMutex);
    state->generation = ++g_generation;
    const quint64 generation = state->generation;
    HandlerState *old = g_state.exchange(state);
    // The state first: a message arriving before the previous handler is known still reaches Loki.
    if (!g_linked) {
        g_chainPrevious.store(qInstallMessageHandler(&LokiMessageHandler::handle));
        g_linked = true;
    } else if (!g_topPrevious.load()) {
        // Ours is in the chain already; when an application's handler came after it, go on top of that one
        // too (it may not call ours). With two links, a third handler on top is left as it is.
        const QtMessageHandler current = qInstallMessageHandler(&LokiMessageHandler::handle);
        if (current != &LokiMessageHandler::handle)
            g_topPrevious.store(current);
    }
    waitUntilNotBusy();
    delete old;
    lock.unlock();

    if (!problems.isEmpty()) {
        // Once, here: the handler then sends what Loki accepts, so no push fails for these options.
        const QString why =
            QStringLiteral("LokiMessageHandler::install: ") + problems.join(QStringLiteral("; "));
        qCWarning(lcLoki, "%s", qPrintable(why));
        d->reportError(LokiError(LokiError::Kind::InvalidEntry, why));
    }
    *optionsOk = problems.isEmpty();
    return generation;
}

void LokiMessageHandlerPrivate::uninstall(quint64 generation)
{
    QMutexLocker lock(&g_installMutex);
    const HandlerState *s = g_state.load();
    if (!s || s->generation != generation)
        return;
    LokiMessageHandlerPrivate::detachLocked();
    LokiMessageHandlerPrivate::unlinkLocked();
}

void LokiMessageHandlerPrivate::clientDestroyed(LokiClient *client)
{
    QMutexLocker lock(&g_installMutex);
    const HandlerState *s = g_state.load();
    if (!s || s->client != client)
        return;
    LokiMessageHandlerPrivate::detachLocked();
    LokiMessageHandlerPrivate::unlinkLocked();
}

bool LokiMessageHandler::install(LokiClient *client, const Options &options)
{
    bool optionsOk = false;
    LokiMessageHandlerPrivate::install(client, options, &optionsOk);
    return optionsOk;
}

bool LokiMessageHandler::install(LokiClient *client)
{
    return install(client, Options());
}

void LokiMessageHandler::uninstall()
{
    QMutexLocker lock(&g_installMutex);
    LokiMessageHandlerPrivate::detachLocked();
    LokiMessageHandlerPrivate::unlinkLocked();
}

LokiMessageHandler::Installation::Installation(LokiClient *client)
    : Installation(client, LokiMessageHandler::Options())
{}

LokiMessageHandler::Installation::Installation(LokiClient *client, const LokiMessageHandler::Options &options)
    : m_generation(LokiMessageHandlerPrivate::install(client, options, &m_optionsOk))
{}

LokiMessageHandler::Installation::~Installation()
{
    if (m_generation)
        LokiMessageHandlerPrivate::uninstall(m_generation);
}

bool LokiMessageHandler::Installation::isActive() const
{
    if (!m_generation)
        return false;
    QMutexLocker lock(&g_installMutex);
    const HandlerState *s = g_state.load();
    return s && s->generation == m_generation;
}

bool LokiMessageHandler::isInstalled()
{
    return g_state.load() != nullptr;
}

void LokiMessageHandler::handle(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (t_passing > 0 && g_topPrevious.load()) {
        // Reached again through the application's handler between our two links: this is the lower link.
        // Pass the message on to the handler before it, once; it was sent already.
        const QtMessageHandler previous = t_passing == 1 ? g_chainPrevious.load() : nullptr;
        if (previous)
            passOn(previous, type, context, message);
        return;
    }
    BusyMark *const mark = enterBusy();
    const HandlerState *s = g_state.load();
    if (!s) {
        leaveBusy(mark);
        // Not installed (uninstalled meanwhile, or left in an application's chain by uninstall()): pass the
        // message on to the handler before ours, as if ours were not there.
        if (const QtMessageHandler previous = nextHandler())
            passOn(previous, type, context, message);
        return;
    }
    const LokiMessageHandler::Options &options = s->context.options;
    const bool ownCategory = context.category && qstrncmp(context.category, "lokiqt", 6) == 0;
    const QThread *const current = QThread::currentThread();
    const bool forward = !t_inHandler && !ownCategory &&
                         LokiIngest::severity(type) >= LokiIngest::severity(options.minimumLevel) &&
                         !s->client->isClientThread(current);
    if (forward) {
        t_inHandler = true; // anything the client logs while we are in it must not come back here
        LokiClientPrivate *d = s->d;
        const auto deadline = d->config.backpressure == LokiConfig::Backpressure::Block
                                  ? LokiWait::atMost(isMainThread(current) ? options.blockTimeout
                                                                           : options.otherThreadsBlockTimeout)
                                  : LokiWait::atMost(std::chrono::milliseconds(0));
        if (d->started.load(std::memory_order_relaxed) &&
            !d->ingest.categoryIsLabel(s->context, context.category)) {
            // The common case: the buffer takes the message as it is (a memory buffer renders it on the
            // worker; a spool here, to have it on disk when we return).
            const QString formatted =
                options.useMessagePattern ? qFormatLogMessage(type, context, message) : QString();
            d->buffer->pushMessage(
                LokiIngest::messageParts(s->context, type, context,
                                         options.useMessagePattern ? &formatted : &message),
                deadline);
        } else {
            // A category label (its stream, the stream cap), or a client that has not started yet.
            d->enqueue(d->ingest.message(s->context, type, context, message), deadline);
        }
        if (type == QtFatalMsg) {
            // Qt aborts when we return. With a spool the entries are in its files already: force them onto
            // the storage. Then push what is queued, for a bounded time.
            d->buffer->sync();
            s->client->flush(QDeadlineTimer(options.fatalFlushTimeout));
        }
        t_inHandler = false;
    }
    const QtMessageHandler previous = options.callPreviousHandler ? nextHandler() : nullptr;
    leaveBusy(mark);
    if (previous)
        passOn(previous, type, context, message);
}
