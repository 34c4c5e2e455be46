// SPDX-License-Identifier: MIT
#ifndef LOKIQT_REACHABILITY_P_H
#define LOKIQT_REACHABILITY_P_H

#include <QtCore/QObject>

#include <atomic>

/**
 * What the system says about the network (QNetworkInformation), as reachable / unreachable: unreachable
 * only when it reports Disconnected (Unknown, Local, Site and Online all count as reachable, so a platform
 * without a backend changes nothing).
 *
 * Loading a QNetworkInformation backend is not cheap (on Linux about 6 MiB of RSS and two threads: the
 * networkmanager backend's probe opens a QtDBus connection to the system bus, thread "QDBusConnection", and
 * the glib backend's GNetworkMonitor runs GLib's worker context, thread "gmain"), and it only matters once a
 * push failed for a network error. So the object does not load one until it is told of such a failure
 * (networkFailed()), unless the application loaded QNetworkInformation itself, which then costs nothing
 * more to follow (startIfLoaded()).
 *
 * Thread safety: created in any thread and moved to the client's owner thread, where every function but
 * inject() runs and where the application-wide QNetworkInformation instance is loaded when nobody did.
 * reachableChanged() is emitted from the thread QNetworkInformation lives in: connect it with the receiver
 * as context (queued into its thread).
 */
class LokiReachability : public QObject
{
    Q_OBJECT
public:
    explicit LokiReachability(QObject *parent = nullptr);
    ~LokiReachability() override;

    /**
     * Owner thread. Follows QNetworkInformation when the application already loaded it (nothing to load,
     * so nothing to wait for); else does nothing until networkFailed().
     */
    void startIfLoaded();
    /**
     * Owner thread. A push failed for a network error: from now on follow QNetworkInformation, loading a
     * backend with reachability the first time if none is loaded. Cheap after the first call.
     */
    void networkFailed();
    /** Owner thread. Whether QNetworkInformation is followed (a backend with reachability was found). */
    bool isFollowing() const { return m_following; }

    /** Emits @p reachable as if the system had reported it: for tests, which cannot switch the OS's network
     *  off. Any thread. */
    void inject(bool reachable) { Q_EMIT reachableChanged(reachable); }

Q_SIGNALS:
    /**
     * The system's network went from reachable to unreachable or back. Emitted when following starts only
     * if the network is unreachable then: the worker assumes a reachable network until told otherwise, and
     * a "reachable" report at that moment would cut short the backoff of the push that just failed.
     */
    void reachableChanged(bool reachable);

private:
    /** Follows the loaded instance, if any with reachability; emits the state when it is unreachable. */
    bool follow();

    bool m_tried = false;     ///< follow() ran (a missing backend is not looked for again)
    bool m_following = false; ///< connected to QNetworkInformation
    /// The last state the system reported (only changes are emitted); written in QNetworkInformation's
    /// thread once followed.
    std::atomic<bool> m_reachable{true};
};

#endif // LOKIQT_REACHABILITY_P_H
