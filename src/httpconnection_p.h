// SPDX-License-Identifier: MIT
#ifndef LOKIQT_HTTPCONNECTION_P_H
#define LOKIQT_HTTPCONNECTION_P_H

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QPair>
#include <QtCore/QStringList>
#include <QtCore/QUrl>
#include <QtCore/QVariant>
#include <QtNetwork/QAbstractSocket>
#include <QtNetwork/QNetworkReply>
#if QT_CONFIG(ssl)
#include <QtNetwork/QSslConfiguration>
#endif

#include <functional>
#include <optional>

class QTcpSocket;
class QTimer;

/** What came back for one request of a LokiHttpConnection. */
struct LokiHttpAnswer
{
    int status = 0; ///< 0 when no answer came
    QByteArray reasonPhrase;
    QList<QPair<QByteArray, QByteArray>> headers; ///< as they came (names as the server spelled them)
    QByteArray body;                              ///< at most maxBodyBytes
    QNetworkReply::NetworkError error = QNetworkReply::NoError; ///< when no answer came
    QString errorString;

    /** The most of an answer's body that is kept: the rest is read and dropped. */
    static constexpr qint64 maxBodyBytes = 64 * 1024;
};

/**
 * One keep-alive HTTP/1.1 connection the client owns, to one origin, on a QTcpSocket (QSslSocket for
 * https) with Nagle off (QAbstractSocket::LowDelayOption); each request leaves in one write.
 *
 * Why it exists: QNetworkAccessManager writes a request body in 16 KiB pieces on a socket with Nagle on, and
 * Qt offers no way to reach that socket; every body above one piece then waits for the server's delayed ACK
 * (40 ms on Linux, 200 ms on Windows) before its tail leaves. Setting TCP_NODELAY on it meant walking every
 * descriptor of the process. LokiNetworkAccessManager (networkaccess_p.h) hands direct pushes to these
 * connections instead; everything else stays Qt's.
 *
 * What it does: POST with Content-Length; answers with Content-Length, chunked or close-delimited bodies; 1xx
 * skipped; a kept-alive connection the server closed meanwhile is retried once on a new one (as Qt does);
 * same-origin 307/308 redirects followed (QNetworkRequest::SameOriginRedirectPolicy), others handed back;
 * a transfer timeout (no progress for that long).
 *
 * Thread safety: one thread, the one it lives in.
 */
class LokiHttpConnection : public QObject
{
public:
    using Done = std::function<void(const LokiHttpAnswer &)>;

    /** scheme://host:port of @p url (the default port written out): what one connection serves. */
    static QString originOf(const QUrl &url);

    /** @p origin: scheme, host and port of every URL posted to. */
    LokiHttpConnection(const QUrl &origin, QObject *parent);
    ~LokiHttpConnection() override;

#if QT_CONFIG(ssl)
    /** For https: the TLS configuration of the next connection made (null: Qt's defaults). */
    void setSslConfiguration(const QSslConfiguration &tls)
    {
        m_sslConfiguration = tls;
    }
#endif

    /**
     * Posts @p body to @p url with @p headers (Host and Content-Length are added, and replace any given);
     * @p done follows once, from the event loop. @p timeoutMs: the longest time without progress (0: none).
     */
    void post(const QUrl &url, const QList<QPair<QByteArray, QByteArray>> &headers, const QByteArray &body,
              int timeoutMs, Done done);
    /** Drops the request under way (no call of done) and the connection. */
    void abort();
    bool isBusy() const
    {
        return bool(m_done);
    }
    /** The open socket's option as the system reports it (invalid when no socket is open): for tests. */
    QVariant socketOption(QAbstractSocket::SocketOption option) const;

private:
    enum class BodyMode { None, Length, Chunked, UntilClose };

    void send(bool reuse);
    void writeRequest();
    void onConnected();
    void onEncrypted();
    void onReadyRead();
    void onSocketError();
    void parse();
    void finish();
    void fail(QNetworkReply::NetworkError error, const QString &text);
    void dropSocket();
    void progressed();
    QByteArray buildRequest() const;
    quint16 port() const
    {
        return quint16(m_origin.port(m_tls ? 443 : 80));
    }

    const QUrl m_origin;
    const bool m_tls;
#if QT_CONFIG(ssl)
    std::optional<QSslConfiguration> m_sslConfiguration; ///< unset for http: no TLS backend loaded
#endif
    QStringList m_sslErrors; ///< of the connection being made
    QTcpSocket *m_socket = nullptr;
    QTimer *m_timer = nullptr;
    int m_timeoutMs = 0;

    // The request under way.
    QUrl m_url; ///< a same-origin redirect may change the path
    QList<QPair<QByteArray, QByteArray>> m_headers;
    QByteArray m_body;
    Done m_done;
    bool m_reused = false;      ///< the request went out on a connection that served one before
    bool m_resentStale = false; ///< already resent once because a kept-alive connection was closed
    int m_redirects = 0;

    // The answer being read.
    QByteArray m_in;
    bool m_headDone = false;
    BodyMode m_mode = BodyMode::None;
    qint64 m_remaining =
        0; ///< Length: bytes left; Chunked: bytes left in the chunk (-1: size line, -2: CRLF)
    bool m_keepAlive = true;
    bool m_chunkTrailer = false;
    LokiHttpAnswer m_answer;
    QByteArray m_location;
};

#endif // LOKIQT_HTTPCONNECTION_P_H
