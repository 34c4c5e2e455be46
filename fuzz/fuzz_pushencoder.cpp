// SPDX-License-Identifier: MIT
// Fuzzes the push encoder (src/pushencoder_p.h) with batches made from the input: streams, lines, structured
// metadata and timestamps, any bytes in any order. Each encoding is read back with code that is not lokiqt's:
// snappy and zlib undo the compression, and a protobuf reader written from Loki's push.proto and Qt's JSON
// reader compare the content with the batch.
#include "fuzzsupport.h"
#include "pushencoder_p.h"
#include "render_p.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>

#include <snappy.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <optional>
#include <utility>
#include <vector>

using Encoding = LokiConfig::Encoding;

namespace {

constexpr qint64 nsPerSecond = 1000000000;

bool sameEntry(const LokiQueuedEntry &a, const LokiQueuedEntry &b)
{
    return a.stream == b.stream && a.timestampNs == b.timestampNs && a.line == b.line &&
           a.metadata == b.metadata;
}

/** The order encode() promises: streams as they first appear, each one's entries by timestamp (stable). */
std::vector<LokiQueuedEntry> expectedOrder(const std::vector<LokiQueuedEntry> &entries)
{
    std::vector<const LokiStreamInfo *> streams;
    for (const LokiQueuedEntry &e : entries) {
        if (std::find(streams.begin(), streams.end(), e.stream) == streams.end())
            streams.push_back(e.stream);
    }
    std::vector<LokiQueuedEntry> out;
    for (const LokiStreamInfo *stream : streams) {
        std::vector<LokiQueuedEntry> run;
        std::copy_if(entries.begin(), entries.end(), std::back_inserter(run),
                     [stream](const LokiQueuedEntry &e) { return e.stream == stream; });
        std::stable_sort(run.begin(), run.end(), [](const LokiQueuedEntry &a, const LokiQueuedEntry &b) {
            return a.timestampNs < b.timestampNs;
        });
        out.insert(out.end(), run.begin(), run.end());
    }
    return out;
}

/** [first, last) of each stream's entries in a grouped batch. */
std::vector<std::pair<size_t, size_t>> streamRuns(const std::vector<LokiQueuedEntry> &entries)
{
    std::vector<std::pair<size_t, size_t>> runs;
    for (size_t i = 0; i < entries.size(); ++i) {
        if (runs.empty() || entries[i].stream != entries[runs.back().first].stream)
            runs.push_back({i, i});
        runs.back().second = i + 1;
    }
    return runs;
}

/** The time an entry goes out with: times before 1970 go as 0, in both encodings. */
qint64 sentTime(const LokiQueuedEntry &e)
{
    return std::max<qint64>(0, e.timestampNs);
}

// --- protobuf: a reader of the wire format, just enough for logproto.PushRequest ------------------------

class ProtoReader
{
public:
    explicit ProtoReader(QByteArray data)
        : m_data(std::move(data))
    {}

    bool ok() const { return m_ok; }
    /** The next field's number and wire type; false at the end or after an error. */
    bool next(quint64 *field, quint64 *wireType)
    {
        if (!m_ok || m_pos == m_data.size())
            return false;
        const quint64 key = varint();
        *field = key >> 3;
        *wireType = key & 7;
        return m_ok;
    }
    quint64 varint()
    {
        quint64 value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (m_pos == m_data.size())
                break;
            const auto byte = quint8(m_data[m_pos++]);
            value |= quint64(byte & 0x7f) << shift;
            if (!(byte & 0x80))
                return value;
        }
        m_ok = false; // cut short, or longer than ten bytes
        return 0;
    }
    QByteArray bytes()
    {
        const quint64 size = varint();
        if (!m_ok || size > quint64(m_data.size() - m_pos)) {
            m_ok = false;
            return QByteArray();
        }
        const QByteArray out = m_data.mid(m_pos, qsizetype(size));
        m_pos += qsizetype(size);
        return out;
    }

private:
    QByteArray m_data;
    qsizetype m_pos = 0;
    bool m_ok = true;
};

constexpr quint64 wireVarint = 0;
constexpr quint64 wireBytes = 2;

struct DecodedEntry
{
    qint64 seconds = 0; // proto3 leaves out fields that hold 0
    qint64 nanos = 0;
    QByteArray line;
    LokiMetadata metadata;
};

struct DecodedStream
{
    QByteArray labels;
    std::vector<DecodedEntry> entries;
};

