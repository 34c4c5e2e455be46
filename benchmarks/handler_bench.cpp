// SPDX-License-Identifier: MIT
// lokiqt-handler-bench: the cost of one qDebug() through Qt's default handler (stderr to /dev/null), through
// a handler that does nothing, and through LokiMessageHandler feeding a LokiClient, for 1, 2 and 4 threads
// logging at once, all in one process and one run so the figures share the machine's state. The figure that
// matters to an application is "added over nothing": the calling thread's CPU per message through a handler,
// minus the same through the do-nothing handler (Qt's own cost of making the message).

#include "benchutil.h"

#include <lokiqt/lokiclient.h>
#include <lokiqt/lokimessagehandler.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QDebug>
#include <QtCore/QTextStream>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

namespace {
constexpr int exitOk = 0;
constexpr int exitLost = 1;
constexpr int exitUsage = 2;

int usageError(const QString &message)
{
    QTextStream(stderr) << "lokiqt-handler-bench: " << message << "\nTry 'lokiqt-handler-bench --help'.\n";
    return exitUsage;
}

void nothingHandler(QtMsgType, const QMessageLogContext &, const QString &) {}

enum class Handler { QtDefault, Nothing, Loki };

const char *handlerName(Handler handler)
{
    switch (handler) {
    case Handler::QtDefault:
        return "qt-default>/dev/null";
    case Handler::Nothing:
        return "nothing";
    case Handler::Loki:
        return "lokiqt";
    }
    return "?";
}

struct Result
{
    double seconds = 0;          ///< first message to the last thread's last message
    double cpuSeconds = 0;       ///< process CPU over the same window (includes the client's thread)
    double deliverSeconds = 0;   ///< lokiqt only: until flush() returned
    double callerCpuSeconds = 0; ///< CPU of the logging threads alone: what qDebug() costs its caller
    double messagesPerSecond(qint64 n) const { return double(n) / seconds; }
    double nsPerMessage(qint64 n) const { return seconds * 1e9 / double(n); }
};

// Runs @p threads threads that each log @p perThread messages with qDebug(), started together.
bool g_literalStyle = false; // --style literal: qDebug("...") as the issue's floor figures were measured

const char *styleName(bool literal)
{
    return literal ? "qDebug(\"literal\")" : "qDebug() << \"text\" << i << ...";
}

double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The median of each figure over the rounds of one case.
Result medianOf(const std::vector<Result> &rounds)
{
    std::vector<double> seconds, cpu, deliver, caller;
    for (const Result &r : rounds) {
        seconds.push_back(r.seconds);
        cpu.push_back(r.cpuSeconds);
        deliver.push_back(r.deliverSeconds);
        caller.push_back(r.callerCpuSeconds);
    }
    Result m;
    m.seconds = median(seconds);
    m.cpuSeconds = median(cpu);
    m.deliverSeconds = median(deliver);
    m.callerCpuSeconds = median(caller);
    return m;
}

double threadCpuSeconds()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

Result logFromThreads(int threads, qint64 perThread)
{
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    std::vector<double> callerCpu(size_t(threads), 0.0);
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&ready, &go, &callerCpu, t, perThread] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire))
                std::this_thread::yield();
            const double cpuStart = threadCpuSeconds();
            if (g_literalStyle) {
                for (qint64 i = 0; i < perThread; ++i)
                    qDebug("handler bench message from a thread with a few words");
            } else {
                for (qint64 i = 0; i < perThread; ++i)
                    qDebug() << "handler bench message" << i << "from thread" << t << "with a few words";
            }
            callerCpu[size_t(t)] = threadCpuSeconds() - cpuStart;
        });
    }
    while (ready.load() < threads)
        std::this_thread::yield();
    Result result;
    const double cpu = Bench::cpuSeconds();
    const double start = Bench::monotonicSeconds();
    go.store(true, std::memory_order_release);
    for (std::thread &thread : pool)
        thread.join();
    result.seconds = Bench::monotonicSeconds() - start;
    result.cpuSeconds = Bench::cpuSeconds() - cpu;
    for (double c : callerCpu)
        result.callerCpuSeconds += c;
    return result;
}
} // namespace

