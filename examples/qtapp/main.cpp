// SPDX-License-Identifier: MIT
// lokiqt-qtapp: a Qt Widgets application whose log messages also go to Grafana Loki.
//
//   lokiqt-qtapp [--url http://loki:3100] [--tenant ID] [--label app=qtapp ...] [--line-format json]
//                [--spool-dir DIR]                 (the URL defaults to $LOKI_URL, else $LOKI_ADDR, else
//                                                   localhost:3100; LokiConfig::fromEnvironment() reads
//                                                   credentials, tenant and TLS from logcli's LOKI_* names)
//   lokiqt-qtapp --demo-ms 15000                   (clicks through by itself, prints a summary, exits 0
//                                                   when everything was delivered, 1 otherwise)
#include "appoptions.h"
#include "demo.h"
#include "mainwindow.h"

#include <lokiqt/lokiclient.h>
#include <lokiqt/lokimessagehandler.h>

#include <QtCore/QDeadlineTimer>
#include <QtWidgets/QApplication>

#include <cstdio>

int main(int argc, char **argv)
{
#if defined(Q_OS_UNIX) && !defined(Q_OS_DARWIN) && !defined(Q_OS_ANDROID)
    // No display (a server, a CI job, ssh without X forwarding): draw offscreen instead of failing to start.
    // It has to be decided before QApplication loads a platform plugin.
    const bool noDisplay = qEnvironmentVariableIsEmpty("DISPLAY") &&
                           qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY") &&
                           qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM");
    if (noDisplay)
        qputenv("QT_QPA_PLATFORM", "offscreen");
#else
    const bool noDisplay = false;
#endif
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("qtapp"));

    AppOptions options;
    QString error;
    if (!AppOptions::parse(QApplication::arguments(), &options, &error)) {
        std::fprintf(stderr, "qtapp: %s\nTry 'lokiqt-qtapp --help'.\n", qPrintable(error));
        return 2;
    }
    if (!options.helpText.isEmpty()) {
        std::printf("%s", qPrintable(options.helpText));
        return 0;
    }
    const bool demo = options.demoMs > 0;
    if (noDisplay && !demo)
        std::fprintf(stderr, "qtapp: no display: the window is drawn offscreen (try --demo)\n");

    // The client owns a thread that batches and pushes. It is declared before the window and the handler
    // is uninstalled below, so it outlives everything that logs through it.
    LokiClient client(options.config);

    LokiMessageHandler::Options handlerOptions;
    handlerOptions.minimumLevel = QtDebugMsg; // everything; QtInfoMsg would keep qDebug() out of Loki
    // The previous handler prints every message on the console as well. The demo turns that off: its
    // 10,000 burst lines would bury the summary.
    handlerOptions.callPreviousHandler = !demo;
    LokiMessageHandler::install(&client, handlerOptions);

    MainWindow window(&client);
    window.show();

    Demo *demoRun = nullptr;
    if (demo) {
        std::printf("demo: logging 12 messages and %d burst lines to %s, for at most %d ms\n",
                    MainWindow::burstThreads * MainWindow::burstLinesPerThread,
                    qPrintable(options.config.pushUrl().toDisplayString(QUrl::RemoveUserInfo)),
                    options.demoMs);
        std::fflush(stdout);
        demoRun = new Demo(&window, &client, std::chrono::milliseconds(options.demoMs)); // owned by window
    }

    const int status = app.exec();

    // At exit: stop routing messages first, then deliver what is still queued, for at most two seconds.
    LokiMessageHandler::uninstall();
    client.close(QDeadlineTimer(2000));

    if (!demoRun)
        return status;
    const LokiClient::Counters c = client.counters();
    std::printf("demo: sent=%lld dropped=%lld failed=%lld retried=%lld (accepted=%lld) after %lld ms: %s\n",
                static_cast<long long>(c.sent), static_cast<long long>(c.dropped()),
                static_cast<long long>(c.failed), static_cast<long long>(c.retried),
                static_cast<long long>(c.accepted), static_cast<long long>(demoRun->elapsedMs()),
                demoRun->delivered() ? "everything delivered" : "NOT everything delivered");
    if (client.lastError().isError())
        std::printf("demo: last error: %s\n", qPrintable(client.lastError().toString()));
    std::fflush(stdout);
    return demoRun->delivered() ? 0 : 1;
}
