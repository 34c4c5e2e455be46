// SPDX-License-Identifier: MIT
// The client's QNetworkAccessManager (networkaccess_p.h) and its own HTTP/1.1 connections
// (httpconnection_p.h), against a scripted HTTP server on loopback: what goes out on the wire, and how every
// shape of answer a server may give comes back through QNetworkReply.

#include "httpconnection_p.h"
#include "networkaccess_p.h"

#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QNetworkRequest>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QtTest>

#include <functional>
#include <memory>

namespace {
constexpr int longWait = 20000;

/** One request as the server read it. */
struct SeenRequest
{
    int connection = 0; ///< which accepted connection it came on (0, 1, ...)
    QByteArray requestLine;
    QByteArray head;
    QByteArray body;
};

/**
 * A loopback HTTP server whose answers the test writes: each complete request (head + Content-Length body)
 * is recorded, then answer(request index, socket) writes whatever bytes the test wants, and may close.
 */
class ScriptedServer : public QObject
{
public:
    std::function<void(int, QTcpSocket *)> answer = [](int, QTcpSocket *socket) {
        socket->write("HTTP/1.1 204 No Content\r\n\r\n");
    };
    QList<SeenRequest> requests;
    int connections = 0;

    ScriptedServer()
    {
        QVERIFY(m_server.listen(QHostAddress::LocalHost));
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                const int index = connections++;
                auto buffer = std::make_shared<QByteArray>();
                connect(socket, &QTcpSocket::readyRead, this, [this, socket, buffer, index] {
                    *buffer += socket->readAll();
                    for (;;) {
                        const qsizetype end = buffer->indexOf("\r\n\r\n");
                        if (end < 0)
                            return;
                        const QByteArray head = buffer->left(end);
                        qsizetype length = 0;
                        for (const QByteArray &line : head.split('\n')) {
                            if (line.toLower().startsWith("content-length:"))
                                length = line.mid(15).trimmed().toLongLong();
                        }
                        if (buffer->size() < end + 4 + length)
                            return;
                        SeenRequest request;
                        request.connection = index;
                        request.head = head;
                        request.requestLine = head.left(head.indexOf("\r\n"));
                        request.body = buffer->mid(end + 4, length);
                        buffer->remove(0, end + 4 + length);
                        requests.append(request);
                        answer(int(requests.size()) - 1, socket);
                    }
                });
                connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            }
        });
    }
    QUrl url(const QString &path = QStringLiteral("/loki/api/v1/push")) const
    {
        return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(m_server.serverPort()).arg(path));
    }

private:
    QTcpServer m_server;
};

QNetworkRequest pushRequest(const QUrl &url, int timeoutMs = longWait)
{
    QNetworkRequest request(url);
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/x-protobuf"));
    request.setRawHeader("X-Scope-OrgID", "tenant-a");
    request.setTransferTimeout(timeoutMs);
    return request;
}

bool waitFinished(QNetworkReply *reply)
{
    if (reply->isFinished())
        return true;
    QSignalSpy finished(reply, &QNetworkReply::finished);
    return finished.wait(longWait) || reply->isFinished();
}

QByteArray bigBody(int bytes)
{
    QByteArray body(bytes, Qt::Uninitialized);
    for (int i = 0; i < bytes; ++i)
        body[i] = char('a' + (quint64(i) * 7919u) % 26u);
    return body;
}
} // namespace

