// SPDX-License-Identifier: MIT
#ifndef LOKIQT_SPOOLBUFFER_P_H
#define LOKIQT_SPOOLBUFFER_P_H

// The entry buffer on disk: segment files that outlive the process (see LokiConfig::Spool). The record
// format is in spoolformat_p.h.

#include "entrybuffer_p.h"
#include "spoolformat_p.h"

#include <QtCore/QFile>
#include <QtCore/QHash>
#include <QtCore/QLockFile>
#include <QtCore/QMutex>
#include <QtCore/QStringList>
#include <QtCore/QWaitCondition>

#include <atomic>
#include <deque>
#include <memory>

/**
 * A QHash with the entry found or added last at hand: the spool's records in a row mostly share a stream, so
 * most lookups of a stream's id (writing) or of an id's stream (reading) are one comparison. @p None stands
 * for "nothing at hand": a key never added (looked up, it finds a Value{}).
 */
template<typename Key, typename Value, Key None>
class LokiRecentHash
{
public:
    /** The value of @p key, or null when there is none. */
    const Value *find(const Key &key)
    {
        if (key == m_lastKey)
            return &m_lastValue;
        const auto it = m_values.constFind(key);
        if (it == m_values.constEnd())
            return nullptr;
        remember(key, it.value());
        return &m_lastValue;
    }
    void add(const Key &key, const Value &value)
    {
        m_values.insert(key, value);
        remember(key, value);
    }
    void clear()
    {
        m_values.clear();
        m_lastKey = None;
        m_lastValue = Value{};
    }
    qsizetype size() const { return m_values.size(); }

private:
    void remember(const Key &key, const Value &value)
    {
        m_lastKey = key;
        m_lastValue = value;
    }

    QHash<Key, Value> m_values;
    Key m_lastKey = None;
    Value m_lastValue{};
};

/**
 * The spool directory of one client, as an entry buffer. Every accepted entry is in the segment file being
 * written (copied into its shared mapping, or one write()) before push() returns, so a killed process loses
 * nothing accepted; the worker reads batches back through a file handle of its own and acknowledges them,
 * which frees the segments behind. Its bound is Options::maxBytes of segment files, and the file system
 * itself: when either is full the backpressure mode applies (Block waits for acknowledged room, DropNew
 * refuses, DropOldest deletes the oldest segment).
 *
 * Locks. m_mutex is the state lock that senders take. Under it a sender does bookkeeping and the copy (or
 * the one write()) of its record, and now and then the reservation of the next chunk of the file: the write
 * must stay under it, because the records of two senders must neither
 * interleave nor reach the file out of the order of their timestamps and stream definitions, and an
 * accepted entry must be in the kernel when push() returns (so SIGKILL loses nothing accepted). At rotation
 * the sender switches to a spare segment file the worker created beforehand (prepareSpare()); it opens a
 * file itself only when there is none (the first append after open, after a full disk, or when it writes
 * faster than the worker keeps up). In DropOldest mode on a full bound or disk, the oldest segment is
 * truncated and unlinked there too: the room must exist before the sender writes (a segment the worker
 * reads through a mapping has its blocks punched out instead: truncating it would be a SIGBUS in the
 * worker). The worker renames the segment being written under it when all of it was delivered
 * (rewindWriteFileLocked(): the file goes on as the next segment, and no sender may append between the
 * rename and the bookkeeping), once per such acknowledgement. Never under it: fsync/fdatasync (sync() works
 * on a shared handle of the file, outside the lock), the worker's reads (its own handle or read-only mapping;
 * only the bookkeeping of what it read is under the lock, and which segment it maps), the deletion of
 * acknowledged segments, and the acknowledgement file's writes. m_syncMutex orders sync() and the
 * acknowledgement writes; senders never take it.
 *
 * Files it cannot use (a foreign or damaged header, unreadable) are left untouched and reported; they are
 * not replayed and do not count toward maxBytes (it bounds the spool's own segments).
 */
class LokiSpoolBuffer final : public LokiEntryBuffer
{
public:
    struct Options
    {
        QString directory;
        qint64 maxBytes = 64 * 1024 * 1024;
        qint64 segmentBytes = 4 * 1024 * 1024;
        LokiConfig::SpoolSync sync = LokiConfig::SpoolSync::Interval;
        std::chrono::milliseconds syncInterval{1000};
        std::chrono::milliseconds maxAge{std::chrono::hours(24 * 7)};
        /** For SpoolSync::PerBatch: sync after this many entries or bytes written. */
        int syncEntries = 2000;
        qint64 syncBytes = 1024 * 1024;
    };
    /** The interned stream for a key and its JSON form read back from a segment. Any thread. */
    using StreamResolver =
        std::function<const LokiStreamInfo *(const QByteArray &key, const QByteArray &json)>;
    /** Told about damage found and I/O errors, one sentence each. Called outside the buffer's locks. */
    using Reporter = std::function<void(const QString &message)>;

