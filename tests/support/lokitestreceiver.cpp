// SPDX-License-Identifier: MIT
#include "lokitestreceiver.h"

#include "push.pb.h"

#include <QtCore/QHash>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QMutex>
#include <QtCore/QMutexLocker>
#include <QtCore/QRandomGenerator>
#include <QtCore/QSet>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

#if QT_CONFIG(ssl)
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslSocket>
#endif

#include <snappy.h>
#include <zlib.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

namespace {

// A request head larger than this is refused: nothing legitimate sends one.
constexpr qsizetype maxHeadBytes = 64 * 1024;

struct HttpRequest
{
    QByteArray method;
    QByteArray target;
    QMap<QByteArray, QByteArray> headers; // names in lower case
    QByteArray body;                      // de-chunked, still content-encoded
    bool keepAlive = true;
};

struct HttpAnswer
{
    enum class Kind { Normal, CloseMidResponse, Garbage };
    Kind kind = Kind::Normal;
    int status = 200;
    QByteArray body;
    QByteArray retryAfter;
    QByteArray wwwAuthenticate;
    QByteArray date;     ///< the Date header, when the receiver sends one
    QByteArray location; ///< the Location header of a redirect
    bool close = false;
};

// One entry's identity for Loki's duplicate check: same stream, timestamp and line.
struct EntryKey
{
    QString stream;
    qint64 timestampNs;
    QString line;
    bool operator==(const EntryKey &other) const
    {
        return timestampNs == other.timestampNs && line == other.line && stream == other.stream;
    }
};

size_t qHash(const EntryKey &key, size_t seed = 0)
{
    return qHashMulti(seed, key.stream, key.timestampNs, key.line);
}

QByteArray reasonPhrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

// Go's strconv.Quote, for the characters a label value plausibly holds.
QString goQuote(const QString &value)
{
    QString out;
    out.reserve(value.size() + 2);
    out += QLatin1Char('"');
    for (const QChar c : value) {
        switch (c.unicode()) {
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
            if (c.unicode() < 0x20 || c.unicode() == 0x7f)
                out += QStringLiteral("\\x%1").arg(int(c.unicode()), 2, 16, QLatin1Char('0'));
            else
                out += c;
        }
    }
    out += QLatin1Char('"');
    return out;
}

bool isNameStart(QChar c)
{
    const char16_t u = c.unicode();
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_';
}

bool isNameChar(QChar c)
{
    return isNameStart(c) || (c.unicode() >= '0' && c.unicode() <= '9');
}

QString reservedNameError(const QString &name)
{
    return QStringLiteral("label name \"%1\" is reserved: names starting with __ are for Loki's internal use")
        .arg(name);
}

// Loki's label name syntax check, on a JSON stream's label map. Loki renders the map as `{a="b", c="d"}` and
// parses that text back; a bad name fails in the parser, which names the line and column of the offending
// character in that text. Empty maps pass here: "at least one label" is a check per stream, later.
QString labelNameError(const QMap<QString, QString> &labels)
{
    qsizetype column = 2; // the first name starts after the '{'
    for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
        const QString &name = it.key();
        qsizetype bad = -1;
        if (name.isEmpty() || !isNameStart(name.at(0))) {
            bad = 0;
        } else {
            for (qsizetype i = 1; i < name.size() && bad < 0; ++i) {
                if (!isNameChar(name.at(i)))
                    bad = i;
            }
        }
        if (bad >= 0) {
            const QChar c = bad < name.size() ? name.at(bad) : QLatin1Char('=');
            return QStringLiteral("1:%1: parse error: unexpected character inside braces: '%2'")
                .arg(column + bad)
                .arg(c);
        }
        if (name.startsWith(QLatin1String("__")))
            return reservedNameError(name);
        column += name.size() + 1 + goQuote(it.value()).size() + 2; // name="value",space
    }
    return QString();
}

// Parses a protobuf stream's `labels`, `{name="value", other="v2"}`, the way Loki's syntax.ParseLabels reads
// it: names [a-zA-Z_][a-zA-Z0-9_]*, values Go-quoted ("..." with escapes) or raw (`...`), `=` only. The
// errors for the common mistakes (a bad character in a name, an unterminated value) are Loki's own,
// `1:<column>: parse error: ...`; rarer ones are worded alike. Duplicate names are refused here too.
class LabelTextParser
{
public:
    explicit LabelTextParser(const std::string &text)
        : text(text)
    {}

    bool parse(QMap<QString, QString> &labels, QString &error)
    {
        skipSpace();
        if (pos >= text.size())
            return fail(error, QStringLiteral("syntax error: unexpected $end, expecting {"));
        if (text[pos] != '{')
            return fail(error, QStringLiteral("syntax error: unexpected %1, expecting {").arg(current()));
        ++pos;
        skipSpace();
        if (pos < text.size() && text[pos] == '}') {
            ++pos;
            return finish(error);
        }
        for (;;) {
            skipSpace();
            if (pos >= text.size())
                return fail(error, QStringLiteral("syntax error: unexpected $end, expecting IDENTIFIER"));
            if (!isAsciiNameStart(text[pos]))
                return fail(error, QStringLiteral("unexpected character inside braces: '%1'").arg(current()));
            const size_t nameStart = pos;
            while (pos < text.size() && isAsciiNameChar(text[pos]))
                ++pos;
            const QString name = QString::fromLatin1(text.data() + nameStart, int(pos - nameStart));
            skipSpace();
            if (pos >= text.size())
                return fail(error,
                            QStringLiteral("syntax error: unexpected $end, expecting = or != or =~ or !~"));
            if (text[pos] != '=') {
                if (text[pos] == '"' || text[pos] == '`') {
                    // Loki's lexer reads the string before its parser misses the '='.
                    const size_t at = pos;
                    std::string ignored;
                    if (!readQuoted(ignored, error))
                        return false;
                    return failAt(
                        error, at,
                        QStringLiteral("syntax error: unexpected STRING, expecting = or != or =~ or !~"));
                }
                if (text[pos] == '!')
                    return fail(error,
                                QStringLiteral("only equality matchers are allowed in a stream's labels"));
                return fail(error, QStringLiteral("unexpected character inside braces: '%1'").arg(current()));
            }
            ++pos;
            if (pos < text.size() && text[pos] == '~')
                return fail(error, QStringLiteral("only equality matchers are allowed in a stream's labels"));
            skipSpace();
            std::string value;
            if (pos >= text.size())
                return fail(error, QStringLiteral("syntax error: unexpected $end, expecting STRING"));
            if (text[pos] != '"' && text[pos] != '`')
                return fail(error,
                            QStringLiteral("syntax error: unexpected %1, expecting STRING").arg(current()));
            if (!readQuoted(value, error))
                return false;
            if (name.startsWith(QLatin1String("__"))) {
                error = reservedNameError(name);
                return false;
            }
            if (labels.contains(name)) {
                error = QStringLiteral("duplicate label name \"%1\"").arg(name);
                return false;
            }
            labels.insert(name, QString::fromStdString(value));
            skipSpace();
            if (pos >= text.size())
                return fail(error, QStringLiteral("syntax error: unexpected $end, expecting , or }"));
            if (text[pos] == '}') {
                ++pos;
                return finish(error);
            }
            if (text[pos] != ',')
                return fail(error,
                            QStringLiteral("syntax error: unexpected %1, expecting , or }").arg(current()));
            ++pos;
        }
    }

private:
    static bool isAsciiNameStart(char c)
    {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    }
    static bool isAsciiNameChar(char c) { return isAsciiNameStart(c) || (c >= '0' && c <= '9'); }
    static int hexValue(char c)
    {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    }

