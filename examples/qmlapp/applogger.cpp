// SPDX-License-Identifier: MIT
#include "applogger.h"

Q_LOGGING_CATEGORY(lcQmlApp, "app.qml")

LokiConfig qmlAppConfig(QStringList *problems)
{
    LokiConfig config = LokiConfig::fromEnvironment(problems);
    if (config.url.isEmpty())
        config.url = QUrl(QStringLiteral("http://localhost:3100"));
    config.labels.insert(QStringLiteral("app"), QStringLiteral("qmlapp"));
    return config;
}

void AppLogger::debug(const QString &message)
{
    qCDebug(lcQmlApp).noquote() << message;
}

void AppLogger::info(const QString &message)
{
    qCInfo(lcQmlApp).noquote() << message;
}

void AppLogger::warning(const QString &message)
{
    qCWarning(lcQmlApp).noquote() << message;
}

void AppLogger::error(const QString &message)
{
    qCCritical(lcQmlApp).noquote() << message; // Loki's level "error"
}

void AppLogger::burst(int lines)
{
    qCInfo(lcQmlApp, "burst: %d lines", lines);
    for (int i = 0; i < lines; ++i)
        qCInfo(lcQmlApp, "burst line=%d", i);
}
