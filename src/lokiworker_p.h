// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKIWORKER_P_H
#define LOKIQT_LOKIWORKER_P_H

#include "entry_p.h"
#include "pushencoder_p.h"

#include <lokiqt/lokiconfig.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QMutex>
#include <QtCore/QObject>
#include <QtCore/QWaitCondition>

#include <atomic>

#include <deque>
#include <memory>
#include <vector>

class LokiClientStatus;
class LokiEntryBuffer;
struct LokiCounterSet;
struct LokiPushOutcome;
class LokiPushTransport;
class QTimer;

/** A flush() caller waiting for the worker; shared so an abandoned wait outlives nothing it needs. */
struct LokiFlushWaiter
{
    QMutex mutex;
    QWaitCondition done;
    bool finished = false;
    bool ok = false;
    /** Set by a flush() whose deadline passed: the worker forgets the request instead of keeping it. */
    std::atomic<bool> abandoned{false};

    void finish(bool success)
    {
        QMutexLocker lock(&mutex);
        finished = true;
        ok = success;
        done.wakeAll();
    }
};

/**
 * What the worker works with: all of it owned by the client and outliving the worker. The worker reaches the
 * facade only through these values (the buffer it takes batches from, the counters it adds to, the status it
 * reports errors and states to, which emits the client's signals through queued events), never through the
 * facade's private object.
 */
struct LokiWorkerContext
{
    const LokiConfig &config;
    LokiEntryBuffer &buffer;
    LokiCounterSet &counters;
    LokiClientStatus &status;
};

/**
 * The client's worker: glue and timers. It lives on the client's QThread and owns what happens there: the
 * push transport, the batch timer, the batch under way and its retries. Nothing here is shared with other
 * threads except through the entry buffer (LokiEntryBuffer) and the atomic counters, so it needs no locks of
 * its own.
 *
 * Up to batch.maxInFlight batches are under way at once (each pushing, or waiting for its backoff), each
 * with its own attempts, splits and timers; answers come in any order, but batches are acknowledged to the
 * buffer in the order they were taken, so a spool frees nothing a push still needs. Entries that arrive
 * while every slot is busy wait in the buffer, where backpressure applies to them.
 */
class LokiWorker : public QObject
{
    Q_OBJECT
public:
    explicit LokiWorker(const LokiWorkerContext &context);
    ~LokiWorker() override;

    /** Worker thread, once, when the thread starts. */
    void start();
    /** Worker thread. Looks at the queue and the timers and does what is due. */
    void schedule();
    /** Worker thread. Pushes eagerly until every entry accepted before @p acceptedTarget is resolved. */
    void requestFlush(const std::shared_ptr<LokiFlushWaiter> &waiter, qint64 acceptedTarget);
    /** Worker thread. Stops: aborts the push under way, counts what is left as dropped, frees the network. */
    void shutdown();
    /**
     * Worker thread. What the system says about the network (QNetworkInformation): unreachable holds retries
     * of network failures; reachable again sends a waiting push at once.
     */
    void setNetworkReachable(bool reachable);
    /** Worker thread. Whether a push failed while offline and waits for the network. */
    bool isWaitingForNetwork() const;
    /** Worker thread. How many of the worker's own timers run (batch wait, backoff): 0 whenever it is idle.
     */
    int activeTimers() const;
    /** Worker thread. flush() requests waiting for their entries to be resolved. */
    int pendingFlushes() const { return int(m_flushes.size()); }

private:
    struct PendingFlush
    {
        std::shared_ptr<LokiFlushWaiter> waiter;
        qint64 target = 0;
        qint64 failuresAtStart = 0;
    };

    /** One batch under way: its parts (one unless a 413 split it), pushed one after the other. */
    struct Push
    {
        std::deque<std::vector<LokiQueuedEntry>> parts;
        LokiPushEncoder::Body body;                                           ///< the encoded front part
        LokiConfig::Encoding encoding = LokiConfig::Encoding::ProtobufSnappy; ///< of body
        quint64 ticket = 0;          ///< of the post under way; 0 while it waits (backoff, network)
        qint64 clockOffsetNs = 0;    ///< the clock offset in force when the batch was taken
        bool clockCorrected = false; ///< its timestamps were corrected once already
        int attempt = 0;
        bool waitingForNetwork = false; ///< failed while offline: waits for the network or the slow timer
        bool resolved = false;          ///< delivered or failed for good; acknowledged when its turn comes
        qint64 removedBefore = 0;       ///< the buffer's removedCount() before the batch was taken
        int takes = 0;                  ///< takeBatch() calls it was made of (acknowledged one by one)
        QTimer *backoff = nullptr;      ///< owned by the worker; created at the first retry
        QElapsedTimer posted;           ///< since its latest post
    };
    /**
     * A push goes out beside others only once the oldest under way has waited this long for its answer: on
     * a fast link (loopback, a LAN) one push at a time keeps up and holds less memory; across latency the
     * slots fill.
     */
    static constexpr qint64 besideOthersAfterMs = 2;

    int unresolvedPushes() const;
    int maxInFlight() const;
    /** Whether a batch waits for a retry (backoff, Retry-After, the network). */
    bool anyRetrying() const;
    /** The push slots open now (LokiBatcher::pushSlots); starts m_slotTimer when one opens later. */
    int openSlots();
    /** Takes a batch and posts it; false when the batch was resolved without a push. */
    bool dispatch();
    void encodeFront(Push &push);
    void post(Push &push);
    void onBackoffTimeout(Push *push);
    void onPushFinished(quint64 ticket, const LokiPushOutcome &outcome);
    void startBackoff(Push &push, std::chrono::milliseconds delay, bool precise);
    /** The part under way is done (delivered or failed for good): go on with the next part, or resolve. */
    void nextPart(Push &push);
    /** Acknowledges the resolved batches at the front, in the order they were taken. */
    void acknowledgeResolved();
    /** Measures the clock's offset from an answer's Date header and corrects new timestamps by it. */
    void learnClock(const QByteArray &date);
    void finishFlushes();
    void reportDrops();

    const LokiConfig &m_config;
    LokiEntryBuffer &m_buffer;
    LokiCounterSet &m_counters;
    LokiClientStatus &m_status;
    LokiPushTransport *m_transport = nullptr;
    QTimer *m_waitTimer = nullptr;
    QTimer *m_syncTimer = nullptr; ///< SpoolSync::Interval
    QTimer *m_slotTimer = nullptr; ///< runs only while pushes are under way: see besideOthersAfterMs

    // The batches under way, in the order they were taken (resolved ones wait here for their turn).
    std::vector<std::unique_ptr<Push>> m_pushes; // a handful: erasing at the front is cheap
    LokiConfig::Encoding m_encoding;             ///< for new bodies: JSON for good after a 415
    bool m_waitDue = false;
    bool m_stopped = false;
    bool m_offline = false; ///< the system reports no network
    qint64 m_reportedDrops = 0;
    qint64 m_reportedNoSpace = 0;
    qint64 m_reportedExpired = 0;
    std::vector<PendingFlush> m_flushes;
};

#endif // LOKIQT_LOKIWORKER_P_H
