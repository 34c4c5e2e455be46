// SPDX-License-Identifier: MIT
#include "spool_p.h"

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QtEndian>

#include <zlib.h>

#include <algorithm>
#include <cstring>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <unistd.h>
#endif

namespace {
constexpr qsizetype readChunk = 256 * 1024;

void putU32(QByteArray &out, quint32 value)
{
    char bytes[4];
    qToLittleEndian(value, bytes);
    out.append(bytes, 4);
}

void putI64(QByteArray &out, qint64 value)
{
    char bytes[8];
    qToLittleEndian(value, bytes);
    out.append(bytes, 8);
}

void putBytes(QByteArray &out, const QByteArray &bytes)
{
    putU32(out, quint32(bytes.size()));
    out.append(bytes);
}

quint32 crcOf(const char *data, qsizetype size)
{
    return quint32(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef *>(data), uInt(size)));
}

/** Frames the payload that starts at @p start in @p out: fills in its length and CRC. */
void finishRecord(QByteArray &out, qsizetype start)
{
    const qsizetype payload = out.size() - start - LokiSpoolFormat::recordHeaderSize;
    char *header = out.data() + start;
    qToLittleEndian(quint32(payload), header);
    qToLittleEndian(crcOf(header + LokiSpoolFormat::recordHeaderSize, payload), header + 4);
}

/** Reads fields from a payload, never past its end. */
class Reader
{
public:
    Reader(const char *data, qsizetype size)
        : m_data(data)
        , m_left(size)
    {}
    bool u8(quint8 *value)
    {
        return take(1, [&](const char *p) { *value = quint8(*p); });
    }
    bool u32(quint32 *value)
    {
        return take(4, [&](const char *p) { *value = qFromLittleEndian<quint32>(p); });
    }
    bool i64(qint64 *value)
    {
        return take(8, [&](const char *p) { *value = qFromLittleEndian<qint64>(p); });
    }
    bool bytes(QByteArray *value)
    {
        quint32 size = 0;
        if (!u32(&size) || qsizetype(size) > m_left)
            return false;
        *value = QByteArray(m_data, qsizetype(size));
        m_data += size;
        m_left -= size;
        return true;
    }
    bool atEnd() const { return m_left == 0; }

private:
    template<typename F>
    bool take(qsizetype n, F &&read)
    {
        if (m_left < n)
            return false;
        read(m_data);
        m_data += n;
        m_left -= n;
        return true;
    }
    const char *m_data;
    qsizetype m_left;
};

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