    void skipSpace()
    {
        while (pos < text.size() &&
               (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r'))
            ++pos;
    }

    // The character at pos, for messages (the whole UTF-8 sequence).
    QString current() const
    {
        size_t end = pos + 1;
        while (end < text.size() && (uchar(text[end]) & 0xc0) == 0x80)
            ++end;
        return QString::fromUtf8(text.data() + pos, int(end - pos));
    }

    // Go's text/scanner counts columns in characters, from 1.
    int columnOf(size_t at) const
    {
        int column = 1;
        for (size_t i = 0; i < at && i < text.size(); ++i) {
            if ((uchar(text[i]) & 0xc0) != 0x80)
                ++column;
        }
        return column;
    }

    bool failAt(QString &error, size_t at, const QString &what) const
    {
        error = QStringLiteral("1:%1: parse error: %2").arg(columnOf(at)).arg(what);
        return false;
    }
    bool fail(QString &error, const QString &what) const { return failAt(error, pos, what); }

    bool finish(QString &error)
    {
        skipSpace();
        if (pos < text.size())
            return fail(error, QStringLiteral("syntax error: unexpected %1").arg(current()));
        return true;
    }

    static void appendUtf8(std::string &out, char32_t code)
    {
        if (code < 0x80) {
            out += char(code);
        } else if (code < 0x800) {
            out += char(0xc0 | (code >> 6));
            out += char(0x80 | (code & 0x3f));
        } else if (code < 0x10000) {
            out += char(0xe0 | (code >> 12));
            out += char(0x80 | ((code >> 6) & 0x3f));
            out += char(0x80 | (code & 0x3f));
        } else {
            out += char(0xf0 | (code >> 18));
            out += char(0x80 | ((code >> 12) & 0x3f));
            out += char(0x80 | ((code >> 6) & 0x3f));
            out += char(0x80 | (code & 0x3f));
        }
    }

    // Reads the quoted string at pos (strconv.Unquote's rules) into @p out.
    bool readQuoted(std::string &out, QString &error)
    {
        const size_t open = pos;
        const char quote = text[pos++];
        while (pos < text.size()) {
            const char c = text[pos];
            if (c == quote) {
                ++pos;
                return true;
            }
            if (quote == '"' && c == '\n')
                break;
            if (quote == '`' || c != '\\') {
                out += c;
                ++pos;
                continue;
            }
            const size_t escape = pos++;
            if (pos >= text.size())
                break;
            const char kind = text[pos++];
            switch (kind) {
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
            case '\\':
                out += '\\';
                break;
            case '"':
                out += '"';
                break;
            case 'x':
            case 'u':
            case 'U': {
                const int digits = kind == 'x' ? 2 : kind == 'u' ? 4 : 8;
                char32_t code = 0;
                for (int i = 0; i < digits; ++i) {
                    const int v = pos < text.size() ? hexValue(text[pos]) : -1;
                    if (v < 0)
                        return failAt(error, escape, QStringLiteral("invalid char escape"));
                    code = code * 16 + char32_t(v);
                    ++pos;
                }
                if (kind == 'x') {
                    out += char(code);
                } else {
                    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
                        return failAt(error, escape, QStringLiteral("invalid char escape"));
                    appendUtf8(out, code);
                }
                break;
            }
            default:
                if (kind >= '0' && kind <= '7') {
                    int code = kind - '0';
                    for (int i = 0; i < 2; ++i) {
                        if (pos >= text.size() || text[pos] < '0' || text[pos] > '7')
                            return failAt(error, escape, QStringLiteral("invalid char escape"));
                        code = code * 8 + (text[pos++] - '0');
                    }
                    if (code > 255)
                        return failAt(error, escape, QStringLiteral("invalid char escape"));
                    out += char(code);
                    break;
                }
                return failAt(error, escape, QStringLiteral("invalid char escape"));
            }
        }
        return failAt(error, open, QStringLiteral("unterminated quoted string"));
    }

    const std::string &text;
    size_t pos = 0;
};

bool parseTimestamp(const QJsonValue &value, qint64 *out)
{
    if (!value.isString())
        return false;
    const QString text = value.toString();
    const qsizetype digitsFrom = text.startsWith(QLatin1Char('-')) ? 1 : 0;
    if (text.size() == digitsFrom)
        return false;
    for (qsizetype i = digitsFrom; i < text.size(); ++i) {
        if (text.at(i).unicode() < '0' || text.at(i).unicode() > '9')
            return false;
    }
    bool ok = false;
    *out = text.toLongLong(&ok, 10);
    return ok;
}

QString jsonError(const QString &what)
{
    return QStringLiteral("error parsing push request: ") + what;
}

// Undoes gzip or raw DEFLATE (Go's compress/flate, which Loki uses for `deflate`) with zlib.
bool inflateBody(const QByteArray &body, bool gzip, QByteArray &out, QString &error)
{
    z_stream stream{};
    if (inflateInit2(&stream, gzip ? 16 + MAX_WBITS : -MAX_WBITS) != Z_OK) {
        error = QStringLiteral("zlib: cannot initialise");
        return false;
    }
    out.clear();
    out.resize(std::max<qsizetype>(body.size() * 4, 4096));
    stream.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(body.constData()));
    stream.avail_in = uInt(body.size());
    qsizetype produced = 0;
    bool ok = true;
    for (;;) {
        if (produced == out.size())
            out.resize(out.size() * 2);
        const qsizetype room = std::min<qsizetype>(out.size() - produced, std::numeric_limits<uInt>::max());
        stream.next_out = reinterpret_cast<Bytef *>(out.data() + produced);
        stream.avail_out = uInt(room);
        const int result = inflate(&stream, Z_NO_FLUSH);
        produced += room - qsizetype(stream.avail_out);
        if (result == Z_STREAM_END) {
            // Go's gzip reader reads concatenated members, as RFC 1952 allows.
            if (gzip && stream.avail_in > 0 && inflateReset(&stream) == Z_OK)
                continue;
            break;
        }
        if (result == Z_BUF_ERROR && stream.avail_in == 0) {
            error = QStringLiteral("unexpected EOF");
            ok = false;
            break;
        }
        if (result != Z_OK && result != Z_BUF_ERROR) {
            if (gzip && stream.total_out == 0 && result == Z_DATA_ERROR && stream.msg &&
                qstrcmp(stream.msg, "incorrect header check") == 0)
                error = QStringLiteral("gzip: invalid header");
            else if (gzip && result == Z_DATA_ERROR && stream.msg &&
                     qstrcmp(stream.msg, "incorrect data check") == 0)
                error = QStringLiteral("gzip: invalid checksum");
            else
                error = QStringLiteral("flate: corrupt input before offset %1").arg(stream.total_in);
            ok = false;
            break;
        }
    }
    inflateEnd(&stream);
    out.resize(ok ? produced : 0);
    return ok;
}

// Decodes Loki's JSON push body. A structural error rejects the whole push, as in Loki, where it fails
// while unmarshalling, before any stream is looked at.
bool decodeJsonPush(const QByteArray &body, QList<ReceivedStream> &streams, QString &error)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        error = jsonError(QStringLiteral("invalid JSON at offset %1: %2")
                              .arg(parseError.offset)
                              .arg(parseError.errorString()));
        return false;
    }
    if (!document.isObject()) {
        error = jsonError(QStringLiteral("the body is not a JSON object"));
        return false;
    }
    const QJsonValue streamsValue = document.object().value(QLatin1String("streams"));
    if (streamsValue.isUndefined() || streamsValue.isNull())
        return true; // Loki takes an empty push and stores nothing
    if (!streamsValue.isArray()) {
        error = jsonError(QStringLiteral("\"streams\" is not an array"));
        return false;
    }
    const QJsonArray streamArray = streamsValue.toArray();
    streams.reserve(streamArray.size());
    for (const QJsonValue &streamValue : streamArray) {
        if (!streamValue.isObject()) {
            error = jsonError(QStringLiteral("a stream is not an object"));
            return false;
        }
        const QJsonObject streamObject = streamValue.toObject();
        ReceivedStream stream;
        const QJsonValue labelsValue = streamObject.value(QLatin1String("stream"));
        if (!labelsValue.isUndefined() && !labelsValue.isNull()) {
            if (!labelsValue.isObject()) {
                error = jsonError(QStringLiteral("\"stream\" is not an object of labels"));
                return false;
            }
            const QJsonObject labelObject = labelsValue.toObject();
            for (auto it = labelObject.constBegin(); it != labelObject.constEnd(); ++it) {
                if (!it.value().isString()) {
                    error =
                        jsonError(QStringLiteral("the value of label \"%1\" is not a string").arg(it.key()));
                    return false;
                }
                stream.labels.insert(it.key(), it.value().toString());
            }
        }
        const QJsonValue valuesValue = streamObject.value(QLatin1String("values"));
        if (!valuesValue.isUndefined() && !valuesValue.isNull() && !valuesValue.isArray()) {
            error = jsonError(QStringLiteral("\"values\" is not an array"));
            return false;
        }
        const QJsonArray values = valuesValue.toArray();
        stream.entries.reserve(values.size());
        for (const QJsonValue &entryValue : values) {
            const QJsonArray entry = entryValue.toArray();
            if (!entryValue.isArray() || entry.size() < 2 || entry.size() > 3) {
                error = jsonError(QStringLiteral("an entry is not [\"<ns>\", \"<line>\"] or "
                                                 "[\"<ns>\", \"<line>\", {metadata}]"));
                return false;
            }
            ReceivedEntry received;
            if (!parseTimestamp(entry.at(0), &received.timestampNs)) {
                error = jsonError(QStringLiteral("timestamp %1 is not a string of decimal nanoseconds")
                                      .arg(QString::fromUtf8(QJsonDocument(QJsonArray{entry.at(0)})
                                                                 .toJson(QJsonDocument::Compact)
                                                                 .mid(1)
                                                                 .chopped(1))));
                return false;
            }
            if (!entry.at(1).isString()) {
                error = jsonError(QStringLiteral("a line is not a string"));
                return false;
            }
            received.line = entry.at(1).toString();
            if (entry.size() == 3) {
                if (!entry.at(2).isObject()) {
                    error = jsonError(QStringLiteral("structured metadata is not an object"));
                    return false;
                }
                const QJsonObject metadata = entry.at(2).toObject();
                for (auto it = metadata.constBegin(); it != metadata.constEnd(); ++it) {
                    if (!it.value().isString()) {
                        error = jsonError(
                            QStringLiteral("structured metadata \"%1\" is not a string").arg(it.key()));
                        return false;
                    }
                    received.metadata.insert(it.key(), it.value().toString());
                }
            }
            received.labels = stream.labels;
            stream.entries.append(std::move(received));
        }
        streams.append(std::move(stream));
    }
    return true;
}