std::optional<DecodedEntry> decodeEntry(ProtoReader entry)
{
    DecodedEntry out;
    quint64 field = 0;
    quint64 type = 0;
    while (entry.next(&field, &type)) {
        if (type != wireBytes)
            return std::nullopt;
        if (field == 1) { // EntryAdapter.timestamp: google.protobuf.Timestamp
            ProtoReader timestamp(entry.bytes());
            while (timestamp.next(&field, &type)) {
                if (type != wireVarint || (field != 1 && field != 2))
                    return std::nullopt;
                (field == 1 ? out.seconds : out.nanos) = qint64(timestamp.varint());
            }
            if (!timestamp.ok())
                return std::nullopt;
        } else if (field == 2) { // EntryAdapter.line
            out.line = entry.bytes();
        } else if (field == 3) { // EntryAdapter.structuredMetadata: LabelPairAdapter
            ProtoReader pair(entry.bytes());
            QPair<QByteArray, QByteArray> nameValue;
            while (pair.next(&field, &type)) {
                if (type != wireBytes || (field != 1 && field != 2))
                    return std::nullopt;
                (field == 1 ? nameValue.first : nameValue.second) = pair.bytes();
            }
            if (!pair.ok())
                return std::nullopt;
            out.metadata.append(nameValue);
        } else {
            return std::nullopt;
        }
    }
    if (!entry.ok())
        return std::nullopt;
    return out;
}

std::optional<std::vector<DecodedStream>> decodePushRequest(const QByteArray &data)
{
    std::vector<DecodedStream> out;
    ProtoReader request(data);
    quint64 field = 0;
    quint64 type = 0;
    while (request.next(&field, &type)) {
        if (field != 1 || type != wireBytes) // PushRequest.streams
            return std::nullopt;
        ProtoReader stream(request.bytes());
        DecodedStream decoded;
        while (stream.next(&field, &type)) {
            if (type != wireBytes)
                return std::nullopt;
            if (field == 1) { // StreamAdapter.labels
                decoded.labels = stream.bytes();
            } else if (field == 2) { // StreamAdapter.entries
                std::optional<DecodedEntry> entry = decodeEntry(ProtoReader(stream.bytes()));
                if (!entry)
                    return std::nullopt;
                decoded.entries.push_back(std::move(*entry));
            } else {
                return std::nullopt;
            }
        }
        if (!stream.ok())
            return std::nullopt;
        out.push_back(std::move(decoded));
    }
    if (!request.ok())
        return std::nullopt;
    return out;
}

// --- checks ----------------------------------------------------------------------------------------------

/** The PushRequest holds the grouped batch: one StreamAdapter per run, entries and their fields in order. */
void checkProtobuf(const QByteArray &message, const std::vector<LokiQueuedEntry> &entries)
{
    const std::optional<std::vector<DecodedStream>> streams = decodePushRequest(message);
    FUZZ_CHECK(streams.has_value());
    const auto runs = streamRuns(entries);
    FUZZ_CHECK(streams->size() == runs.size());
    for (size_t s = 0; s < runs.size(); ++s) {
        const DecodedStream &stream = (*streams)[s];
        const auto [first, last] = runs[s];
        FUZZ_CHECK(stream.labels == entries[first].stream->key);
        FUZZ_CHECK(stream.entries.size() == last - first);
        for (size_t i = first; i < last; ++i) {
            const DecodedEntry &decoded = stream.entries[i - first];
            const LokiQueuedEntry &e = entries[i];
            FUZZ_CHECK(decoded.seconds == sentTime(e) / nsPerSecond);
            FUZZ_CHECK(decoded.nanos == sentTime(e) % nsPerSecond);
            FUZZ_CHECK(decoded.line == e.line);
            FUZZ_CHECK(decoded.metadata == e.metadata);
        }
    }
}

