// SPDX-License-Identifier: MIT
#ifndef LOKIQT_NETWORKACCESS_P_H
#define LOKIQT_NETWORKACCESS_P_H

#include <QtCore/QPointer>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>

#include <vector>

class LokiHttpConnection;
struct LokiHttpAnswer;

/**
 * The client's QNetworkAccessManager. A POST over http or https that goes straight to the server (no proxy
 * applies: QNetworkProxyFactory::proxyForQuery, which follows the application's proxy settings) is answered
 * on a keep-alive connection this manager owns (LokiHttpConnection: Nagle off, the request in one write);
 * everything else (a proxy, another operation or scheme) is Qt's own, unchanged. This is QNAM's documented
 * extension point (createRequest()), and the only way to reach a push's socket without walking the
 * process's descriptors (see httpconnection_p.h for why the socket matters).
 *
 * Connections are kept per origin and reused: a reply takes an idle one or opens a new one, so several
 * posts at once get one connection each (HTTP/1.1 without pipelining), and gives it back when it ends.
 *
 * Thread safety: one thread, the one it lives in (the client's worker).
 */
class LokiNetworkAccessManager : public QNetworkAccessManager
{
public:
    explicit LokiNetworkAccessManager(QObject *parent = nullptr);
    ~LokiNetworkAccessManager() override;

    /** Connections open now (busy or idle), for tests and diagnostics. */
    int connectionCount() const { return int(m_connections.size()); }
    LokiHttpConnection *connectionAt(int i) const { return m_connections.at(size_t(i)).connection; }
    /** Idle connections kept for reuse beyond this are closed. */
    static constexpr int maxIdleConnections = 8;

protected:
    QNetworkReply *createRequest(Operation op, const QNetworkRequest &request,
                                 QIODevice *outgoingData = nullptr) override;

private:
    friend class LokiDirectReply;
    LokiHttpConnection *takeConnection(const QNetworkRequest &request);
    void giveBack(LokiHttpConnection *connection);

    struct Pooled
    {
        LokiHttpConnection *connection = nullptr;
        QString origin;
        bool busy = false;
    };
    std::vector<Pooled> m_connections;
};

/** A QNetworkReply for a post answered on a LokiHttpConnection; see LokiNetworkAccessManager. */
class LokiDirectReply : public QNetworkReply
{
public:
    LokiDirectReply(LokiNetworkAccessManager *manager, const QNetworkRequest &request,
                    const QByteArray &body);
    ~LokiDirectReply() override;

    void abort() override;
    qint64 bytesAvailable() const override;
    bool isSequential() const override { return true; }

protected:
    qint64 readData(char *data, qint64 maxSize) override;

private:
    void onAnswer(const LokiHttpAnswer &answer);
    void release();

    QPointer<LokiNetworkAccessManager> m_manager;
    QPointer<LokiHttpConnection> m_connection;
    QByteArray m_content;
    qint64 m_read = 0;
};

#endif // LOKIQT_NETWORKACCESS_P_H