// What a push is checked against: a copy taken once per push, so a push sees one consistent set.
struct Settings
{
    qint64 maxBodyBytes = 0;
    qint64 maxDecodedBytes = 0;
    qint64 maxLineBytes = 0;
    int maxLabelNames = 0;
    bool rejectStructuredMetadata = false;
    bool checkAge = false;    ///< Loki's reject_old_samples (a week) and creation grace (10 minutes)
    bool groupErrors = false; ///< setGroupedErrors(): one reason per refused entry, grouped like Loki 2.9
    qint64 clockOffsetMs = 0; ///< this receiver's clock minus the real one
    bool acceptProtobuf = true;
    bool echoHeaders = false; ///< error answers end with the request's headers
    QString basicUser;
    QString basicPassword;
    QString bearerToken;
    QString tenant;
};

// The UTF-8 size of @p text, which Loki's line limit counts, without converting it.
qint64 utf8Length(const QString &text)
{
    qint64 bytes = 0;
    const QChar *data = text.constData();
    const qsizetype size = text.size();
    for (qsizetype i = 0; i < size; ++i) {
        const char16_t u = data[i].unicode();
        if (u < 0x80) {
            bytes += 1;
        } else if (u < 0x800) {
            bytes += 2;
        } else if (QChar::isHighSurrogate(u) && i + 1 < size &&
                   QChar::isLowSurrogate(data[i + 1].unicode())) {
            bytes += 4;
            ++i;
        } else {
            bytes += 3;
        }
    }
    return bytes;
}

// Loki's per-stream checks (the distributor's ValidateLabels); empty when the stream passes.
QString streamError(const Settings &settings, const QMap<QString, QString> &labels)
{
    if (labels.isEmpty())
        return QStringLiteral("error at least one label pair is required per stream");
    if (settings.maxLabelNames > 0 && labels.size() > settings.maxLabelNames)
        return QStringLiteral("entry for stream '%1' has %2 label names; limit %3")
            .arg(LokiTestReceiver::formatLabels(labels), QString::number(labels.size()),
                 QString::number(settings.maxLabelNames));
    return QString();
}

bool entryLimitsActive(const Settings &settings)
{
    return settings.maxLineBytes > 0 || settings.rejectStructuredMetadata || settings.checkAge;
}

// The receiver's notion of now: the real clock plus its configured offset (a server whose clock is off).
qint64 receiverNowNs(const Settings &settings)
{
    return (QDateTime::currentMSecsSinceEpoch() + settings.clockOffsetMs) * 1000000;
}

constexpr qint64 maxAgeNs = 7LL * 24 * 3600 * 1000000000;  // reject_old_samples_max_age: 1 week
constexpr qint64 creationGraceNs = 10LL * 60 * 1000000000; // creation_grace_period: 10 minutes

bool entryRefused(const Settings &settings, qint64 lineBytes, bool hasMetadata, qint64 timestampNs)
{
    if (settings.checkAge) {
        const qint64 now = receiverNowNs(settings);
        if (timestampNs < now - maxAgeNs || timestampNs > now + creationGraceNs)
            return true;
    }
    return (settings.maxLineBytes > 0 && lineBytes > settings.maxLineBytes) ||
           (hasMetadata && settings.rejectStructuredMetadata);
}

// Loki's reason for refusing an entry (the distributor's ValidateEntry), in the order Loki checks.
QString entryError(const Settings &settings, const QMap<QString, QString> &labels, qint64 lineBytes,
                   qint64 timestampNs)
{
    const QString labelText = LokiTestReceiver::formatLabels(labels);
    if (settings.checkAge) {
        const qint64 now = receiverNowNs(settings);
        const auto time = [&settings](qint64 ns) {
            // Loki prints seconds (RFC 3339); so does the grouped form, where equal texts are grouped.
            return QDateTime::fromMSecsSinceEpoch(ns / 1000000, Qt::UTC)
                .toString(settings.groupErrors ? Qt::ISODate : Qt::ISODateWithMs);
        };
        if (timestampNs < now - maxAgeNs)
            return QStringLiteral(
                       "entry for stream '%1' has timestamp too old: %2, oldest acceptable timestamp is: %3")
                .arg(labelText, time(timestampNs), time(now - maxAgeNs));
        if (timestampNs > now + creationGraceNs)
            return QStringLiteral("entry for stream '%1' has timestamp too new: %2")
                .arg(labelText, time(timestampNs));
    }
    if (settings.maxLineBytes > 0 && lineBytes > settings.maxLineBytes)
        return QStringLiteral("Max entry size '%1' bytes exceeded for stream '%2' while adding an entry with "
                              "length '%3' bytes")
            .arg(QString::number(settings.maxLineBytes), labelText, QString::number(lineBytes));
    return QStringLiteral(
               "stream '%1' includes structured metadata, but this feature is disallowed. Please see "
               "limits_config.allow_structured_metadata or contact your Loki administrator to "
               "enable it.")
        .arg(labelText);
}

// Loki 2.9's util.GroupedErrors: equal reasons counted, `N errors like: <reason>` joined by "; ", a single
// reason as it is. Groups in order of first appearance (Loki's follow a Go map's order).
QString groupedErrors(const QStringList &errors)
{
    if (errors.size() == 1)
        return errors.first();
    QStringList order;
    QHash<QString, int> counts;
    for (const QString &error : errors) {
        if (counts[error]++ == 0)
            order.append(error);
    }
    QStringList groups;
    for (const QString &error : order)
        groups.append(QStringLiteral("%1 errors like: %2").arg(counts.value(error)).arg(error));
    return groups.join(QStringLiteral("; "));
}

