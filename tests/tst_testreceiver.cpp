// SPDX-License-Identifier: MIT
// The test receiver, spoken to over real loopback HTTP: it must answer like Loki and fail on demand.

#include "lokitestcertificates.h"
#include "lokitestreceiver.h"

#include "push.pb.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QMutex>
#include <QtCore/QThread>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#if QT_CONFIG(ssl)
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslSocket>
#endif

#include <snappy.h>
#include <zlib.h>

#include <memory>

using namespace std::chrono_literals;

namespace {
constexpr int timeoutMs = 30000;

using Headers = QList<QPair<QByteArray, QByteArray>>;

struct Answer
{
    bool finished = false;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
    int status = 0;
    QByteArray body;
    QByteArray retryAfter;
};

const Headers json = {{"Content-Type", "application/json"}};

QNetworkRequest makeRequest(const QUrl &url, const Headers &headers)
{
    QNetworkRequest request(url);
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    for (const auto &header : headers)
        request.setRawHeader(header.first, header.second);
    return request;
}

Answer finish(QNetworkReply *reply)
{
    Answer answer;
    QSignalSpy finished(reply, &QNetworkReply::finished);
    answer.finished = reply->isFinished() || finished.wait(timeoutMs);
    answer.error = reply->error();
    answer.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    answer.body = reply->readAll();
    answer.retryAfter = reply->rawHeader("Retry-After");
    reply->deleteLater();
    return answer;
}

// sendCustomRequest rather than post(): post() would invent a Content-Type when there is none.
Answer send(QNetworkAccessManager &nam, const QUrl &url, const QByteArray &body,
            const Headers &headers = json)
{
    return finish(nam.sendCustomRequest(makeRequest(url, headers), "POST", body));
}

Answer get(QNetworkAccessManager &nam, const QUrl &url)
{
    return finish(nam.get(makeRequest(url, {})));
}

// A bare HTTP/1.1 client over one socket, to see what QNetworkAccessManager hides: connection reuse,
// pipelining, requests split in pieces, chunked bodies.
struct RawClient
{
    QTcpSocket socket;
    QByteArray buffer;

    bool connectTo(quint16 port)
    {
        socket.connectToHost(QHostAddress::LocalHost, port);
        socket.setSocketOption(QAbstractSocket::LowDelayOption, 1);
        return socket.waitForConnected(timeoutMs);
    }

    void write(const QByteArray &bytes)
    {
        socket.write(bytes);
        socket.waitForBytesWritten(timeoutMs);
    }

    // Reads one answer; returns its status (0 when the connection ended first).
    int readAnswer(QByteArray *body = nullptr)
    {
        qsizetype headEnd;
        while ((headEnd = buffer.indexOf("\r\n\r\n")) < 0) {
            if (!socket.waitForReadyRead(timeoutMs))
                return 0;
            buffer += socket.readAll();
        }
        const QByteArray head = buffer.left(headEnd);
        qsizetype length = 0;
        for (const QByteArray &line : head.split('\n')) {
            if (line.toLower().startsWith("content-length:"))
                length = line.mid(15).trimmed().toLongLong();
        }
        while (buffer.size() < headEnd + 4 + length) {
            if (!socket.waitForReadyRead(timeoutMs))
                return 0;
            buffer += socket.readAll();
        }
        if (body)
            *body = buffer.mid(headEnd + 4, length);
        buffer.remove(0, headEnd + 4 + length);
        const qsizetype statusEnd = head.indexOf("\r\n");
        const QList<QByteArray> statusLine = (statusEnd < 0 ? head : head.left(statusEnd)).split(' ');
        return statusLine.size() >= 2 ? statusLine.at(1).toInt() : -1;
    }
};

QByteArray rawPush(const QByteArray &body, const QByteArray &extraHeaders = QByteArray())
{
    return "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           QByteArray::number(body.size()) + "\r\n" + extraHeaders + "\r\n" + body;
}

QByteArray onePush(const QByteArray &app, const QByteArray &timestamp, const QByteArray &line)
{
    return R"({"streams":[{"stream":{"app":")" + app + R"("},"values":[[")" + timestamp + R"(",")" + line +
           R"("]]}]})";
}

const Headers protobuf = {{"Content-Type", "application/x-protobuf"}};

// A protobuf push body as Loki's agents send it: the serialized message, snappy block-compressed.
QByteArray snappyBody(const logproto::PushRequest &request)
{
    const std::string serialized = request.SerializeAsString();
    std::string compressed;
    snappy::Compress(serialized.data(), serialized.size(), &compressed);
    return QByteArray(compressed.data(), qsizetype(compressed.size()));
}

logproto::StreamAdapter *addStream(logproto::PushRequest &request, const std::string &labels)
{
    logproto::StreamAdapter *stream = request.add_streams();
    stream->set_labels(labels);
    return stream;
}

logproto::EntryAdapter *addEntry(logproto::StreamAdapter *stream, qint64 seconds, int nanos,
                                 const std::string &line,
                                 const QList<QPair<std::string, std::string>> &metadata = {})
{
    logproto::EntryAdapter *entry = stream->add_entries();
    entry->mutable_timestamp()->set_seconds(seconds);
    entry->mutable_timestamp()->set_nanos(nanos);
    entry->set_line(line);
    for (const auto &pair : metadata) {
        logproto::LabelPairAdapter *label = entry->add_structuredmetadata();
        label->set_name(pair.first);
        label->set_value(pair.second);
    }
    return entry;
}

QByteArray onePushProto(const std::string &labels, const std::string &line)
{
    logproto::PushRequest request;
    addEntry(addStream(request, labels), 1, 0, line);
    return snappyBody(request);
}

// gzip (RFC 1952) or, with gzip false, raw DEFLATE as Go's compress/flate reads it.
QByteArray deflateBody(const QByteArray &data, bool gzip)
{
    z_stream stream{};
    if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 16 + MAX_WBITS : -MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return QByteArray();
    QByteArray out(qsizetype(deflateBound(&stream, uLong(data.size()))), Qt::Uninitialized);
    stream.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.constData()));
    stream.avail_in = uInt(data.size());
    stream.next_out = reinterpret_cast<Bytef *>(out.data());
    stream.avail_out = uInt(out.size());
    const int result = deflate(&stream, Z_FINISH);
    out.resize(result == Z_STREAM_END ? qsizetype(stream.total_out) : 0);
    deflateEnd(&stream);
    return out;
}

QByteArray basic(const QByteArray &user, const QByteArray &password)
{
    return "Basic " + (user + ':' + password).toBase64();
}
} // namespace

class TestReceiverTest : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void readyAnswers200();
    void timestampsAreCheckedOnTheReceiversClock();
    void unknownPathAnswers404();
    void validPushIsStoredExactly();
    void invalidPushIsRefusedWithLokiWording_data();
    void invalidPushIsRefusedWithLokiWording();
    void partlyInvalidPushStoresTheValidStreams();
    void labelsThatDoNotParseRefuseTheWholePush();
    void unsupportedContentEncodingAnswers400_data();
    void unsupportedContentEncodingAnswers400();
    void exactDuplicateIsDroppedAndCounted();
    void clearForgetsTheDuplicateFilter();
    void entriesSelectsByLabels();
    void failNextAnswersStatusWithRetryAfterThenRecovers();
    void responseDelayHoldsTheAnswer();
    void closeMidResponseFailsTheClientAndKeepsServing();
    void garbageFailsTheClientAndKeepsServing();
    void stopRefusesConnectionsAndRestartServesOnTheSamePort();
    void keepAliveServesSeveralRequestsOnOneConnection();
    void connectionCloseIsHonoured();
    void requestSplitIntoManyPiecesIsReassembled();
    void chunkedBodyIsDecoded();
    void concurrentConnectionsAreAllServed();
    void countOnlyModeCountsWithoutStoring();
    void pushCallbackRunsOnTheReceiverThreadWithStoredEntries();
    void formatLabelsQuotesLikeLoki();

    // Protobuf, compression, structured metadata.
    void protobufSnappyPushIsDecoded();
    void protobufLabelTextIsParsedLikeLoki_data();
    void protobufLabelTextIsParsedLikeLoki();
    void corruptSnappyAnswers400();
    void invalidProtobufAnswers400();
    void compressedJsonIsDecoded_data();
    void compressedJsonIsDecoded();
    void corruptGzipAnswers400();
    void gzipProtobufIsDecoded();
    void countOnlyModeCountsProtobufWithLimits();

    // Limits.
    void rejectStructuredMetadataRefusesThoseEntries_data();
    void rejectStructuredMetadataRefusesThoseEntries();
    void maxLineBytesRefusesLongLines_data();
    void maxLineBytesRefusesLongLines();
    void maxLabelNamesRefusesTheStream();
    void protobufRefusedWhenNotAccepted();
    void maxBodyBytesAnswers413();
    void maxDecodedBytesAnswers500_data();
    void maxDecodedBytesAnswers500();

    // Auth and TLS.
    void basicAuthIsRequired();
    void bearerTokenIsRequired();
    void eitherCredentialPassesWhenBothAreRequired();
    void tenantIsRequired();
    void httpsWithCaSignedCertificate();
    void mutualTlsNeedsTheClientCertificate();

