// SPDX-License-Identifier: MIT
#include "spoolformat_p.h"

#include <QtCore/QtEndian>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define LOKIQT_CRC_CLMUL 1 // chosen at run time, where the processor has it
#include <immintrin.h>
#endif

using LokiSpoolFormat::crcOf;

namespace {
/** Writes the fields of a record into memory that has room for them. */
class Writer
{
public:
    explicit Writer(char *out)
        : m_p(out)
    {}
    void u8(quint8 value) { *m_p++ = char(value); }
    void u32(quint32 value)
    {
        qToLittleEndian(value, m_p);
        m_p += 4;
    }
    void i64(qint64 value)
    {
        qToLittleEndian(value, m_p);
        m_p += 8;
    }
    void bytes(const QByteArray &value)
    {
        u32(quint32(value.size()));
        if (!value.isEmpty())
            std::memcpy(m_p, value.constData(), size_t(value.size()));
        m_p += value.size();
    }
    char *position() const { return m_p; }

private:
    char *m_p;
};

/** Frames the payload written after the header at @p record: the CRC, then the length, last, so a writer
 *  stopped in the middle leaves a zero length (in a version 2 segment, the end of the records). */
void finishRecord(char *record, char *payloadEnd)
{
    const qsizetype payload = payloadEnd - record - LokiSpoolFormat::recordHeaderSize;
    qToLittleEndian(LokiSpoolFormat::crcOf(record + LokiSpoolFormat::recordHeaderSize, payload), record + 4);
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

// --- CRC-32 ---
// zlib's CRC-32 (the reflected polynomial 0xEDB88320), computed here: a record is a few hundred bytes, where
// zlib's crc32() spends most of its time getting started. Same values, as records and the acknowledgement
// file have always carried (tst_spoolbuffer compares them with zlib's for every length and alignment).
namespace {
using CrcTables = std::array<std::array<quint32, 256>, 8>;

constexpr CrcTables makeCrcTables()
{
    CrcTables tables{};
    for (quint32 i = 0; i < 256; ++i) {
        quint32 c = i;
        for (int k = 0; k < 8; ++k)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        tables[0][i] = c;
    }
    for (quint32 i = 0; i < 256; ++i) {
        for (size_t t = 1; t < tables.size(); ++t)
            tables[t][i] = (tables[t - 1][i] >> 8) ^ tables[0][tables[t - 1][i] & 0xff];
    }
    return tables;
}
constexpr CrcTables crcTable = makeCrcTables();

/** Slicing by 8: the CRC state after @p size more bytes. */
quint32 crcTables(const unsigned char *p, qsizetype size, quint32 state)
{
    while (size >= 8) {
        const quint32 a = qFromLittleEndian<quint32>(p) ^ state;
        const quint32 b = qFromLittleEndian<quint32>(p + 4);
        state = crcTable[7][a & 0xff] ^ crcTable[6][(a >> 8) & 0xff] ^ crcTable[5][(a >> 16) & 0xff] ^
                crcTable[4][a >> 24] ^ crcTable[3][b & 0xff] ^ crcTable[2][(b >> 8) & 0xff] ^
                crcTable[1][(b >> 16) & 0xff] ^ crcTable[0][b >> 24];
        p += 8;
        size -= 8;
    }
    while (size-- > 0)
        state = (state >> 8) ^ crcTable[0][(state ^ *p++) & 0xff];
    return state;
}

#ifdef LOKIQT_CRC_CLMUL
/**
 * Carry-less multiplication folding (Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ",
 * with its constants for this polynomial, bit-reflected, as zlib's x86 SIMD variants use them): the CRC
 * state after @p size more bytes, @p size at least 64 and a multiple of 16.
 */
/** One 16-byte step: @p x folded over 128 bits by @p k, onto @p next. */
__attribute__((target("pclmul,sse4.1"))) inline __m128i crcFold(__m128i k, __m128i x, __m128i next)
{
    const __m128i low = _mm_clmulepi64_si128(x, k, 0x00);
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x11), next), low);
}

