// SPDX-License-Identifier: MIT
#include "lokitestreceiver.h"

#include <QtCore/QHash>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QMutex>
#include <QtCore/QMutexLocker>
#include <QtCore/QSet>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

#include <algorithm>
#include <limits>

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

// Loki renders a JSON stream's labels as `{a="b", c="d"}` and parses that text back; a bad name fails in
// the parser, which names the line and column of the offending character in that text.
QString labelError(const QMap<QString, QString> &labels)
{
    if (labels.isEmpty())
        return QStringLiteral("error at least one label pair is required per stream");
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
            return QStringLiteral(
                       "couldn't parse labels: 1:%1: parse error: unexpected character inside braces: '%2'")
                .arg(column + bad)
                .arg(c);
        }
        if (name.startsWith(QLatin1String("__")))
            return QStringLiteral("couldn't parse labels: label name \"%1\" is reserved: names starting "
                                  "with __ are for Loki's internal use")
                .arg(name);
        column += name.size() + 1 + goQuote(it.value()).size() + 2; // name="value",space
    }
    return QString();
}

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

// Undoes the Content-Encoding in place. A new encoding (gzip) is one more branch here.
bool decodeContentEncoding(const QByteArray &encoding, QByteArray &body, int &status, QString &error)
{
    Q_UNUSED(body);
    const QByteArray name = encoding.trimmed().toLower();
    if (name.isEmpty() || name == "identity")
        return true;
    status = 415;
    error = QStringLiteral("unsupported Content-Encoding: %1").arg(QString::fromLatin1(encoding));
    return false;
}

using FormatDecoder = bool (*)(const QByteArray &body, QList<ReceivedStream> &streams, QString &error);

struct BodyFormat
{
    const char *mediaType;
    FormatDecoder decode;
};

// The body formats understood. Protobuf+snappy is one more row: {"application/x-protobuf", decodeProto}.
const BodyFormat bodyFormats[] = {
    {"application/json", decodeJsonPush},
};

