// SPDX-License-Identifier: MIT
#include "pushtransport_p.h"

#include "networkaccess_p.h"

#include <QtNetwork/QNetworkRequest>
#if QT_CONFIG(ssl)
#include <QtNetwork/QSslError>
#endif

#include <algorithm>

namespace {
QString reasonText(const QByteArray &body, const QString &fallback)
{
    QString text = QString::fromUtf8(body).trimmed();
    return text.isEmpty() ? fallback : text;
}

QString bounded(QString text)
{
    if (text.size() > LokiPushOutcome::maxReasonChars)
        text = text.left(LokiPushOutcome::maxReasonChars) + QStringLiteral("...");
    return text;
}

LokiPushOutcome::NetworkError networkErrorKind(QNetworkReply::NetworkError error, bool sslErrorsSeen)
{
    if (sslErrorsSeen)
        return LokiPushOutcome::NetworkError::Tls;
    switch (error) {
    case QNetworkReply::NoError:
        return LokiPushOutcome::NetworkError::None;
    case QNetworkReply::SslHandshakeFailedError:
        return LokiPushOutcome::NetworkError::Tls;
    case QNetworkReply::TimeoutError:
    // The transfer timeout aborts the reply; the transport aborts none itself (abort() drops the outcome).
    case QNetworkReply::OperationCanceledError:
        return LokiPushOutcome::NetworkError::Timeout;
    default:
        return LokiPushOutcome::NetworkError::Other;
    }
}
} // namespace

LokiRedactor::LokiRedactor(const LokiConfig &config, const QByteArray &authorization)
{
    const QUrl &url = config.url;
    if (!url.userInfo().isEmpty()) {
        m_urlWithUserInfo = url.toString();
        m_urlWithoutUserInfo = url.toString(QUrl::RemoveUserInfo);
        const QUrl push = config.pushUrl();
        m_pushUrlWithUserInfo = push.toString();
        m_pushUrlWithoutUserInfo = push.toString(QUrl::RemoveUserInfo);
    }
    QStringList secrets{config.basicAuthPassword, config.bearerToken, url.password(QUrl::FullyDecoded),
                        url.password(QUrl::FullyEncoded), url.password()};
    for (const auto &header : config.headers)
        secrets << QString::fromUtf8(header.second) << QString::fromUtf8(header.second.trimmed());
    if (!authorization.isEmpty()) {
        // The value as sent, its credentials part, and what that part encodes (user:password).
        secrets << QString::fromLatin1(authorization);
        const qsizetype space = authorization.indexOf(' ');
        const QByteArray credentials = space < 0 ? authorization : authorization.mid(space + 1);
        secrets << QString::fromLatin1(credentials);
        if (authorization.startsWith("Basic ")) {
            const QByteArray decoded = QByteArray::fromBase64(credentials);
            secrets << QString::fromUtf8(decoded)
                    << QString::fromLatin1(
                           decoded.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals))
                    << QString::fromLatin1(decoded.toBase64(QByteArray::OmitTrailingEquals));
        }
    }
    for (QString &secret : secrets) {
        // Shorter strings would blank out ordinary words; the encoded forms above are longer anyway.
        if (secret.size() >= 3 && !m_secrets.contains(secret))
            m_secrets << secret;
    }
    std::sort(m_secrets.begin(), m_secrets.end(),
              [](const QString &a, const QString &b) { return a.size() > b.size(); });
}

QString LokiRedactor::redact(QString text) const
{
    if (!m_urlWithUserInfo.isEmpty()) {
        text.replace(m_pushUrlWithUserInfo, m_pushUrlWithoutUserInfo);
        text.replace(m_urlWithUserInfo, m_urlWithoutUserInfo);
    }
    const QString hidden = QStringLiteral("<redacted>");
    for (const QString &secret : m_secrets)
        text.replace(secret, hidden);
    return text;
}

QByteArray LokiPushTransport::authorizationFor(const LokiConfig &c)
{
    // Explicit settings first, else the user info of the URL (which never goes out in the URL).
    QString user = c.basicAuthUser;
    QString password = c.basicAuthPassword;
    if (user.isEmpty() && !c.url.userName().isEmpty()) {
        user = c.url.userName();
        password = c.url.password();
    }
    if (!user.isEmpty())
        return "Basic " + (user + QLatin1Char(':') + password).toUtf8().toBase64();
    if (!c.bearerToken.isEmpty())
        return "Bearer " + c.bearerToken.toUtf8();
    return QByteArray();
}

