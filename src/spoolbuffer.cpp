// SPDX-License-Identifier: MIT
#include "spoolbuffer_p.h"

#include "memorybuffer_p.h" // LokiBufferClock
#include "spoolformat_p.h"

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QStorageInfo>
#include <QtCore/QtEndian>

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#ifdef Q_OS_LINUX
#define LOKIQT_SPOOL_MAPS_SEGMENTS 1 // posix_fallocate reserves the space a shared mapping writes into
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#endif

using namespace LokiSpoolFormat;

namespace {
constexpr qsizetype readChunk = 256 * 1024;
constexpr qint64 minSegmentBytes = 64 * 1024;
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
/** How much of a mapped segment is reserved on disk at a time: one posix_fallocate() per chunk. */
constexpr qint64 reserveChunk = 256 * 1024;
#endif

QString segmentName(quint64 number)
{
    return QStringLiteral("seg-%1.lqs").arg(number, 16, 10, QLatin1Char('0'));
}

bool parseSegmentName(const QString &name, quint64 *number)
{
    if (!name.startsWith(QLatin1String("seg-")) || !name.endsWith(QLatin1String(".lqs")))
        return false;
    bool ok = false;
    *number = name.mid(4, name.size() - 8).toULongLong(&ok);
    return ok;
}

/** Opens @p path, creating it readable by the owner only. */
bool openOwnerOnly(QFile &file, const QString &path, QIODevice::OpenMode mode)
{
#ifdef Q_OS_UNIX
    int flags = O_CREAT | O_CLOEXEC | ((mode & QIODevice::ReadOnly) ? O_RDWR : O_WRONLY);
    // (ReadWrite without Append: a segment file, written at explicit offsets and mapped.)
    if (mode & QIODevice::Append)
        flags |= O_APPEND;
    if (mode & QIODevice::Truncate)
        flags |= O_TRUNC;
    const int fd = ::open(QFile::encodeName(path).constData(), flags, 0600);
    if (fd < 0) {
        file.setFileName(path); // for errorString() callers: say which file
        return false;
    }
    file.setFileName(path);
    if (!file.open(fd, mode | QIODevice::Unbuffered, QFileDevice::AutoCloseHandle)) {
        ::close(fd);
        return false;
    }
    return true;
#else
    file.setFileName(path);
    if (!file.open(mode | QIODevice::Unbuffered))
        return false;
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    return true;
#endif
}

QString lastSystemError()
{
#ifdef Q_OS_UNIX
    return QString::fromLocal8Bit(std::strerror(errno));
#else
    return QString();
#endif
}

/** One write of all of @p data at @p offset of @p file (its end: elsewhere than Unix the file is opened in
 *  append mode); on failure @p why says what the system said. */
bool writeAll(QFile &file, const QByteArray &data, qint64 offset, QString *why)
{
#ifdef Q_OS_UNIX
    const char *p = data.constData();
    qsizetype left = data.size();
    while (left > 0) {
        const ssize_t n = ::pwrite(file.handle(), p, size_t(left), off_t(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *why = n < 0 ? lastSystemError() : QStringLiteral("nothing written");
            return false;
        }
        p += n;
        left -= n;
        offset += n;
    }
    return true;
#else
    Q_UNUSED(offset);
    if (file.write(data) == data.size())
        return true;
    *why = file.errorString();
    return false;
#endif
}

#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
/**
 * Writes zeros over [@p from, @p to) of @p fd, space that posix_fallocate() reserved: the pages are then in
 * the page cache, so the copies into the mapping find them there (a first touch of a reserved, never written
 * page costs a read fault through the file system: five times the whole append here).
 */
bool fillWithZeros(int fd, qint64 from, qint64 to)
{
    static char zeros[64 * 1024]; // zero-initialized in .bss, not 64 KiB of the library file; only read
    while (from < to) {
        const ssize_t n = ::pwrite(fd, zeros, size_t(std::min<qint64>(to - from, sizeof zeros)), off_t(from));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        from += n;
    }
    return true;
}

/**
 * Whether files in @p directory may be written through a shared mapping: where posix_fallocate() reserves
 * blocks that the mapping's pages are then written to in place (ext2/3/4, XFS, tmpfs), so a full disk can
 * only show as a refused reservation. Elsewhere (copy-on-write file systems above all, where a page
 * written through a mapping needs new space at writeback, and a full disk would be a SIGBUS) segments are
 * written with write().
 */
bool mappableFileSystem(const QString &directory)
{
    struct statfs info;
    if (::statfs(QFile::encodeName(directory).constData(), &info) != 0)
        return false;
    switch (quint32(info.f_type)) {
    case 0xEF53u:     // EXT2/3/4_SUPER_MAGIC
    case 0x58465342u: // XFS_SUPER_MAGIC
    case 0x01021994u: // TMPFS_MAGIC
        return true;
    default:
        return false;
    }
}
#endif

/** How segment files are opened for writing. */
QIODevice::OpenMode segmentWriteMode()
{
#ifdef Q_OS_UNIX
    return QIODevice::ReadWrite | QIODevice::Truncate; // pwrite() at offsets, and mappable
#else
    return QIODevice::WriteOnly | QIODevice::Append | QIODevice::Truncate;
#endif
}

/** Whether the file open on @p fd still has a name (it was not removed while in use). */
bool isLinked(int fd)
{
#ifdef Q_OS_UNIX
    struct stat info;
    return fd < 0 || ::fstat(fd, &info) != 0 || info.st_nlink > 0;
#else
    Q_UNUSED(fd);
    return true; // (a file that is open cannot be removed there)
#endif
}

bool syncFile(QFile &file)
{
    if (!file.isOpen())
        return true;
#if defined(Q_OS_LINUX)
    return ::fdatasync(file.handle()) == 0;
#elif defined(Q_OS_UNIX)
    return ::fsync(file.handle()) == 0;
#else
    return file.flush();
#endif
}
} // namespace

LokiSpoolBuffer::SegmentFile::~SegmentFile()
{
    unmap();
}

void LokiSpoolBuffer::SegmentFile::unmap()
{
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    if (map)
        ::munmap(map, size_t(mapSize));
#endif
    map = nullptr;
    mapSize = 0;
}

std::shared_ptr<LokiSpoolBuffer::SegmentFile> LokiSpoolBuffer::createSegmentFile(quint64 number,
                                                                                 QString *why) const
{
    auto file = std::make_shared<SegmentFile>();
    file->path = segmentPath(number);
    if (!openOwnerOnly(file->file, file->path, segmentWriteMode())) {
        *why = lastSystemError();
        return nullptr;
    }
    if (!writeAll(file->file, QByteArray::fromRawData(magic, magicSize), 0, why)) {
        file->file.close();
        QFile::remove(file->path); // an empty file would only be junk for the next start
        return nullptr;
    }
    file->used = file->reserved = magicSize;
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    // The whole segment's address range now; its disk space chunk by chunk as it fills (reserveLocked()).
    // Nothing past the reserved length is ever touched, so the mapping cannot fault on a full disk.
    const qint64 page = qint64(::sysconf(_SC_PAGESIZE));
    const qint64 size = (m_segmentLimit + page - 1) / page * page;
    void *map = m_mapSegments ? ::mmap(nullptr, size_t(size), PROT_READ | PROT_WRITE, MAP_SHARED,
                                       file->file.handle(), 0)
                              : MAP_FAILED;
    if (map != MAP_FAILED) {
        file->map = static_cast<char *>(map);
        file->mapSize = size;
    } // else: write() mode
#endif
    return file;
}

std::shared_ptr<LokiSpoolBuffer::SegmentFile>
LokiSpoolBuffer::reuseSegmentFile(const QString &from, quint64 number, QString *why) const
{
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    auto file = std::make_shared<SegmentFile>();
    file->path = segmentPath(number);
    if (!openOwnerOnly(file->file, from, QIODevice::ReadWrite)) {
        *why = lastSystemError();
        return nullptr;
    }
    const qint64 page = qint64(::sysconf(_SC_PAGESIZE));
    const qint64 size = (m_segmentLimit + page - 1) / page * page;
    const int fd = file->file.handle();
    struct stat info;
    // The magic and a zero length first, so that under either name it holds no record: then the new name.
    // Whatever lies past the mapping goes (a record written there with write() in its earlier use).
    QByteArray head = QByteArray::fromRawData(magic, magicSize) + QByteArray(4, '\0');
    if (::fstat(fd, &info) != 0 || (info.st_size > size && ::ftruncate(fd, off_t(size)) != 0) ||
        !writeAll(file->file, head, 0, why) ||
        ::rename(QFile::encodeName(from).constData(), QFile::encodeName(file->path).constData()) != 0) {
        if (why->isEmpty())
            *why = lastSystemError();
        return nullptr;
    }
    file->used = magicSize;
    file->reserved = std::max<qint64>(std::min<qint64>(info.st_size, size), qint64(head.size()));
    void *map = ::mmap(nullptr, size_t(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        *why = lastSystemError();
        ::unlink(QFile::encodeName(file->path).constData());
        return nullptr;
    }
    file->map = static_cast<char *>(map);
    file->mapSize = size;
    file->reused = true;
    return file;
#else
    Q_UNUSED(from);
    Q_UNUSED(number);
    *why = QStringLiteral("not supported");
    return nullptr;
#endif
}

LokiSpoolBuffer::LokiSpoolBuffer(const Options &options, const Limits &limits, LokiCounterSet *counters,
                                 StreamResolver resolver, Reporter reporter)
    : m_options(options)
    , m_limits(limits)
    , m_counters(counters)
    , m_segmentLimit(std::max<qint64>(4096, std::min(options.segmentBytes, options.maxBytes / 4)))
    , m_resolve(std::move(resolver))
    , m_report(std::move(reporter))
{}

LokiSpoolBuffer::~LokiSpoolBuffer()
{
    if (m_options.sync != LokiConfig::SpoolSync::Never)
        sync();
    {
        QMutexLocker lock(&m_mutex);
        retireWriteFileLocked(false); // gives back the space reserved past the records
    }
    closeReadFile();
    if (m_spare) { // holds only the magic (or a reused file's records made unreadable): nothing to keep
        m_spare->unmap();
        m_spare->file.close();
        QFile::remove(m_spare->path);
    }
    if (!m_reusable.isEmpty())
        QFile::remove(m_reusable);
}

QString LokiSpoolBuffer::segmentPath(quint64 number) const
{
    return m_options.directory + QLatin1Char('/') + segmentName(number);
}

QString LokiSpoolBuffer::lockPath() const
{
    return QDir(m_options.directory).filePath(QStringLiteral("lock"));
}

bool LokiSpoolBuffer::makeDirectory()
{
    if (!QDir().mkpath(m_options.directory))
        return false;
    QFile::setPermissions(m_options.directory,
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    return true;
}

bool LokiSpoolBuffer::lockDirectory()
{
    m_lock = std::make_unique<QLockFile>(lockPath());
    m_lock->setStaleLockTime(0); // a lock is stale only when its process is gone, never for its age
    return m_lock->tryLock(0);
}

bool LokiSpoolBuffer::open(QString *error)
{
    if (!makeDirectory()) {
        *error = QStringLiteral("cannot create the spool directory %1").arg(m_options.directory);
        return false;
    }
    const QDir dir(m_options.directory);
    if (!lockDirectory()) {
        qint64 pid = 0;
        QString host, app;
        if (m_lock->error() == QLockFile::LockFailedError && m_lock->getLockInfo(&pid, &host, &app))
            *error = QStringLiteral("the spool directory %1 is in use by process %2 (%3) on %4; every client "
                                    "needs a directory of its own")
                         .arg(m_options.directory)
                         .arg(pid)
                         .arg(app.isEmpty() ? QStringLiteral("unknown") : app, host);
        else
            *error = QStringLiteral("cannot lock the spool directory %1").arg(m_options.directory);
        m_lock.reset();
        return false;
    }

    // What an earlier run left.
    Position acked;
    m_ackPath = dir.filePath(QStringLiteral("ack"));
    if (openOwnerOnly(m_ackFile, m_ackPath, QIODevice::ReadWrite)) {
        char data[20];
        if (m_ackFile.read(data, sizeof data) == qint64(sizeof data) &&
            crcOf(data, 16) == qFromLittleEndian<quint32>(data + 16)) {
            acked.segment = qFromLittleEndian<quint64>(data);
            acked.offset = qFromLittleEndian<qint64>(data + 8);
        }
    } else {
        *error = QStringLiteral("cannot open %1: %2").arg(m_ackPath, lastSystemError());
        return false;
    }

    std::vector<quint64> numbers;
    const QStringList names = dir.entryList({QStringLiteral("seg-*.lqs")}, QDir::Files);
    for (const QString &name : names) {
        quint64 number = 0;
        if (parseSegmentName(name, &number))
            numbers.push_back(number);
    }
    std::sort(numbers.begin(), numbers.end());
    quint64 last = 0;
    for (quint64 number : numbers) {
        last = number;
        Segment segment;
        segment.number = number;
        if (!scan(segment, number == acked.segment ? acked.offset : magicSize))
            continue; // not ours to replay or delete: left as it is (reported)
        if (number < acked.segment || segment.entries == 0) {
            // Acknowledged (its deletion was cut short), or nothing left in it to deliver.
            QFile::remove(segmentPath(number));
            continue;
        }
        segment.fileBytes = QFileInfo(segmentPath(number)).size();
        // A version 2 segment of a run that ended without closing it may hold reserved space after its
        // records (scan() checked it is zeros): given back, nothing is ever appended to it.
        if (segment.fileBytes > segment.size && segment.zeroTail &&
            QFile::resize(segmentPath(number), segment.size))
            segment.fileBytes = segment.size;
        m_diskBytes += segment.fileBytes;
        m_pendingEntries += segment.entries;
        m_pendingBytes += segment.lineBytes;
        m_segments.push_back(segment);
    }
    m_replayed = m_pendingEntries;
    // New segments sort after every file there and after the acknowledged one, or the next start would take
    // them for delivered.
    m_nextNumber = std::max(last, acked.segment) + 1;
    m_acked = acked;
    if (!m_segments.empty()) {
        m_cursor = Position{m_segments.front().number, magicSize};
        if (m_segments.front().number == acked.segment)
            m_skipBelow = acked.offset; // entries before it were delivered; stream records still count
    } else {
        m_cursor = Position{m_nextNumber, magicSize};
    }
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    m_mapSegments = mappableFileSystem(m_options.directory);
#else
    m_mapSegments = false; // one write() per record, read() back
#endif
    // Segments in proportion to the file system too: on a small disk that fills before maxBytes,
    // DropOldest then drops a fraction of the spool, not all of it.
    const QStorageInfo storage(m_options.directory);
    if (storage.isValid() && storage.bytesTotal() > 0)
        m_segmentLimit = std::min(m_segmentLimit, std::max(minSegmentBytes, storage.bytesTotal() / 8));
    // Delivered segment files are reused (see m_reusable) only where the disk has room for many: on a small
    // or nearly full one they go at once.
    m_reuseFiles = m_mapSegments && storage.isValid() && storage.bytesAvailable() >= 16 * m_segmentLimit;
    flushReports();
    return true;
}

bool LokiSpoolBuffer::scan(Segment &segment, qint64 from)
{
    QFile file(segmentPath(segment.number));
    if (!file.open(QIODevice::ReadOnly)) {
        reportLocked(QStringLiteral("cannot read %1: %2; kept as it is, its entries are not replayed")
                         .arg(file.fileName(), file.errorString()));
        return false;
    }
    const QByteArray data = file.readAll();
    const int version = segmentVersion(data.constData(), data.size());
    if (version == 0) {
        reportLocked(QStringLiteral("%1 is not a lokiqt spool segment (or its start is damaged); kept as it "
                                    "is and skipped")
                         .arg(file.fileName()));
        return false;
    }
    segment.version = version;
    qsizetype pos = magicSize;
    Record record;
    QHash<quint32, bool> streams;
    while (pos < data.size()) {
        qsizetype consumed = 0;
        if (version >= 4 &&
            (data.size() - pos < 4 || qFromLittleEndian<quint32>(data.constData() + pos) == 0) &&
            isZeroTail(data.constData() + pos, std::min<qsizetype>(4, data.size() - pos))) {
            // A zero length ends the records; what follows is reserved space or the rest of a reused file.
            segment.zeroTail = true;
            break;
        }
        const ReadStatus status = readRecord(data.constData() + pos, data.size() - pos, &record, &consumed,
                                             version, LineCopy::View, segment.number);
        bool valid = status == ReadStatus::Ok;
        if (valid && record.type == RecordType::Entry && !streams.contains(record.streamId))
            valid = false;
        if (!valid && version >= 2 && isZeroTail(data.constData() + pos, data.size() - pos)) {
            segment.zeroTail = true; // space reserved past the records, or a record cut before its length
            break;
        }
        if (!valid) {
            reportLocked(QStringLiteral("%1: %2 at byte %3; the %4 bytes from there on are skipped (the "
                                        "entries before it are kept)")
                             .arg(file.fileName(), status == ReadStatus::NeedMore
                                                       ? QStringLiteral("the last record is incomplete "
                                                                        "(torn by a crash)")
                                                       : QStringLiteral("a damaged record"))
                             .arg(pos)
                             .arg(data.size() - pos));
            break;
        }
        if (record.type == RecordType::Stream) {
            streams.insert(record.streamId, true);
        } else if (pos >= from) {
            ++segment.entries;
            segment.lineBytes += record.line.size();
        }
        pos += consumed;
    }
    segment.size = pos;
    return true;
}

void LokiSpoolBuffer::flushReports()
{
    QStringList reports;
    {
        QMutexLocker lock(&m_mutex);
        reports.swap(m_reports);
    }
    if (m_report) {
        for (const QString &message : std::as_const(reports))
            m_report(message);
    }
}

// --- senders ---

LokiEntryBuffer::PushResult LokiSpoolBuffer::push(LokiQueuedEntry &&entry, const LokiWait &wait)
{
    QDeadlineTimer deadline;
    bool deadlineResolved = false;
    bool wake = false;
    bool reports = false;
    PushResult result = PushResult::Accepted;
    auto waitForRoom = [&](bool bounded) {
        if (!deadlineResolved) {
            deadline = wait.resolve(m_limits.blockTimeout);
            deadlineResolved = true;
        }
        if (deadline.hasExpired())
            return false;
        // On a full file system, room may also come from others: look again now and then.
        QDeadlineTimer slice = deadline;
        if (!bounded && (deadline.isForever() || deadline.remainingTime() > 250))
            slice = QDeadlineTimer(250);
        m_notFull.wait(&m_mutex, slice);
        return true;
    };
    {
        QMutexLocker lock(&m_mutex);
        for (;;) {
            if (m_closed) {
                result = PushResult::Closed;
                break;
            }
            if (!hasRoomLocked(entry)) {
                // The bound (maxBytes) is full. A file kept for reuse goes first: it holds nothing.
                if (dropReusableLocked())
                    continue;
                if (m_limits.mode == LokiConfig::Backpressure::DropOldest && dropOldestLocked())
                    continue;
                if (m_limits.mode == LokiConfig::Backpressure::Block) {
                    if (waitForRoom(true))
                        continue;
                    LokiCounterSet::add(m_counters->timedOut, 1);
                    result = PushResult::TimedOut;
                    break;
                }
                LokiCounterSet::add(m_counters->droppedNew, 1);
                result = PushResult::Dropped;
                break;
            }
            LokiBufferClock::stamp(entry, m_clockOffsetNs.load(std::memory_order_relaxed), &m_lastTimestamp);
            if (appendLocked(entry) == WriteResult::Ok)
                break;
            // The file system refused it (a full disk, mostly): the same backpressure as on the bound, once
            // a file kept for reuse gave its disk back.
            if (dropReusableLocked())
                continue;
            if (m_limits.mode == LokiConfig::Backpressure::DropOldest && dropOldestLocked())
                continue;
            if (m_limits.mode == LokiConfig::Backpressure::Block) {
                if (waitForRoom(false))
                    continue;
                LokiCounterSet::add(m_counters->timedOut, 1);
                result = PushResult::TimedOut;
                break;
            }
            LokiCounterSet::add(m_counters->droppedNoSpace, 1);
            result = PushResult::Dropped;
            break;
        }
        if (result == PushResult::Accepted) {
            ++m_accepted;
            m_counters->accepted.store(m_accepted, std::memory_order_relaxed); // only written under m_mutex
            if (m_wakeWhen == WakeWhen::AnyEntry ||
                (m_wakeWhen == WakeWhen::FullBatch && hasFullBatchLocked())) {
                m_wakeWhen = WakeWhen::Never;
                wake = true;
            }
            if (m_syncRequested && !m_syncWakeSent) {
                m_syncWakeSent = true; // PerBatch: the worker syncs when it runs (see syncTimerInterval())
                wake = true;
            }
        }
        reports = !m_reports.isEmpty();
    }
    if (reports)
        flushReports();
    if (wake && m_wake)
        m_wake();
    return result;
}

bool LokiSpoolBuffer::hasRoomLocked(const LokiQueuedEntry &entry) const
{
    // Room for the record, a definition of its stream and a new segment's magic. The space reserved past
    // the records of the segment being written is room for them.
    const qint64 streamBytes = entry.stream ? 24 + 2 * entry.stream->key.size() + 16 : 0;
    return m_diskBytes - unusedReservationLocked() + entrySize(entry) + streamBytes + magicSize <=
           m_options.maxBytes;
}

qint64 LokiSpoolBuffer::unusedReservationLocked() const
{
    return m_writeFile ? m_writeFile->reserved - m_writeFile->used : 0;
}

void LokiSpoolBuffer::setFileBytesLocked(qint64 bytes)
{
    Segment &segment = m_segments.back();
    m_diskBytes += bytes - segment.fileBytes;
    segment.fileBytes = bytes;
}

bool LokiSpoolBuffer::reserveLocked(qint64 need)
{
    SegmentFile &file = *m_writeFile;
    if (need <= file.reserved)
        return true;
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    // A chunk at a time, within the mapping and within maxBytes (which the reservation counts toward: the
    // disk is taken), but always what this record needs (hasRoomLocked() saw that it fits the bound).
    const qint64 room = m_options.maxBytes - magicSize - (m_diskBytes - m_segments.back().fileBytes);
    const qint64 want =
        std::max(need, std::min({file.mapSize, file.reserved + reserveChunk, std::max(room, file.reserved)}));
    const int fd = file.file.handle();
    int error = 0;
    for (qint64 length : {file.tight ? need : want, need}) {
        error = ::posix_fallocate(fd, off_t(file.reserved), off_t(length - file.reserved));
        if (error == 0 && !fillWithZeros(fd, file.reserved, length))
            error = errno ? errno : EIO;
        if (error == 0) {
            file.reserved = length;
            setFileBytesLocked(length);
            return true;
        }
        if (error == EOPNOTSUPP || error == ENOSYS || error == EINVAL) {
            file.unmap(); // this file system cannot reserve: one write() per record for this segment
            return true;
        }
        // Refused (a full disk, mostly). Whatever part was allocated goes again; then only what each
        // record needs is reserved in this file, so it fills the disk as write() would, and a full disk
        // costs one small call per refused record.
        if (::ftruncate(fd, off_t(file.reserved)) != 0) {
            struct stat info;
            if (::fstat(fd, &info) == 0 && info.st_size > file.reserved) {
                file.reserved = qint64(info.st_size); // the length stays where the call left it
                setFileBytesLocked(file.reserved);
                if (file.reserved >= need)
                    return true;
            }
        }
        file.tight = true;
        if (length == need)
            break;
    }
    m_lastWriteError =
        QStringLiteral("cannot write to %1: %2").arg(file.path, QString::fromLocal8Bit(std::strerror(error)));
    return false;
#else
    Q_UNUSED(need);
    return true; // write() mode: the write finds out
#endif
}

bool LokiSpoolBuffer::startSegmentLocked()
{
    retireWriteFileLocked(m_options.sync != LokiConfig::SpoolSync::Never);
    const quint64 number = m_nextNumber;
    QString why;
    auto file = createSegmentFile(number, &why);
    if (!file && restoreDirectoryLocked())
        file = createSegmentFile(number, &why);
    if (file) {
        ++m_nextNumber;
        m_writeFile = std::move(file);
        m_segments.push_back(Segment{number, magicSize, magicSize, 0, 0});
        m_diskBytes += magicSize;
        m_writeStreams.clear();
        m_directoryDirty = true;
        return true;
    }
    m_lastWriteError = QStringLiteral("cannot create %1: %2").arg(segmentPath(number), why);
    return false;
}

void LokiSpoolBuffer::forgetRetiredLocked(const QString &path)
{
    m_retired.erase(
        std::remove_if(m_retired.begin(), m_retired.end(),
                       [&path](const std::shared_ptr<SegmentFile> &file) { return file->path == path; }),
        m_retired.end());
}

void LokiSpoolBuffer::retireWriteFileLocked(bool needsSync)
{
    if (!m_writeFile)
        return;
    SegmentFile &file = *m_writeFile;
    file.unmap();
    if (file.reserved > file.used) {
        // The space reserved ahead is given back: what the file takes is its records again.
#ifdef Q_OS_UNIX
        const bool trimmed = ::ftruncate(file.file.handle(), off_t(file.used)) == 0;
#else
        const bool trimmed = file.file.resize(file.used);
#endif
        if (trimmed) {
            file.reserved = file.used;
            if (!m_segments.empty())
                setFileBytesLocked(file.used);
        }
    }
    if (needsSync)
        m_retired.push_back(std::move(m_writeFile)); // synced (outside the lock) and closed by sync()
    m_writeFile.reset();
    m_writeStreams.clear();
}

LokiSpoolBuffer::WriteResult LokiSpoolBuffer::appendLocked(const LokiQueuedEntry &entry)
{
    if (!m_writeFile || m_segments.empty() || m_segments.back().size >= m_segmentLimit) {
        if (m_spare && !isLinked(m_spare->file.handle()))
            discardSpareLocked(); // removed while in use (with the directory, mostly): a new file instead
        if (m_spare) {
            // The worker made it beforehand (prepareSpare()): no file is created under the lock.
            retireWriteFileLocked(m_options.sync != LokiConfig::SpoolSync::Never);
            // A reused file brings its blocks along (counted in m_diskBytes since it was acknowledged).
            m_segments.push_back(Segment{m_spareNumber, magicSize, m_spare->reserved, 0, 0, 0});
            m_diskBytes += m_spare->reserved - m_spareBytes;
            m_spareBytes = 0;
            m_writeFile = std::move(m_spare);
            m_directoryDirty = true;
        } else if (!startSegmentLocked()) {
            if (!m_writeFailed && m_limits.mode != LokiConfig::Backpressure::DropOldest)
                reportLocked(m_lastWriteError + QStringLiteral(" (the backpressure mode applies until "
                                                               "writing works again)"));
            m_writeFailed = true;
            return WriteResult::Failed;
        }
    }
    const quint32 *const known = m_writeStreams.find(entry.stream);
    const bool newStream = !known;
    const quint32 streamId = newStream ? quint32(m_writeStreams.size()) : *known;
    const qint64 clockOffsetNs = m_clockOffsetNs.load(std::memory_order_relaxed);
    const qint64 streamBytes = newStream ? streamSize(entry.stream->key, entry.stream->jsonLabels) : 0;
    const qint64 recordBytes = streamBytes + entrySize(entry);

    Segment &segment = m_segments.back();
    SegmentFile &file = *m_writeFile;
    const qint64 at = file.used;
    const quint64 salt = segment.number;
    // The record is in the page cache, and so survives the process, before send() returns: copied into the
    // file's shared mapping (no system call, but one reservation per chunk), or one write().
    bool ok = true;
    if (file.map && at + recordBytes <= file.mapSize)
        ok = reserveLocked(at + recordBytes);
    // What follows the record in the file (reserved space, or the rest of a reused file) starts with a zero
    // length, written before the record: the records end there (see spoolformat_p.h, version 4).
    const qint64 terminator = std::min<qint64>(4, std::max<qint64>(0, file.reserved - (at + recordBytes)));
    if (ok && file.map && at + recordBytes <= file.mapSize) {
        char *out = file.map + at;
        if (terminator > 0)
            std::memset(out + recordBytes, 0, size_t(terminator));
        if (newStream)
            writeStream(out, streamId, entry.stream->key, entry.stream->jsonLabels, currentVersion, salt);
        writeEntry(out + streamBytes, entry.timestampNs, clockOffsetNs, streamId, entry.line, entry.metadata,
                   currentVersion, salt);
    } else if (ok) {
        m_writeBuffer.clear();
        if (newStream)
            appendStream(m_writeBuffer, streamId, entry.stream->key, entry.stream->jsonLabels, currentVersion,
                         salt);
        appendEntry(m_writeBuffer, entry.timestampNs, clockOffsetNs, streamId, entry.line, entry.metadata,
                    currentVersion, salt);
        m_writeBuffer.append(qsizetype(terminator), '\0');
        QString why;
        ok = writeAll(file.file, m_writeBuffer, at, &why);
        if (!ok) {
            file.file.resize(at); // no torn record in the middle of the file
            file.reserved = at;
            setFileBytesLocked(at);
            m_lastWriteError = QStringLiteral("cannot write to %1: %2").arg(file.path, why);
        } else if (at + recordBytes > file.reserved) {
            file.reserved = at + recordBytes;
            setFileBytesLocked(file.reserved);
        }
    }
    if (!ok) {
        if (!m_writeFailed && m_limits.mode != LokiConfig::Backpressure::DropOldest)
            reportLocked(m_lastWriteError +
                         QStringLiteral(" (the backpressure mode applies until writing works again)"));
        m_writeFailed = true;
        return WriteResult::Failed;
    }
    file.used = at + recordBytes;
    m_writeFailed = false;
    if (newStream)
        m_writeStreams.add(entry.stream, streamId);
    segment.size += recordBytes;
    ++segment.entries;
    segment.lineBytes += entry.line.size();
    ++m_pendingEntries;
    m_pendingBytes += entry.line.size();
    ++m_unsyncedEntries;
    m_unsyncedBytes += recordBytes;
    if (m_options.sync == LokiConfig::SpoolSync::PerBatch &&
        (m_unsyncedEntries >= m_options.syncEntries || m_unsyncedBytes >= m_options.syncBytes))
        m_syncRequested = true; // the worker syncs, woken by this push
    return WriteResult::Ok;
}

bool LokiSpoolBuffer::dropReusableLocked()
{
    if (!m_reusable.isEmpty()) {
        QFile::remove(m_reusable);
        m_diskBytes -= m_reusableBytes;
        m_reusable.clear();
        m_reusableBytes = 0;
        return true;
    }
    if (m_spare && m_spareBytes > 0) {
        QFile::remove(m_spare->path);
        discardSpareLocked();
        return true;
    }
    return false;
}

void LokiSpoolBuffer::discardSpareLocked()
{
    m_spare->unmap();
    m_spare->file.close();
    m_spare.reset();
    m_diskBytes -= m_spareBytes;
    m_spareBytes = 0;
}

bool LokiSpoolBuffer::restoreDirectoryLocked()
{
    if (QFileInfo::exists(m_options.directory) || !makeDirectory())
        return false;
    if (m_lock) {
        // The lock file went with the directory, and the old lock removes its file when it goes (warning when
        // there is none): a placeholder under its name for it, then the lock again.
        QFile placeholder(lockPath());
        placeholder.open(QIODevice::WriteOnly);
        placeholder.close();
        m_lock.reset();
    }
    const bool locked = lockDirectory();
    // The files kept for reuse went too: their disk is given back.
    if (!m_reusable.isEmpty()) {
        m_diskBytes -= m_reusableBytes;
        m_reusable.clear();
        m_reusableBytes = 0;
    }
    if (m_spare)
        discardSpareLocked();
    m_ackGone = true;
    m_directoryDirty = true;
    reportLocked(
        QStringLiteral("the spool directory %1 was removed while in use: made again%2; what its files "
                       "held is delivered while the spool still has them open, the rest is counted "
                       "as corrupted")
            .arg(m_options.directory,
                 locked ? QString() : QStringLiteral(" (but another process holds its lock now)")));
    return true;
}

bool LokiSpoolBuffer::dropOldestLocked()
{
    if (m_segments.empty())
        return false;
    Segment &oldest = m_segments.front();
    if (m_segments.size() == 1 && m_writeFile) {
        if (oldest.entries == 0)
            return false;             // nothing to drop but the magic of the segment being written
        retireWriteFileLocked(false); // the next append starts a new segment
    }
    qint64 untaken = 0;
    qint64 bytes = 0;
    if (oldest.number == m_cursor.segment) {
        untaken = oldest.entries - m_takenInCursorSegment;
        bytes = oldest.lineBytes - m_takenBytesInCursorSegment;
        moveCursorLocked(m_segments.size() > 1 ? m_segments[1].number : firstUnusedNumberLocked());
        ++m_cursorGeneration;
    } else if (oldest.number > m_cursor.segment) {
        untaken = oldest.entries;
        bytes = oldest.lineBytes;
    }
    m_pendingEntries -= untaken;
    m_pendingBytes -= bytes;
    m_removed += untaken;
    LokiCounterSet::add(m_counters->droppedOldest, untaken);
    // Those taken and not acknowledged are in the worker's hands only now: delivered if Loki comes back in
    // time, lost at shutdown (shutdownLeftovers() says so) instead of being counted as kept.
    m_lostInFlight += oldest.unacknowledged;
    m_diskBytes -= oldest.fileBytes;
    // Under the state lock, so the room is there when this sender writes (DropOldest on a full bound only).
    // Truncated first: the worker may still hold the file open, and an unlinked file keeps its blocks
    // until its last handle closes.
    forgetRetiredLocked(segmentPath(oldest.number));
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    if (m_readMappedSegment == oldest.number) {
        // The worker may be reading it through a mapping right now, where a truncated file would be a
        // SIGBUS: its blocks are punched out instead (it reads zeros, and throws away what it read). Where
        // that is not supported they come back when the worker moves on.
        const int fd =
            ::open(QFile::encodeName(segmentPath(oldest.number)).constData(), O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, off_t(oldest.fileBytes));
            ::close(fd);
        }
    } else {
        QFile::resize(segmentPath(oldest.number), 0);
    }
#else
    QFile::resize(segmentPath(oldest.number), 0);
#endif
    QFile::remove(segmentPath(oldest.number));
    m_segments.pop_front();
    m_directoryDirty = true;
    return true;
}

// --- the worker ---

namespace {
/**
 * Where takeBatch() copies the lines it reads: chunks of 64 KiB, each line a QByteArray that shares its
 * chunk (a slice with a reference of its own), so reading back allocates once per chunk, not once per entry.
 * A chunk is freed with the last line in it (a batch's lines go together, when its push is resolved). The
 * lines' references are taken together, one atomic add per chunk for as many lines as it can hold; those
 * not used are given back when the arena moves on to the next chunk or goes (the arena's own reference
 * keeps the chunk until then).
 */
class LineArena
{
public:
    LineArena() = default;
    LineArena(const LineArena &) = delete;
    LineArena &operator=(const LineArena &) = delete;
    ~LineArena() { giveBackUnused(); }

    QByteArray copy(const QByteArray &line)
    {
        const qsizetype size = line.size();
        if (size == 0)
            return QByteArray();
        if (size > chunkBytes / 4)
            return QByteArray(line.constData(), size); // a long line: its own allocation
        if (m_chunk.isNull() || m_used + size > chunkBytes) {
            giveBackUnused();
            m_chunk = QByteArray(chunkBytes, Qt::Uninitialized);
            m_used = 0;
            m_chunk.data_ptr().d_ptr()->ref_.fetchAndAddRelaxed(maxLines);
            m_unused = maxLines;
        }
        QByteArray::DataPointer &chunk = m_chunk.data_ptr();
        char *at = chunk.data() + m_used; // not m_chunk.data(): that would detach the shared chunk
        std::memcpy(at, line.constData(), size_t(size));
        m_used += size;
        --m_unused;
        return QByteArray(QByteArray::DataPointer(chunk.d_ptr(), at, size)); // one of the references taken
    }

private:
    void giveBackUnused()
    {
        if (m_unused > 0)
            m_chunk.data_ptr().d_ptr()->ref_.fetchAndSubRelaxed(m_unused); // never the last: m_chunk's stays
        m_unused = 0;
    }

    static constexpr qsizetype chunkBytes = 64 * 1024;
    static constexpr int maxLines = int(chunkBytes); // (a line has at least one byte)
    QByteArray m_chunk;
    qsizetype m_used = 0;
    int m_unused = 0; ///< references taken for lines and not handed out yet
};
} // namespace

void LokiSpoolBuffer::moveCursorLocked(quint64 segment)
{
    m_cursor = Position{segment, magicSize};
    m_takenInCursorSegment = 0;
    m_takenBytesInCursorSegment = 0;
    m_skipBelow = 0;
}

std::deque<LokiSpoolBuffer::Segment>::iterator LokiSpoolBuffer::cursorSegmentLocked()
{
    auto it = std::find_if(m_segments.begin(), m_segments.end(),
                           [this](const Segment &s) { return s.number >= m_cursor.segment; });
    if (it != m_segments.end() && it->number != m_cursor.segment)
        moveCursorLocked(it->number); // its segment is gone (delivered)
    return it;
}

const char *LokiSpoolBuffer::fill(quint64 number, qint64 offset, qint64 end, qsizetype need,
                                  qsizetype *available)
{
    if (offset + need > end)
        return nullptr;
    if (m_readFileSegment != number || !m_readFile.isOpen()) {
        closeReadFile();
        m_readFile.setFileName(segmentPath(number));
        const bool opened = m_readFile.open(QIODevice::ReadOnly | QIODevice::Unbuffered);
#ifdef Q_OS_UNIX
        if (!opened) {
            // Removed while in use (see checkFilesStillThere()): read on through the spool's own handle of
            // it while it has one (the file being written, or one not synced yet).
            int fd = -1;
            {
                QMutexLocker lock(&m_mutex);
                const QString path = segmentPath(number);
                if (m_writeFile && m_writeFile->path == path && m_writeFile->file.isOpen())
                    fd = m_writeFile->file.handle();
                for (const auto &file : m_retired) {
                    if (fd < 0 && file->path == path && file->file.isOpen())
                        fd = file->file.handle();
                }
                if (fd >= 0)
                    fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
            }
            if (fd >= 0 && !m_readFile.open(fd, QIODevice::ReadOnly | QIODevice::Unbuffered,
                                            QFileDevice::AutoCloseHandle))
                ::close(fd);
        }
#else
        Q_UNUSED(opened); // (an open file cannot be removed there)
#endif
        m_readFileSegment = number;
        m_readBuffer.clear();
        m_readBufferStart = 0;
    }
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    // Read where the records are, in the page cache, through a mapping of the file: no copy, no read().
    // Only below end, which the file always reaches (a sender makes it that long before it counts a record).
    if (m_mapSegments && m_readFile.isOpen() && end > m_readMapSize) {
        unmapReadFile();
        const qint64 page = qint64(::sysconf(_SC_PAGESIZE));
        const qint64 size = (std::max(end, m_segmentLimit) + page - 1) / page * page;
        bool present = false;
        {
            // Before the mapping: a sender that drops this segment from now on sees it and leaves the file's
            // length alone. One dropped before is no longer listed (and may be truncated): read() then.
            QMutexLocker lock(&m_mutex);
            present = std::any_of(m_segments.cbegin(), m_segments.cend(),
                                  [number](const Segment &segment) { return segment.number == number; });
            if (present)
                m_readMappedSegment = number;
        }
        void *map = present ? ::mmap(nullptr, size_t(size), PROT_READ, MAP_SHARED, m_readFile.handle(), 0)
                            : MAP_FAILED;
        if (map != MAP_FAILED) {
            m_readMap = static_cast<const char *>(map);
            m_readMapSize = size;
        }
    }
#endif
    if (m_readMap && end <= m_readMapSize) {
        *available = qsizetype(end - offset);
        return m_readMap + offset;
    }
    const qint64 bufferEnd = m_readBufferStart + m_readBuffer.size();
    if (offset < m_readBufferStart || offset + need > bufferEnd) {
        const qint64 size = std::min<qint64>(end - offset, std::max<qint64>(need, readChunk));
        if (!m_readFile.isOpen() || !m_readFile.seek(offset))
            return nullptr;
        m_readBuffer = m_readFile.read(size);
        m_readBufferStart = offset;
        if (m_readBuffer.size() < need)
            return nullptr;
    }
    *available = qsizetype(m_readBufferStart + m_readBuffer.size() - offset);
    return m_readBuffer.constData() + (offset - m_readBufferStart);
}

void LokiSpoolBuffer::unmapReadFile()
{
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    if (m_readMap)
        ::munmap(const_cast<char *>(m_readMap), size_t(m_readMapSize));
#endif
    m_readMap = nullptr;
    m_readMapSize = 0;
    QMutexLocker lock(&m_mutex);
    m_readMappedSegment = 0;
}

void LokiSpoolBuffer::closeReadFile()
{
    unmapReadFile();
    m_readFile.close();
}

LokiEntryBuffer::TakeStats LokiSpoolBuffer::takeBatch(std::vector<LokiQueuedEntry> &out)
{
    if (m_options.sync == LokiConfig::SpoolSync::PerBatch && hasUnsyncedEntries())
        sync(); // what is taken is on the storage (once all was synced, a batch costs no sync)
    checkFilesStillThere();
    const qint64 clockOffsetNs = m_clockOffsetNs.load(std::memory_order_relaxed);
    const qint64 oldest = LokiBufferClock::nowNs() + clockOffsetNs -
                          std::chrono::duration_cast<std::chrono::nanoseconds>(m_options.maxAge).count();
    TakeStats stats;
    int taken = 0;
    qint64 bytes = 0;
    Record record;
    LineArena arena;
    Taken took; // what acknowledge() resolves for this batch, in its turn
    for (;;) {
        // What to read: under the lock, a look at the cursor's segment.
        quint64 number = 0;
        qint64 offset = 0;
        qint64 end = 0;
        qint64 skipBelow = 0;
        int version = currentVersion;
        quint64 generation = 0;
        {
            QMutexLocker lock(&m_mutex);
            if (taken >= m_limits.batchEntries)
                break;
            auto segment = cursorSegmentLocked();
            if (segment == m_segments.end())
                break;
            if (m_cursor.offset >= segment->size) {
                if (std::next(segment) == m_segments.end())
                    break; // everything written has been taken
                moveCursorLocked(std::next(segment)->number);
                continue;
            }
            number = segment->number;
            offset = m_cursor.offset;
            end = segment->size;
            skipBelow = m_skipBelow;
            version = segment->version;
            generation = m_cursorGeneration;
        }
        if (m_readStreamsSegment != number) {
            m_readStreams.clear();
            m_readStreamsSegment = number;
        }
        // Read without the lock: senders go on writing meanwhile (behind end). Straight into out; taken
        // back if a sender dropped the segment meanwhile.
        const size_t outStart = out.size();
        const qint64 bytesStart = bytes;
        out.reserve(outStart + size_t(m_limits.batchEntries - taken));
        qint64 consumedEntries = 0; // taken or expired
        qint64 consumedBytes = 0;
        qint64 expired = 0;
        bool damaged = false;
        auto gotCount = [&out, outStart] { return int(out.size() - outStart); };
        while (taken + gotCount() < m_limits.batchEntries && offset < end) {
            qsizetype available = 0;
            const char *at = fill(number, offset, end, recordHeaderSize, &available);
            qsizetype consumed = 0;
            ReadStatus status = ReadStatus::Corrupt;
            if (at) {
                const quint32 length = qFromLittleEndian<quint32>(at);
                at = length <= maxPayloadBytes
                         ? fill(number, offset, end, recordHeaderSize + qsizetype(length), &available)
                         : nullptr;
            }
            if (at)
                status = readRecord(at, available, &record, &consumed, version, LineCopy::View, number);
            const LokiStreamInfo *stream = nullptr;
            if (status == ReadStatus::Ok && record.type == RecordType::Entry) {
                const LokiStreamInfo *const *const known = m_readStreams.find(record.streamId);
                stream = known ? *known : nullptr;
                if (!stream)
                    status = ReadStatus::Corrupt;
            }
            if (status != ReadStatus::Ok) {
                damaged = true;
                break;
            }
            if (record.type == RecordType::Stream) {
                m_readStreams.add(record.streamId, m_resolve(record.key, record.json));
                offset += consumed;
                continue;
            }
            if (offset < skipBelow) { // delivered by an earlier run
                offset += consumed;
                continue;
            }
            if (taken + gotCount() > 0 && bytes + record.line.size() > m_limits.batchBytes) {
                taken = m_limits.batchEntries; // the batch is full by bytes
                break;
            }
            offset += consumed;
            ++consumedEntries;
            consumedBytes += record.line.size();
            const qint64 timestamp = record.timestampNs + (clockOffsetNs - record.clockOffsetNs);
            if (timestamp < oldest) {
                ++expired;
                continue;
            }
            // record.line points into the file's mapping or buffer.
            out.push_back(
                LokiQueuedEntry{timestamp, stream, arena.copy(record.line), std::move(record.metadata)});
            bytes += out.back().line.size();
        }
        // Record what was read, unless a sender dropped that segment meanwhile (its entries were counted
        // as droppedOldest then).
        QMutexLocker lock(&m_mutex);
        if (generation != m_cursorGeneration || m_cursor.segment != number) {
            out.resize(outStart);
            bytes = bytesStart;
            continue;
        }
        m_cursor.offset = offset;
        m_takenInCursorSegment += consumedEntries;
        m_takenBytesInCursorSegment += consumedBytes;
        if (auto segment = cursorSegmentLocked(); segment != m_segments.end() && segment->number == number) {
            segment->unacknowledged += consumedEntries - expired;
            if (!took.perSegment.empty() && took.perSegment.back().first == number)
                took.perSegment.back().second += consumedEntries - expired;
            else
                took.perSegment.emplace_back(number, consumedEntries - expired);
        }
        m_pendingEntries -= consumedEntries;
        m_pendingBytes -= consumedBytes;
        m_removed += consumedEntries;
        stats.expired += expired;
        if (taken < m_limits.batchEntries)
            taken += gotCount();
        if (damaged) {
            auto segment = cursorSegmentLocked();
            if (segment != m_segments.end() && segment->number == number) {
                // Damaged since open() checked it: the rest of this segment is lost.
                const qint64 lost = segment->entries - m_takenInCursorSegment;
                reportLocked(QStringLiteral("%1 became unreadable at byte %2; %3 entries in it are lost")
                                 .arg(segmentPath(number))
                                 .arg(offset)
                                 .arg(lost));
                m_pendingEntries -= lost;
                m_pendingBytes -= segment->lineBytes - m_takenBytesInCursorSegment;
                m_removed += lost;
                stats.damaged += lost;
                segment->entries = m_takenInCursorSegment;
                segment->lineBytes = m_takenBytesInCursorSegment;
                segment->size = m_cursor.offset;
                if (std::next(segment) == m_segments.end())
                    retireWriteFileLocked(
                        false); // never append behind damage: the next entry starts a segment
            }
        }
    }
    {
        QMutexLocker lock(&m_mutex);
        took.end = m_cursor;
        m_taken.push_back(std::move(took));
    }
    LokiCounterSet::add(m_counters->expired, stats.expired);
    LokiCounterSet::add(m_counters->corrupted, stats.damaged);
    flushReports();
    prepareSpare();
    return stats;
}

bool LokiSpoolBuffer::rewindWriteFileLocked()
{
#ifdef LOKIQT_SPOOL_MAPS_SEGMENTS
    SegmentFile *file = m_writeFile.get();
    // Only where delivered files are reused at all (a disk with room for many segments), and not after a
    // refused reservation (a full disk): there the file goes, and its disk with it.
    if (!m_reuseFiles || !file || !file->map || file->tight || file->reserved > file->mapSize ||
        file->reserved < magicSize + 4 || m_spare || m_spareReserved || m_closed || m_segments.size() != 1 ||
        m_segments.front().version != currentVersion)
        return false;
    const quint64 number = m_nextNumber;
    const QString path = segmentPath(number);
    // Where its first record starts, a zero length first: under either name, the file holds no record (its
    // records, all delivered, stay behind that end, and their CRCs carry the earlier number).
    std::memset(file->map + magicSize, 0, 4);
    if (::rename(QFile::encodeName(file->path).constData(), QFile::encodeName(path).constData()) != 0)
        return false; // then it is retired and deleted as before (it holds no record now either way)
    ++m_nextNumber;
    if (m_readMappedSegment == m_segments.front().number)
        m_readMappedSegment = number; // the worker's mapping of it goes on (see acknowledge())
    file->path = path;
    file->used = magicSize;
    Segment &segment = m_segments.front();
    segment = Segment{number, magicSize, segment.fileBytes, 0, 0, 0};
    m_writeStreams.clear(); // stream ids are the segment's own: the next records define theirs again
    m_directoryDirty = true;
    return true;
#else
    return false;
#endif
}

quint64 LokiSpoolBuffer::firstUnusedNumberLocked() const
{
    // A spare (or one being made) comes first: the position past everything must not pass it, or the next
    // start would take what is written into it for delivered.
    return (m_spare || m_spareReserved) ? m_spareNumber : m_nextNumber;
}

void LokiSpoolBuffer::prepareSpare()
{
    quint64 number = 0;
    QString reuse;
    {
        QMutexLocker lock(&m_mutex);
        // Only while a segment is being written and past half its size: an idle spool keeps no extra file.
        if (m_spare || m_spareReserved || m_closed || !m_writeFile || m_segments.empty() ||
            m_segments.back().size < m_segmentLimit / 2)
            return;
        number = m_nextNumber++;
        m_spareNumber = number;
        m_spareReserved = true;
        reuse.swap(m_reusable); // the worker's now (its disk stays counted, in m_spareBytes)
        m_spareBytes = m_reusableBytes;
        m_reusableBytes = 0;
    }
    QString why;
    std::shared_ptr<SegmentFile> file;
    if (!reuse.isEmpty()) {
        if (m_readFileSegment != 0 && reuse == segmentPath(m_readFileSegment))
            closeReadFile();
        file = reuseSegmentFile(reuse, number, &why);
        if (!file) { // given up: deleted, and its disk given back
            QFile::remove(reuse);
            QFile::remove(segmentPath(number));
            QMutexLocker lock(&m_mutex);
            m_diskBytes -= m_spareBytes;
            m_spareBytes = 0;
        }
    }
    if (!file)
        file = createSegmentFile(number, &why);
    bool ok = file != nullptr;
    {
        QMutexLocker lock(&m_mutex);
        m_spareReserved = false;
        // A sender that could not wait for it made a segment of its own meanwhile, numbered after this one:
        // this one would now sort before entries written earlier.
        ok = ok && !m_closed && m_nextNumber == number + 1;
        if (ok) {
            m_spare = file;
        } else {
            m_diskBytes -= m_spareBytes;
            m_spareBytes = 0;
        }
    }
    if (!ok && file) {
        file->unmap();
        file->file.close();
        QFile::remove(file->path);
    }
}

void LokiSpoolBuffer::acknowledge()
{
    QStringList remove;
    Position ack;
    quint64 rewound = 0; // a segment whose file goes on as the next one
    quint64 rewoundAs = 0;
    {
        QMutexLocker lock(&m_mutex);
        cursorSegmentLocked();
        // The oldest batch taken is resolved; later ones (still under way) keep what they took.
        if (m_taken.empty())
            return;
        const Taken took = std::move(m_taken.front());
        m_taken.pop_front();
        for (const auto &[number, count] : took.perSegment) {
            const auto segment =
                std::find_if(m_segments.begin(), m_segments.end(),
                             [number = number](const Segment &s) { return s.number == number; });
            if (segment != m_segments.end())
                segment->unacknowledged -= count;
            else // DropOldest deleted it while the batch was under way (counted in m_lostInFlight then)
                m_lostInFlight -= std::min(m_lostInFlight, count);
        }
        ack = took.end;
        // A delivered segment's file goes, or is kept to become a later segment (while more is written).
        auto release = [&](const Segment &segment, bool idle) {
            if (!idle && m_reuseFiles && m_reusable.isEmpty() && !m_closed && m_writeFile &&
                segment.version == currentVersion && segment.fileBytes >= m_segmentLimit / 2 &&
                m_diskBytes <= m_options.maxBytes / 2) {
                m_reusable = segmentPath(segment.number);
                m_reusableBytes = segment.fileBytes; // still counted in m_diskBytes
                forgetRetiredLocked(m_reusable);     // its records need no sync any more
                return;
            }
            m_diskBytes -= segment.fileBytes;
            remove << segmentPath(segment.number);
        };
        // Segments before the batch's end are delivered.
        while (!m_segments.empty() && m_segments.front().number < ack.segment) {
            release(m_segments.front(), false);
            m_segments.pop_front();
        }
        // So is the segment it ended in once all of it was taken; the one being written too (the next entry
        // starts a new one), so a spool that never reaches rotation size frees its disk all the same.
        if (!m_segments.empty() && m_segments.front().number == ack.segment &&
            ack.offset >= m_segments.front().size) {
            const bool idle = m_segments.size() == 1; // all delivered
            if (idle && rewindWriteFileLocked()) {
                // The file goes on as the next segment, from its start (see rewindWriteFileLocked()).
                rewound = ack.segment;
                rewoundAs = m_segments.front().number;
                moveCursorLocked(rewoundAs);
                if (m_taken.empty())
                    ack = m_cursor;
            } else if (idle) {
                retireWriteFileLocked(false);
                while (dropReusableLocked()) {
                }
            }
            if (rewound == 0) {
                release(m_segments.front(), idle);
                m_segments.pop_front();
                if (m_cursor.segment == ack.segment)
                    moveCursorLocked(m_segments.empty() ? firstUnusedNumberLocked()
                                                        : m_segments.front().number);
                if (m_taken.empty())
                    ack = m_cursor;
            }
        }
        if (!remove.isEmpty())
            m_directoryDirty = true;
        for (const QString &path : std::as_const(remove))
            forgetRetiredLocked(path); // no sync for a file about to go: it would keep its blocks meanwhile
    }
    {
        QMutexLocker syncLock(&m_syncMutex);
        if (ack.segment != m_acked.segment || ack.offset != m_acked.offset) {
            // The position first: a crash before the files go leaves them for the next start to delete.
            // Synced by the next sync() (PerBatch: with the next batch's worth of entries), not on its own: a
            // power cut before then can only make delivered entries go again, never lose one.
            if (writeAckLocked(ack)) {
                m_acked = ack;
                m_ackFailed = false;
            } else if (!m_ackFailed) {
                m_ackFailed = true;
                const QString why = m_ackFile.errorString();
                if (m_report)
                    m_report(QStringLiteral("cannot write the acknowledgement file %1: %2; delivered entries "
                                            "may be sent again after a restart (reported once)")
                                 .arg(m_ackPath, why));
            }
        }
    }
    if (rewound != 0 && m_readFileSegment == rewound) {
        // The worker's handle and mapping of that file go on under its next number (the same file; only
        // what read() buffered of its earlier records is stale).
        m_readFileSegment = rewoundAs;
        m_readBuffer.clear();
        m_readBufferStart = 0;
    }
    removeFiles(remove);
    if (!remove.isEmpty()) {
        if (m_options.sync == LokiConfig::SpoolSync::PerBatch)
            syncDirectory();
        QMutexLocker lock(&m_mutex);
        m_notFull.wakeAll(); // disk space was freed
    }
    flushReports();
    prepareSpare();
}

bool LokiSpoolBuffer::writeAckLocked(const Position &ack)
{
    char data[20];
    qToLittleEndian(ack.segment, data);
    qToLittleEndian(ack.offset, data + 8);
    qToLittleEndian(crcOf(data, 16), data + 16);
    const bool ok = m_ackFile.seek(0) && m_ackFile.write(data, 20) == 20;
    if (ok)
        m_ackDirty = true;
    return ok;
}

void LokiSpoolBuffer::rewriteAckFileLocked()
{
    m_ackFile.close();
    if (openOwnerOnly(m_ackFile, m_ackPath, QIODevice::ReadWrite) && writeAckLocked(m_acked))
        return;
    if (!m_ackFailed) {
        m_ackFailed = true;
        if (m_report)
            m_report(
                QStringLiteral("cannot write the acknowledgement file %1 again: %2; delivered entries may "
                               "be sent again after a restart (reported once)")
                    .arg(m_ackPath, m_ackFile.errorString()));
    }
}

void LokiSpoolBuffer::checkFilesStillThere()
{
    std::shared_ptr<SegmentFile> file;
    bool ackGone = false;
    {
        QMutexLocker lock(&m_mutex);
        if (m_pendingEntries == 0 && !m_ackGone)
            return; // (an idle spool makes no system call)
        file = m_writeFile;
        ackGone = m_ackGone;
    }
    const bool writeGone = file && file->file.isOpen() && !isLinked(file->file.handle());
    QMutexLocker syncLock(&m_syncMutex);
    ackGone = ackGone || !isLinked(m_ackFile.handle());
    if (!writeGone && !ackGone)
        return;
    {
        QMutexLocker lock(&m_mutex);
        if (writeGone && m_writeFile == file) {
            // What follows goes into a new segment, with a name (in the directory made again if it went).
            retireWriteFileLocked(m_options.sync != LokiConfig::SpoolSync::Never);
            if (!restoreDirectoryLocked())
                reportLocked(
                    QStringLiteral("%1 was removed while in use; what it holds is delivered while the "
                                   "spool still has it open, the rest is counted as corrupted")
                        .arg(file->path));
        } else {
            restoreDirectoryLocked();
        }
        m_ackGone = false;
    }
    rewriteAckFileLocked();
}

void LokiSpoolBuffer::removeFiles(const QStringList &paths)
{
    for (const QString &path : paths) {
        if (m_readFileSegment != 0 && path == segmentPath(m_readFileSegment))
            closeReadFile();
        QFile::remove(path);
    }
}

void LokiSpoolBuffer::syncDirectory()
{
#ifdef Q_OS_UNIX
    // A new or removed segment file survives a power cut only once its directory is synced.
    const int fd = ::open(QFile::encodeName(m_options.directory).constData(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
#endif
    // Elsewhere there is no portable way to sync a directory: its entries reach the storage with the files.
}

void LokiSpoolBuffer::sync()
{
    QMutexLocker syncLock(&m_syncMutex);
    std::shared_ptr<SegmentFile> current;
    std::vector<std::shared_ptr<SegmentFile>> retired;
    bool directory = false;
    {
        QMutexLocker lock(&m_mutex);
        if (m_unsyncedEntries > 0) // else nothing new in it since the last sync
            current = m_writeFile;
        retired.swap(m_retired);
        directory = m_directoryDirty;
        m_directoryDirty = false;
        m_unsyncedEntries = 0;
        m_unsyncedBytes = 0;
        m_syncRequested = false;
        m_syncWakeSent = false;
    }
    // The storage's wait happens here, with no lock a sender takes.
    for (const auto &file : retired)
        syncFile(file->file);
    if (current)
        syncFile(current->file);
    if (m_ackDirty) {
        syncFile(m_ackFile);
        m_ackDirty = false;
    }
    // Interval too: a segment file that went on under its next number (rewindWriteFileLocked(),
    // reuseSegmentFile()) holds records whose CRCs carry that number. Synced without its new name, a power
    // cut would leave them under the old one, where they read as damage; fdatasync() alone does not keep a
    // rename.
    if (directory)
        syncDirectory();
}

bool LokiSpoolBuffer::hasUnsyncedEntries() const
{
    QMutexLocker lock(&m_mutex);
    return m_unsyncedEntries > 0 || !m_retired.empty();
}

bool LokiSpoolBuffer::needsSync() const
{
    QMutexLocker lock(&m_mutex);
    if (m_options.sync == LokiConfig::SpoolSync::PerBatch)
        return m_syncRequested || !m_retired.empty();
    return m_unsyncedEntries > 0 || !m_retired.empty();
}

std::chrono::milliseconds LokiSpoolBuffer::syncTimerInterval() const
{
    switch (m_options.sync) {
    case LokiConfig::SpoolSync::Interval:
        return m_options.syncInterval;
    case LokiConfig::SpoolSync::PerBatch:
        return std::chrono::milliseconds(0); // as soon as the worker gets to it, after a batch's worth
    case LokiConfig::SpoolSync::Never:
        break;
    }
    return std::chrono::milliseconds(-1);
}

// --- bookkeeping ---

void LokiSpoolBuffer::close()
{
    QMutexLocker lock(&m_mutex);
    m_closed = true;
    m_notFull.wakeAll();
}

bool LokiSpoolBuffer::isClosed() const
{
    QMutexLocker lock(&m_mutex);
    return m_closed;
}

void LokiSpoolBuffer::setClockOffset(qint64 ns)
{
    // Nothing to shift: each record carries the offset it was stamped with, and takeBatch() corrects it.
    QMutexLocker lock(&m_mutex);
    const qint64 delta = ns - m_clockOffsetNs.load(std::memory_order_relaxed);
    if (m_lastTimestamp != 0)
        m_lastTimestamp += delta;
    m_clockOffsetNs.store(ns, std::memory_order_relaxed);
}

qint64 LokiSpoolBuffer::size() const
{
    QMutexLocker lock(&m_mutex);
    return m_pendingEntries;
}

bool LokiSpoolBuffer::hasFullBatch() const
{
    QMutexLocker lock(&m_mutex);
    return hasFullBatchLocked();
}

bool LokiSpoolBuffer::hasFullBatchLocked() const
{
    return m_pendingEntries >= m_limits.batchEntries || m_pendingBytes >= m_limits.batchBytes;
}

qint64 LokiSpoolBuffer::removedCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_removed;
}

qint64 LokiSpoolBuffer::acceptedCount() const
{
    QMutexLocker lock(&m_mutex);
    return m_accepted + m_replayed;
}

bool LokiSpoolBuffer::armWake(WakeWhen when)
{
    QMutexLocker lock(&m_mutex);
    const bool ready = (when == WakeWhen::AnyEntry && m_pendingEntries > 0) ||
                       (when == WakeWhen::FullBatch && hasFullBatchLocked());
    m_wakeWhen = ready ? WakeWhen::Never : when;
    return ready;
}

LokiEntryBuffer::Leftovers LokiSpoolBuffer::shutdownLeftovers(qint64 inFlight)
{
    // Nothing is lost: the batch under way was not acknowledged, so it stays on disk with the rest.
    if (m_options.sync != LokiConfig::SpoolSync::Never)
        sync();
    Leftovers left;
    {
        QMutexLocker lock(&m_mutex);
        left.lost = std::min(inFlight, m_lostInFlight);
    }
    left.kept = size() + inFlight - left.lost;
    left.keptIn = m_options.directory;
    return left;
}

QString LokiSpoolBuffer::boundDescription() const
{
    QMutexLocker lock(&m_mutex);
    // On a full file system the drops come from there, not from maxBytes: say so, in the system's words.
    const QString disk =
        m_writeFailed ? QStringLiteral("; writing failed: %1").arg(m_lastWriteError) : QString();
    return QStringLiteral("the spool was full (spool.maxBytes %1, backpressure %2%3)")
        .arg(m_options.maxBytes)
        .arg(LokiConfig::backpressureName(m_limits.mode), disk);
}

QString LokiSpoolBuffer::lastWriteError() const
{
    QMutexLocker lock(&m_mutex);
    return m_lastWriteError;
}

qint64 LokiSpoolBuffer::diskBytes() const
{
    QMutexLocker lock(&m_mutex);
    return m_diskBytes;
}

bool LokiSpoolBuffer::writesIntoReusedFile() const
{
    QMutexLocker lock(&m_mutex);
    return m_writeFile && m_writeFile->reused;
}

int LokiSpoolBuffer::segmentCount() const
{
    QMutexLocker lock(&m_mutex);
    return int(m_segments.size());
}
