// SPDX-License-Identifier: MIT
#ifndef QTAPP_APPOPTIONS_H
#define QTAPP_APPOPTIONS_H

#include <lokiqt/lokiconfig.h>

#include <QtCore/QString>
#include <QtCore/QStringList>

/**
 * What the command line and the environment (LokiConfig::fromEnvironment(): $LOKI_URL, $LOKI_ADDR,
 * $LOKI_ORG_ID, credentials, TLS) asked for: the client's configuration and the demo mode.
 */
struct AppOptions
{
    LokiConfig config;
    /** 0: interactive. Otherwise the scripted demo runs and the application quits within this time. */
    int demoMs = 0;
    /** Set for --help: print this and exit 0. */
    QString helpText;

    /**
     * Parses @p arguments (as QCoreApplication::arguments(): the program first). `--url` wins over
     * $LOKI_URL, which wins over $LOKI_ADDR, which wins over http://localhost:3100; `--tenant` over
     * $LOKI_ORG_ID. Returns false with @p error set for a usage error, including a variable that
     * LokiConfig::fromEnvironment() could not use (and no option replaces) and a configuration that
     * LokiConfig::isValid() refuses.
     */
    static bool parse(const QStringList &arguments, AppOptions *out, QString *error);
};

#endif // QTAPP_APPOPTIONS_H
