// SPDX-License-Identifier: MIT
#ifndef LOKIQT_RETRYPOLICY_P_H
#define LOKIQT_RETRYPOLICY_P_H

// Pure retry policy: which answers are retried, and how long to wait before each retry.

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

} // namespace LokiRetry

#endif // LOKIQT_RETRYPOLICY_P_H
