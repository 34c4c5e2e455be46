// SPDX-License-Identifier: MIT
// lokiqt-idle: what an idle client costs. Creates a LokiClient, sends one entry, flushes, then runs the
// event loop doing nothing for --idle-seconds while footprint.sh counts the process's syscalls and wake-ups.
// Prints the heap the client holds (mallinfo2 before and after creating it).

#include "benchutil.h"

#include <lokiqt/lokiclient.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QTextStream>
#include <QtCore/QTimer>

#include <malloc.h>

#include <cstdio>

namespace {
constexpr int exitOk = 0;
constexpr int exitNotDelivered = 1;
constexpr int exitUsage = 2;

// Bytes the allocator has handed out: small blocks in use plus mmapped blocks.
qint64 heapInUse()
{
    const struct mallinfo2 info = mallinfo2();
    return qint64(info.uordblks + info.hblkhd);
}

int threadCount()
{
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("Threads:"))
            return line.mid(8).trimmed().toInt();
    }
    return -1;
}
} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lokiqt-idle"));
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Creates a LokiClient, sends one entry to --url, flushes, prints 'IDLE_START <pid>' on stdout and\n"
        "idles in the event loop for --idle-seconds. Prints the client's heap on stdout."));
    parser.addHelpOption();
    const QCommandLineOption urlOption(QStringLiteral("url"), QStringLiteral("A receiver."),
                                       QStringLiteral("URL"));
    const QCommandLineOption idleOption(QStringLiteral("idle-seconds"),
                                        QStringLiteral("How long to idle (default 10)."), QStringLiteral("S"),
                                        QStringLiteral("10"));
    parser.addOptions({urlOption, idleOption});
    parser.process(app);
    qint64 idleSeconds = 0;
    if (!parser.isSet(urlOption) || !Bench::parsePositive(parser.value(idleOption), &idleSeconds)) {
        QTextStream(stderr) << "lokiqt-idle: needs --url URL [--idle-seconds S]\n";
        return exitUsage;
    }

    LokiConfig config;
    config.url = QUrl(parser.value(urlOption));
    config.labels = {{QStringLiteral("app"), QStringLiteral("idle")}};

    const qint64 heapBefore = heapInUse();
    const double rssBefore = Bench::currentRssMiB();
    const int threadsBefore = threadCount();
    auto *client = new LokiClient(config);
    const qint64 heapCreated = heapInUse();
    client->sendUtf8(QByteArrayLiteral("lokiqt-idle: one entry before idling"));
    const bool flushed = client->flush(QDeadlineTimer(10000));
    const qint64 heapAfterFlush = heapInUse();

    std::printf("heap in use (mallinfo2 uordblks+hblkhd): before client %lld B, after constructor +%lld B, "
                "after one send+flush +%lld B; RSS %.1f -> %.1f MiB; threads %d -> %d; flush %s\n",
                static_cast<long long>(heapBefore), static_cast<long long>(heapCreated - heapBefore),
                static_cast<long long>(heapAfterFlush - heapBefore), rssBefore, Bench::currentRssMiB(),
                threadsBefore, threadCount(), flushed ? "delivered" : "FAILED");
    std::printf("IDLE_START %lld\n", static_cast<long long>(QCoreApplication::applicationPid()));
    std::fflush(stdout);

    QTimer::singleShot(std::chrono::seconds(idleSeconds), &app, &QCoreApplication::quit);
    app.exec();

    const qint64 heapIdle = heapInUse();
    std::printf("IDLE_END heap after idling +%lld B over before-client; counters sent=%lld\n",
                static_cast<long long>(heapIdle - heapBefore), static_cast<long long>(client->sent()));
    const bool ok = flushed && client->sent() == 1;
    delete client;
    std::printf("heap after deleting the client: +%lld B over before-client\n",
                static_cast<long long>(heapInUse() - heapBefore));
    return ok ? exitOk : exitNotDelivered;
}
