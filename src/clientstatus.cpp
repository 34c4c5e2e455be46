// SPDX-License-Identifier: MIT
#include "clientstatus_p.h"

#include <QtCore/QLoggingCategory>
#include <QtCore/QMetaObject>
#include <QtCore/QThread>

Q_DECLARE_LOGGING_CATEGORY(lcLoki)

void LokiClientStatus::post(std::atomic<bool> &pending, void (LokiClientStatus::*deliver)())
{
    if (pending.load(std::memory_order_relaxed) || pending.exchange(true))
        return; // an event is on its way and will deliver this change too
    QMetaObject::invokeMethod(
        m_client, [this, deliver] { (this->*deliver)(); }, Qt::QueuedConnection);
}

void LokiClientStatus::reportError(const LokiError &error)
{
    {
        QMutexLocker lock(&m_mutex);
        m_lastError = error;
        if (int(m_pendingErrors.size()) >= maxPendingErrors) {
            m_pendingErrors.pop_front();
            m_droppedSignals.fetch_add(1, std::memory_order_relaxed);
        }
        m_pendingErrors.push_back(error);
    }
    qCDebug(lcLoki) << error.toString();
    post(m_errorsPosted, &LokiClientStatus::deliverErrors);
}

LokiError LokiClientStatus::lastError() const
{
    QMutexLocker lock(&m_mutex);
    return m_lastError;
}

int LokiClientStatus::pendingErrors() const
{
    QMutexLocker lock(&m_mutex);
    return int(m_pendingErrors.size());
}

void LokiClientStatus::notifyCounters()
{
    post(m_countersPosted, &LokiClientStatus::deliverCounters);
}

void LokiClientStatus::setState(LokiClient::State next)
{
    LokiClient::State current = m_state.load();
    do {
        if (current == LokiClient::State::Closed || current == next)
            return;
    } while (!m_state.compare_exchange_weak(current, next));
    post(m_statePosted, &LokiClientStatus::deliverState);
}

bool LokiClientStatus::close()
{
    if (m_state.exchange(LokiClient::State::Closed) == LokiClient::State::Closed)
        return false;
    if (QThread::currentThread() == m_client->thread()) {
        deliverState();
    } else {
        post(m_statePosted, &LokiClientStatus::deliverState);
    }
    return true;
}

void LokiClientStatus::deliverErrors()
{
    m_errorsPosted.store(false);
    std::deque<LokiError> errors;
    {
        QMutexLocker lock(&m_mutex);
        errors.swap(m_pendingErrors);
    }
    for (const LokiError &error : errors) {
        if (m_errorObserver)
            m_errorObserver(error);
        Q_EMIT m_client->errorOccurred(error);
    }
}

void LokiClientStatus::deliverState()
{
    m_statePosted.store(false);
    // What holds now: a burst of changes arrives as one signal with the latest state.
    const LokiClient::State now = m_state.load();
    if (now == m_emittedState)
        return;
    m_emittedState = now;
    Q_EMIT m_client->stateChanged(now);
}

void LokiClientStatus::deliverCounters()
{
    m_countersPosted.store(false);
    Q_EMIT m_client->countersChanged();
}
