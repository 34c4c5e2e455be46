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

} // namespace LokiRetry
