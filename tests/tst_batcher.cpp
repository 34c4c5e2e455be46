// SPDX-License-Identifier: MIT
// The batch triggers as a table: what the worker sees -> what it does.
#include "batcher_p.h"

#include <QtTest/QtTest>

Q_DECLARE_METATYPE(LokiBatcher::Action)

class tst_Batcher : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void decide_data()
    {
        QTest::addColumn<int>("underWay");
        QTest::addColumn<int>("maxPushes");
        QTest::addColumn<bool>("empty");
        QTest::addColumn<bool>("full");
        QTest::addColumn<bool>("waitDue");
        QTest::addColumn<bool>("flush");
        QTest::addColumn<LokiBatcher::Action>("expected");
        using A = LokiBatcher::Action;
        // Every push slot busy: whatever else holds, nothing is decided until one ends.
        QTest::newRow("one at a time, under way, full, flush")
            << 1 << 1 << false << true << true << true << A::None;
        QTest::newRow("one at a time, under way, empty")
            << 1 << 1 << true << false << false << false << A::None;
        QTest::newRow("4 of 4 under way, full") << 4 << 4 << false << true << false << false << A::None;
        // A free slot: the triggers decide as when nothing is under way.
        QTest::newRow("1 of 4 under way, full batch")
            << 1 << 4 << false << true << false << false << A::Dispatch;
        QTest::newRow("3 of 4 under way, flush") << 3 << 4 << false << false << false << true << A::Dispatch;
        QTest::newRow("2 of 4 under way, a few entries")
            << 2 << 4 << false << false << false << false << A::Wait;
        // Pushes under way, a free slot and nothing waiting: not idle, no timer; the next entry wakes.
        QTest::newRow("2 of 4 under way, empty") << 2 << 4 << true << false << false << true << A::Listen;
        // Nothing to send: idle, even when a flush waits or the timer fired late.
        QTest::newRow("empty") << 0 << 1 << true << false << false << false << A::Idle;
        QTest::newRow("empty, flush waits") << 0 << 4 << true << false << false << true << A::Idle;
        QTest::newRow("empty, wait due") << 0 << 1 << true << false << true << false << A::Idle;
        // Each trigger alone dispatches.
        QTest::newRow("full batch") << 0 << 1 << false << true << false << false << A::Dispatch;
        QTest::newRow("max wait passed") << 0 << 1 << false << false << true << false << A::Dispatch;
        QTest::newRow("flush requested") << 0 << 1 << false << false << false << true << A::Dispatch;
        QTest::newRow("all triggers") << 0 << 4 << false << true << true << true << A::Dispatch;
        // Entries but no trigger: wait for one.
        QTest::newRow("a few entries") << 0 << 1 << false << false << false << false << A::Wait;
    }
    void decide()
    {
        QFETCH(int, underWay);
        QFETCH(int, maxPushes);
        QFETCH(bool, empty);
        QFETCH(bool, full);
        QFETCH(bool, waitDue);
        QFETCH(bool, flush);
        QFETCH(LokiBatcher::Action, expected);
        LokiBatcher::Inputs in;
        in.pushesUnderWay = underWay;
        in.maxPushes = maxPushes;
        in.bufferEmpty = empty;
        in.fullBatch = full;
        in.waitDue = waitDue;
        in.flushRequested = flush;
        QCOMPARE(LokiBatcher::decide(in), expected);
    }

    void pushSlots_data()
    {
        QTest::addColumn<int>("maxInFlight");
        QTest::addColumn<int>("underWay");
        QTest::addColumn<qint64>("oldestWaitMs");
        QTest::addColumn<bool>("retrying");
        QTest::addColumn<int>("maxPushes");
        QTest::addColumn<qint64>("lookAgainInMs");
        QTest::newRow("nothing under way: all slots") << 16 << 0 << qint64(-1) << false << 16 << qint64(-1);
        QTest::newRow("one just posted: no second yet, look again in 2 ms")
            << 16 << 1 << qint64(0) << false << 1 << qint64(2);
        QTest::newRow("one posted 1 ms ago: look again in 1 ms")
            << 16 << 1 << qint64(1) << false << 1 << qint64(1);
        QTest::newRow("the oldest waited 2 ms: a slow link, all slots")
            << 16 << 1 << qint64(2) << false << 16 << qint64(-1);
        QTest::newRow("three under way, the oldest 40 ms")
            << 16 << 3 << qint64(40) << false << 16 << qint64(-1);
        QTest::newRow("one waits for its retry: one slot")
            << 16 << 1 << qint64(-1) << true << 1 << qint64(-1);
        QTest::newRow("a retry beside a slow push: still one")
            << 16 << 2 << qint64(40) << true << 1 << qint64(-1);
        QTest::newRow("one at a time asked") << 1 << 1 << qint64(0) << false << 1 << qint64(-1);
        QTest::newRow("all waiting for retries, none posted")
            << 8 << 2 << qint64(-1) << false << 2 << qint64(-1);
    }
    void pushSlots()
    {
        QFETCH(int, maxInFlight);
        QFETCH(int, underWay);
        QFETCH(qint64, oldestWaitMs);
        QFETCH(bool, retrying);
        QFETCH(int, maxPushes);
        QFETCH(qint64, lookAgainInMs);
        const LokiBatcher::Slots window =
            LokiBatcher::pushSlots(maxInFlight, underWay, oldestWaitMs, retrying, 2);
        QCOMPARE(window.maxPushes, maxPushes);
        QCOMPARE(window.lookAgainInMs, lookAgainInMs);
    }
};

QTEST_APPLESS_MAIN(tst_Batcher)
#include "tst_batcher.moc"