class tst_NetworkAccess : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    // A direct post goes on the manager's own connection, with Nagle off, whole, and that connection is
    // reused for the next posts.
    void directPostsShareOneConnectionWithNagleOff()
    {
        ScriptedServer server;
        server.answer = [](int, QTcpSocket *socket) {
            socket->write("HTTP/1.1 204 No Content\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\n");
        };
        LokiNetworkAccessManager manager;
        const QByteArray body = bigBody(300 * 1024); // many of QNAM's 16 KiB pieces
        for (int i = 0; i < 3; ++i) {
            std::unique_ptr<QNetworkReply> reply(manager.post(pushRequest(server.url()), body));
            QVERIFY(waitFinished(reply.get()));
            QCOMPARE(reply->error(), QNetworkReply::NoError);
            QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
            QCOMPARE(reply->rawHeader("Date"), QByteArray("Tue, 01 Dec 2026 10:00:00 GMT"));
            QCOMPARE(manager.connectionCount(), 1);
            QCOMPARE(manager.connectionAt(0)->socketOption(QAbstractSocket::LowDelayOption).toInt(), 1);
        }
        QCOMPARE(server.requests.size(), 3);
        QCOMPARE(server.connections, 1);
        for (const SeenRequest &request : std::as_const(server.requests)) {
            QCOMPARE(request.requestLine, QByteArray("POST /loki/api/v1/push HTTP/1.1"));
            QVERIFY(request.body == body);
            QVERIFY2(request.head.contains("\r\nContent-Type: application/x-protobuf"),
                     request.head.constData());
            QVERIFY2(request.head.contains("\r\nX-Scope-OrgID: tenant-a"), request.head.constData());
            QVERIFY2(request.head.contains(
                         QStringLiteral("\r\nHost: 127.0.0.1:%1").arg(server.url().port()).toLatin1()),
                     request.head.constData());
        }
    }

    // Posts at the same time get a connection each (HTTP/1.1 has no multiplexing), which are kept for reuse.
    void concurrentPostsGetAConnectionEach()
    {
        ScriptedServer server;
        LokiNetworkAccessManager manager;
        std::vector<std::unique_ptr<QNetworkReply>> replies;
        for (int i = 0; i < 3; ++i)
            replies.emplace_back(manager.post(pushRequest(server.url()), QByteArray::number(i)));
        QCOMPARE(manager.connectionCount(), 3);
        for (auto &reply : replies) {
            QVERIFY(waitFinished(reply.get()));
            QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
        }
        QCOMPARE(server.connections, 3);
        replies.clear();
        std::unique_ptr<QNetworkReply> again(manager.post(pushRequest(server.url()), "again"));
        QVERIFY(waitFinished(again.get()));
        QCOMPARE(server.connections, 3); // an idle one was reused
        QCOMPARE(manager.connectionCount(), 3);
    }

    void answers_data()
    {
        QTest::addColumn<QByteArray>("answer");
        QTest::addColumn<bool>("closeAfter");
        QTest::addColumn<int>("status");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("error");

        QTest::newRow("content-length")
            << QByteArray("HTTP/1.1 400 Bad Request\r\nContent-Length: 24\r\n\r\nentry too old for stream")
            << false << 400 << QByteArray("entry too old for stream")
            << int(QNetworkReply::ProtocolInvalidOperationError);
        QTest::newRow("chunked, with an extension and a trailer")
            << QByteArray("HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n")
            << false << 500 << QByteArray("hello, world") << int(QNetworkReply::InternalServerError);
        QTest::newRow("until the connection closes")
            << QByteArray("HTTP/1.0 503 Service Unavailable\r\nRetry-After: 7\r\n\r\nbusy") << true << 503
            << QByteArray("busy") << int(QNetworkReply::ServiceUnavailableError);
        QTest::newRow("100 Continue first")
            << QByteArray("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n") << false << 204
            << QByteArray() << int(QNetworkReply::NoError);
        QTest::newRow("429") << QByteArray("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow")
                             << false << 429 << QByteArray("slow") << int(QNetworkReply::UnknownContentError);
        QTest::newRow("garbage") << QByteArray("SSH-2.0-OpenSSH_9.2\r\n\r\n") << true << 0 << QByteArray()
                                 << int(QNetworkReply::ProtocolFailure);
        QTest::newRow("closed before any answer")
            << QByteArray() << true << 0 << QByteArray() << int(QNetworkReply::RemoteHostClosedError);
    }
    void answers()
    {
        QFETCH(QByteArray, answer);
        QFETCH(bool, closeAfter);
        QFETCH(int, status);
        QFETCH(QByteArray, body);
        QFETCH(int, error);
        ScriptedServer server;
        server.answer = [&](int, QTcpSocket *socket) {
            socket->write(answer);
            if (closeAfter)
                socket->disconnectFromHost();
        };
        LokiNetworkAccessManager manager;
        std::unique_ptr<QNetworkReply> reply(manager.post(pushRequest(server.url()), "payload"));
        QVERIFY(waitFinished(reply.get()));
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), status);
        QCOMPARE(int(reply->error()), error);
        QCOMPARE(reply->readAll(), body);
        if (status == 503)
            QCOMPARE(reply->rawHeader("Retry-After"), QByteArray("7"));
        if (status == 0)
            QVERIFY(!reply->errorString().isEmpty());
    }

    // A kept-alive connection the server closed between two pushes: the next push goes on a new one.
    void connectionClosedWhileIdleIsReplaced()
    {
        ScriptedServer server;
        server.answer = [](int, QTcpSocket *socket) {
            socket->write("HTTP/1.1 204 No Content\r\n\r\n");
            socket->disconnectFromHost(); // without saying "Connection: close"
        };
        LokiNetworkAccessManager manager;
        for (int i = 0; i < 3; ++i) {
            std::unique_ptr<QNetworkReply> reply(manager.post(pushRequest(server.url()), "x"));
            QVERIFY(waitFinished(reply.get()));
            QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
            QTest::qWait(50); // the close reaches the client between pushes, or while the next one goes out
        }
        QCOMPARE(server.requests.size(), 3);
        QCOMPARE(server.connections, 3);
    }

    // As QNetworkRequest::SameOriginRedirectPolicy: 307/308 to the same origin are followed with the same
    // body; to another origin, not.
    void redirects()
    {
        ScriptedServer server;
        ScriptedServer other;
        server.answer = [&](int index, QTcpSocket *socket) {
            if (index == 0)
                socket->write(
                    "HTTP/1.1 308 Permanent Redirect\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
            else if (index == 1)
                socket->write("HTTP/1.1 204 No Content\r\n\r\n");
            else
                socket->write("HTTP/1.1 307 Temporary Redirect\r\nLocation: " + other.url().toEncoded() +
                              "\r\nContent-Length: 0\r\n\r\n");
        };
        LokiNetworkAccessManager manager;
        std::unique_ptr<QNetworkReply> followed(manager.post(pushRequest(server.url()), "body"));
        QVERIFY(waitFinished(followed.get()));
        QCOMPARE(followed->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
        QCOMPARE(server.requests.size(), 2);
        QCOMPARE(server.requests.at(1).requestLine, QByteArray("POST /elsewhere HTTP/1.1"));
        QCOMPARE(server.requests.at(1).body, QByteArray("body"));

        std::unique_ptr<QNetworkReply> notFollowed(manager.post(pushRequest(server.url()), "body"));
        QVERIFY(waitFinished(notFollowed.get()));
        QCOMPARE(notFollowed->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 307);
        QCOMPARE(other.requests.size(), 0);
    }

    // A server that never answers: the transfer timeout ends the post as Qt's does (operation canceled),
    // and the connection serves the next post.
    void serverThatNeverAnswers()
    {
        ScriptedServer server;
        server.answer = [](int index, QTcpSocket *socket) {
            if (index > 0)
                socket->write("HTTP/1.1 204 No Content\r\n\r\n");
        };
        LokiNetworkAccessManager manager;
        std::unique_ptr<QNetworkReply> reply(manager.post(pushRequest(server.url(), 300), "x"));
        QVERIFY(waitFinished(reply.get()));
        QCOMPARE(reply->error(), QNetworkReply::OperationCanceledError);
        QVERIFY2(reply->errorString().contains(QLatin1String("300 ms")), qPrintable(reply->errorString()));
        std::unique_ptr<QNetworkReply> next(manager.post(pushRequest(server.url()), "y"));
        QVERIFY(waitFinished(next.get()));
        QCOMPARE(next->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
    }

    void nobodyListening()
    {
        QTcpServer closed;
        QVERIFY(closed.listen(QHostAddress::LocalHost));
        const quint16 port = closed.serverPort();
        closed.close();
        LokiNetworkAccessManager manager;
        std::unique_ptr<QNetworkReply> reply(manager.post(
            pushRequest(QUrl(QStringLiteral("http://127.0.0.1:%1/loki/api/v1/push").arg(port))), "x"));
        QVERIFY(waitFinished(reply.get()));
        QCOMPARE(reply->error(), QNetworkReply::ConnectionRefusedError);
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 0);
    }

    // abort() ends the post at once, as Qt's replies do; deleting a reply under way frees its connection.
    void abortAndDelete()
    {
        ScriptedServer server;
        server.answer = [](int, QTcpSocket *) {};
        LokiNetworkAccessManager manager;
        std::unique_ptr<QNetworkReply> reply(manager.post(pushRequest(server.url()), "x"));
        QTRY_COMPARE_WITH_TIMEOUT(server.requests.size(), 1, longWait);
        QSignalSpy finished(reply.get(), &QNetworkReply::finished);
        reply->abort();
        QCOMPARE(finished.size(), 1);
        QCOMPARE(reply->error(), QNetworkReply::OperationCanceledError);
        reply.reset(manager.post(pushRequest(server.url()), "y"));
        QTRY_COMPARE_WITH_TIMEOUT(server.requests.size(), 2, longWait);
        reply.reset(); // deleted under way
        server.answer = [](int, QTcpSocket *socket) { socket->write("HTTP/1.1 204 No Content\r\n\r\n"); };
        reply.reset(manager.post(pushRequest(server.url()), "z"));
        QVERIFY(waitFinished(reply.get()));
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
    }

    // What is not a direct post stays Qt's: a GET, and a post through the application's proxy.
    void everythingElseIsQts()
    {
        ScriptedServer server;
        LokiNetworkAccessManager manager;
        std::unique_ptr<QNetworkReply> get(
            manager.get(QNetworkRequest(server.url(QStringLiteral("/ready")))));
        QVERIFY(waitFinished(get.get()));
        QCOMPARE(get->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
        QCOMPARE(manager.connectionCount(), 0);

        ScriptedServer proxy;
        proxy.answer = [](int, QTcpSocket *socket) { socket->write("HTTP/1.1 204 No Content\r\n\r\n"); };
        QNetworkProxy::setApplicationProxy(QNetworkProxy(
            QNetworkProxy::HttpProxy, QStringLiteral("127.0.0.1"), quint16(proxy.url().port())));
        const auto restore = qScopeGuard([] { QNetworkProxy::setApplicationProxy(QNetworkProxy::NoProxy); });
        std::unique_ptr<QNetworkReply> viaProxy(manager.post(
            pushRequest(QUrl(QStringLiteral("http://loki.invalid:3100/loki/api/v1/push"))), "x"));
        QVERIFY(waitFinished(viaProxy.get()));
        QCOMPARE(viaProxy->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
        QCOMPARE(proxy.requests.size(), 1);
        QCOMPARE(proxy.requests.at(0).requestLine,
                 QByteArray("POST http://loki.invalid:3100/loki/api/v1/push HTTP/1.1"));
        QCOMPARE(manager.connectionCount(), 0);
    }
};

QTEST_MAIN(tst_NetworkAccess)
#include "tst_networkaccess.moc"
