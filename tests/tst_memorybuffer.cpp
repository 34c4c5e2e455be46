// SPDX-License-Identifier: MIT
// The memory buffer on its own (src/memorybuffer_p.h): the three backpressure policies, deadlines, stamping
// across threads, batch limits, the clock offset, close, what is left at shutdown.
#include "memorybuffer_p.h"

#include <QtCore/QDateTime>
#include <QtTest/QtTest>

#include <array>
#include <atomic>
#include <thread>

using Mode = LokiConfig::Backpressure;
using Result = LokiEntryBuffer::PushResult;

namespace {
const LokiStreamInfo stream{"{s=\"a\"}", "{\"s\":\"a\"}"};

struct Fixture
{
    LokiCounterSet counters;
    LokiMemoryBuffer buffer;

    explicit Fixture(int capacity, Mode mode = Mode::DropNew, int batchEntries = 100,
                     qint64 batchBytes = 1 << 20)
        : buffer(capacity, LokiEntryBuffer::Limits{batchEntries, batchBytes, mode}, &counters)
    {}
    Result push(const QByteArray &line, const LokiWait &wait = LokiWait::until(QDeadlineTimer(0)))
    {
        LokiQueuedEntry e;
        e.stream = &stream;
        e.line = line;
        return buffer.push(std::move(e), wait);
    }
    // The message handler's way in: a raw message the buffer renders later (here: the text, as UTF-8).
    Result message(const QString &text, const LokiWait &wait = LokiWait::until(QDeadlineTimer(0)))
    {
        LokiMessageParts parts;
        parts.text = &text;
        parts.stream = &stream;
        return buffer.pushMessage(parts, wait);
    }
    void renderText()
    {
        buffer.setMessageRenderer([](const LokiRawMessage &raw, LokiQueuedEntry &entry) {
            entry.stream = raw.stream;
            entry.line = raw.text.toUtf8();
        });
    }
    QList<QByteArray> take()
    {
        std::vector<LokiQueuedEntry> out;
        buffer.takeBatch(out);
        QList<QByteArray> lines;
        for (const auto &e : out)
            lines << e.line;
        return lines;
    }
};
} // namespace

