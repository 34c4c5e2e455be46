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
 * Four versions, with the same records:
 *   - "LOKIQTS1" (lokiqt before issue 10): the records fill the file; anything after the last whole record
 *     is damage (a torn tail); the CRC is zlib's CRC-32;
 *   - "LOKIQTS2": the writer may reserve the file's space ahead of its records (it writes them into a
 *     mapping of the file), so the records may be followed by zero bytes up to the file's end. A run of
 *     zeros from a record boundary to the end of the file is where the records end, not damage; a writer
 *     killed while it wrote a record leaves that record's length zero (it is written last), so the
 *     torn record reads as that end too. CRC-32 as in version 1;
 *   - "LOKIQTS3": as version 2, with CRC-32C (Castagnoli, the checksum of iSCSI,
 *     ext4 and SSE 4.2's crc32 instruction) instead of zlib's CRC-32: the same detection of torn and
 *     damaged records (a 32-bit CRC either way), at a fraction of the cost where the processor computes
 *     it (x86-64 with SSE 4.2, ARMv8 with its CRC extension); elsewhere a table-driven one;
 *   - "LOKIQTS4" (what new segments are): as version 3, and the CRC covers the segment's number (u64
 * little-endian, the number in its file name) before the payload, and a zero length where a record would
 * start ends the records, whatever follows: the writer reuses the file of an acknowledged segment for a later
 * one (its blocks and page cache), keeping the 4 bytes after its last record zero, and a record left there by
 * the file's earlier use never checks.
 *
 * all integers little-endian. A payload starts with its type:
 *   - 1, stream: u32 id | u32 n | n bytes key (Prometheus form) | u32 n | n bytes labels as JSON;
 *     ids are local to the segment and defined before the first entry that uses them;
 *   - 2, entry: i64 timestamp (ns) | i64 clock offset in force when it was stamped (ns) | u32 stream id |
 *     u32 n | n bytes line | u32 count | count × (u32 n | name | u32 n | value) structured metadata.
 */
namespace LokiSpoolFormat {
/** What new segments start with (version 4). */
constexpr char magic[] = "LOKIQTS4";
/** Segments of lokiqt before issue 10: still read. */
constexpr char magicV1[] = "LOKIQTS1";
/** Segments of lokiqt from issue 10 until CRC-32C: still read. */
constexpr char magicV2[] = "LOKIQTS2";
/** Segments of lokiqt with CRC-32C before segment files were reused (no salt): still read. */
constexpr char magicV3[] = "LOKIQTS3";
/** The version of the segments written now, the default of the functions below. */
constexpr int currentVersion = 4;
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

// @p version (1 to 4) says which CRC the record carries (versions 1 to 3 only for tests and the fuzzer);
// @p salt is the number of the segment it goes into, which a version 4 CRC covers.
void appendStream(QByteArray &out, quint32 id, const QByteArray &key, const QByteArray &json,
                  int version = currentVersion, quint64 salt = 0);
void appendEntry(QByteArray &out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId,
                 const QByteArray &line, const LokiMetadata &metadata, int version = currentVersion,
                 quint64 salt = 0);
/** The bytes appendEntry() adds for @p entry. */
qint64 entrySize(const LokiQueuedEntry &entry);
/** The bytes appendStream() adds. */
qint64 streamSize(const QByteArray &key, const QByteArray &json);
/** The bytes appendEntry() adds for this line and metadata. */
qint64 entrySize(const QByteArray &line, const LokiMetadata &metadata);

/** As appendStream(), into @p out, which has room for streamSize() bytes. The length is written last. */
void writeStream(char *out, quint32 id, const QByteArray &key, const QByteArray &json,
                 int version = currentVersion, quint64 salt = 0);
/** As appendEntry(), into @p out, which has room for entrySize() bytes. The length is written last. */
void writeEntry(char *out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId, const QByteArray &line,
                const LokiMetadata &metadata, int version = currentVersion, quint64 salt = 0);

enum class ReadStatus {
    Ok,       ///< one record read into @p out; @p consumed says how many bytes it took
    NeedMore, ///< @p data ends inside a record (a torn tail when the file ends there)
    Corrupt,  ///< the record at the start of @p data is damaged
};
/** How readRecord() hands out the line. */
enum class LineCopy {
    Copy, ///< Record::line owns a copy
    View, ///< Record::line is QByteArray::fromRawData() into @p data: valid only as long as it is
};
/** Reads the record at the start of @p data (@p size bytes), of segment number @p salt of @p version. Never
 *  reads outside them. */
ReadStatus readRecord(const char *data, qsizetype size, Record *out, qsizetype *consumed,
                      int version = currentVersion, LineCopy line = LineCopy::Copy, quint64 salt = 0);

/** CRC-32 (zlib's) of @p size bytes, as records of versions 1 and 2 and the acknowledgement file carry it.
 */
quint32 crcOf(const char *data, qsizetype size);
/** CRC-32C (Castagnoli) of @p size bytes, as records of version 3 carry it (version 4 after the segment
 * number): with the processor's instruction where it has one, else table-driven (the same values). */
quint32 crc32cOf(const char *data, qsizetype size);
/** The table-driven CRC-32C, whatever the processor has (for tests: it must agree with crc32cOf()). */
quint32 crc32cPortable(const char *data, qsizetype size);
/** For tests: makes crc32cOf() and the writers use the table-driven code even where the processor has an
 *  instruction (@p portable), or the instruction again. Returns whether it took effect. */
bool setPortableCrc32c(bool portable);
/** The CRC a record of segment number @p salt of @p version carries (of its payload, @p size bytes). */
quint32 recordCrc(int version, const char *data, qsizetype size, quint64 salt = 0);
/** Whether @p data starts with a magic this reader knows (any version). */
bool hasMagic(const char *data, qsizetype size);
/** The segment version @p data starts with: 1 to 4, or 0 for none. */
int segmentVersion(const char *data, qsizetype size);
/** Whether all @p size bytes at @p data are zero: in a version 2 or 3 segment, the space reserved past the
 * records. */
bool isZeroTail(const char *data, qsizetype size);
} // namespace LokiSpoolFormat

#endif // LOKIQT_SPOOLFORMAT_P_H