// Splits decoded streams into what Loki stores and one reason per stream that lost anything.
void validateStreams(const Settings &settings, const QList<ReceivedStream> &streams,
                     QList<ReceivedStream> &accepted, QStringList &errors)
{
    const bool checkEntries = entryLimitsActive(settings);
    accepted.reserve(streams.size());
    for (const ReceivedStream &stream : streams) {
        const QString why = streamError(settings, stream.labels);
        if (!why.isEmpty()) {
            errors.append(why);
            continue;
        }
        if (!checkEntries) {
            accepted.append(stream);
            continue;
        }
        ReceivedStream kept;
        kept.labels = stream.labels;
        kept.entries.reserve(stream.entries.size());
        QString firstError;
        for (const ReceivedEntry &entry : stream.entries) {
            const qint64 lineBytes = settings.maxLineBytes > 0 ? utf8Length(entry.line) : 0;
            if (!entryRefused(settings, lineBytes, !entry.metadata.isEmpty(), entry.timestampNs)) {
                kept.entries.append(entry);
            } else if (settings.groupErrors) {
                errors.append(entryError(settings, stream.labels, lineBytes, entry.timestampNs));
            } else if (firstError.isEmpty()) {
                firstError = entryError(settings, stream.labels, lineBytes, entry.timestampNs);
            }
        }
        if (!firstError.isEmpty())
            errors.append(firstError);
        accepted.append(std::move(kept));
    }
}

qint64 protoTimestampNs(const logproto::EntryAdapter &entry)
{
    if (!entry.has_timestamp())
        return 0;
    return qint64(entry.timestamp().seconds()) * 1000000000 + entry.timestamp().nanos();
}

// Builds the recorded form of a decoded protobuf push.
QList<ReceivedStream> protoStreams(const logproto::PushRequest &request,
                                   const QList<QMap<QString, QString>> &labels)
{
    QList<ReceivedStream> streams;
    streams.reserve(request.streams_size());
    for (int i = 0; i < request.streams_size(); ++i) {
        const logproto::StreamAdapter &in = request.streams(i);
        ReceivedStream stream;
        stream.labels = labels.at(i);
        stream.entries.reserve(in.entries_size());
        for (const logproto::EntryAdapter &entry : in.entries()) {
            ReceivedEntry out;
            out.timestampNs = protoTimestampNs(entry);
            out.line = QString::fromUtf8(entry.line().data(), qsizetype(entry.line().size()));
            for (const logproto::LabelPairAdapter &pair : entry.structuredmetadata())
                out.metadata.insert(QString::fromStdString(pair.name()),
                                    QString::fromStdString(pair.value()));
            out.labels = stream.labels;
            stream.entries.append(std::move(out));
        }
        streams.append(std::move(stream));
    }
    return streams;
}

// Validates a decoded protobuf push and counts what Loki would store, building nothing per entry.
qint64 countProto(const Settings &settings, const logproto::PushRequest &request,
                  const QList<QMap<QString, QString>> &labels, QStringList &errors)
{
    const bool checkEntries = entryLimitsActive(settings);
    qint64 count = 0;
    for (int i = 0; i < request.streams_size(); ++i) {
        const QString why = streamError(settings, labels.at(i));
        if (!why.isEmpty()) {
            errors.append(why);
            continue;
        }
        const logproto::StreamAdapter &stream = request.streams(i);
        if (!checkEntries) {
            count += stream.entries_size();
            continue;
        }
        bool refused = false;
        for (const logproto::EntryAdapter &entry : stream.entries()) {
            const qint64 lineBytes = qint64(entry.line().size());
            const qint64 timestampNs = protoTimestampNs(entry);
            if (!entryRefused(settings, lineBytes, entry.structuredmetadata_size() > 0, timestampNs)) {
                ++count;
            } else if (!refused) {
                refused = true;
                errors.append(entryError(settings, labels.at(i), lineBytes, timestampNs));
            }
        }
    }
    return count;
}

// Whether the Authorization header satisfies the required credentials (either kind passes when both are set).
bool authorized(const Settings &settings, const QByteArray &authorization)
{
    if (settings.basicUser.isEmpty() && settings.bearerToken.isEmpty())
        return true;
    const qsizetype space = authorization.indexOf(' ');
    if (space <= 0)
        return false;
    const QByteArray scheme = authorization.left(space).toLower();
    const QByteArray credentials = authorization.mid(space + 1).trimmed();
    if (!settings.basicUser.isEmpty() && scheme == "basic") {
        const QByteArray::FromBase64Result decoded =
            QByteArray::fromBase64Encoding(credentials, QByteArray::AbortOnBase64DecodingErrors);
        if (decoded && *decoded == (settings.basicUser + QLatin1Char(':') + settings.basicPassword).toUtf8())
            return true;
    }
    return !settings.bearerToken.isEmpty() && scheme == "bearer" &&
           credentials == settings.bearerToken.toUtf8();
}

QByteArray renderAnswer(const HttpAnswer &answer)
{
    QByteArray out;
    out.reserve(160 + answer.body.size());
    out += "HTTP/1.1 ";
    out += QByteArray::number(answer.status);
    out += ' ';
    out += reasonPhrase(answer.status);
    out += "\r\n";
    if (answer.status != 204 && answer.status >= 200) {
        out += "Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n";
        out += "Content-Length: ";
        out += QByteArray::number(answer.body.size());
        out += "\r\n";
    }
    if (!answer.location.isEmpty()) {
        out += "Location: ";
        out += answer.location;
        out += "\r\n";
    }
    if (!answer.retryAfter.isEmpty()) {
        out += "Retry-After: ";
        out += answer.retryAfter;
        out += "\r\n";
    }
    if (!answer.date.isEmpty()) {
        out += "Date: ";
        out += answer.date;
        out += "\r\n";
    }
    if (!answer.wwwAuthenticate.isEmpty()) {
        out += "WWW-Authenticate: ";
        out += answer.wwwAuthenticate;
        out += "\r\n";
    }
    if (answer.close)
        out += "Connection: close\r\n";
    out += "\r\n";
    if (answer.status != 204)
        out += answer.body;
    return out;
}

HttpAnswer textAnswer(int status, const QByteArray &body)
{
    HttpAnswer answer;
    answer.status = status;
    answer.body = body;
    return answer;
}

// The per-connection parser state. It lives as a child of its socket, so it goes when the socket goes,
// and a delayed answer (a timer with this as context) dies with it.
class Connection : public QObject
{
public:
    explicit Connection(QTcpSocket *socket)
        : QObject(socket)
        , socket(socket)
    {}

    enum class BodyState { Head, Length, ChunkSize, ChunkData, ChunkDataEnd, ChunkTrailer };

    QTcpSocket *socket;
    QByteArray buffer;
    qsizetype pos = 0;      // the first byte not yet consumed
    qsizetype headScan = 0; // where the search for the end of the head resumes
    BodyState state = BodyState::Head;
    HttpRequest request;
    qint64 remaining = 0; // body bytes still expected (Length) or left in the current chunk
    bool busy = false;    // an answer is being delayed: later requests wait their turn
    bool closing = false;

    void resetForNextRequest()
    {
        request = HttpRequest();
        state = BodyState::Head;
        buffer.remove(0, pos);
        pos = 0;
        headScan = 0;
    }
};

} // namespace

class ReceiverServer;

// What the facade and the server thread share; every field is guarded by mutex.
struct ReceiverState
{
    mutable QMutex mutex;
    // Recorded state, guarded by mutex.
    QList<ReceivedPush> pushes;
    QList<ReceivedEntry> entries;
    qint64 entryCount = 0;
    qint64 duplicateCount = 0;
    QSet<EntryKey> stored;
    bool recordEntries = true;
    LokiTestReceiver::PushCallback callback;
    // What pushes are checked against, guarded by mutex, copied once per push.
    Settings settings;
    // Fault injection, guarded by mutex, consumed by the server thread.
    int failCount = 0;
    int failStatus = 0;
    QByteArray failBody;
    QByteArray failRetryAfter;
    QByteArray failLocation;
    std::chrono::milliseconds delay{0};
    int unanswered = 0;    ///< requests read whose answer is not written yet
    int maxUnanswered = 0; ///< the most of them at once (pushes in flight, as the server saw them)
    int closeMidCount = 0;
    int garbageCount = 0;
    double failRate = 0;
    int failRateStatus = 503;
    QRandomGenerator failRandom;
    // Listening state, guarded by mutex, written by the server thread.
    quint16 port = 0;
    bool listening = false;
    bool tls = false;
};

struct LokiTestReceiver::Private : ReceiverState
{
    QThread thread;
    ReceiverServer *server = nullptr;

    void runInServerThread(const std::function<void()> &function);
};

#if QT_CONFIG(ssl)
using ServerTls = QSslConfiguration;
#else
struct ServerTls
{};
#endif

