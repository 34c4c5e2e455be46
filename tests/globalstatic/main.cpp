// SPDX-License-Identifier: MIT
// A global static LokiClient, as an application declares one (`static LokiClient client(config);` at file
// scope). This file is linked before the static lokiqt library, so its static initializers run before
// lokiqt's own: whatever lokiqt needs at that time must be constant-initialized (issue 9, failure 2.6: a
// file-scope QLatin1String in lokiconfig.cpp was still empty then, and the client pushed to `POST /`).
//
// Run without arguments, it starts a test receiver and runs itself as a child pointed at it (the child's
// static client is constructed before main(), so its URL comes from the environment). It exits 0 when the
// child's entry was stored through the push path and every path computed during static initialization was
// right.
#include <lokiqt/lokiclient.h>

#include "lokitestreceiver.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QProcess>

#include <cstdio>

namespace {
const char urlEnv[] = "LOKIQT_TEST_GLOBALSTATIC_URL";
const char expectedPath[] = "/loki/api/v1/push";

LokiConfig staticConfig()
{
    LokiConfig config;
    config.url = QUrl(qEnvironmentVariable(urlEnv, QStringLiteral("http://127.0.0.1:9")));
    config.labels = {{QStringLiteral("app"), QStringLiteral("globalstatic")}};
    config.batch.maxWait = std::chrono::milliseconds(10);
    config.retry.maxAttempts = 1; // a refused push fails at once
    return config;
}

int fail(const QString &why)
{
    std::fprintf(stderr, "tst_globalstatic: FAIL: %s\n", qPrintable(why));
    return 1;
}
} // namespace

// Both run during static initialization, before lokiqt's initializers (see above).
static const QString g_pathAtStaticInit = staticConfig().pushUrl().path();
static LokiClient *const g_client = new LokiClient(staticConfig());

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    if (g_pathAtStaticInit != QLatin1String(expectedPath))
        return fail(QStringLiteral("LokiConfig::pushUrl() during static initialization has path '%1'")
                        .arg(g_pathAtStaticInit));

    if (qEnvironmentVariableIsSet(urlEnv)) {
        // The child: push through the client made before main().
        g_client->send(QStringLiteral("from a global static client"));
        const bool flushed = g_client->flush(QDeadlineTimer(20000));
        const QString error = g_client->lastError().toString();
        delete g_client;
        if (!flushed)
            return fail(QStringLiteral("flush() failed: %1").arg(error));
        return 0;
    }

    delete g_client; // the parent's own, pointed nowhere, never used
    LokiTestReceiver receiver;
    if (!receiver.listen())
        return fail(QStringLiteral("the test receiver cannot listen"));
    QProcess child;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QString::fromLatin1(urlEnv), receiver.url().toString());
    child.setProcessEnvironment(env);
    child.setProcessChannelMode(QProcess::ForwardedChannels);
    child.start(QCoreApplication::applicationFilePath(), QStringList());
    if (!child.waitForFinished(60000))
        return fail(QStringLiteral("the child did not finish"));
    const QList<ReceivedEntry> got = receiver.entries();
    if (got.size() != 1 || got.first().line != QLatin1String("from a global static client") ||
        got.first().labels.value(QStringLiteral("app")) != QLatin1String("globalstatic"))
        return fail(QStringLiteral("the receiver stored %1 entries at its push path (pushes seen there: %2)")
                        .arg(got.size())
                        .arg(receiver.pushCount()));
    if (child.exitStatus() != QProcess::NormalExit || child.exitCode() != 0)
        return fail(QStringLiteral("the child failed (exit code %1)").arg(child.exitCode()));
    std::printf("tst_globalstatic: PASS\n");
    return 0;
}
