// SPDX-License-Identifier: MIT
#include "retrypolicy_p.h"

#include <algorithm>
#include <cmath>

namespace LokiRetry {

Disposition classify(int httpStatus)
{
    if (httpStatus == 0)
        return Disposition::Retry;
    // Loki answers 204; other 2xx are accepted as stored, except 260, which Loki uses for "ingestion
    // blocked".
    if (httpStatus >= 200 && httpStatus < 300)
        return httpStatus == 260 ? Disposition::Fail : Disposition::Delivered;
    if (httpStatus == 429 || (httpStatus >= 500 && httpStatus < 600))
        return Disposition::Retry;
    return Disposition::Fail;
}

Disposition classify(const LokiPushOutcome &outcome)
{
    if (outcome.httpStatus == 0 && outcome.networkError == LokiPushOutcome::NetworkError::Tls)
        return Disposition::Fail;
    return classify(outcome.httpStatus);
}

bool isTooLarge(int httpStatus, const QByteArray &body)
{
    if (httpStatus == 413)
        return true;
    return httpStatus == 500 && body.contains("ResourceExhausted") && body.contains("larger than max");
}

std::chrono::milliseconds backoffDelay(const LokiConfig::Retry &retry, int retryNumber, double random01)
{
    const double initial = double(retry.initialBackoff.count());
    const double cap = double(retry.maxBackoff.count());
    const int exponent = std::max(0, retryNumber - 1);
    // pow() of a large exponent is inf, which min() caps; no overflow is possible in double.
    const double base = std::min(initial * std::pow(std::max(1.0, retry.multiplier), exponent), cap);
    const double jitter = std::clamp(retry.jitter, 0.0, 1.0);
    const double r = std::clamp(random01, 0.0, 1.0);
    const double spread = base * (1.0 + jitter * (2.0 * r - 1.0));
    return std::chrono::milliseconds(qint64(std::llround(std::clamp(spread, 0.0, cap))));
}

std::chrono::milliseconds retryAfterDelay(const QByteArray &header, const QDateTime &nowUtc,
                                          std::chrono::milliseconds cap)
{
    const QByteArray value = header.trimmed();
    if (value.isEmpty())
        return std::chrono::milliseconds(-1);
    bool isNumber = false;
    const qint64 seconds = value.toLongLong(&isNumber);
    qint64 ms = -1;
    if (isNumber) {
        if (seconds < 0)
            return std::chrono::milliseconds(-1);
        ms = seconds > cap.count() / 1000 + 1 ? cap.count() : seconds * 1000;
    } else {
        // RFC 9110 IMF-fixdate, the only form servers are allowed to send: "Sun, 06 Nov 1994 08:49:37 GMT".
        QDateTime when = QDateTime::fromString(QString::fromLatin1(value),
                                               QStringLiteral("ddd, dd MMM yyyy hh:mm:ss 'GMT'"));
        if (!when.isValid())
            return std::chrono::milliseconds(-1);
        when.setTimeSpec(Qt::UTC);
        ms = std::max<qint64>(0, nowUtc.msecsTo(when));
    }
    return std::chrono::milliseconds(std::min<qint64>(ms, cap.count()));
}

Decision decide(const LokiPushOutcome &outcome, const Context &context)
{
    using namespace std::chrono;
    Decision decision;
    const int status = outcome.httpStatus;
    const Disposition disposition = classify(outcome);
    if (disposition == Disposition::Delivered) {
        decision.action = Action::Deliver;
        return decision;
    }
    if (isTooLarge(status, outcome.body)) {
        // The server (or a gateway) refuses the size, not the content: send the halves, down to single
        // entries; one entry too large is never resent whole.
        decision.action = context.entries > 1 ? Action::Split : Action::FailNow;
        return decision;
    }
    if (status == 400 && context.clockShifted &&
        (outcome.body.contains("timestamp too old") || outcome.body.contains("timestamp too new"))) {
        decision.action = Action::CorrectClockAndResend;
        return decision;
    }
    if (status == 415 && context.protobuf) {
        decision.action = Action::FallBackToJson;
        return decision;
    }
    if (disposition != Disposition::Retry)
        return decision; // FailNow
    if (status == 0 && context.offline) {
        // Retrying would use up the attempts for nothing; yet the OS may be wrong (loopback, a local agent, a
        // VPN it does not count): try again on a slow timer.
        decision.action = Action::WaitForNetwork;
        decision.delay = std::max(context.retry.offlineRetryInterval, milliseconds(1));
        return decision;
    }
    // With a spool, a transient failure never fails the batch: it stays on disk and is retried until
    // delivered, or until the client closes and leaves it for the next start.
    if (context.attempt >= context.retry.maxAttempts && !context.spool)
        return decision; // FailNow
    decision.action = Action::RetryAfter;
    decision.delay = backoffDelay(context.retry, context.attempt, context.random01);
    // A server (or the gateway in front of Loki) that says when to come back is believed, within
    // maxRetryAfter (not maxBackoff: a server asking for 60 s must not be hit every 3 s).
    if ((status == 429 || status == 503) && context.retry.maxRetryAfter.count() > 0) {
        const milliseconds asked = retryAfterDelay(
            outcome.retryAfter, context.nowUtc.isValid() ? context.nowUtc : QDateTime::currentDateTimeUtc(),
            context.retry.maxRetryAfter);
        if (asked.count() >= 0) {
            decision.delay = asked;
            decision.serverAsked = true;
        }
    }
    return decision;
}

} // namespace LokiRetry
