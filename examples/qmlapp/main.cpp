// SPDX-License-Identifier: MIT
// lokiqt-qmlapp: a Qt Quick application whose log messages also go to Grafana Loki, with a live panel of the
// client written in QML (Main.qml) against the QML module LokiQt.
//
//   lokiqt-qmlapp
//
// Configured from the environment with logcli's names (LokiConfig::fromEnvironment()): LOKI_URL or
// LOKI_ADDR, else http://localhost:3100; LOKI_ORG_ID, LOKI_USERNAME and LOKI_PASSWORD, LOKI_CA_CERT_PATH ...
#include "applogger.h"

#include <lokiqt/lokiclient.h>
#include <lokiqt/lokimessagehandler.h>
#ifdef QMLAPP_LINKS_LOKIQT_QML
#include <lokiqtqml.h>
#endif

#include <QtCore/QDeadlineTimer>
#include <QtGui/QGuiApplication>
#include <QtQuick/QQuickView>

#include <cstdio>

int main(int argc, char **argv)
{
#if defined(Q_OS_UNIX) && !defined(Q_OS_DARWIN) && !defined(Q_OS_ANDROID)
    // No display (a server, a CI job): draw offscreen instead of failing to start.
    if (qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY") &&
        qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
        qputenv("QT_QPA_PLATFORM", "offscreen");
        std::fprintf(stderr, "qmlapp: no display: the window is drawn offscreen\n");
    }
#endif
    QGuiApplication app(argc, argv);
    QGuiApplication::setApplicationName(QStringLiteral("qmlapp"));

    QStringList problems;
    const LokiConfig config = qmlAppConfig(&problems);
    if (!problems.isEmpty()) {
        std::fprintf(stderr, "qmlapp: the environment: %s\n",
                     qPrintable(problems.join(QStringLiteral("; "))));
        return 2;
    }

    // The client owns a thread that batches and pushes. It is declared before the view and the handler is
    // uninstalled below, so it outlives everything that logs through it or binds to it.
    LokiClient client(config);
    LokiMessageHandler::Options handlerOptions;
    handlerOptions.minimumLevel = QtDebugMsg; // the Debug button's messages too
    LokiMessageHandler::install(&client, handlerOptions);

#ifdef QMLAPP_LINKS_LOKIQT_QML
    qml_register_types_LokiQt(); // the QML module LokiQt, linked into this program (lokiqtqml.h)
#endif                           // else `import LokiQt` loads the installed module's plugin
    AppLogger logger;
    QQuickView view;
    view.setTitle(QStringLiteral("lokiqt QML example"));
    view.setResizeMode(QQuickView::SizeRootObjectToView);
    view.setInitialProperties(
        {{QStringLiteral("client"), QVariant::fromValue(&client)},
         {QStringLiteral("logger"), QVariant::fromValue(&logger)},
         {QStringLiteral("pushUrl"), config.pushUrl().toDisplayString(QUrl::RemoveUserInfo)}});
    view.setSource(QUrl(QStringLiteral("qrc:/qmlapp/Main.qml")));
    if (view.status() != QQuickView::Ready)
        return 1; // the QML engine printed why
    view.show();

    const int status = app.exec();

    // At exit: stop routing messages first, then deliver what is still queued, for at most two seconds.
    LokiMessageHandler::uninstall();
    client.close(QDeadlineTimer(2000));
    return status;
}
