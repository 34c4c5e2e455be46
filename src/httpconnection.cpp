// SPDX-License-Identifier: MIT
#include "httpconnection_p.h"

#include <QtCore/QTimer>
#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QTcpSocket>
#if QT_CONFIG(ssl)
#include <QtNetwork/QSslError>
#include <QtNetwork/QSslSocket>
#endif

namespace {
constexpr qint64 maxHeadBytes = 64 * 1024;
constexpr int maxRedirects = 5;

QNetworkReply::NetworkError replyError(QAbstractSocket::SocketError error)
{
    switch (error) {
    case QAbstractSocket::ConnectionRefusedError:
        return QNetworkReply::ConnectionRefusedError;
    case QAbstractSocket::HostNotFoundError:
        return QNetworkReply::HostNotFoundError;
    case QAbstractSocket::RemoteHostClosedError:
        return QNetworkReply::RemoteHostClosedError;
    case QAbstractSocket::SocketTimeoutError:
        return QNetworkReply::TimeoutError;
    default:
        return QNetworkReply::UnknownNetworkError;
    }
}
} // namespace

QString LokiHttpConnection::originOf(const QUrl &url)
{
    const int port = url.scheme() == QLatin1String("https") ? 443 : 80;
    return url.scheme() + QLatin1String("://") + url.host(QUrl::FullyEncoded) + QLatin1Char(':') +
           QString::number(url.port(port));
}

LokiHttpConnection::LokiHttpConnection(const QUrl &origin, QObject *parent)
    : QObject(parent)
    , m_origin(origin)
    , m_tls(origin.scheme() == QLatin1String("https"))
{
    m_timer = new QTimer(this);
    m_timer->setSingleShot(true);
    // As QNetworkRequest::transferTimeout: no progress for that long aborts, as "operation canceled".
    connect(m_timer, &QTimer::timeout, this, [this] {
        fail(QNetworkReply::OperationCanceledError,
             QStringLiteral("no progress within %1 ms (LokiConfig::requestTimeout)").arg(m_timeoutMs));
    });
}

LokiHttpConnection::~LokiHttpConnection()
{
    abort();
}

void LokiHttpConnection::post(const QUrl &url, const QList<QPair<QByteArray, QByteArray>> &headers,
                              const QByteArray &body, int timeoutMs, Done done)
{
    Q_ASSERT(!m_done);
    m_url = url;
    m_headers = headers;
    m_body = body;
    m_done = std::move(done);
    m_timeoutMs = timeoutMs;
    m_resentStale = false;
    m_redirects = 0;
    progressed();
    send(true);
}

void LokiHttpConnection::progressed()
{
    if (m_timeoutMs > 0)
        m_timer->start(m_timeoutMs);
}

QVariant LokiHttpConnection::socketOption(QAbstractSocket::SocketOption option) const
{
    return m_socket && m_socket->state() == QAbstractSocket::ConnectedState ? m_socket->socketOption(option)
                                                                            : QVariant();
}

void LokiHttpConnection::abort()
{
    m_timer->stop();
    m_done = nullptr;
    dropSocket();
}

QByteArray LokiHttpConnection::buildRequest() const
{
    QByteArray target = m_url.path(QUrl::FullyEncoded).toLatin1();
    if (target.isEmpty())
        target = "/";
    if (m_url.hasQuery())
        target += '?' + m_url.query(QUrl::FullyEncoded).toLatin1();
    QByteArray host = m_url.host(QUrl::FullyEncoded).toLatin1();
    if (host.contains(':'))
        host = '[' + host + ']';
    if (port() != (m_tls ? 443 : 80))
        host += ':' + QByteArray::number(port());
    QByteArray out;
    out.reserve(256 + m_body.size());
    out += "POST " + target + " HTTP/1.1\r\nHost: " + host +
           "\r\nContent-Length: " + QByteArray::number(m_body.size()) + "\r\n";
    for (const auto &header : m_headers)
        out += header.first + ": " + header.second + "\r\n";
    out += "\r\n";
    out += m_body; // the whole request in one write: no small segment waits for an ACK
    return out;
}

void LokiHttpConnection::writeRequest()
{
    m_socket->write(buildRequest());
    // Now, not at the next turn of the event loop: the request leaves in as few writes as the kernel takes.
    m_socket->flush();
}

