// SPDX-License-Identifier: MIT
#ifndef LOKIQT_PUSHENCODER_P_H
#define LOKIQT_PUSHENCODER_P_H

// Turns a batch of queued entries into a push body. Pure: no I/O, no state.

#include "entryqueue_p.h"

#include <QtCore/QByteArray>

#include <vector>

namespace LokiPushEncoder {

struct Body
{
    QByteArray data;
    QByteArray contentType;
    QByteArray contentEncoding; ///< empty for identity
};

/**
 * Groups @p entries by stream (streams in order of first appearance), puts each stream's entries in
 * timestamp order (stable: equal timestamps keep their order), and encodes Loki's JSON push body.
 */
Body encodeJson(std::vector<LokiQueuedEntry> &entries);

} // namespace LokiPushEncoder

#endif // LOKIQT_PUSHENCODER_P_H
