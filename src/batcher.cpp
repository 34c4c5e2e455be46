// SPDX-License-Identifier: MIT
#include "batcher_p.h"

namespace LokiBatcher {

Action decide(const Inputs &in)
{
    if (in.batchUnderWay)
        return Action::None;
    if (in.bufferEmpty)
        return Action::Idle;
    if (in.flushRequested || in.waitDue || in.fullBatch)
        return Action::Dispatch;
    return Action::Wait;
}

} // namespace LokiBatcher
