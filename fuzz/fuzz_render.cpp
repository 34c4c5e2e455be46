// SPDX-License-Identifier: MIT
// Fuzzes the rendering policy (src/render_p.h) with what a caller of LokiClient controls: raw UTF-8 lines,
// messages, field and label names and values. The checks are the contracts render_p.h states, and that
// whatever the escapers write reads back as what went in (Loki parses it on the other side).
#include "fuzzsupport.h"
#include "render_p.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QVariant>

#include <optional>

using LokiRender::Field;
using LokiRender::FieldList;
using LokiRender::LabelMap;

namespace {

// --- references, written from the documented rules, not from render.cpp ------------------------------

bool isAsciiLetter(char16_t u)
{
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
}

/** `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`. */
bool isLabelName(const QString &name)
{
    if (name.isEmpty() || name.startsWith(QLatin1String("__")))
        return false;
    for (qsizetype i = 0; i < name.size(); ++i) {
        const char16_t u = name[i].unicode();
        if (!isAsciiLetter(u) && u != '_' && (i == 0 || u < '0' || u > '9'))
            return false;
    }
    return true;
}

int hexDigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/** The bytes that the inside of a JSON string stands for (RFC 8259); nullopt when it is not one. */
std::optional<QByteArray> readJsonString(const QByteArray &text)
{
    QByteArray out;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (uchar(c) < 0x20 || c == '"')
            return std::nullopt; // must be escaped
        if (c != '\\') {
            out += c;
            continue;
        }
        if (++i == text.size())
            return std::nullopt;
        switch (text[i]) {
        case '"':
        case '\\':
        case '/':
            out += text[i];
            break;
        case 'b':
            out += '\b';
            break;
        case 'f':
            out += '\f';
            break;
        case 'n':
            out += '\n';
            break;
        case 'r':
            out += '\r';
            break;
        case 't':
            out += '\t';
            break;
        case 'u': {
            if (text.size() - i <= 4)
                return std::nullopt;
            char16_t unit = 0;
            for (int k = 1; k <= 4; ++k) {
                const int digit = hexDigit(text[i + k]);
                if (digit < 0)
                    return std::nullopt;
                unit = char16_t(unit << 4 | digit);
            }
            i += 4;
            if (QChar::isSurrogate(unit))
                return std::nullopt; // a pair would need two escapes; lokiqt only escapes controls
            out += QString(QChar(unit)).toUtf8();
            break;
        }
        default:
            return std::nullopt;
        }
    }
    return out;
}

/**
 * The bytes that the inside of a Go string literal stands for, as Loki reads label values: a raw newline or
 * quote ends the literal, so neither may appear unescaped. nullopt when it is not one.
 */
std::optional<QByteArray> readGoString(const QByteArray &text)
{
    QByteArray out;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n' || c == '"')
            return std::nullopt;
        if (c != '\\') {
            out += c;
            continue;
        }
        if (++i == text.size())
            return std::nullopt;
        switch (text[i]) {
        case '"':
        case '\\':
        case '\'':
            out += text[i];
            break;
        case 'a':
            out += '\a';
            break;
        case 'b':
            out += '\b';
            break;
        case 'f':
            out += '\f';
            break;
        case 'n':
            out += '\n';
            break;
        case 'r':
            out += '\r';
            break;
        case 't':
            out += '\t';
            break;
        case 'v':
            out += '\v';
            break;
        default:
            return std::nullopt; // \x, \u and octal: lokiqt writes none
        }
    }
    return out;
}

// --- checks ----------------------------------------------------------------------------------------------