private:
    std::unique_ptr<LokiTestReceiver> receiver;
    std::unique_ptr<QNetworkAccessManager> nam;
};

void TestReceiverTest::init()
{
    receiver = std::make_unique<LokiTestReceiver>();
    QVERIFY(receiver->listen());
    QVERIFY(receiver->isListening());
    QVERIFY(receiver->port() != 0);
    nam = std::make_unique<QNetworkAccessManager>();
}

void TestReceiverTest::cleanup()
{
    nam.reset();
    receiver.reset();
}

void TestReceiverTest::readyAnswers200()
{
    QUrl url = receiver->url();
    url.setPath(QStringLiteral("/ready"));
    const Answer answer = get(*nam, url);
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 200);
    QCOMPARE(answer.body.trimmed(), QByteArray("ready"));
    QCOMPARE(receiver->pushCount(), 0);
}

void TestReceiverTest::timestampsAreCheckedOnTheReceiversClock()
{
    receiver->setCheckTimestamps(true);
    receiver->setClockOffset(std::chrono::hours(24 * 30)); // the receiver lives a month ahead
    const qint64 realNowNs = QDateTime::currentMSecsSinceEpoch() * 1000000;
    const QByteArray now = QByteArray::number(realNowNs);
    const QByteArray monthAhead = QByteArray::number(realNowNs + qint64(30) * 24 * 3600 * 1000000000);
    Answer answer = send(*nam, receiver->pushUrl(), onePush("a", now, "real now is a month old there"));
    QCOMPARE(answer.status, 400);
    QVERIFY2(answer.body.contains("has timestamp too old"), answer.body.constData());
    answer = send(*nam, receiver->pushUrl(), onePush("a", monthAhead, "on time there"));
    QCOMPARE(answer.status, 204);
    QCOMPARE(receiver->entryCount(), 1);
    receiver->setClockOffset(std::chrono::hours(-24)); // now a day behind: real now is too new
    answer = send(*nam, receiver->pushUrl(), onePush("a", now, "too new there"));
    QCOMPARE(answer.status, 400);
    QVERIFY2(answer.body.contains("has timestamp too new"), answer.body.constData());
    QCOMPARE(receiver->entryCount(), 1);
}

void TestReceiverTest::unknownPathAnswers404()
{
    QUrl url = receiver->url();
    url.setPath(QStringLiteral("/loki/api/v1/query"));
    const Answer answer = get(*nam, url);
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 404);
    QCOMPARE(receiver->pushCount(), 0);
}

void TestReceiverTest::validPushIsStoredExactly()
{
    const QByteArray body = R"({"streams":[
        {"stream":{"service":"kiosk","level":"info"},
         "values":[["1732665600000000000","first line"],
                   ["1732665600000000001","second line",{"trace_id":"abc","user":"7"}]]},
        {"stream":{"service":"kiosk","level":"error"},
         "values":[["1732665600000000002","älter \"quoted\""]]}]})";
    const Answer answer = send(*nam, receiver->pushUrl(), body,
                               {{"Content-Type", "application/json"}, {"X-Scope-OrgID", "tenant-1"}});
    QVERIFY(answer.finished);
    QCOMPARE(answer.error, QNetworkReply::NoError);
    QCOMPARE(answer.status, 204);
    QVERIFY(answer.body.isEmpty());

    const QList<ReceivedEntry> entries = receiver->entriesInArrivalOrder();
    QCOMPARE(entries.size(), 3);
    QCOMPARE(receiver->entryCount(), 3);
    const QMap<QString, QString> info{{QStringLiteral("service"), QStringLiteral("kiosk")},
                                      {QStringLiteral("level"), QStringLiteral("info")}};
    QCOMPARE(entries.at(0).labels, info);
    QCOMPARE(entries.at(0).timestampNs, Q_INT64_C(1732665600000000000));
    QCOMPARE(entries.at(0).line, QStringLiteral("first line"));
    QVERIFY(entries.at(0).metadata.isEmpty());
    QCOMPARE(entries.at(1).timestampNs, Q_INT64_C(1732665600000000001));
    QCOMPARE(entries.at(1).line, QStringLiteral("second line"));
    const QMap<QString, QString> metadata{{QStringLiteral("trace_id"), QStringLiteral("abc")},
                                          {QStringLiteral("user"), QStringLiteral("7")}};
    QCOMPARE(entries.at(1).metadata, metadata);
    QCOMPARE(entries.at(2).labels.value(QStringLiteral("level")), QStringLiteral("error"));
    QCOMPARE(entries.at(2).line, QStringLiteral("älter \"quoted\""));

    const QList<ReceivedPush> pushes = receiver->pushes();
    QCOMPARE(pushes.size(), 1);
    QCOMPARE(pushes.at(0).status, 204);
    QVERIFY(pushes.at(0).error.isEmpty());
    QCOMPARE(pushes.at(0).contentType, QByteArray("application/json"));
    QCOMPARE(pushes.at(0).headers.value("x-scope-orgid"), QByteArray("tenant-1"));
    QCOMPARE(pushes.at(0).bodyBytes, qint64(body.size()));
    QCOMPARE(pushes.at(0).streams.size(), 2);
    QCOMPARE(pushes.at(0).streams.at(0).labels, info);
    QCOMPARE(pushes.at(0).streams.at(0).entries.size(), 2);
    QCOMPARE(pushes.at(0).duplicates, 0);
    QCOMPARE(pushes.at(0).fault, ReceivedPush::Fault::None);
}

void TestReceiverTest::invalidPushIsRefusedWithLokiWording_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<QString>("error");

    QTest::newRow("label name with a dash")
        << QByteArray(R"({"streams":[{"stream":{"app-x":"t"},"values":[["1","a"]]}]})")
        << QByteArray("application/json")
        << QStringLiteral("couldn't parse labels: 1:5: parse error: unexpected character inside braces: '-'");
    QTest::newRow("label name with a dot, after another label")
        << QByteArray(R"({"streams":[{"stream":{"app":"t","http.method":"GET"},"values":[["1","a"]]}]})")
        << QByteArray("application/json")
        << QStringLiteral(
               "couldn't parse labels: 1:15: parse error: unexpected character inside braces: '.'");
    QTest::newRow("label name starting with a digit")
        << QByteArray(R"({"streams":[{"stream":{"1app":"t"},"values":[["1","a"]]}]})")
        << QByteArray("application/json") << QStringLiteral("couldn't parse labels: 1:2: parse error");
    QTest::newRow("reserved label name")
        << QByteArray(R"({"streams":[{"stream":{"__name__":"t"},"values":[["1","a"]]}]})")
        << QByteArray("application/json")
        << QStringLiteral("couldn't parse labels: label name \"__name__\" is reserved");
    QTest::newRow("no labels") << QByteArray(R"({"streams":[{"stream":{},"values":[["1","a"]]}]})")
                               << QByteArray("application/json")
                               << QStringLiteral("error at least one label pair is required per stream");
    QTest::newRow("no Content-Type") << onePush("t", "1", "a") << QByteArray()
                                     << QStringLiteral("mime: no media type");
    // Loki takes every media type but JSON for protobuf.
    QTest::newRow("form-encoded") << onePush("t", "1", "a") << QByteArray("application/x-www-form-urlencoded")
                                  << QStringLiteral("snappy: corrupt input");
    QTest::newRow("invalid JSON") << QByteArray(R"({"streams":[{"stream":{"app":"t"},"values":[["1","a"]]})")
                                  << QByteArray("application/json")
                                  << QStringLiteral("error parsing push request: invalid JSON");
    QTest::newRow("timestamp as a number")
        << QByteArray(R"({"streams":[{"stream":{"app":"t"},"values":[[1732665600000000000,"a"]]}]})")
        << QByteArray("application/json") << QStringLiteral("is not a string of decimal nanoseconds");
    QTest::newRow("timestamp not decimal")
        << onePush("t", "17326656e9", "a") << QByteArray("application/json")
        << QStringLiteral("is not a string of decimal nanoseconds");
    QTest::newRow("second stream malformed")
        << QByteArray(
               R"({"streams":[{"stream":{"app":"t"},"values":[["1","a"]]},{"stream":{"app":"u"},"values":[["1"]]}]})")
        << QByteArray("application/json") << QStringLiteral("error parsing push request:");
    QTest::newRow("entry without a line")
        << QByteArray(R"({"streams":[{"stream":{"app":"t"},"values":[["1"]]}]})")
        << QByteArray("application/json") << QStringLiteral("error parsing push request:");
}

