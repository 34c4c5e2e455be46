// SPDX-License-Identifier: MIT
// The Qt Widgets example (examples/qtapp), driven like a user would: its command line, its buttons, its
// live panel and its error banner, against the in-process test receiver.
#include "appoptions.h"
#include "mainwindow.h"

#include <lokiqt/lokiclient.h>
#include <lokiqt/lokimessagehandler.h>

#include "lokitestreceiver.h"

#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFileInfo>
#include <QtCore/QScopeGuard>
#include <QtCore/QSet>
#include <QtTest/QSignalSpy>
#include <QtTest/QtTest>
#include <QtWidgets/QAbstractButton>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QStatusBar>

using namespace std::chrono_literals;

namespace {
constexpr int longWait = 30000;

template<typename T>
T *child(const QWidget &window, const char *name)
{
    T *widget = window.findChild<T *>(QLatin1String(name));
    if (!widget)
        qFatal("no %s in the window", name);
    return widget;
}

bool parse(const QStringList &arguments, AppOptions *options, QString *error = nullptr)
{
    QString ignored;
    return AppOptions::parse(QStringList{QStringLiteral("lokiqt-qtapp")} + arguments, options,
                             error ? error : &ignored);
}

// How often each line arrived, over all streams.
QMap<QString, int> lineCounts(const QList<ReceivedEntry> &entries)
{
    QMap<QString, int> counts;
    for (const ReceivedEntry &entry : entries)
        ++counts[entry.line];
    return counts;
}
} // namespace

