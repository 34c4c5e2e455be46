// SPDX-License-Identifier: MIT
#include <lokiqt/lokimessagehandler.h>

#include "lokiclient_p.h"

#include <QtCore/QMutex>
#include <QtCore/QThread>

#include <QtCore/QCoreApplication>

#include <array>
#include <atomic>

namespace {
// The thread of the application object: the UI thread of a GUI application.
bool isMainThread()
{
    const QCoreApplication *app = QCoreApplication::instance();
    return !app || QThread::currentThread() == app->thread();
}
struct HandlerState
{
    LokiClient *client = nullptr;
    LokiClientPrivate *d = nullptr;
    LokiIngest::HandlerContext context; ///< the options as used, and the validated stream of each level
    QtMessageHandler previous = nullptr;
};

// The installed state. A message being handled holds a reference (g_busy), so uninstall() can wait until no
// thread uses the state any more before it frees it and lets the caller destroy the client.
std::atomic<HandlerState *> g_state{nullptr};
std::atomic<int> g_busy{0};
QBasicMutex g_installMutex;
thread_local bool t_inHandler = false;

} // namespace

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

void LokiMessageHandler::install(LokiClient *client, const Options &options)
{
    Q_ASSERT(client);
    auto *state = new HandlerState;
    state->client = client;
    state->d = client->d_func();
    QStringList problems;
    state->context = state->d->ingest.handlerContext(options, &problems);

    QMutexLocker lock(&g_installMutex);
    HandlerState *old = g_state.load();
    state->previous = old ? old->previous : qInstallMessageHandler(&LokiMessageHandler::handle);
    g_state.store(state);
    while (g_busy.load() > 0)
        QThread::yieldCurrentThread();
    delete old;
}

void LokiMessageHandler::install(LokiClient *client)
{
    install(client, Options());
}

void LokiMessageHandler::uninstall()
{
    QMutexLocker lock(&g_installMutex);
    HandlerState *old = g_state.exchange(nullptr);
    if (!old)
        return;
    qInstallMessageHandler(old->previous);
    while (g_busy.load() > 0)
        QThread::yieldCurrentThread();
    delete old;
}

bool LokiMessageHandler::isInstalled()
{
    return g_state.load() != nullptr;
}

void LokiMessageHandler::handle(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    g_busy.fetch_add(1);
    const HandlerState *s = g_state.load();
    if (!s) {
        g_busy.fetch_sub(1);
        qt_message_output(type, context, message); // uninstalled meanwhile: Qt's default path
        return;
    }
    const LokiMessageHandler::Options &options = s->context.options;
    const bool ownCategory = context.category && qstrncmp(context.category, "lokiqt", 6) == 0;
    const bool forward = !t_inHandler && !ownCategory &&
                         LokiIngest::severity(type) >= LokiIngest::severity(options.minimumLevel) &&
                         !s->client->isClientThread(QThread::currentThread());
    if (forward) {
        t_inHandler = true; // anything the client logs while we are in it must not come back here
        const auto deadline =
            s->d->config.backpressure == LokiConfig::Backpressure::Block
                ? LokiWait::atMost(isMainThread() ? options.blockTimeout : options.otherThreadsBlockTimeout)
                : LokiWait::atMost(std::chrono::milliseconds(0));
        s->d->enqueue(s->d->ingest.message(s->context, type, context, message), deadline);
        if (type == QtFatalMsg) {
            // Qt aborts when we return. With a spool the entries are in its files already: force them onto
            // the storage. Then push what is queued, for a bounded time.
            s->d->queue.syncSpool();
            s->client->flush(QDeadlineTimer(options.fatalFlushTimeout));
        }
        t_inHandler = false;
    }
    const QtMessageHandler previous = options.callPreviousHandler ? s->previous : nullptr;
    g_busy.fetch_sub(1);
    if (previous)
        previous(type, context, message);
}
