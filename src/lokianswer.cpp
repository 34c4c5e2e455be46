// SPDX-License-Identifier: MIT
#include "lokianswer_p.h"

#include <QtCore/QRegularExpression>
#include <QtCore/QString>
#include <QtCore/QStringList>

namespace LokiAnswer {
namespace {

// Loki 2.9's reasons that refuse one entry (pkg/validation/validate.go), each read whole: a reason cut short
// or with text around it does not match.
bool isOneEntryReason(const QString &reason)
{
    static const QRegularExpression reasons(QStringLiteral(
        "^(?:"
        "entry for stream '.*' has timestamp too old: \\S+, oldest acceptable timestamp is: \\S+"
        "|entry for stream '.*' has timestamp too new: \\S+"
        "|Max entry size '\\d+' bytes exceeded for stream '.*' while adding an entry with "
        "length '\\d+' bytes"
        "|stream '.*' includes structured metadata, but this feature is disallowed\\. .*"
        "|stream '.*' has structured metadata too large: .*"
        "|stream '.*' has too many structured metadata labels: .*"
        ")$"));
    return reasons.match(reason).hasMatch();
}

} // namespace

int refusedEntries(const QByteArray &body, int batchEntries)
{
    if (batchEntries < 1)
        return -1;
    const QString text = QString::fromUtf8(body).trimmed();
    if (text.isEmpty() || text.contains(QLatin1Char('\n'))) {
        // The ingester's form, several lines: "entry with timestamp ... ignored, reason: ...,\n" per entry,
        // then "user '...', total ignored: N out of M for stream: {...}".
        static const QRegularExpression ingester(QStringLiteral(
            "(?:^|\\n)user '[^\\n]*', total ignored: (\\d{1,9}) out of (\\d{1,9}) for stream: [^\\n]*$"));
        const QRegularExpressionMatch m = ingester.match(text);
        if (!m.hasMatch())
            return -1;
        const int refused = m.captured(1).toInt();
        const int of = m.captured(2).toInt();
        return of == batchEntries && refused >= 1 && refused <= batchEntries ? refused : -1;
    }
    static const QRegularExpression groupStart(QStringLiteral("^(\\d{1,9}) errors like: "));
    static const QRegularExpression separator(QStringLiteral("; (?=\\d{1,9} errors like: )"));
    const QStringList groups = text.split(separator);
    if (groups.size() == 1 && !groupStart.match(text).hasMatch())
        return isOneEntryReason(text) ? 1 : -1;
    qint64 refused = 0;
    for (const QString &group : groups) {
        const QRegularExpressionMatch m = groupStart.match(group);
        if (!m.hasMatch() || !isOneEntryReason(group.mid(m.capturedLength())))
            return -1;
        refused += m.captured(1).toLongLong();
    }
    return refused >= 1 && refused <= batchEntries ? int(refused) : -1;
}

} // namespace LokiAnswer
