// SPDX-License-Identifier: MIT
// A process that writes through a spool, for the kill test in tst_spool: it prints "a <n>" for every entry
// send() accepted (flushed at once, so the test knows exactly what was accepted when it kills the process),
// then closes with a long deadline and prints "closed <1|0> queued=<n>".
//   lokiqt-spool-writer <url> <spool dir> <prefix> <count>
#include <lokiqt/lokiclient.h>

#include <QtCore/QCoreApplication>

#include <cstdio>

using namespace std::chrono_literals;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() != 5) {
        std::fprintf(stderr, "usage: lokiqt-spool-writer <url> <spool dir> <prefix> <count>\n");
        return 2;
    }
    LokiConfig config;
    config.url = QUrl(args[1]);
    config.labels = {{QStringLiteral("app"), QStringLiteral("spoolwriter")}};
    config.spool.directory = args[2];
    config.spool.sync = LokiConfig::SpoolSync::Never; // a kill keeps what the kernel has: no fsync needed
    // Room for all a writer accepts before the test kills it: a writer blocked on a full spool prints nothing
    // for as long as the receiver takes to drain it (the test waits for its first line).
    config.spool.maxBytes = qint64(512) * 1024 * 1024;
    config.batch.maxEntries = 50;
    config.batch.maxWait = 5ms;
    config.retry.initialBackoff = 5ms;
    config.retry.maxBackoff = 50ms;
    config.retry.maxAttempts = 1000000;
    LokiClient client(config);
    if (!client.isSpooling()) {
        std::fprintf(stderr, "no spool: %s\n", qPrintable(client.lastError().toString()));
        return 2;
    }
    const int count = args[4].toInt();
    for (int i = 0; i < count; ++i) {
        if (client.send(QStringLiteral("%1 %2").arg(args[3]).arg(i)) == LokiClient::SendResult::Accepted) {
            std::printf("a %d\n", i);
            std::fflush(stdout);
        }
    }
    const bool ok = client.close(QDeadlineTimer(120s));
    std::printf("closed %d queued=%lld replayed=%lld\n", ok ? 1 : 0, client.counters().queued,
                client.counters().replayed);
    return ok ? 0 : 1;
}
