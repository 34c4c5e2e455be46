// SPDX-License-Identifier: MIT
#include "render_p.h"

#include <QtCore/QStringDecoder>
#include <QtCore/QVariant>

#include <algorithm>
#include <cstring>

namespace LokiRender {

namespace {
bool isLabelStart(QChar c)
{
    const char16_t u = c.unicode();
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_';
}
bool isLabelChar(QChar c)
{
    const char16_t u = c.unicode();
    return isLabelStart(c) || (u >= '0' && u <= '9');
}

void flattenInto(FieldList &out, const QString &prefix, const QVariantMap &map)
{
    for (auto it = map.cbegin(); it != map.cend(); ++it) {
        const QString key = prefix.isEmpty() ? it.key() : prefix + QLatin1Char('.') + it.key();
        if (it.value().typeId() == QMetaType::QVariantMap)
            flattenInto(out, key, it.value().toMap());
        else
            out.append({key, valueToString(it.value())});
    }
}

void appendQuoted(QString &out, const QString &value)
{
    out += QLatin1Char('"');
    for (const QChar c : value) {
        const char16_t u = c.unicode();
        if ((u < 0x20 && u != '\n' && u != '\r' && u != '\t') || u == 0x7f) {
            // Other controls as Go writes them, so that logfmt parsers (and eyes) read them back.
            out += QStringLiteral("\\u%1").arg(int(u), 4, 16, QLatin1Char('0'));
            continue;
        }
        switch (u) {
        case '"':
            out += QLatin1String("\\\"");
            break;
        case '\\':
            out += QLatin1String("\\\\");
            break;
        case '\n':
            out += QLatin1String("\\n");
            break;
        case '\r':
            out += QLatin1String("\\r");
            break;
        case '\t':
            out += QLatin1String("\\t");
            break;
        default:
            out += c;
        }
    }
    out += QLatin1Char('"');
}
} // namespace

bool isValidLabelName(const QString &name)
{
    if (name.isEmpty() || !isLabelStart(name.front()) || name.startsWith(QLatin1String("__")))
        return false;
    for (const QChar c : name) {
        if (!isLabelChar(c))
            return false;
    }
    return true;
}

QString sanitizeLabelName(const QString &name)
{
    if (name.isEmpty())
        return name;
    QString out;
    out.reserve(name.size() + 1);
    if (!isLabelStart(name.front()) && isLabelChar(name.front()))
        out += QLatin1Char('_'); // a leading digit
    for (const QChar c : name)
        out += isLabelChar(c) ? c : QLatin1Char('_');
    while (out.startsWith(QLatin1String("__")))
        out.remove(0, 1);
    return out;
}

QString valueToString(const QVariant &value)
{
    if (!value.isValid() || value.isNull())
        return QString();
    switch (value.typeId()) {
    case QMetaType::Bool:
        return value.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    case QMetaType::QVariantList:
    case QMetaType::QStringList: {
        QStringList parts;
        const QVariantList list = value.toList();
        for (const QVariant &v : list)
            parts += valueToString(v);
        return QLatin1Char('[') + parts.join(QLatin1Char(',')) + QLatin1Char(']');
    }
    case QMetaType::QVariantMap: {
        QStringList parts;
        const FieldList fields = flattenFields(value.toMap());
        for (const Field &f : fields)
            parts += f.first + QLatin1Char('=') + f.second;
        return QLatin1Char('{') + parts.join(QLatin1Char(',')) + QLatin1Char('}');
    }
    case QMetaType::QByteArray:
        return QString::fromUtf8(value.toByteArray());
    default:
        return value.toString();
    }
}

FieldList flattenFields(const QVariantMap &fields)
{
    FieldList out;
    flattenInto(out, QString(), fields);
    return out;
}

bool needsQuoting(const QString &value)
{
    if (value.isEmpty())
        return true;
    for (const QChar c : value) {
        const char16_t u = c.unicode();
        if (u <= ' ' || u == '"' || u == '=' || u == '\\' || u == 0x7f)
            return true;
    }
    return false;
}

QString renderLine(const QString &message, const FieldList &fields)
{
    if (fields.isEmpty())
        return message;
    QString out = message;
    for (const Field &f : fields) {
        if (!out.isEmpty())
            out += QLatin1Char(' ');
        out += f.first;
        out += QLatin1Char('=');
        if (needsQuoting(f.second))
            appendQuoted(out, f.second);
        else
            out += f.second;
    }
    return out;
}

QString logfmtKey(const QString &name)
{
    if (name.isEmpty())
        return QStringLiteral("_");
    QString key = name;
    for (QChar &c : key) {
        const char16_t u = c.unicode();
        if (u <= ' ' || u == '=' || u == '"' || u == 0x7f)
            c = QLatin1Char('_');
    }
    return key;
}

namespace {
void appendLogfmtPair(QString &out, const QString &key, const QString &value)
{
    if (!out.isEmpty())
        out += QLatin1Char(' ');
    out += key;
    out += QLatin1Char('=');
    if (needsQuoting(value))
        appendQuoted(out, value);
    else
        out += value;
}

void appendJsonPair(QByteArray &out, const QString &key, const QString &value)
{
    out += out.size() > 1 ? ",\"" : "\"";
    appendJsonEscaped(out, key.toUtf8());
    out += "\":\"";
    appendJsonEscaped(out, value.toUtf8());
    out += '"';
}

// The fields without the one that supplies the level, with names that would collide with msg or level
// renamed.
FieldList otherFields(const FieldList &fields, bool levelFromField)
{
    FieldList out;
    out.reserve(fields.size());
    bool levelTaken = false;
    for (const Field &f : fields) {
        if (levelFromField && !levelTaken && f.first == QLatin1String("level")) {
            levelTaken = true;
            continue;
        }
        if (f.first == QLatin1String("msg") || f.first == QLatin1String("level"))
            out.append({QLatin1Char('_') + f.first, f.second});
        else
            out.append(f);
    }
    return out;
}
} // namespace

QString renderLine(LokiConfig::LineFormat format, const QString &level, const QString &message,
                   const FieldList &fields)
{
    if (format == LokiConfig::LineFormat::Plain) {
        if (level.isEmpty())
            return renderLine(message, fields);
        FieldList withLevel{{QStringLiteral("level"), level}};
        withLevel.append(fields);
        return renderLine(message, withLevel);
    }
    QString theLevel = level;
    bool levelFromField = false;
    if (theLevel.isEmpty()) {
        for (const Field &f : fields) {
            if (f.first == QLatin1String("level")) {
                theLevel = f.second;
                levelFromField = true;
                break;
            }
        }
    }
    const FieldList rest = otherFields(fields, levelFromField);
    if (format == LokiConfig::LineFormat::Logfmt) {
        QString out;
        if (!theLevel.isEmpty() || levelFromField)
            appendLogfmtPair(out, QStringLiteral("level"), theLevel);
        appendLogfmtPair(out, QStringLiteral("msg"), message);
        for (const Field &f : rest)
            appendLogfmtPair(out, logfmtKey(f.first), f.second);
        return out;
    }
    QByteArray out("{");
    if (!theLevel.isEmpty() || levelFromField)
        appendJsonPair(out, QStringLiteral("level"), theLevel);
    appendJsonPair(out, QStringLiteral("msg"), message);
    for (const Field &f : rest)
        appendJsonPair(out, f.first, f.second);
    out += '}';
    return QString::fromUtf8(out);
}

LabelMap composeLabels(const LabelMap &staticLabels, const LabelMap &entryLabels, const FieldList &fields,
                       const QStringList &allowList, const QStringList &denyList)
{
    LabelMap labels = staticLabels;
    for (auto it = entryLabels.cbegin(); it != entryLabels.cend(); ++it)
        labels.insert(it.key(), it.value());
    if (!allowList.isEmpty()) {
        for (const Field &f : fields) {
            if (allowList.contains(f.first) && !denyList.contains(f.first)) {
                const QString name = sanitizeLabelName(f.first);
                // An empty value is a field without a value, not a wish to remove a label of that name.
                if (!name.isEmpty() && !denyList.contains(name) && !f.second.isEmpty())
                    labels.insert(name, f.second);
            }
        }
    }
    for (auto it = labels.begin(); it != labels.end();) {
        if (it.value().isEmpty())
            it = labels.erase(it);
        else
            ++it;
    }
    return labels;
}

void appendJsonEscaped(QByteArray &out, const char *utf8, qsizetype size)
{
    static const char hex[] = "0123456789abcdef";
    qsizetype runStart = 0;
    for (qsizetype i = 0; i < size; ++i) {
        const unsigned char c = static_cast<unsigned char>(utf8[i]);
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out.append(utf8 + runStart, i - runStart);
        runStart = i + 1;
        switch (c) {
        case '"':
            out.append("\\\"", 2);
            break;
        case '\\':
            out.append("\\\\", 2);
            break;
        case '\n':
            out.append("\\n", 2);
            break;
        case '\r':
            out.append("\\r", 2);
            break;
        case '\t':
            out.append("\\t", 2);
            break;
        default: {
            const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            out.append(esc, 6);
        }
        }
    }
    out.append(utf8 + runStart, size - runStart);
}

void appendGoEscaped(QByteArray &out, const QByteArray &utf8)
{
    for (const char ch : utf8) {
        switch (ch) {
        case '"':
            out.append("\\\"", 2);
            break;
        case '\\':
            out.append("\\\\", 2);
            break;
        case '\n':
            out.append("\\n", 2);
            break;
        default:
            out.append(ch);
        }
    }
}

QByteArray streamKey(const LabelMap &labels)
{
    QByteArray out("{");
    bool first = true;
    for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
        if (!first)
            out.append(", ", 2);
        first = false;
        out.append(it.key().toUtf8());
        out.append("=\"", 2);
        appendGoEscaped(out, it.value().toUtf8());
        out.append('"');
    }
    out.append('}');
    return out;
}

