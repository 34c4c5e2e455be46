// SPDX-License-Identifier: MIT
#include "spoolformat_p.h"

#include <QtCore/QtEndian>

#include <algorithm>

#include <zlib.h>

#include <atomic>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LOKIQT_CRC32C_X86 1 // SSE 4.2's crc32, chosen at run time (target attribute, no build flag)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#define LOKIQT_CRC32C_ARM 1 // the build targets ARMv8 with its CRC extension (ARMv8.1 makes it mandatory)
#include <arm_acle.h>
#endif

using LokiSpoolFormat::crcOf;

namespace {
/** Reflected CRC-32C (polynomial 0x82F63B78), slicing by 8: tables made at first use (8 KiB of .bss, none
 *  of the library file). */
struct Crc32cTables
{
    quint32 t[8][256];
    Crc32cTables()
    {
        for (quint32 i = 0; i < 256; ++i) {
            quint32 c = i;
            for (int k = 0; k < 8; ++k)
                c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
            t[0][i] = c;
        }
        for (int s = 1; s < 8; ++s) {
            for (quint32 i = 0; i < 256; ++i)
                t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
        }
    }
};

quint32 crc32cSoftware(quint32 crc, const char *data, qsizetype size)
{
    static const Crc32cTables tables;
    const auto &t = tables.t;
    const auto *p = reinterpret_cast<const unsigned char *>(data);
    while (size >= 8) {
        const quint32 lo = qFromLittleEndian<quint32>(p) ^ crc;
        const quint32 hi = qFromLittleEndian<quint32>(p + 4);
        crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
              t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
        p += 8;
        size -= 8;
    }
    while (size-- > 0)
        crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
    return crc;
}

#if defined(LOKIQT_CRC32C_X86)
__attribute__((target("sse4.2"))) quint32 crc32cHardware(quint32 crc, const char *data, qsizetype size)
{
    quint64 c = crc;
    while (size >= 8) {
        quint64 word;
        std::memcpy(&word, data, 8);
        c = __builtin_ia32_crc32di(c, word);
        data += 8;
        size -= 8;
    }
    crc = quint32(c);
    while (size-- > 0)
        crc = __builtin_ia32_crc32qi(crc, static_cast<unsigned char>(*data++));
    return crc;
}

__attribute__((target("sse4.2"))) quint32 crc32cHardware32(quint32 crc, quint32 value)
{
    return __builtin_ia32_crc32si(crc, value);
}

__attribute__((target("sse4.2"))) quint32 crc32cHardware64(quint32 crc, quint64 value)
{
    return quint32(__builtin_ia32_crc32di(crc, value));
}

bool hasCrc32cInstruction()
{
    // CPUID leaf 1, ECX bit 20 (<cpuid.h>: a few instructions, where __builtin_cpu_supports() links libgcc's
    // whole CPU model table into the library).
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_SSE4_2) != 0;
}
#elif defined(LOKIQT_CRC32C_ARM)
quint32 crc32cHardware(quint32 crc, const char *data, qsizetype size)
{
    while (size >= 8) {
        quint64 word;
        std::memcpy(&word, data, 8);
        crc = __crc32cd(crc, word);
        data += 8;
        size -= 8;
    }
    while (size-- > 0)
        crc = __crc32cb(crc, static_cast<unsigned char>(*data++));
    return crc;
}

quint32 crc32cHardware32(quint32 crc, quint32 value)
{
    return __crc32cw(crc, value);
}

quint32 crc32cHardware64(quint32 crc, quint64 value)
{
    return __crc32cd(crc, value);
}
#endif

std::atomic<bool> portableCrcForTests{false};

/** Whether the CRC-32C instruction is there (the table-driven code gives the same values). */
bool crc32cInHardware()
{
#if defined(LOKIQT_CRC32C_X86)
    static const bool hardware = hasCrc32cInstruction();
    return hardware && !portableCrcForTests.load(std::memory_order_relaxed);
#elif defined(LOKIQT_CRC32C_ARM)
    return !portableCrcForTests.load(std::memory_order_relaxed);
#else
    return false;
#endif
}

