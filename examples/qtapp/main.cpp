// SPDX-License-Identifier: MIT
// lokiqt-qtapp: a Qt Widgets application whose log messages also go to Grafana Loki.
//
//   lokiqt-qtapp [--url http://loki:3100]        (default: $LOKI_URL, else http://localhost:3100)
//   QT_QPA_PLATFORM=offscreen lokiqt-qtapp --demo-ms 500      (logs a few lines, flushes and quits)
#include "mainwindow.h"

#include <lokiqt/lokiclient.h>
#include <lokiqt/lokiconfig.h>
#include <lokiqt/lokimessagehandler.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QTimer>
#include <QtWidgets/QApplication>

#include <cstdio>

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("qtapp"));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Sends this application's log messages to Grafana Loki."));
    parser.addHelpOption();
    const QCommandLineOption urlOption(
        QStringLiteral("url"),
        QStringLiteral("Loki's base URL (default: $LOKI_URL, else http://localhost:3100)."),
        QStringLiteral("url"));
    const QCommandLineOption demoOption(
        QStringLiteral("demo-ms"),
        QStringLiteral("Log a few lines, wait <ms> milliseconds, flush and quit (for headless runs)."),
        QStringLiteral("ms"));
    parser.addOption(urlOption);
    parser.addOption(demoOption);
    parser.process(app);

    int demoMs = -1;
    if (parser.isSet(demoOption)) {
        bool ok = false;
        demoMs = parser.value(demoOption).toInt(&ok);
        if (!ok || demoMs < 0) {
            std::fprintf(stderr, "qtapp: --demo-ms wants a number of milliseconds, not '%s'\n",
                         qPrintable(parser.value(demoOption)));
            return 2;
        }
    }

    QString url = parser.value(urlOption);
    if (url.isEmpty())
        url = qEnvironmentVariable("LOKI_URL", QStringLiteral("http://localhost:3100"));

    LokiConfig config;
    config.url = QUrl(url, QUrl::StrictMode);
    config.labels = {{QStringLiteral("app"), QStringLiteral("qtapp")}};
    QString why;
    if (!config.isValid(&why)) {
        std::fprintf(stderr, "qtapp: %s\n", qPrintable(why));
        return 2;
    }

    // The client must outlive the handler: it is declared first, and the handler is uninstalled below
    // before the client goes out of scope.
    LokiClient client(config);
    LokiMessageHandler::Options options;
    options.minimumLevel = QtDebugMsg; // everything; QtInfoMsg would keep qDebug() out of Loki
    LokiMessageHandler::install(&client, options);

    MainWindow window(&client);
    window.show();

    if (demoMs >= 0) {
        qCInfo(lcApp) << "demo: started, pushing to" << config.pushUrl().toDisplayString();
        qCDebug(lcApp) << "demo: a debug line";
        qCWarning(lcApp) << "demo: a warning line";
        qCCritical(lcApp) << "demo: a critical line";
        QTimer::singleShot(demoMs, &app, [&client] {
            // flush() blocks this (the UI) thread, so only a short wait is acceptable here.
            const bool delivered = client.flush(QDeadlineTimer(3000));
            std::printf("qtapp: demo done: accepted=%lld sent=%lld failed=%lld dropped=%lld delivered=%s\n",
                        static_cast<long long>(client.accepted()), static_cast<long long>(client.sent()),
                        static_cast<long long>(client.failed()), static_cast<long long>(client.dropped()),
                        delivered ? "yes" : "no");
            if (client.lastError().isError())
                std::printf("qtapp: last error: %s\n", qPrintable(client.lastError().toString()));
            std::fflush(stdout);
            QCoreApplication::quit();
        });
    }

    const int status = app.exec();

    // Stop routing messages first, then deliver what is still queued, for at most two seconds.
    LokiMessageHandler::uninstall();
    client.close(QDeadlineTimer(2000));
    return status;
}
