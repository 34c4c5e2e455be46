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
// Severity order; QtMsgType's numeric order is not (QtInfoMsg was added last).
int severity(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg:
        return 0;
    case QtInfoMsg:
        return 1;
    case QtWarningMsg:
        return 2;
    case QtCriticalMsg:
        return 3;
    case QtFatalMsg:
        return 4;
    }
    return 0;
}

struct HandlerState
{
    LokiClient *client = nullptr;
    LokiClientPrivate *d = nullptr;
    LokiMessageHandler::Options options;
    QtMessageHandler previous = nullptr;
    bool categoryIsLabel = false;
    std::array<const LokiStreamInfo *, 5> levelStreams{}; ///< by severity(); used when category is no label
};

// The installed state. A message being handled holds a reference (g_busy), so uninstall() can wait until no
// thread uses the state any more before it frees it and lets the caller destroy the client.
std::atomic<HandlerState *> g_state{nullptr};
std::atomic<int> g_busy{0};
QBasicMutex g_installMutex;
thread_local bool t_inHandler = false;

LokiRender::LabelMap labelsFor(const HandlerState &s, QtMsgType type, const char *category)
{
    LokiRender::LabelMap labels = s.d->config.labels;
    if (!s.options.levelLabel.isEmpty())
        labels.insert(s.options.levelLabel, LokiMessageHandler::levelName(type));
    if (s.categoryIsLabel && category)
        labels.insert(QStringLiteral("category"), QString::fromUtf8(category));
    return labels;
}
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
    state->options = options;
    state->categoryIsLabel = state->d->config.labelAllowList.contains(QStringLiteral("category")) &&
                             !state->d->config.labelDenyList.contains(QStringLiteral("category"));
    for (QtMsgType type : {QtDebugMsg, QtInfoMsg, QtWarningMsg, QtCriticalMsg, QtFatalMsg})
        state->levelStreams[size_t(severity(type))] = state->d->intern(labelsFor(*state, type, nullptr));

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
    const bool ownCategory = context.category && qstrncmp(context.category, "lokiqt", 6) == 0;
    const bool forward = !t_inHandler && !ownCategory &&
                         severity(type) >= severity(s->options.minimumLevel) &&
                         !s->client->isClientThread(QThread::currentThread());
    if (forward) {
        t_inHandler = true; // anything the client logs while we are in it must not come back here
        const LokiConfig::LineFormat format = s->d->config.lineFormat;
        LokiRender::FieldList fields;
        // Plain carries the level in the line only without a level label; logfmt and JSON always do, so that
        // `| logfmt` and `| json` find it.
        const QString level = format != LokiConfig::LineFormat::Plain ? levelName(type) : QString();
        if (s->options.levelLabel.isEmpty() && format == LokiConfig::LineFormat::Plain)
            fields.append({QStringLiteral("level"), levelName(type)});
        if (s->options.includeContext) {
            if (context.category && qstrcmp(context.category, "default") != 0 && !s->categoryIsLabel)
                fields.append({QStringLiteral("category"), QString::fromUtf8(context.category)});
            if (context.file)
                fields.append({QStringLiteral("file"), QString::fromUtf8(context.file)});
            if (context.line > 0)
                fields.append({QStringLiteral("line"), QString::number(context.line)});
            if (context.function)
                fields.append({QStringLiteral("function"), QString::fromUtf8(context.function)});
        }
        QString line = LokiRender::renderLine(
            format, level, s->options.useMessagePattern ? qFormatLogMessage(type, context, message) : message,
            fields);
        LokiMetadata metadata;
        const LokiStreamInfo *stream =
            s->categoryIsLabel ? s->d->streamFor(labelsFor(*s, type, context.category), &metadata, &line)
                               : s->levelStreams[size_t(severity(type))];
        const auto deadline = s->d->config.backpressure == LokiConfig::Backpressure::Block
                                  ? LokiWait::atMost(isMainThread() ? s->options.blockTimeout
                                                                    : s->options.otherThreadsBlockTimeout)
                                  : LokiWait::atMost(std::chrono::milliseconds(0));
        s->d->enqueue(stream, 0, LokiRender::toUtf8Exact(line), deadline, std::move(metadata));
        if (type == QtFatalMsg) {
            // Qt aborts when we return. With a spool the entries are in its files already: force them onto
            // the storage. Then push what is queued, for a bounded time.
            s->d->buffer->sync();
            s->client->flush(QDeadlineTimer(s->options.fatalFlushTimeout));
        }
        t_inHandler = false;
    }
    const QtMessageHandler previous = s->options.callPreviousHandler ? s->previous : nullptr;
    g_busy.fetch_sub(1);
    if (previous)
        previous(type, context, message);
}