void TestReceiverTest::invalidPushIsRefusedWithLokiWording()
{
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, contentType);
    QFETCH(QString, error);

    Headers headers;
    if (!contentType.isEmpty())
        headers.append({"Content-Type", contentType});
    const Answer answer = send(*nam, receiver->pushUrl(), body, headers);
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 400);
    QVERIFY2(QString::fromUtf8(answer.body).contains(error), answer.body.constData());
    QCOMPARE(receiver->entryCount(), 0);
    QVERIFY(receiver->entriesInArrivalOrder().isEmpty());
    const QList<ReceivedPush> pushes = receiver->pushes();
    QCOMPARE(pushes.size(), 1);
    QCOMPARE(pushes.at(0).status, 400);
    QVERIFY2(pushes.at(0).error.contains(error), qPrintable(pushes.at(0).error));
    QCOMPARE(pushes.at(0).error, QString::fromUtf8(answer.body).trimmed());
    QVERIFY(pushes.at(0).streams.isEmpty() || error.startsWith(QLatin1String("couldn't parse labels")) ||
            error.startsWith(QLatin1String("error at least one label")));
}

void TestReceiverTest::partlyInvalidPushStoresTheValidStreams()
{
    // A stream without labels is refused by itself (Loki's distributor); the others are stored.
    const QByteArray body = R"({"streams":[
        {"stream":{"app":"good"},"values":[["10","kept"]]},
        {"stream":{},"values":[["11","refused"]]},
        {"stream":{"app":"also-good"},"values":[["12","kept too"]]}]})";
    const Answer answer = send(*nam, receiver->pushUrl(), body);
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 400);
    QCOMPARE(answer.body, QByteArray("error at least one label pair is required per stream\n"));
    const QList<ReceivedEntry> entries = receiver->entriesInArrivalOrder();
    QCOMPARE(entries.size(), 2);
    QCOMPARE(entries.at(0).line, QStringLiteral("kept"));
    QCOMPARE(entries.at(1).line, QStringLiteral("kept too"));
    QCOMPARE(receiver->pushes().at(0).streams.size(), 3); // decoded, though not all stored
}

void TestReceiverTest::labelsThatDoNotParseRefuseTheWholePush()
{
    // Loki parses every stream's labels while reading the request: one bad name refuses everything.
    const QByteArray body = R"({"streams":[
        {"stream":{"app":"good"},"values":[["10","not kept"]]},
        {"stream":{"app-x":"bad"},"values":[["11","refused"]]}]})";
    const Answer answer = send(*nam, receiver->pushUrl(), body);
    QCOMPARE(answer.status, 400);
    QVERIFY(answer.body.startsWith("couldn't parse labels: 1:5:"));
    QCOMPARE(receiver->entryCount(), 0);

    logproto::PushRequest request;
    addEntry(addStream(request, R"({app="good"})"), 1, 0, "not kept");
    addEntry(addStream(request, R"({app="t", http.method="GET"})"), 1, 0, "refused");
    const Answer proto = send(*nam, receiver->pushUrl(), snappyBody(request), protobuf);
    QCOMPARE(proto.status, 400);
    QCOMPARE(
        proto.body,
        QByteArray("couldn't parse labels: 1:15: parse error: unexpected character inside braces: '.'\n"));
    QCOMPARE(receiver->entryCount(), 0);
}

void TestReceiverTest::unsupportedContentEncodingAnswers400_data()
{
    QTest::addColumn<QByteArray>("encoding");
    QTest::newRow("br") << QByteArray("br");
    QTest::newRow("identity") << QByteArray("identity"); // Loki takes no Content-Encoding, not "identity"
    QTest::newRow("GZIP") << QByteArray("GZIP");         // Loki matches exactly
}

void TestReceiverTest::unsupportedContentEncodingAnswers400()
{
    QFETCH(QByteArray, encoding);
    const Answer answer = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"),
                               {{"Content-Type", "application/json"}, {"Content-Encoding", encoding}});
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 400);
    QCOMPARE(answer.body, "Content-Encoding \"" + encoding + "\" not supported\n");
    QCOMPARE(receiver->entryCount(), 0);
    QCOMPARE(receiver->pushes().at(0).contentEncoding, encoding);
    QCOMPARE(receiver->pushes().at(0).format, ReceivedPush::Format::None);
}

void TestReceiverTest::exactDuplicateIsDroppedAndCounted()
{
    const QByteArray body = R"({"streams":[{"stream":{"app":"t"},"values":[["5","one"],["6","two"]]}]})";
    QCOMPARE(send(*nam, receiver->pushUrl(), body).status, 204);
    QCOMPARE(receiver->entryCount(), 2);

    // The same push again (an answer lost, a retry): Loki answers 204 and stores nothing new.
    QCOMPARE(send(*nam, receiver->pushUrl(), body).status, 204);
    QCOMPARE(receiver->entryCount(), 2);
    QCOMPARE(receiver->pushes().at(1).duplicates, 2);
    QCOMPARE(receiver->duplicateCount(), 2);

    // Same timestamp, other line; same line, other stream: not duplicates.
    const QByteArray other = R"({"streams":[{"stream":{"app":"t"},"values":[["5","one!"]]},
                                            {"stream":{"app":"u"},"values":[["5","one"]]}]})";
    QCOMPARE(send(*nam, receiver->pushUrl(), other).status, 204);
    QCOMPARE(receiver->entryCount(), 4);
    QCOMPARE(receiver->pushes().at(2).duplicates, 0);
}

void TestReceiverTest::clearForgetsTheDuplicateFilter()
{
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "1", "a")).status, 204);
    receiver->clear();
    QCOMPARE(receiver->entryCount(), 0);
    QCOMPARE(receiver->pushCount(), 0);
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "1", "a")).status, 204);
    QCOMPARE(receiver->entryCount(), 1);
    QCOMPARE(receiver->pushes().at(0).duplicates, 0);
}

void TestReceiverTest::entriesSelectsByLabels()
{
    const QByteArray body = R"({"streams":[
        {"stream":{"app":"a","level":"info"},"values":[["1","a-info"]]},
        {"stream":{"app":"a","level":"warn"},"values":[["2","a-warn"]]},
        {"stream":{"app":"b","level":"info"},"values":[["3","b-info"]]}]})";
    QCOMPARE(send(*nam, receiver->pushUrl(), body).status, 204);
    QCOMPARE(receiver->entries({{QStringLiteral("app"), QStringLiteral("a")}}).size(), 2);
    const QList<ReceivedEntry> info = receiver->entries(
        {{QStringLiteral("app"), QStringLiteral("b")}, {QStringLiteral("level"), QStringLiteral("info")}});
    QCOMPARE(info.size(), 1);
    QCOMPARE(info.at(0).line, QStringLiteral("b-info"));
    QVERIFY(receiver->entries({{QStringLiteral("host"), QStringLiteral("x")}}).isEmpty());
    QCOMPARE(receiver->entries({}).size(), 3);
}