/** The JSON body, read by Qt, holds the grouped batch; only when all its text is valid UTF-8 (see below). */
void checkJson(const QByteArray &json, const std::vector<LokiQueuedEntry> &entries)
{
    // Qt's reader refuses malformed UTF-8, and so does Loki: lokiqt repairs a line before it queues it
    // (LokiClient::sendUtf8), so a batch holds none.
    for (const LokiQueuedEntry &e : entries) {
        if (!LokiFuzz::isValidUtf8(e.line))
            return;
        for (const auto &pair : e.metadata) {
            if (!LokiFuzz::isValidUtf8(pair.first) || !LokiFuzz::isValidUtf8(pair.second))
                return;
        }
    }
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    FUZZ_CHECK(error.error == QJsonParseError::NoError && doc.isObject());
    const QJsonObject top = doc.object();
    FUZZ_CHECK(top.size() == 1 && top.value(QLatin1String("streams")).isArray());
    const QJsonArray streams = top.value(QLatin1String("streams")).toArray();
    const auto runs = streamRuns(entries);
    FUZZ_CHECK(size_t(streams.size()) == runs.size());
    for (size_t s = 0; s < runs.size(); ++s) {
        const auto [first, last] = runs[s];
        const QJsonObject stream = streams[qsizetype(s)].toObject();
        FUZZ_CHECK(stream.size() == 2);
        FUZZ_CHECK(stream.value(QLatin1String("stream")).toObject() ==
                   QJsonDocument::fromJson(entries[first].stream->jsonLabels).object());
        const QJsonArray values = stream.value(QLatin1String("values")).toArray();
        FUZZ_CHECK(size_t(values.size()) == last - first);
        for (size_t i = first; i < last; ++i) {
            const LokiQueuedEntry &e = entries[i];
            const QJsonArray value = values[qsizetype(i - first)].toArray();
            FUZZ_CHECK(value.size() == (e.metadata.isEmpty() ? 2 : 3));
            FUZZ_CHECK(value[0].toString() == QString::number(sentTime(e))); // nanoseconds, as a string
            FUZZ_CHECK(value[1].isString());
            FUZZ_CHECK(LokiFuzz::withoutLeadingBoms(value[1].toString().toUtf8()) ==
                       LokiFuzz::withoutLeadingBoms(e.line));
            if (e.metadata.isEmpty())
                continue;
            // An object: a name given twice is there once, with one of its values.
            QMap<QByteArray, QByteArray> metadata;
            const QJsonObject object = value[2].toObject();
            for (auto it = object.constBegin(); it != object.constEnd(); ++it)
                metadata.insert(LokiFuzz::withoutLeadingBoms(it.key().toUtf8()),
                                LokiFuzz::withoutLeadingBoms(it.value().toString().toUtf8()));
            QMap<QByteArray, int> names;
            for (const auto &pair : e.metadata)
                ++names[LokiFuzz::withoutLeadingBoms(pair.first)];
            FUZZ_CHECK(metadata.size() == names.size());
            for (const auto &pair : e.metadata) {
                const QByteArray name = LokiFuzz::withoutLeadingBoms(pair.first);
                FUZZ_CHECK(metadata.contains(name));
                if (names.value(name) == 1)
                    FUZZ_CHECK(metadata.value(name) == LokiFuzz::withoutLeadingBoms(pair.second));
            }
        }
    }
}

/** One complete gzip member and nothing after it, inflated; nullopt when it is not. */
std::optional<QByteArray> gunzip(const QByteArray &data)
{
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) // + 16: a gzip header and trailer only
        return std::nullopt;
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.constData()));
    zs.avail_in = uInt(data.size());
    QByteArray out;
    int result = Z_OK;
    while (result == Z_OK) {
        char buffer[16384];
        zs.next_out = reinterpret_cast<Bytef *>(buffer);
        zs.avail_out = sizeof buffer;
        result = inflate(&zs, Z_NO_FLUSH);
        out.append(buffer, qsizetype(sizeof buffer - zs.avail_out));
    }
    const bool complete = result == Z_STREAM_END && zs.avail_in == 0;
    inflateEnd(&zs);
    if (!complete)
        return std::nullopt;
    return out;
}

void checkSnappy(const QByteArray &compressed, const QByteArray &message)
{
    const char *data = compressed.constData();
    const auto size = size_t(compressed.size());
    FUZZ_CHECK(snappy::IsValidCompressedBuffer(data, size));
    size_t length = 0;
    FUZZ_CHECK(snappy::GetUncompressedLength(data, size, &length));
    FUZZ_CHECK(length == size_t(message.size()));
    QByteArray uncompressed(qsizetype(length), Qt::Uninitialized);
    FUZZ_CHECK(snappy::RawUncompress(data, size, uncompressed.data()));
    FUZZ_CHECK(uncompressed == message);
}

// --- inputs
// -------------------------------------------------------------------------------------------------

