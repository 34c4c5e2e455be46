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

} // namespace LokiBatcher