class tst_MemoryBuffer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void dropNewRefusesWhenFull()
    {
        Fixture f(3, Mode::DropNew);
        for (const char *line : {"a", "b", "c"})
            QCOMPARE(f.push(line), Result::Accepted);
        QCOMPARE(f.push("d"), Result::Dropped);
        QCOMPARE(f.counters.droppedNew.load(), 1);
        QCOMPARE(f.counters.accepted.load(), 3);
        QCOMPARE(f.take(), (QList<QByteArray>{"a", "b", "c"}));
    }

    void dropOldestDiscardsTheHead()
    {
        Fixture f(3, Mode::DropOldest);
        for (const char *line : {"a", "b", "c", "d", "e"})
            QCOMPARE(f.push(line), Result::Accepted);
        QCOMPARE(f.counters.droppedOldest.load(), 2);
        QCOMPARE(f.buffer.removedCount(), 2);
        QCOMPARE(f.take(), (QList<QByteArray>{"c", "d", "e"}));
        QCOMPARE(f.buffer.removedCount(), 5);
        QCOMPARE(f.buffer.acceptedCount(), 5);
    }

    void blockTimesOutAtItsDeadline()
    {
        Fixture f(2, Mode::Block);
        QCOMPARE(f.push("a"), Result::Accepted);
        QCOMPARE(f.push("b"), Result::Accepted);
        QElapsedTimer timer;
        timer.start();
        QCOMPARE(f.push("c", LokiWait::atMost(std::chrono::milliseconds(200))), Result::TimedOut);
        QVERIFY(timer.elapsed() >= 150);
        QCOMPARE(f.counters.timedOut.load(), 1);
        QCOMPARE(f.push("c", LokiWait::until(QDeadlineTimer(0))), Result::TimedOut);
        QCOMPARE(f.counters.timedOut.load(), 2);
    }

    // send() without a deadline: LokiConfig::blockTimeout, counted from the moment the buffer is full.
    void theDefaultDeadlineIsTheBlockTimeout()
    {
        LokiCounterSet counters;
        LokiEntryBuffer::Limits limits{100, 1 << 20, Mode::Block, std::chrono::milliseconds(200)};
        LokiMemoryBuffer buffer(1, limits, &counters);
        const QDeadlineTimer byDefault = LokiWait::defaultDeadline();
        QVERIFY(LokiWait::isDefaultDeadline(byDefault));
        QVERIFY(!LokiWait::isDefaultDeadline(QDeadlineTimer(QDeadlineTimer::Forever)));
        QVERIFY(!LokiWait::isDefaultDeadline(QDeadlineTimer(0)));
        LokiQueuedEntry a;
        a.stream = &stream;
        QCOMPARE(buffer.push(std::move(a), LokiWait::until(byDefault)), Result::Accepted);
        QTest::qWait(300); // the default deadline is not a point in time: it starts when the buffer is full
        QElapsedTimer timer;
        timer.start();
        LokiQueuedEntry b;
        b.stream = &stream;
        QCOMPARE(buffer.push(std::move(b), LokiWait::until(byDefault)), Result::TimedOut);
        QVERIFY2(timer.elapsed() >= 150, qPrintable(QString::number(timer.elapsed())));
    }

    void blockWaitsForTheWorkerToTakeABatch()
    {
        Fixture f(2, Mode::Block);
        f.push("a");
        f.push("b");
        std::atomic<int> result{-1};
        std::thread sender([&] { result = int(f.push("c", LokiWait::atMost(std::chrono::seconds(60)))); });
        QTest::qWait(100);
        QCOMPARE(result.load(), -1);
        QCOMPARE(f.take().size(), 2);
        QTRY_COMPARE_WITH_TIMEOUT(result.load(), int(Result::Accepted), 30000);
        sender.join();
        QCOMPARE(f.take(), QList<QByteArray>{"c"});
    }

    void closeWakesBlockedSendersAndRefusesLaterPushes()
    {
        Fixture f(1, Mode::Block);
        f.push("a");
        std::atomic<int> result{-1};
        std::thread sender(
            [&] { result = int(f.push("b", LokiWait::until(QDeadlineTimer(QDeadlineTimer::Forever)))); });
        QTest::qWait(100);
        f.buffer.close();
        QTRY_COMPARE_WITH_TIMEOUT(result.load(), int(Result::Closed), 30000);
        sender.join();
        QVERIFY(f.buffer.isClosed());
        QCOMPARE(f.push("c"), Result::Closed);
    }

    void takeBatchRespectsCountAndBytes()
    {
        Fixture f(100, Mode::DropNew, 3, 10);
        for (int i = 0; i < 5; ++i)
            f.push("12345");
        QCOMPARE(f.take().size(), 2); // 10 bytes
        Fixture g(100, Mode::DropNew, 3, 1 << 20);
        for (int i = 0; i < 5; ++i)
            g.push("x");
        QVERIFY(g.buffer.hasFullBatch());
        QCOMPARE(g.take().size(), 3);
        QCOMPARE(g.buffer.size(), 2);
        QVERIFY(!g.buffer.hasFullBatch());
        Fixture big(100, Mode::DropNew, 3, 4);
        big.push("much longer than four bytes");
        big.push("x");
        QCOMPARE(big.take().size(), 1); // one entry over the byte limit still goes, alone
    }

    void timestampsIncreaseAcrossThreads()
    {
        Fixture f(100000, Mode::DropNew, 100000);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&f] {
                for (int i = 0; i < 5000; ++i)
                    f.push("x");
            });
        }
        for (auto &t : threads)
            t.join();
        std::vector<LokiQueuedEntry> out;
        f.buffer.takeBatch(out);
        QCOMPARE(out.size(), size_t(20000));
        for (size_t i = 1; i < out.size(); ++i)
            QVERIFY(out[i].timestampNs > out[i - 1].timestampNs);
        // A timestamp given by the caller is kept.
        LokiQueuedEntry e;
        e.stream = &stream;
        e.timestampNs = 42;
        f.buffer.push(std::move(e), LokiWait::until(QDeadlineTimer(0)));
        out.clear();
        f.buffer.takeBatch(out);
        QCOMPARE(out.front().timestampNs, 42);
    }

    void aClockOffsetShiftsQueuedEntries()
    {
        Fixture f(4, Mode::DropOldest);
        for (int i = 0; i < 6; ++i) // wraps the ring
            f.push("x");
        const qint64 shift = qint64(1000) * 1000000000;
        const qint64 now = QDateTime::currentMSecsSinceEpoch() * 1000000;
        f.buffer.setClockOffset(shift);
        QCOMPARE(f.buffer.clockOffset(), shift);
        f.push("after");
        std::vector<LokiQueuedEntry> out;
        f.buffer.takeBatch(out);
        QCOMPARE(out.size(), size_t(4));
        for (size_t i = 0; i < out.size(); ++i) {
            QVERIFY(qAbs(out[i].timestampNs - (now + shift)) < qint64(60) * 1000000000);
            if (i > 0)
                QVERIFY(out[i].timestampNs > out[i - 1].timestampNs);
        }
        // And with nothing queued (the case that divided by zero in the spool).
        Fixture empty(4);
        empty.buffer.setClockOffset(shift);
        QCOMPARE(empty.buffer.clockOffset(), shift);
    }

    void wakeIsCalledWhenArmed()
    {
        Fixture f(100, Mode::DropNew, 3);
        int wakes = 0;
        f.buffer.setWakeCallback([&wakes] { ++wakes; });
        f.push("a"); // armed for any entry from the start
        QCOMPARE(wakes, 1);
        f.push("b");
        QCOMPARE(wakes, 1);
        QVERIFY(!f.buffer.armWake(LokiEntryBuffer::WakeWhen::FullBatch));
        f.push("c");
        QCOMPARE(wakes, 2);
        QVERIFY(f.buffer.armWake(LokiEntryBuffer::WakeWhen::AnyEntry)); // already there
    }

    // The message handler's path: each thread's lane keeps its order; timestamps are distinct and increasing
    // per thread and, once taken, across all of them; a send() from a thread comes after its earlier
    // messages.
    void messagesKeepEachThreadsOrderAndDistinctTimestamps()
    {
        Fixture f(100000, Mode::DropNew, 100000);
        f.renderText();
        constexpr int threadCount = 4;
        constexpr int perThread = 5000;
        std::vector<std::thread> threads;
        for (int t = 0; t < threadCount; ++t) {
            threads.emplace_back([&f, t] {
                for (int i = 0; i < perThread; ++i) {
                    if (t == 0 && i % 500 == 499)
                        f.push(QByteArray("t0 ") + QByteArray::number(i)); // push() among the messages
                    else
                        f.message(QStringLiteral("t%1 %2").arg(t).arg(i));
                }
            });
        }
        // The worker takes batches while the threads log.
        std::vector<LokiQueuedEntry> out;
        while (out.size() < size_t(threadCount * perThread)) {
            f.buffer.takeBatch(out);
            std::this_thread::yield();
        }
        for (auto &t : threads)
            t.join();
        f.buffer.takeBatch(out);
        QCOMPARE(out.size(), size_t(threadCount * perThread));
        QCOMPARE(f.buffer.acceptedCount(), qint64(threadCount * perThread));
        QCOMPARE(f.counters.acceptedTotal(), qint64(threadCount * perThread));
        QCOMPARE(f.buffer.removedCount(), qint64(threadCount * perThread));
        std::array<int, threadCount> next{};
        for (size_t i = 0; i < out.size(); ++i) {
            if (i > 0)
                QVERIFY2(out[i].timestampNs > out[i - 1].timestampNs, qPrintable(QString::number(i)));
            const QList<QByteArray> words = out[i].line.split(' ');
            QCOMPARE(words.size(), 2);
            const int t = words[0].mid(1).toInt();
            QCOMPARE(words[1].toInt(), next[size_t(t)]);
            ++next[size_t(t)];
        }
        QVERIFY(f.buffer.isEmpty());
    }

    // A message's timestamp is the wall clock when it was handed over (read cheaply, once): within a few
    // milliseconds of what the system clock said around the call, in bursts and after pauses alike.
    void messageTimestampsFollowTheWallClock()
    {
        Fixture f(100000, Mode::DropNew, 100000);
        f.renderText();
        std::vector<std::pair<qint64, qint64>> around; // system clock before and after each call, ns
        for (int i = 0; i < 3000; ++i) {
            const qint64 before = QDateTime::currentMSecsSinceEpoch() * 1000000;
            f.message(QString::number(i));
            const qint64 after = (QDateTime::currentMSecsSinceEpoch() + 1) * 1000000;
            around.emplace_back(before, after);
            if (i % 500 == 499)
                QThread::msleep(30); // past the counter's 2 ms window
            else if (i % 100 == 99)
                QThread::usleep(1500);
        }
        std::vector<LokiQueuedEntry> out;
        f.buffer.takeBatch(out);
        QCOMPARE(out.size(), around.size());
        constexpr qint64 slack = 5000000; // 5 ms: the millisecond clock above, a busy machine
        for (size_t i = 0; i < out.size(); ++i) {
            QVERIFY2(out[i].timestampNs >= around[i].first - slack &&
                         out[i].timestampNs <= around[i].second + slack,
                     qPrintable(QStringLiteral("message %1: %2 not in [%3, %4]")
                                    .arg(i)
                                    .arg(out[i].timestampNs)
                                    .arg(around[i].first)
                                    .arg(around[i].second)));
            if (i > 0)
                QVERIFY(out[i].timestampNs > out[i - 1].timestampNs);
        }
    }

    void messagesObeyTheCapacity()
    {
        Fixture newest(3, Mode::DropNew);
        newest.renderText();
        for (const char *line : {"a", "b", "c"})
            QCOMPARE(newest.message(QString::fromLatin1(line)), Result::Accepted);
        QCOMPARE(newest.message(QStringLiteral("d")), Result::Dropped);
        QCOMPARE(newest.counters.droppedNew.load(), 1);
        QCOMPARE(newest.counters.acceptedTotal(), 3);
        QCOMPARE(newest.take(), (QList<QByteArray>{"a", "b", "c"}));

        Fixture oldest(3, Mode::DropOldest);
        oldest.renderText();
        for (const char *line : {"a", "b", "c", "d", "e"})
            QCOMPARE(oldest.message(QString::fromLatin1(line)), Result::Accepted);
        QCOMPARE(oldest.counters.droppedOldest.load(), 2);
        QCOMPARE(oldest.take(), (QList<QByteArray>{"c", "d", "e"}));
        QCOMPARE(oldest.buffer.removedCount(), 5);
        QCOMPARE(oldest.buffer.acceptedCount(), 5);

        Fixture block(2, Mode::Block);
        block.renderText();
        QCOMPARE(block.message(QStringLiteral("a")), Result::Accepted);
        QCOMPARE(block.message(QStringLiteral("b")), Result::Accepted);
        QElapsedTimer timer;
        timer.start();
        QCOMPARE(block.message(QStringLiteral("c"), LokiWait::atMost(std::chrono::milliseconds(200))),
                 Result::TimedOut);
        QVERIFY(timer.elapsed() >= 150);
        QCOMPARE(block.counters.timedOut.load(), 1);
        std::atomic<int> result{-1};
        std::thread sender([&] {
            result = int(block.message(QStringLiteral("d"), LokiWait::atMost(std::chrono::seconds(60))));
        });
        QTest::qWait(100);
        QCOMPARE(result.load(), -1);
        QCOMPARE(block.take(), (QList<QByteArray>{"a", "b"}));
        QTRY_COMPARE_WITH_TIMEOUT(result.load(), int(Result::Accepted), 30000);
        sender.join();
        QCOMPARE(block.take(), QList<QByteArray>{"d"});
    }

    // A large capacity is leased to the lanes in chunks; threads that end give back what they did not use.
    void endedThreadsGiveTheirRoomBack()
    {
        Fixture f(256, Mode::DropNew, 1000); // leases of 2
        f.renderText();
        for (int t = 0; t < 100; ++t) {
            std::thread([&f, t] { QCOMPARE(f.message(QString::number(t)), Result::Accepted); }).join();
        }
        QCOMPARE(f.take().size(), 100);
        for (int i = 0; i < 256; ++i)
            QCOMPARE(f.message(QString::number(i)), Result::Accepted);
        QCOMPARE(f.message(QStringLiteral("one too many")), Result::Dropped);
        QCOMPARE(f.buffer.size(), 256);
    }

    // The worker is woken once per batch: by the first entry when it is idle, then at the full batch, never
    // per entry.
    void messagesWakeTheWorkerOncePerBatch()
    {
        Fixture f(4096, Mode::DropNew, 100);
        f.renderText();
        int wakes = 0;
        f.buffer.setWakeCallback([&wakes] { ++wakes; });
        QCOMPARE(f.message(QStringLiteral("first")), Result::Accepted); // armed for any entry from the start
        QCOMPARE(wakes, 1);
        QVERIFY(!f.buffer.armWake(LokiEntryBuffer::WakeWhen::FullBatch)); // as the worker does then
        for (int i = 1; i < 99; ++i)
            f.message(QString::number(i));
        QCOMPARE(wakes, 1);
        f.message(QStringLiteral("hundredth"));
        QCOMPARE(wakes, 2);
        QCOMPARE(f.take().size(), 100);
        for (int batch = 0; batch < 5; ++batch) {
            QVERIFY(!f.buffer.armWake(LokiEntryBuffer::WakeWhen::FullBatch));
            for (int i = 0; i < 99; ++i)
                f.message(QString::number(i));
            QCOMPARE(wakes, 2 + batch);
            f.message(QStringLiteral("last"));
            QCOMPARE(wakes, 3 + batch);
            for (int i = 0; i < 50; ++i) // more while the batch is under way: no wake
                f.message(QString::number(i));
            QCOMPARE(wakes, 3 + batch);
            QCOMPARE(f.take().size(), 100);
            QCOMPARE(f.take().size(), 50);
        }
        // Idle again: the next lone message wakes it.
        QVERIFY(!f.buffer.armWake(LokiEntryBuffer::WakeWhen::AnyEntry));
        f.message(QStringLiteral("lone"));
        QCOMPARE(wakes, 8);
        QVERIFY(f.buffer.armWake(LokiEntryBuffer::WakeWhen::AnyEntry)); // already there
    }

    void messagesInLanesGetTheClockOffsetAndAreLostAtShutdown()
    {
        Fixture f(100, Mode::DropNew);
        f.renderText();
        f.message(QStringLiteral("a"));
        const qint64 shift = qint64(1000) * 1000000000;
        const qint64 now = QDateTime::currentMSecsSinceEpoch() * 1000000;
        f.buffer.setClockOffset(shift);
        f.message(QStringLiteral("b"));
        std::vector<LokiQueuedEntry> out;
        f.buffer.takeBatch(out);
        QCOMPARE(out.size(), size_t(2));
        for (const LokiQueuedEntry &e : out)
            QVERIFY(qAbs(e.timestampNs - (now + shift)) < qint64(60) * 1000000000);
        f.message(QStringLiteral("c"));
        f.message(QStringLiteral("d"));
        QCOMPARE(f.buffer.size(), 2);
        f.buffer.close();
        QCOMPARE(f.message(QStringLiteral("e")), Result::Closed);
        const LokiEntryBuffer::Leftovers left = f.buffer.shutdownLeftovers(1);
        QCOMPARE(left.lost, 3);
        QVERIFY(f.buffer.isEmpty());
        QCOMPARE(f.buffer.removedCount(), 4);
        QCOMPARE(f.counters.acceptedTotal(), 4);
    }

    void shutdownLeftoversAreLost()
    {
        Fixture f(10);
        f.push("a");
        f.push("b");
        const LokiEntryBuffer::Leftovers left = f.buffer.shutdownLeftovers(3);
        QCOMPARE(left.lost, 5);
        QCOMPARE(left.kept, 0);
        QVERIFY(f.buffer.isEmpty());
        QVERIFY(!f.buffer.isDurable());
        QCOMPARE(f.buffer.syncTimerInterval().count(), -1);
        QVERIFY(f.buffer.boundDescription().contains(QLatin1String("capacity 10")));
    }
};

QTEST_MAIN(tst_MemoryBuffer)
#include "tst_memorybuffer.moc"