void checkRawLine(const QByteArray &line, qint64 maxBytes)
{
    const bool valid = LokiRender::isValidUtf8(line);
    FUZZ_CHECK(valid == LokiFuzz::isValidUtf8(line));
    // fromUtf8 turns each malformed sequence into U+FFFD, so only valid UTF-8 comes back unchanged. The 'x'
    // in front keeps a leading byte order mark, which fromUtf8 drops.
    const QByteArray prefixed = 'x' + line;
    FUZZ_CHECK(valid == (QString::fromUtf8(prefixed).toUtf8() == prefixed));

    QByteArray json("[\"");
    LokiRender::appendJsonEscaped(json, line);
    FUZZ_CHECK(json.startsWith("[\"")); // appends, never touches what was there
    FUZZ_CHECK(readJsonString(json.mid(2)) == line);
    if (valid) { // Qt's reader refuses malformed UTF-8, and lokiqt sends no such line
        json += "\"]";
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
        FUZZ_CHECK(error.error == QJsonParseError::NoError);
        const QByteArray read = doc.array().at(0).toString().toUtf8();
        FUZZ_CHECK(LokiFuzz::withoutLeadingBoms(read) == LokiFuzz::withoutLeadingBoms(line));
    }

    QByteArray go("x");
    LokiRender::appendGoEscaped(go, line);
    FUZZ_CHECK(go.startsWith('x'));
    FUZZ_CHECK(readGoString(go.mid(1)) == line);

    const QByteArray cut = LokiRender::truncateLine(line, maxBytes);
    if (line.size() <= maxBytes) {
        FUZZ_CHECK(cut == line);
        return;
    }
    FUZZ_CHECK(cut.size() <= maxBytes);
    if (valid)
        FUZZ_CHECK(LokiFuzz::isValidUtf8(cut)); // cut on a character boundary
    // The marker as the README and tst_render state it: N is the size of the whole line.
    const QByteArray marker = " [lokiqt: " + QByteArray::number(line.size()) + " bytes, cut]";
    if (maxBytes < marker.size())
        return; // no room for the whole marker (LokiConfig refuses a maxLineBytes below 64)
    FUZZ_CHECK(cut.endsWith(marker));
    const QByteArray kept = cut.chopped(marker.size());
    FUZZ_CHECK(line.startsWith(kept));
    if (valid) // only the bytes of the one character at the cut are given up
        FUZZ_CHECK(kept.size() >= maxBytes - marker.size() - 3);
}

void checkUtf8Exact(const QString &text)
{
    const QByteArray utf8 = LokiRender::toUtf8Exact(text);
    FUZZ_CHECK(utf8 == text.toUtf8());
    FUZZ_CHECK(LokiFuzz::isValidUtf8(utf8)); // a lone surrogate is written as a replacement
    FUZZ_CHECK(utf8.capacity() == utf8.size());
}

void checkLabelName(const QString &name)
{
    const bool valid = LokiRender::isValidLabelName(name);
    FUZZ_CHECK(valid == isLabelName(name));
    const QString clean = LokiRender::sanitizeLabelName(name);
    // "Turns any field name into a valid label name"; empty stays empty.
    FUZZ_CHECK(name.isEmpty() ? clean.isEmpty() : isLabelName(clean));
    if (valid)
        FUZZ_CHECK(clean == name); // nothing to turn
}

/** Reads the rendered line back, knowing the message and the field names. */
void checkRenderLine(const QString &message, const FieldList &fields)
{
    const QString line = LokiRender::renderLine(message, fields);
    FUZZ_CHECK(line.startsWith(message));
    checkUtf8Exact(line);
    qsizetype pos = message.size();
    for (const Field &f : fields) {
        if (pos > 0) {
            FUZZ_CHECK(pos < line.size() && line[pos] == QLatin1Char(' '));
            ++pos;
        }
        FUZZ_CHECK(QStringView(line).mid(pos).startsWith(f.first));
        pos += f.first.size();
        FUZZ_CHECK(pos < line.size() && line[pos] == QLatin1Char('='));
        ++pos;
        if (!LokiRender::needsQuoting(f.second)) {
            // Bare: must end at the next space and hold nothing a logfmt reader would stop at.
            FUZZ_CHECK(!f.second.isEmpty());
            for (const QChar c : f.second) {
                const char16_t u = c.unicode();
                FUZZ_CHECK(u > ' ' && u != '"' && u != '=' && u != '\\' && u != 0x7f);
            }
            FUZZ_CHECK(QStringView(line).mid(pos).startsWith(f.second));
            pos += f.second.size();
            continue;
        }
        FUZZ_CHECK(pos < line.size() && line[pos] == QLatin1Char('"'));
        ++pos;
        QString value;
        for (;;) {
            FUZZ_CHECK(pos < line.size()); // the closing quote
            const QChar c = line[pos++];
            if (c == QLatin1Char('"'))
                break;
            if (c != QLatin1Char('\\')) {
                value += c;
                continue;
            }
            FUZZ_CHECK(pos < line.size());
            switch (line[pos++].unicode()) {
            case '"':
                value += QLatin1Char('"');
                break;
            case '\\':
                value += QLatin1Char('\\');
                break;
            case 'n':
                value += QLatin1Char('\n');
                break;
            case 'r':
                value += QLatin1Char('\r');
                break;
            case 't':
                value += QLatin1Char('\t');
                break;
            case 'u': {
                // Other control characters, as Go writes them: exactly four hex digits, and only for a
                // control.
                FUZZ_CHECK(pos + 4 <= line.size());
                bool ok = false;
                const int code = QStringView(line).mid(pos, 4).toString().toInt(&ok, 16);
                FUZZ_CHECK(ok && (code < 0x20 || code == 0x7f) && code != '\n' && code != '\r' &&
                           code != '\t');
                value += QChar(char16_t(code));
                pos += 4;
                break;
            }
            default:
                LokiFuzz::fail("an escape renderLine does not write", __FILE__, __LINE__);
            }
        }
        FUZZ_CHECK(value == f.second);
    }
    FUZZ_CHECK(pos == line.size());
}

