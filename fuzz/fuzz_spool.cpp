// SPDX-License-Identifier: MIT
// Fuzzes the spool reader (src/spoolformat_p.h, the record codec, and src/spoolbuffer_p.h, which reads
// segment files with it) with what a crash, a bad disk or a stranger can leave in a spool
// directory: arbitrary segment files and acknowledgement files. Opening such a directory and reading all of
// it must never crash or hang, and every entry the reader counts must be accounted for: taken, expired or
// lost to damage. The record reader alone must never read outside its input.
#include "fuzzsupport.h"
#include "spoolbuffer_p.h"
#include "spoolformat_p.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QTemporaryDir>

#include <memory>
#include <vector>

namespace {

struct Streams
{
    std::vector<std::unique_ptr<LokiStreamInfo>> owned;
    const LokiStreamInfo *get(const QByteArray &key, const QByteArray &json)
    {
        for (const auto &info : owned) {
            if (info->key == key)
                return info.get();
        }
        owned.push_back(std::make_unique<LokiStreamInfo>(LokiStreamInfo{key, json}));
        return owned.back().get();
    }
};

void writeFile(const QString &path, const QByteArray &data)
{
    QFile file(path);
    FUZZ_CHECK(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    FUZZ_CHECK(file.write(data) == data.size());
}

// Every record the reader accepts from @p data, one after the other, as the scan of a segment of @p version
// does (the line copied, or viewed in place as takeBatch() reads it).
void readRecords(const QByteArray &data, int version, LokiSpoolFormat::LineCopy line)
{
    qsizetype pos = 0;
    LokiSpoolFormat::Record record;
    while (pos < data.size()) {
        qsizetype used = 0;
        const auto status = LokiSpoolFormat::readRecord(data.constData() + pos, data.size() - pos, &record,
                                                        &used, version, line);
        if (status != LokiSpoolFormat::ReadStatus::Ok)
            return;
        FUZZ_CHECK(used >= LokiSpoolFormat::recordHeaderSize && used <= data.size() - pos);
        if (record.type == LokiSpoolFormat::RecordType::Entry) {
            // What was read writes back to the same bytes: the reader accepts nothing the writer cannot make.
            QByteArray again;
            LokiSpoolFormat::appendEntry(again, record.timestampNs, record.clockOffsetNs, record.streamId,
                                         record.line, record.metadata, version);
            FUZZ_CHECK(again == data.mid(pos, used));
        }
        pos += used;
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    // In memory when the system has it: the reader's logic is under test, not the disk.
    static QTemporaryDir root(QDir(QStringLiteral("/dev/shm")).exists()
                                  ? QStringLiteral("/dev/shm/lokiqt-fuzz-XXXXXX")
                                  : QDir::tempPath() + QStringLiteral("/lokiqt-fuzz-XXXXXX"));
    FUZZ_CHECK(root.isValid());
    if (size < 4)
        return 0;
    const QByteArray input(reinterpret_cast<const char *>(bytes), qsizetype(size));
    // Byte 0: bit 0 prefixes the magic to the first segment, bit 1 writes an ack file from the last 20
    // bytes, bits 2-3 the segments' version: 0 LOKIQTS2, 1 the format before issue 10 (LOKIQTS1: zeros after
    // the records are damage there, reserved space in the later ones), 2 LOKIQTS3 (CRC-32C), 3 LOKIQTS4
    // (CRC-32C over the segment's number, 1 or 2 here, and the payload; a zero length ends the records).
    // Bytes 1-2: where the
    // data is split into two segment files. Byte 3: the batch size to read with. The records alone are read
    // as those of segment 0.
    const quint8 flags = quint8(input[0]);
    static constexpr int versions[] = {2, 1, 3, 4};
    const int version = versions[(flags >> 2) & 3];
    readRecords(input.mid(4), version, LokiSpoolFormat::LineCopy::Copy);
    readRecords(input.mid(4), version, LokiSpoolFormat::LineCopy::View);

    QByteArray data = input.mid(4);
    QByteArray ack;
    if ((flags & 2) && data.size() >= 20) {
        ack = data.right(20);
        data.chop(20);
    }
    const qsizetype split =
        data.isEmpty() ? 0 : (quint8(input[1]) << 8 | quint8(input[2])) % (data.size() + 1);
    const QString dir = root.filePath(QStringLiteral("spool"));
    QDir(dir).removeRecursively();
    QDir().mkpath(dir);
    const QByteArray magic(version == 1   ? LokiSpoolFormat::magicV1
                           : version == 2 ? LokiSpoolFormat::magicV2
                           : version == 3 ? LokiSpoolFormat::magicV3
                                          : LokiSpoolFormat::magic,
                           LokiSpoolFormat::magicSize);
    writeFile(dir + QStringLiteral("/seg-0000000000000001.lqs"),
              ((flags & 1) ? magic : QByteArray()) + data.left(split));
    writeFile(dir + QStringLiteral("/seg-0000000000000002.lqs"), magic + data.mid(split));
    if (!ack.isEmpty())
        writeFile(dir + QStringLiteral("/ack"), ack);

    Streams streams;
    int reports = 0;
    LokiSpoolBuffer::Options options;
    options.directory = dir;
    options.sync = LokiConfig::SpoolSync::Never;
    LokiEntryBuffer::Limits limits;
    limits.batchEntries = 1 + quint8(input[3]) % 64; // byte 3: the batch size to read with
    limits.batchBytes = 1 << 20;
    LokiCounterSet counters;
    LokiSpoolBuffer spool(
        options, limits, &counters,
        [&streams](const QByteArray &k, const QByteArray &j) { return streams.get(k, j); },
        [&reports](const QString &) { ++reports; });
    QString why;
    FUZZ_CHECK(spool.open(&why));
    const qint64 found = spool.replayedCount();
    FUZZ_CHECK(found >= 0 && found == spool.size());

    qint64 taken = 0, expired = 0, damaged = 0;
    std::vector<LokiQueuedEntry> out;
    for (int rounds = 0;; ++rounds) {
        FUZZ_CHECK(rounds <= found + 2); // every round takes something, or it is the last
        out.clear();
        const qint64 before = taken + expired + damaged;
        const LokiEntryBuffer::TakeStats stats = spool.takeBatch(out);
        taken += qint64(out.size());
        expired += stats.expired;
        damaged += stats.damaged;
        for (const LokiQueuedEntry &e : out)
            FUZZ_CHECK(e.stream != nullptr);
        spool.acknowledge();
        if (taken + expired + damaged == before)
            break;
    }
    FUZZ_CHECK(taken + expired + damaged == found);
    FUZZ_CHECK(spool.size() == 0);
    FUZZ_CHECK(spool.removedCount() == found);
    return 0;
}
