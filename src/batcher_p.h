// SPDX-License-Identifier: MIT
#ifndef LOKIQT_BATCHER_P_H
#define LOKIQT_BATCHER_P_H

// When a batch goes out: the batch triggers as a pure function of what the worker sees.

#include <QtCore/QtGlobal>

namespace LokiBatcher {

/** What the worker knows when it looks at the buffer. */
struct Inputs
{
    int pushesUnderWay = 0;      ///< batches taken and not resolved (pushing, or waiting for a retry)
    int maxPushes = 1;           ///< LokiConfig::Batching::maxInFlight
    bool bufferEmpty = true;     ///< nothing waits in the buffer
    bool fullBatch = false;      ///< the buffer holds batch.maxEntries entries or batch.maxBytes bytes
    bool waitDue = false;        ///< batch.maxWait passed since the first entry of this batch arrived
    bool flushRequested = false; ///< a flush() (or close()) waits: push now, whatever the triggers say
};

/** What the worker does about it. */
enum class Action {
    None,     ///< every push slot is busy: a push's end looks again
    Listen,   ///< pushes are under way, a slot is free and nothing waits: wake on the next entry
    Idle,     ///< nothing to send and nothing under way: no timer runs; wake on the next entry
    Dispatch, ///< take a batch and push it now
    Wait,     ///< entries wait for a trigger: run the maxWait timer (if not running) and wake on a full batch
};

/** The decision; see Action. Flush requests and the wait timer count only when there is something to send. */
Action decide(const Inputs &in);

/** How many pushes may be under way now (Inputs::maxPushes), and when to look again. */
struct Slots
{
    int maxPushes = 1;
    qint64 lookAgainInMs = -1; ///< a push slot opens then (the oldest push has waited long enough); -1: none
};

/**
 * Push slots: all of @p maxInFlight once the oldest push under way has waited @p besideOthersAfterMs for its
 * answer (a slow link: several pushes keep it busy), only those under way while answers come quickly (a fast
 * link: one at a time keeps up, and holds less memory), and one while a push waits for its retry (Loki is in
 * trouble: the queue fills and backpressure applies). @p oldestWaitMs: how long the oldest push posted and
 * not answered has waited; -1 when none is posted (they all wait for a retry, or none is under way).
 */
Slots pushSlots(int maxInFlight, int underWay, qint64 oldestWaitMs, bool retrying,
                qint64 besideOthersAfterMs);

} // namespace LokiBatcher

#endif // LOKIQT_BATCHER_P_H
