// SPDX-License-Identifier: MIT
// lokiqt-idle: what an idle client costs. Creates a LokiClient, sends one entry, flushes, then runs the
// event loop doing nothing for --idle-seconds while footprint.sh counts the process's syscalls and wake-ups.
// Prints the heap the client holds (mallinfo2 before and after creating it), the RSS that constructing it and
// its first push add, and the threads each of them starts, by name (Linux: /proc/self).

#include "benchutil.h"

#include <lokiqt/lokiclient.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QEventLoop>
#include <QtCore/QTextStream>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpServer>

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

// The names of this process's threads (/proc/self/task/<tid>/comm), sorted.
QStringList threadNames()
{
    QStringList names;
    const QDir tasks(QStringLiteral("/proc/self/task"));
    for (const QString &tid : tasks.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QFile comm(tasks.filePath(tid + QStringLiteral("/comm")));
        if (comm.open(QIODevice::ReadOnly))
            names.append(QString::fromUtf8(comm.readAll().trimmed()));
    }
    names.sort();
    return names;
}

// Runs the event loop for 200 ms: threads just started have named themselves by then.
void settle()
{
    QEventLoop loop;
    QTimer::singleShot(200, &loop, &QEventLoop::quit);
    loop.exec();
}

// Whether Qt's TLS backend (OpenSSL's libcrypto) is mapped into the process.
bool tlsBackendLoaded()
{
    QFile maps(QStringLiteral("/proc/self/maps"));
    return maps.open(QIODevice::ReadOnly) && maps.readAll().contains("libcrypto");
}

// The threads of @p now that were not in @p before, as "name name".
QString addedThreads(const QStringList &before, QStringList now)
{
    for (const QString &name : before)
        now.removeOne(name);
    return now.isEmpty() ? QStringLiteral("none") : now.join(QLatin1Char(' '));
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
    const QCommandLineOption failureOption(
        QStringLiteral("network-failure"),
        QStringLiteral("Before idling, let a second client's push fail for a network error (a port nobody\n"
                       "listens on), which loads QNetworkInformation, and print what that added."));
    parser.addOptions({urlOption, idleOption, failureOption});
    parser.process(app);
    qint64 idleSeconds = 0;
    if (!parser.isSet(urlOption) || !Bench::parsePositive(parser.value(idleOption), &idleSeconds)) {
        QTextStream(stderr) << "lokiqt-idle: needs --url URL [--idle-seconds S]\n";
        return exitUsage;
    }

    const double rssStart = Bench::currentRssMiB();
    const bool tlsAtStart = tlsBackendLoaded();
    LokiConfig config;
    config.url = QUrl(parser.value(urlOption));
    config.labels = {{QStringLiteral("app"), QStringLiteral("idle")}};

    const qint64 heapBefore = heapInUse();
    const double rssBefore = Bench::currentRssMiB();
    const QStringList threadsBefore = threadNames();
    auto *client = new LokiClient(config);
    // Construction is done when the client's thread has started and its worker has set itself up: an empty
    // flush() is answered by the worker.
    const bool started = client->flush(QDeadlineTimer(10000));
    settle();
    const qint64 heapCreated = heapInUse();
    const double rssCreated = Bench::currentRssMiB();
    const QStringList threadsCreated = threadNames();
    client->sendUtf8(QByteArrayLiteral("lokiqt-idle: one entry before idling"));
    const bool flushed = client->flush(QDeadlineTimer(10000));
    settle();
    const qint64 heapAfterFlush = heapInUse();
    const double rssAfterFlush = Bench::currentRssMiB();
    const QStringList threadsAfterFlush = threadNames();

    std::printf("heap in use (mallinfo2 uordblks+hblkhd): before client %lld B, after constructor +%lld B, "
                "after one send+flush +%lld B; flush %s\n",
                static_cast<long long>(heapBefore), static_cast<long long>(heapCreated - heapBefore),
                static_cast<long long>(heapAfterFlush - heapBefore),
                flushed && started ? "delivered" : "FAILED");
    std::printf(
        "RSS at start %.2f MiB; building the LokiConfig +%.2f MiB (Qt's TLS backend loaded: %s -> %s)\n",
        rssStart, rssBefore - rssStart, tlsAtStart ? "yes" : "no", tlsBackendLoaded() ? "yes" : "no");
    std::printf(
        "RSS before the client %.2f MiB; constructing one client +%.2f MiB; after one send+flush +%.2f "
        "MiB (VmRSS)\n",
        rssBefore, rssCreated - rssBefore, rssAfterFlush - rssBefore);
    std::printf("threads before the client %lld (%s)\n", static_cast<long long>(threadsBefore.size()),
                qPrintable(threadsBefore.join(QLatin1Char(' '))));
    std::printf("threads added by constructing one client: %lld (%s)\n",
                static_cast<long long>(threadsCreated.size() - threadsBefore.size()),
                qPrintable(addedThreads(threadsBefore, threadsCreated)));
    std::printf("threads added by the first push: %lld (%s)\n",
                static_cast<long long>(threadsAfterFlush.size() - threadsCreated.size()),
                qPrintable(addedThreads(threadsCreated, threadsAfterFlush)));
    if (parser.isSet(failureOption)) {
        // A port nobody listens on: bound, then freed.
        QTcpServer probe;
        probe.listen(QHostAddress::LocalHost);
        const quint16 port = probe.serverPort();
        probe.close();
        LokiConfig down = config;
        down.url = QUrl(QStringLiteral("http://127.0.0.1:%1").arg(port));
        const double rssBeforeFailure = Bench::currentRssMiB();
        const QStringList threadsBeforeFailure = threadNames();
        auto *failing = new LokiClient(down);
        bool failed = false;
        QEventLoop loop;
        QObject::connect(failing, &LokiClient::errorOccurred, &loop, [&](const LokiError &error) {
            failed = failed || error.kind() == LokiError::Kind::Network;
            loop.quit();
        });
        QTimer::singleShot(10000, &loop, &QEventLoop::quit);
        failing->sendUtf8(QByteArrayLiteral("lokiqt-idle: to nobody"));
        loop.exec();
        settle();
        std::printf(
            "a second client whose push failed for a network error: %s, +%.2f MiB, threads added %lld "
            "(%s)\n",
            failed ? "failed" : "NO FAILURE SEEN", Bench::currentRssMiB() - rssBeforeFailure,
            static_cast<long long>(threadNames().size() - threadsBeforeFailure.size()),
            qPrintable(addedThreads(threadsBeforeFailure, threadNames())));
        failing->close(QDeadlineTimer(0));
        delete failing;
        settle();
        std::printf("threads after deleting it: %lld (%s)\n", static_cast<long long>(threadNames().size()),
                    qPrintable(threadNames().join(QLatin1Char(' '))));
    }
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
