// SPDX-License-Identifier: MIT
// lokiqt-encode-floor: the CPU floor of a push body, for the corpus a benchmark uses. It encodes the
// corpus's lines (one stream, increasing timestamps, batches as the client makes them) with lokiqt's own
// encoder and nothing else: no queue, no thread, no network. What an end-to-end run costs beyond this is
// the client's; benchmarks/run.sh prints it beside lokiqt-bench's figures.
//
//   lokiqt-encode-floor --input FILE [--count 200000] [--batch-entries 2000] [--runs 5]
//                       [--format protobuf|json|json-gzip]
// prints: floor format=... entries=... batch=... cpu_s_per_100k=<median> body_bytes_per_entry=...

#include "benchutil.h"
#include "pushencoder_p.h"

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>

#include <algorithm>
#include <cstdio>
#include <vector>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("The CPU floor of encoding push bodies for a corpus."));
    parser.addHelpOption();
    const QCommandLineOption inputOption(QStringLiteral("input"), QStringLiteral("Corpus, one line each."),
                                         QStringLiteral("FILE"));
    const QCommandLineOption countOption(QStringLiteral("count"), QStringLiteral("Entries (200000)."),
                                         QStringLiteral("N"), QStringLiteral("200000"));
    const QCommandLineOption batchOption(QStringLiteral("batch-entries"),
                                         QStringLiteral("Entries per body (2000)."), QStringLiteral("N"),
                                         QStringLiteral("2000"));
    const QCommandLineOption runsOption(QStringLiteral("runs"),
                                        QStringLiteral("Runs; the median is printed (5)."),
                                        QStringLiteral("N"), QStringLiteral("5"));
    const QCommandLineOption formatOption(QStringLiteral("format"),
                                          QStringLiteral("protobuf (snappy, default), json or json-gzip."),
                                          QStringLiteral("F"), QStringLiteral("protobuf"));
    parser.addOptions({inputOption, countOption, batchOption, runsOption, formatOption});
    parser.process(app);
    qint64 count = 0, batchEntries = 0, runs = 0;
    if (!parser.isSet(inputOption) || !Bench::parsePositive(parser.value(countOption), &count) ||
        !Bench::parsePositive(parser.value(batchOption), &batchEntries) ||
        !Bench::parsePositive(parser.value(runsOption), &runs)) {
        std::fprintf(stderr,
                     "usage: lokiqt-encode-floor --input FILE [--count N] [--batch-entries N] [--runs N]\n");
        return 2;
    }
    LokiConfig::Encoding encoding = LokiConfig::Encoding::ProtobufSnappy;
    const QString format = parser.value(formatOption);
    if (format == QLatin1String("json"))
        encoding = LokiConfig::Encoding::Json;
    else if (format == QLatin1String("json-gzip"))
        encoding = LokiConfig::Encoding::JsonGzip;
    else if (format != QLatin1String("protobuf")) {
        std::fprintf(stderr, "--format: protobuf, json or json-gzip\n");
        return 2;
    }
    QByteArrayList lines;
    QString why;
    if (!Bench::readCorpus(parser.value(inputOption), &lines, &why)) {
        std::fprintf(stderr, "lokiqt-encode-floor: %s\n", qPrintable(why));
        return 2;
    }
    LokiStreamInfo stream;
    stream.key = QByteArrayLiteral("{app=\"bench\", level=\"info\"}");
    stream.jsonLabels = QByteArrayLiteral("{\"app\":\"bench\",\"level\":\"info\"}");
    // The batches as the worker holds them: made before the clock starts (the client's queue makes them).
    std::vector<std::vector<LokiQueuedEntry>> batches;
    qint64 timestamp = Bench::epochNs();
    for (qint64 i = 0; i < count; i += batchEntries) {
        std::vector<LokiQueuedEntry> batch;
        for (qint64 j = i; j < std::min(count, i + batchEntries); ++j)
            batch.push_back({timestamp += 1000, &stream, lines.at(int(j % lines.size())), {}});
        batches.push_back(std::move(batch));
    }
    std::vector<double> cpu;
    qint64 bodyBytes = 0;
    for (qint64 run = 0; run < runs; ++run) {
        std::vector<std::vector<LokiQueuedEntry>> work = batches;
        bodyBytes = 0;
        const double start = Bench::cpuSeconds();
        for (auto &batch : work)
            bodyBytes += LokiPushEncoder::encode(batch, encoding, 6).data.size();
        cpu.push_back(Bench::cpuSeconds() - start);
    }
    std::sort(cpu.begin(), cpu.end());
    std::printf("floor format=%s entries=%lld batch=%lld cpu_s_per_100k=%.4f body_bytes_per_entry=%.1f\n",
                qPrintable(format), static_cast<long long>(count), static_cast<long long>(batchEntries),
                cpu[cpu.size() / 2] * 100000.0 / double(count), double(bodyBytes) / double(count));
    return 0;
}