/**
 * The CRC of a record's payload as its writer makes it, field by field from the values it writes (never
 * read back from where they were written: loads of bytes just stored in smaller pieces stall the
 * processor, which cost more than the CRC itself). Versions 3 and 4: CRC-32C (4: salted with the segment
 * number); versions 1 and 2: zlib's CRC-32.
 */
class RunningCrc
{
public:
    /** @p salt: for version 4, the segment's number, which the CRC covers before the payload. */
    RunningCrc(int version, quint64 salt)
        : m_castagnoli(version >= 3)
        , m_hardware(m_castagnoli && crc32cInHardware())
        , m_crc(m_castagnoli ? ~0u : quint32(crc32(0L, Z_NULL, 0)))
    {
        if (version >= 4)
            u64(salt);
    }
    void u8(quint8 value)
    {
        const char byte = char(value);
        bytes(&byte, 1);
    }
    void u32(quint32 value)
    {
#if defined(LOKIQT_CRC32C_X86) || defined(LOKIQT_CRC32C_ARM)
        if (m_hardware) {
            m_crc = crc32cHardware32(m_crc, value);
            return;
        }
#endif
        char data[4];
        qToLittleEndian(value, data);
        bytes(data, 4);
    }
    void u64(quint64 value)
    {
#if defined(LOKIQT_CRC32C_X86) || defined(LOKIQT_CRC32C_ARM)
        if (m_hardware) {
            m_crc = crc32cHardware64(m_crc, value);
            return;
        }
#endif
        char data[8];
        qToLittleEndian(value, data);
        bytes(data, 8);
    }
    void bytes(const char *data, qsizetype size)
    {
        if (!m_castagnoli)
            m_crc = quint32(crc32(m_crc, reinterpret_cast<const Bytef *>(data), uInt(size)));
#if defined(LOKIQT_CRC32C_X86) || defined(LOKIQT_CRC32C_ARM)
        else if (m_hardware)
            m_crc = crc32cHardware(m_crc, data, size);
#endif
        else
            m_crc = crc32cSoftware(m_crc, data, size);
    }
    quint32 value() const
    {
        return m_castagnoli ? ~m_crc : m_crc;
    }

private:
    bool m_castagnoli;
    bool m_hardware;
    quint32 m_crc;
};

/** Writes the fields of a record's payload into memory that has room for them, and their CRC. */
class Writer
{
public:
    Writer(char *out, int version, quint64 salt)
        : m_p(out)
        , m_crc(version, salt)
    {}
    void u8(quint8 value)
    {
        *m_p++ = char(value);
        m_crc.u8(value);
    }
    void u32(quint32 value)
    {
        qToLittleEndian(value, m_p);
        m_p += 4;
        m_crc.u32(value);
    }
    void i64(qint64 value)
    {
        qToLittleEndian(value, m_p);
        m_p += 8;
        m_crc.u64(quint64(value));
    }
    void bytes(const QByteArray &value)
    {
        u32(quint32(value.size()));
        if (!value.isEmpty()) {
            std::memcpy(m_p, value.constData(), size_t(value.size()));
            m_crc.bytes(value.constData(), value.size());
        }
        m_p += value.size();
    }
    char *position() const { return m_p; }
    quint32 crc() const { return m_crc.value(); }

private:
    char *m_p;
    RunningCrc m_crc;
};

/** Frames the payload written after the header at @p record: the CRC, then the length, last, so a writer
 *  stopped in the middle leaves a zero length (in a version 2 or 3 segment, the end of the records). */
