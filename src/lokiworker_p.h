// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKIWORKER_P_H
#define LOKIQT_LOKIWORKER_P_H

#include "entry_p.h"
#include "pushencoder_p.h"

#include <lokiqt/lokiconfig.h>

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
 * One batch is under way at a time (pushing or waiting for its backoff), which keeps each stream's entries
 * in order at Loki; entries that arrive meanwhile wait in the queue, where backpressure applies to them.
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
    bool isWaitingForNetwork() const { return m_waitingForNetwork; }
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

    bool batchUnderWay() const { return !m_parts.empty(); }
    void dispatch();
    void encodeFront();
    void post();
    void onBackoffTimeout();
    void onPushFinished(const LokiPushOutcome &outcome);
    /** The part under way is done (delivered or failed for good): go on with the next part, or finish. */
    void nextPart();
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
    QTimer *m_backoffTimer = nullptr;
    QTimer *m_syncTimer = nullptr; ///< SpoolSync::Interval

    // The batch under way, as parts pushed one after the other: one part unless a 413 split it.
    std::deque<std::vector<LokiQueuedEntry>> m_parts;
    LokiPushEncoder::Body m_body; ///< the encoded front part
    LokiConfig::Encoding m_encoding;
    qint64 m_batchClockOffsetNs = 0; ///< the clock offset in force when the batch under way was taken
    bool m_batchClockCorrected = false;
    int m_attempt = 0;
    bool m_waitDue = false;
    bool m_stopped = false;
    bool m_offline = false;           ///< the system reports no network
    bool m_waitingForNetwork = false; ///< a push failed while offline and waits for the network
    qint64 m_reportedDrops = 0;
    qint64 m_reportedNoSpace = 0;
    qint64 m_reportedExpired = 0;
    std::vector<PendingFlush> m_flushes;
};

#endif // LOKIQT_LOKIWORKER_P_H