// Accepts plain TCP connections, or TLS ones when tls is set: QSslSocket on the accepted descriptor (what
// QSslServer does since Qt 6.4, written out so that it builds with Qt 6.2).
class ReceiverTcpServer : public QTcpServer
{
public:
    using QTcpServer::QTcpServer;
    std::optional<ServerTls> tls;

protected:
    void incomingConnection(qintptr descriptor) override
    {
#if QT_CONFIG(ssl)
        if (tls) {
            auto *socket = new QSslSocket(this);
            if (!socket->setSocketDescriptor(descriptor)) {
                delete socket;
                return;
            }
            socket->setSslConfiguration(*tls);
            addPendingConnection(socket);
            socket->startServerEncryption();
            return;
        }
#endif
        QTcpServer::incomingConnection(descriptor);
    }
};

// Lives in the receiver's thread and owns every socket; the facade reaches it through blocking calls.
class ReceiverServer : public QObject
{
public:
    explicit ReceiverServer(ReceiverState *d)
        : d(d)
    {}

    // Listens on @p port; with @p tls set, every accepted connection speaks TLS with that configuration.
    bool listen(quint16 port, const std::optional<ServerTls> &tls)
    {
        if (!tcp) {
            tcp = new ReceiverTcpServer(this);
            connect(tcp, &QTcpServer::newConnection, this, &ReceiverServer::acceptConnections);
        }
        if (tcp->isListening())
            tcp->close();
        tcp->tls = tls;
        const bool ok = tcp->listen(QHostAddress::LocalHost, port);
        QMutexLocker locker(&d->mutex);
        d->listening = ok;
        d->tls = tls.has_value();
        if (ok)
            d->port = tcp->serverPort();
        return ok;
    }

    // Listens again on @p port, as the last listen() did (TLS or not).
    bool relisten(quint16 port) { return listen(port, tcp ? tcp->tls : std::nullopt); }

    void stop()
    {
        if (tcp)
            tcp->close();
        const QSet<QTcpSocket *> open = sockets;
        sockets.clear();
        for (QTcpSocket *socket : open) {
            socket->abort();
            socket->deleteLater();
        }
        QMutexLocker locker(&d->mutex);
        d->listening = false;
    }

    void shutdown()
    {
        stop();
        delete tcp; // with it every socket, and with each socket its pending timers
        tcp = nullptr;
    }

private:
    void acceptConnections()
    {
        while (QTcpSocket *socket = tcp->nextPendingConnection()) {
            sockets.insert(socket);
            auto *connection = new Connection(socket);
            connect(socket, &QTcpSocket::readyRead, connection, [this, connection] { read(connection); });
            connect(socket, &QTcpSocket::disconnected, this, [this, socket] {
                sockets.remove(socket);
                socket->deleteLater();
            });
#if QT_CONFIG(ssl)
            // A failed handshake (no or an untrusted client certificate under mutual TLS) ends the
            // connection; nothing on it reaches push(). Dropped from the event loop, not from inside the
            // socket's signal.
            if (qobject_cast<QSslSocket *>(socket)) {
                connect(socket, &QAbstractSocket::errorOccurred, this,
                        [this, socket](QAbstractSocket::SocketError error) {
                            if (error != QAbstractSocket::SslHandshakeFailedError &&
                                error != QAbstractSocket::SslInternalError &&
                                error != QAbstractSocket::SslInvalidUserDataError)
                                return;
                            QTimer::singleShot(0, socket, [this, socket] {
                                if (sockets.remove(socket)) {
                                    socket->abort();
                                    socket->deleteLater();
                                }
                            });
                        });
            }
#endif
        }
    }

    void read(Connection *c)
    {
        const qint64 available = c->socket->bytesAvailable();
        if (available <= 0)
            return;
        if (c->closing) {
            c->socket->skip(available);
            return;
        }
        // Read straight into the connection's buffer: no intermediate copy per read.
        const qsizetype oldSize = c->buffer.size();
        c->buffer.resize(oldSize + available);
        const qint64 got = c->socket->read(c->buffer.data() + oldSize, available);
        c->buffer.resize(oldSize + std::max<qint64>(got, 0));
        process(c);
    }

    // Handles every complete request in the buffer, in order, stopping while an answer is delayed.
    void process(Connection *c)
    {
        while (!c->busy && !c->closing) {
            if (c->state == Connection::BodyState::Head && !parseHead(c))
                return;
            bool failed = false;
            const bool complete = parseBody(c, &failed);
            if (failed) {
                HttpAnswer answer = textAnswer(400, "malformed chunked body\n");
                answer.close = true;
                respond(c, answer);
                return;
            }
            if (!complete)
                return;
            const HttpRequest request = std::move(c->request);
            c->resetForNextRequest();
            HttpAnswer answer = dispatch(request);
            answer.close = answer.close || !request.keepAlive;
            respond(c, answer);
        }
    }

    bool parseHead(Connection *c)
    {
        // Tolerate the empty lines some clients send between requests.
        while (c->buffer.size() - c->pos >= 2 && c->buffer.at(c->pos) == '\r' &&
               c->buffer.at(c->pos + 1) == '\n')
            c->pos += 2;
        const qsizetype end = c->buffer.indexOf("\r\n\r\n", std::max(c->pos, c->headScan));
        if (end < 0) {
            c->headScan = std::max(c->pos, c->buffer.size() - 3);
            if (c->buffer.size() - c->pos > maxHeadBytes) {
                HttpAnswer answer = textAnswer(431, "request head too large\n");
                answer.close = true;
                respond(c, answer);
            }
            return false;
        }
        const QByteArray head = c->buffer.mid(c->pos, end - c->pos);
        c->pos = end + 4;

        HttpRequest &request = c->request;
        qsizetype lineEnd = head.indexOf("\r\n");
        if (lineEnd < 0)
            lineEnd = head.size();
        const QList<QByteArray> requestLine = head.first(lineEnd).split(' ');
        if (requestLine.size() != 3 || !requestLine.at(2).startsWith("HTTP/1.")) {
            HttpAnswer answer = textAnswer(400, "malformed request line\n");
            answer.close = true;
            respond(c, answer);
            return false;
        }
        request.method = requestLine.at(0);
        request.target = requestLine.at(1);
        const bool http10 = requestLine.at(2) == "HTTP/1.0";

        qsizetype from = lineEnd + 2;
        while (from < head.size()) {
            qsizetype to = head.indexOf("\r\n", from);
            if (to < 0)
                to = head.size();
            const QByteArray line = head.mid(from, to - from);
            from = to + 2;
            const qsizetype colon = line.indexOf(':');
            if (colon <= 0)
                continue;
            const QByteArray name = line.first(colon).trimmed().toLower();
            const QByteArray value = line.sliced(colon + 1).trimmed();
            auto it = request.headers.find(name);
            if (it == request.headers.end())
                request.headers.insert(name, value);
            else
                *it += ", " + value;
        }

        const QByteArray connection = request.headers.value("connection").toLower();
        if (http10)
            request.keepAlive = connection.contains("keep-alive");
        else
            request.keepAlive = !connection.contains("close");

        if (request.headers.value("transfer-encoding").toLower().contains("chunked")) {
            c->state = Connection::BodyState::ChunkSize;
        } else {
            bool ok = true;
            const QByteArray length = request.headers.value("content-length");
            c->remaining = length.isEmpty() ? 0 : length.toLongLong(&ok);
            if (!ok || c->remaining < 0) {
                HttpAnswer answer = textAnswer(400, "invalid Content-Length\n");
                answer.close = true;
                respond(c, answer);
                return false;
            }
            c->state = Connection::BodyState::Length;
        }
        const bool bodyPending =
            c->state != Connection::BodyState::Length || c->buffer.size() - c->pos < c->remaining;
        if (bodyPending && request.headers.value("expect").toLower() == "100-continue")
            c->socket->write("HTTP/1.1 100 Continue\r\n\r\n");
        return true;
    }