QByteArray jsonLabels(const LabelMap &labels)
{
    QByteArray out("{");
    bool first = true;
    for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
        if (!first)
            out.append(',');
        first = false;
        out.append('"');
        appendJsonEscaped(out, it.key().toUtf8());
        out.append("\":\"", 3);
        appendJsonEscaped(out, it.value().toUtf8());
        out.append('"');
    }
    out.append('}');
    return out;
}

QByteArray toUtf8Exact(const QString &text)
{
    const ushort *p = text.utf16();
    const ushort *end = p + text.size();
    ushort any = 0;
    for (; p < end; ++p)
        any |= *p;
    if (any < 0x80)
        return text.toLatin1(); // exact size, and the same bytes as UTF-8 for ASCII
    QByteArray utf8 = text.toUtf8();
    utf8.squeeze();
    return utf8;
}

bool isValidUtf8(const QByteArray &utf8)
{
    const auto *p = reinterpret_cast<const unsigned char *>(utf8.constData());
    const auto *end = p + utf8.size();
    // ASCII runs, the common case, a word at a time.
    while (p < end) {
        while (end - p >= 8) {
            quint64 word;
            memcpy(&word, p, 8);
            if (word & 0x8080808080808080ULL)
                break;
            p += 8;
        }
        if (p == end)
            break;
        if (*p < 0x80) {
            ++p;
            continue;
        }
        // A multi-byte character: let Qt's decoder judge the rest (it knows every rule of RFC 3629).
        QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
        const QString decoded = decoder(QByteArrayView(reinterpret_cast<const char *>(p), end - p));
        Q_UNUSED(decoded);
        return !decoder.hasError();
    }
    return true;
}

QByteArray truncateLine(const QByteArray &line, qint64 maxBytes)
{
    if (line.size() <= maxBytes)
        return line;
    const QByteArray marker = " [lokiqt: " + QByteArray::number(line.size()) + " bytes, cut]";
    qsizetype keep = qsizetype(std::max<qint64>(0, maxBytes - marker.size()));
    while (keep > 0 && (static_cast<unsigned char>(line.at(keep)) & 0xc0) == 0x80)
        --keep; // never split a character: back up to the first byte of the one at the cut
    return line.left(keep) + marker.left(qsizetype(maxBytes));
}

} // namespace LokiRender