class tst_QtApp : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void commandLine()
    {
        qunsetenv("LOKI_URL");
        qunsetenv("LOKI_ADDR");
        AppOptions defaults;
        QVERIFY(parse({}, &defaults));
        QCOMPARE(defaults.config.url, QUrl(QStringLiteral("http://localhost:3100")));
        QCOMPARE(defaults.config.labels, (QMap<QString, QString>{{"app", "qtapp"}}));
        QCOMPARE(defaults.config.lineFormat, LokiConfig::LineFormat::Plain);
        QCOMPARE(defaults.demoMs, 0);
        QVERIFY(defaults.config.spool.directory.isEmpty());

        AppOptions all;
        QString error;
        QVERIFY2(parse({"--url", "http://loki:3100", "--tenant", "team-a", "--label", "app=kiosk", "--label",
                        "env=test", "--line-format", "json", "--spool-dir", "/tmp/qtapp-spool", "--demo-ms",
                        "5000"},
                       &all, &error),
                 qPrintable(error));
        QCOMPARE(all.config.url, QUrl(QStringLiteral("http://loki:3100")));
        QCOMPARE(all.config.tenant, QStringLiteral("team-a"));
        QCOMPARE(all.config.labels, (QMap<QString, QString>{{"app", "kiosk"}, {"env", "test"}}));
        QCOMPARE(all.config.lineFormat, LokiConfig::LineFormat::Json);
        QCOMPARE(all.config.spool.directory, QStringLiteral("/tmp/qtapp-spool"));
        QCOMPARE(all.demoMs, 5000);

        // $LOKI_URL when there is no --url; the command line wins.
        qputenv("LOKI_URL", "http://from-env:3100");
        auto unset = qScopeGuard([] { qunsetenv("LOKI_URL"); });
        AppOptions fromEnv;
        QVERIFY(parse({}, &fromEnv));
        QCOMPARE(fromEnv.config.url, QUrl(QStringLiteral("http://from-env:3100")));
        AppOptions fromArgs;
        QVERIFY(parse({"--url", "http://from-args:3100"}, &fromArgs));
        QCOMPARE(fromArgs.config.url, QUrl(QStringLiteral("http://from-args:3100")));

        AppOptions demo;
        QVERIFY(parse({"--demo"}, &demo));
        QCOMPARE(demo.demoMs, 20000);
        AppOptions help;
        QVERIFY(parse({"--help"}, &help));
        QVERIFY(help.helpText.contains(QLatin1String("--line-format")));

        // Usage errors name what is wrong.
        AppOptions bad;
        QVERIFY(!parse({"--label", "app"}, &bad, &error));
        QVERIFY2(error.contains(QLatin1String("name=value")), qPrintable(error));
        QVERIFY(!parse({"--label", "app-x=1"}, &bad, &error)); // not a Loki label name
        QVERIFY2(error.contains(QLatin1String("app-x")), qPrintable(error));
        QVERIFY(!parse({"--line-format", "xml"}, &bad, &error));
        QVERIFY2(error.contains(QLatin1String("xml")), qPrintable(error));
        QVERIFY(!parse({"--url", "ftp://loki"}, &bad, &error));
        QVERIFY(!parse({"--demo-ms", "0"}, &bad, &error));
        QVERIFY(!parse({"--no-such-option"}, &bad, &error));
    }

    void environment()
    {
        // logcli's names configure the app; its options override them. The variables are restored after.
        const char *const names[] = {"LOKI_URL",      "LOKI_ADDR",     "LOKI_ORG_ID",
                                     "LOKI_USERNAME", "LOKI_PASSWORD", "LOKI_CA_CERT_PATH"};
        QList<std::pair<const char *, std::optional<QByteArray>>> saved;
        for (const char *name : names) {
            saved.append(
                {name, qEnvironmentVariableIsSet(name) ? std::optional(qgetenv(name)) : std::nullopt});
            qunsetenv(name);
        }
        auto restore = qScopeGuard([&saved] {
            for (const auto &[name, value] : std::as_const(saved)) {
                if (value)
                    qputenv(name, *value);
                else
                    qunsetenv(name);
            }
        });
        qputenv("LOKI_ADDR", "http://addr:3100");
        qputenv("LOKI_ORG_ID", "team-env");
        qputenv("LOKI_USERNAME", "loki");
        qputenv("LOKI_PASSWORD", "pa55");
        AppOptions fromEnv;
        QString error;
        QVERIFY2(parse({}, &fromEnv, &error), qPrintable(error));
        QCOMPARE(fromEnv.config.url, QUrl(QStringLiteral("http://addr:3100")));
        QCOMPARE(fromEnv.config.tenant, QStringLiteral("team-env"));
        QCOMPARE(fromEnv.config.basicAuthUser, QStringLiteral("loki"));
        QCOMPARE(fromEnv.config.basicAuthPassword, QStringLiteral("pa55"));
#if QT_CONFIG(ssl)
        QVERIFY(!fromEnv.config.sslConfiguration.has_value()); // no TLS variable: no TLS backend loaded
#endif
        QCOMPARE(fromEnv.config.queueCapacity, 16384); // the app's own settings stay

        AppOptions fromArgs;
        QVERIFY2(parse({"--url", "http://args:3100", "--tenant", "team-args"}, &fromArgs, &error),
                 qPrintable(error));
        QCOMPARE(fromArgs.config.url, QUrl(QStringLiteral("http://args:3100")));
        QCOMPARE(fromArgs.config.tenant, QStringLiteral("team-args"));
        QCOMPARE(fromArgs.config.basicAuthUser, QStringLiteral("loki"));

        // A variable that cannot be used is a usage error that names it, unless an option replaces it.
        qputenv("LOKI_ADDR", "ftp://addr");
        AppOptions bad;
        QVERIFY(!parse({}, &bad, &error));
        QVERIFY2(error.contains(QLatin1String("LOKI_ADDR")), qPrintable(error));
        QVERIFY2(parse({"--url", "http://args:3100"}, &bad, &error), qPrintable(error));
        qputenv("LOKI_CA_CERT_PATH", "/nonexistent/qtapp-ca.pem");
        QVERIFY(!parse({"--url", "http://args:3100"}, &bad, &error));
        QVERIFY2(error.contains(QLatin1String("LOKI_CA_CERT_PATH: cannot read")), qPrintable(error));
    }

    void window()
    {
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());

        // The window's client, configured the way the application configures it from its command line.
        AppOptions options;
        QString error;
        QVERIFY2(parse({"--url", receiver.url().toString(), "--label", "app=qtapp-test"}, &options, &error),
                 qPrintable(error));
        options.config.batch.maxWait = 100ms; // shorter waits for the test
        // The entry logged while the receiver is down below must survive until it is back, however slow
        // this machine is.
        options.config.retry.maxAttempts = 1000;
        options.config.retry.maxBackoff = 500ms;
        LokiClient client(options.config);
        LokiMessageHandler::Options handlerOptions;
        handlerOptions.callPreviousHandler = false; // the burst would flood the test log
        LokiMessageHandler::install(&client, handlerOptions);
        auto uninstall = qScopeGuard([] { LokiMessageHandler::uninstall(); }); // runs before ~LokiClient

        MainWindow window(&client);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        auto *category = child<QComboBox>(window, "categoryBox");
        auto *message = child<QLineEdit>(window, "messageEdit");
        auto *sent = child<QLabel>(window, "sentValue");

        // One message per level button, each through another category.
        const struct
        {
            const char *button;
            int category;
            QString categoryName;
            QString level;
        } clicks[] = {
            {"debugButton", 0, "app.ui", "debug"},
            {"infoButton", 1, "app.network", "info"},
            {"warningButton", 2, "app.storage", "warning"},
            {"criticalButton", 0, "app.ui", "error"},
        };
        for (const auto &click : clicks) {
            category->setCurrentIndex(click.category);
            message->setText(QStringLiteral("clicked %1").arg(QLatin1String(click.button)));
            QTest::mouseClick(child<QAbstractButton>(window, click.button), Qt::LeftButton);
        }
        for (const auto &click : clicks) {
            const QString line =
                QStringLiteral("clicked %1 category=%2").arg(QLatin1String(click.button), click.categoryName);
            QTRY_VERIFY_WITH_TIMEOUT(lines(receiver.entries()).contains(line), longWait);
            QCOMPARE(lines(receiver.entries({{"app", "qtapp-test"}, {"level", click.level}})).count(line), 1);
            QCOMPARE(lines(receiver.entries()).count(line), 1);
        }

        // The burst: 10,000 lines from 4 threads. The click returns at once, the button stays disabled
        // until the threads are done.
        auto *burst = child<QAbstractButton>(window, "burstButton");
        QSignalSpy burstDone(&window, &MainWindow::burstFinished);
        QElapsedTimer clickTime;
        clickTime.start();
        QTest::mouseClick(burst, Qt::LeftButton);
        QVERIFY2(clickTime.elapsed() < 2000, "the Burst button blocked the UI thread");
        QVERIFY(!burst->isEnabled());
        QTRY_COMPARE_WITH_TIMEOUT(burstDone.count(), 1, longWait);
        QVERIFY(burst->isEnabled());

        QSet<QString> expected;
        for (int t = 0; t < MainWindow::burstThreads; ++t) {
            for (int i = 0; i < MainWindow::burstLinesPerThread; ++i)
                expected.insert(
                    QStringLiteral("burst thread=%1 line=%2 category=%3")
                        .arg(t)
                        .arg(i)
                        .arg(t % 2 == 0 ? QLatin1String("app.network") : QLatin1String("app.storage")));
        }
        QCOMPARE(expected.size(), 10000);
        const auto burstLines = [&receiver] {
            QStringList out;
            for (const ReceivedEntry &entry : receiver.entries({{"level", "info"}})) {
                if (entry.line.startsWith(QLatin1String("burst thread=")))
                    out << entry.line;
            }
            return out;
        };
        QTRY_COMPARE_WITH_TIMEOUT(burstLines().size(), 10000, longWait);
        QTRY_COMPARE_WITH_TIMEOUT(client.queued(), 0, longWait);
        const QStringList arrived = burstLines();
        QCOMPARE(arrived.size(), 10000);
        QCOMPARE(QSet<QString>(arrived.cbegin(), arrived.cend()), expected); // each line exactly once
        QCOMPARE(receiver.duplicateCount(), 0);                              // and none sent twice
        const QMap<QString, int> counts = lineCounts(receiver.entries());
        QCOMPARE(counts.value(QStringLiteral("burst: 10000 lines from 4 threads category=app.ui")), 1);
        QCOMPARE(counts.value(QStringLiteral("burst: done category=app.ui")), 1);

        // The panel follows the client: sent reaches what the receiver stored (the 4 clicks, the burst and
        // its 2 lines, plus whatever Qt itself logged, such as the offscreen plugin's warnings).
        QVERIFY(receiver.entryCount() >= 4 + 10000 + 2);
        QCOMPARE(client.sent(), qint64(receiver.entryCount()));
        QTRY_COMPARE_WITH_TIMEOUT(sent->text(), QString::number(receiver.entryCount()), longWait);
        QTRY_COMPARE_WITH_TIMEOUT(child<QLabel>(window, "queuedValue")->text(), QStringLiteral("0"),
                                  longWait);
        QTRY_COMPARE_WITH_TIMEOUT(child<QLabel>(window, "stateValue")->text(), QStringLiteral("Idle"),
                                  longWait);
        QCOMPARE(child<QLabel>(window, "droppedValue")->text(), QStringLiteral("0"));
        QCOMPARE(child<QLabel>(window, "failedValue")->text(), QStringLiteral("0"));
        QCOMPARE(child<QLabel>(window, "lastErrorValue")->text(), QStringLiteral("none"));
        auto *banner = child<QWidget>(window, "errorBanner");
        QVERIFY(!banner->isVisible());

        // Loki goes away: the next message's push fails, and the error shows in the banner, the status bar
        // and the panel.
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver.stop();
        category->setCurrentIndex(1);
        message->setText(QStringLiteral("logged while Loki is down"));
        QTest::mouseClick(child<QAbstractButton>(window, "warningButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(banner->isVisible(), longWait);
        QVERIFY(!errors.isEmpty());
        const QString shown = child<QLabel>(window, "errorBannerText")->text();
        QCOMPARE(shown, errors.constLast().at(0).value<LokiError>().toString());
        QVERIFY2(shown.startsWith(QLatin1String("network error: ")), qPrintable(shown));
        QVERIFY2(window.statusBar()->currentMessage().contains(shown),
                 qPrintable(window.statusBar()->currentMessage()));
        QCOMPARE(child<QLabel>(window, "lastErrorValue")->text(), shown);
        QTRY_COMPARE_WITH_TIMEOUT(child<QLabel>(window, "stateValue")->text(), QStringLiteral("Retrying"),
                                  longWait);

        // The screenshot, with the banner up.
        const QString dir = QStringLiteral(LOKIQT_SCREENSHOT_DIR);
        QVERIFY(QDir().mkpath(dir));
        const QString png = dir + QStringLiteral("/qtapp.png");
        QFile::remove(png);
        QVERIFY(window.grab().save(png));
        QVERIFY(QFileInfo(png).size() > 0);

        // Loki is back: the retried push delivers the entry, once.
        QVERIFY(receiver.restart());
        const QString downLine = QStringLiteral("logged while Loki is down category=app.network");
        QTRY_COMPARE_WITH_TIMEOUT(lines(receiver.entries({{"level", "warning"}})).count(downLine), 1,
                                  longWait);
        QTRY_COMPARE_WITH_TIMEOUT(client.queued(), 0, longWait);
        QVERIFY(client.retried() > 0);
        QTRY_COMPARE_WITH_TIMEOUT(child<QLabel>(window, "retriedValue")->text(),
                                  QString::number(client.retried()), longWait);
        QTRY_COMPARE_WITH_TIMEOUT(sent->text(), QString::number(client.sent()), longWait);
        QCOMPARE(client.failed(), 0);

        // The banner's close button dismisses it; it stays hidden while no new error comes.
        QTest::mouseClick(child<QAbstractButton>(window, "errorBannerClose"), Qt::LeftButton);
        QVERIFY(!banner->isVisible());
        const qsizetype errorsBefore = errors.size();
        QTest::qWait(300);
        QCOMPARE(errors.size(), errorsBefore);
        QVERIFY(!banner->isVisible());
        QVERIFY(!window.statusBar()->currentMessage().isEmpty()); // the status bar keeps the last error

        LokiMessageHandler::uninstall(); // from here on, messages go to the test log again
        qInfo("screenshot: %s", qPrintable(png));
    }
};

QTEST_MAIN(tst_QtApp)
#include "tst_qtapp.moc"