    // Consumes body bytes; true once the whole body is there.
    bool parseBody(Connection *c, bool *failed)
    {
        QByteArray &buffer = c->buffer;
        for (;;) {
            switch (c->state) {
            case Connection::BodyState::Head:
                return false;
            case Connection::BodyState::Length:
                if (buffer.size() - c->pos < c->remaining)
                    return false;
                c->request.body = buffer.mid(c->pos, c->remaining);
                c->pos += c->remaining;
                return true;
            case Connection::BodyState::ChunkSize: {
                const qsizetype end = buffer.indexOf("\r\n", c->pos);
                if (end < 0)
                    return false;
                QByteArray size = buffer.mid(c->pos, end - c->pos);
                const qsizetype extension = size.indexOf(';');
                if (extension >= 0)
                    size.truncate(extension);
                bool ok = false;
                c->remaining = size.trimmed().toLongLong(&ok, 16);
                if (!ok || c->remaining < 0) {
                    *failed = true;
                    return false;
                }
                c->pos = end + 2;
                c->state = c->remaining == 0 ? Connection::BodyState::ChunkTrailer
                                             : Connection::BodyState::ChunkData;
                break;
            }
            case Connection::BodyState::ChunkData: {
                const qint64 take = std::min<qint64>(c->remaining, buffer.size() - c->pos);
                c->request.body.append(buffer.constData() + c->pos, take);
                c->pos += take;
                c->remaining -= take;
                if (c->remaining > 0)
                    return false;
                c->state = Connection::BodyState::ChunkDataEnd;
                break;
            }
            case Connection::BodyState::ChunkDataEnd:
                if (buffer.size() - c->pos < 2)
                    return false;
                if (buffer.at(c->pos) != '\r' || buffer.at(c->pos + 1) != '\n') {
                    *failed = true;
                    return false;
                }
                c->pos += 2;
                c->state = Connection::BodyState::ChunkSize;
                break;
            case Connection::BodyState::ChunkTrailer: {
                const qsizetype end = buffer.indexOf("\r\n", c->pos);
                if (end < 0)
                    return false;
                const bool last = end == c->pos;
                c->pos = end + 2;
                if (last)
                    return true;
                break;
            }
            }
        }
    }

    HttpAnswer dispatch(const HttpRequest &request)
    {
        QByteArray path = request.target;
        const qsizetype query = path.indexOf('?');
        if (query >= 0)
            path.truncate(query);
        if (path == "/loki/api/v1/push") {
            if (request.method != "POST")
                return textAnswer(405, "method not allowed\n");
            return push(request);
        }
        if (path == "/ready" && request.method == "GET")
            return textAnswer(200, "ready\n");
        return textAnswer(404, "404 page not found\n");
    }

    HttpAnswer push(const HttpRequest &request)
    {
        ReceivedPush push;
        push.headers = request.headers;
        push.contentType = request.headers.value("content-type");
        push.contentEncoding = request.headers.value("content-encoding");
        push.bodyBytes = request.body.size();

        HttpAnswer answer;
        Settings settings;
        bool countOnly = false;
        {
            QMutexLocker locker(&d->mutex);
            settings = d->settings;
            countOnly = !d->recordEntries && !d->callback;
            if (d->closeMidCount > 0) {
                --d->closeMidCount;
                push.fault = ReceivedPush::Fault::CloseMidResponse;
                answer.kind = HttpAnswer::Kind::CloseMidResponse;
            } else if (d->garbageCount > 0) {
                --d->garbageCount;
                push.fault = ReceivedPush::Fault::Garbage;
                answer.kind = HttpAnswer::Kind::Garbage;
            } else if (d->failCount > 0) {
                --d->failCount;
                push.fault = ReceivedPush::Fault::FailNext;
                push.status = d->failStatus;
                push.error = QString::fromUtf8(d->failBody);
                answer.status = d->failStatus;
                answer.body = d->failBody;
                answer.retryAfter = d->failRetryAfter;
                answer.location = d->failLocation;
            } else if (d->failRate > 0 && d->failRandom.generateDouble() < d->failRate) {
                push.fault = ReceivedPush::Fault::FailNext;
                push.status = d->failRateStatus;
                push.error = QStringLiteral("injected failure");
                answer.status = d->failRateStatus;
                answer.body = "injected failure\n";
            }
        }
        if (push.fault == ReceivedPush::Fault::Garbage || push.fault == ReceivedPush::Fault::FailNext) {
            {
                QMutexLocker locker(&d->mutex);
                listLocked(push);
            }
            notify(push, {});
            return answer;
        }

        QList<ReceivedStream> accepted;
        qint64 counted = 0;
        QStringList errors;
        const int status =
            decodeAndValidate(request, settings, countOnly, push, accepted, counted, errors, answer);
        push.status = status;
        push.error = settings.groupErrors ? groupedErrors(errors) : errors.join(QLatin1Char('\n'));
        QList<ReceivedStream> stored;
        if (countOnly)
            count(push, counted);
        else
            store(push, accepted, stored);
        notify(push, stored);

        answer.status = status;
        if (!push.error.isEmpty())
            answer.body = push.error.toUtf8() + '\n';
        if (settings.echoHeaders && status >= 400) {
            // A debugging gateway that shows what it received: every request header, secrets included.
            answer.body += "request headers:\n";
            for (auto it = request.headers.cbegin(); it != request.headers.cend(); ++it)
                answer.body += it.key() + ": " + it.value() + '\n';
        }
        return answer;
    }

    // Takes a push through Loki's checks in Loki's order. Returns the status; fills @p push (format, sizes,
    // decoded streams), what is to be stored (@p accepted, or only @p counted when @p countOnly) and the
    // reasons for what is not.
    int decodeAndValidate(const HttpRequest &request, const Settings &settings, bool countOnly,
                          ReceivedPush &push, QList<ReceivedStream> &accepted, qint64 &counted,
                          QStringList &errors, HttpAnswer &answer)
    {
        const auto refuse = [&errors](int status, const QString &error) {
            errors.append(error);
            return status;
        };
        // What sits in front of Loki first: a gateway's body limit, its credentials, a JSON-only proxy.
        if (settings.maxBodyBytes > 0 && push.bodyBytes > settings.maxBodyBytes)
            return refuse(413, QStringLiteral("413 Request Entity Too Large"));
        if (!authorized(settings, request.headers.value("authorization"))) {
            answer.wwwAuthenticate = settings.basicUser.isEmpty() ? QByteArray("Bearer realm=\"loki\"")
                                                                  : QByteArray("Basic realm=\"loki\"");
            return refuse(401, QStringLiteral("unauthorized"));
        }
        if (!settings.tenant.isEmpty()) {
            const QByteArray tenant = request.headers.value("x-scope-orgid");
            if (tenant.isEmpty())
                return refuse(401, QStringLiteral("no org id"));
            if (tenant != settings.tenant.toUtf8())
                return refuse(401, QStringLiteral("unauthorized"));
        }
        // Go's mime.ParseMediaType: the type is before any ';', case-insensitive.
        const qsizetype semicolon = push.contentType.indexOf(';');
        const QByteArray mediaType =
            (semicolon < 0 ? push.contentType : push.contentType.left(semicolon)).trimmed().toLower();
        const bool json = mediaType == "application/json";
        if (!json && !settings.acceptProtobuf)
            return refuse(415, QStringLiteral("unsupported Content-Type"));

        // Loki undoes the Content-Encoding (an exact, case-sensitive match) before it looks at the media
        // type.
        QByteArray body = request.body;
        const QByteArray encoding = push.contentEncoding;
        if (encoding == "gzip" || encoding == "deflate") {
            QByteArray inflated;
            QString error;
            if (!inflateBody(body, encoding == "gzip", inflated, error))
                return refuse(400, error);
            body = std::move(inflated);
        } else if (!encoding.isEmpty() && encoding != "snappy") {
            return refuse(
                400,
                QStringLiteral("Content-Encoding \"%1\" not supported").arg(QString::fromLatin1(encoding)));
        }
        if (mediaType.isEmpty())
            return refuse(400, QStringLiteral("mime: no media type"));

        if (json) {
            push.format = ReceivedPush::Format::Json;
            push.decodedBytes = body.size();
            if (settings.maxDecodedBytes > 0 && push.decodedBytes > settings.maxDecodedBytes)
                return refuse(500, tooLarge(push.decodedBytes, settings.maxDecodedBytes));
            QList<ReceivedStream> streams;
            QString error;
            if (!decodeJsonPush(body, streams, error))
                return refuse(400, error);
            // Loki parses every stream's labels before anything is validated: one bad set refuses the push.
            for (const ReceivedStream &stream : std::as_const(streams)) {
                const QString why = labelNameError(stream.labels);
                if (!why.isEmpty()) {
                    push.streams = std::move(streams);
                    return refuse(400, QStringLiteral("couldn't parse labels: ") + why);
                }
            }
            validateStreams(settings, streams, accepted, errors);
            if (countOnly) {
                for (const ReceivedStream &stream : std::as_const(accepted))
                    counted += stream.entries.size();
                accepted.clear();
            }
            push.streams = std::move(streams);
            return errors.isEmpty() ? 204 : 400;
        }

        // Anything else is taken for snappy-compressed protobuf, as Loki does.
        push.format = ReceivedPush::Format::Protobuf;
        size_t length = 0;
        // Validated before anything is allocated: a corrupt header could claim gigabytes.
        if (!snappy::GetUncompressedLength(body.constData(), size_t(body.size()), &length) ||
            !snappy::IsValidCompressedBuffer(body.constData(), size_t(body.size())))
            return refuse(400, QStringLiteral("snappy: corrupt input"));
        push.decodedBytes = qint64(length);
        if (settings.maxDecodedBytes > 0 && push.decodedBytes > settings.maxDecodedBytes)
            return refuse(500, tooLarge(push.decodedBytes, settings.maxDecodedBytes));
        // Both buffers are kept from push to push: in steady state, decoding allocates nothing.
        snappyBuffer.resize(length);
        if (!snappy::RawUncompress(body.constData(), size_t(body.size()), snappyBuffer.data()))
            return refuse(400, QStringLiteral("snappy: corrupt input"));
        if (!protoRequest.ParseFromArray(snappyBuffer.data(), int(snappyBuffer.size())))
            return refuse(400, QStringLiteral("error parsing push request: the body is not a valid "
                                              "logproto.PushRequest"));
        QList<QMap<QString, QString>> labels;
        labels.reserve(protoRequest.streams_size());
        for (const logproto::StreamAdapter &stream : protoRequest.streams()) {
            QMap<QString, QString> parsed;
            QString why;
            if (!LabelTextParser(stream.labels()).parse(parsed, why))
                return refuse(400, QStringLiteral("couldn't parse labels: ") + why);
            labels.append(std::move(parsed));
        }
        if (countOnly) {
            counted = countProto(settings, protoRequest, labels, errors);
        } else {
            QList<ReceivedStream> streams = protoStreams(protoRequest, labels);
            validateStreams(settings, streams, accepted, errors);
            push.streams = std::move(streams);
        }
        return errors.isEmpty() ? 204 : 400;
    }

