// SPDX-License-Identifier: MIT
#ifndef QMLAPP_APPLOGGER_H
#define QMLAPP_APPLOGGER_H

#include <lokiqt/lokiconfig.h>

#include <QtCore/QLoggingCategory>
#include <QtCore/QObject>

// The application's logging category: the installed LokiMessageHandler puts it into each line
// (`category=app.qml`), or makes it a label when LokiConfig::labelAllowList names "category".
Q_DECLARE_LOGGING_CATEGORY(lcQmlApp) // "app.qml"

/**
 * What the QML panel's buttons call: each logs one message at its level through qCDebug(lcQmlApp) and
 * friends, which the installed LokiMessageHandler turns into Loki entries with a level label. The QML gets it
 * as the root item's required property `logger`.
 */
class AppLogger : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;

    Q_INVOKABLE void debug(const QString &message);
    Q_INVOKABLE void info(const QString &message);
    Q_INVOKABLE void warning(const QString &message);
    Q_INVOKABLE void error(const QString &message);
    /** Logs @p lines info lines ("burst line=N"), from the calling (UI) thread; send() never waits for Loki.
     */
    Q_INVOKABLE void burst(int lines);
};

/**
 * The application's configuration: LokiConfig::fromEnvironment() (logcli's LOKI_* names and LOKI_URL), else
 * http://localhost:3100, with the label app=qmlapp. What cannot be used is in @p problems (see
 * fromEnvironment()).
 */
LokiConfig qmlAppConfig(QStringList *problems);

#endif // QMLAPP_APPLOGGER_H
