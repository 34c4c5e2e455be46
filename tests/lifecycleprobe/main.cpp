// SPDX-License-Identifier: MIT
// A process that uses a LokiClient around the application object's lifetime, for tst_lifecycle:
//   lokiqt-lifecycle-probe noapp <url>          no QCoreApplication at all
//   lokiqt-lifecycle-probe appgone <url> <n>    a client that outlives the QCoreApplication it was made with
//   lokiqt-lifecycle-probe static <url> <n>     a client constructed before main (a global static)
// It prints key=value lines (send=, flush=, close=, counters) that the test reads.
#include <lokiqt/lokiclient.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QMetaEnum>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

using namespace std::chrono_literals;

namespace {
LokiConfig configFor(const char *url)
{
    LokiConfig config;
    config.url = QUrl(QString::fromUtf8(url));
    config.labels = {{QStringLiteral("app"), QStringLiteral("probe")}};
    config.batch.maxWait = 20ms;
    config.retry.initialBackoff = 20ms;
    config.retry.maxBackoff = 100ms;
    config.retry.maxAttempts = 1000000; // undelivered entries stay queued until close() counts them
    config.destructorCloseTimeout = 3000ms;
    return config;
}

const char *name(LokiClient::SendResult result)
{
    return QMetaEnum::fromType<LokiClient::SendResult>().valueToKey(int(result));
}

void printCounters(const LokiClient &client)
{
    const LokiClient::Counters c = client.counters();
    std::printf("accepted=%lld\nsent=%lld\nfailed=%lld\ndroppedClosed=%lld\nqueued=%lld\nrejected=%lld\n",
                c.accepted, c.sent, c.failed, c.droppedClosed, c.queued, c.rejected);
    std::printf("state=%s\n", QMetaEnum::fromType<LokiClient::State>().valueToKey(int(client.state())));
    std::printf("lastError=%s\n", qPrintable(client.lastError().toString()));
    std::fflush(stdout);
}

// The global static of the "static" mode: constructed during static initialization, before main(), when
// LOKIQT_PROBE_URL names the receiver (only then: the other modes need no such client).
std::unique_ptr<LokiClient> makeStaticClient()
{
    const char *url = std::getenv("LOKIQT_PROBE_URL");
    return url ? std::make_unique<LokiClient>(configFor(url)) : nullptr;
}
const std::unique_ptr<LokiClient> staticClient = makeStaticClient();
} // namespace

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: lokiqt-lifecycle-probe noapp|appgone|static <url> [n]\n");
        return 2;
    }
    const char *mode = argv[1];
    const char *url = argv[2];
    const int count = argc > 3 ? std::atoi(argv[3]) : 10;

    if (std::strcmp(mode, "noapp") == 0) {
        LokiClient client(configFor(url));
        std::printf("send=%s\n", name(client.send(QStringLiteral("without an application"))));
        QElapsedTimer timer;
        timer.start();
        const bool flushed = client.flush(QDeadlineTimer(5000));
        std::printf("flush=%d\nflushMs=%lld\n", flushed ? 1 : 0, timer.elapsed());
        printCounters(client);
        return 0;
    }
    if (std::strcmp(mode, "appgone") == 0) {
        std::unique_ptr<LokiClient> client;
        {
            QCoreApplication app(argc, argv);
            client = std::make_unique<LokiClient>(configFor(url));
            for (int i = 0; i < count; ++i)
                client->send(QStringLiteral("entry %1").arg(i));
        } // the application object goes first
        std::printf("afterApp=%s\n", name(client->send(QStringLiteral("after the application"))));
        printCounters(*client);
        client.reset();
        std::printf("destroyed=1\n");
        return 0;
    }
    if (std::strcmp(mode, "static") == 0 && staticClient) {
        QCoreApplication app(argc, argv);
        for (int i = 0; i < count; ++i)
            staticClient->send(QStringLiteral("static %1").arg(i));
        const bool flushed = staticClient->flush(QDeadlineTimer(20000));
        std::printf("flush=%d\n", flushed ? 1 : 0);
        printCounters(*staticClient);
        return 0; // the static client is destroyed after the application object
    }
    std::fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