    static QString tooLarge(qint64 size, qint64 limit)
    {
        return QStringLiteral(
                   "rpc error: code = ResourceExhausted desc = grpc: received message larger than max "
                   "(%1 vs. %2)")
            .arg(size)
            .arg(limit);
    }

    // Counts the entries of a push validated without building them (count-only mode without a callback).
    void count(const ReceivedPush &push, qint64 counted)
    {
        QMutexLocker locker(&d->mutex);
        d->entryCount += counted;
        listLocked(push);
    }

    // Stores the entries of the accepted streams, dropping exact duplicates unless entries are only counted.
    void store(ReceivedPush &push, const QList<ReceivedStream> &accepted, QList<ReceivedStream> &stored)
    {
        QMutexLocker locker(&d->mutex);
        if (!d->recordEntries) {
            for (const ReceivedStream &stream : accepted)
                d->entryCount += stream.entries.size();
            stored = accepted;
            listLocked(push);
            return;
        }
        stored.reserve(accepted.size());
        for (const ReceivedStream &stream : accepted) {
            ReceivedStream kept;
            kept.labels = stream.labels;
            const QString streamKey = LokiTestReceiver::formatLabels(stream.labels);
            kept.entries.reserve(stream.entries.size());
            for (const ReceivedEntry &entry : stream.entries) {
                EntryKey key{streamKey, entry.timestampNs, entry.line};
                if (d->stored.contains(key)) {
                    ++push.duplicates;
                    continue;
                }
                d->stored.insert(std::move(key));
                d->entries.append(entry);
                kept.entries.append(entry);
            }
            d->entryCount += kept.entries.size();
            stored.append(std::move(kept));
        }
        d->duplicateCount += push.duplicates;
        listLocked(push);
    }

    // Lists the push in pushes(), in the same critical section that counts its entries: a test that sees the
    // entries sees the push that brought them (pushCount() read after entryCount() is never behind).
    void listLocked(const ReceivedPush &push)
    {
        d->pushes.append(push);
        if (!d->recordEntries)
            d->pushes.last().streams.clear();
    }

    void notify(const ReceivedPush &push, const QList<ReceivedStream> &stored)
    {
        LokiTestReceiver::PushCallback callback;
        {
            QMutexLocker locker(&d->mutex);
            callback = d->callback;
        }
        // Outside the lock: the callback may call the receiver.
        if (callback)
            callback(push, stored);
    }

    void respond(Connection *c, const HttpAnswer &answer)
    {
        std::chrono::milliseconds delay;
        {
            QMutexLocker locker(&d->mutex);
            delay = d->delay;
            d->maxUnanswered = qMax(d->maxUnanswered, ++d->unanswered);
        }
        const auto answered = [this] {
            QMutexLocker locker(&d->mutex);
            --d->unanswered;
        };
        if (delay.count() <= 0) {
            answered();
            write(c, answer);
            return;
        }
        c->busy = true;
        QTimer::singleShot(delay, Qt::PreciseTimer, c, [this, c, answer, answered] {
            c->busy = false;
            answered();
            write(c, answer);
            process(c);
        });
    }

    void write(Connection *c, HttpAnswer answer)
    {
        switch (answer.kind) {
        case HttpAnswer::Kind::Normal: {
            qint64 offsetMs = 0;
            {
                QMutexLocker locker(&d->mutex);
                offsetMs = d->settings.clockOffsetMs;
            }
            // RFC 9110's IMF-fixdate, from this receiver's (possibly skewed) clock, as every HTTP server
            // sends.
            answer.date = QDateTime::currentDateTimeUtc()
                              .addMSecs(offsetMs)
                              .toString(QStringLiteral("ddd, dd MMM yyyy hh:mm:ss 'GMT'"))
                              .toLatin1();
            c->socket->write(renderAnswer(answer));
            if (!answer.close)
                return;
            break;
        }
        case HttpAnswer::Kind::CloseMidResponse:
            c->socket->write("HTTP/1.1 2");
            break;
        case HttpAnswer::Kind::Garbage:
            c->socket->write(QByteArray("\x16\x03\x01 this is not HTTP \xff\xfe\r\n\r\n", 28));
            break;
        }
        c->closing = true;
        c->socket->disconnectFromHost(); // after the bytes above are written
    }

    ReceiverState *const d;
    ReceiverTcpServer *tcp = nullptr;
    QSet<QTcpSocket *> sockets;
    logproto::PushRequest protoRequest;
    std::string snappyBuffer;
};

void LokiTestReceiver::Private::runInServerThread(const std::function<void()> &function)
{
    if (QThread::currentThread() == &thread)
        function(); // from the push callback: a blocking call to ourselves would deadlock
    else
        QMetaObject::invokeMethod(server, function, Qt::BlockingQueuedConnection);
}

LokiTestReceiver::LokiTestReceiver()
    : d(std::make_unique<Private>())
{
    d->thread.setObjectName(QStringLiteral("LokiTestReceiver"));
    d->server = new ReceiverServer(d.get());
    d->server->moveToThread(&d->thread);
    d->thread.start();
}

LokiTestReceiver::~LokiTestReceiver()
{
    d->runInServerThread([this] { d->server->shutdown(); });
    d->thread.quit();
    d->thread.wait();
    delete d->server; // its thread has finished: deleting it here is safe
}

bool LokiTestReceiver::listen(quint16 port)
{
    bool ok = false;
    d->runInServerThread([this, port, &ok] { ok = d->server->listen(port, std::nullopt); });
    return ok;
}