void LokiHttpConnection::send(bool reuse)
{
    m_in.clear();
    m_headDone = false;
    m_mode = BodyMode::None;
    m_remaining = 0;
    m_keepAlive = true;
    m_chunkTrailer = false;
    m_answer = LokiHttpAnswer();
    m_location.clear();
    if (reuse && m_socket && m_socket->state() == QAbstractSocket::ConnectedState) {
        m_reused = true;
        writeRequest();
        return;
    }
    dropSocket();
    m_reused = false;
    m_sslErrors.clear();
#if QT_CONFIG(ssl)
    QSslSocket *tls = nullptr;
    if (m_tls) {
        tls = new QSslSocket(this);
        if (m_sslConfiguration && !m_sslConfiguration->isNull())
            tls->setSslConfiguration(*m_sslConfiguration);
        connect(tls, &QSslSocket::encrypted, this, &LokiHttpConnection::onEncrypted);
        connect(tls, &QSslSocket::sslErrors, this, [this](const QList<QSslError> &errors) {
            for (const QSslError &error : errors)
                m_sslErrors << error.errorString();
        });
        m_socket = tls;
    } else
#endif
    {
        m_socket = new QTcpSocket(this);
    }
    m_socket->setProxy(QNetworkProxy::NoProxy);
    connect(m_socket, &QTcpSocket::connected, this, &LokiHttpConnection::onConnected);
    connect(m_socket, &QTcpSocket::readyRead, this, &LokiHttpConnection::onReadyRead);
    connect(m_socket, &QTcpSocket::errorOccurred, this, &LokiHttpConnection::onSocketError);
    connect(m_socket, &QTcpSocket::disconnected, this, &LokiHttpConnection::onSocketError);
    connect(m_socket, &QTcpSocket::bytesWritten, this, [this] {
        if (m_done)
            progressed();
    });
#if QT_CONFIG(ssl)
    if (tls) {
        tls->connectToHostEncrypted(m_origin.host(), port());
        return;
    }
#endif
    if (m_tls) {
        // From the event loop, as every answer: the caller is not called back from inside post().
        QMetaObject::invokeMethod(
            this,
            [this] {
                fail(QNetworkReply::ProtocolUnknownError,
                     QStringLiteral("this Qt has no TLS support for https"));
            },
            Qt::QueuedConnection);
        return;
    }
    m_socket->connectToHost(m_origin.host(), port());
}

void LokiHttpConnection::onConnected()
{
    // The client's own socket: Nagle off, so the last segment of a request never waits for a delayed ACK.
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    m_socket->setSocketOption(QAbstractSocket::KeepAliveOption, 1);
    if (m_done && !m_tls)
        writeRequest();
}

void LokiHttpConnection::onEncrypted()
{
    if (m_done)
        writeRequest();
}

void LokiHttpConnection::onReadyRead()
{
    if (!m_done) {
        m_socket->readAll(); // nothing is asked: an idle connection has nothing to say
        return;
    }
    progressed();
    m_in += m_socket->readAll();
    parse();
}

void LokiHttpConnection::onSocketError()
{
    if (!m_socket)
        return;
    if (!m_done) {
        dropSocket(); // an idle connection the server closed: the next push opens a new one
        return;
    }
    m_in += m_socket->readAll();
    if (!m_in.isEmpty())
        parse();
    if (!m_done)
        return; // the answer completed
    if (m_headDone && m_mode == BodyMode::UntilClose) {
        finish();
        return;
    }
    if (m_reused && !m_headDone && m_in.isEmpty() && !m_resentStale) {
        // A kept-alive connection the server had closed meanwhile: nothing was processed, send it again
        // once on a new connection.
        m_resentStale = true;
        send(false);
        return;
    }
    const QAbstractSocket::SocketError error = m_socket->error();
    QString text = error == QAbstractSocket::UnknownSocketError ? QStringLiteral("Connection closed")
                                                                : m_socket->errorString();
    const bool tlsFailed = error == QAbstractSocket::SslHandshakeFailedError ||
                           error == QAbstractSocket::SslInvalidUserDataError || !m_sslErrors.isEmpty();
    for (const QString &sslError : std::as_const(m_sslErrors)) {
        if (!text.contains(sslError))
            text += QStringLiteral("; ") + sslError;
    }
    if (tlsFailed && !text.contains(QLatin1String("SSL")) && !text.contains(QLatin1String("TLS")))
        text = QStringLiteral("TLS handshake failed: ") + text;
    fail(tlsFailed ? QNetworkReply::SslHandshakeFailedError : replyError(error), text);
}

