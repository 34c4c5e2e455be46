// SPDX-License-Identifier: MIT
// The QML example (examples/qmlapp/Main.qml) in a QQuickView against the in-process test receiver, driven
// like a user would: its buttons log through the installed LokiMessageHandler, its panel's texts follow the
// client's properties through the QML module LokiQt, and an outage shows in its error text.
#include "applogger.h"

#include <lokiqt/lokiclient.h>
#include <lokiqt/lokimessagehandler.h>
#include <lokiqtqml.h>

#include "lokitestreceiver.h"

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QScopeGuard>
#include <QtCore/QSet>
#include <QtQml/QQmlEngine>
#include <QtQuick/QQuickItem>
#include <QtQuick/QQuickView>
#include <QtTest/QSignalSpy>
#include <QtTest/QtTest>

using namespace std::chrono_literals;

namespace {
constexpr int longWait = 30000;
} // namespace

class tst_QmlApp : public QObject
{
    Q_OBJECT
private:
    QQuickItem *item(QQuickView &view, const char *name)
    {
        auto *found = view.rootObject()->findChild<QQuickItem *>(QLatin1String(name));
        if (!found)
            qFatal("no %s in the QML panel", name);
        return found;
    }
    QString text(QQuickView &view, const char *name) { return item(view, name)->property("text").toString(); }
    void click(QQuickView &view, const char *name)
    {
        QQuickItem *button = item(view, name);
        const QPointF center = button->mapToScene(QPointF(button->width() / 2, button->height() / 2));
        QTest::mouseClick(&view, Qt::LeftButton, Qt::NoModifier, center.toPoint());
    }

private Q_SLOTS:
    void initTestCase() { qml_register_types_LokiQt(); }

    void types()
    {
        // What the module registers: the client uncreatable, the gadgets as value types, the enums.
        QQmlEngine engine;
        QQmlComponent creatable(&engine);
        creatable.setData("import QtQml\nimport LokiQt\nLokiClient {}", QUrl());
        QVERIFY(creatable.isError());
        QVERIFY2(creatable.errorString().contains(QLatin1String("created in C++")),
                 qPrintable(creatable.errorString()));

        QQmlComponent enums(&engine);
        enums.setData("import QtQml\nimport LokiQt\nQtObject {\n"
                      "  property int retrying: LokiClient.Retrying\n"
                      "  property int network: LokiError.Network\n"
                      "  property lokiError error\n"
                      "  property lokiCounters counters\n"
                      "}",
                      QUrl());
        std::unique_ptr<QObject> object(enums.create());
        QVERIFY2(object, qPrintable(enums.errorString()));
        QCOMPARE(object->property("retrying").toInt(), int(LokiClient::State::Retrying));
        QCOMPARE(object->property("network").toInt(), int(LokiError::Kind::Network));
        QCOMPARE(object->property("error").metaType(), QMetaType::fromType<LokiError>());
        QCOMPARE(object->property("counters").metaType(), QMetaType::fromType<LokiClientCounters>());
    }

    void panel()
    {
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());

