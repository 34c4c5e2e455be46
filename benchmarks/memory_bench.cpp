// SPDX-License-Identifier: MIT
// lokiqt-memory-bench: with the receiver down and DropOldest backpressure, memory must stay bounded by the
// queue capacity however many entries are offered. Prints peak RSS against a bare-process baseline.

#include "benchutil.h"

#include <lokiqt/lokiclient.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QTextStream>
#include <QtCore/QTimer>

#include <cstdio>

namespace {
constexpr int exitOk = 0;
constexpr int exitUnexpected = 1;
constexpr int exitUsage = 2;

int usageError(const QString &message)
{
    QTextStream(stderr) << "lokiqt-memory-bench: " << message << "\nTry 'lokiqt-memory-bench --help'.\n";
    return exitUsage;
}
} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lokiqt-memory-bench"));
    // The baseline: a Qt process with its application object and nothing of lokiqt yet.
    const double baselineRss = Bench::currentRssMiB();
    const double baselinePeak = Bench::peakRssMiB();

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Offers N entries of ~100 bytes with sendUtf8() to a client whose receiver is down (DropOldest),\n"
        "then prints peak RSS against the queue capacity and a bare-process baseline."));
    parser.addHelpOption();
    const QCommandLineOption urlOption(QStringLiteral("url"),
                                       QStringLiteral("A URL nobody answers (default http://127.0.0.1:9)."),
                                       QStringLiteral("URL"), QStringLiteral("http://127.0.0.1:9"));
    const QCommandLineOption countOption(QStringLiteral("count"),
                                         QStringLiteral("Entries to offer (default 10000000)."),
                                         QStringLiteral("N"), QStringLiteral("10000000"));
    const QCommandLineOption queueOption(QStringLiteral("queue-capacity"),
                                         QStringLiteral("LokiConfig::queueCapacity (default 10000)."),
                                         QStringLiteral("N"), QStringLiteral("10000"));
    parser.addOptions({urlOption, countOption, queueOption});
    parser.process(app);

    qint64 count = 0;
    qint64 capacity = 0;
    if (!Bench::parsePositive(parser.value(countOption), &count))
        return usageError(QStringLiteral("--count needs a positive number"));
    if (!Bench::parsePositive(parser.value(queueOption), &capacity) || capacity > 100000000)
        return usageError(QStringLiteral("--queue-capacity needs a number from 1 to 100000000"));

    LokiConfig config;
    config.url = QUrl(parser.value(urlOption));
    config.labels = {{QStringLiteral("app"), QStringLiteral("bench")},
                     {QStringLiteral("level"), QStringLiteral("info")}};
    config.backpressure = LokiConfig::Backpressure::DropOldest;
    config.queueCapacity = int(capacity);
    QString why;
    if (!config.isValid(&why))
        return usageError(why);

    const double start = Bench::monotonicSeconds();
    const double cpuStart = Bench::cpuSeconds();
    qint64 notAccepted = 0;
    double rssAfterClient = 0;
    double rssAfterFailure = 0;
    LokiClient::Counters c;
    bool closedOk = false;
    double closeSeconds = 0;
    double offerSeconds = 0;
    const double rssBeforeClient = Bench::currentRssMiB();
    {
        LokiClient client(config);
        rssAfterClient = Bench::currentRssMiB();
        // The first push fails (nobody answers), which makes the client load QNetworkInformation
        // (followNetworkReachability): a cost of the failure, not of the queue, so it is measured apart.
        {
            QEventLoop loop;
            QObject::connect(&client, &LokiClient::errorOccurred, &loop, &QEventLoop::quit);
            QTimer::singleShot(10000, &loop, &QEventLoop::quit);
            if (client.sendUtf8(Bench::syntheticLine(0, 100)) != LokiClient::SendResult::Accepted)
                ++notAccepted;
            loop.exec();
            QCoreApplication::processEvents();
        }
        rssAfterFailure = Bench::currentRssMiB();
        for (qint64 i = 1; i < count; ++i) {
            if (client.sendUtf8(Bench::syntheticLine(i, 100)) != LokiClient::SendResult::Accepted)
                ++notAccepted;
            if ((i & 0xFFFF) == 0xFFFF)
                QCoreApplication::processEvents();
        }
        offerSeconds = Bench::monotonicSeconds() - start;
        const double closeStart = Bench::monotonicSeconds();
        closedOk = client.close(QDeadlineTimer(500));
        closeSeconds = Bench::monotonicSeconds() - closeStart;
        c = client.counters();
    }
    const double cpu = Bench::cpuSeconds() - cpuStart;
    const double peak = Bench::peakRssMiB();
    const double growth = peak - baselineRss;
    const double queueGrowth = peak - rssAfterFailure; // what filling the queue and running the worker cost
    // What the queue holds at most, by its own arithmetic: line bytes plus QByteArray and entry overhead.
    const double lineMiB = double(capacity) * 100.0 / (1024.0 * 1024.0);

    std::printf("lokiqt-memory-bench: receiver %s down, backpressure DropOldest, queue capacity %lld, "
                "%lld entries of 100 bytes offered in %.2f s (%.0f/s, CPU %.2f s)\n",
                qPrintable(config.url.toString()), static_cast<long long>(capacity),
                static_cast<long long>(count), offerSeconds, double(count) / offerSeconds, cpu);
    std::printf("  baseline RSS (QCoreApplication, no client): %.1f MiB (peak so far %.1f MiB)\n",
                baselineRss, baselinePeak);
    std::printf("  RSS before / right after creating the client / after its first push failed: %.1f / %.1f / "
                "%.1f MiB\n",
                rssBeforeClient, rssAfterClient, rssAfterFailure);
    std::printf("  peak RSS (ru_maxrss):                       %.1f MiB = baseline + %.1f MiB\n", peak,
                growth);
    std::printf("  queue capacity x 100-byte lines: %.1f MiB of line data; peak - after-failure = %.1f MiB "
                "-> %.0f bytes of RSS per queue slot\n",
                lineMiB, queueGrowth, queueGrowth * 1024.0 * 1024.0 / double(capacity));
    std::printf("  counters: accepted=%lld droppedOldest=%lld droppedClosed=%lld failed=%lld retried=%lld "
                "sent=%lld not-accepted=%lld\n",
                static_cast<long long>(c.accepted), static_cast<long long>(c.droppedOldest),
                static_cast<long long>(c.droppedClosed), static_cast<long long>(c.failed),
                static_cast<long long>(c.retried), static_cast<long long>(c.sent),
                static_cast<long long>(notAccepted));
    std::printf("  close(500 ms) returned %s after %.3f s\n", closedOk ? "true" : "false", closeSeconds);
    // Every offered entry is accounted for: dropped as oldest, failed, dropped at close, or (never) sent.
    const qint64 accounted = c.droppedOldest + c.droppedClosed + c.failed + c.sent;
    const bool consistent = c.accepted == count && accounted == count && c.queued == 0;
    if (!consistent)
        std::printf("  UNEXPECTED: accepted %lld of %lld, %lld accounted for, %lld still queued\n",
                    static_cast<long long>(c.accepted), static_cast<long long>(count),
                    static_cast<long long>(accounted), static_cast<long long>(c.queued));
    return consistent ? exitOk : exitUnexpected;
}
