// SPDX-License-Identifier: MIT
#include <lokiqt/lokiclient.h>
#include <lokiqt/lokimessagehandler.h>

#include "lokitestreceiver.h"

#include <QtCore/QLoggingCategory>
#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <QtCore/QRegularExpression>
#include <QtCore/QSet>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>

using namespace std::chrono_literals;

Q_LOGGING_CATEGORY(lcTestUi, "test.ui")
Q_LOGGING_CATEGORY(lcTestLoki, "lokiqt.test") // an app category that looks like the client's own

namespace {
constexpr int longWait = 20000;
const char fatalChildEnv[] = "LOKIQT_TEST_FATAL_CHILD_URL";
const char destroyChildEnv[] = "LOKIQT_TEST_DESTROY_CHILD_URL";
const char fatalSpoolEnv[] = "LOKIQT_TEST_FATAL_CHILD_SPOOL"; // the child's spool directory, when set

// What the previously installed handler saw; it may be called from any thread.
QMutex g_previousMutex;
QStringList g_previousSawList;
void recordingHandler(QtMsgType, const QMessageLogContext &, const QString &message)
{
    QMutexLocker lock(&g_previousMutex);
    g_previousSawList << message;
}
QStringList previousSaw()
{
    QMutexLocker lock(&g_previousMutex);
    return g_previousSawList;
}

// An application's handler installed after ours, chaining to what it replaced (as handlers do).
QtMessageHandler g_appPrevious = nullptr;
QStringList g_appSawList;
void appHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    {
        QMutexLocker lock(&g_previousMutex);
        g_appSawList << message;
    }
    if (g_appPrevious)
        g_appPrevious(type, context, message);
}
// An application's handler that replaces what was there without calling it.
void replacingHandler(QtMsgType, const QMessageLogContext &, const QString &message)
{
    QMutexLocker lock(&g_previousMutex);
    g_appSawList << QStringLiteral("replacing: ") + message;
}

QStringList appSaw()
{
    QMutexLocker lock(&g_previousMutex);
    return g_appSawList;
}

int countKind(const QSignalSpy &spy, LokiError::Kind kind)
{
    int n = 0;
    for (const QList<QVariant> &args : spy)
        n += args.at(0).value<LokiError>().kind() == kind ? 1 : 0;
    return n;
}

LokiConfig configFor(const LokiTestReceiver &receiver)
{
    LokiConfig config;
    config.url = receiver.url();
    config.labels = {{QStringLiteral("app"), QStringLiteral("handler")}};
    config.batch.maxWait = 20ms;
    return config;
}

void emitMessage(QtMsgType type, const QString &text)
{
    switch (type) {
    case QtDebugMsg:
        qDebug("%s", qPrintable(text));
        break;
    case QtInfoMsg:
        qInfo("%s", qPrintable(text));
        break;
    case QtWarningMsg:
        qWarning("%s", qPrintable(text));
        break;
    case QtCriticalMsg:
        qCritical("%s", qPrintable(text));
        break;
    case QtFatalMsg:
        qFatal("%s", qPrintable(text));
    }
}

// The child process of fatalFlushesBeforeAbort: queues entries nobody flushes, then dies in qFatal().
int runFatalChild(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    LokiConfig config;
    config.url = QUrl(qEnvironmentVariable(fatalChildEnv));
    config.labels = {{QStringLiteral("app"), QStringLiteral("fatal")}};
    config.batch.maxWait = 1h; // only the fatal path can deliver these
    config.spool.directory = qEnvironmentVariable(fatalSpoolEnv);
    config.spool.sync = LokiConfig::SpoolSync::Interval; // not synced yet when qFatal() comes
    config.spool.syncInterval = 1h;
    auto *client = new LokiClient(config); // deliberately leaked: qFatal() never returns
    LokiMessageHandler::install(client);
    for (int i = 0; i < 5; ++i)
        qWarning("before %d", i);
    qFatal("the end");
    return 0;
}
// The child process of destroyingTheClientUninstallsTheHandlerChild: destroys the client with the handler
// installed, then logs.
int runDestroyChild(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    LokiConfig config;
    config.url = QUrl(qEnvironmentVariable(destroyChildEnv));
    config.labels = {{QStringLiteral("app"), QStringLiteral("destroyed")}};
    auto client = std::make_unique<LokiClient>(config);
    LokiMessageHandler::install(client.get());
    qWarning("while the client lives");
    client.reset();
    for (int i = 0; i < 100; ++i)
        qWarning("after the client is gone %d", i);
    std::printf("handler uninstalled: %s\n", LokiMessageHandler::isInstalled() ? "no" : "yes");
    return 0;
}
} // namespace