    LokiSpoolBuffer(const Options &options, const Limits &limits, LokiCounterSet *counters,
                    StreamResolver resolver, Reporter reporter);
    ~LokiSpoolBuffer() override;
    LokiSpoolBuffer(const LokiSpoolBuffer &) = delete;
    LokiSpoolBuffer &operator=(const LokiSpoolBuffer &) = delete;

    /**
     * Creates and locks the directory, and counts what an earlier run left in it (checking every record).
     * Creates no segment file (the first append does), so a full disk still replays what is there. False,
     * with a sentence in @p error, when the directory cannot be used (for example because another process
     * holds it).
     */
    bool open(QString *error);

    PushResult push(LokiQueuedEntry &&entry, const LokiWait &wait) override;
    TakeStats takeBatch(std::vector<LokiQueuedEntry> &out) override;
    void acknowledge() override;
    void close() override;
    bool isClosed() const override;
    void sync() override;
    bool needsSync() const override;
    std::chrono::milliseconds syncTimerInterval() const override;
    void setClockOffset(qint64 ns) override;
    qint64 clockOffset() const override { return m_clockOffsetNs.load(std::memory_order_relaxed); }
    qint64 size() const override;
    bool hasFullBatch() const override;
    qint64 removedCount() const override;
    qint64 acceptedCount() const override;
    qint64 replayedCount() const override { return m_replayed; }
    bool armWake(WakeWhen when) override;
    void setWakeCallback(std::function<void()> wake) override { m_wake = std::move(wake); }
    Leftovers shutdownLeftovers(qint64 inFlight) override;
    bool isDurable() const override { return true; }
    QString boundDescription() const override;
    QString lastWriteError() const override;

    // For tests.
    /** The disk the spool's own segment files use. */
    qint64 diskBytes() const;
    int segmentCount() const;
    qint64 segmentLimit() const { return m_segmentLimit; }
    const QString &directory() const { return m_options.directory; }
    /** Whether delivered segment files are reused for later segments here (see m_reusable). */
    bool reusesSegmentFiles() const { return m_reuseFiles; }
    /** Whether the segment being written is in a reused file. */
    bool writesIntoReusedFile() const;

private:
    struct Segment
    {
        quint64 number = 0;
        qint64 size = 0;      ///< bytes of valid records (and the magic)
        qint64 fileBytes = 0; ///< what the file takes on disk (more than size when its tail is damaged)
        qint64 entries = 0;   ///< entry records after the acknowledged position
        qint64 lineBytes = 0;
        qint64 unacknowledged = 0; ///< entries taken from it and not acknowledged yet (in the worker's hands)
        bool zeroTail = false;     ///< scan(): only zeros (reserved space) follow its records in the file
        int version = LokiSpoolFormat::currentVersion; ///< the format (an earlier run's may be older)
    };
    struct Position
    {
        quint64 segment = 0;
        qint64 offset = 0;
    };
    enum class WriteResult { Ok, Failed };
    /**
     * A segment file being written, shared with sync() (which works on it outside the lock). Where the
     * system allows (Linux, on ext2/3/4, XFS or tmpfs), records are copied into a shared mapping of the
     * file, into space reserved on disk beforehand (posix_fallocate, then zeros written over it so the pages
     * are in the page cache, in chunks), so an append is no system call and a full disk shows as a
     * failed reservation, never as a SIGBUS; the mapping's pages are the page cache, so they survive a kill
     * of the process as a write() would. Elsewhere, or where the reservation is not supported, or for a
     * record that would cross the mapping's end: one write() per record, as before.
     */
    struct SegmentFile
    {
        QFile file;
        QString path;        ///< a QFile opened on a descriptor has no name of its own
        char *map = nullptr; ///< the shared mapping (mapSize bytes), or none: write() mode
        qint64 mapSize = 0;
        qint64 used = 0;     ///< bytes of records written (and the magic)
        qint64 reserved = 0; ///< the file's length, reserved on disk: at least used
        bool tight = false;  ///< a reservation failed: reserve only what each record needs from now on
        bool reused = false; ///< an acknowledged segment's file, reused (for tests)
        ~SegmentFile();
        void unmap();
    };

    QString segmentPath(quint64 number) const;
    QString lockPath() const;
    /** Makes the spool directory (and its parents), owner-only; false when it cannot be made. */
    bool makeDirectory();
    /** Locks the spool directory with a new m_lock, one that goes stale only with its process; false when
     *  another holds it (m_lock says who) or it cannot be locked. */
    bool lockDirectory();
    /** Checks @p segment from @p from on: counts its entries and finds where valid records end. False when
     *  the file is not a segment lokiqt can read (then it is left alone). */
    bool scan(Segment &segment, qint64 from);

