// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKIMESSAGEHANDLER_H
#define LOKIQT_LOKIMESSAGEHANDLER_H

#include <lokiqt/lokiqt_export.h>

#include <QtCore/QString>
#include <QtCore/QtGlobal>

#include <chrono>

class LokiClient;

/**
 * Routes qDebug(), qInfo(), qWarning(), qCritical() and qFatal() to a LokiClient.
 *
 * @code
 * LokiClient client(config);
 * LokiMessageHandler::Options options;
 * options.minimumLevel = QtInfoMsg;            // drop qDebug()
 * LokiMessageHandler::install(&client, options);
 * qWarning() << "disk almost full";          // also still printed by the previous handler
 * ...
 * LokiMessageHandler::uninstall();           // before the client is destroyed
 * @endcode
 *
 * Each message becomes an entry whose line is the message followed by its context as fields
 * (`category`, `file`, `line`, `function` when Qt provides them) and whose `level` label is debug, info,
 * warning, error (qCritical) or fatal. The category becomes a label only when LokiConfig::labelAllowList
 * names `category`. Messages from the client's own thread and from `lokiqt.*` categories never reach the
 * client, so a failing push cannot feed on itself. On qFatal() the handler flushes the client, for at most
 * Options::fatalFlushTimeout, before Qt aborts.
 *
 * Thread safety: the handler itself runs in whichever thread logs. install() and uninstall() may be called
 * from any thread; uninstall() waits for messages being handled to finish, so the client may be destroyed
 * right after it returns. One handler is installed at a time; install() replaces the previous client.
 */
class LOKIQT_EXPORT LokiMessageHandler
{
public:
    /** How messages are turned into entries; the defaults suit most applications. */
    struct Options
    {
        /** Messages below this type are not sent to Loki (they still reach the previous handler). */
        QtMsgType minimumLevel = QtDebugMsg;
        /** The label that carries the level; empty for none (the level then goes into the line). */
        QString levelLabel = QStringLiteral("level");
        /** Whether the handler that was installed before still sees every message (console output). */
        bool callPreviousHandler = true;
        /** Whether category, file, line and function go into the line as fields. */
        bool includeContext = true;
        /**
         * Whether the message is first formatted with the application's message pattern
         * (qSetMessagePattern() or QT_MESSAGE_PATTERN) through qFormatLogMessage(), as the console shows it.
         * Off by default: the level, category and context already travel as labels and fields.
         */
        bool useMessagePattern = false;
        /** How long a qFatal() may wait for queued entries to be pushed before Qt aborts. */
        std::chrono::milliseconds fatalFlushTimeout{3000};
        /**
         * How long a message may wait for room in the queue when the client's backpressure is Block.
         * Bounded by default so that logging from the UI thread never freezes it while Loki is away;
         * messages that time out are counted by LokiClient::Counters::timedOut.
         */
        std::chrono::milliseconds blockTimeout{100};
        /**
         * The same for messages from every other thread than the application's main (UI) thread: worker
         * threads can afford to wait longer, so a burst from them is slowed down rather than dropped.
         */
        std::chrono::milliseconds otherThreadsBlockTimeout{1000};
    };

    /** Installs the handler with qInstallMessageHandler(). @p client must outlive uninstall(). */
    static void install(LokiClient *client, const Options &options);
    /** Installs the handler with default Options. */
    static void install(LokiClient *client);
    /** Restores the handler that was installed before install(). Does nothing when not installed. */
    static void uninstall();
    /** Whether the handler is installed. */
    static bool isInstalled();

    /** The level name a message type maps to: debug, info, warning, error or fatal. */
    static QString levelName(QtMsgType type);

private:
    LokiMessageHandler() = delete;
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &message);
};

#endif // LOKIQT_LOKIMESSAGEHANDLER_H