int main(int argc, char *argv[])
{
    // Qt's default handler writes to stderr only when it does not find a console-less logging backend
    // (journald, slog2); force stderr so case (a) is the plain console cost everywhere.
    qputenv("QT_FORCE_STDERR_LOGGING", "1");
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lokiqt-handler-bench"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Times qDebug() through (a) Qt's default handler with stderr on /dev/null, (b) a handler that does\n"
        "nothing, (c) LokiMessageHandler on a LokiClient pushing to --url, for 1, 2 and 4 threads at once\n"
        "(each logs N/threads messages). Prints a Markdown table per style on stdout, with what (a) and (c)\n"
        "add to the calling thread's CPU per message over (b)."));
    parser.addHelpOption();
    const QCommandLineOption urlOption(QStringLiteral("url"), QStringLiteral("Receiver for case (c)."),
                                       QStringLiteral("URL"));
    const QCommandLineOption messagesOption(QStringLiteral("messages"),
                                            QStringLiteral("Messages per case (default 200000)."),
                                            QStringLiteral("N"), QStringLiteral("200000"));
    const QCommandLineOption threadsOption(QStringLiteral("threads"),
                                           QStringLiteral("Thread counts (default 1,2,4)."),
                                           QStringLiteral("LIST"), QStringLiteral("1,2,4"));
    const QCommandLineOption backpressureOption(
        QStringLiteral("backpressure"),
        QStringLiteral(
            "block (default: every message is delivered) or drop-oldest (the handler's own cost)."),
        QStringLiteral("MODE"), QStringLiteral("block"));
    const QCommandLineOption queueOption(QStringLiteral("queue-capacity"),
                                         QStringLiteral("LokiConfig::queueCapacity (library default)."),
                                         QStringLiteral("N"));
    const QCommandLineOption styleOption(
        QStringLiteral("style"),
        QStringLiteral("stream: qDebug() << \"text\" << i << ... (default); literal: qDebug(\"text\"); "
                       "both: one table each."),
        QStringLiteral("style"), QStringLiteral("stream"));
    const QCommandLineOption roundsOption(
        QStringLiteral("rounds"),
        QStringLiteral(
            "Measure every case R times, the handlers interleaved, and print medians (default 1)."),
        QStringLiteral("R"), QStringLiteral("1"));
    const QCommandLineOption handlersOption(
        QStringLiteral("handlers"),
        QStringLiteral("Which handlers to time: a list of qt-default, nothing, lokiqt (default all; "
                       "\"added over nothing\" needs nothing). lokiqt alone is for profiling."),
        QStringLiteral("LIST"), QStringLiteral("qt-default,nothing,lokiqt"));
    parser.addOptions({urlOption, messagesOption, threadsOption, backpressureOption, queueOption, styleOption,
                       roundsOption, handlersOption});
    parser.process(app);
    std::vector<bool> styles;
    const QString style = parser.value(styleOption);
    if (style == QLatin1String("literal"))
        styles = {true};
    else if (style == QLatin1String("stream"))
        styles = {false};
    else if (style == QLatin1String("both"))
        styles = {true, false};
    else
        return usageError(QStringLiteral("--style must be stream, literal or both"));
    std::vector<Handler> handlers;
    for (const QString &part : parser.value(handlersOption).split(QLatin1Char(','))) {
        if (part == QLatin1String("qt-default"))
            handlers.push_back(Handler::QtDefault);
        else if (part == QLatin1String("nothing"))
            handlers.push_back(Handler::Nothing);
        else if (part == QLatin1String("lokiqt"))
            handlers.push_back(Handler::Loki);
        else
            return usageError(QStringLiteral("--handlers takes a list of qt-default, nothing, lokiqt"));
    }
    const auto measured = [&handlers](Handler h) {
        return std::find(handlers.begin(), handlers.end(), h) != handlers.end();
    };

    if (!parser.isSet(urlOption))
        return usageError(QStringLiteral("--url is required (a receiver for the lokiqt case)"));
    qint64 messages = 0;
    if (!Bench::parsePositive(parser.value(messagesOption), &messages))
        return usageError(QStringLiteral("--messages needs a positive number"));
    qint64 rounds = 0;
    if (!Bench::parsePositive(parser.value(roundsOption), &rounds) || rounds > 100)
        return usageError(QStringLiteral("--rounds needs a number from 1 to 100"));
    std::vector<int> threadCounts;
    for (const QString &part : parser.value(threadsOption).split(QLatin1Char(','))) {
        qint64 n = 0;
        if (!Bench::parsePositive(part, &n) || n > 256)
            return usageError(QStringLiteral("--threads needs a list of numbers from 1 to 256"));
        threadCounts.push_back(int(n));
    }
    LokiConfig config;
    config.url = QUrl(parser.value(urlOption));
    config.labels = {{QStringLiteral("app"), QStringLiteral("bench")}};
    if (!LokiConfig::parseBackpressure(parser.value(backpressureOption), &config.backpressure) ||
        config.backpressure == LokiConfig::Backpressure::DropNew)
        return usageError(QStringLiteral("--backpressure must be block or drop-oldest"));
    qint64 value = 0;
    if (parser.isSet(queueOption)) {
        if (!Bench::parsePositive(parser.value(queueOption), &value) || value > 100000000)
            return usageError(QStringLiteral("--queue-capacity needs a number from 1 to 100000000"));
        config.queueCapacity = int(value);
    }
    QString why;
    if (!config.isValid(&why))
        return usageError(why);

    // (a) writes to fd 2; point it at /dev/null for the whole measurement and keep the real one to report.
    std::fflush(stderr);
    const int realStderr = dup(STDERR_FILENO);
    const int devNull = open("/dev/null", O_WRONLY);
    if (realStderr < 0 || devNull < 0) {
        std::perror("lokiqt-handler-bench: dup or open /dev/null");
        return exitUsage;
    }

    LokiClient client(config);
    LokiMessageHandler::Options options;
    options.callPreviousHandler = false; // the console's cost is case (a); do not count it twice

    struct Delivery
    {
        qint64 accepted = 0, sent = 0, dropped = 0, timedOut = 0, failed = 0;
        bool flushed = false;
        Delivery &operator+=(const Delivery &o)
        {
            accepted += o.accepted;
            sent += o.sent;
            dropped += o.dropped;
            timedOut += o.timedOut;
            failed += o.failed;
            flushed = flushed && o.flushed;
            return *this;
        }
    };
    using Key = std::tuple<bool, Handler, int>; // style (literal), handler, threads
    std::map<Key, std::vector<Result>> results;
    std::map<Key, Delivery> deliveries;                                // summed over the rounds
    const QtMessageHandler original = qInstallMessageHandler(nullptr); // nullptr restores Qt's default
    qInstallMessageHandler(original);

    for (bool literal : styles) {
        g_literalStyle = literal;
        for (qint64 round = 0; round < rounds; ++round) {
            for (int threads : threadCounts) {
                const qint64 perThread = qMax<qint64>(1, messages / threads);
                for (Handler handler : handlers) {
                    LokiClient::Counters before;
                    switch (handler) {
                    case Handler::QtDefault:
                        dup2(devNull, STDERR_FILENO);
                        qInstallMessageHandler(nullptr);
                        break;
                    case Handler::Nothing:
                        qInstallMessageHandler(nothingHandler);
                        break;
                    case Handler::Loki:
                        LokiMessageHandler::install(&client, options);
                        break;
                    }
                    // Warm-up: allocator, caches, connection.
                    logFromThreads(threads, qMin<qint64>(perThread, 2000));
                    if (handler == Handler::Loki) {
                        client.flush(QDeadlineTimer(30000));
                        before = client.counters();
                    }
                    Result result = logFromThreads(threads, perThread);
                    const Key key{literal, handler, threads};
                    if (handler == Handler::Loki) {
                        const double start = Bench::monotonicSeconds() - result.seconds;
                        Delivery delivery;
                        delivery.flushed = client.flush(QDeadlineTimer(60000));
                        result.deliverSeconds = Bench::monotonicSeconds() - start;
                        LokiMessageHandler::uninstall();
                        const LokiClient::Counters after = client.counters();
                        delivery.accepted = after.accepted - before.accepted;
                        delivery.sent = after.sent - before.sent;
                        delivery.dropped = after.dropped() - before.dropped();
                        delivery.timedOut = after.timedOut - before.timedOut;
                        delivery.failed = after.failed - before.failed;
                        if (round == 0)
                            deliveries[key] = delivery;
                        else
                            deliveries[key] += delivery;
                    }
                    qInstallMessageHandler(original);
                    fflush(stderr);
                    dup2(realStderr, STDERR_FILENO);
                    results[key].push_back(result);
                    QCoreApplication::processEvents();
                }
            }
        }
    }
    const bool closedOk = client.close(QDeadlineTimer(10000));

    const char *mode = config.backpressure == LokiConfig::Backpressure::Block ? "Block" : "DropOldest";
    bool allDelivered = true;
    for (bool literal : styles) {
        const auto median = [&results, literal](Handler h, int threads) {
            return medianOf(results[{literal, h, threads}]);
        };
        std::printf("### %s: cost per message (%lld messages per case, %s of %lld rounds; lokiqt: "
                    "backpressure %s, queue %d, callPreviousHandler=false)\n\n",
                    styleName(literal), static_cast<long long>(messages), rounds > 1 ? "medians" : "one",
                    static_cast<long long>(rounds), mode, config.queueCapacity);
        std::printf(
            "| handler | threads | messages/s (total) | ns/message (wall) | CPU ns/message | caller CPU "
            "ns/message | lokiqt: sent / dropped | lokiqt: until delivered, msg/s | added over "
            "nothing, caller CPU ns/message |\n");
        std::printf("|---|---:|---:|---:|---:|---:|---|---:|---:|\n");
        for (Handler handler : handlers) {
            for (int threads : threadCounts) {
                const qint64 n = qMax<qint64>(1, messages / threads) * threads;
                const Result r = median(handler, threads);
                QByteArray delivered = "";
                QByteArray deliverRate = "";
                if (handler == Handler::Loki) {
                    const Delivery &d = deliveries[{literal, handler, threads}];
                    delivered = QByteArray::number(d.sent) + " / " + QByteArray::number(d.dropped);
                    if (d.timedOut > 0)
                        delivered += " (" + QByteArray::number(d.timedOut) + " timed out)";
                    if (d.failed > 0)
                        delivered += ", " + QByteArray::number(d.failed) + " failed";
                    deliverRate = QByteArray::number(double(n) / r.deliverSeconds, 'f', 0);
                    if (d.sent != n * rounds && config.backpressure == LokiConfig::Backpressure::Block)
                        allDelivered = false; // DropOldest may drop by design; Block must deliver all
                }
                QByteArray added = "";
                if (handler != Handler::Nothing && measured(Handler::Nothing)) {
                    const double nothing = median(Handler::Nothing, threads).callerCpuSeconds;
                    added = QByteArray::number((r.callerCpuSeconds - nothing) * 1e9 / double(n), 'f', 0);
                }
                std::printf("| %s | %d | %.0f | %.0f | %.0f | %.0f | %s | %s | %s |\n", handlerName(handler),
                            threads, r.messagesPerSecond(n), r.nsPerMessage(n),
                            r.cpuSeconds * 1e9 / double(n), r.callerCpuSeconds * 1e9 / double(n),
                            delivered.constData(), deliverRate.constData(), added.constData());
            }
        }
        if (measured(Handler::QtDefault) && measured(Handler::Nothing) && measured(Handler::Loki)) {
            std::printf(
                "\n| threads | lokiqt / qt-default (wall ns per msg) | lokiqt / nothing (wall) | lokiqt / "
                "qt-default (caller CPU per msg) |\n|---:|---:|---:|---:|\n");
            for (int threads : threadCounts) {
                const qint64 n = qMax<qint64>(1, messages / threads) * threads;
                const double loki = median(Handler::Loki, threads).nsPerMessage(n);
                std::printf("| %d | %.2f | %.1f | %.2f |\n", threads,
                            loki / median(Handler::QtDefault, threads).nsPerMessage(n),
                            loki / median(Handler::Nothing, threads).nsPerMessage(n),
                            median(Handler::Loki, threads).callerCpuSeconds /
                                median(Handler::QtDefault, threads).callerCpuSeconds);
            }
        }
        std::printf("\n");
        const int most = threadCounts.back();
        const int fewest = threadCounts.front();
        if (most != fewest) {
            for (Handler handler : handlers) {
                const qint64 nMost = qMax<qint64>(1, messages / most) * most;
                const qint64 nFewest = qMax<qint64>(1, messages / fewest) * fewest;
                const double rMost = median(handler, most).messagesPerSecond(nMost);
                const double rFewest = median(handler, fewest).messagesPerSecond(nFewest);
                std::printf(
                    "%s: %d threads deliver %s in total as %d thread(s) (%.0f vs %.0f msg/s, x%.2f)\n",
                    handlerName(handler), most, rMost >= rFewest ? "at least as much" : "LESS", fewest, rMost,
                    rFewest, rMost / rFewest);
            }
        }
        if (measured(Handler::Nothing) && measured(Handler::Loki)) {
            for (int threads : threadCounts) {
                const qint64 n = qMax<qint64>(1, messages / threads) * threads;
                const double added = (median(Handler::Loki, threads).callerCpuSeconds -
                                      median(Handler::Nothing, threads).callerCpuSeconds) *
                                     1e9 / double(n);
                std::printf("lokiqt adds %.0f ns of caller CPU per message over nothing with %d thread(s) "
                            "(target: at most 80)\n",
                            added, threads);
            }
        }
        std::printf("\n");
    }
    const LokiClient::Counters c = client.counters();
    std::printf("lokiqt client total: accepted=%lld sent=%lld dropped=%lld failed=%lld, close() %s; "
                "machine: %u hardware threads\n",
                static_cast<long long>(c.accepted), static_cast<long long>(c.sent),
                static_cast<long long>(c.dropped()), static_cast<long long>(c.failed),
                closedOk ? "ok" : "FAILED", std::thread::hardware_concurrency());
    ::close(devNull);
    ::close(realStderr);
    return allDelivered && c.failed == 0 ? exitOk : exitLost;
}