void TestReceiverTest::failNextAnswersStatusWithRetryAfterThenRecovers()
{
    receiver->failNext(2, 429, "Ingestion rate limit exceeded", "7");
    for (int i = 0; i < 2; ++i) {
        const Answer answer = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"));
        QVERIFY(answer.finished);
        QCOMPARE(answer.status, 429);
        QCOMPARE(answer.body, QByteArray("Ingestion rate limit exceeded"));
        QCOMPARE(answer.retryAfter, QByteArray("7"));
        QCOMPARE(receiver->entryCount(), 0);
    }
    const Answer answer = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"));
    QCOMPARE(answer.status, 204);
    QVERIFY(answer.retryAfter.isEmpty());
    QCOMPARE(receiver->entryCount(), 1);

    const QList<ReceivedPush> pushes = receiver->pushes();
    QCOMPARE(pushes.size(), 3);
    QCOMPARE(pushes.at(0).status, 429);
    QCOMPARE(pushes.at(0).error, QStringLiteral("Ingestion rate limit exceeded"));
    QCOMPARE(pushes.at(0).fault, ReceivedPush::Fault::FailNext);
    QCOMPARE(pushes.at(2).fault, ReceivedPush::Fault::None);

    receiver->failNext(1, 503);
    const Answer unavailable = send(*nam, receiver->pushUrl(), onePush("t", "2", "b"));
    QCOMPARE(unavailable.status, 503);
    QVERIFY(unavailable.retryAfter.isEmpty());
}

void TestReceiverTest::responseDelayHoldsTheAnswer()
{
    constexpr auto delay = 400ms;
    receiver->setResponseDelay(delay);
    QElapsedTimer elapsed;
    elapsed.start();
    const Answer answer = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"));
    const qint64 tookNs = elapsed.nsecsElapsed();
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 204);
    QVERIFY2(tookNs >= std::chrono::nanoseconds(delay).count(), QByteArray::number(tookNs).constData());

    // The delay covers every answer, /ready too.
    QUrl ready = receiver->url();
    ready.setPath(QStringLiteral("/ready"));
    elapsed.restart();
    QCOMPARE(get(*nam, ready).status, 200);
    QVERIFY(elapsed.nsecsElapsed() >= std::chrono::nanoseconds(delay).count());

    receiver->setResponseDelay(0ms);
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "2", "b")).status, 204);
}

void TestReceiverTest::closeMidResponseFailsTheClientAndKeepsServing()
{
    // On the wire: half a status line, then the end of the connection.
    receiver->closeMidResponseNext(1);
    RawClient raw;
    QVERIFY(raw.connectTo(receiver->port()));
    raw.write(rawPush(onePush("t", "1", "a")));
    QVERIFY(raw.socket.waitForDisconnected(timeoutMs));
    QCOMPARE(raw.buffer + raw.socket.readAll(), QByteArray("HTTP/1.1 2"));
    // Loki took the push; only its answer was lost.
    QCOMPARE(receiver->entryCount(), 1);
    QCOMPARE(receiver->pushes().at(0).fault, ReceivedPush::Fault::CloseMidResponse);
    QCOMPARE(receiver->pushes().at(0).status, 204);

    // QNetworkAccessManager resends a request cut this way (up to 3 times in Qt 6.4) before it reports
    // RemoteHostClosedError, so every answer is cut here; the resends are duplicates.
    receiver->closeMidResponseNext(100);
    const Answer cut = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"));
    QVERIFY(cut.finished);
    QVERIFY(cut.error != QNetworkReply::NoError);
    QCOMPARE(cut.status, 0);
    QVERIFY(receiver->pushCount() >= 2);
    QCOMPARE(receiver->entryCount(), 1);

    receiver->closeMidResponseNext(0);
    const Answer again = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"));
    QCOMPARE(again.error, QNetworkReply::NoError);
    QCOMPARE(again.status, 204);
    QCOMPARE(receiver->entryCount(), 1);
    QCOMPARE(receiver->pushes().last().duplicates, 1);
    QCOMPARE(receiver->pushes().last().fault, ReceivedPush::Fault::None);
}

void TestReceiverTest::garbageFailsTheClientAndKeepsServing()
{
    receiver->answerGarbageNext(1);
    RawClient raw;
    QVERIFY(raw.connectTo(receiver->port()));
    raw.write(rawPush(onePush("t", "1", "a")));
    QVERIFY(raw.socket.waitForDisconnected(timeoutMs));
    const QByteArray received = raw.buffer + raw.socket.readAll();
    QVERIFY(!received.isEmpty());
    QVERIFY(!received.startsWith("HTTP/"));
    QCOMPARE(receiver->entryCount(), 0);
    QCOMPARE(receiver->pushes().at(0).fault, ReceivedPush::Fault::Garbage);
    QCOMPARE(receiver->pushes().at(0).status, 0);

    receiver->answerGarbageNext(100); // QNetworkAccessManager resends before it gives up, as above
    const Answer garbage = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"));
    QVERIFY(garbage.finished);
    QVERIFY(garbage.error != QNetworkReply::NoError);
    QCOMPARE(receiver->entryCount(), 0);

    receiver->answerGarbageNext(0);
    const Answer normal = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"));
    QCOMPARE(normal.error, QNetworkReply::NoError);
    QCOMPARE(normal.status, 204);
    QCOMPARE(receiver->entryCount(), 1);
}

void TestReceiverTest::stopRefusesConnectionsAndRestartServesOnTheSamePort()
{
    const quint16 port = receiver->port();
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "1", "a")).status, 204);
    RawClient idle;
    QVERIFY(idle.connectTo(port));
    idle.write(rawPush(onePush("t", "2", "b")));
    QCOMPARE(idle.readAnswer(), 204);

    receiver->stop();
    QVERIFY(!receiver->isListening());
    QCOMPARE(receiver->port(), port);
    // Open connections are dropped...
    QVERIFY(idle.socket.state() == QAbstractSocket::UnconnectedState ||
            idle.socket.waitForDisconnected(timeoutMs));
    // ...and new ones refused.
    QTcpSocket probe;
    probe.connectToHost(QHostAddress::LocalHost, port);
    QVERIFY(!probe.waitForConnected(timeoutMs));
    QCOMPARE(probe.error(), QAbstractSocket::ConnectionRefusedError);
    QNetworkAccessManager fresh;
    const Answer refused = send(fresh, receiver->pushUrl(), onePush("t", "3", "c"));
    QVERIFY(refused.finished);
    QCOMPARE(refused.error, QNetworkReply::ConnectionRefusedError);
    QCOMPARE(receiver->pushCount(), 2);

    QVERIFY(receiver->restart());
    QVERIFY(receiver->isListening());
    QCOMPARE(receiver->port(), port);
    QCOMPARE(send(fresh, receiver->pushUrl(), onePush("t", "4", "d")).status, 204);
    QCOMPARE(receiver->entryCount(), 3);
}

