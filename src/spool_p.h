// SPDX-License-Identifier: MIT
#ifndef LOKIQT_SPOOL_P_H
#define LOKIQT_SPOOL_P_H

// The disk spool: a queue of entries in segment files that outlives the process (see LokiConfig::Spool).

#include "entryqueue_p.h"

#include <QtCore/QByteArray>
#include <QtCore/QFile>
#include <QtCore/QHash>
#include <QtCore/QLockFile>
#include <QtCore/QString>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

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
} // namespace LokiSpoolFormat

/**
 * The spool directory of one client. Not thread-safe: its owner (LokiEntryQueue) calls it under its lock.
 */
class LokiSpool
{
public:
    struct Options
    {
        QString directory;
        qint64 maxBytes = 64 * 1024 * 1024;
        qint64 segmentBytes = 4 * 1024 * 1024;
        LokiConfig::SpoolSync sync = LokiConfig::SpoolSync::Interval;
        std::chrono::milliseconds maxAge{std::chrono::hours(24 * 7)};
        /** For SpoolSync::PerBatch: sync after this many entries or bytes written. */
        int syncEntries = 2000;
        qint64 syncBytes = 1024 * 1024;
    };
    /** The interned stream for a key and its JSON form read back from a segment. */
    using StreamResolver =
        std::function<const LokiStreamInfo *(const QByteArray &key, const QByteArray &json)>;
    /** Told about damage found and I/O errors, one sentence each. */
    using Reporter = std::function<void(const QString &message)>;

    LokiSpool(const Options &options, StreamResolver resolver, Reporter reporter);
    ~LokiSpool();
    LokiSpool(const LokiSpool &) = delete;
    LokiSpool &operator=(const LokiSpool &) = delete;

    /**
     * Creates and locks the directory, and counts what an earlier run left in it (checking every record).
     * False, with a sentence in @p error, when the directory cannot be used (for example because another
     * process holds it).
     */
    bool open(QString *error);

    /** Whether @p entry fits into the disk bound. */
    bool hasRoomFor(const LokiQueuedEntry &entry) const;
    /** Appends @p entry (stamped while @p clockOffsetNs was in force). False on an I/O error (reported). */
    bool append(const LokiQueuedEntry &entry, qint64 clockOffsetNs);
    /**
     * Deletes the oldest segment file to make room (rolling over the file being written first when it is
     * the only one). Returns how many entries in it had not been taken yet (and are now dropped) and their
     * line bytes in @p bytes; -1 when there is nothing to delete.
     */
    qint64 dropOldestSegment(qint64 *bytes);

    /**
     * Reads up to one batch of the entries not taken yet, oldest first, with their timestamps corrected from
     * the offset they were stamped with to @p clockOffsetNs. Entries older than Options::maxAge are skipped
     * and counted in @p expired; entries lost because their segment was damaged after open() checked it
     * are counted in @p damaged. Returns the line bytes taken, skipped and lost.
     */
    qint64 take(std::vector<LokiQueuedEntry> &out, int maxEntries, qint64 maxBytes, qint64 clockOffsetNs,
                qint64 *expired, qint64 *damaged);
    /** Everything taken so far is resolved (delivered or failed for good): remembered, and segments freed.
     *  Returns true when disk space was freed. */
    bool acknowledge();

    /** Forces what was written onto the storage (fdatasync). */
    void sync();
    bool needsSync() const { return m_unsyncedEntries > 0; }

    /** Entries (and their line bytes) written, by this run or an earlier one, and not taken yet. */
    qint64 pendingEntries() const { return m_pendingEntries; }
    qint64 pendingBytes() const { return m_pendingBytes; }
    /** Entries an earlier run left (counted by open()). */
    qint64 replayedEntries() const { return m_replayed; }
    /** The disk the segment files use. */
    qint64 diskBytes() const { return m_diskBytes; }
    int segmentCount() const { return int(m_segments.size()); }
    const QString &directory() const { return m_options.directory; }

private:
    struct Segment
    {
        quint64 number = 0;
        qint64 size = 0;      ///< bytes of valid records (and the magic)
        qint64 fileBytes = 0; ///< what the file takes on disk (more than size when its tail is damaged)
        qint64 entries = 0;   ///< entry records after the acknowledged position
        qint64 lineBytes = 0;
    };
    struct Position
    {
        quint64 segment = 0;
        qint64 offset = 0;
    };

    QString segmentPath(quint64 number) const;
    bool startSegment(quint64 number);
    bool writeAck(const Position &position);
    /** Checks @p segment from @p from on: counts its entries and finds where valid records end. */
    void scan(Segment &segment, qint64 from);
    void removeSegment(std::deque<Segment>::iterator it);
    /** Makes sure the read buffer holds the bytes at the cursor; false at the end of the segment. */
    bool fill(const Segment &segment, qsizetype need);
    void moveCursorTo(const Segment &segment, qint64 offset);
    void fail(const QString &message);

    const Options m_options;
    const qint64 m_segmentLimit;
    StreamResolver m_resolve;
    Reporter m_report;
    std::unique_ptr<QLockFile> m_lock;

    std::deque<Segment> m_segments; ///< oldest first; the last is the one written
    QFile m_writeFile;
    QHash<const LokiStreamInfo *, quint32> m_writeStreams; ///< ids defined in the segment written
    QByteArray m_writeBuffer;
    int m_unsyncedEntries = 0;
    qint64 m_unsyncedBytes = 0;

    Position m_cursor; ///< the next record to take
    QFile m_readFile;
    quint64 m_readFileSegment = 0;
    QByteArray m_readBuffer;
    qint64 m_readBufferStart = 0; ///< file offset of m_readBuffer's first byte
    QHash<quint32, const LokiStreamInfo *> m_readStreams;
    qint64 m_skipBelow = 0; ///< in the cursor's segment, entries before this offset were delivered before
    qint64 m_takenInCursorSegment = 0; ///< entries of the cursor's segment taken (or dropped)
    qint64 m_takenBytesInCursorSegment = 0;

    QFile m_ackFile;
    Position m_acked;
    qint64 m_pendingEntries = 0;
    qint64 m_pendingBytes = 0;
    qint64 m_replayed = 0;
    qint64 m_diskBytes = 0;
    bool m_writeFailed = false;
};

#endif // LOKIQT_SPOOL_P_H
