// SPDX-License-Identifier: MIT
#ifndef LOKIQT_SPOOLFORMAT_P_H
#define LOKIQT_SPOOLFORMAT_P_H

// The spool's record format as a pure codec: bytes in, records out, and back. No files here (the spool
// buffer does the I/O); the fuzzer (fuzz/fuzz_spool.cpp) drives the reader through these functions.

#include "entry_p.h"

#include <QtCore/QByteArray>

/**
 * The on-disk format, as pure functions (the reader is fuzzed through them).
 *
 * A segment file starts with the 8-byte magic "LOKIQTS1" and holds records:
 *
 *     u32 payload length | u32 CRC-32 of the payload | payload
 *
 * all integers little-endian. A payload starts with its type:
 *   - 1, stream: u32 id | u32 n | n bytes key (Prometheus form) | u32 n | n bytes labels as JSON;
 *     ids are local to the segment and defined before the first entry that uses them;
 *   - 2, entry: i64 timestamp (ns) | i64 clock offset in force when it was stamped (ns) | u32 stream id |
 *     u32 n | n bytes line | u32 count | count × (u32 n | name | u32 n | value) structured metadata.
 */
namespace LokiSpoolFormat {
constexpr char magic[] = "LOKIQTS1";
constexpr qsizetype magicSize = 8;
constexpr qsizetype recordHeaderSize = 8;
/** No record is larger: a length beyond it can only be damage. */
constexpr quint32 maxPayloadBytes = 256u * 1024 * 1024;

enum class RecordType : quint8 { Stream = 1, Entry = 2 };

struct Record
{
    RecordType type = RecordType::Entry;
    // Stream
    quint32 streamId = 0;
    QByteArray key;
    QByteArray json;
    // Entry (streamId too)
    qint64 timestampNs = 0;
    qint64 clockOffsetNs = 0;
    QByteArray line;
    LokiMetadata metadata;
};

void appendStream(QByteArray &out, quint32 id, const QByteArray &key, const QByteArray &json);
void appendEntry(QByteArray &out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId,
                 const QByteArray &line, const LokiMetadata &metadata);
/** The bytes appendEntry() adds for @p entry. */
qint64 entrySize(const LokiQueuedEntry &entry);

enum class ReadStatus {
    Ok,       ///< one record read into @p out; @p consumed says how many bytes it took
    NeedMore, ///< @p data ends inside a record (a torn tail when the file ends there)
    Corrupt,  ///< the record at the start of @p data is damaged
};
/** Reads the record at the start of @p data (@p size bytes). Never reads outside them. */
ReadStatus readRecord(const char *data, qsizetype size, Record *out, qsizetype *consumed);

/** CRC-32 (zlib's) of @p size bytes, as records and the acknowledgement file carry it. */
quint32 crcOf(const char *data, qsizetype size);
/** Whether @p data (at least magicSize bytes) starts with the magic. */
bool hasMagic(const char *data, qsizetype size);
} // namespace LokiSpoolFormat

#endif // LOKIQT_SPOOLFORMAT_P_H
