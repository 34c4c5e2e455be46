// SPDX-License-Identifier: MIT
#include "spoolformat_p.h"

#include <QtCore/QtEndian>

#include <zlib.h>

#include <cstring>

using LokiSpoolFormat::crcOf;

namespace {
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
} // namespace

namespace LokiSpoolFormat {

quint32 crcOf(const char *data, qsizetype size)
{
    return quint32(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef *>(data), uInt(size)));
}

bool hasMagic(const char *data, qsizetype size)
{
    return size >= magicSize && std::memcmp(data, magic, magicSize) == 0;
}

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
