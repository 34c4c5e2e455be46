// SPDX-License-Identifier: MIT
#include "networkaccess_p.h"

#include "httpconnection_p.h"

#include <QtCore/QBuffer>
#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QNetworkRequest>

#include <algorithm>
#include <cstring>

namespace {
bool goesStraight(const QUrl &url)
{
    const QList<QNetworkProxy> proxies = QNetworkProxyFactory::proxyForQuery(QNetworkProxyQuery(url));
    return proxies.isEmpty() || proxies.constFirst().type() == QNetworkProxy::NoProxy;
}

/** What QNetworkAccessManager reports for an HTTP error status (qnetworkreplyhttpimpl.cpp's mapping). */
QNetworkReply::NetworkError errorForStatus(int status)
{
    switch (status) {
    case 400:
        return QNetworkReply::ProtocolInvalidOperationError;
    case 401:
        return QNetworkReply::AuthenticationRequiredError;
    case 403:
        return QNetworkReply::ContentAccessDenied;
    case 404:
        return QNetworkReply::ContentNotFoundError;
    case 405:
        return QNetworkReply::ContentOperationNotPermittedError;
    case 407:
        return QNetworkReply::ProxyAuthenticationRequiredError;
    case 409:
        return QNetworkReply::ContentConflictError;
    case 410:
        return QNetworkReply::ContentGoneError;
    case 418:
        return QNetworkReply::ProtocolInvalidOperationError;
    case 500:
        return QNetworkReply::InternalServerError;
    case 501:
        return QNetworkReply::OperationNotImplementedError;
    case 503:
        return QNetworkReply::ServiceUnavailableError;
    default:
        if (status >= 400 && status < 500)
            return QNetworkReply::UnknownContentError;
        if (status >= 500)
            return QNetworkReply::UnknownServerError;
        return QNetworkReply::NoError;
    }
}
} // namespace

LokiNetworkAccessManager::LokiNetworkAccessManager(QObject *parent)
    : QNetworkAccessManager(parent)
{}

LokiNetworkAccessManager::~LokiNetworkAccessManager()
{
    for (Pooled &pooled : m_connections)
        delete pooled.connection;
}

QNetworkReply *LokiNetworkAccessManager::createRequest(Operation op, const QNetworkRequest &request,
                                                       QIODevice *outgoingData)
{
    const QUrl url = request.url();
    const QString scheme = url.scheme();
    const bool http = scheme == QLatin1String("http") || scheme == QLatin1String("https");
    // QNetworkAccessManager::post(request, QByteArray) hands the body over as a QBuffer: take it as it is.
    auto *buffer = qobject_cast<QBuffer *>(outgoingData);
    if (op != PostOperation || !http || !buffer || !url.userInfo().isEmpty() || !goesStraight(url))
        return QNetworkAccessManager::createRequest(op, request, outgoingData);
    return new LokiDirectReply(this, request, buffer->data().mid(int(buffer->pos())));
}

LokiHttpConnection *LokiNetworkAccessManager::takeConnection(const QNetworkRequest &request)
{
    const QString origin = LokiHttpConnection::originOf(request.url());
    for (Pooled &pooled : m_connections) {
        if (!pooled.busy && pooled.origin == origin) {
            pooled.busy = true;
            return pooled.connection;
        }
    }
    auto *connection = new LokiHttpConnection(request.url(), nullptr);
#if QT_CONFIG(ssl)
    // Only for https: a QSslConfiguration, even a default one, loads Qt's TLS backend (several MiB).
    if (request.url().scheme() == QLatin1String("https"))
        connection->setSslConfiguration(request.sslConfiguration());
#endif
    m_connections.push_back({connection, origin, true});
    return connection;
}

void LokiNetworkAccessManager::giveBack(LokiHttpConnection *connection)
{
    int idle = 0;
    for (const Pooled &pooled : m_connections)
        idle += pooled.busy ? 0 : 1;
    const auto it =
        std::find_if(m_connections.begin(), m_connections.end(),
                     [connection](const Pooled &pooled) { return pooled.connection == connection; });
    if (it == m_connections.end())
        return;
    if (idle >= maxIdleConnections) {
        it->connection->deleteLater(); // it may be the one whose answer is on the stack
        m_connections.erase(it);
        return;
    }
    it->busy = false;
}

LokiDirectReply::LokiDirectReply(LokiNetworkAccessManager *manager, const QNetworkRequest &request,
                                 const QByteArray &body)
    : QNetworkReply(manager)
    , m_manager(manager)
{
    setRequest(request);
    setUrl(request.url());
    setOperation(QNetworkAccessManager::PostOperation);
    open(QIODevice::ReadOnly | QIODevice::Unbuffered);

    QList<QPair<QByteArray, QByteArray>> headers;
    const QList<QByteArray> names = request.rawHeaderList();
    for (const QByteArray &name : names)
        headers.append({name, request.rawHeader(name)});
    if (!request.hasRawHeader("User-Agent"))
        headers.append({QByteArrayLiteral("User-Agent"), QByteArrayLiteral("lokiqt")});
    m_connection = manager->takeConnection(request);
    m_connection->post(request.url(), headers, body, request.transferTimeout(),
                       [this](const LokiHttpAnswer &answer) {
                           // From the event loop: whoever handles finished() may delete the manager and its
                           // connections, which must not happen while the connection's own code is on the
                           // stack.
                           QMetaObject::invokeMethod(
                               this, [this, answer] { onAnswer(answer); }, Qt::QueuedConnection);
                       });
}

LokiDirectReply::~LokiDirectReply()
{
    if (m_connection && m_connection->isBusy())
        m_connection->abort();
    release();
}

void LokiDirectReply::release()
{
    if (m_connection && m_manager)
        m_manager->giveBack(m_connection);
    m_connection = nullptr;
}

void LokiDirectReply::onAnswer(const LokiHttpAnswer &answer)
{
    release();
    if (answer.status != 0) {
        setAttribute(QNetworkRequest::HttpStatusCodeAttribute, answer.status);
        setAttribute(QNetworkRequest::HttpReasonPhraseAttribute, QString::fromLatin1(answer.reasonPhrase));
        for (const auto &header : answer.headers)
            setRawHeader(header.first, header.second);
        m_content = answer.body;
        const NetworkError error = errorForStatus(answer.status);
        if (error != NoError) {
            setError(error, QStringLiteral("Error transferring %1 - server replied: %2")
                                .arg(url().toString(), QString::fromLatin1(answer.reasonPhrase)));
            Q_EMIT errorOccurred(error);
        }
    } else {
        setError(answer.error, answer.errorString);
        Q_EMIT errorOccurred(answer.error);
    }
    if (!m_content.isEmpty())
        Q_EMIT readyRead();
    setFinished(true);
    Q_EMIT finished();
}

void LokiDirectReply::abort()
{
    if (isFinished())
        return;
    if (m_connection)
        m_connection->abort();
    release();
    setError(OperationCanceledError, QStringLiteral("Operation canceled"));
    Q_EMIT errorOccurred(OperationCanceledError);
    setFinished(true);
    Q_EMIT finished();
}

qint64 LokiDirectReply::bytesAvailable() const
{
    return QNetworkReply::bytesAvailable() + (m_content.size() - m_read);
}

qint64 LokiDirectReply::readData(char *data, qint64 maxSize)
{
    const qint64 n = qMin<qint64>(maxSize, m_content.size() - m_read);
    if (n <= 0)
        return m_read >= m_content.size() && isFinished() ? -1 : 0;
    std::memcpy(data, m_content.constData() + m_read, size_t(n));
    m_read += n;
    return n;
}