LokiPushTransport::LokiPushTransport(const LokiConfig &config, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_pushUrl(config.pushUrl().adjusted(QUrl::RemoveUserInfo))
    , m_authorization(authorizationFor(config))
    , m_redactor(config, m_authorization)
{}

LokiPushTransport::~LokiPushTransport()
{
    stop();
}

void LokiPushTransport::start()
{
    // The network access manager is made at the first push (post()): an idle client does not hold it.
}

void LokiPushTransport::stop()
{
    abortAll();
    delete m_nam;
    m_nam = nullptr;
}

void LokiPushTransport::abort(quint64 ticket)
{
    const auto it = std::find_if(m_pending.begin(), m_pending.end(),
                                 [ticket](const Pending &pending) { return pending.ticket == ticket; });
    if (ticket == 0 || it == m_pending.end())
        return;
    QNetworkReply *reply = it->reply;
    m_pending.erase(it);
    disconnect(reply, nullptr, this, nullptr);
    reply->abort();
    delete reply;
}

void LokiPushTransport::abortAll()
{
    while (!m_pending.empty())
        abort(m_pending.back().ticket);
}

QNetworkRequest LokiPushTransport::makeRequest(const QByteArray &contentType,
                                               const QByteArray &contentEncoding) const
{
    QNetworkRequest request(m_pushUrl);
    request.setHeader(QNetworkRequest::ContentTypeHeader, contentType);
    if (!contentEncoding.isEmpty())
        request.setRawHeader(QByteArrayLiteral("Content-Encoding"), contentEncoding);
    if (!m_config.tenant.isEmpty())
        request.setRawHeader(QByteArrayLiteral("X-Scope-OrgID"), m_config.tenant.toUtf8());
    if (!m_authorization.isEmpty())
        request.setRawHeader(QByteArrayLiteral("Authorization"), m_authorization);
    for (const auto &header : m_config.headers)
        request.setRawHeader(header.first, header.second);
#if QT_CONFIG(ssl)
    if (m_config.sslConfiguration && !m_config.sslConfiguration->isNull())
        request.setSslConfiguration(*m_config.sslConfiguration);
#endif
    request.setTransferTimeout(int(m_config.requestTimeout.count()));
    return request;
}

quint64 LokiPushTransport::post(const QByteArray &body, const QByteArray &contentType,
                                const QByteArray &contentEncoding)
{
    if (!m_nam) {
        // Direct pushes go on connections of its own with Nagle off; through a proxy, Qt's
        // (networkaccess_p.h).
        m_nam = new LokiNetworkAccessManager(this);
        m_nam->setRedirectPolicy(QNetworkRequest::SameOriginRedirectPolicy);
    }
    QNetworkReply *reply = m_nam->post(makeRequest(contentType, contentEncoding), body);
    const quint64 ticket = ++m_lastTicket;
    m_pending.push_back({ticket, reply, {}});
    connect(reply, &QNetworkReply::finished, this, [this, reply] { onReplyFinished(reply); });
#if QT_CONFIG(ssl)
    connect(reply, &QNetworkReply::sslErrors, this, [this, reply](const QList<QSslError> &errors) {
        for (Pending &pending : m_pending) {
            if (pending.reply == reply) {
                for (const QSslError &error : errors)
                    pending.sslErrors << error.errorString();
            }
        }
    });
#endif
    return ticket;
}

void LokiPushTransport::onReplyFinished(QNetworkReply *reply)
{
    const auto it = std::find_if(m_pending.begin(), m_pending.end(),
                                 [reply](const Pending &pending) { return pending.reply == reply; });
    if (it == m_pending.end())
        return;
    const quint64 ticket = it->ticket;
    const QStringList sslErrors = it->sslErrors;
    m_pending.erase(it);
    reply->deleteLater();

    LokiPushOutcome outcome;
    outcome.httpStatus = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    outcome.date = reply->rawHeader(QByteArrayLiteral("Date"));
    outcome.retryAfter = reply->rawHeader(QByteArrayLiteral("Retry-After"));
    if (outcome.httpStatus == 0) {
        outcome.replyError = reply->error();
        outcome.networkError = networkErrorKind(reply->error(), !sslErrors.isEmpty());
        if (outcome.networkError == LokiPushOutcome::NetworkError::None) // no status, no error: not HTTP
            outcome.networkError = LokiPushOutcome::NetworkError::Other;
        QString text = reply->errorString();
        for (const QString &error : sslErrors) {
            if (!text.contains(error))
                text += QStringLiteral("; ") + error;
        }
        outcome.reason = bounded(m_redactor.redact(text));
    } else if (outcome.httpStatus < 200 || outcome.httpStatus >= 300 || outcome.httpStatus == 260) {
        outcome.replyError = reply->error();
        outcome.body = reply->read(LokiPushOutcome::maxBodyBytes);
        // Redacted before it is cut, so no part of a secret survives at the edge.
        outcome.reason = bounded(m_redactor.redact(reasonText(
            outcome.body, reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString())));
    }
    Q_EMIT finished(ticket, outcome);
}
