// SPDX-License-Identifier: MIT
#include "retrypolicy_p.h"

#include <QtTest/QtTest>

using namespace std::chrono_literals;
using LokiRetry::Disposition;

class tst_RetryPolicy : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void classify_data()
    {
        QTest::addColumn<int>("status");
        QTest::addColumn<Disposition>("expected");
        QTest::newRow("network error") << 0 << Disposition::Retry;
        QTest::newRow("204 stored") << 204 << Disposition::Delivered;
        QTest::newRow("200 stored") << 200 << Disposition::Delivered;
        QTest::newRow("260 ingestion blocked") << 260 << Disposition::Fail;
        QTest::newRow("400 invalid") << 400 << Disposition::Fail;
        QTest::newRow("401 no org id") << 401 << Disposition::Fail;
        QTest::newRow("403 forbidden") << 403 << Disposition::Fail;
        QTest::newRow("404 wrong path") << 404 << Disposition::Fail;
        QTest::newRow("413 too large") << 413 << Disposition::Fail;
        QTest::newRow("429 rate limited") << 429 << Disposition::Retry;
        QTest::newRow("500 internal") << 500 << Disposition::Retry;
        QTest::newRow("502 bad gateway") << 502 << Disposition::Retry;
        QTest::newRow("503 unavailable") << 503 << Disposition::Retry;
        QTest::newRow("504 gateway timeout") << 504 << Disposition::Retry;
        QTest::newRow("301 redirect") << 301 << Disposition::Fail;
    }
    void classify()
    {
        QFETCH(int, status);
        QFETCH(Disposition, expected);
        QCOMPARE(LokiRetry::classify(status), expected);
    }

    // Without jitter the schedule is exact: initial × multiplier^(n−1), capped.
    void growthAndCap_data()
    {
        QTest::addColumn<int>("retry");
        QTest::addColumn<qint64>("expectedMs");
        QTest::newRow("1st") << 1 << qint64(100);
        QTest::newRow("2nd") << 2 << qint64(200);
        QTest::newRow("3rd") << 3 << qint64(400);
        QTest::newRow("4th") << 4 << qint64(800);
        QTest::newRow("5th") << 5 << qint64(1600);
        QTest::newRow("6th capped") << 6 << qint64(3000);
        QTest::newRow("60th capped, no overflow") << 60 << qint64(3000);
        QTest::newRow("2000th capped, no overflow") << 2000 << qint64(3000);
    }
    void growthAndCap()
    {
        QFETCH(int, retry);
        QFETCH(qint64, expectedMs);
        LokiConfig::Retry policy;
        policy.jitter = 0.0;
        for (double r : {0.0, 0.5, 0.999})
            QCOMPARE(LokiRetry::backoffDelay(policy, retry, r).count(), expectedMs);
    }

    // With jitter j, a delay lies in [base × (1 − j), min(base × (1 + j), cap)], and the extremes are
    // reached.
    void jitterBounds_data()
    {
        QTest::addColumn<int>("retry");
        QTest::addColumn<double>("jitter");
        QTest::addColumn<qint64>("lowMs");
        QTest::addColumn<qint64>("highMs");
        QTest::newRow("1st, 20%") << 1 << 0.2 << qint64(80) << qint64(120);
        QTest::newRow("3rd, 20%") << 3 << 0.2 << qint64(320) << qint64(480);
        QTest::newRow("5th, 50%") << 5 << 0.5 << qint64(800) << qint64(2400);
        QTest::newRow("at cap, 20%: never above cap") << 8 << 0.2 << qint64(2400) << qint64(3000);
        QTest::newRow("full jitter") << 2 << 1.0 << qint64(0) << qint64(400);
    }
    void jitterBounds()
    {
        QFETCH(int, retry);
        QFETCH(double, jitter);
        QFETCH(qint64, lowMs);
        QFETCH(qint64, highMs);
        LokiConfig::Retry policy;
        policy.jitter = jitter;
        QCOMPARE(LokiRetry::backoffDelay(policy, retry, 0.0).count(), lowMs);
        QCOMPARE(LokiRetry::backoffDelay(policy, retry, 1.0).count(), highMs);
        QRandomGenerator rng(42);
        for (int i = 0; i < 1000; ++i) {
            const qint64 ms = LokiRetry::backoffDelay(policy, retry, rng.generateDouble()).count();
            QVERIFY2(ms >= lowMs && ms <= highMs, qPrintable(QString::number(ms)));
        }
    }

    void retryAfter_data()
    {
        QTest::addColumn<QByteArray>("header");
        QTest::addColumn<qint64>("expectedMs");
        QTest::newRow("absent") << QByteArray() << qint64(-1);
        QTest::newRow("seconds") << QByteArray("2") << qint64(2000);
        QTest::newRow("zero") << QByteArray("0") << qint64(0);
        QTest::newRow("spaces") << QByteArray(" 1 ") << qint64(1000);
        QTest::newRow("capped at maxBackoff") << QByteArray("3600") << qint64(5000);
        QTest::newRow("huge number, no overflow") << QByteArray("99999999999999") << qint64(5000);
        QTest::newRow("negative is ignored") << QByteArray("-5") << qint64(-1);
        QTest::newRow("garbage is ignored") << QByteArray("soon") << qint64(-1);
        QTest::newRow("HTTP date 3 s ahead") << QByteArray("Fri, 27 Nov 2026 10:00:03 GMT") << qint64(3000);
        QTest::newRow("HTTP date in the past") << QByteArray("Fri, 27 Nov 2026 09:59:00 GMT") << qint64(0);
        QTest::newRow("HTTP date far ahead, capped")
            << QByteArray("Sat, 28 Nov 2026 10:00:00 GMT") << qint64(5000);
    }
    void retryAfter()
    {
        QFETCH(QByteArray, header);
        QFETCH(qint64, expectedMs);
        const QDateTime now(QDate(2026, 11, 27), QTime(10, 0, 0), Qt::UTC);
        QCOMPARE(LokiRetry::retryAfterDelay(header, now, 5s).count(), expectedMs);
    }

    void otherMultipliers()
    {
        LokiConfig::Retry policy;
        policy.jitter = 0;
        policy.initialBackoff = 50ms;
        policy.maxBackoff = 10s;
        policy.multiplier = 3.0;
        QCOMPARE(LokiRetry::backoffDelay(policy, 1, 0.5).count(), 50);
        QCOMPARE(LokiRetry::backoffDelay(policy, 2, 0.5).count(), 150);
        QCOMPARE(LokiRetry::backoffDelay(policy, 3, 0.5).count(), 450);
        policy.multiplier = 1.0; // constant backoff
        QCOMPARE(LokiRetry::backoffDelay(policy, 7, 0.5).count(), 50);
    }
};

QTEST_GUILESS_MAIN(tst_RetryPolicy)
#include "tst_retrypolicy.moc"
