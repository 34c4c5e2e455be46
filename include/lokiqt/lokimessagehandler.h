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
 * LokiMessageHandler::Installation handler(&client, options); // uninstalls when it goes out of scope
 * qWarning() << "disk almost full";          // also still printed by the previous handler
 * @endcode
 *
 * or, without the guard, `LokiMessageHandler::install(&client, options)` and later
 * `LokiMessageHandler::uninstall()`. Destroying the client uninstalls the handler too when it is installed
 * for that client, so no message ever reaches a destroyed client.
 *
 * Each message becomes an entry whose line is the message followed by its context as fields
 * (`category`, `file`, `line`, `function` when Qt provides them) and whose `level` label is debug, info,
 * warning, error (qCritical) or fatal. The category becomes a label only when LokiConfig::labelAllowList
 * names `category`. Messages from the client's own thread and from `lokiqt.*` categories never reach the
 * client, so a failing push cannot feed on itself. On qFatal() the handler flushes the client, for at most
 * Options::fatalFlushTimeout, before Qt aborts.
 *
 * Options are checked like LokiClient::send() checks an entry's labels, once, at install(): a level label
 * that breaks Loki's label name rules is sanitized (`log-level` becomes `log_level`), a level or category
 * label that would break LokiConfig::limits is left out (its value goes into the line), and each such change
 * is reported once through the client's errorOccurred() and lastError() (LokiError::Kind::InvalidEntry) and
 * a warning in the `lokiqt.client` category; install() then returns false. Entries of a handler without any
 * label (no static labels, empty levelLabel) get the fallback label `service_name`, as send()'s do.
 *
 * Chaining: install() puts the handler on top of Qt's chain and passes every message on to the handler that
 * was there before (Options::callPreviousHandler). uninstall() restores that handler only when ours is still
 * the current one. When the application installed a handler of its own after ours, that handler stays in
 * place; ours stays in its chain, sending nothing, passing each message on to the handler before it. A
 * later install() puts ours on top again (above that handler, which may or may not call ours: either way
 * each message is sent once and reaches every handler of the chain once).
 *
 * Thread safety: the handler itself runs in whichever thread logs. install() and uninstall() may be called
 * from any thread; uninstall() waits for messages being handled to finish, so the client may be destroyed
 * right after it returns (and the client's destructor does the same itself). One handler is installed at a
 * time; install() replaces the previous client and options.
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

    class Installation;

    /**
     * Installs the handler with qInstallMessageHandler(), for @p client (until uninstall(), another
     * install() or the client's destruction). Returns true when it is installed with @p options as given;
     * false when an option had to be changed to keep Loki from refusing the pushes (installed, reported once
     * as described above), or when nothing was installed: @p client is null or its configuration is invalid
     * (reported the same way; isInstalled() tells).
     */
    static bool install(LokiClient *client, const Options &options);
    /** Installs the handler with default Options. */
    static bool install(LokiClient *client);
    /**
     * Stops sending messages to the client and restores the handler that was installed before install(),
     * unless the application installed another handler after ours (see above). Does nothing when not
     * installed.
     */
    static void uninstall();
    /** Whether the handler is installed. */
    static bool isInstalled();

    /** The level name a message type maps to: debug, info, warning, error or fatal. */
    static QString levelName(QtMsgType type);

private:
    friend class LokiMessageHandlerPrivate;
    LokiMessageHandler() = delete;
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &message);
};

/**
 * Installs LokiMessageHandler for as long as it lives (RAII): its destructor uninstalls the handler when
 * this installation is still the one installed (not replaced by a later install(), not uninstalled).
 *
 * @code
 * LokiClient client(config);
 * LokiMessageHandler::Installation handler(&client);
 * if (!handler.optionsAccepted())
 *     qWarning() << client.lastError().toString();
 * @endcode
 *
 * Declare it after the client, so that it goes first; destroying the client first is safe too.
 */
class LOKIQT_EXPORT LokiMessageHandler::Installation
{
public:
    /** LokiMessageHandler::install(@p client) with default options. */
    explicit Installation(LokiClient *client);
    /** LokiMessageHandler::install(@p client, @p options). */
    Installation(LokiClient *client, const LokiMessageHandler::Options &options);
    ~Installation();
    Installation(const Installation &) = delete;
    Installation &operator=(const Installation &) = delete;

    /** What install() returned: whether the options were used as given. */
    bool optionsAccepted() const { return m_optionsOk; }
    /** Whether this installation is the one installed now. */
    bool isActive() const;

private:
    bool m_optionsOk = false;
    quint64 m_generation = 0;
};

#endif // LOKIQT_LOKIMESSAGEHANDLER_H