    // Under m_mutex.
    bool hasRoomLocked(const LokiQueuedEntry &entry) const;
    WriteResult appendLocked(const LokiQueuedEntry &entry);
    bool startSegmentLocked();
    /** Stops writing to the current segment; its handle goes to the next sync() (or is just closed). The
     *  space reserved past its records is given back. */
    void retireWriteFileLocked(bool needsSync);
    /** Makes the segment being written reserve at least @p need bytes; false, with m_lastWriteError, when the
     *  file system refuses (a full disk). May switch the file to write() mode (no reservation here). */
    bool reserveLocked(qint64 need);
    /** Sets what the segment being written takes on disk (its file's length) in the bookkeeping. */
    void setFileBytesLocked(qint64 bytes);
    /** The bytes reserved past the records of the segment being written. */
    qint64 unusedReservationLocked() const;
    /**
     * Makes the segment being written, all of it delivered, the next segment from its start, in the same
     * file (renamed to the next number, its mapping, blocks and page cache kept): what an application that
     * logs steadily would otherwise pay at every batch (a new file, its reservation and zeros, a deletion).
     * False where it cannot (no mapping, a spare made already): then the segment goes as before.
     */
    bool rewindWriteFileLocked();
    /** The number the next segment gets: the spare's when there is one. */
    quint64 firstUnusedNumberLocked() const;
    /** Drops the retired handle of @p path (a segment about to be deleted) without syncing it. */
    void forgetRetiredLocked(const QString &path);
    /**
     * Makes the spool directory again, with its lock file, when it was removed while in use (a cleanup job, a
     * user clearing a cache); false when it is there (or cannot be made). Its acknowledgement file is made
     * again by the worker (m_ackGone). Reported once per removal.
     */
    bool restoreDirectoryLocked();
    /** Closes the spare (its file is left as it is) and gives back the disk counted for it. */
    void discardSpareLocked();
    /** Makes room in DropOldest mode; false when nothing can be dropped. */
    bool dropOldestLocked();
    /** Deletes the acknowledged file kept for reuse, or the spare made from one, giving its disk back; false
     *  when there is none (or the worker is making the spare right now). */
    bool dropReusableLocked();
    std::deque<Segment>::iterator cursorSegmentLocked();
    void moveCursorLocked(quint64 segment);
    bool hasFullBatchLocked() const;
    void reportLocked(const QString &message) { m_reports << message; }
    /** Outside m_mutex: hands the reports collected under it to the reporter. */
    void flushReports();

    // Worker, no lock.
    /** The bytes at @p offset of segment @p number, at least @p need of them below @p end (how many can be
     *  read there in @p available): in its mapping, or read into the read buffer; null if they cannot be. */
    const char *fill(quint64 number, qint64 offset, qint64 end, qsizetype need, qsizetype *available);
    void unmapReadFile();
    void closeReadFile();
    void removeFiles(const QStringList &paths);
    /** Creates segment file @p number holding the magic, mapped where the system allows. */
    std::shared_ptr<SegmentFile> createSegmentFile(quint64 number, QString *why) const;
    /** Makes the acknowledged segment file @p from segment file @p number (its records made unreadable, its
     *  blocks and pages kept), mapped as createSegmentFile() does. */
    std::shared_ptr<SegmentFile> reuseSegmentFile(const QString &from, quint64 number, QString *why) const;
    /** Creates the next segment file ahead of time, so a sender that rotates creates none under the lock;
     * from the file kept for reuse when there is one. */
    void prepareSpare();
    void syncDirectory();
    /**
     * Once per batch: whether the file being written (or the acknowledgement file) was removed while in use,
     * looked at on their handles. If so, the next entry goes into a new segment, in the directory made again
     * (restoreDirectoryLocked()), and the acknowledgement file is written again.
     */
    void checkFilesStillThere();
    /** Under m_syncMutex: writes @p ack into the acknowledgement file (synced by the next sync()). */
    bool writeAckLocked(const Position &ack);
    /** Under m_syncMutex: makes the acknowledgement file again and writes the acknowledged position to it. */
    void rewriteAckFileLocked();
    /** Entries written and not synced yet (or retired files to sync). */
    bool hasUnsyncedEntries() const;

    const Options m_options;
    const Limits m_limits;
    LokiCounterSet *const m_counters;
    qint64 m_segmentLimit;
    StreamResolver m_resolve;
    Reporter m_report;
    std::function<void()> m_wake;
    std::unique_ptr<QLockFile> m_lock;

