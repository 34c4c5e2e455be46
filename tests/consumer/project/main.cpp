// SPDX-License-Identifier: MIT
// Uses lokiqt as an application does: only its public headers and the LokiQt::LokiQt target are available
// here (an installed lokiqt, or one built as a subproject of the application's build).
#include <lokiqt/lokiclient.h>
#include <lokiqt/lokiconfig.h>
#include <lokiqt/lokientry.h>
#include <lokiqt/lokierror.h>
#include <lokiqt/lokimessagehandler.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>

#include <chrono>
#include <cstdio>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);

    LokiConfig config;
    config.url = QUrl(QStringLiteral("http://127.0.0.1:9")); // the discard port: nothing listens there
    config.labels = {{QStringLiteral("service"), QStringLiteral("package_consumer")}};
    config.batch.maxWait = std::chrono::milliseconds(50);
    config.retry.maxAttempts = 1;
    config.destructorCloseTimeout = std::chrono::milliseconds(500);

    QString why;
    if (!config.isValid(&why)) {
        std::fprintf(stderr, "consumer: the configuration is invalid: %s\n", qPrintable(why));
        return 1;
    }

    LokiClient client(config);
    const LokiClient::SendResult result =
        client.send(LokiEntry(QStringLiteral("hello from an installed lokiqt")));
    if (result != LokiClient::SendResult::Accepted) {
        std::fprintf(stderr, "consumer: send() did not accept the entry (%d)\n", static_cast<int>(result));
        return 1;
    }

    // Nothing listens, so nothing is delivered: close() must still come back by its deadline.
    const bool delivered = client.close(QDeadlineTimer(1000));
    const LokiClient::Counters counters = client.counters();
    std::printf("consumer: lokiqt works: accepted=%lld sent=%lld failed=%lld dropped=%lld delivered=%s\n",
                static_cast<long long>(counters.accepted), static_cast<long long>(counters.sent),
                static_cast<long long>(counters.failed), static_cast<long long>(counters.dropped()),
                delivered ? "yes" : "no");
    std::printf("consumer: last error: %s\n", qPrintable(client.lastError().toString()));
    if (counters.accepted != 1 || client.state() != LokiClient::State::Closed) {
        std::fprintf(stderr, "consumer: unexpected counters or state after close()\n");
        return 1;
    }
    return 0;
}
