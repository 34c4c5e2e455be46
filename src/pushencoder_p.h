// SPDX-License-Identifier: MIT
#ifndef LOKIQT_PUSHENCODER_P_H
#define LOKIQT_PUSHENCODER_P_H

// Turns a batch of queued entries into a push body. Pure: no I/O, no state.

#include "entry_p.h"

#include <lokiqt/lokiconfig.h>

#include <QtCore/QByteArray>

#include <vector>

namespace LokiPushEncoder {

struct Body
{
    QByteArray data;
    QByteArray contentType;
    QByteArray contentEncoding; ///< empty for identity
    qsizetype decodedSize = 0;  ///< size before compression
};

/**
 * Groups @p entries by stream (streams in order of first appearance) and puts each stream's entries in
 * timestamp order (stable: equal timestamps keep their order). The encoders below expect this order.
 */
void groupByStream(std::vector<LokiQueuedEntry> &entries);

/** Loki's JSON push body; structured metadata as the optional third element of a value. */
Body encodeJson(const std::vector<LokiQueuedEntry> &entries);
/** Loki's protobuf PushRequest (logproto), snappy block-compressed, as Loki's own agents send it. */
Body encodeProtobufSnappy(const std::vector<LokiQueuedEntry> &entries);
/** The protobuf PushRequest uncompressed (for tests and size figures). */
QByteArray encodeProtobuf(const std::vector<LokiQueuedEntry> &entries);
/** gzip (RFC 1952) of @p data at zlib @p level; empty on failure. */
QByteArray gzip(const QByteArray &data, int level);

/** Groups @p entries and encodes them as @p encoding says. */
Body encode(std::vector<LokiQueuedEntry> &entries, LokiConfig::Encoding encoding, int gzipLevel);

} // namespace LokiPushEncoder

#endif // LOKIQT_PUSHENCODER_P_H