void finishRecord(char *record, const Writer &writer)
{
    const qsizetype payload = writer.position() - record - LokiSpoolFormat::recordHeaderSize;
    qToLittleEndian(writer.crc(), record + 4);
    std::atomic_signal_fence(std::memory_order_release); // the length after everything it covers
    qToLittleEndian(quint32(payload), record);
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
    bool bytes(QByteArray *value, bool view = false)
    {
        quint32 size = 0;
        if (!u32(&size) || qsizetype(size) > m_left)
            return false;
        *value =
            view ? QByteArray::fromRawData(m_data, qsizetype(size)) : QByteArray(m_data, qsizetype(size));
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

bool setPortableCrc32c(bool portable)
{
    portableCrcForTests.store(portable);
    return crc32cInHardware() != portable;
}

quint32 crc32cPortable(const char *data, qsizetype size)
{
    return ~crc32cSoftware(~0u, data, size);
}

quint32 crc32cOf(const char *data, qsizetype size)
{
#if defined(LOKIQT_CRC32C_X86) || defined(LOKIQT_CRC32C_ARM)
    if (crc32cInHardware())
        return ~crc32cHardware(~0u, data, size);
#endif
    return crc32cPortable(data, size);
}

quint32 recordCrc(int version, const char *data, qsizetype size, quint64 salt)
{
    if (version < 3)
        return crcOf(data, size);
    RunningCrc crc(version, salt);
    crc.bytes(data, size);
    return crc.value();
}

int segmentVersion(const char *data, qsizetype size)
{
    if (size < magicSize)
        return 0;
    if (std::memcmp(data, magic, magicSize) == 0)
        return 4;
    if (std::memcmp(data, magicV3, magicSize) == 0)
        return 3;
    if (std::memcmp(data, magicV2, magicSize) == 0)
        return 2;
    if (std::memcmp(data, magicV1, magicSize) == 0)
        return 1;
    return 0;
}

bool hasMagic(const char *data, qsizetype size)
{
    return segmentVersion(data, size) != 0;
}

bool isZeroTail(const char *data, qsizetype size)
{
    return std::all_of(data, data + size, [](char c) { return c == 0; });
}

qint64 streamSize(const QByteArray &key, const QByteArray &json)
{
    return recordHeaderSize + 1 + 4 + 4 + key.size() + 4 + json.size();
}

qint64 entrySize(const QByteArray &line, const LokiMetadata &metadata)
{
    qint64 size = recordHeaderSize + 1 + 8 + 8 + 4 + 4 + line.size() + 4;
    for (const auto &pair : metadata)
        size += 8 + pair.first.size() + pair.second.size();
    return size;
}

qint64 entrySize(const LokiQueuedEntry &entry)
{
    return entrySize(entry.line, entry.metadata);
}

void writeStream(char *out, quint32 id, const QByteArray &key, const QByteArray &json, int version,
                 quint64 salt)
{
    Writer writer(out + recordHeaderSize, version, salt);
    writer.u8(quint8(RecordType::Stream));
    writer.u32(id);
    writer.bytes(key);
    writer.bytes(json);
    finishRecord(out, writer);
}

void writeEntry(char *out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId, const QByteArray &line,
                const LokiMetadata &metadata, int version, quint64 salt)
{
    Writer writer(out + recordHeaderSize, version, salt);
    writer.u8(quint8(RecordType::Entry));
    writer.i64(timestampNs);
    writer.i64(clockOffsetNs);
    writer.u32(streamId);
    writer.bytes(line);
    writer.u32(quint32(metadata.size()));
    for (const auto &pair : metadata) {
        writer.bytes(pair.first);
        writer.bytes(pair.second);
    }
    finishRecord(out, writer);
}

void appendStream(QByteArray &out, quint32 id, const QByteArray &key, const QByteArray &json, int version,
                  quint64 salt)
{
    const qsizetype start = out.size();
    out.resize(start + qsizetype(streamSize(key, json)));
    writeStream(out.data() + start, id, key, json, version, salt);
}

void appendEntry(QByteArray &out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId,
                 const QByteArray &line, const LokiMetadata &metadata, int version, quint64 salt)
{
    const qsizetype start = out.size();
    out.resize(start + qsizetype(entrySize(line, metadata)));
    writeEntry(out.data() + start, timestampNs, clockOffsetNs, streamId, line, metadata, version, salt);
}

ReadStatus readRecord(const char *data, qsizetype size, Record *out, qsizetype *consumed, int version,
                      LineCopy line, quint64 salt)
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
    if (recordCrc(version, payload, length, salt) != crc)
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
             reader.bytes(&out->line, line == LineCopy::View) && reader.u32(&count);
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