void TestReceiverTest::keepAliveServesSeveralRequestsOnOneConnection()
{
    RawClient client;
    QVERIFY(client.connectTo(receiver->port()));
    for (int i = 0; i < 3; ++i) {
        client.write(rawPush(onePush("t", QByteArray::number(i), "sequential")));
        QCOMPARE(client.readAnswer(), 204);
    }
    // Pipelined: three requests in one write, answered in order on the same connection.
    client.write(rawPush(onePush("t", "10", "x")) + rawPush(onePush("t-x", "11", "y")) +
                 "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    QCOMPARE(client.readAnswer(), 204);
    QCOMPARE(client.readAnswer(), 204);
    QByteArray body;
    QCOMPARE(client.readAnswer(&body), 200);
    QCOMPARE(body, QByteArray("ready\n"));
    QCOMPARE(client.socket.state(), QAbstractSocket::ConnectedState);
    QCOMPARE(receiver->entryCount(), 5);
    QCOMPARE(receiver->pushCount(), 5);
}

void TestReceiverTest::connectionCloseIsHonoured()
{
    RawClient client;
    QVERIFY(client.connectTo(receiver->port()));
    client.write(rawPush(onePush("t", "1", "a"), "Connection: close\r\n"));
    QCOMPARE(client.readAnswer(), 204);
    QVERIFY(client.socket.state() == QAbstractSocket::UnconnectedState ||
            client.socket.waitForDisconnected(timeoutMs));
    QCOMPARE(receiver->entryCount(), 1);
}

void TestReceiverTest::requestSplitIntoManyPiecesIsReassembled()
{
    RawClient client;
    QVERIFY(client.connectTo(receiver->port()));
    const QByteArray request = rawPush(onePush("split", "42", "in pieces"));
    for (qsizetype at = 0; at < request.size(); at += 5)
        client.write(request.mid(at, 5));
    QCOMPARE(client.readAnswer(), 204);
    const QList<ReceivedEntry> entries = receiver->entriesInArrivalOrder();
    QCOMPARE(entries.size(), 1);
    QCOMPARE(entries.at(0).line, QStringLiteral("in pieces"));
    QCOMPARE(entries.at(0).timestampNs, qint64(42));
}

void TestReceiverTest::chunkedBodyIsDecoded()
{
    const QByteArray body = onePush("chunked", "7", "in chunks");
    QByteArray request =
        "POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (qsizetype at = 0; at < body.size(); at += 10) {
        const QByteArray chunk = body.mid(at, 10);
        request += QByteArray::number(chunk.size(), 16) + "\r\n" + chunk + "\r\n";
    }
    request += "0\r\n\r\n";
    RawClient client;
    QVERIFY(client.connectTo(receiver->port()));
    client.write(request);
    QCOMPARE(client.readAnswer(), 204);
    QCOMPARE(receiver->entriesInArrivalOrder().value(0).line, QStringLiteral("in chunks"));
    QCOMPARE(receiver->pushes().at(0).bodyBytes, qint64(body.size()));
    // The connection is still good for the next request.
    client.write(rawPush(onePush("chunked", "8", "after")));
    QCOMPARE(client.readAnswer(), 204);
    QCOMPARE(receiver->entryCount(), 2);
}

void TestReceiverTest::concurrentConnectionsAreAllServed()
{
    constexpr int count = 24;
    receiver->setResponseDelay(50ms); // keeps requests in flight together, on several connections
    QNetworkAccessManager other;
    QList<QNetworkReply *> replies;
    for (int i = 0; i < count; ++i) {
        QNetworkAccessManager &via = i % 2 ? *nam : other;
        replies.append(via.sendCustomRequest(makeRequest(receiver->pushUrl(), json), "POST",
                                             onePush("c", QByteArray::number(i), "concurrent")));
    }
    for (QNetworkReply *reply : std::as_const(replies)) {
        const Answer answer = finish(reply);
        QVERIFY(answer.finished);
        QCOMPARE(answer.status, 204);
    }
    QCOMPARE(receiver->pushCount(), count);
    QCOMPARE(receiver->entryCount(), count);
}

void TestReceiverTest::countOnlyModeCountsWithoutStoring()
{
    receiver->setRecordEntries(false);
    const QByteArray body =
        R"({"streams":[{"stream":{"app":"t"},"values":[["1","a"],["2","b"],["3","c"]]}]})";
    QCOMPARE(send(*nam, receiver->pushUrl(), body).status, 204);
    QCOMPARE(send(*nam, receiver->pushUrl(), body).status, 204);
    QCOMPARE(receiver->entryCount(), 6);
    QVERIFY(receiver->entriesInArrivalOrder().isEmpty());
    const QList<ReceivedPush> pushes = receiver->pushes();
    QCOMPARE(pushes.size(), 2);
    QCOMPARE(pushes.at(1).status, 204);
    QVERIFY(pushes.at(1).streams.isEmpty());
    QCOMPARE(pushes.at(1).bodyBytes, qint64(body.size()));
}

void TestReceiverTest::pushCallbackRunsOnTheReceiverThreadWithStoredEntries()
{
    QMutex mutex;
    QList<int> statuses;
    QList<int> storedCounts;
    QThread *callbackThread = nullptr;
    receiver->setPushCallback([&](const ReceivedPush &push, const QList<ReceivedStream> &stored) {
        QMutexLocker locker(&mutex);
        statuses.append(push.status);
        int entries = 0;
        for (const ReceivedStream &stream : stored)
            entries += int(stream.entries.size());
        storedCounts.append(entries);
        callbackThread = QThread::currentThread();
    });
    const QByteArray body = R"({"streams":[{"stream":{"app":"t"},"values":[["1","a"],["2","b"]]}]})";
    QCOMPARE(send(*nam, receiver->pushUrl(), body).status, 204);
    const QByteArray overlapping = R"({"streams":[{"stream":{"app":"t"},"values":[["2","b"],["3","c"]]},
                                                  {"stream":{},"values":[["4","d"]]}]})";
    QCOMPARE(send(*nam, receiver->pushUrl(), overlapping).status, 400);
    receiver->setPushCallback({});
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "9", "z")).status, 204);

    QMutexLocker locker(&mutex);
    QCOMPARE(statuses, QList<int>({204, 400}));
    QCOMPARE(storedCounts, QList<int>({2, 1})); // the duplicate and the refused stream are left out
    QVERIFY(callbackThread != nullptr);
    QVERIFY(callbackThread != QThread::currentThread());
}

void TestReceiverTest::formatLabelsQuotesLikeLoki()
{
    const QString sorted = LokiTestReceiver::formatLabels(
        {{QStringLiteral("level"), QStringLiteral("info")}, {QStringLiteral("app"), QStringLiteral("demo")}});
    QCOMPARE(sorted, QStringLiteral("{app=\"demo\", level=\"info\"}"));
    const QString escaped =
        LokiTestReceiver::formatLabels({{QStringLiteral("path"), QStringLiteral("a\"b\\c\nd")}});
    QCOMPARE(escaped, QStringLiteral("{path=\"a\\\"b\\\\c\\nd\"}"));
    QCOMPARE(LokiTestReceiver::formatLabels({}), QStringLiteral("{}"));
}

void TestReceiverTest::protobufSnappyPushIsDecoded()
{
    logproto::PushRequest request;
    logproto::StreamAdapter *info = addStream(request, R"({service="kiosk", level="info"})");
    addEntry(info, 1732665600, 0, "first line");
    addEntry(info, 1732665600, 1, "second line", {{"trace_id", "abc"}, {"user", "7"}});
    // Go escapes in a value, a raw string, a \u escape; spaces where the grammar allows them.
    addEntry(addStream(request, " { path = \"a\\\"b\\\\c\\nd\" , raw=`x\\y`, level=\"\\u00e4\" } "), 1,
             999999999, "älter \"quoted\"");
    const QByteArray body = snappyBody(request);
    const Answer answer = send(*nam, receiver->pushUrl(), body, protobuf);
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 204);

    const QList<ReceivedEntry> entries = receiver->entriesInArrivalOrder();
    QCOMPARE(entries.size(), 3);
    const QMap<QString, QString> infoLabels{{QStringLiteral("service"), QStringLiteral("kiosk")},
                                            {QStringLiteral("level"), QStringLiteral("info")}};
    QCOMPARE(entries.at(0).labels, infoLabels);
    QCOMPARE(entries.at(0).timestampNs, Q_INT64_C(1732665600000000000));
    QCOMPARE(entries.at(0).line, QStringLiteral("first line"));
    QVERIFY(entries.at(0).metadata.isEmpty());
    QCOMPARE(entries.at(1).timestampNs, Q_INT64_C(1732665600000000001));
    const QMap<QString, QString> metadata{{QStringLiteral("trace_id"), QStringLiteral("abc")},
                                          {QStringLiteral("user"), QStringLiteral("7")}};
    QCOMPARE(entries.at(1).metadata, metadata);
    const QMap<QString, QString> escaped{{QStringLiteral("path"), QStringLiteral("a\"b\\c\nd")},
                                         {QStringLiteral("raw"), QStringLiteral("x\\y")},
                                         {QStringLiteral("level"), QStringLiteral("ä")}};
    QCOMPARE(entries.at(2).labels, escaped);
    QCOMPARE(entries.at(2).timestampNs, Q_INT64_C(1999999999));
    QCOMPARE(entries.at(2).line, QStringLiteral("älter \"quoted\""));

    const ReceivedPush push = receiver->pushes().at(0);
    QCOMPARE(push.format, ReceivedPush::Format::Protobuf);
    QCOMPARE(push.contentType, QByteArray("application/x-protobuf"));
    QCOMPARE(push.bodyBytes, qint64(body.size()));
    QCOMPARE(push.decodedBytes, qint64(request.ByteSizeLong()));
    QCOMPARE(push.streams.size(), 2);

    // The same push again: duplicates, as with JSON.
    QCOMPARE(send(*nam, receiver->pushUrl(), body, protobuf).status, 204);
    QCOMPARE(receiver->duplicateCount(), 3);
}

