// SPDX-License-Identifier: MIT
#include "pushencoder_p.h"

#include "render_p.h"

#include <snappy.h>
#include <zlib.h>

#include <algorithm>

namespace LokiPushEncoder {

namespace {
// --- protobuf wire format: just what logproto.PushRequest needs ---------------------------------------
// Field tags: (field number << 3) | wire type; wire type 0 is a varint, 2 a length-delimited field.
constexpr char tagLabels = 0x0a;    // StreamAdapter.labels = 1
constexpr char tagEntries = 0x12;   // StreamAdapter.entries = 2
constexpr char tagStreams = 0x0a;   // PushRequest.streams = 1
constexpr char tagTimestamp = 0x0a; // EntryAdapter.timestamp = 1
constexpr char tagLine = 0x12;      // EntryAdapter.line = 2
constexpr char tagMetadata = 0x1a;  // EntryAdapter.structuredMetadata = 3
constexpr char tagSeconds = 0x08;   // Timestamp.seconds = 1
constexpr char tagNanos = 0x10;     // Timestamp.nanos = 2
constexpr char tagPairName = 0x0a;  // LabelPairAdapter.name = 1
constexpr char tagPairValue = 0x12; // LabelPairAdapter.value = 2

int varintSize(quint64 v)
{
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

char *putVarint(char *p, quint64 v)
{
    while (v >= 0x80) {
        *p++ = char(v | 0x80);
        v >>= 7;
    }
    *p++ = char(v);
    return p;
}

char *putBytes(char *p, char tag, const char *data, qsizetype size)
{
    *p++ = tag;
    p = putVarint(p, quint64(size));
    memcpy(p, data, size_t(size));
    return p + size;
}

qsizetype fieldSize(qsizetype payload)
{
    return 1 + varintSize(quint64(payload)) + payload;
}

struct Timestamp
{
    qint64 seconds;
    qint32 nanos;
};

Timestamp splitTimestamp(qint64 ns)
{
    ns = std::max<qint64>(0, ns);
    return {ns / 1000000000, qint32(ns % 1000000000)};
}

qsizetype timestampSize(const Timestamp &ts)
{
    return (ts.seconds ? 1 + varintSize(quint64(ts.seconds)) : 0) +
           (ts.nanos ? 1 + varintSize(quint64(ts.nanos)) : 0);
}

qsizetype pairSize(const QPair<QByteArray, QByteArray> &pair)
{
    return fieldSize(pair.first.size()) + fieldSize(pair.second.size());
}

qsizetype entrySize(const LokiQueuedEntry &e)
{
    qsizetype size = fieldSize(timestampSize(splitTimestamp(e.timestampNs))) + fieldSize(e.line.size());
    for (const auto &pair : e.metadata)
        size += fieldSize(pairSize(pair));
    return size;
}

char *putEntry(char *p, const LokiQueuedEntry &e, qsizetype size)
{
    *p++ = tagEntries;
    p = putVarint(p, quint64(size));
    const Timestamp ts = splitTimestamp(e.timestampNs);
    *p++ = tagTimestamp;
    p = putVarint(p, quint64(timestampSize(ts)));
    if (ts.seconds) {
        *p++ = tagSeconds;
        p = putVarint(p, quint64(ts.seconds));
    }
    if (ts.nanos) {
        *p++ = tagNanos;
        p = putVarint(p, quint64(ts.nanos));
    }
    p = putBytes(p, tagLine, e.line.constData(), e.line.size());
    for (const auto &pair : e.metadata) {
        *p++ = tagMetadata;
        p = putVarint(p, quint64(pairSize(pair)));
        p = putBytes(p, tagPairName, pair.first.constData(), pair.first.size());
        p = putBytes(p, tagPairValue, pair.second.constData(), pair.second.size());
    }
    return p;
}

// Calls @p fn(first, last) for each run of entries of one stream (the entries are grouped).
template<typename Fn>
void forEachStream(const std::vector<LokiQueuedEntry> &entries, Fn fn)
{
    size_t first = 0;
    while (first < entries.size()) {
        size_t last = first + 1;
        while (last < entries.size() && entries[last].stream == entries[first].stream)
            ++last;
        fn(first, last);
        first = last;
    }
}

void appendDecimal(QByteArray &out, qint64 value)
{
    char digits[24];
    quint64 v = quint64(std::max<qint64>(0, value));
    int n = 0;
    do {
        digits[n++] = char('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        out.append(digits[--n]);
}
} // namespace

void groupByStream(std::vector<LokiQueuedEntry> &entries)
{
    // The batch usually holds one or a few streams whose entries are already in order: one pass, no sort.
    bool grouped = true;
    for (size_t i = 1; i < entries.size() && grouped; ++i) {
        if (entries[i].stream != entries[i - 1].stream || entries[i].timestampNs < entries[i - 1].timestampNs)
            grouped = false;
    }
    if (grouped)
        return;
    std::vector<const LokiStreamInfo *> order;
    for (const LokiQueuedEntry &e : entries) {
        if (std::find(order.begin(), order.end(), e.stream) == order.end())
            order.push_back(e.stream);
    }
    auto rank = [&order](const LokiStreamInfo *s) {
        return std::find(order.begin(), order.end(), s) - order.begin();
    };
    std::stable_sort(entries.begin(), entries.end(),
                     [&rank](const LokiQueuedEntry &a, const LokiQueuedEntry &b) {
                         if (a.stream != b.stream)
                             return rank(a.stream) < rank(b.stream);
                         return a.timestampNs < b.timestampNs;
                     });
}

Body encodeJson(const std::vector<LokiQueuedEntry> &entries)
{
    qsizetype estimate = 16;
    for (const LokiQueuedEntry &e : entries)
        estimate += e.line.size() + 32;
    Body body;
    body.contentType = QByteArrayLiteral("application/json");
    QByteArray &out = body.data;
    out.reserve(estimate + estimate / 8);
    out.append("{\"streams\":[");
    bool firstStream = true;
    forEachStream(entries, [&](size_t first, size_t last) {
        if (!firstStream)
            out.append(',');
        firstStream = false;
        out.append("{\"stream\":");
        out.append(entries[first].stream->jsonLabels);
        out.append(",\"values\":[");
        for (size_t i = first; i < last; ++i) {
            const LokiQueuedEntry &e = entries[i];
            if (i != first)
                out.append(',');
            out.append("[\"", 2);
            appendDecimal(out, e.timestampNs); // nanoseconds as a decimal string, as Loki expects
            out.append("\",\"", 3);
            LokiRender::appendJsonEscaped(out, e.line);
            out.append('"');
            if (!e.metadata.isEmpty()) {
                out.append(",{", 2);
                for (qsizetype m = 0; m < e.metadata.size(); ++m) {
                    if (m > 0)
                        out.append(',');
                    out.append('"');
                    LokiRender::appendJsonEscaped(out, e.metadata[m].first);
                    out.append("\":\"", 3);
                    LokiRender::appendJsonEscaped(out, e.metadata[m].second);
                    out.append('"');
                }
                out.append('}');
            }
            out.append(']');
        }
        out.append("]}");
    });
    out.append("]}");
    body.decodedSize = out.size();
    return body;
}

namespace {
// Writes the PushRequest into @p out (resized to fit; its capacity is kept for the next batch).
void encodeProtobufInto(const std::vector<LokiQueuedEntry> &entries, QByteArray &out)
{
    // First pass: sizes (every length prefix must be known before its field is written).
    thread_local std::vector<qsizetype> entrySizes;
    thread_local std::vector<qsizetype> streamSizes;
    entrySizes.resize(entries.size());
    streamSizes.clear();
    qsizetype total = 0;
    forEachStream(entries, [&](size_t first, size_t last) {
        qsizetype stream = fieldSize(entries[first].stream->key.size());
        for (size_t i = first; i < last; ++i) {
            entrySizes[i] = entrySize(entries[i]);
            stream += fieldSize(entrySizes[i]);
        }
        streamSizes.push_back(stream);
        total += fieldSize(stream);
    });
    out.resize(total);
    char *p = out.data();
    size_t streamIndex = 0;
    forEachStream(entries, [&](size_t first, size_t last) {
        *p++ = tagStreams;
        p = putVarint(p, quint64(streamSizes[streamIndex++]));
        const QByteArray &key = entries[first].stream->key;
        p = putBytes(p, tagLabels, key.constData(), key.size());
        for (size_t i = first; i < last; ++i)
            p = putEntry(p, entries[i], entrySizes[i]);
    });
    Q_ASSERT(p == out.constData() + out.size());
}
} // namespace

QByteArray encodeProtobuf(const std::vector<LokiQueuedEntry> &entries)
{
    QByteArray out;
    encodeProtobufInto(entries, out);
    return out;
}

Body encodeProtobufSnappy(const std::vector<LokiQueuedEntry> &entries)
{
    // The uncompressed message is large (hundreds of KiB for a full batch): kept per thread and reused, it
    // costs no allocation, page faults or RSS churn per push. The body is compressed straight into its own
    // buffer, which is then shrunk in place to its size (the network layer holds it until the answer).
    thread_local QByteArray raw;
    encodeProtobufInto(entries, raw);
    Body body;
    body.contentType = QByteArrayLiteral("application/x-protobuf");
    body.decodedSize = raw.size();
    body.data.resize(qsizetype(snappy::MaxCompressedLength(size_t(raw.size()))));
    size_t length = 0;
    snappy::RawCompress(raw.constData(), size_t(raw.size()), body.data.data(), &length);
    body.data.resize(qsizetype(length));
    body.data.squeeze();
    return body;
}

QByteArray gzip(const QByteArray &data, int level)
{
    z_stream zs{};
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    if (deflateInit2(&zs, std::clamp(level, 1, 9), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return QByteArray();
    QByteArray out(qsizetype(deflateBound(&zs, uLong(data.size()))), Qt::Uninitialized);
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.constData()));
    zs.avail_in = uInt(data.size());
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = uInt(out.size());
    const int result = deflate(&zs, Z_FINISH);
    const qsizetype written = qsizetype(zs.total_out);
    deflateEnd(&zs);
    if (result != Z_STREAM_END)
        return QByteArray();
    out.resize(written);
    return out;
}

Body encode(std::vector<LokiQueuedEntry> &entries, LokiConfig::Encoding encoding, int gzipLevel)
{
    groupByStream(entries);
    switch (encoding) {
    case LokiConfig::Encoding::ProtobufSnappy:
        return encodeProtobufSnappy(entries);
    case LokiConfig::Encoding::JsonGzip: {
        Body body = encodeJson(entries);
        QByteArray compressed = gzip(body.data, gzipLevel);
        if (!compressed.isEmpty()) { // on a zlib failure (out of memory) plain JSON still works
            body.data = std::move(compressed);
            body.contentEncoding = QByteArrayLiteral("gzip");
        }
        return body;
    }
    case LokiConfig::Encoding::Json:
        break;
    }
    return encodeJson(entries);
}

} // namespace LokiPushEncoder