// Decodes a push body per its Content-Type and Content-Encoding; on failure sets the answer.
bool decodePushBody(const QByteArray &contentType, const QByteArray &contentEncoding, QByteArray body,
                    QList<ReceivedStream> &streams, int &status, QString &error)
{
    // Go's mime.ParseMediaType: the type is before any ';', case-insensitive, and must be there.
    const qsizetype semicolon = contentType.indexOf(';');
    const QByteArray mediaType =
        (semicolon < 0 ? contentType : contentType.left(semicolon)).trimmed().toLower();
    if (mediaType.isEmpty()) {
        status = 400;
        error = QStringLiteral("mime: no media type");
        return false;
    }
    for (const BodyFormat &format : bodyFormats) {
        if (mediaType == format.mediaType) {
            if (!decodeContentEncoding(contentEncoding, body, status, error))
                return false;
            if (format.decode(body, streams, error))
                return true;
            streams.clear(); // a push that does not decode is refused whole, as in Loki
            status = 400;
            return false;
        }
    }
    if (mediaType == "application/x-protobuf") {
        status = 415;
        error = QStringLiteral("this test receiver does not decode protobuf pushes yet");
        return false;
    }
    status = 400;
    error = QStringLiteral("unsupported Content-Type: %1").arg(QString::fromLatin1(mediaType));
    return false;
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
    if (!answer.retryAfter.isEmpty()) {
        out += "Retry-After: ";
        out += answer.retryAfter;
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
    // Fault injection, guarded by mutex, consumed by the server thread.
    int failCount = 0;
    int failStatus = 0;
    QByteArray failBody;
    QByteArray failRetryAfter;
    std::chrono::milliseconds delay{0};
    int closeMidCount = 0;
    int garbageCount = 0;
    // Listening state, guarded by mutex, written by the server thread.
    quint16 port = 0;
    bool listening = false;
};

struct LokiTestReceiver::Private : ReceiverState
{
    QThread thread;
    ReceiverServer *server = nullptr;

    void runInServerThread(const std::function<void()> &function);
};

// Lives in the receiver's thread and owns every socket; the facade reaches it through blocking calls.
class ReceiverServer : public QObject
{
public:
    explicit ReceiverServer(ReceiverState *d)
        : d(d)
    {}

    bool listen(quint16 port)
    {
        if (!tcp) {
            tcp = new QTcpServer(this);
            connect(tcp, &QTcpServer::newConnection, this, &ReceiverServer::acceptConnections);
        }
        if (tcp->isListening())
            tcp->close();
        const bool ok = tcp->listen(QHostAddress::LocalHost, port);
        QMutexLocker locker(&d->mutex);
        d->listening = ok;
        if (ok)
            d->port = tcp->serverPort();
        return ok;
    }

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
        {
            QMutexLocker locker(&d->mutex);
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
            }
        }
        if (push.fault == ReceivedPush::Fault::Garbage || push.fault == ReceivedPush::Fault::FailNext) {
            record(push, {});
            return answer;
        }

        int status = 204;
        QString error;
        QList<ReceivedStream> streams;
        QList<bool> valid;
        if (decodePushBody(push.contentType, push.contentEncoding, request.body, streams, status, error)) {
            // Like Loki, a stream with bad labels is refused and named; the others are stored.
            QStringList errors;
            valid.reserve(streams.size());
            for (const ReceivedStream &stream : std::as_const(streams)) {
                const QString why = labelError(stream.labels);
                valid.append(why.isEmpty());
                if (!why.isEmpty())
                    errors.append(why);
            }
            if (!errors.isEmpty()) {
                status = 400;
                error = errors.join(QLatin1Char('\n'));
            }
        }
        push.status = status;
        push.error = error;
        push.streams = std::move(streams);
        QList<ReceivedStream> stored;
        store(push, valid, stored);
        record(push, stored);

        answer.status = status;
        if (!error.isEmpty())
            answer.body = error.toUtf8() + '\n';
        return answer;
    }

    // Stores the entries of the valid streams of @p push, dropping exact duplicates.
    void store(ReceivedPush &push, const QList<bool> &valid, QList<ReceivedStream> &stored)
    {
        QMutexLocker locker(&d->mutex);
        for (qsizetype i = 0; i < push.streams.size(); ++i) {
            if (!valid.at(i))
                continue;
            const ReceivedStream &stream = push.streams.at(i);
            ReceivedStream kept;
            kept.labels = stream.labels;
            if (!d->recordEntries) {
                d->entryCount += stream.entries.size();
                kept.entries = stream.entries;
                stored.append(std::move(kept));
                continue;
            }
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
    }

    void record(const ReceivedPush &push, const QList<ReceivedStream> &stored)
    {
        LokiTestReceiver::PushCallback callback;
        {
            QMutexLocker locker(&d->mutex);
            callback = d->callback;
            d->pushes.append(push);
            if (!d->recordEntries)
                d->pushes.last().streams.clear();
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
        }
        if (delay.count() <= 0) {
            write(c, answer);
            return;
        }
        c->busy = true;
        QTimer::singleShot(delay, Qt::PreciseTimer, c, [this, c, answer] {
            c->busy = false;
            write(c, answer);
            process(c);
        });
    }

    void write(Connection *c, const HttpAnswer &answer)
    {
        switch (answer.kind) {
        case HttpAnswer::Kind::Normal:
            c->socket->write(renderAnswer(answer));
            if (!answer.close)
                return;
            break;
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
    QTcpServer *tcp = nullptr;
    QSet<QTcpSocket *> sockets;
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
    d->runInServerThread([this, port, &ok] { ok = d->server->listen(port); });
    return ok;
}

void LokiTestReceiver::stop()
{
    d->runInServerThread([this] { d->server->stop(); });
}

bool LokiTestReceiver::restart()
{
    return listen(port());
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
    url.setScheme(QStringLiteral("http"));
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

int LokiTestReceiver::pushCount() const
{
    QMutexLocker locker(&d->mutex);
    return int(d->pushes.size());
}

QList<ReceivedEntry> LokiTestReceiver::entries() const
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
    return matching;
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
