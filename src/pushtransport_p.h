// SPDX-License-Identifier: MIT
#ifndef LOKIQT_PUSHTRANSPORT_P_H
#define LOKIQT_PUSHTRANSPORT_P_H

#include <lokiqt/lokiconfig.h>

#include <QtCore/QByteArray>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtNetwork/QNetworkReply>

#include <vector>

class LokiNetworkAccessManager;
class QNetworkRequest;

/**
 * How one push ended, as a plain value: what the retry decision (retrypolicy_p.h) and the worker need, and
 * nothing of Qt's network objects.
 */
struct LokiPushOutcome
{
    /** What kind of failure happened below HTTP. */
    enum class NetworkError {
        None,    ///< an HTTP answer arrived (see httpStatus)
        Tls,     ///< the TLS handshake failed: an untrusted or invalid certificate, a refused client
                 ///< certificate: a configuration error, not a transient one
        Timeout, ///< no answer within LokiConfig::requestTimeout, or the connection attempt timed out
        Other,   ///< refused, reset, unreachable, not HTTP, ...
    };

    int httpStatus = 0; ///< the answer's status; 0 when no HTTP answer arrived
    NetworkError networkError = NetworkError::None;
    QNetworkReply::NetworkError replyError = QNetworkReply::NoError; ///< Qt's code, for diagnostics
    /**
     * For people: Loki's reason (the error answer's body, trimmed, at most maxReasonChars characters), the
     * reason phrase when the body is empty, or the network failure's description (with the TLS errors).
     * Every secret of the configuration is redacted from it. Empty for a 2xx answer.
     */
    QString reason;
    /**
     * For the retry decision only, never shown: the first maxBodyBytes of an error answer's body as it
     * came (Loki's reasons for a push may be many; "timestamp too old" may be far in).
     */
    QByteArray body;
    QByteArray date;       ///< the answer's `Date` header value, empty when none
    QByteArray retryAfter; ///< the answer's `Retry-After` header value, empty when none

    /** The most of an error answer that is read: enough for Loki's reasons, too little to exhaust memory. */
    static constexpr qint64 maxBodyBytes = 64 * 1024;
    static constexpr int maxReasonChars = 1024;
};
Q_DECLARE_METATYPE(LokiPushOutcome)

/**
 * Replaces every secret of a configuration in error text: the password and user info of the URL (as typed
 * and percent-encoded), basicAuthPassword, bearerToken, the values of LokiConfig::headers, and the encoded
 * forms that go on the wire: the whole Authorization header value and its base64 (and base64url) part.
 */
class LokiRedactor
{
public:
    LokiRedactor() = default;
    explicit LokiRedactor(const LokiConfig &config, const QByteArray &authorization);
    QString redact(QString text) const;

private:
    QStringList m_secrets; ///< longest first, so a secret that contains another goes whole
    QString m_urlWithUserInfo;
    QString m_urlWithoutUserInfo;
    QString m_pushUrlWithUserInfo;
    QString m_pushUrlWithoutUserInfo;
};

/**
 * The client's HTTP: builds push requests from the configuration (URL without user info, tenant,
 * Authorization, extra headers, TLS, transfer timeout, redirect policy), posts encoded bodies through its
 * own QNetworkAccessManager (LokiNetworkAccessManager: direct pushes on connections it owns) and reads the
 * answers into LokiPushOutcome values. It knows HTTP, not Loki: no retries, no counters, no batches.
 *
 * Thread safety: lives in the worker thread; every function is for that thread. The constructor may run
 * elsewhere (the object is then moved), start() creates the network access manager in the worker thread.
 */
class LokiPushTransport : public QObject
{
    Q_OBJECT
public:
    explicit LokiPushTransport(const LokiConfig &config, QObject *parent = nullptr);
    ~LokiPushTransport() override;

    /** The Authorization header value the configuration asks for (empty for none). */
    static QByteArray authorizationFor(const LokiConfig &config);

    /** Worker thread, once. Nothing to do yet: the network access manager is made at the first post(). */
    void start();
    /** Worker thread. Frees the network access manager, dropping a push under way without an outcome. */
    void stop();

    /**
     * Worker thread. Posts @p body and returns its ticket (never 0); finished() with that ticket follows,
     * once, unless abort() or stop() comes first. Several posts may be under way at once, each on a
     * connection of its own; their answers come in any order.
     */
    quint64 post(const QByteArray &body, const QByteArray &contentType, const QByteArray &contentEncoding);
    /** Worker thread. Drops the push with @p ticket (no finished() for it); 0 or an ended one: nothing. */
    void abort(quint64 ticket);
    /** Worker thread. Drops every push under way. */
    void abortAll();
    /** Pushes under way. */
    int busyCount() const { return int(m_pending.size()); }

    /** Any thread. @p text without any secret of the configuration. */
    QString redact(const QString &text) const { return m_redactor.redact(text); }

Q_SIGNALS:
    /** Worker thread: the push with @p ticket ended. */
    void finished(quint64 ticket, const LokiPushOutcome &outcome);

private:
    QNetworkRequest makeRequest(const QByteArray &contentType, const QByteArray &contentEncoding) const;
    struct Pending
    {
        quint64 ticket = 0;
        QNetworkReply *reply = nullptr;
        QStringList sslErrors;
    };
    void onReplyFinished(QNetworkReply *reply);

    const LokiConfig m_config;
    const QUrl m_pushUrl; ///< without user info: credentials go in the Authorization header, never in the URL
    const QByteArray m_authorization;
    const LokiRedactor m_redactor;
    LokiNetworkAccessManager *m_nam = nullptr;
    std::vector<Pending> m_pending; ///< the pushes under way, a handful at most
    quint64 m_lastTicket = 0;
};

#endif // LOKIQT_PUSHTRANSPORT_P_H
