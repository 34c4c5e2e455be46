// SPDX-License-Identifier: MIT
#include "appoptions.h"

#include <QtCore/QCommandLineParser>

bool AppOptions::parse(const QStringList &arguments, AppOptions *out, QString *error)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "A Qt Widgets application whose qDebug/qInfo/qWarning/qCritical messages also go to Grafana Loki."));
    parser.addHelpOption();
    const QCommandLineOption url(
        QStringLiteral("url"),
        QStringLiteral("Loki's base URL or push URL (default: $LOKI_URL, else $LOKI_ADDR, else "
                       "http://localhost:3100)."),
        QStringLiteral("url"));
    const QCommandLineOption tenant(
        QStringLiteral("tenant"),
        QStringLiteral("The tenant, sent as X-Scope-OrgID (default: $LOKI_ORG_ID)."), QStringLiteral("id"));
    const QCommandLineOption label(
        QStringLiteral("label"),
        QStringLiteral("A label of every entry; repeat it for more (default: app=qtapp). Keep them few."),
        QStringLiteral("name=value"));
    const QCommandLineOption lineFormat(QStringLiteral("line-format"),
                                        QStringLiteral("How lines look: plain (default), logfmt or json."),
                                        QStringLiteral("format"), QStringLiteral("plain"));
    const QCommandLineOption spoolDir(
        QStringLiteral("spool-dir"),
        QStringLiteral("Keep undelivered entries in this directory, for the next start to send."),
        QStringLiteral("dir"));
    const QCommandLineOption demo(QStringLiteral("demo"),
                                  QStringLiteral("Run the scripted demo and quit (at most 20 s)."));
    const QCommandLineOption demoMs(QStringLiteral("demo-ms"),
                                    QStringLiteral("Run the scripted demo and quit within <ms>."),
                                    QStringLiteral("ms"));
    parser.addOptions({url, tenant, label, lineFormat, spoolDir, demo, demoMs});
    if (!parser.parse(arguments)) {
        *error = parser.errorText();
        return false;
    }
    if (parser.isSet(QStringLiteral("help")) || parser.isSet(QStringLiteral("help-all"))) {
        out->helpText = parser.helpText();
        return true;
    }
    if (!parser.positionalArguments().isEmpty()) {
        *error = QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().first());
        return false;
    }

    LokiConfig &config = out->config;
    // The command line wins over the environment (logcli's LOKI_* names and LOKI_URL: credentials and TLS
    // come only from there), which wins over the default. A problem with a variable that an option replaces
    // does not matter; any other is a usage error.
    QStringList problems;
    config = LokiConfig::fromEnvironment(&problems);
    const auto replaced = [&problems](const char *name) {
        problems.removeIf([name](const QString &problem) {
            return problem.startsWith(QLatin1String(name) + QLatin1Char(':'));
        });
    };
    if (parser.isSet(url)) {
        replaced("LOKI_URL");
        replaced("LOKI_ADDR");
        config.url = QUrl(parser.value(url), QUrl::StrictMode);
    }
    if (parser.isSet(tenant)) {
        replaced("LOKI_ORG_ID");
        config.tenant = parser.value(tenant);
    }
    if (!problems.isEmpty()) {
        *error = QStringLiteral("the environment: ") + problems.join(QStringLiteral("; "));
        return false;
    }

    // Static labels: every distinct set is a stream in Loki, so they name the application, not events.
    for (const QString &pair : parser.values(label)) {
        const qsizetype eq = pair.indexOf(QLatin1Char('='));
        if (eq <= 0) {
            *error = QStringLiteral("--label wants name=value, not '%1'").arg(pair);
            return false;
        }
        config.labels.insert(pair.left(eq), pair.mid(eq + 1));
    }
    if (config.labels.isEmpty())
        config.labels.insert(QStringLiteral("app"), QStringLiteral("qtapp"));

    if (!LokiConfig::parseLineFormat(parser.value(lineFormat), &config.lineFormat)) {
        *error = QStringLiteral("--line-format wants plain, logfmt or json, not '%1'")
                     .arg(parser.value(lineFormat));
        return false;
    }
    config.spool.directory = parser.value(spoolDir);

    // The Burst button logs 10,000 lines in a few milliseconds. With the default queue (4,096 entries) the
    // burst threads wait for room while Loki takes the batches, and a message that waits longer than the
    // handler's otherThreadsBlockTimeout (1 s) is dropped (counted as timedOut): with a slow or distant
    // Loki, part of a burst could be. This queue holds the whole burst (about 440 bytes per queued entry at
    // most).
    // With --spool-dir the spool's disk bound applies instead.
    config.queueCapacity = 16384;

    if (parser.isSet(demo))
        out->demoMs = 20000;
    if (parser.isSet(demoMs)) {
        bool ok = false;
        out->demoMs = parser.value(demoMs).toInt(&ok);
        if (!ok || out->demoMs <= 0) {
            *error = QStringLiteral("--demo-ms wants a positive number of milliseconds, not '%1'")
                         .arg(parser.value(demoMs));
            return false;
        }
    }

    QString why;
    if (!config.isValid(&why)) {
        *error = why;
        return false;
    }
    return true;
}
