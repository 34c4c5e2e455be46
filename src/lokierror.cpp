// SPDX-License-Identifier: MIT
#include <lokiqt/lokierror.h>

QString LokiError::toString() const
{
    QString what;
    switch (m_kind) {
    case Kind::NoError:
        return QStringLiteral("no error");
    case Kind::Network:
        what = QStringLiteral("network error: %1").arg(m_message);
        break;
    case Kind::Http:
        what = QStringLiteral("HTTP %1 from Loki: %2").arg(m_httpStatus).arg(m_message.trimmed());
        break;
    case Kind::InvalidEntry:
        what = QStringLiteral("invalid entry: %1").arg(m_message);
        break;
    case Kind::Dropped:
        what = QStringLiteral("dropped: %1").arg(m_message);
        break;
    case Kind::Limit:
        what = QStringLiteral("limit: %1").arg(m_message);
        break;
    case Kind::Spool:
        what = QStringLiteral("spool: %1").arg(m_message);
        break;
    }
    if (m_entries > 0)
        what += QStringLiteral(" (%1 %2").arg(m_entries).arg(m_entries == 1 ? QStringLiteral("entry")
                                                                            : QStringLiteral("entries"));
    else
        what += QStringLiteral(" (");
    if (m_attempt > 0)
        what += QStringLiteral("%1attempt %2, %3)")
                    .arg(m_entries > 0 ? QStringLiteral(", ") : QString())
                    .arg(m_attempt)
                    .arg(m_willRetry ? QStringLiteral("will retry") : QStringLiteral("not retried"));
    else
        what += QStringLiteral(")");
    if (what.endsWith(QLatin1String(" ()")))
        what.chop(3);
    return what;
}
