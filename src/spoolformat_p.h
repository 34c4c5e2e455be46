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
 * A segment file starts with an 8-byte magic and holds records:
 *
 *     u32 payload length | u32 CRC-32 of the payload | payload
 *
 * Two versions, with the same records:
 *   - "LOKIQTS1" (lokiqt before issue 10): the records fill the file; anything after the last whole record
 *     is damage (a torn tail);
 *   - "LOKIQTS2": the writer may reserve the file's space ahead of its records (it writes them into a
 *     mapping of the file), so the records may be followed by zero bytes up to the file's end. A run of
 *     zeros from a record boundary to the end of the file is where the records end, not damage; a writer
 *     killed while it wrote a record leaves that record's length zero (it is written last), so the
 *     torn record reads as that end too.
 *
 * all integers little-endian. A payload starts with its type:
 *   - 1, stream: u32 id | u32 n | n bytes key (Prometheus form) | u32 n | n bytes labels as JSON;
 *     ids are local to the segment and defined before the first entry that uses them;
 *   - 2, entry: i64 timestamp (ns) | i64 clock offset in force when it was stamped (ns) | u32 stream id |
 *     u32 n | n bytes line | u32 count | count × (u32 n | name | u32 n | value) structured metadata.
 */
namespace LokiSpoolFormat {
/** What new segments start with. */
constexpr char magic[] = "LOKIQTS2";
/** Segments of lokiqt before issue 10: still read. */
constexpr char magicV1[] = "LOKIQTS1";
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
/** The bytes appendStream() adds. */
qint64 streamSize(const QByteArray &key, const QByteArray &json);
/** The bytes appendEntry() adds for this line and metadata. */
qint64 entrySize(const QByteArray &line, const LokiMetadata &metadata);

/** As appendStream(), into @p out, which has room for streamSize() bytes. The length is written last. */
void writeStream(char *out, quint32 id, const QByteArray &key, const QByteArray &json);
/** As appendEntry(), into @p out, which has room for entrySize() bytes. The length is written last. */
void writeEntry(char *out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId, const QByteArray &line,
                const LokiMetadata &metadata);

enum class ReadStatus {
    Ok,       ///< one record read into @p out; @p consumed says how many bytes it took
    NeedMore, ///< @p data ends inside a record (a torn tail when the file ends there)
    Corrupt,  ///< the record at the start of @p data is damaged
};
/** Reads the record at the start of @p data (@p size bytes). Never reads outside them. */
ReadStatus readRecord(const char *data, qsizetype size, Record *out, qsizetype *consumed);

/** CRC-32 (zlib's) of @p size bytes, as records and the acknowledgement file carry it. */
quint32 crcOf(const char *data, qsizetype size);
/** Whether @p data starts with a magic this reader knows (either version). */
bool hasMagic(const char *data, qsizetype size);
/** The segment version @p data starts with: 1, 2, or 0 for none. */
int segmentVersion(const char *data, qsizetype size);
/** Whether all @p size bytes at @p data are zero: in a version 2 segment, the space reserved past the
 * records. */
bool isZeroTail(const char *data, qsizetype size);
} // namespace LokiSpoolFormat

#endif // LOKIQT_SPOOLFORMAT_P_H