qint64 nowNs()
{
    using namespace std::chrono;
    return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

/** Opens @p path for appending, creating it readable by the owner only. */
bool openOwnerOnly(QFile &file, const QString &path, QIODevice::OpenMode mode)
{
#ifdef Q_OS_UNIX
    int flags = O_CREAT | O_CLOEXEC | ((mode & QIODevice::ReadOnly) ? O_RDWR : O_WRONLY);
    if (mode & QIODevice::Append)
        flags |= O_APPEND;
    const int fd = ::open(QFile::encodeName(path).constData(), flags, 0600);
    if (fd < 0)
        return false;
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

void syncFile(QFile &file)
{
    if (!file.isOpen())
        return;
#if defined(Q_OS_LINUX)
    ::fdatasync(file.handle());
#elif defined(Q_OS_UNIX)
    ::fsync(file.handle());
#else
    file.flush();
#endif
}
} // namespace

namespace LokiSpoolFormat {

void appendStream(QByteArray &out, quint32 id, const QByteArray &key, const QByteArray &json)
{
    const qsizetype start = out.size();
    out.append(recordHeaderSize, '\0');
    out.append(char(RecordType::Stream));
    putU32(out, id);
    putBytes(out, key);
    putBytes(out, json);
    finishRecord(out, start);
}

void appendEntry(QByteArray &out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId,
                 const QByteArray &line, const LokiMetadata &metadata)
{
    const qsizetype start = out.size();
    out.append(recordHeaderSize, '\0');
    out.append(char(RecordType::Entry));
    putI64(out, timestampNs);
    putI64(out, clockOffsetNs);
    putU32(out, streamId);
    putBytes(out, line);
    putU32(out, quint32(metadata.size()));
    for (const auto &pair : metadata) {
        putBytes(out, pair.first);
        putBytes(out, pair.second);
    }
    finishRecord(out, start);
}

qint64 entrySize(const LokiQueuedEntry &entry)
{
    qint64 size = recordHeaderSize + 1 + 8 + 8 + 4 + 4 + entry.line.size() + 4;
    for (const auto &pair : entry.metadata)
        size += 8 + pair.first.size() + pair.second.size();
    return size;
}

ReadStatus readRecord(const char *data, qsizetype size, Record *out, qsizetype *consumed)
{
    if (size < recordHeaderSize)
        return ReadStatus::NeedMore;
    const quint32 length = qFromLittleEndian<quint32>(data);
    const quint32 crc = qFromLittleEndian<quint32>(data + 4);
    if (length == 0 || length > maxPayloadBytes)
        return ReadStatus::Corrupt;
    if (size - recordHeaderSize < qsizetype(length))
        return ReadStatus::NeedMore;
    const char *payload = data + recordHeaderSize;
    if (crcOf(payload, length) != crc)
        return ReadStatus::Corrupt;

    Reader reader(payload, length);
    quint8 type = 0;
    reader.u8(&type);
    bool ok = false;
    if (type == quint8(RecordType::Stream)) {
        out->type = RecordType::Stream;
        ok = reader.u32(&out->streamId) && reader.bytes(&out->key) && reader.bytes(&out->json);
    } else if (type == quint8(RecordType::Entry)) {
        out->type = RecordType::Entry;
        quint32 count = 0;
        ok = reader.i64(&out->timestampNs) && reader.i64(&out->clockOffsetNs) && reader.u32(&out->streamId) &&
             reader.bytes(&out->line) && reader.u32(&count);
        out->metadata.clear();
        // Each pair takes at least 8 bytes: a count beyond what is left is damage, not a reason to allocate.
        if (ok && qint64(count) * 8 > qint64(length))
            ok = false;
        for (quint32 i = 0; ok && i < count; ++i) {
            QPair<QByteArray, QByteArray> pair;
            ok = reader.bytes(&pair.first) && reader.bytes(&pair.second);
            if (ok)
                out->metadata.append(std::move(pair));
        }
    }
    if (!ok || !reader.atEnd())
        return ReadStatus::Corrupt;
    *consumed = recordHeaderSize + qsizetype(length);
    return ReadStatus::Ok;
}
} // namespace LokiSpoolFormat

using namespace LokiSpoolFormat;

LokiSpool::LokiSpool(const Options &options, StreamResolver resolver, Reporter reporter)
    : m_options(options)
    , m_segmentLimit(std::max<qint64>(4096, std::min(options.segmentBytes, options.maxBytes / 4)))
    , m_resolve(std::move(resolver))
    , m_report(std::move(reporter))
{}

LokiSpool::~LokiSpool()
{
    if (m_options.sync != LokiConfig::SpoolSync::Never)
        sync();
}

QString LokiSpool::segmentPath(quint64 number) const
{
    return m_options.directory + QLatin1Char('/') + segmentName(number);
}

void LokiSpool::fail(const QString &message)
{
    if (m_report)
        m_report(message);
}

bool LokiSpool::open(QString *error)
{
    QDir dir(m_options.directory);
    if (!dir.mkpath(QStringLiteral("."))) {
        *error = QStringLiteral("cannot create the spool directory %1").arg(m_options.directory);
        return false;
    }
    QFile::setPermissions(m_options.directory,
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);

    m_lock = std::make_unique<QLockFile>(dir.filePath(QStringLiteral("lock")));
    m_lock->setStaleLockTime(0); // a lock is stale only when its process is gone, never for its age
    if (!m_lock->tryLock(0)) {
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

    // Where an earlier run got to.
    Position acked;
    if (openOwnerOnly(m_ackFile, dir.filePath(QStringLiteral("ack")), QIODevice::ReadWrite)) {
        char data[20];
        if (m_ackFile.read(data, sizeof data) == qint64(sizeof data) &&
            crcOf(data, 16) == qFromLittleEndian<quint32>(data + 16)) {
            acked.segment = qFromLittleEndian<quint64>(data);
            acked.offset = qFromLittleEndian<qint64>(data + 8);
        }
    } else {
        *error = QStringLiteral("cannot open %1: %2").arg(m_ackFile.fileName(), m_ackFile.errorString());
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
        if (number < acked.segment) {
            QFile::remove(segmentPath(number)); // acknowledged; its deletion was cut short
            continue;
        }
        Segment segment;
        segment.number = number;
        scan(segment, number == acked.segment ? acked.offset : magicSize);
        if (segment.entries == 0) {
            QFile::remove(segmentPath(number));
            continue;
        }
        segment.fileBytes = QFileInfo(segmentPath(number)).size();
        m_diskBytes += segment.fileBytes;
        m_pendingEntries += segment.entries;
        m_pendingBytes += segment.lineBytes;
        m_segments.push_back(segment);
    }
    m_replayed = m_pendingEntries;
    if (!m_segments.empty()) {
        moveCursorTo(m_segments.front(), magicSize);
        if (m_segments.front().number == acked.segment)
            m_skipBelow = acked.offset; // entries before it were delivered; stream records still count
    }
    m_acked = acked;
    const bool replaying = !m_segments.empty();
    // New segments must sort after the acknowledged one, or the next start would take them for delivered.
    if (!startSegment(std::max(last, acked.segment) + 1)) {
        *error = QStringLiteral("cannot create a segment file in %1: %2")
                     .arg(m_options.directory, m_writeFile.errorString());
        return false;
    }
    if (!replaying)
        moveCursorTo(m_segments.front(), magicSize);
    return true;
}

void LokiSpool::scan(Segment &segment, qint64 from)
{
    QFile file(segmentPath(segment.number));
    if (!file.open(QIODevice::ReadOnly)) {
        fail(QStringLiteral("cannot read %1: %2; its entries are lost")
                 .arg(file.fileName(), file.errorString()));
        return;
    }
    const QByteArray data = file.readAll();
    if (data.size() < magicSize || std::memcmp(data.constData(), magic, magicSize) != 0) {
        fail(QStringLiteral("%1 is not a lokiqt spool segment (or its start is damaged); skipped")
                 .arg(file.fileName()));
        return;
    }
    qsizetype pos = magicSize;
    Record record;
    QHash<quint32, bool> streams;
    while (pos < data.size()) {
        qsizetype consumed = 0;
        const ReadStatus status = readRecord(data.constData() + pos, data.size() - pos, &record, &consumed);
        bool valid = status == ReadStatus::Ok;
        if (valid && record.type == RecordType::Entry && !streams.contains(record.streamId))
            valid = false;
        if (!valid) {
            fail(QStringLiteral("%1: %2 at byte %3; the %4 bytes from there on are skipped (the entries "
                                "before it are kept)")
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
}

bool LokiSpool::startSegment(quint64 number)
{
    if (m_writeFile.isOpen()) {
        if (m_options.sync != LokiConfig::SpoolSync::Never)
            syncFile(m_writeFile);
        m_writeFile.close();
    }
    if (!openOwnerOnly(m_writeFile, segmentPath(number), QIODevice::WriteOnly | QIODevice::Append))
        return false;
    m_writeFile.resize(0); // a left-over file of that name can only be junk
    if (m_writeFile.write(magic, magicSize) != magicSize)
        return false;
    m_segments.push_back(Segment{number, magicSize, magicSize, 0, 0});
    m_diskBytes += magicSize;
    m_writeStreams.clear();
    return true;
}

bool LokiSpool::hasRoomFor(const LokiQueuedEntry &entry) const
{
    // Room for the record and a definition of its stream.
    const qint64 streamBytes = entry.stream ? 24 + 2 * entry.stream->key.size() + 16 : 0;
    return m_diskBytes + entrySize(entry) + streamBytes <= m_options.maxBytes;
}

bool LokiSpool::append(const LokiQueuedEntry &entry, qint64 clockOffsetNs)
{
    if (!m_writeFile.isOpen() || m_segments.back().size >= m_segmentLimit) {
        if (!startSegment(m_segments.empty() ? 1 : m_segments.back().number + 1)) {
            fail(QStringLiteral("cannot start a segment file in %1: %2")
                     .arg(m_options.directory, m_writeFile.errorString()));
            return false;
        }
    }
    m_writeBuffer.clear();
    auto id = m_writeStreams.constFind(entry.stream);
    quint32 streamId = 0;
    if (id == m_writeStreams.constEnd()) {
        streamId = quint32(m_writeStreams.size());
        appendStream(m_writeBuffer, streamId, entry.stream->key, entry.stream->jsonLabels);
    } else {
        streamId = id.value();
    }
    appendEntry(m_writeBuffer, entry.timestampNs, clockOffsetNs, streamId, entry.line, entry.metadata);

    Segment &segment = m_segments.back();
    // One write: the record is in the kernel, and so survives the process, before send() returns.
    if (m_writeFile.write(m_writeBuffer) != m_writeBuffer.size()) {
        const QString why = m_writeFile.errorString();
        m_writeFile.resize(segment.size); // no torn record in the middle of the file
        if (!m_writeFailed)
            fail(QStringLiteral("cannot write to %1: %2 (entries are dropped until writing works again)")
                     .arg(m_writeFile.fileName(), why));
        m_writeFailed = true;
        return false;
    }
    m_writeFailed = false;
    if (id == m_writeStreams.constEnd())
        m_writeStreams.insert(entry.stream, streamId);
    segment.size += m_writeBuffer.size();
    segment.fileBytes += m_writeBuffer.size();
    ++segment.entries;
    segment.lineBytes += entry.line.size();
    m_diskBytes += m_writeBuffer.size();
    ++m_pendingEntries;
    m_pendingBytes += entry.line.size();
    ++m_unsyncedEntries;
    m_unsyncedBytes += m_writeBuffer.size();
    if (m_options.sync == LokiConfig::SpoolSync::PerBatch &&
        (m_unsyncedEntries >= m_options.syncEntries || m_unsyncedBytes >= m_options.syncBytes))
        sync();
    return true;
}

void LokiSpool::sync()
{
    syncFile(m_writeFile);
    syncFile(m_ackFile);
    m_unsyncedEntries = 0;
    m_unsyncedBytes = 0;
}

void LokiSpool::moveCursorTo(const Segment &segment, qint64 offset)
{
    m_cursor = Position{segment.number, offset};
    m_takenInCursorSegment = 0;
    m_takenBytesInCursorSegment = 0;
    m_readStreams.clear();
    m_skipBelow = 0;
    if (m_readFileSegment != segment.number || !m_readFile.isOpen()) {
        m_readFile.close();
        m_readFile.setFileName(segmentPath(segment.number));
        m_readFile.open(QIODevice::ReadOnly | QIODevice::Unbuffered);
        m_readFileSegment = segment.number;
    }
    m_readBuffer.clear();
    m_readBufferStart = 0;
}

bool LokiSpool::fill(const Segment &segment, qsizetype need)
{
    if (m_cursor.offset + need > segment.size)
        return false;
    const qint64 bufferEnd = m_readBufferStart + m_readBuffer.size();
    if (m_cursor.offset >= m_readBufferStart && m_cursor.offset + need <= bufferEnd)
        return true;
    const qint64 size = std::min<qint64>(segment.size - m_cursor.offset, std::max<qint64>(need, readChunk));
    if (!m_readFile.isOpen() || !m_readFile.seek(m_cursor.offset))
        return false;
    m_readBuffer = m_readFile.read(size);
    m_readBufferStart = m_cursor.offset;
    return m_readBuffer.size() >= need;
}

qint64 LokiSpool::take(std::vector<LokiQueuedEntry> &out, int maxEntries, qint64 maxBytes,
                       qint64 clockOffsetNs, qint64 *expired, qint64 *damaged)
{
    const qint64 oldest = nowNs() + clockOffsetNs -
                          std::chrono::duration_cast<std::chrono::nanoseconds>(m_options.maxAge).count();
    qint64 bytes = 0;
    qint64 resolvedBytes = 0;
    int taken = 0;
    Record record;
    while (taken < maxEntries) {
        auto segment = std::find_if(m_segments.begin(), m_segments.end(),
                                    [this](const Segment &s) { return s.number == m_cursor.segment; });
        if (segment == m_segments.end())
            break;
        if (m_cursor.offset >= segment->size) {
            if (std::next(segment) == m_segments.end())
                break; // everything written has been taken
            moveCursorTo(*std::next(segment), magicSize);
            continue;
        }
        bool ok = fill(*segment, recordHeaderSize);
        qsizetype consumed = 0;
        ReadStatus status = ReadStatus::Corrupt;
        if (ok) {
            const quint32 length =
                qFromLittleEndian<quint32>(m_readBuffer.constData() + (m_cursor.offset - m_readBufferStart));
            ok = length <= maxPayloadBytes && fill(*segment, recordHeaderSize + qsizetype(length));
        }
        if (ok) {
            const qsizetype at = m_cursor.offset - m_readBufferStart;
            status = readRecord(m_readBuffer.constData() + at, m_readBuffer.size() - at, &record, &consumed);
        }
        const LokiStreamInfo *stream = nullptr;
        if (status == ReadStatus::Ok && record.type == RecordType::Entry) {
            stream = m_readStreams.value(record.streamId);
            if (!stream)
                status = ReadStatus::Corrupt;
        }
        if (status != ReadStatus::Ok) {
            // Damaged since open() checked it: the rest of this segment is lost.
            const qint64 lost = segment->entries - m_takenInCursorSegment;
            fail(QStringLiteral("%1 became unreadable at byte %2; %3 entries in it are lost")
                     .arg(segmentPath(segment->number))
                     .arg(m_cursor.offset)
                     .arg(lost));
            m_pendingEntries -= lost;
            m_pendingBytes -= segment->lineBytes - m_takenBytesInCursorSegment;
            *damaged += lost;
            resolvedBytes += segment->lineBytes - m_takenBytesInCursorSegment;
            segment->entries = m_takenInCursorSegment;
            segment->lineBytes = m_takenBytesInCursorSegment;
            segment->size = m_cursor.offset;
            if (std::next(segment) == m_segments.end())
                m_writeFile.close(); // never append behind damage: the next entry starts a segment
            continue;
        }
        if (record.type == RecordType::Stream) {
            m_readStreams.insert(record.streamId, m_resolve(record.key, record.json));
            m_cursor.offset += consumed;
            continue;
        }
        if (m_cursor.offset < m_skipBelow) { // delivered by an earlier run
            m_cursor.offset += consumed;
            continue;
        }
        if (taken > 0 && bytes + record.line.size() > maxBytes)
            break;
        m_cursor.offset += consumed;
        ++m_takenInCursorSegment;
        m_takenBytesInCursorSegment += record.line.size();
        --m_pendingEntries;
        m_pendingBytes -= record.line.size();
        resolvedBytes += record.line.size();
        const qint64 timestamp = record.timestampNs + (clockOffsetNs - record.clockOffsetNs);
        if (timestamp < oldest) {
            ++*expired;
            continue;
        }
        LokiQueuedEntry entry;
        entry.timestampNs = timestamp;
        entry.stream = stream;
        entry.line = std::move(record.line);
        entry.metadata = std::move(record.metadata);
        bytes += entry.line.size();
        out.push_back(std::move(entry));
        ++taken;
    }
    return resolvedBytes;
}

bool LokiSpool::writeAck(const Position &position)
{
    char data[20];
    qToLittleEndian(position.segment, data);
    qToLittleEndian(position.offset, data + 8);
    qToLittleEndian(crcOf(data, 16), data + 16);
    return m_ackFile.seek(0) && m_ackFile.write(data, 20) == 20;
}

bool LokiSpool::acknowledge()
{
    bool freed = false;
    // Segments the cursor has left behind are delivered.
    while (!m_segments.empty() && m_segments.front().number < m_cursor.segment) {
        removeSegment(m_segments.begin());
        freed = true;
    }
    if (!m_segments.empty() && m_segments.front().number == m_cursor.segment &&
        m_cursor.offset >= m_segments.front().size && m_segments.size() > 1) {
        moveCursorTo(m_segments[1], magicSize);
        removeSegment(m_segments.begin());
        freed = true;
    }
    if (m_cursor.segment != m_acked.segment || m_cursor.offset != m_acked.offset) {
        m_acked = m_cursor;
        writeAck(m_acked);
        if (m_options.sync == LokiConfig::SpoolSync::PerBatch)
            syncFile(m_ackFile);
    }
    return freed;
}

void LokiSpool::removeSegment(std::deque<Segment>::iterator it)
{
    if (m_readFileSegment == it->number)
        m_readFile.close();
    m_diskBytes -= it->fileBytes;
    QFile::remove(segmentPath(it->number));
    m_segments.erase(it);
}

qint64 LokiSpool::dropOldestSegment(qint64 *bytes)
{
    *bytes = 0;
    if (m_segments.empty())
        return -1;
    if (m_segments.size() == 1) {
        if (m_segments.front().entries == 0)
            return -1;
        if (!startSegment(m_segments.back().number + 1))
            return -1;
    }
    Segment &oldest = m_segments.front();
    qint64 untaken = 0;
    if (oldest.number == m_cursor.segment) {
        untaken = oldest.entries - m_takenInCursorSegment;
        *bytes = oldest.lineBytes - m_takenBytesInCursorSegment;
        moveCursorTo(m_segments[1], magicSize);
    } else if (oldest.number > m_cursor.segment) {
        untaken = oldest.entries;
        *bytes = oldest.lineBytes;
    }
    m_pendingEntries -= untaken;
    m_pendingBytes -= *bytes;
    removeSegment(m_segments.begin());
    return untaken;
}
