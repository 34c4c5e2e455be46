// SPDX-License-Identifier: MIT
#include "clockskew_p.h"

#include <QtCore/QtGlobal>

namespace LokiClockSkew {

namespace {
// "3 days", "2 years": what a person reads best for the size of the difference.
QString humanDuration(qint64 ms)
{
    const qint64 s = qAbs(ms) / 1000;
    constexpr qint64 day = 24 * 3600;
    if (s >= 2 * 365 * day)
        return QStringLiteral("%1 years").arg(s / (365 * day));
    if (s >= 2 * day)
        return QStringLiteral("%1 days").arg(s / day);
    if (s >= 2 * 3600)
        return QStringLiteral("%1 hours").arg(s / 3600);
    return QStringLiteral("%1 s").arg(s);
}
} // namespace

QDateTime parseHttpDate(const QByteArray &value)
{
    QDateTime when = QDateTime::fromString(QString::fromLatin1(value.trimmed()),
                                           QStringLiteral("ddd, dd MMM yyyy hh:mm:ss 'GMT'"));
    if (when.isValid())
        when.setTimeSpec(Qt::UTC);
    return when;
}

std::optional<Change> learn(const QByteArray &date, const QDateTime &nowUtc, qint64 currentOffsetMs,
                            qint64 thresholdMs)
{
    if (thresholdMs <= 0 || date.isEmpty())
        return std::nullopt;
    const QDateTime server = parseHttpDate(date);
    if (!server.isValid())
        return std::nullopt;
    const qint64 measuredMs = nowUtc.msecsTo(server);
    if (qAbs(measuredMs - currentOffsetMs) <= thresholdMs)
        return std::nullopt;
    Change change;
    change.offsetMs = qAbs(measuredMs) > thresholdMs ? measuredMs : 0;
    if (change.offsetMs == 0)
        change.message = QStringLiteral("this device's clock agrees with Loki's again: timestamps are no "
                                        "longer corrected");
    else
        change.message =
            QStringLiteral("this device's clock is %1 (%2 s) %3 Loki's (from its Date header): "
                           "timestamps are corrected by that")
                .arg(humanDuration(change.offsetMs))
                .arg(qAbs(change.offsetMs) / 1000)
                .arg(change.offsetMs > 0 ? QStringLiteral("behind") : QStringLiteral("ahead of"));
    return change;
}

} // namespace LokiClockSkew