class tst_MessageHandler : public QObject
{
    Q_OBJECT
private:
    std::unique_ptr<LokiTestReceiver> receiver;
    std::unique_ptr<LokiClient> client;

    void makeClient(const LokiConfig &config) { client = std::make_unique<LokiClient>(config); }

private Q_SLOTS:
    void init()
    {
        QMutexLocker lock(&g_previousMutex);
        g_previousSawList.clear();
        g_appSawList.clear();
        g_appPrevious = nullptr;
        lock.unlock();
        receiver = std::make_unique<LokiTestReceiver>();
        QVERIFY(receiver->listen());
    }
    void cleanup()
    {
        LokiMessageHandler::uninstall();
        qInstallMessageHandler(nullptr);
        QLoggingCategory::setFilterRules(QString());
        client.reset();
        receiver.reset();
    }

    void levels_data()
    {
        QTest::addColumn<QtMsgType>("type");
        QTest::addColumn<QString>("level");
        QTest::newRow("qDebug") << QtDebugMsg << "debug";
        QTest::newRow("qInfo") << QtInfoMsg << "info";
        QTest::newRow("qWarning") << QtWarningMsg << "warning";
        QTest::newRow("qCritical") << QtCriticalMsg << "error";
    }
    void levels()
    {
        QFETCH(QtMsgType, type);
        QFETCH(QString, level);
        makeClient(configFor(*receiver));
        LokiMessageHandler::install(client.get());
        emitMessage(type, QStringLiteral("message at ") + level);
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        const ReceivedEntry got = receiver->entries().first();
        QCOMPARE(got.labels.value(QStringLiteral("level")), level);
        QCOMPARE(got.labels.value(QStringLiteral("app")), QStringLiteral("handler"));
        QVERIFY2(got.line.startsWith(QStringLiteral("message at ") + level), qPrintable(got.line));
        QCOMPARE(LokiMessageHandler::levelName(type), level);
        QCOMPARE(LokiMessageHandler::levelName(QtFatalMsg), QStringLiteral("fatal"));
    }

