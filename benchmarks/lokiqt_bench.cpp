// SPDX-License-Identifier: MIT
// lokiqt-bench: pushes N entries through LokiClient::sendUtf8() as fast as it accepts them (Block
// backpressure) and exits 0 only when Loki acknowledged all of them. Follows the --client contract of
// shared/peer-bench (BENCH_START on stdout right before the first send; --input corpus rule).

#include "benchutil.h"

#include <algorithm>
#include <lokiqt/lokiclient.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QTextStream>

#include <chrono>
#include <cstdio>
#include <thread>

namespace {
constexpr int exitDelivered = 0;
constexpr int exitLost = 1;
constexpr int exitUsage = 2;

int usageError(const QString &message)
{
    QTextStream(stderr) << "lokiqt-bench: " << message << "\nTry 'lokiqt-bench --help'.\n";
    return exitUsage;
}

// --format and --compression name the wire format as peer-bench's table does; only what Loki takes exists.
bool encodingFor(const QString &format, const QString &compression, LokiConfig::Encoding *out)
{
    if (format == QLatin1String("protobuf") &&
        (compression == QLatin1String("snappy") || compression.isEmpty()))
        *out = LokiConfig::Encoding::ProtobufSnappy;
    else if (format == QLatin1String("json") &&
             (compression == QLatin1String("none") || compression.isEmpty()))
        *out = LokiConfig::Encoding::Json;
    else if (format == QLatin1String("json") && compression == QLatin1String("gzip"))
        *out = LokiConfig::Encoding::JsonGzip;
    else
        return false;
    return true;
}

const char *encodingLabel(LokiConfig::Encoding encoding)
{
    switch (encoding) {
    case LokiConfig::Encoding::ProtobufSnappy:
        return "protobuf+snappy";
    case LokiConfig::Encoding::Json:
        return "json";
    case LokiConfig::Encoding::JsonGzip:
        return "json+gzip";
    }
    return "?";
}
} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lokiqt-bench"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Pushes N entries {app=\"bench\", level=\"info\"} through LokiClient::sendUtf8() (Block "
        "backpressure)\n"
        "as fast as the client accepts them, then closes the client. Prints 'BENCH_START <unix ns>' on "
        "stdout\n"
        "before the first send and a one-line summary on stderr. Exit 0: all N acknowledged; 1: some lost;\n"
        "2: usage error."));
    parser.addHelpOption();
    const QCommandLineOption urlOption(QStringLiteral("url"), QStringLiteral("Loki base or push URL."),
                                       QStringLiteral("URL"));
    const QCommandLineOption countOption(QStringLiteral("count"), QStringLiteral("Entries to send."),
                                         QStringLiteral("N"));
    const QCommandLineOption lineBytesOption(QStringLiteral("line-bytes"),
                                             QStringLiteral("Bytes per synthetic line (default 100)."),
                                             QStringLiteral("B"), QStringLiteral("100"));
    const QCommandLineOption inputOption(
        QStringLiteral("input"), QStringLiteral("Send the lines of FILE, cycled (peer-bench's rule)."),
        QStringLiteral("FILE"));
    const QCommandLineOption formatOption(QStringLiteral("format"),
                                          QStringLiteral("protobuf (default) or json."), QStringLiteral("F"),
                                          QStringLiteral("protobuf"));
    const QCommandLineOption compressionOption(
        QStringLiteral("compression"),
        QStringLiteral("snappy (protobuf's default), none (json's default) or gzip (json only)."),
        QStringLiteral("C"));
    const QCommandLineOption batchOption(QStringLiteral("batch-entries"),
                                         QStringLiteral("LokiConfig::batch.maxEntries (library default)."),
                                         QStringLiteral("N"));
    const QCommandLineOption queueOption(QStringLiteral("queue-capacity"),
                                         QStringLiteral("LokiConfig::queueCapacity (library default)."),
                                         QStringLiteral("N"));
    const QCommandLineOption inFlightOption(
        QStringLiteral("max-in-flight"), QStringLiteral("LokiConfig::batch.maxInFlight (library default)."),
        QStringLiteral("N"));
    const QCommandLineOption closeOption(QStringLiteral("close-timeout-ms"),
                                         QStringLiteral("Deadline for close() (default 60000)."),
                                         QStringLiteral("MS"), QStringLiteral("60000"));
    const QCommandLineOption spoolOption(
        QStringLiteral("spool-dir"),
        QStringLiteral("Send through a disk spool in DIR (emptied first: a run measures its own entries)."),
        QStringLiteral("DIR"));
    const QCommandLineOption syncOption(QStringLiteral("spool-sync"),
                                        QStringLiteral("never, batch or interval (default interval)."),
                                        QStringLiteral("POLICY"), QStringLiteral("interval"));
    const QCommandLineOption rateOption(
        QStringLiteral("rate"),
        QStringLiteral("Send at most N entries per second, as an application that logs steadily (default: as "
                       "fast as send() returns)."),
        QStringLiteral("N"));
    parser.addOptions({urlOption, countOption, lineBytesOption, inputOption, formatOption, compressionOption,
                       batchOption, queueOption, inFlightOption, closeOption, spoolOption, syncOption,
                       rateOption});
    parser.process(app);
    if (!parser.positionalArguments().isEmpty())
        return usageError(
            QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().first()));

    LokiConfig config;
    if (!parser.isSet(urlOption))
        return usageError(QStringLiteral("--url is required"));
    config.url = QUrl(parser.value(urlOption));
    qint64 count = 0;
    if (!Bench::parsePositive(parser.value(countOption), &count))
        return usageError(QStringLiteral("--count needs a positive number"));
    qint64 lineBytes = 0;
    if (!Bench::parsePositive(parser.value(lineBytesOption), &lineBytes) || lineBytes > 1024 * 1024)
        return usageError(QStringLiteral("--line-bytes needs a number from 1 to 1048576"));
    if (!encodingFor(parser.value(formatOption), parser.value(compressionOption), &config.encoding))
        return usageError(QStringLiteral("--format %1 --compression %2 is not a format Loki takes; use "
                                         "protobuf+snappy, json+none or json+gzip")
                              .arg(parser.value(formatOption), parser.value(compressionOption)));
    qint64 value = 0;
    if (parser.isSet(batchOption)) {
        if (!Bench::parsePositive(parser.value(batchOption), &value) || value > 1000000)
            return usageError(QStringLiteral("--batch-entries needs a number from 1 to 1000000"));
        config.batch.maxEntries = int(value);
    }
    if (parser.isSet(queueOption)) {
        if (!Bench::parsePositive(parser.value(queueOption), &value) || value > 100000000)
            return usageError(QStringLiteral("--queue-capacity needs a number from 1 to 100000000"));
        config.queueCapacity = int(value);
    }
    if (parser.isSet(inFlightOption)) {
        if (!Bench::parsePositive(parser.value(inFlightOption), &value) || value > 64)
            return usageError(QStringLiteral("--max-in-flight needs a number from 1 to 64"));
        config.batch.maxInFlight = int(value);
    }
    qint64 closeMs = 0;
    if (!Bench::parsePositive(parser.value(closeOption), &closeMs))
        return usageError(QStringLiteral("--close-timeout-ms needs a positive number"));
    config.labels = {{QStringLiteral("app"), QStringLiteral("bench")},
                     {QStringLiteral("level"), QStringLiteral("info")}};
    config.backpressure = LokiConfig::Backpressure::Block;
    qint64 rate = 0;
    if (parser.isSet(rateOption) && !Bench::parsePositive(parser.value(rateOption), &rate))
        return usageError(QStringLiteral("--rate wants a positive number of entries per second"));
    if (parser.isSet(spoolOption)) {
        config.spool.directory = parser.value(spoolOption);
        QDir(config.spool.directory).removeRecursively();
        const QString sync = parser.value(syncOption);
        if (sync == QLatin1String("never"))
            config.spool.sync = LokiConfig::SpoolSync::Never;
        else if (sync == QLatin1String("batch"))
            config.spool.sync = LokiConfig::SpoolSync::PerBatch;
        else if (sync == QLatin1String("interval"))
            config.spool.sync = LokiConfig::SpoolSync::Interval;
        else
            return usageError(QStringLiteral("--spool-sync wants never, batch or interval"));
    }
    QString why;
    if (!config.isValid(&why))
        return usageError(why);

    // The corpus is read before the clock starts, as the other clients of peer-bench do.
    QByteArrayList corpus;
    if (parser.isSet(inputOption) && !Bench::readCorpus(parser.value(inputOption), &corpus, &why))
        return usageError(why);
    if (corpus.isEmpty()) {
        // Synthetic lines are made before timing, as the corpus is read before timing: a pool of distinct
        // lines, cycled. 1,024 lines of ~100 bytes span more than snappy's 64 KiB window and gzip's 32 KiB
        // one, so the repeats cannot make the wire look smaller than fresh lines would.
        constexpr qint64 poolSize = 1024;
        for (qint64 i = 0; i < std::min(count, poolSize); ++i)
            corpus << Bench::syntheticLine(i, int(lineBytes));
    }

    LokiClient client(config);
    if (!config.spool.directory.isEmpty() && !client.isSpooling())
        return usageError(client.lastError().message());
    const double cpuStart = Bench::cpuSeconds();
    const double wallStart = Bench::monotonicSeconds();
    std::printf("BENCH_START %lld\n", static_cast<long long>(Bench::epochNs()));
    std::fflush(stdout);

    qint64 refused = 0;
    qint64 lineBytesSent = 0;
    const qint64 corpusSize = corpus.size();
    for (qint64 i = 0; i < count; ++i) {
        const QByteArray &line = corpus.at(i % corpusSize);
        lineBytesSent += line.size();
        if (client.sendUtf8(line) != LokiClient::SendResult::Accepted)
            ++refused;
        // An application's owner thread runs its event loop now and then; the client's signals land there.
        if ((i & 0xFFFF) == 0xFFFF)
            QCoreApplication::processEvents();
        // --rate: a pause after every 1,000 entries, until the clock catches up with the pace.
        if (rate > 0 && (i % 1000) == 999) {
            const double due = wallStart + double(i + 1) / double(rate);
            const double ahead = due - Bench::monotonicSeconds();
            if (ahead > 0)
                std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
        }
    }
    const double wallSent = Bench::monotonicSeconds();
    const bool closedOk = client.close(QDeadlineTimer(closeMs));
    const double seconds = Bench::monotonicSeconds() - wallStart;
    const double cpu = Bench::cpuSeconds() - cpuStart;
    const double cpuTotal = Bench::cpuSeconds();
    const LokiClient::Counters c = client.counters();

    std::fprintf(stderr,
                 "lokiqt-bench: encoding=%s spool=%s entries=%lld sent=%lld seconds=%.3f entries_per_s=%.0f "
                 "send_s=%.3f cpu_s=%.3f cpu_s_per_100k=%.4f process_cpu_s=%.3f peak_rss_mib=%.1f "
                 "line_bytes_per_entry=%.1f refused=%lld dropped=%lld failed=%lld retried=%lld\n",
                 encodingLabel(config.encoding),
                 config.spool.directory.isEmpty() ? "off" : qPrintable(parser.value(syncOption)),
                 static_cast<long long>(count), static_cast<long long>(c.sent), seconds,
                 double(c.sent) / seconds, wallSent - wallStart, cpu, cpu * 100000.0 / double(count),
                 cpuTotal, Bench::peakRssMiB(), double(lineBytesSent) / double(count),
                 static_cast<long long>(refused), static_cast<long long>(c.dropped()),
                 static_cast<long long>(c.failed), static_cast<long long>(c.retried));
    if (client.lastError().isError()) // e.g. a format fallback: the run did not measure what was asked
        std::fprintf(stderr, "lokiqt-bench: last error: %s\n", qPrintable(client.lastError().toString()));
    if (c.sent == count)
        return exitDelivered;
    std::fprintf(stderr, "lokiqt-bench: %lld of %lld entries not acknowledged (close() %s)\n",
                 static_cast<long long>(count - c.sent), static_cast<long long>(count),
                 closedOk ? "succeeded" : "failed");
    return exitLost;
}