void TestReceiverTest::protobufLabelTextIsParsedLikeLoki_data()
{
    QTest::addColumn<QByteArray>("labels");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("error");

    QTest::newRow("dash in a name") << QByteArray(R"({app-x="t"})") << 400
                                    << QStringLiteral("couldn't parse labels: 1:5: parse error: unexpected "
                                                      "character inside braces: '-'");
    QTest::newRow("unterminated value")
        << QByteArray(R"({ab")") << 400
        << QStringLiteral("couldn't parse labels: 1:4: parse error: unterminated "
                          "quoted string");
    QTest::newRow("no braces") << QByteArray(R"(app="t")") << 400
                               << QStringLiteral("couldn't parse labels: 1:1: parse error:");
    QTest::newRow("empty text") << QByteArray() << 400 << QStringLiteral("couldn't parse labels: 1:1:");
    QTest::newRow("regex matcher") << QByteArray(R"({app=~"t"})") << 400
                                   << QStringLiteral("couldn't parse labels: 1:6:");
    QTest::newRow("bad escape") << QByteArray(R"({app="\q"})") << 400
                                << QStringLiteral(
                                       "couldn't parse labels: 1:7: parse error: invalid char escape");
    QTest::newRow("reserved name") << QByteArray(R"({__name__="t"})") << 400
                                   << QStringLiteral(
                                          "couldn't parse labels: label name \"__name__\" is reserved");
    QTest::newRow("duplicate name") << QByteArray(R"({app="t", app="u"})") << 400
                                    << QStringLiteral("couldn't parse labels: duplicate label name \"app\"");
    QTest::newRow("trailing text") << QByteArray(R"({app="t"} x)") << 400
                                   << QStringLiteral("couldn't parse labels: 1:11:");
    QTest::newRow("no labels") << QByteArray("{}") << 400
                               << QStringLiteral("error at least one label pair is required per stream");
    QTest::newRow("valid") << QByteArray(R"({app="t",level="info"})") << 204 << QString();
}

void TestReceiverTest::protobufLabelTextIsParsedLikeLoki()
{
    QFETCH(QByteArray, labels);
    QFETCH(int, status);
    QFETCH(QString, error);
    const Answer answer = send(*nam, receiver->pushUrl(), onePushProto(labels.toStdString(), "a"), protobuf);
    QCOMPARE(answer.status, status);
    QVERIFY2(QString::fromUtf8(answer.body).startsWith(error), answer.body.constData());
    QCOMPARE(receiver->entryCount(), status == 204 ? 1 : 0);
}

void TestReceiverTest::corruptSnappyAnswers400()
{
    const Answer answer = send(*nam, receiver->pushUrl(), "this is not snappy", protobuf);
    QCOMPARE(answer.status, 400);
    QCOMPARE(answer.body, QByteArray("snappy: corrupt input\n"));
    // A valid length header followed by too little data.
    QByteArray truncated = onePushProto(R"({app="t"})", "a line long enough to matter");
    truncated.chop(5);
    QCOMPARE(send(*nam, receiver->pushUrl(), truncated, protobuf).body,
             QByteArray("snappy: corrupt input\n"));
    QCOMPARE(receiver->entryCount(), 0);
    QCOMPARE(receiver->pushes().at(0).format, ReceivedPush::Format::Protobuf);
}

void TestReceiverTest::invalidProtobufAnswers400()
{
    // Snappy-valid, but not a PushRequest: field 1 announced as 100 bytes long, 3 there.
    const std::string garbage("\x0a\x64\x01\x02\x03", 5);
    std::string compressed;
    snappy::Compress(garbage.data(), garbage.size(), &compressed);
    const Answer answer = send(*nam, receiver->pushUrl(),
                               QByteArray(compressed.data(), qsizetype(compressed.size())), protobuf);
    QCOMPARE(answer.status, 400);
    QVERIFY(answer.body.startsWith("error parsing push request:"));
    QCOMPARE(receiver->entryCount(), 0);
}

void TestReceiverTest::compressedJsonIsDecoded_data()
{
    QTest::addColumn<QByteArray>("encoding");
    QTest::newRow("gzip") << QByteArray("gzip");
    QTest::newRow("deflate") << QByteArray("deflate");
}

void TestReceiverTest::compressedJsonIsDecoded()
{
    QFETCH(QByteArray, encoding);
    const QByteArray json =
        R"({"streams":[{"stream":{"app":"z"},"values":[["1","one"],["2","two",{"trace_id":"t-1"}]]}]})";
    const QByteArray body = deflateBody(json, encoding == "gzip");
    QVERIFY(!body.isEmpty());
    const Answer answer = send(*nam, receiver->pushUrl(), body,
                               {{"Content-Type", "application/json"}, {"Content-Encoding", encoding}});
    QCOMPARE(answer.status, 204);
    const QList<ReceivedEntry> entries = receiver->entriesInArrivalOrder();
    QCOMPARE(entries.size(), 2);
    QCOMPARE(entries.at(1).line, QStringLiteral("two"));
    QCOMPARE(entries.at(1).metadata.value(QStringLiteral("trace_id")), QStringLiteral("t-1"));
    const ReceivedPush push = receiver->pushes().at(0);
    QCOMPARE(push.format, ReceivedPush::Format::Json);
    QCOMPARE(push.contentEncoding, encoding);
    QCOMPARE(push.bodyBytes, qint64(body.size()));
    QCOMPARE(push.decodedBytes, qint64(json.size()));
}

void TestReceiverTest::corruptGzipAnswers400()
{
    const Headers gzip{{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}};
    const Answer notGzip = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"), gzip);
    QCOMPARE(notGzip.status, 400);
    QCOMPARE(notGzip.body, QByteArray("gzip: invalid header\n"));
    QByteArray truncated = deflateBody(onePush("t", "1", "a"), true);
    truncated.chop(10);
    const Answer cut = send(*nam, receiver->pushUrl(), truncated, gzip);
    QCOMPARE(cut.status, 400);
    QCOMPARE(receiver->entryCount(), 0);
}

void TestReceiverTest::gzipProtobufIsDecoded()
{
    // Loki undoes Content-Encoding whatever the format: gzip around snappy is odd but taken.
    const QByteArray body = deflateBody(onePushProto(R"({app="t"})", "wrapped twice"), true);
    const Answer answer = send(*nam, receiver->pushUrl(), body,
                               {{"Content-Type", "application/x-protobuf"}, {"Content-Encoding", "gzip"}});
    QCOMPARE(answer.status, 204);
    QCOMPARE(receiver->entriesInArrivalOrder().value(0).line, QStringLiteral("wrapped twice"));
    // Content-Encoding: snappy, which some clients send, changes nothing.
    const Answer snappyEncoded =
        send(*nam, receiver->pushUrl(), onePushProto(R"({app="t"})", "snappy header"),
             {{"Content-Type", "application/x-protobuf"}, {"Content-Encoding", "snappy"}});
    QCOMPARE(snappyEncoded.status, 204);
    QCOMPARE(receiver->entryCount(), 2);
}