__attribute__((target("pclmul,sse4.1"))) quint32 crcClmul(const unsigned char *p, qsizetype size,
                                                          quint32 state)
{
    alignas(16) static const quint64 k1k2[] = {0x0154442bd4, 0x01c6e41596};
    alignas(16) static const quint64 k3k4[] = {0x01751997d0, 0x00ccaa009e};
    alignas(16) static const quint64 k5k0[] = {0x0163cd6124, 0x0000000000};
    alignas(16) static const quint64 poly[] = {0x01db710641, 0x01f7011641};
    auto load = [](const unsigned char *at) {
        return _mm_loadu_si128(reinterpret_cast<const __m128i *>(at));
    };

    __m128i x1 = load(p);
    __m128i x2 = load(p + 16);
    __m128i x3 = load(p + 32);
    __m128i x4 = load(p + 48);
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(int(state)));
    __m128i x0 = _mm_load_si128(reinterpret_cast<const __m128i *>(k1k2));
    p += 64;
    size -= 64;
    while (size >= 64) { // four lanes folded 64 bytes ahead
        const __m128i x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        const __m128i x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
        const __m128i x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
        const __m128i x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
        x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x11), x5), load(p));
        x2 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x2, x0, 0x11), x6), load(p + 16));
        x3 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x3, x0, 0x11), x7), load(p + 32));
        x4 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x4, x0, 0x11), x8), load(p + 48));
        p += 64;
        size -= 64;
    }
    // The four lanes into one, then 16 bytes at a time.
    x0 = _mm_load_si128(reinterpret_cast<const __m128i *>(k3k4));
    x1 = crcFold(x0, x1, x2);
    x1 = crcFold(x0, x1, x3);
    x1 = crcFold(x0, x1, x4);
    while (size >= 16) {
        x1 = crcFold(x0, x1, load(p));
        p += 16;
        size -= 16;
    }
    // 128 bits to 64, then Barrett reduction to 32.
    x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
    x3 = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    x0 = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(k5k0));
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, x3);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x00), x2);
    x0 = _mm_load_si128(reinterpret_cast<const __m128i *>(poly));
    x2 = _mm_and_si128(x1, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
    x2 = _mm_and_si128(x2, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return quint32(_mm_extract_epi32(x1, 1));
}
#endif
} // namespace

namespace LokiSpoolFormat {

quint32 crcOf(const char *data, qsizetype size)
{
    const auto *p = reinterpret_cast<const unsigned char *>(data);
    quint32 state = 0xFFFFFFFFu;
#ifdef LOKIQT_CRC_CLMUL
    static const bool clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    if (clmul && size >= 64) {
        const qsizetype folded = size & ~qsizetype(15);
        state = crcClmul(p, folded, state);
        p += folded;
        size -= folded;
    }
#endif
    return ~crcTables(p, size, state);
}

int segmentVersion(const char *data, qsizetype size)
{
    if (size < magicSize)
        return 0;
    if (std::memcmp(data, magic, magicSize) == 0)
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

void writeStream(char *out, quint32 id, const QByteArray &key, const QByteArray &json)
{
    Writer writer(out + recordHeaderSize);
    writer.u8(quint8(RecordType::Stream));
    writer.u32(id);
    writer.bytes(key);
    writer.bytes(json);
    finishRecord(out, writer.position());
}

void writeEntry(char *out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId, const QByteArray &line,
                const LokiMetadata &metadata)
{
    Writer writer(out + recordHeaderSize);
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
    finishRecord(out, writer.position());
}

void appendStream(QByteArray &out, quint32 id, const QByteArray &key, const QByteArray &json)
{
    const qsizetype start = out.size();
    out.resize(start + qsizetype(streamSize(key, json)));
    writeStream(out.data() + start, id, key, json);
}

void appendEntry(QByteArray &out, qint64 timestampNs, qint64 clockOffsetNs, quint32 streamId,
                 const QByteArray &line, const LokiMetadata &metadata)
{
    const qsizetype start = out.size();
    out.resize(start + qsizetype(entrySize(line, metadata)));
    writeEntry(out.data() + start, timestampNs, clockOffsetNs, streamId, line, metadata);
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