/** The label set reads back from both of its wire forms. */
void checkLabelSet(const LabelMap &labels)
{
    // Prometheus text form: names are not escaped, so only a set of valid names reads back unambiguously.
    const QByteArray key = LokiRender::streamKey(labels);
    bool validNames = true;
    for (auto it = labels.cbegin(); it != labels.cend(); ++it)
        validNames = validNames && isLabelName(it.key());
    if (validNames) {
        FUZZ_CHECK(key.startsWith('{') && key.endsWith('}'));
        qsizetype pos = 1;
        for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
            if (it != labels.cbegin()) {
                FUZZ_CHECK(key.mid(pos, 2) == ", ");
                pos += 2;
            }
            const QByteArray name = it.key().toUtf8() + "=\"";
            FUZZ_CHECK(key.mid(pos, name.size()) == name);
            pos += name.size();
            qsizetype end = pos; // the first quote that is not escaped
            while (end < key.size() && key[end] != '"')
                end += key[end] == '\\' ? 2 : 1;
            FUZZ_CHECK(end < key.size());
            FUZZ_CHECK(readGoString(key.mid(pos, end - pos)) == it.value().toUtf8());
            pos = end + 1;
        }
        FUZZ_CHECK(pos == key.size() - 1);
    }

    // JSON form, through Qt's reader. Compared as UTF-8, as Qt reads it: a lone surrogate becomes '?' and a
    // leading U+FEFF is dropped, so two names can meet.
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(LokiRender::jsonLabels(labels), &error);
    FUZZ_CHECK(error.error == QJsonParseError::NoError && doc.isObject());
    QMap<QByteArray, QByteArray> expected;
    for (auto it = labels.cbegin(); it != labels.cend(); ++it)
        expected.insert(LokiFuzz::withoutLeadingBoms(it.key().toUtf8()),
                        LokiFuzz::withoutLeadingBoms(it.value().toUtf8()));
    QMap<QByteArray, QByteArray> parsed;
    const QJsonObject object = doc.object();
    for (auto it = object.constBegin(); it != object.constEnd(); ++it) {
        FUZZ_CHECK(it.value().isString());
        parsed.insert(LokiFuzz::withoutLeadingBoms(it.key().toUtf8()),
                      LokiFuzz::withoutLeadingBoms(it.value().toString().toUtf8()));
    }
    if (expected.size() == labels.size())
        FUZZ_CHECK(parsed == expected);
}

/** composeLabels against its documented rule: static labels, then the entry's, then promoted fields. */
void checkComposeLabels(const LabelMap &staticLabels, const LabelMap &entryLabels, const FieldList &fields,
                        const QStringList &allowList, const QStringList &denyList)
{
    const LabelMap labels = LokiRender::composeLabels(staticLabels, entryLabels, fields, allowList, denyList);
    // A field is promoted when allow-listed, neither its name nor its label name is denied, and its value is
    // not empty (an empty field adds nothing, so it never removes a label); later ones win.
    LabelMap promoted;
    for (const Field &f : fields) {
        const QString name = LokiRender::sanitizeLabelName(f.first);
        if (allowList.contains(f.first) && !denyList.contains(f.first) && !name.isEmpty() &&
            !denyList.contains(name) && !f.second.isEmpty())
            promoted.insert(name, f.second);
    }
    qsizetype expectedSize = 0;
    auto expect = [&](const QString &name, const QString &value) {
        FUZZ_CHECK(labels.contains(name) == !value.isEmpty()); // empty values are left out
        FUZZ_CHECK(labels.value(name) == value);
        expectedSize += value.isEmpty() ? 0 : 1;
    };
    for (auto it = promoted.cbegin(); it != promoted.cend(); ++it)
        expect(it.key(), it.value());
    for (auto it = entryLabels.cbegin(); it != entryLabels.cend(); ++it) {
        if (!promoted.contains(it.key()))
            expect(it.key(), it.value());
    }
    for (auto it = staticLabels.cbegin(); it != staticLabels.cend(); ++it) {
        if (!promoted.contains(it.key()) && !entryLabels.contains(it.key()))
            expect(it.key(), it.value());
    }
    FUZZ_CHECK(labels.size() == expectedSize);
    checkLabelSet(labels);
}