void TestReceiverTest::countOnlyModeCountsProtobufWithLimits()
{
    receiver->setRecordEntries(false);
    receiver->setMaxLineBytes(5);
    logproto::PushRequest request;
    logproto::StreamAdapter *stream = addStream(request, R"({app="t"})");
    addEntry(stream, 1, 0, "ok");
    addEntry(stream, 1, 1, "too long");
    addEntry(stream, 1, 2, "ok");
    addEntry(addStream(request, "{}"), 1, 3, "no labels");
    const QByteArray body = snappyBody(request);
    const Answer answer = send(*nam, receiver->pushUrl(), body, protobuf);
    QCOMPARE(answer.status, 400);
    QCOMPARE(answer.body,
             QByteArray("Max entry size '5' bytes exceeded for stream '{app=\"t\"}' while adding an "
                        "entry with length '8' bytes\n"
                        "error at least one label pair is required per stream\n"));
    QCOMPARE(receiver->entryCount(), 2);
    QCOMPARE(send(*nam, receiver->pushUrl(), body, protobuf).status, 400);
    QCOMPARE(receiver->entryCount(), 4); // no duplicate filter when only counting
    QVERIFY(receiver->entriesInArrivalOrder().isEmpty());
    QVERIFY(receiver->pushes().at(0).streams.isEmpty());
    QCOMPARE(receiver->pushes().at(0).decodedBytes, qint64(request.ByteSizeLong()));
}

void TestReceiverTest::rejectStructuredMetadataRefusesThoseEntries_data()
{
    QTest::addColumn<bool>("proto");
    QTest::newRow("json") << false;
    QTest::newRow("protobuf") << true;
}

void TestReceiverTest::rejectStructuredMetadataRefusesThoseEntries()
{
    QFETCH(bool, proto);
    const QByteArray expected =
        "stream '{app=\"t\"}' includes structured metadata, but this feature is disallowed. "
        "Please see limits_config.allow_structured_metadata or contact your Loki "
        "administrator to enable it.\n";
    const auto push = [&] {
        if (!proto)
            return send(
                *nam, receiver->pushUrl(),
                R"({"streams":[{"stream":{"app":"t"},"values":[["1","plain"],["2","with",{"k":"v"}]]}]})");
        logproto::PushRequest request;
        logproto::StreamAdapter *stream = addStream(request, R"({app="t"})");
        addEntry(stream, 0, 1, "plain");
        addEntry(stream, 0, 2, "with", {{"k", "v"}});
        return send(*nam, receiver->pushUrl(), snappyBody(request), protobuf);
    };

    QCOMPARE(push().status, 204); // allowed by default, as in Loki 3
    QCOMPARE(receiver->entryCount(), 2);
    receiver->clear();

    receiver->setRejectStructuredMetadata(true);
    const Answer answer = push();
    QCOMPARE(answer.status, 400);
    QCOMPARE(answer.body, expected);
    const QList<ReceivedEntry> entries = receiver->entriesInArrivalOrder();
    QCOMPARE(entries.size(), 1); // the entry without metadata is stored
    QCOMPARE(entries.at(0).line, QStringLiteral("plain"));
}

void TestReceiverTest::maxLineBytesRefusesLongLines_data()
{
    QTest::addColumn<bool>("proto");
    QTest::newRow("json") << false;
    QTest::newRow("protobuf") << true;
}

void TestReceiverTest::maxLineBytesRefusesLongLines()
{
    QFETCH(bool, proto);
    receiver->setMaxLineBytes(10);
    // "ääääää" is 6 characters but 12 UTF-8 bytes: Loki counts bytes.
    const QByteArray longLine = "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4";
    Answer answer;
    if (proto) {
        logproto::PushRequest request;
        logproto::StreamAdapter *stream = addStream(request, R"({app="t"})");
        addEntry(stream, 0, 1, "exactly 10");
        addEntry(stream, 0, 2, longLine.toStdString());
        answer = send(*nam, receiver->pushUrl(), snappyBody(request), protobuf);
    } else {
        answer = send(*nam, receiver->pushUrl(),
                      R"({"streams":[{"stream":{"app":"t"},"values":[["1","exactly 10"],["2",")" + longLine +
                          R"("]]}]})");
    }
    QCOMPARE(answer.status, 400);
    QCOMPARE(answer.body,
             QByteArray("Max entry size '10' bytes exceeded for stream '{app=\"t\"}' while adding an "
                        "entry with length '12' bytes\n"));
    QCOMPARE(receiver->entriesInArrivalOrder().size(), 1);
    QCOMPARE(receiver->entriesInArrivalOrder().at(0).line, QStringLiteral("exactly 10"));

    receiver->setMaxLineBytes(0);
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "3", longLine)).status, 204);
}

void TestReceiverTest::maxLabelNamesRefusesTheStream()
{
    receiver->setMaxLabelNames(2);
    const QByteArray body = R"({"streams":[
        {"stream":{"a":"1","b":"2","c":"3"},"values":[["1","three labels"]]},
        {"stream":{"a":"1","b":"2"},"values":[["2","two labels"]]}]})";
    const Answer answer = send(*nam, receiver->pushUrl(), body);
    QCOMPARE(answer.status, 400);
    QCOMPARE(answer.body,
             QByteArray("entry for stream '{a=\"1\", b=\"2\", c=\"3\"}' has 3 label names; limit 2\n"));
    QCOMPARE(receiver->entriesInArrivalOrder().size(), 1);
    QCOMPARE(receiver->entriesInArrivalOrder().at(0).line, QStringLiteral("two labels"));

    const Answer proto =
        send(*nam, receiver->pushUrl(), onePushProto(R"({a="1", b="2", c="3"})", "three again"), protobuf);
    QCOMPARE(proto.status, 400);
    QVERIFY(proto.body.contains("has 3 label names; limit 2"));
    QCOMPARE(receiver->entryCount(), 1);
}

void TestReceiverTest::protobufRefusedWhenNotAccepted()
{
    receiver->setAcceptProtobuf(false);
    const Answer answer = send(*nam, receiver->pushUrl(), onePushProto(R"({app="t"})", "a"), protobuf);
    QCOMPARE(answer.status, 415);
    QCOMPARE(answer.body, QByteArray("unsupported Content-Type\n"));
    QCOMPARE(receiver->pushes().at(0).format, ReceivedPush::Format::None);
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "1", "json passes")).status, 204);
    QCOMPARE(receiver->entryCount(), 1);
}

void TestReceiverTest::maxBodyBytesAnswers413()
{
    const QByteArray body = onePush("t", "1", QByteArray(200, 'x'));
    receiver->setMaxBodyBytes(body.size() - 1);
    const Answer answer = send(*nam, receiver->pushUrl(), body);
    QCOMPARE(answer.status, 413);
    QCOMPARE(answer.body, QByteArray("413 Request Entity Too Large\n"));
    QCOMPARE(receiver->entryCount(), 0);
    QCOMPARE(receiver->pushes().at(0).status, 413);

    receiver->setMaxBodyBytes(body.size());
    QCOMPARE(send(*nam, receiver->pushUrl(), body).status, 204); // the limit itself passes
    QCOMPARE(receiver->entryCount(), 1);
}

void TestReceiverTest::maxDecodedBytesAnswers500_data()
{
    QTest::addColumn<QByteArray>("format");
    QTest::newRow("json") << QByteArray("json");
    QTest::newRow("json-gzip") << QByteArray("json-gzip");
    QTest::newRow("protobuf") << QByteArray("protobuf");
}

void TestReceiverTest::maxDecodedBytesAnswers500()
{
    QFETCH(QByteArray, format);
    const QByteArray line(5000, 'y'); // compresses well: the decoded size is what counts
    QByteArray body;
    Headers headers = json;
    qint64 decoded = 0;
    if (format == "protobuf") {
        logproto::PushRequest request;
        addEntry(addStream(request, R"({app="t"})"), 1, 0, line.toStdString());
        body = snappyBody(request);
        headers = protobuf;
        decoded = qint64(request.ByteSizeLong());
    } else {
        body = onePush("t", "1", line);
        decoded = body.size();
        if (format == "json-gzip") {
            body = deflateBody(body, true);
            headers.append(qMakePair(QByteArray("Content-Encoding"), QByteArray("gzip")));
        }
    }
    receiver->setMaxDecodedBytes(decoded - 1);
    const Answer answer = send(*nam, receiver->pushUrl(), body, headers);
    QCOMPARE(answer.status, 500);
    QCOMPARE(answer.body,
             "rpc error: code = ResourceExhausted desc = grpc: received message larger than max (" +
                 QByteArray::number(decoded) + " vs. " + QByteArray::number(decoded - 1) + ")\n");
    QCOMPARE(receiver->entryCount(), 0);
    QCOMPARE(receiver->pushes().at(0).decodedBytes, decoded);

    receiver->setMaxDecodedBytes(decoded);
    QCOMPARE(send(*nam, receiver->pushUrl(), body, headers).status, 204);
    QCOMPARE(receiver->entryCount(), 1);
}

