// SPDX-License-Identifier: MIT
#ifndef LOKIQT_RENDER_P_H
#define LOKIQT_RENDER_P_H

// Pure rendering policy: label rules, field flattening, line rendering, stream keys and JSON escaping.
// Everything here is a function of its arguments, so tests drive it with _data() tables.

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QPair>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QVariantMap>

#include <lokiqt/lokiconfig.h>

namespace LokiRender {

using Field = QPair<QString, QString>;
using FieldList = QList<Field>;
using LabelMap = QMap<QString, QString>;

/** Loki's label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`, and not reserved (`__` prefix). */
bool isValidLabelName(const QString &name);
/** Turns any field name into a valid label name: invalid characters become `_` (`http.method` →
 * `http_method`), a leading digit gets a `_` prefix, a reserved `__` prefix is reduced to one `_`. Empty
 * stays empty. */
QString sanitizeLabelName(const QString &name);

/** Flattens nested maps with dots (`request.id`), in key order. Values become strings (see valueToString). */
FieldList flattenFields(const QVariantMap &fields);
/** A field value as text: bool as true/false, lists as `[a,b]`, maps as flattened `{k=v}`, null as empty. */
QString valueToString(const QVariant &value);

/** Whether a value must be quoted in `key=value` form (empty, or contains space, `"`, `=`, `\` or controls).
 */
bool needsQuoting(const QString &value);
/** Appends ` key=value` pairs to @p message, quoting and escaping values as needed. */
QString renderLine(const QString &message, const FieldList &fields);

/**
 * The line of an entry in @p format (see LokiConfig::LineFormat). @p level, when not empty, is the level the
 * message handler knows; otherwise a field named `level` takes its place in Logfmt and Json. Plain is
 * renderLine(message, fields) (plus `level=` first among the fields when @p level is given).
 */
QString renderLine(LokiConfig::LineFormat format, const QString &level, const QString &message,
                   const FieldList &fields);
/** A logfmt key for any field name: characters a logfmt key cannot hold (space, `=`, `"`, controls) become
 *  `_`; empty becomes `_`. */
QString logfmtKey(const QString &name);

/** The label set of an entry: static labels, the entry's own, then allow-listed fields (deny list wins;
 *  a field with an empty value adds nothing). Labels with empty values are left out, as Loki does (so an
 *  entry label set to "" removes a static one). */
LabelMap composeLabels(const LabelMap &staticLabels, const LabelMap &entryLabels, const FieldList &fields,
                       const QStringList &allowList, const QStringList &denyList);

/** The label set in Prometheus text form, as Loki prints and parses it: `{a="x", b="y"}`. */
QByteArray streamKey(const LabelMap &labels);
/** The label set as a JSON object: `{"a":"x","b":"y"}`. */
QByteArray jsonLabels(const LabelMap &labels);

/** Appends @p utf8 to @p out as the inside of a JSON string (quotes, backslashes and controls escaped). */
void appendJsonEscaped(QByteArray &out, const char *utf8, qsizetype size);
inline void appendJsonEscaped(QByteArray &out, const QByteArray &utf8)
{
    appendJsonEscaped(out, utf8.constData(), utf8.size());
}
/** Appends @p value escaped as a Go string literal's content (what Prometheus label text uses). */
void appendGoEscaped(QByteArray &out, const QByteArray &utf8);

/**
 * @p text as UTF-8 in a buffer of its exact size. QString::toUtf8() reserves three bytes per character and
 * keeps that capacity, which would triple the memory of every queued line; ASCII text (the common case) is
 * copied as Latin-1, the rest converted and shrunk.
 */
QByteArray toUtf8Exact(const QString &text);

/** Whether @p utf8 is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF). */
bool isValidUtf8(const QByteArray &utf8);

/**
 * Cuts @p line to at most @p maxBytes bytes, on a UTF-8 character boundary, ending in a visible marker that
 * gives the size of the whole line: `... [lokiqt: 12345 bytes, cut]`.
 */
QByteArray truncateLine(const QByteArray &line, qint64 maxBytes);

} // namespace LokiRender

#endif // LOKIQT_RENDER_P_H