bool LokiTestReceiver::listenTls(const QSslConfiguration &configuration, quint16 port)
{
#if QT_CONFIG(ssl)
    if (!QSslSocket::supportsSsl())
        return false;
    bool ok = false;
    d->runInServerThread([this, &configuration, port, &ok] { ok = d->server->listen(port, configuration); });
    return ok;
#else
    Q_UNUSED(configuration);
    Q_UNUSED(port);
    return false;
#endif
}

void LokiTestReceiver::stop()
{
    d->runInServerThread([this] { d->server->stop(); });
}

bool LokiTestReceiver::restart()
{
    const quint16 last = port();
    bool ok = false;
    d->runInServerThread([this, last, &ok] { ok = d->server->relisten(last); });
    return ok;
}

bool LokiTestReceiver::isTls() const
{
    QMutexLocker locker(&d->mutex);
    return d->tls;
}

bool LokiTestReceiver::isListening() const
{
    QMutexLocker locker(&d->mutex);
    return d->listening;
}

quint16 LokiTestReceiver::port() const
{
    QMutexLocker locker(&d->mutex);
    return d->port;
}

QUrl LokiTestReceiver::url() const
{
    QUrl url;
    url.setScheme(isTls() ? QStringLiteral("https") : QStringLiteral("http"));
    url.setHost(QStringLiteral("127.0.0.1"));
    url.setPort(port());
    return url;
}

QUrl LokiTestReceiver::pushUrl() const
{
    QUrl push = url();
    push.setPath(QStringLiteral("/loki/api/v1/push"));
    return push;
}

void LokiTestReceiver::failNext(int count, int status, const QByteArray &body, const QByteArray &retryAfter)
{
    QMutexLocker locker(&d->mutex);
    d->failCount = count;
    d->failStatus = status;
    d->failBody = body;
    d->failRetryAfter = retryAfter;
    d->failLocation.clear();
}

void LokiTestReceiver::redirectNext(int count, int status, const QUrl &location)
{
    QMutexLocker locker(&d->mutex);
    d->failCount = count;
    d->failStatus = status;
    d->failBody = QByteArray();
    d->failRetryAfter = QByteArray();
    d->failLocation = location.toEncoded();
}

void LokiTestReceiver::setFailRate(double rate, int status, quint32 seed)
{
    QMutexLocker locker(&d->mutex);
    d->failRate = std::clamp(rate, 0.0, 1.0);
    d->failRateStatus = status;
    d->failRandom.seed(seed);
}

void LokiTestReceiver::setResponseDelay(std::chrono::milliseconds delay)
{
    QMutexLocker locker(&d->mutex);
    d->delay = delay;
}

void LokiTestReceiver::closeMidResponseNext(int count)
{
    QMutexLocker locker(&d->mutex);
    d->closeMidCount = count;
}

void LokiTestReceiver::answerGarbageNext(int count)
{
    QMutexLocker locker(&d->mutex);
    d->garbageCount = count;
}

QList<ReceivedPush> LokiTestReceiver::pushes() const
{
    QMutexLocker locker(&d->mutex);
    return d->pushes;
}

int LokiTestReceiver::maxConcurrentRequests() const
{
    QMutexLocker locker(&d->mutex);
    return d->maxUnanswered;
}

int LokiTestReceiver::pushCount() const
{
    QMutexLocker locker(&d->mutex);
    return int(d->pushes.size());
}

namespace {
// As a query of Loki returns them: by timestamp (entries with equal timestamps in arrival order).
QList<ReceivedEntry> byTime(QList<ReceivedEntry> entries)
{
    std::stable_sort(entries.begin(), entries.end(), [](const ReceivedEntry &a, const ReceivedEntry &b) {
        return a.timestampNs < b.timestampNs;
    });
    return entries;
}
} // namespace

QList<ReceivedEntry> LokiTestReceiver::entries() const
{
    QMutexLocker locker(&d->mutex);
    return byTime(d->entries);
}

QList<ReceivedEntry> LokiTestReceiver::entriesInArrivalOrder() const
{
    QMutexLocker locker(&d->mutex);
    return d->entries;
}

QList<ReceivedEntry> LokiTestReceiver::entries(const QMap<QString, QString> &selector) const
{
    QMutexLocker locker(&d->mutex);
    QList<ReceivedEntry> matching;
    for (const ReceivedEntry &entry : std::as_const(d->entries)) {
        bool matches = true;
        for (auto it = selector.cbegin(); it != selector.cend() && matches; ++it) {
            const auto found = entry.labels.constFind(it.key());
            matches = found != entry.labels.cend() && *found == it.value();
        }
        if (matches)
            matching.append(entry);
    }
    return byTime(matching);
}

int LokiTestReceiver::entryCount() const
{
    QMutexLocker locker(&d->mutex);
    return int(std::min<qint64>(d->entryCount, std::numeric_limits<int>::max()));
}

void LokiTestReceiver::clear()
{
    QMutexLocker locker(&d->mutex);
    d->pushes.clear();
    d->entries.clear();
    d->stored.clear();
    d->entryCount = 0;
    d->duplicateCount = 0;
    d->maxUnanswered = d->unanswered;
}

int LokiTestReceiver::duplicateCount() const
{
    QMutexLocker locker(&d->mutex);
    return int(std::min<qint64>(d->duplicateCount, std::numeric_limits<int>::max()));
}

void LokiTestReceiver::setRecordEntries(bool record)
{
    QMutexLocker locker(&d->mutex);
    d->recordEntries = record;
}

void LokiTestReceiver::setRequiredBasicAuth(const QString &user, const QString &password)
{
    QMutexLocker locker(&d->mutex);
    d->settings.basicUser = user;
    d->settings.basicPassword = password;
}

void LokiTestReceiver::setRequiredBearerToken(const QString &token)
{
    QMutexLocker locker(&d->mutex);
    d->settings.bearerToken = token;
}

void LokiTestReceiver::setRequiredTenant(const QString &tenant)
{
    QMutexLocker locker(&d->mutex);
    d->settings.tenant = tenant;
}

void LokiTestReceiver::setEchoHeadersInErrors(bool echo)
{
    QMutexLocker locker(&d->mutex);
    d->settings.echoHeaders = echo;
}

void LokiTestReceiver::setRejectStructuredMetadata(bool reject)
{
    QMutexLocker locker(&d->mutex);
    d->settings.rejectStructuredMetadata = reject;
}

void LokiTestReceiver::setMaxBodyBytes(qint64 bytes)
{
    QMutexLocker locker(&d->mutex);
    d->settings.maxBodyBytes = std::max<qint64>(bytes, 0);
}

void LokiTestReceiver::setMaxDecodedBytes(qint64 bytes)
{
    QMutexLocker locker(&d->mutex);
    d->settings.maxDecodedBytes = std::max<qint64>(bytes, 0);
}

void LokiTestReceiver::setAcceptProtobuf(bool accept)
{
    QMutexLocker locker(&d->mutex);
    d->settings.acceptProtobuf = accept;
}

void LokiTestReceiver::setMaxLineBytes(qint64 bytes)
{
    QMutexLocker locker(&d->mutex);
    d->settings.maxLineBytes = std::max<qint64>(bytes, 0);
}

void LokiTestReceiver::setCheckTimestamps(bool check)
{
    QMutexLocker locker(&d->mutex);
    d->settings.checkAge = check;
}

void LokiTestReceiver::setGroupedErrors(bool grouped)
{
    QMutexLocker locker(&d->mutex);
    d->settings.groupErrors = grouped;
}

void LokiTestReceiver::setClockOffset(std::chrono::milliseconds offset)
{
    QMutexLocker locker(&d->mutex);
    d->settings.clockOffsetMs = offset.count();
}

void LokiTestReceiver::setMaxLabelNames(int count)
{
    QMutexLocker locker(&d->mutex);
    d->settings.maxLabelNames = std::max(count, 0);
}

void LokiTestReceiver::setPushCallback(PushCallback callback)
{
    QMutexLocker locker(&d->mutex);
    d->callback = std::move(callback);
}

QString LokiTestReceiver::formatLabels(const QMap<QString, QString> &labels)
{
    QString out = QStringLiteral("{");
    for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
        if (it != labels.cbegin())
            out += QLatin1String(", ");
        out += it.key();
        out += QLatin1Char('=');
        out += goQuote(it.value());
    }
    out += QLatin1Char('}');
    return out;
}
