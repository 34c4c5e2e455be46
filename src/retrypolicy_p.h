// SPDX-License-Identifier: MIT
#ifndef LOKIQT_RETRYPOLICY_P_H
#define LOKIQT_RETRYPOLICY_P_H

// Pure retry policy: what to do after a push (deliver, split, fail, retry after a delay, ...), which answers
// are retried, and how long to wait before each retry.

#include "pushtransport_p.h"

#include <lokiqt/lokiconfig.h>

#include <QtCore/QByteArray>
#include <QtCore/QDateTime>

#include <chrono>

namespace LokiRetry {

enum class Disposition {
    Delivered, ///< 2xx that means stored
    Retry,     ///< transient: network error, 429, 5xx
    Fail,      ///< final: any other answer (400, 401, 403, 404, 260 "not stored", ...)
};

/**
 * What to do after a push. @p httpStatus is the answer's status, or 0 when no HTTP answer arrived (a network
 * error, a timeout, an answer that was not HTTP): those are transient.
 */
Disposition classify(int httpStatus);
/** classify() of an outcome: as classify(status) for an HTTP answer; a network failure is transient,
 *  except a TLS one, which is final (configuration). */
Disposition classify(const LokiPushOutcome &outcome);

/**
 * Whether an answer refuses the push for its size: 413 (a gateway's body limit), or the 500 Loki answers
 * when the decoded push exceeds its gRPC message limit ("ResourceExhausted ... larger than max"), which
 * fails forever when resent as is. Such a batch is split instead of retried.
 */
bool isTooLarge(int httpStatus, const QByteArray &body);

/**
 * The wait before retry number @p retry (1 for the first retry): initialBackoff × multiplier^(retry−1),
 * capped at maxBackoff, then spread by ±jitter using @p random01 (uniform in [0, 1)), never above maxBackoff
 * and never negative.
 */
std::chrono::milliseconds backoffDelay(const LokiConfig::Retry &retry, int retryNumber, double random01);

/**
 * The wait a `Retry-After` header asks for: delta-seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015
 * 07:28:00 GMT`, taken relative to @p nowUtc), capped at @p cap and never negative. -1 when the header is
 * absent or unreadable, so the regular backoff applies.
 */
std::chrono::milliseconds retryAfterDelay(const QByteArray &header, const QDateTime &nowUtc,
                                          std::chrono::milliseconds cap);

/** What the worker does with a push's outcome. */
enum class Action {
    Deliver,               ///< stored: count the part as sent and go on
    Split,                 ///< refused for its size: push the two halves instead
    FailNow,               ///< final (or attempts used up): count the part as failed and go on
    RetryAfter,            ///< transient: push the same body again after Decision::delay
    WaitForNetwork,        ///< a network failure while the system reports no network: push again when it
                           ///< is back, or after Decision::delay (retry.offlineRetryInterval) at the latest,
                           ///< without using up an attempt
    CorrectClockAndResend, ///< refused for timestamps stamped before the clock's offset was known: shift the
                           ///< batch by the offset and push it again (once)
    FallBackToJson,        ///< 415 to protobuf: encode as JSON from now on and push again
};

/** What the decision needs to know besides the outcome. */
struct Context
{
    int attempt = 1;           ///< the attempt that just ended (1 for a part's first push)
    int entries = 1;           ///< entries in the part pushed
    bool spool = false;        ///< the entries are kept in a durable buffer (spool) until acknowledged
    bool offline = false;      ///< the system reports no network
    bool protobuf = true;      ///< the body was protobuf (a 415 can fall back to JSON)
    bool clockShifted = false; ///< the clock offset changed since the batch was stamped, not yet corrected
    LokiConfig::Retry retry;   ///< the schedule
    double random01 = 0.5;     ///< uniform in [0, 1), for the jitter
    QDateTime nowUtc;          ///< for a Retry-After given as a date
};

struct Decision
{
    Action action = Action::FailNow;
    std::chrono::milliseconds delay{0}; ///< RetryAfter, WaitForNetwork: when to push again
    bool serverAsked = false;           ///< the delay is the server's Retry-After (honour it exactly)
    /** Whether the entries are still to be delivered (for LokiError::willRetry()). */
    bool willRetry() const { return action == Action::RetryAfter || action == Action::WaitForNetwork; }
};

/**
 * The whole retry decision, pure:
 * - 2xx (260 aside): Deliver;
 * - too large (isTooLarge) with more than one entry: Split; a single entry that is too large fails;
 * - 400 "timestamp too old/new" while the clock's offset changed since the batch was stamped:
 *   CorrectClockAndResend;
 * - 415 to protobuf: FallBackToJson;
 * - a TLS failure (untrusted certificate, refused client certificate): FailNow, it is configuration;
 * - a network failure while offline: WaitForNetwork, delay retry.offlineRetryInterval, no attempt used;
 * - other transient failures (network, 429, 5xx): RetryAfter while attempts remain (always with a spool),
 *   after the backoff, or after the server's Retry-After (429 and 503) capped at retry.maxRetryAfter;
 * - anything else: FailNow.
 */
Decision decide(const LokiPushOutcome &outcome, const Context &context);

} // namespace LokiRetry

#endif // LOKIQT_RETRYPOLICY_P_H
