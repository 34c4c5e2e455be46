// SPDX-License-Identifier: MIT
#include "reachability_p.h"

#include "lokiclient_p.h"

#include <QtNetwork/QNetworkInformation>

LokiReachability::LokiReachability(QObject *parent)
    : QObject(parent)
{}

LokiReachability::~LokiReachability() = default;

bool LokiReachability::start()
{
    // The instance is shared by the whole application; the first user loads a backend (none on some
    // platforms: then nothing changes).
    if (!QNetworkInformation::instance()) {
#if QT_VERSION >= QT_VERSION_CHECK(6, 3, 0)
        QNetworkInformation::loadBackendByFeatures(QNetworkInformation::Feature::Reachability);
#else
        QNetworkInformation::load(QNetworkInformation::Feature::Reachability);
#endif
    }
    QNetworkInformation *info = QNetworkInformation::instance();
    if (!info || !info->supports(QNetworkInformation::Feature::Reachability)) {
        qCDebug(lcLoki, "no network information backend: retries follow the backoff only");
        return false;
    }
    qCDebug(lcLoki) << "network information from" << info->backendName() << "now" << info->reachability();
    const auto reachable = [](QNetworkInformation::Reachability reachability) {
        return reachability != QNetworkInformation::Reachability::Disconnected;
    };
    // Direct: this object's thread (the client's owner) need not run an event loop; the receivers of
    // reachableChanged() are reached through their own context.
    connect(
        info, &QNetworkInformation::reachabilityChanged, this,
        [this, reachable](QNetworkInformation::Reachability now) { Q_EMIT reachableChanged(reachable(now)); },
        Qt::DirectConnection);
    Q_EMIT reachableChanged(reachable(info->reachability()));
    return true;
}
