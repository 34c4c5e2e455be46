// SPDX-License-Identifier: MIT
// A qmake application that knows lokiqt only through pkg-config (PKGCONFIG += lokiqt): sends one entry to an
// address where nothing listens, closes with a short deadline and checks the counters.
#include <lokiqt/lokiclient.h>
#include <lokiqt/lokiconfig.h>
#include <lokiqt/lokientry.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>

#include <chrono>
#include <cstdio>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);

    LokiConfig config;
    config.url = QUrl(QStringLiteral("http://127.0.0.1:9")); // the discard port: nothing listens there
    config.labels = {{QStringLiteral("service"), QStringLiteral("qmake_consumer")}};
    config.batch.maxWait = std::chrono::milliseconds(50);
    config.retry.maxAttempts = 1;

    LokiClient client(config);
    if (client.send(LokiEntry(QStringLiteral("hello from qmake"))) != LokiClient::SendResult::Accepted) {
        std::fprintf(stderr, "qmake consumer: send() did not accept the entry\n");
        return 1;
    }
    // Nothing listens, so nothing is delivered: close() must still come back by its deadline.
    const bool delivered = client.close(QDeadlineTimer(1000));
    const LokiClient::Counters counters = client.counters();
    std::printf("qmake consumer: accepted=%lld sent=%lld failed=%lld dropped=%lld delivered=%s\n",
                static_cast<long long>(counters.accepted), static_cast<long long>(counters.sent),
                static_cast<long long>(counters.failed), static_cast<long long>(counters.dropped()),
                delivered ? "yes" : "no");
    // The entry either failed (connection refused, no retry) or was dropped at the deadline: never sent.
    if (counters.accepted != 1 || counters.sent != 0 || counters.failed + counters.dropped() != 1 ||
        delivered || client.state() != LokiClient::State::Closed) {
        std::fprintf(stderr, "qmake consumer: unexpected counters or state after close()\n");
        return 1;
    }
    return 0;
}
