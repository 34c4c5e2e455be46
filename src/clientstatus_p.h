// SPDX-License-Identifier: MIT
#ifndef LOKIQT_CLIENTSTATUS_P_H
#define LOKIQT_CLIENTSTATUS_P_H

// What a client publishes about itself: its state, its latest error and the signals that announce changes of
// them and of its counters. Written by senders, the worker and the facade in any thread; read by anyone.

#include <lokiqt/lokiclient.h>

#include <QtCore/QMutex>

#include <atomic>
#include <deque>
#include <functional>

/**
 * The status of one client, and the only way anything reaches the LokiClient's signals.
 *
 * Signals are emitted in the owner thread through events posted to the LokiClient, and at most one event of
 * each kind (errors, state, counters) is posted at a time: a burst of changes arrives as one event, and an
 * owner thread that runs no event loop for a while finds a bounded backlog, not one event per change. Errors
 * that wait for delivery are kept up to maxPendingErrors; past it the oldest waiting ones are not signalled
 * (lastError() is always the latest, and droppedSignals() counts what was skipped).
 *
 * The state never leaves Closed: once close() published it, the worker's later changes are ignored.
 */
class LokiClientStatus
{
public:
    static constexpr int maxPendingErrors = 64;

    explicit LokiClientStatus(LokiClient *client)
        : m_client(client)
    {}
    LokiClientStatus(const LokiClientStatus &) = delete;
    LokiClientStatus &operator=(const LokiClientStatus &) = delete;

    /** Any thread. Stores @p error as lastError() and emits errorOccurred() in the owner thread. */
    void reportError(const LokiError &error);
    /** Any thread. */
    LokiError lastError() const;

    /** Any thread. Emits countersChanged() in the owner thread soon, once for a burst of changes. */
    void notifyCounters();

    /** Any thread. Publishes @p state unless the client is closed; stateChanged() follows in the owner
     * thread. */
    void setState(LokiClient::State state);
    /** Any thread. Publishes Closed for good. Returns false when it was published before. */
    bool close();
    LokiClient::State state() const { return m_state.load(); }

    /** Errors not signalled because too many waited for the owner thread (see the class comment). */
    qint64 droppedSignals() const { return m_droppedSignals.load(); }
    /** Errors waiting for the owner thread to signal them. */
    int pendingErrors() const;

    /** Owner thread, before the worker starts. @p observer sees each error in the owner thread just before
     *  errorOccurred() carries it. */
    void setErrorObserver(std::function<void(const LokiError &)> observer)
    {
        m_errorObserver = std::move(observer);
    }

private:
    void post(std::atomic<bool> &pending, void (LokiClientStatus::*deliver)());
    // Owner thread, from the posted events.
    void deliverErrors();
    void deliverState();
    void deliverCounters();

    LokiClient *const m_client;
    std::function<void(const LokiError &)> m_errorObserver;

    mutable QMutex m_mutex;
    LokiError m_lastError;
    std::deque<LokiError> m_pendingErrors;
    std::atomic<qint64> m_droppedSignals{0};

    std::atomic<LokiClient::State> m_state{LokiClient::State::Idle};
    LokiClient::State m_emittedState = LokiClient::State::Idle; ///< owner thread only

    std::atomic<bool> m_errorsPosted{false};
    std::atomic<bool> m_statePosted{false};
    std::atomic<bool> m_countersPosted{false};
};

#endif // LOKIQT_CLIENTSTATUS_P_H
