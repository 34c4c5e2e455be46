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

} // namespace LokiRetry