void LokiHttpConnection::parse()
{
    const auto keep = [this](const char *data, qint64 size) {
        const qint64 room = LokiHttpAnswer::maxBodyBytes - m_answer.body.size();
        if (room > 0)
            m_answer.body.append(data, qsizetype(qMin(room, size)));
    };
    for (;;) {
        if (!m_headDone) {
            if (m_in.size() >= 7 && !m_in.startsWith("HTTP/1.")) {
                fail(QNetworkReply::ProtocolFailure, QStringLiteral("the server's answer is not HTTP"));
                return;
            }
            const qsizetype end = m_in.indexOf("\r\n\r\n");
            if (end < 0) {
                if (m_in.size() > maxHeadBytes)
                    fail(QNetworkReply::ProtocolFailure,
                         QStringLiteral("the server's answer head is too long"));
                return;
            }
            const QList<QByteArray> lines = m_in.left(end).split('\n');
            m_in.remove(0, end + 4);
            const QByteArray statusLine = lines.first().trimmed();
            bool ok = false;
            const int status = statusLine.mid(9, 3).toInt(&ok);
            if (!ok || status < 100 || status > 999) {
                fail(QNetworkReply::ProtocolFailure, QStringLiteral("the server's answer is not HTTP"));
                return;
            }
            if (status < 200)
                continue; // 100 Continue and other interim answers
            m_answer.status = status;
            m_answer.reasonPhrase = statusLine.mid(13);
            QByteArray connection;
            QByteArray transferEncoding;
            qint64 contentLength = -1;
            for (qsizetype i = 1; i < lines.size(); ++i) {
                const QByteArray &line = lines.at(i);
                const qsizetype colon = line.indexOf(':');
                if (colon <= 0)
                    continue;
                const QByteArray value = line.mid(colon + 1).trimmed();
                m_answer.headers.append({line.left(colon).trimmed(), value});
                const QByteArray name = m_answer.headers.constLast().first.toLower();
                if (name == "content-length")
                    contentLength = value.toLongLong(&ok) >= 0 && ok ? value.toLongLong() : -1;
                else if (name == "transfer-encoding")
                    transferEncoding = value.toLower();
                else if (name == "connection")
                    connection = value.toLower();
                else if (name == "location")
                    m_location = value;
            }
            m_keepAlive = statusLine.startsWith("HTTP/1.0") ? connection.contains("keep-alive")
                                                            : !connection.contains("close");
            if (status == 204 || status == 304) {
                m_mode = BodyMode::None;
            } else if (transferEncoding.contains("chunked")) {
                m_mode = BodyMode::Chunked;
                m_remaining = -1;
            } else if (contentLength >= 0) {
                m_mode = contentLength > 0 ? BodyMode::Length : BodyMode::None;
                m_remaining = contentLength;
            } else {
                m_mode = BodyMode::UntilClose;
                m_keepAlive = false;
            }
            m_headDone = true;
        }
        switch (m_mode) {
        case BodyMode::None:
            finish();
            return;
        case BodyMode::Length: {
            const qint64 take = qMin<qint64>(m_remaining, m_in.size());
            keep(m_in.constData(), take);
            m_in.remove(0, qsizetype(take));
            m_remaining -= take;
            if (m_remaining == 0)
                finish();
            return;
        }
        case BodyMode::UntilClose:
            keep(m_in.constData(), m_in.size());
            m_in.clear();
            return;
        case BodyMode::Chunked:
            for (;;) {
                if (m_remaining == -1 ||
                    m_chunkTrailer) { // a size line, or a trailer line after the last chunk
                    const qsizetype eol = m_in.indexOf("\r\n");
                    if (eol < 0)
                        return;
                    QByteArray line = m_in.left(eol);
                    m_in.remove(0, eol + 2);
                    if (m_chunkTrailer) {
                        if (line.isEmpty()) {
                            finish();
                            return;
                        }
                        continue;
                    }
                    const qsizetype semicolon = line.indexOf(';');
                    if (semicolon >= 0)
                        line.truncate(semicolon);
                    bool ok = false;
                    const qint64 size = line.trimmed().toLongLong(&ok, 16);
                    if (!ok || size < 0) {
                        fail(QNetworkReply::ProtocolFailure,
                             QStringLiteral("bad chunked encoding in the answer"));
                        return;
                    }
                    if (size == 0)
                        m_chunkTrailer = true;
                    else
                        m_remaining = size;
                    continue;
                }
                if (m_remaining == -2) { // the CRLF after a chunk's data
                    if (m_in.size() < 2)
                        return;
                    m_in.remove(0, 2);
                    m_remaining = -1;
                    continue;
                }
                const qint64 take = qMin<qint64>(m_remaining, m_in.size());
                keep(m_in.constData(), take);
                m_in.remove(0, qsizetype(take));
                m_remaining -= take;
                if (m_remaining > 0)
                    return;
                m_remaining = -2;
            }
        }
        return;
    }
}

void LokiHttpConnection::finish()
{
    m_timer->stop();
    if (!m_keepAlive)
        dropSocket();
    if ((m_answer.status == 307 || m_answer.status == 308) && !m_location.isEmpty() &&
        m_redirects < maxRedirects) {
        // QNAM's SameOriginRedirectPolicy: the same request again, never to another origin.
        const QUrl target = m_url.resolved(QUrl::fromEncoded(m_location));
        if (originOf(target) == originOf(m_origin)) {
            ++m_redirects;
            m_url = target;
            progressed();
            send(true);
            return;
        }
    }
    Done done = std::move(m_done);
    m_done = nullptr;
    const LokiHttpAnswer answer = m_answer;
    done(answer);
}

void LokiHttpConnection::fail(QNetworkReply::NetworkError error, const QString &text)
{
    m_timer->stop();
    dropSocket();
    if (!m_done)
        return;
    LokiHttpAnswer answer;
    answer.error = error;
    answer.errorString = text;
    Done done = std::move(m_done);
    m_done = nullptr;
    done(answer);
}

void LokiHttpConnection::dropSocket()
{
    if (!m_socket)
        return;
    disconnect(m_socket, nullptr, this, nullptr);
    m_socket->abort();
    m_socket->deleteLater();
    m_socket = nullptr;
}
