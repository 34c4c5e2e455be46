// SPDX-License-Identifier: MIT
#include "reachability_p.h"

#include "lokiclient_p.h"

#include <QtNetwork/QNetworkInformation>

LokiReachability::LokiReachability(QObject *parent)
    : QObject(parent)
{}

LokiReachability::~LokiReachability() = default;

void LokiReachability::startIfLoaded()
{
    if (!m_tried && QNetworkInformation::instance())
        follow();
}

void LokiReachability::networkFailed()
{
    if (m_tried)
        return;
    // The instance is shared by the whole application; the first user loads a backend (none on some
    // platforms: then nothing changes).
    if (!QNetworkInformation::instance()) {
        qCDebug(lcLoki, "a push failed for a network error: loading QNetworkInformation");
#if QT_VERSION >= QT_VERSION_CHECK(6, 3, 0)
        QNetworkInformation::loadBackendByFeatures(QNetworkInformation::Feature::Reachability);
#else
        QNetworkInformation::load(QNetworkInformation::Feature::Reachability);
#endif
    }
    follow();
}

bool LokiReachability::follow()
{
    m_tried = true;
    QNetworkInformation *info = QNetworkInformation::instance();
    if (!info || !info->supports(QNetworkInformation::Feature::Reachability)) {
        qCDebug(lcLoki, "no network information backend: retries follow the backoff only");
        return false;
    }
    qCDebug(lcLoki) << "network information from" << info->backendName() << "now" << info->reachability();
    m_following = true;
    const auto reachable = [](QNetworkInformation::Reachability reachability) {
        return reachability != QNetworkInformation::Reachability::Disconnected;
    };
    const bool reachableNow = reachable(info->reachability());
    m_reachable.store(reachableNow);
    // Direct: this object's thread (the client's owner) need not run an event loop; the receivers of
    // reachableChanged() are reached through their own context. Only changes between reachable and
    // unreachable are passed on (Online to Site is no news for a push waiting for the network).
    connect(
        info, &QNetworkInformation::reachabilityChanged, this,
        [this, reachable](QNetworkInformation::Reachability now) {
            const bool isReachable = reachable(now);
            if (m_reachable.exchange(isReachable) == isReachable)
                return;
            Q_EMIT reachableChanged(isReachable);
        },
        Qt::DirectConnection);
    if (!reachableNow)
        Q_EMIT reachableChanged(false);
    return true;
}
