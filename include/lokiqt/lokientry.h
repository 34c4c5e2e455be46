// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKIENTRY_H
#define LOKIQT_LOKIENTRY_H

#include <lokiqt/lokiqt_export.h>

#include <QtCore/QMap>
#include <QtCore/QString>
#include <QtCore/QVariantMap>

/**
 * One log entry: a line, an optional timestamp, extra labels and structured fields.
 *
 * @code
 * LokiEntry entry(QStringLiteral("order placed"));
 * entry.fields = {{"order_id", 4711}, {"http", QVariantMap{{"method", "POST"}}}};
 * client.send(entry);   // line: order placed http.method=POST order_id=4711
 * @endcode
 *
 * Fields render into the line as `key=value` pairs (nested maps flatten with dots: `request.id`); a field
 * becomes a label only when LokiConfig::labelAllowList names it. Labels set here are added to the client's
 * static labels; keep them bounded: every distinct label set is a stream in Loki.
 *
 * Thread safety: a value type; copies may be used from any thread.
 */
struct LOKIQT_EXPORT LokiEntry
{
    /** An empty entry; set its members. */
    LokiEntry() = default;
    /** An entry with message @p line, stamped "now" when sent. */
    explicit LokiEntry(const QString &line)
        : line(line)
    {}
    /** An entry with message @p line and @p fields (rendered into the line, see the class comment). */
    LokiEntry(const QString &line, const QVariantMap &fields)
        : line(line)
        , fields(fields)
    {}

    /** Unix epoch nanoseconds; 0 means "now" (the client then keeps timestamps strictly increasing). */
    qint64 timestampNs = 0;
    /** The message. */
    QString line;
    /** Labels added to the client's static labels for this entry. Names must follow Loki's label rules. */
    QMap<QString, QString> labels;
    /** Structured fields, rendered into the line; allow-listed ones become labels. */
    QVariantMap fields;
};

#endif // LOKIQT_LOKIENTRY_H