/** UTF-8 text as LokiClient makes it from a QString, or any bytes (what the encoder must survive). */
QByteArray consumeText(FuzzedDataProvider &fdp, size_t maxLength)
{
    if (fdp.ConsumeBool())
        return LokiFuzz::consumeBytes(fdp, maxLength);
    return LokiRender::toUtf8Exact(LokiFuzz::consumeString(fdp, maxLength));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzedDataProvider fdp(data, size);

    // Streams as LokiClient interns them: a label set in both of its wire forms.
    std::array<LokiStreamInfo, 4> streams;
    const int streamCount = fdp.ConsumeIntegralInRange(1, int(streams.size()));
    for (int s = 0; s < streamCount; ++s) {
        LokiRender::LabelMap labels;
        for (int n = fdp.ConsumeIntegralInRange(0, 3); n > 0; --n)
            labels.insert(LokiRender::sanitizeLabelName(LokiFuzz::consumeString(fdp, 12)),
                          LokiFuzz::consumeString(fdp, 24));
        streams[s] = {LokiRender::streamKey(labels), LokiRender::jsonLabels(labels)};
    }

    // A batch with streams interleaved and timestamps in any order, repeated, or before 1970. The clock
    // starts within a range where the steps below cannot overflow.
    std::vector<LokiQueuedEntry> entries;
    qint64 clock = fdp.ConsumeIntegralInRange<qint64>(-nsPerSecond, qint64(4) << 60);
    for (int n = fdp.ConsumeIntegralInRange(0, 64); n > 0; --n) {
        LokiQueuedEntry e;
        e.stream = &streams[fdp.ConsumeIntegralInRange(0, streamCount - 1)];
        switch (fdp.ConsumeIntegralInRange(0, 3)) {
        case 0: // the same time as the one before
            break;
        case 1:
            clock += fdp.ConsumeIntegralInRange<qint64>(-2 * nsPerSecond, 2 * nsPerSecond);
            break;
        case 2: // whole seconds: a Timestamp without nanos, or an empty one
            clock = fdp.ConsumeIntegralInRange<qint64>(0, 3) * nsPerSecond;
            break;
        default:
            clock = fdp.ConsumeIntegral<qint64>();
            break;
        }
        e.timestampNs = clock;
        e.line = consumeText(fdp, 512);
        for (int m = fdp.ConsumeIntegralInRange(0, 3); m > 0; --m) {
            QByteArray name = consumeText(fdp, 16);
            e.metadata.append({std::move(name), consumeText(fdp, 32)});
        }
        entries.push_back(std::move(e));
        if (clock < -nsPerSecond || clock > qint64(4) << 60)
            clock = 0; // back into the range where steps are safe
    }
    const int gzipLevel = fdp.ConsumeIntegralInRange(-1, 10); // out of zlib's 1..9 too

    // The uncompressed bodies of the grouped batch: the references for the compressed ones.
    const std::vector<LokiQueuedEntry> grouped = expectedOrder(entries);
    const QByteArray message = LokiPushEncoder::encodeProtobuf(grouped);
    checkProtobuf(message, grouped);
    const QByteArray json = LokiPushEncoder::encodeJson(grouped).data;
    checkJson(json, grouped);

    for (const Encoding encoding : {Encoding::ProtobufSnappy, Encoding::Json, Encoding::JsonGzip}) {
        std::vector<LokiQueuedEntry> batch = entries;
        const LokiPushEncoder::Body body = LokiPushEncoder::encode(batch, encoding, gzipLevel);
        FUZZ_CHECK(batch.size() == grouped.size());
        FUZZ_CHECK(std::equal(batch.begin(), batch.end(), grouped.begin(), sameEntry));
        switch (encoding) {
        case Encoding::ProtobufSnappy:
            FUZZ_CHECK(body.contentType == "application/x-protobuf" && body.contentEncoding.isEmpty());
            FUZZ_CHECK(body.decodedSize == message.size());
            checkSnappy(body.data, message);
            break;
        case Encoding::Json:
            FUZZ_CHECK(body.contentType == "application/json" && body.contentEncoding.isEmpty());
            FUZZ_CHECK(body.decodedSize == json.size());
            FUZZ_CHECK(body.data == json);
            break;
        case Encoding::JsonGzip:
            FUZZ_CHECK(body.contentType == "application/json" && body.contentEncoding == "gzip");
            FUZZ_CHECK(body.decodedSize == json.size());
            FUZZ_CHECK(gunzip(body.data) == json);
            break;
        }
    }
    return 0;
}