        // The client configured as the application configures it: from the environment.
        const QByteArray savedUrl = qgetenv("LOKI_URL");
        const bool hadUrl = qEnvironmentVariableIsSet("LOKI_URL");
        qputenv("LOKI_URL", receiver.url().toString().toUtf8());
        auto restoreUrl =
            qScopeGuard([&] { hadUrl ? qputenv("LOKI_URL", savedUrl) : qunsetenv("LOKI_URL"); });
        QStringList problems;
        LokiConfig config = qmlAppConfig(&problems);
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QStringLiteral("; "))));
        QCOMPARE(config.url, receiver.url());
        config.batch.maxWait = 100ms; // shorter waits for the test
        // The entry logged while the receiver is down below must survive until it is back.
        config.retry.maxAttempts = 1000;
        config.retry.maxBackoff = 500ms;
        LokiClient client(config);
        LokiMessageHandler::Options handlerOptions;
        handlerOptions.callPreviousHandler = false; // the burst would flood the test log
        LokiMessageHandler::install(&client, handlerOptions);
        auto uninstall = qScopeGuard([] { LokiMessageHandler::uninstall(); }); // runs before ~LokiClient

        AppLogger logger;
        QQuickView view; // destroyed before the client it binds to
        view.setResizeMode(QQuickView::SizeRootObjectToView);
        view.setInitialProperties({{QStringLiteral("client"), QVariant::fromValue(&client)},
                                   {QStringLiteral("logger"), QVariant::fromValue(&logger)},
                                   {QStringLiteral("pushUrl"), config.pushUrl().toString()}});
        view.setSource(QUrl::fromLocalFile(QStringLiteral(LOKIQT_QMLAPP_QML)));
        QVERIFY2(view.status() == QQuickView::Ready, qPrintable([&view] {
                     QStringList errors;
                     for (const QQmlError &e : view.errors())
                         errors << e.toString();
                     return errors.join(QLatin1Char('\n'));
                 }()));
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QCOMPARE(text(view, "pushUrlValue"), config.pushUrl().toString());
        QCOMPARE(text(view, "lastErrorValue"), QStringLiteral("none"));
        QVERIFY(!item(view, "errorBanner")->isVisible());

        // One message per level button.
        const struct
        {
            const char *button;
            QString level;
        } clicks[] = {
            {"debugButton", "debug"},
            {"infoButton", "info"},
            {"warningButton", "warning"},
            {"errorButton", "error"},
        };
        for (const auto &c : clicks) {
            item(view, "messageField")
                ->setProperty("text", QStringLiteral("clicked %1").arg(QLatin1String(c.button)));
            click(view, c.button);
        }
        for (const auto &c : clicks) {
            const QString line = QStringLiteral("clicked %1 category=app.qml").arg(QLatin1String(c.button));
            QTRY_VERIFY_WITH_TIMEOUT(lines(receiver.entries()).contains(line), longWait);
            QCOMPARE(lines(receiver.entries({{"app", "qmlapp"}, {"level", c.level}})).count(line), 1);
            QCOMPARE(lines(receiver.entries()).count(line), 1);
        }

        // The burst: 1000 lines from one click, each delivered exactly once.
        const int burst = view.rootObject()->property("burstLines").toInt();
        QCOMPARE(burst, 1000);
        click(view, "burstButton");
        QSet<QString> expected;
        for (int i = 0; i < burst; ++i)
            expected.insert(QStringLiteral("burst line=%1 category=app.qml").arg(i));
        const auto burstLines = [&receiver] {
            QStringList out;
            for (const ReceivedEntry &entry : receiver.entries({{"level", "info"}})) {
                if (entry.line.startsWith(QLatin1String("burst line=")))
                    out << entry.line;
            }
            return out;
        };
        QTRY_COMPARE_WITH_TIMEOUT(burstLines().size(), burst, longWait);
        QTRY_COMPARE_WITH_TIMEOUT(client.queued(), 0, longWait);
        const QStringList arrived = burstLines();
        QCOMPARE(QSet<QString>(arrived.cbegin(), arrived.cend()), expected);
        QCOMPARE(receiver.duplicateCount(), 0);
        QCOMPARE(lines(receiver.entries()).count(QStringLiteral("burst: 1000 lines category=app.qml")), 1);

        // The panel follows the client through its bindings: sent reaches what the receiver stored (the
        // clicks, the burst and its first line, and whatever Qt itself logged).
        QVERIFY(receiver.entryCount() >= 4 + burst + 1);
        QCOMPARE(client.sent(), qint64(receiver.entryCount()));
        QTRY_COMPARE_WITH_TIMEOUT(text(view, "sentValue"), QString::number(receiver.entryCount()), longWait);
        QTRY_COMPARE_WITH_TIMEOUT(text(view, "queuedValue"), QStringLiteral("0"), longWait);
        QTRY_COMPARE_WITH_TIMEOUT(text(view, "stateValue"), QStringLiteral("Idle"), longWait);
        QCOMPARE(text(view, "droppedValue"), QStringLiteral("0"));
        QCOMPARE(text(view, "failedValue"), QStringLiteral("0"));
        QCOMPARE(text(view, "lastErrorValue"), QStringLiteral("none"));
        QVERIFY(!item(view, "errorBanner")->isVisible());

        // Loki goes away: the next message's push fails, and the error shows in the panel and the banner.
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        receiver.stop();
        item(view, "messageField")->setProperty("text", QStringLiteral("logged while Loki is down"));
        click(view, "warningButton");
        QTRY_VERIFY_WITH_TIMEOUT(text(view, "lastErrorValue").startsWith(QLatin1String("network error: ")),
                                 longWait);
        QVERIFY(!errors.isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(text(view, "lastErrorValue"), client.lastError().toString(), longWait);
        QVERIFY(item(view, "errorBanner")->isVisible());
        QCOMPARE(text(view, "errorBannerText"), text(view, "lastErrorValue"));
        QTRY_COMPARE_WITH_TIMEOUT(text(view, "stateValue"), QStringLiteral("Retrying"), longWait);

        // The screenshot, with the error showing.
        const QString dir = QStringLiteral(LOKIQT_SCREENSHOT_DIR);
        QVERIFY(QDir().mkpath(dir));
        const QString png = dir + QStringLiteral("/qmlapp.png");
        QFile::remove(png);
        const QImage shot = view.grabWindow();
        QVERIFY(!shot.isNull());
        QVERIFY(shot.save(png));
        QVERIFY(QFileInfo(png).size() > 0);

        // Loki is back: the retried push delivers the entry, once, and the panel shows it.
        QVERIFY(receiver.restart());
        const QString downLine = QStringLiteral("logged while Loki is down category=app.qml");
        QTRY_COMPARE_WITH_TIMEOUT(lines(receiver.entries({{"level", "warning"}})).count(downLine), 1,
                                  longWait);
        QTRY_COMPARE_WITH_TIMEOUT(client.queued(), 0, longWait);
        QVERIFY(client.retried() > 0);
        QTRY_COMPARE_WITH_TIMEOUT(text(view, "retriedValue"), QString::number(client.retried()), longWait);
        QTRY_COMPARE_WITH_TIMEOUT(text(view, "sentValue"), QString::number(client.sent()), longWait);
        QTRY_COMPARE_WITH_TIMEOUT(text(view, "stateValue"), QStringLiteral("Idle"), longWait);
        QCOMPARE(client.failed(), 0);

        // Tapping the banner dismisses it; the panel keeps the last error.
        click(view, "errorBanner");
        QTRY_VERIFY_WITH_TIMEOUT(!item(view, "errorBanner")->isVisible(), longWait);
        QCOMPARE(text(view, "lastErrorValue"), client.lastError().toString());

        LokiMessageHandler::uninstall(); // from here on, messages go to the test log again
        qInfo("screenshot: %s", qPrintable(png));
    }
};

QTEST_MAIN(tst_QmlApp)
#include "tst_qmlapp.moc"
