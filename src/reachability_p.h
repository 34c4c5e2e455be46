// SPDX-License-Identifier: MIT
#ifndef LOKIQT_REACHABILITY_P_H
#define LOKIQT_REACHABILITY_P_H

#include <QtCore/QObject>

/**
 * What the system says about the network (QNetworkInformation), as reachable / unreachable: unreachable
 * only when it reports Disconnected (Unknown, Local, Site and Online all count as reachable, so a platform
 * without a backend changes nothing).
 *
 * Thread safety: created, started and destroyed in the client's owner thread, which also loads the
 * application-wide QNetworkInformation instance when nobody did. reachableChanged() is emitted from the
 * thread QNetworkInformation lives in: connect it with the receiver as context (queued into its thread).
 */
class LokiReachability : public QObject
{
    Q_OBJECT
public:
    explicit LokiReachability(QObject *parent = nullptr);
    ~LokiReachability() override;

    /**
     * Follows QNetworkInformation (loading a backend with reachability if none is loaded) and emits the
     * current state at once. Returns false, and emits nothing ever, when the platform has no such backend.
     */
    bool start();

    /** Emits @p reachable as if the system had reported it: for tests, which cannot switch the OS's network
     *  off. */
    void inject(bool reachable) { Q_EMIT reachableChanged(reachable); }

Q_SIGNALS:
    void reachableChanged(bool reachable);
};

#endif // LOKIQT_REACHABILITY_P_H
