// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKICLIENT_P_H
#define LOKIQT_LOKICLIENT_P_H

#include <lokiqt/lokiclient.h>

#include "clientstatus_p.h"
#include "counters_p.h"
#include "entry_p.h"
#include "entrybuffer_p.h"
#include "ingest_p.h"
#include "render_p.h"

#include <QtCore/QHash>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMutex>
#include <QtCore/QThread>
#include <QtCore/QWaitCondition>

#include <atomic>
#include <limits>
#include <memory>

Q_DECLARE_LOGGING_CATEGORY(lcLoki)

class LokiReachability;
class LokiWorker;

class LokiClientPrivate
{
public:
    LokiClientPrivate(LokiClient *q, const LokiConfig &config);

    static LokiClientPrivate *get(LokiClient *client) { return client->d_func(); }

    /**
     * Any thread. Hands what ingest made of an input to the buffer: a rejection is counted and reported, a
     * truncation or demotion counted (and reported the first time), the entry queued.
     */
    LokiClient::SendResult enqueue(LokiIngested &&ingested, const LokiWait &wait);
    /** Any thread. The interned stream for a key and JSON form read back from the spool. */
    const LokiStreamInfo *internRaw(const QByteArray &key, const QByteArray &json)
    {
        return ingest.streams().internRaw(key, json);
    }
    /**
     * Owner thread, before the worker starts. Chooses the entry buffer, once: the spool when one is
     * configured and its directory can be used, else memory (with a Spool error saying why).
     */
    void openBuffer();
    /**
     * Any thread, before the worker starts. Connects a LokiReachability (living in the owner thread) to the
     * worker, so that what QNetworkInformation says about the network reaches it. QNetworkInformation itself
     * is followed at once only when the application loaded it already; else it is loaded at the first push
     * that fails for a network error (onErrorSignalled()).
     */
    void followReachability();
    /** Owner thread, for each error just before errorOccurred() carries it. */
    void onErrorSignalled(const LokiError &error);
    /** Any thread. Counts an invalid entry and reports it. */
    LokiClient::SendResult reject(const QString &why);

    /** Any thread. Stores @p error as lastError() and emits errorOccurred() in the owner thread. */
    void reportError(const LokiError &error) { status.reportError(error); }
    /** Any thread. Emits countersChanged() in the owner thread soon, coalescing bursts of changes. */
    void notifyCounters() { status.notifyCounters(); }
    /** Worker thread. Publishes a new state (ignored once closed). */
    void setState(LokiClient::State state) { status.setState(state); }

    /**
     * Any thread. Starts the client's thread once a QCoreApplication exists (its event loop needs one): at
     * construction, or at the first send() or flush() after the application object was created, for a client
     * constructed before it (a global static). Returns whether the thread runs (or ran and was stopped).
     */
    bool ensureStarted();
    /** Owner thread. Refuses further sends; publishes Closed. */
    void beginClose();
    /** Owner thread. Stops the thread: the worker counts what is left as dropped (or kept in the spool). */
    void stopThread();
    /** Any thread. Why entries cannot be delivered now, or empty: no QCoreApplication, or it was destroyed.
     */
    QString noApplicationReason() const;

    LokiClient *const q_ptr;
    const LokiConfig config;
    QString configError; ///< non-empty when the configuration is invalid: every send is rejected
    /// Validation, rendering, labels, the stream table. Before the buffer: its entries point into the table.
    LokiIngest ingest;

    LokiCounterSet counters;
    std::unique_ptr<LokiEntryBuffer> buffer; ///< set by openBuffer(), before the worker starts

    LokiClientStatus status;
    std::atomic<bool> closing{false};

    QThread thread;
    LokiWorker *worker = nullptr;
    QMutex startMutex;
    std::atomic<bool> started{false};
    /** Set when the application object this client's thread depended on was destroyed. */
    std::atomic<bool> applicationGone{false};
    // The list of running clients that the application object's destructor closes (see lokiclient.cpp).
    static void registerRunning(LokiClientPrivate *d);
    static void unregisterRunning(LokiClientPrivate *d);
    LokiClientPrivate *nextRunning = nullptr;
    LokiClientPrivate *previousRunning = nullptr;
    bool registered = false; ///< guarded by the list's mutex

    QMutex closeMutex; ///< close() from two threads at once: one closes, the other waits for its answer
    /// null unless config.followNetworkReachability, and until the thread starts
    std::unique_ptr<LokiReachability> reachability;
    bool closed = false;
    bool closeResult = false;

    Q_DECLARE_PUBLIC(LokiClient)
};

#endif // LOKIQT_LOKICLIENT_P_H