// --- inputs
// -------------------------------------------------------------------------------------------------

QVariantMap consumeVariantMap(FuzzedDataProvider &fdp, int depth);

QVariant consumeVariant(FuzzedDataProvider &fdp, int depth)
{
    switch (fdp.ConsumeIntegralInRange(0, depth < 3 ? 7 : 5)) { // nesting stops at depth 3
    case 0:
        return QVariant();
    case 1:
        return fdp.ConsumeBool();
    case 2:
        return fdp.ConsumeIntegral<qint64>();
    case 3:
        return fdp.ConsumeFloatingPoint<double>();
    case 4:
        return LokiFuzz::consumeBytes(fdp, 24);
    case 5:
        return LokiFuzz::consumeString(fdp, 24);
    case 6: {
        QVariantList list;
        for (int n = fdp.ConsumeIntegralInRange(0, 3); n > 0; --n)
            list.append(consumeVariant(fdp, depth + 1));
        return list;
    }
    default:
        return consumeVariantMap(fdp, depth + 1);
    }
}

QVariantMap consumeVariantMap(FuzzedDataProvider &fdp, int depth)
{
    QVariantMap map;
    for (int n = fdp.ConsumeIntegralInRange(0, 3); n > 0; --n)
        map.insert(LokiFuzz::consumeString(fdp, 12), consumeVariant(fdp, depth));
    return map;
}

qsizetype leafCount(const QVariantMap &map)
{
    qsizetype count = 0;
    for (const QVariant &value : map)
        count += value.typeId() == QMetaType::QVariantMap ? leafCount(value.toMap()) : 1;
    return count;
}

/** Mostly valid names (what LokiClient accepts), sometimes anything. */
QString consumeLabelName(FuzzedDataProvider &fdp)
{
    const QString name = LokiFuzz::consumeString(fdp, 16);
    return fdp.ConsumeIntegralInRange(0, 3) == 0 ? name : LokiRender::sanitizeLabelName(name);
}

LabelMap consumeLabels(FuzzedDataProvider &fdp)
{
    LabelMap labels;
    for (int n = fdp.ConsumeIntegralInRange(0, 3); n > 0; --n)
        labels.insert(consumeLabelName(fdp), LokiFuzz::consumeString(fdp, 24));
    return labels;
}

/** Names for an allow or deny list: mostly those of the fields, as given or as label names. */
QStringList consumeNameList(FuzzedDataProvider &fdp, const FieldList &fields)
{
    QStringList names;
    for (int n = fdp.ConsumeIntegralInRange(0, 4); n > 0; --n) {
        const int pick = fdp.ConsumeIntegralInRange(0, 2);
        if (fields.isEmpty() || pick == 0) {
            names.append(LokiFuzz::consumeString(fdp, 16));
            continue;
        }
        const QString &name = fields[fdp.ConsumeIntegralInRange<qsizetype>(0, fields.size() - 1)].first;
        names.append(pick == 1 ? name : LokiRender::sanitizeLabelName(name));
    }
    return names;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    // The whole input as one raw line; not copied, so reading past its end is an ASan report.
    const QByteArray line = QByteArray::fromRawData(reinterpret_cast<const char *>(data), qsizetype(size));
    FuzzedDataProvider fdp(data, size);
    checkRawLine(line, fdp.ConsumeIntegralInRange<qint64>(0, qint64(size) + 8));

    // The same bytes, read again as the parts of an entry.
    const QString name = LokiFuzz::consumeString(fdp, 32);
    checkLabelName(name);
    checkUtf8Exact(name);

    const QString message = LokiFuzz::consumeString(fdp, 64);
    FieldList fields;
    for (int n = fdp.ConsumeIntegralInRange(0, 6); n > 0; --n) {
        const QString fieldName = LokiFuzz::consumeString(fdp, 16);
        checkLabelName(fieldName);
        fields.append({fieldName, LokiFuzz::consumeString(fdp, 32)});
    }
    checkRenderLine(message, fields);

    const QVariantMap nested = consumeVariantMap(fdp, 0);
    const FieldList flattened = LokiRender::flattenFields(nested);
    FUZZ_CHECK(flattened.size() == leafCount(nested));
    checkRenderLine(message, flattened);

    const LabelMap staticLabels = consumeLabels(fdp);
    const LabelMap entryLabels = consumeLabels(fdp);
    const QStringList allowList = consumeNameList(fdp, fields);
    const QStringList denyList = consumeNameList(fdp, fields);
    checkComposeLabels(staticLabels, entryLabels, fields, allowList, denyList);
    checkLabelSet(staticLabels);
    return 0;
}
