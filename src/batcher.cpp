// SPDX-License-Identifier: MIT
#include "batcher_p.h"

namespace LokiBatcher {

Action decide(const Inputs &in)
{
    if (in.pushesUnderWay >= in.maxPushes)
        return Action::None;
    if (in.bufferEmpty)
        return in.pushesUnderWay > 0 ? Action::Listen : Action::Idle;
    if (in.flushRequested || in.waitDue || in.fullBatch)
        return Action::Dispatch;
    return Action::Wait;
}

Slots pushSlots(int maxInFlight, int underWay, qint64 oldestWaitMs, bool retrying, qint64 besideOthersAfterMs)
{
    if (retrying)
        return {1, -1};
    if (maxInFlight <= 1 || underWay == 0 || oldestWaitMs >= besideOthersAfterMs)
        return {maxInFlight, -1};
    return {underWay, oldestWaitMs >= 0 ? besideOthersAfterMs - oldestWaitMs : -1};
}

} // namespace LokiBatcher
