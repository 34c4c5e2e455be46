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
        QTest::addColumn<bool>("underWay");
        QTest::addColumn<bool>("empty");
        QTest::addColumn<bool>("full");
        QTest::addColumn<bool>("waitDue");
        QTest::addColumn<bool>("flush");
        QTest::addColumn<LokiBatcher::Action>("expected");
        using A = LokiBatcher::Action;
        // One batch at a time: whatever else holds, a batch under way decides nothing.
        QTest::newRow("under way, full, flush") << true << false << true << true << true << A::None;
        QTest::newRow("under way, empty") << true << true << false << false << false << A::None;
        // Nothing to send: idle, even when a flush waits or the timer fired late.
        QTest::newRow("empty") << false << true << false << false << false << A::Idle;
        QTest::newRow("empty, flush waits") << false << true << false << false << true << A::Idle;
        QTest::newRow("empty, wait due") << false << true << false << true << false << A::Idle;
        // Each trigger alone dispatches.
        QTest::newRow("full batch") << false << false << true << false << false << A::Dispatch;
        QTest::newRow("max wait passed") << false << false << false << true << false << A::Dispatch;
        QTest::newRow("flush requested") << false << false << false << false << true << A::Dispatch;
        QTest::newRow("all triggers") << false << false << true << true << true << A::Dispatch;
        // Entries but no trigger: wait for one.
        QTest::newRow("a few entries") << false << false << false << false << false << A::Wait;
    }
    void decide()
    {
        QFETCH(bool, underWay);
        QFETCH(bool, empty);
        QFETCH(bool, full);
        QFETCH(bool, waitDue);
        QFETCH(bool, flush);
        QFETCH(LokiBatcher::Action, expected);
        LokiBatcher::Inputs in;
        in.batchUnderWay = underWay;
        in.bufferEmpty = empty;
        in.fullBatch = full;
        in.waitDue = waitDue;
        in.flushRequested = flush;
        QCOMPARE(LokiBatcher::decide(in), expected);
    }
};

QTEST_APPLESS_MAIN(tst_Batcher)
#include "tst_batcher.moc"
