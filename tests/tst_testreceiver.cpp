// SPDX-License-Identifier: MIT
// The test receiver, spoken to over real loopback HTTP: it must answer like Loki and fail on demand.

#include "lokitestreceiver.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QMutex>
#include <QtCore/QThread>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

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
} // namespace

class TestReceiverTest : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void readyAnswers200();
    void unknownPathAnswers404();
    void validPushIsStoredExactly();
    void invalidPushIsRefusedWithLokiWording_data();
    void invalidPushIsRefusedWithLokiWording();
    void partlyInvalidPushStoresTheValidStreams();
    void unsupportedContentEncodingAnswers415();
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

    const QList<ReceivedEntry> entries = receiver->entries();
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
    QTest::newRow("form-encoded") << onePush("t", "1", "a") << QByteArray("application/x-www-form-urlencoded")
                                  << QStringLiteral("unsupported Content-Type");
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
    QVERIFY(receiver->entries().isEmpty());
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
    const QByteArray body = R"({"streams":[
        {"stream":{"app":"good"},"values":[["10","kept"]]},
        {"stream":{"app-x":"bad"},"values":[["11","refused"]]},
        {"stream":{"app":"also-good"},"values":[["12","kept too"]]}]})";
    const Answer answer = send(*nam, receiver->pushUrl(), body);
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 400);
    QVERIFY(answer.body.startsWith("couldn't parse labels: 1:5:"));
    const QList<ReceivedEntry> entries = receiver->entries();
    QCOMPARE(entries.size(), 2);
    QCOMPARE(entries.at(0).line, QStringLiteral("kept"));
    QCOMPARE(entries.at(1).line, QStringLiteral("kept too"));
    QVERIFY(receiver->entries({{QStringLiteral("app-x"), QStringLiteral("bad")}}).isEmpty());
    QCOMPARE(receiver->pushes().at(0).streams.size(), 3); // decoded, though not all stored
}

void TestReceiverTest::unsupportedContentEncodingAnswers415()
{
    const Answer answer = send(*nam, receiver->pushUrl(), onePush("t", "1", "a"),
                               {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}});
    QVERIFY(answer.finished);
    QCOMPARE(answer.status, 415);
    QCOMPARE(receiver->entryCount(), 0);
    QCOMPARE(receiver->pushes().at(0).contentEncoding, QByteArray("gzip"));
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
    const QList<ReceivedEntry> entries = receiver->entries();
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
    QCOMPARE(receiver->entries().value(0).line, QStringLiteral("in chunks"));
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
    QVERIFY(receiver->entries().isEmpty());
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
                                                  {"stream":{"bad-name":"t"},"values":[["4","d"]]}]})";
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

QTEST_GUILESS_MAIN(TestReceiverTest)
#include "tst_testreceiver.moc"
