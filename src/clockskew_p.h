// SPDX-License-Identifier: MIT
#ifndef LOKIQT_CLOCKSKEW_P_H
#define LOKIQT_CLOCKSKEW_P_H

// Pure clock-skew policy: from the `Date` header of an answer, whether the correction of new timestamps
// starts, changes or stops, and what to tell the user.

#include <QtCore/QByteArray>
#include <QtCore/QDateTime>
#include <QtCore/QString>

#include <optional>

namespace LokiClockSkew {

/** A change of the correction in force. */
struct Change
{
    qint64 offsetMs = 0; ///< the new offset to add to the device's clock (0: no correction any more)
    QString message;     ///< what to report (a LokiError::Kind::Limit)
};

/**
 * An RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the only form servers may send), as UTC;
 * invalid when @p value is not one.
 */
QDateTime parseHttpDate(const QByteArray &value);

/**
 * What an answer's `Date` header @p date says about the device's clock, read at @p nowUtc while
 * @p currentOffsetMs is in force. Date has a resolution of one second and arrives late by the answer's
 * transit, so only a difference beyond @p thresholdMs counts, both to start correcting and to change (or end)
 * a correction: the offset measured when it is beyond the threshold, else 0 (back in agreement). No change
 * (nullopt) when the difference is within the threshold, when the header is absent or unreadable, or when
 * @p thresholdMs is 0 or less (correction off).
 */
std::optional<Change> learn(const QByteArray &date, const QDateTime &nowUtc, qint64 currentOffsetMs,
                            qint64 thresholdMs);

} // namespace LokiClockSkew

#endif // LOKIQT_CLOCKSKEW_P_H