    bool m_mapSegments = false;      ///< set by open(): the file system allows writing through a mapping
    bool m_reuseFiles = false;       ///< set by open(): delivered segment files may be reused (m_reusable)
    quint64 m_readMappedSegment = 0; ///< the segment the worker reads through a mapping (0: none)
    // On cache lines of their own: the mutex and what the senders write under it per entry (the settings
    // above, which the worker reads per record, would otherwise share the mutex's line).
    alignas(64) mutable QMutex m_mutex;
    QWaitCondition m_notFull;
    std::deque<Segment> m_segments; ///< oldest first; the last is the one written when m_writeFile is set
    std::shared_ptr<SegmentFile> m_writeFile;
    std::shared_ptr<SegmentFile> m_spare; ///< the next segment, made by the worker (magic only)
    quint64 m_spareNumber = 0;            ///< the spare's number, also while it is being made
    bool m_spareReserved = false;         ///< the worker is making the spare
    /**
     * An acknowledged segment file kept (not deleted) to become the next spare: its blocks are allocated and
     * its pages in the page cache, so the segment written into it costs no reservation, no zeros written and
     * no deletion. At most one; only while the spool is less than half full; files of the current version
     * (4) written through a mapping. Empty: none.
     */
    QString m_reusable;
    qint64 m_reusableBytes = 0; ///< the disk of m_reusable, counted in m_diskBytes
    qint64 m_spareBytes = 0;    ///< the disk of the spare when it was made from m_reusable, counted too
    std::vector<std::shared_ptr<SegmentFile>> m_retired; ///< rotated out, still to be synced by sync()
    /** The stream ids defined in the segment being written. */
    LokiRecentHash<const LokiStreamInfo *, quint32, nullptr> m_writeStreams;
    QByteArray m_writeBuffer;
    quint64 m_nextNumber = 1;
    int m_unsyncedEntries = 0;
    qint64 m_unsyncedBytes = 0;
    bool m_syncRequested = false; ///< PerBatch: a batch's worth is unsynced
    bool m_syncWakeSent = false;
    bool m_directoryDirty = false;
    bool m_ackGone = false; ///< the directory was made again: so must the acknowledgement file (the worker)
    Position m_cursor;      ///< the next record to take
    qint64 m_skipBelow = 0; ///< in the cursor's segment, entries before this offset were delivered before
    qint64 m_takenInCursorSegment = 0; ///< entries of the cursor's segment taken (or dropped)
    qint64 m_takenBytesInCursorSegment = 0;
    quint64 m_cursorGeneration = 0; ///< changes when a sender moves the cursor (drop-oldest)
    /** A batch taken and not acknowledged yet: where it ended, and how many entries it took from each
     * segment. */
    struct Taken
    {
        Position end;
        std::vector<std::pair<quint64, qint64>> perSegment;
    };
    /** In the order taken; acknowledge() resolves the oldest (several batches may be under way at once). */
    std::deque<Taken> m_taken;
    qint64 m_lostInFlight = 0; ///< taken, unacknowledged entries whose segment DropOldest deleted
    qint64 m_pendingEntries = 0;
    qint64 m_pendingBytes = 0;
    qint64 m_diskBytes = 0;
    qint64 m_lastTimestamp = 0;
    std::atomic<qint64> m_clockOffsetNs{0};
    qint64 m_removed = 0;
    qint64 m_accepted = 0;
    qint64 m_replayed = 0;
    WakeWhen m_wakeWhen = WakeWhen::AnyEntry;
    bool m_closed = false;
    bool m_writeFailed = false; ///< the last write failed (reported once until one succeeds)
    QString m_lastWriteError;
    QStringList m_reports;

    // Worker only (from a cache line of its own, apart from what the senders write).
    alignas(64) QFile m_readFile;
    quint64 m_readFileSegment = 0;
    QByteArray m_readBuffer;
    qint64 m_readBufferStart = 0;    ///< file offset of m_readBuffer's first byte
    const char *m_readMap = nullptr; ///< the read file mapped (read-only), or none: read() into m_readBuffer
    qint64 m_readMapSize = 0;
    /** The streams defined in the segment being read, by id. */
    LokiRecentHash<quint32, const LokiStreamInfo *, ~quint32(0)> m_readStreams; ///< (ids count up from 0)
    quint64 m_readStreamsSegment = 0;

    // Under m_syncMutex.
    QMutex m_syncMutex;
    QFile m_ackFile;
    QString m_ackPath;
    Position m_acked;
    bool m_ackFailed = false;
    bool m_ackDirty = false; ///< written since the last sync()
};

#endif // LOKIQT_SPOOLBUFFER_P_H