    void minimumLevelFilters()
    {
        makeClient(configFor(*receiver));
        qInstallMessageHandler(recordingHandler);
        LokiMessageHandler::Options options;
        options.minimumLevel = QtWarningMsg;
        LokiMessageHandler::install(client.get(), options);
        qDebug("debug");
        qInfo("info");
        qWarning("warning");
        qCritical("critical");
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 2);
        const QList<ReceivedEntry> got = receiver->entries();
        QVERIFY(got[0].line.startsWith(QStringLiteral("warning")));
        QVERIFY(got[1].line.startsWith(QStringLiteral("critical")));
        // Filtered messages still reach the previous handler.
        QCOMPARE(previousSaw(), (QStringList{QStringLiteral("debug"), QStringLiteral("info"),
                                             QStringLiteral("warning"), QStringLiteral("critical")}));
    }

    void contextBecomesFields()
    {
        makeClient(configFor(*receiver));
        LokiMessageHandler::install(client.get());
        qCWarning(lcTestUi) << "button pressed";
        const int expectedLine = __LINE__ - 1;
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        const ReceivedEntry got = receiver->entries().first();
        QVERIFY2(got.line.startsWith(QStringLiteral("button pressed category=test.ui")),
                 qPrintable(got.line));
        QVERIFY2(got.line.contains(QStringLiteral("file=")), qPrintable(got.line));
        QVERIFY2(got.line.contains(QStringLiteral("tst_messagehandler.cpp")), qPrintable(got.line));
        QVERIFY2(got.line.contains(QStringLiteral("line=%1").arg(expectedLine)), qPrintable(got.line));
        QVERIFY2(got.line.contains(QStringLiteral("function=")), qPrintable(got.line));
        QVERIFY(!got.labels.contains(QStringLiteral("category"))); // not a label unless allow-listed
    }

    void contextCanBeLeftOut()
    {
        makeClient(configFor(*receiver));
        LokiMessageHandler::Options options;
        options.includeContext = false;
        LokiMessageHandler::install(client.get(), options);
        qCWarning(lcTestUi) << "bare";
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        QCOMPARE(receiver->entries().first().line, QStringLiteral("bare"));
    }

    void categoryAsLabelWhenAllowListed()
    {
        LokiConfig config = configFor(*receiver);
        config.labelAllowList = {QStringLiteral("category")};
        makeClient(config);
        LokiMessageHandler::install(client.get());
        qCInfo(lcTestUi) << "labelled";
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        const ReceivedEntry got = receiver->entries().first();
        QCOMPARE(got.labels.value(QStringLiteral("category")), QStringLiteral("test.ui"));
        QCOMPARE(got.labels.value(QStringLiteral("level")), QStringLiteral("info"));
        QVERIFY2(!got.line.contains(QStringLiteral("category=")), qPrintable(got.line));
    }

    void levelLabelCanBeRenamedOrOff()
    {
        makeClient(configFor(*receiver));
        LokiMessageHandler::Options options;
        options.levelLabel = QStringLiteral("severity");
        LokiMessageHandler::install(client.get(), options);
        qWarning("renamed");
        options.levelLabel.clear();
        LokiMessageHandler::install(client.get(), options); // replaces the options, keeps the chain
        qWarning("in line");
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 2);
        QCOMPARE(got[0].labels.value(QStringLiteral("severity")), QStringLiteral("warning"));
        QVERIFY(!got[0].labels.contains(QStringLiteral("level")));
        QVERIFY(!got[1].labels.contains(QStringLiteral("level")));
        QVERIFY2(got[1].line.startsWith(QStringLiteral("in line level=warning")), qPrintable(got[1].line));
    }

    void lineFormats_data()
    {
        QTest::addColumn<LokiConfig::LineFormat>("format");
        QTest::addColumn<bool>("pattern");
        QTest::addColumn<QString>("expected");
        QTest::newRow("plain") << LokiConfig::LineFormat::Plain << false
                               << QStringLiteral("disk \"sda\" almost full category=app.disk");
        QTest::newRow("logfmt")
            << LokiConfig::LineFormat::Logfmt << false
            << QStringLiteral("level=warning msg=\"disk \\\"sda\\\" almost full\" category=app.disk");
        QTest::newRow("json") << LokiConfig::LineFormat::Json << false
                              << QStringLiteral(
                                     "{\"level\":\"warning\",\"msg\":\"disk \\\"sda\\\" almost full\","
                                     "\"category\":\"app.disk\"}");
        QTest::newRow("logfmt, message pattern")
            << LokiConfig::LineFormat::Logfmt << true
            << QStringLiteral(
                   "level=warning msg=\"[W] app.disk: disk \\\"sda\\\" almost full\" category=app.disk");
    }
    void lineFormats()
    {
        QFETCH(LokiConfig::LineFormat, format);
        QFETCH(bool, pattern);
        QFETCH(QString, expected);
        LokiConfig config = configFor(*receiver);
        config.lineFormat = format;
        makeClient(config);
        LokiMessageHandler::Options options;
        options.includeContext = true;
        options.useMessagePattern = pattern;
        qSetMessagePattern(
            QStringLiteral("[%{if-warning}W%{endif}%{if-info}I%{endif}] %{category}: %{message}"));
        LokiMessageHandler::install(client.get(), options);
        const QLoggingCategory category("app.disk");
        qCWarning(category, "disk \"sda\" almost full");
        qSetMessagePattern(QString());
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        QString line = receiver->entries().first().line;
        // file, line and function come after category when Qt records them; this test is about the rest.
        line =
            line.left(line.indexOf(QLatin1String(" file="))).left(line.indexOf(QLatin1String(",\"file\"")));
        if (format == LokiConfig::LineFormat::Json && !line.endsWith(QLatin1Char('}')))
            line += QLatin1Char('}');
        QCOMPARE(line, expected);
    }

    void workerThreadsWaitLongerThanTheUiThread()
    {
        receiver->setResponseDelay(std::chrono::milliseconds(300)); // each push takes 300 ms
        LokiConfig config = configFor(*receiver);
        config.queueCapacity = 10;
        config.batch.maxEntries = 10;
        config.batch.maxInFlight = 1; // one slow push at a time, so the 10-entry queue stays full
        makeClient(config);
        LokiMessageHandler::Options options;
        options.callPreviousHandler = false;
        options.blockTimeout = std::chrono::milliseconds(1);         // the UI thread barely waits
        options.otherThreadsBlockTimeout = std::chrono::seconds(60); // a worker waits for room
        LokiMessageHandler::install(client.get(), options);
        std::unique_ptr<QThread> worker(QThread::create([] {
            for (int i = 0; i < 60; ++i)
                qInfo("from a worker %d", i);
        }));
        worker->start();
        QVERIFY(worker->wait(longWait));
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(client->counters().timedOut, 0); // 60 messages through a 10-entry queue: slowed, not dropped
        QCOMPARE(receiver->entryCount(), 60);
        for (int i = 0; i < 60; ++i) // the UI thread gives up quickly instead
            qInfo("from the UI thread %d", i);
        QVERIFY(client->counters().timedOut > 0);
    }

    void chainsAndRestoresPreviousHandler()
    {
        makeClient(configFor(*receiver));
        qInstallMessageHandler(recordingHandler);
        LokiMessageHandler::install(client.get());
        QVERIFY(LokiMessageHandler::isInstalled());
        qWarning("both");
        QCOMPARE(previousSaw(), QStringList{QStringLiteral("both")});
        LokiMessageHandler::uninstall();
        QVERIFY(!LokiMessageHandler::isInstalled());
        qWarning("only previous");
        QCOMPARE(previousSaw(), (QStringList{QStringLiteral("both"), QStringLiteral("only previous")}));
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 1);
        // The handler installed now is the recorder again.
        QVERIFY(qInstallMessageHandler(nullptr) == &recordingHandler);
    }

    // Issue 9, 2.3: a level label Loki refuses must not make every push fail (losing send()'s entries with
    // the handler's); it is sanitized at install, reported once, and both kinds of entries are stored.
    void badLevelLabelIsSanitizedAtInstallAndLosesNothing()
    {
        makeClient(configFor(*receiver));
        QSignalSpy errors(client.get(), &LokiClient::errorOccurred);
        LokiMessageHandler::Options options;
        options.levelLabel = QStringLiteral("log-level");
        options.callPreviousHandler = false;
        QVERIFY(!LokiMessageHandler::install(client.get(), options)); // installed, with a changed option
        QVERIFY(LokiMessageHandler::isInstalled());
        QCOMPARE(client->send(QStringLiteral("from send")), LokiClient::SendResult::Accepted);
        for (int i = 0; i < 3; ++i)
            qWarning("from the handler %d", i);
        QVERIFY2(client->flush(QDeadlineTimer(longWait)), qPrintable(client->lastError().toString()));
        QCOMPARE(client->failed(), 0);
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 4);
        QCOMPARE(got[0].line, QStringLiteral("from send"));
        for (int i = 1; i < 4; ++i)
            QCOMPARE(got[i].labels.value(QStringLiteral("log_level")), QStringLiteral("warning"));
        for (const ReceivedPush &push : receiver->pushes())
            QCOMPARE(push.status, 204);
        // Reported once, at install, naming the option and what is used instead.
        QTRY_COMPARE_WITH_TIMEOUT(countKind(errors, LokiError::Kind::InvalidEntry), 1, longWait);
        const LokiError report = client->lastError();
        QCOMPARE(report.kind(), LokiError::Kind::InvalidEntry);
        QVERIFY2(report.message().contains(QStringLiteral("levelLabel")), qPrintable(report.message()));
        QVERIFY2(report.message().contains(QStringLiteral("'log_level'")), qPrintable(report.message()));
        qWarning("one more");
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(countKind(errors, LokiError::Kind::InvalidEntry), 1);
        QCOMPARE(client->counters().rejected, 0);
    }

    // Issue 9, 2.3: no level label and no static labels must not make a `{}` stream (Loki refuses it): the
    // handler's entries get the fallback label send() gives such entries.
    void noLabelsAtAllGetTheFallbackLabel()
    {
        LokiConfig config = configFor(*receiver);
        config.labels.clear();
        makeClient(config);
        LokiMessageHandler::Options options;
        options.levelLabel.clear();
        options.callPreviousHandler = false;
        QVERIFY(LokiMessageHandler::install(client.get(), options));
        QCOMPARE(client->send(QStringLiteral("from send")), LokiClient::SendResult::Accepted);
        qWarning("from the handler");
        QVERIFY2(client->flush(QDeadlineTimer(longWait)), qPrintable(client->lastError().toString()));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 2);
        QVERIFY2(got[1].line.startsWith(QStringLiteral("from the handler level=warning")),
                 qPrintable(got[1].line));
        QCOMPARE(got[1].labels, got[0].labels);
        QVERIFY(got[1].labels.contains(QStringLiteral("service_name")));
    }

    // Issue 9, 2.3: a level label that would take a stream over limits.maxLabelNames is left out at install
    // (the level goes into the line), reported once.
    void levelLabelOverTheLabelLimitGoesIntoTheLine()
    {
        LokiConfig config = configFor(*receiver);
        config.limits.maxLabelNames = 1; // app=handler is the one allowed
        receiver->setMaxLabelNames(1);
        makeClient(config);
        QSignalSpy errors(client.get(), &LokiClient::errorOccurred);
        LokiMessageHandler::Options options;
        options.callPreviousHandler = false;
        QVERIFY(!LokiMessageHandler::install(client.get(), options));
        QCOMPARE(client->send(QStringLiteral("from send")), LokiClient::SendResult::Accepted);
        qWarning("from the handler");
        QVERIFY2(client->flush(QDeadlineTimer(longWait)), qPrintable(client->lastError().toString()));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 2);
        QCOMPARE(got[1].labels, got[0].labels);
        QVERIFY2(got[1].line.startsWith(QStringLiteral("from the handler level=warning")),
                 qPrintable(got[1].line));
        QTRY_COMPARE_WITH_TIMEOUT(countKind(errors, LokiError::Kind::InvalidEntry), 1, longWait);
        QVERIFY2(client->lastError().message().contains(QStringLiteral("maxLabelNames")),
                 qPrintable(client->lastError().message()));
    }

    // Issue 9, 2.2: destroying the client while the handler is installed uninstalls it (the handler kept a
    // pointer to the freed client: the next qDebug() read freed memory).
    void destroyingTheClientUninstallsTheHandler()
    {
        makeClient(configFor(*receiver));
        qInstallMessageHandler(recordingHandler);
        LokiMessageHandler::install(client.get());
        qWarning("before");
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        client.reset();
        QVERIFY(!LokiMessageHandler::isInstalled());
        qWarning("after"); // read freed memory before the fix (valgrind, ASan)
        QCOMPARE(previousSaw(), (QStringList{QStringLiteral("before"), QStringLiteral("after")}));
        QVERIFY(qInstallMessageHandler(nullptr) == &recordingHandler); // what was there before is back
        QCOMPARE(receiver->entryCount(), 1);
    }

    // The same in a child process, so that the read of freed memory shows as a crash, or as the line the
    // child prints after it, when no sanitizer watches.
    void destroyingTheClientUninstallsTheHandlerChild()
    {
        QProcess child;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QString::fromLatin1(destroyChildEnv), receiver->url().toString());
        child.setProcessEnvironment(env);
        child.start(QCoreApplication::applicationFilePath(), QStringList());
        QVERIFY(child.waitForFinished(longWait));
        const QByteArray out = child.readAllStandardOutput() + child.readAllStandardError();
        QVERIFY2(child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0, out.constData());
        QVERIFY2(out.contains("handler uninstalled: yes"), out.constData());
    }

    // Issue 9, 2.16: uninstall() must not remove a handler the application installed after ours; ours stays
    // in its chain, inert, passing messages on to the handler before it.
    void uninstallLeavesALaterHandlerInPlace()
    {
        makeClient(configFor(*receiver));
        qInstallMessageHandler(recordingHandler);
        LokiMessageHandler::install(client.get());
        g_appPrevious = qInstallMessageHandler(appHandler); // the application's, chaining to ours
        qWarning("one");
        LokiMessageHandler::uninstall();
        QVERIFY(!LokiMessageHandler::isInstalled());
        qWarning("two");
        QCOMPARE(appSaw(), (QStringList{QStringLiteral("one"), QStringLiteral("two")}));
        QCOMPARE(previousSaw(), (QStringList{QStringLiteral("one"), QStringLiteral("two")}));
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(lines(receiver->entries()).size(), 1); // "two" came after uninstall()
        QVERIFY(receiver->entries().first().line.startsWith(QStringLiteral("one")));

        // Installed again while the application's handler is on top: it works through that chain, once.
        LokiMessageHandler::install(client.get());
        qWarning("three");
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 2);
        QCOMPARE(appSaw().size(), 3);
        QCOMPARE(previousSaw().size(), 3);
        LokiMessageHandler::uninstall();
        QVERIFY(qInstallMessageHandler(nullptr) == &appHandler); // the application's handler is still there
        // The application removes its handler, putting back what it replaced (ours, inert): messages go on
        // to the first handler.
        qInstallMessageHandler(g_appPrevious);
        qWarning("four");
        QCOMPARE(previousSaw().size(), 4);
        QCOMPARE(appSaw().size(), 3);
        QCOMPARE(receiver->entryCount(), 2);
    }

    // Issue 9, 2.16, the other kind of later handler: one that does not call ours. uninstall() leaves it in
    // place; a later install() goes on top of it again and works.
    void reinstallOverALaterHandlerThatDoesNotChain()
    {
        makeClient(configFor(*receiver));
        qInstallMessageHandler(recordingHandler);
        LokiMessageHandler::install(client.get());
        qInstallMessageHandler(replacingHandler);
        qWarning("one"); // ours is out of the chain: only the replacing handler sees it
        LokiMessageHandler::uninstall();
        QVERIFY(qInstallMessageHandler(replacingHandler) == &replacingHandler); // left in place
        LokiMessageHandler::install(client.get());
        qWarning("two");
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(lines(receiver->entries()).size(), 1);
        QVERIFY(receiver->entries().first().line.startsWith(QStringLiteral("two")));
        QCOMPARE(appSaw(), (QStringList{QStringLiteral("replacing: one"), QStringLiteral("replacing: two")}));
        QVERIFY(previousSaw().isEmpty());
        LokiMessageHandler::uninstall();
        QVERIFY(qInstallMessageHandler(nullptr) == &replacingHandler);
    }

    // A client whose configuration is invalid refuses every entry: the handler is not installed for it.
    void invalidClientConfigurationIsNotInstalled()
    {
        LokiConfig config = configFor(*receiver);
        config.labels = {{QStringLiteral("bad-name"), QStringLiteral("x")}};
        makeClient(config);
        QVERIFY(!LokiMessageHandler::install(client.get()));
        QVERIFY(!LokiMessageHandler::isInstalled());
        QVERIFY(!LokiMessageHandler::install(nullptr));
        QVERIFY(!LokiMessageHandler::isInstalled());
        QTRY_VERIFY_WITH_TIMEOUT(
            client->lastError().message().startsWith(QStringLiteral("LokiMessageHandler not installed")),
            longWait);
    }

    // The RAII guard uninstalls what it installed, and only that.
    void installationGuard()
    {
        makeClient(configFor(*receiver));
        qInstallMessageHandler(recordingHandler);
        {
            LokiMessageHandler::Installation handler(client.get());
            QVERIFY(handler.optionsAccepted());
            QVERIFY(handler.isActive());
            qWarning("guarded");
        }
        QVERIFY(!LokiMessageHandler::isInstalled());
        QVERIFY(qInstallMessageHandler(recordingHandler) == &recordingHandler); // restored
        {
            LokiMessageHandler::Installation first(client.get());
            LokiMessageHandler::Options options;
            options.levelLabel = QStringLiteral("severity");
            LokiMessageHandler::install(client.get(), options); // replaces it: first no longer owns it
            QVERIFY(!first.isActive());
        }
        QVERIFY(LokiMessageHandler::isInstalled()); // the later install() stays
        qWarning("later");
        LokiMessageHandler::uninstall();
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 2);
        QCOMPARE(got[1].labels.value(QStringLiteral("severity")), QStringLiteral("warning"));
        {
            LokiMessageHandler::Options options;
            options.levelLabel = QStringLiteral("a-b");
            LokiMessageHandler::Installation adjusted(client.get(), options);
            QVERIFY(!adjusted.optionsAccepted());
            QVERIFY(adjusted.isActive());
            client.reset(); // destroying the client first is safe
            QVERIFY(!adjusted.isActive());
        }
        QVERIFY(!LokiMessageHandler::isInstalled());
        qWarning("after all");
        QCOMPARE(previousSaw().last(), QStringLiteral("after all"));
    }

    void previousHandlerCanBeSilenced()
    {
        makeClient(configFor(*receiver));
        qInstallMessageHandler(recordingHandler);
        LokiMessageHandler::Options options;
        options.callPreviousHandler = false;
        LokiMessageHandler::install(client.get(), options);
        qWarning("only loki");
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 1);
        QVERIFY(previousSaw().isEmpty());
    }

    void clientDiagnosticsNeverLoopBack()
    {
        QLoggingCategory::setFilterRules(QStringLiteral("lokiqt.*=true"));
        makeClient(configFor(*receiver));
        qInstallMessageHandler(recordingHandler);
        LokiMessageHandler::install(client.get());
        receiver->failNext(1, 400, "refused on purpose");
        qWarning("trigger");
        QTRY_VERIFY_WITH_TIMEOUT(client->failed() == 1, longWait);
        // The client's own category logged the failure (from its thread), and it still reached the console
        // handler, but never Loki.
        QTRY_VERIFY_WITH_TIMEOUT(!previousSaw().filter(QStringLiteral("refused on purpose")).isEmpty(),
                                 longWait);
        qCWarning(lcTestLoki) << "own category from the app thread";
        qWarning("after");
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 1);
        QVERIFY(got[0].line.startsWith(QStringLiteral("after")));
    }

    void messagesFromManyThreads()
    {
        makeClient(configFor(*receiver));
        LokiMessageHandler::Options options;
        options.callPreviousHandler = false;
        LokiMessageHandler::install(client.get(), options);
        std::vector<std::unique_ptr<QThread>> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back(QThread::create([t] {
                for (int i = 0; i < 2000; ++i)
                    qInfo("t%d %d", t, i);
            }));
            threads.back()->start();
        }
        for (auto &thread : threads)
            QVERIFY(thread->wait(longWait));
        LokiMessageHandler::uninstall();
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 8000);
    }

    // Each thread's messages (and its send()s among them) arrive with distinct timestamps that increase in
    // the order the thread made them, while the buffer renders them later on the client's thread.
    void eachThreadsOrderAndTimestampsHold()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 300; // several batches while the threads log
        makeClient(config);
        LokiMessageHandler::Options options;
        options.callPreviousHandler = false;
        LokiMessageHandler::install(client.get(), options);
        constexpr int threadCount = 4;
        constexpr int perThread = 1500;
        LokiClient *c = client.get();
        std::vector<std::unique_ptr<QThread>> threads;
        for (int t = 0; t < threadCount; ++t) {
            threads.emplace_back(QThread::create([t, c] {
                for (int i = 0; i < perThread; ++i) {
                    if (i % 100 == 99)
                        c->send(QStringLiteral("t%1 %2 sent").arg(t).arg(i));
                    else if (i % 2)
                        qCWarning(lcTestUi, "t%d %d", t, i);
                    else
                        qInfo() << "t" << t << i;
                }
            }));
            threads.back()->start();
        }
        for (auto &thread : threads)
            QVERIFY(thread->wait(longWait));
        LokiMessageHandler::uninstall();
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        QCOMPARE(client->counters().accepted, qint64(threadCount * perThread));
        QCOMPARE(client->sent(), qint64(threadCount * perThread));
        QCOMPARE(receiver->duplicateCount(), 0);
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), threadCount * perThread);
        // By thread: sequence number -> timestamp.
        std::vector<std::vector<qint64>> stamps(threadCount, std::vector<qint64>(perThread, 0));
        QSet<qint64> distinct;
        const QRegularExpression pattern(QStringLiteral("^t\\s?(\\d) (\\d+)"));
        for (const ReceivedEntry &e : got) {
            const QRegularExpressionMatch m = pattern.match(e.line);
            QVERIFY2(m.hasMatch(), qPrintable(e.line));
            const int t = m.captured(1).toInt();
            const int i = m.captured(2).toInt();
            QCOMPARE(stamps[size_t(t)][size_t(i)], qint64(0));
            stamps[size_t(t)][size_t(i)] = e.timestampNs;
            distinct.insert(e.timestampNs);
            if (i % 2 && i % 100 != 99)
                QVERIFY2(e.line.contains(QStringLiteral("category=test.ui")), qPrintable(e.line));
        }
        QCOMPARE(distinct.size(), got.size());
        for (int t = 0; t < threadCount; ++t) {
            for (int i = 1; i < perThread; ++i)
                QVERIFY2(stamps[size_t(t)][size_t(i)] > stamps[size_t(t)][size_t(i - 1)],
                         qPrintable(QStringLiteral("thread %1, message %2").arg(t).arg(i)));
        }
    }

    // A lone message, with nothing to fill a batch, still goes out within batch.maxWait, without flush().
    void aLoneMessageGoesOutWithinMaxWait()
    {
        LokiConfig config = configFor(*receiver);
        config.batch.maxEntries = 1000;
        config.batch.maxWait = 100ms;
        makeClient(config);
        LokiMessageHandler::Options options;
        options.callPreviousHandler = false;
        LokiMessageHandler::install(client.get(), options);
        for (int round = 0; round < 3; ++round) {
            QTRY_COMPARE_WITH_TIMEOUT(client->state(), LokiClient::State::Idle, longWait);
            std::thread([round] { qWarning("lone %d", round); }).join(); // a thread that ends at once
            QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), round + 1, longWait);
        }
        QCOMPARE(client->sent(), 3);
    }

    // Threads keep logging while the handler is installed and uninstalled: uninstall() waits for the
    // messages being handled, and every message that was accepted is delivered.
    void installAndUninstallWhileThreadsLog()
    {
        makeClient(configFor(*receiver));
        static std::atomic<int> before{0};
        before.store(0);
        qInstallMessageHandler([](QtMsgType, const QMessageLogContext &, const QString &) { ++before; });
        LokiMessageHandler::Options options;
        options.callPreviousHandler = false;
        std::atomic<bool> stop{false};
        std::vector<std::unique_ptr<QThread>> threads;
        for (int t = 0; t < 3; ++t) {
            threads.emplace_back(QThread::create([&stop, t] {
                for (int i = 0; !stop.load(); ++i)
                    qInfo("t%d %d", t, i);
            }));
            threads.back()->start();
        }
        for (int round = 0; round < 50; ++round) {
            LokiMessageHandler::install(client.get(), options);
            QTest::qWait(2);
            LokiMessageHandler::uninstall();
        }
        stop.store(true);
        for (auto &thread : threads)
            QVERIFY(thread->wait(longWait));
        QVERIFY(client->flush(QDeadlineTimer(longWait)));
        const LokiClient::Counters counters = client->counters();
        QVERIFY(counters.accepted > 0);
        QCOMPARE(counters.sent, counters.accepted);
        QCOMPARE(qint64(receiver->entryCount()), counters.accepted);
        QVERIFY(before.load() > 0); // between installations the messages went to the handler before
    }

    void fatalFlushesBeforeAbort()
    {
        QProcess child;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QString::fromLatin1(fatalChildEnv), receiver->url().toString());
        child.setProcessEnvironment(env);
        child.start(QCoreApplication::applicationFilePath(), QStringList());
        QVERIFY(child.waitForFinished(longWait));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit); // qFatal() aborted it
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 6, longWait);
        const QList<ReceivedEntry> got = receiver->entries();
        for (int i = 0; i < 5; ++i)
            QVERIFY(got[i].line.startsWith(QStringLiteral("before %1").arg(i)));
        QVERIFY(got[5].line.startsWith(QStringLiteral("the end")));
        QCOMPARE(got[5].labels.value(QStringLiteral("level")), QStringLiteral("fatal"));
    }

    void fatalWithLokiDownLeavesEverythingInTheSpool()
    {
        QTemporaryDir dir;
        receiver->stop();
        QProcess child;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QString::fromLatin1(fatalChildEnv), receiver->url().toString());
        env.insert(QString::fromLatin1(fatalSpoolEnv), dir.path());
        child.setProcessEnvironment(env);
        QElapsedTimer clock;
        clock.start();
        child.start(QCoreApplication::applicationFilePath(), QStringList());
        QVERIFY(child.waitForFinished(longWait));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);
        QVERIFY(clock.elapsed() < 30000); // bounded by fatalFlushTimeout, not by Loki

        // The next start delivers the five entries and the fatal message.
        QVERIFY(receiver->restart());
        LokiConfig config;
        config.url = receiver->url();
        config.spool.directory = dir.path();
        LokiClient next(config);
        QVERIFY2(next.isSpooling(), qPrintable(next.lastError().toString()));
        QCOMPARE(next.counters().replayed, 6);
        QVERIFY(next.flush(QDeadlineTimer(longWait)));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 6);
        for (int i = 0; i < 5; ++i)
            QVERIFY(got[i].line.startsWith(QStringLiteral("before %1").arg(i)));
        QVERIFY(got[5].line.startsWith(QStringLiteral("the end")));
    }
};

int main(int argc, char **argv)
{
    if (qEnvironmentVariableIsSet(fatalChildEnv))
        return runFatalChild(argc, argv);
    if (qEnvironmentVariableIsSet(destroyChildEnv))
        return runDestroyChild(argc, argv);
    QCoreApplication app(argc, argv);
    tst_MessageHandler test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_messagehandler.moc"
