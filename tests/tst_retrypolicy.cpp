// SPDX-License-Identifier: MIT
#include "retrypolicy_p.h"

#include <QtTest/QtTest>

using namespace std::chrono_literals;
using LokiRetry::Action;
using LokiRetry::Disposition;
using NetError = LokiPushOutcome::NetworkError;

namespace {
const QDateTime fixedNow(QDate(2026, 11, 27), QTime(10, 0, 0), Qt::UTC);
constexpr qint64 minute = 60 * 1000;
} // namespace

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
        QTest::newRow("capped") << QByteArray("3600") << qint64(5000);
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

    // The whole decision, with the default schedule (initial 100 ms, ×2, max 3 s, jitter 20 %, 5 attempts,
    // Retry-After honoured up to 5 min, offline retries every 30 s).
    void decide_data()
    {
        QTest::addColumn<int>("status");
        QTest::addColumn<NetError>("network");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QByteArray>("retryAfter");
        QTest::addColumn<int>("attempt");
        QTest::addColumn<int>("entries");
        QTest::addColumn<bool>("spool");
        QTest::addColumn<bool>("offline");
        QTest::addColumn<bool>("protobuf");
        QTest::addColumn<bool>("clockShifted");
        QTest::addColumn<Action>("expected");
        QTest::addColumn<qint64>("minMs");
        QTest::addColumn<qint64>("maxMs");
        const QByteArray none;
        const NetError ok = NetError::None;
        // clang-format off
        //                                     status network           body                  Retry-After     att ent  spool  offline proto  clock
        QTest::newRow("204 stored")         << 204 << ok << none << none                           << 1 << 10 << false << false << true << false << Action::Deliver << 0ll << 0ll;
        QTest::newRow("200 stored")         << 200 << ok << none << none                           << 3 << 10 << false << false << true << false << Action::Deliver << 0ll << 0ll;
        QTest::newRow("204 while offline")  << 204 << ok << none << none                           << 1 << 10 << true  << true  << true << false << Action::Deliver << 0ll << 0ll;
        QTest::newRow("260 blocked")        << 260 << ok << none << none                           << 1 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("260 blocked, spool") << 260 << ok << none << none                           << 1 << 10 << true  << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("400 bad labels")     << 400 << ok << QByteArray("couldn't parse labels") << none << 1 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("400 bad labels, spool") << 400 << ok << QByteArray("couldn't parse labels") << none << 1 << 10 << true << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("400 too old, clock as stamped") << 400 << ok << QByteArray("entry ... has timestamp too old") << none << 1 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("400 too old, clock shifted")    << 400 << ok << QByteArray("entry ... has timestamp too old") << none << 1 << 10 << false << false << true << true << Action::CorrectClockAndResend << 0ll << 0ll;
        QTest::newRow("400 too new, clock shifted")    << 400 << ok << QByteArray("entry ... has timestamp too new") << none << 2 << 10 << true << false << true << true << Action::CorrectClockAndResend << 0ll << 0ll;
        QTest::newRow("400 other, clock shifted")      << 400 << ok << QByteArray("line too long") << none << 1 << 10 << false << false << true << true << Action::FailNow << 0ll << 0ll;
        QTest::newRow("401 no org id")      << 401 << ok << QByteArray("no org id") << none        << 1 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("401, spool")         << 401 << ok << QByteArray("unauthorized") << none     << 1 << 10 << true  << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("403")                << 403 << ok << none << none                           << 1 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("404 wrong path")     << 404 << ok << QByteArray("404 page not found") << none << 1 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("307 not followed")   << 307 << ok << none << none                           << 1 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("413 many entries")   << 413 << ok << QByteArray("413 Request Entity Too Large") << none << 1 << 10 << false << false << true << false << Action::Split << 0ll << 0ll;
        QTest::newRow("413 two entries, spool") << 413 << ok << none << none                       << 4 << 2  << true  << false << true << false << Action::Split << 0ll << 0ll;
        QTest::newRow("413 one entry")      << 413 << ok << none << none                           << 1 << 1  << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("413 one entry, spool") << 413 << ok << none << none                         << 1 << 1  << true  << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("500 ResourceExhausted") << 500 << ok << QByteArray("rpc error: code = ResourceExhausted desc = grpc: received message larger than max (5 vs. 4)") << none << 1 << 10 << false << false << true << false << Action::Split << 0ll << 0ll;
        QTest::newRow("500 ResourceExhausted, one entry, spool") << 500 << ok << QByteArray("ResourceExhausted: larger than max") << none << 1 << 1 << true << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("500 other")          << 500 << ok << QByteArray("internal") << none         << 1 << 10 << false << false << true << false << Action::RetryAfter << 80ll << 120ll;
        QTest::newRow("415 to protobuf")    << 415 << ok << QByteArray("unsupported Content-Type") << none << 1 << 10 << false << false << true << false << Action::FallBackToJson << 0ll << 0ll;
        QTest::newRow("415 to JSON")        << 415 << ok << QByteArray("unsupported Content-Type") << none << 1 << 10 << false << false << false << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("429, 1st attempt")   << 429 << ok << QByteArray("rate limited") << none     << 1 << 10 << false << false << true << false << Action::RetryAfter << 80ll << 120ll;
        QTest::newRow("429, 3rd attempt")   << 429 << ok << none << none                           << 3 << 10 << false << false << true << false << Action::RetryAfter << 320ll << 480ll;
        QTest::newRow("429, last attempt")  << 429 << ok << none << none                           << 5 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("429, 5th attempt, spool") << 429 << ok << none << none                      << 5 << 10 << true  << false << true << false << Action::RetryAfter << 1280ll << 1920ll;
        QTest::newRow("429, 50th attempt, spool: capped") << 429 << ok << none << none             << 50 << 10 << true << false << true << false << Action::RetryAfter << 2400ll << 3000ll;
        QTest::newRow("503, last attempt")  << 503 << ok << none << none                           << 5 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("504 while offline: a server answered") << 504 << ok << none << none         << 1 << 10 << false << true  << true << false << Action::RetryAfter << 80ll << 120ll;
        // Retry-After: believed beyond maxBackoff, up to maxRetryAfter (5 min); only on 429 and 503.
        QTest::newRow("429 Retry-After 60 s")  << 429 << ok << none << QByteArray("60")            << 1 << 10 << false << false << true << false << Action::RetryAfter << minute << minute;
        QTest::newRow("503 Retry-After 60 s")  << 503 << ok << none << QByteArray("60")            << 2 << 10 << false << false << true << false << Action::RetryAfter << minute << minute;
        QTest::newRow("429 Retry-After 2 s")   << 429 << ok << none << QByteArray("2")             << 1 << 10 << false << false << true << false << Action::RetryAfter << 2000ll << 2000ll;
        QTest::newRow("429 Retry-After 0")     << 429 << ok << none << QByteArray("0")             << 1 << 10 << false << false << true << false << Action::RetryAfter << 0ll << 0ll;
        QTest::newRow("429 Retry-After 1 h: capped at 5 min") << 429 << ok << none << QByteArray("3600") << 1 << 10 << false << false << true << false << Action::RetryAfter << 5 * minute << 5 * minute;
        QTest::newRow("429 Retry-After as a date") << 429 << ok << none << QByteArray("Fri, 27 Nov 2026 10:00:45 GMT") << 1 << 10 << false << false << true << false << Action::RetryAfter << 45000ll << 45000ll;
        QTest::newRow("429 Retry-After unreadable: backoff") << 429 << ok << none << QByteArray("later") << 2 << 10 << false << false << true << false << Action::RetryAfter << 160ll << 240ll;
        QTest::newRow("429 Retry-After, last attempt") << 429 << ok << none << QByteArray("60")    << 5 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("429 Retry-After, last attempt, spool") << 429 << ok << none << QByteArray("60") << 5 << 10 << true << false << true << false << Action::RetryAfter << minute << minute;
        QTest::newRow("502 Retry-After ignored") << 502 << ok << none << QByteArray("60")          << 1 << 10 << false << false << true << false << Action::RetryAfter << 80ll << 120ll;
        // Network failures.
        QTest::newRow("refused")            << 0 << NetError::Other << none << none                << 1 << 10 << false << false << true << false << Action::RetryAfter << 80ll << 120ll;
        QTest::newRow("timeout")            << 0 << NetError::Timeout << none << none              << 2 << 10 << false << false << true << false << Action::RetryAfter << 160ll << 240ll;
        QTest::newRow("refused, last attempt") << 0 << NetError::Other << none << none             << 5 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("refused, last attempt, spool") << 0 << NetError::Other << none << none      << 5 << 10 << true  << false << true << false << Action::RetryAfter << 1280ll << 1920ll;
        QTest::newRow("refused while offline") << 0 << NetError::Other << none << none             << 1 << 10 << false << true  << true << false << Action::WaitForNetwork << 30000ll << 30000ll;
        QTest::newRow("refused while offline, attempts used up") << 0 << NetError::Other << none << none << 5 << 10 << false << true << true << false << Action::WaitForNetwork << 30000ll << 30000ll;
        QTest::newRow("timeout while offline, spool") << 0 << NetError::Timeout << none << none    << 1 << 10 << true  << true  << true << false << Action::WaitForNetwork << 30000ll << 30000ll;
        QTest::newRow("TLS: untrusted certificate") << 0 << NetError::Tls << none << none          << 1 << 10 << false << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("TLS, spool")         << 0 << NetError::Tls << none << none                  << 1 << 10 << true  << false << true << false << Action::FailNow << 0ll << 0ll;
        QTest::newRow("TLS while offline")  << 0 << NetError::Tls << none << none                  << 1 << 10 << true  << true  << true << false << Action::FailNow << 0ll << 0ll;
        // clang-format on
    }
    void decide()
    {
        QFETCH(int, status);
        QFETCH(NetError, network);
        QFETCH(QByteArray, body);
        QFETCH(QByteArray, retryAfter);
        QFETCH(int, attempt);
        QFETCH(int, entries);
        QFETCH(bool, spool);
        QFETCH(bool, offline);
        QFETCH(bool, protobuf);
        QFETCH(bool, clockShifted);
        QFETCH(Action, expected);
        QFETCH(qint64, minMs);
        QFETCH(qint64, maxMs);
        LokiPushOutcome outcome;
        outcome.httpStatus = status;
        outcome.networkError = network;
        outcome.body = body;
        outcome.retryAfter = retryAfter;
        LokiRetry::Context context;
        context.attempt = attempt;
        context.entries = entries;
        context.spool = spool;
        context.offline = offline;
        context.protobuf = protobuf;
        context.clockShifted = clockShifted;
        context.nowUtc = fixedNow;
        for (double r : {0.0, 0.5, 0.999}) {
            context.random01 = r;
            const LokiRetry::Decision decision = LokiRetry::decide(outcome, context);
            QCOMPARE(decision.action, expected);
            QVERIFY2(decision.delay.count() >= minMs && decision.delay.count() <= maxMs,
                     qPrintable(QString::number(decision.delay.count())));
            QCOMPARE(decision.willRetry(),
                     expected == Action::RetryAfter || expected == Action::WaitForNetwork);
        }
    }

    // The caps are settings of their own.
    void retryAfterAndOfflineSettings()
    {
        LokiPushOutcome outcome;
        outcome.httpStatus = 429;
        outcome.retryAfter = "60";
        LokiRetry::Context context;
        context.nowUtc = fixedNow;
        context.retry.jitter = 0;
        context.retry.maxRetryAfter = 10s;
        LokiRetry::Decision decision = LokiRetry::decide(outcome, context);
        QCOMPARE(decision.action, Action::RetryAfter);
        QCOMPARE(decision.delay.count(), 10000);
        QVERIFY(decision.serverAsked);
        context.retry.maxRetryAfter = 0ms; // off: the backoff applies
        decision = LokiRetry::decide(outcome, context);
        QCOMPARE(decision.delay.count(), 100);
        QVERIFY(!decision.serverAsked);

        LokiPushOutcome refused;
        refused.networkError = NetError::Other;
        context.offline = true;
        context.retry.offlineRetryInterval = 5s;
        decision = LokiRetry::decide(refused, context);
        QCOMPARE(decision.action, Action::WaitForNetwork);
        QCOMPARE(decision.delay.count(), 5000);
    }

    void classifyOutcome()
    {
        LokiPushOutcome outcome;
        outcome.networkError = NetError::Tls;
        QCOMPARE(LokiRetry::classify(outcome), Disposition::Fail);
        outcome.networkError = NetError::Timeout;
        QCOMPARE(LokiRetry::classify(outcome), Disposition::Retry);
        outcome.networkError = NetError::None;
        outcome.httpStatus = 204;
        QCOMPARE(LokiRetry::classify(outcome), Disposition::Delivered);
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