void TestReceiverTest::basicAuthIsRequired()
{
    receiver->setRequiredBasicAuth(QStringLiteral("tenant-1"), QStringLiteral("s3cr:et"));
    const auto withAuth = [](const QByteArray &authorization) {
        Headers headers = json;
        if (!authorization.isEmpty())
            headers.append(qMakePair(QByteArray("Authorization"), authorization));
        return headers;
    };
    for (const QByteArray &wrong : {QByteArray(), basic("tenant-1", "wrong"), basic("other", "s3cr:et"),
                                    QByteArray("Bearer s3cr:et"), QByteArray("Basic !!!")}) {
        const Answer answer = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"), withAuth(wrong));
        QCOMPARE(answer.status, 401);
        QCOMPARE(answer.body, QByteArray("unauthorized\n"));
    }
    QCOMPARE(receiver->entryCount(), 0);
    const Answer answer =
        send(*nam, receiver->pushUrl(), onePush("t", "1", "a"), withAuth(basic("tenant-1", "s3cr:et")));
    QCOMPARE(answer.status, 204);
    QCOMPARE(receiver->entryCount(), 1);
    QCOMPARE(receiver->pushes().last().headers.value("authorization"), basic("tenant-1", "s3cr:et"));

    receiver->setRequiredBasicAuth(QString(), QString());
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "2", "b")).status, 204);
}

void TestReceiverTest::bearerTokenIsRequired()
{
    receiver->setRequiredBearerToken(QStringLiteral("tok-123"));
    Headers headers = json;
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "1", "a"), headers).status, 401);
    headers.append(qMakePair(QByteArray("Authorization"), QByteArray("Bearer tok-1234")));
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "1", "a"), headers).status, 401);
    headers.last().second = "bearer tok-123"; // the scheme is case-insensitive
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "1", "a"), headers).status, 204);
    QCOMPARE(receiver->entryCount(), 1);
}

void TestReceiverTest::eitherCredentialPassesWhenBothAreRequired()
{
    receiver->setRequiredBasicAuth(QStringLiteral("u"), QStringLiteral("p"));
    receiver->setRequiredBearerToken(QStringLiteral("t"));
    QCOMPARE(send(*nam, receiver->pushUrl(), onePush("t", "1", "a"),
                  {json.at(0), {"Authorization", basic("u", "p")}})
                 .status,
             204);
    QCOMPARE(
        send(*nam, receiver->pushUrl(), onePush("t", "2", "b"), {json.at(0), {"Authorization", "Bearer t"}})
            .status,
        204);
    QCOMPARE(
        send(*nam, receiver->pushUrl(), onePush("t", "3", "c"), {json.at(0), {"Authorization", "Bearer u"}})
            .status,
        401);
}

void TestReceiverTest::tenantIsRequired()
{
    receiver->setRequiredTenant(QStringLiteral("team-a"));
    const Answer missing = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"));
    QCOMPARE(missing.status, 401);
    QCOMPARE(missing.body, QByteArray("no org id\n"));
    const Answer other =
        send(*nam, receiver->pushUrl(), onePush("t", "1", "a"), {json.at(0), {"X-Scope-OrgID", "team-b"}});
    QCOMPARE(other.status, 401);
    QCOMPARE(other.body, QByteArray("unauthorized\n"));
    const Answer right = send(*nam, receiver->pushUrl(), onePushProto(R"({app="t"})", "a"),
                              {protobuf.at(0), {"X-Scope-OrgID", "team-a"}});
    QCOMPARE(right.status, 204);
    QCOMPARE(receiver->entryCount(), 1);
    QCOMPARE(receiver->pushes().last().headers.value("x-scope-orgid"), QByteArray("team-a"));
}

#if QT_CONFIG(ssl)
namespace {
Answer sendTls(QNetworkAccessManager &nam, const QUrl &url, const QSslConfiguration &tls,
               const QByteArray &body)
{
    QNetworkRequest request = makeRequest(url, json);
    request.setSslConfiguration(tls);
    return finish(nam.sendCustomRequest(request, "POST", body));
}
} // namespace
#endif

void TestReceiverTest::httpsWithCaSignedCertificate()
{
#if QT_CONFIG(ssl)
    if (!QSslSocket::supportsSsl())
        QSKIP("Qt has no TLS backend here");
    LokiTestCertificates certificates;
    QString why;
    QVERIFY2(certificates.generate(&why), qPrintable(why));
    QVERIFY(receiver->listenTls(certificates.serverConfiguration()));
    QVERIFY(receiver->isTls());
    QCOMPARE(receiver->url().scheme(), QStringLiteral("https"));
    QCOMPARE(receiver->pushUrl().scheme(), QStringLiteral("https"));

    const Answer answer = sendTls(*nam, receiver->pushUrl(), certificates.clientConfiguration(),
                                  onePush("tls", "1", "over https"));
    QCOMPARE(answer.error, QNetworkReply::NoError);
    QCOMPARE(answer.status, 204);
    QCOMPARE(receiver->entriesInArrivalOrder().value(0).line, QStringLiteral("over https"));

    // A client that does not trust the test CA refuses the server.
    QNetworkAccessManager fresh;
    const Answer untrusted = sendTls(fresh, receiver->pushUrl(), QSslConfiguration::defaultConfiguration(),
                                     onePush("tls", "2", "must not arrive"));
    QCOMPARE(untrusted.error, QNetworkReply::SslHandshakeFailedError);
    QCOMPARE(receiver->entryCount(), 1);

    // restart() listens with TLS again; plain HTTP is not answered as HTTP.
    receiver->stop();
    QVERIFY(receiver->restart());
    QVERIFY(receiver->isTls());
    QNetworkAccessManager again;
    QCOMPARE(
        sendTls(again, receiver->pushUrl(), certificates.clientConfiguration(), onePush("tls", "3", "after"))
            .status,
        204);
    QUrl plain = receiver->pushUrl();
    plain.setScheme(QStringLiteral("http"));
    QNetworkAccessManager plainNam;
    QVERIFY(send(plainNam, plain, onePush("tls", "4", "plain")).status != 204);
    QCOMPARE(receiver->entryCount(), 2);

    // listen() goes back to plain HTTP.
    QVERIFY(receiver->listen());
    QVERIFY(!receiver->isTls());
    QCOMPARE(receiver->url().scheme(), QStringLiteral("http"));
#else
    QSKIP("built without TLS");
#endif
}

void TestReceiverTest::mutualTlsNeedsTheClientCertificate()
{
#if QT_CONFIG(ssl)
    if (!QSslSocket::supportsSsl())
        QSKIP("Qt has no TLS backend here");
    LokiTestCertificates certificates;
    QString why;
    QVERIFY2(certificates.generate(&why), qPrintable(why));
    QVERIFY(receiver->listenTls(certificates.serverConfiguration(true)));

    const Answer accepted = sendTls(*nam, receiver->pushUrl(), certificates.clientConfiguration(true),
                                    onePush("mtls", "1", "with a client certificate"));
    QCOMPARE(accepted.error, QNetworkReply::NoError);
    QCOMPARE(accepted.status, 204);
    QCOMPARE(receiver->entryCount(), 1);

    QNetworkAccessManager fresh;
    const Answer refused = sendTls(fresh, receiver->pushUrl(), certificates.clientConfiguration(false),
                                   onePush("mtls", "2", "without one"));
    QVERIFY(refused.finished);
    QVERIFY2(refused.error != QNetworkReply::NoError, refused.body.constData());
    QCOMPARE(refused.status, 0);
    QCOMPARE(receiver->entryCount(), 1);
    QCOMPARE(receiver->pushCount(), 1); // nothing on that connection reached the receiver
#else
    QSKIP("built without TLS");
#endif
}

QTEST_GUILESS_MAIN(TestReceiverTest)
#include "tst_testreceiver.moc"
