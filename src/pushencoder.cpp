// SPDX-License-Identifier: MIT
#include "pushencoder_p.h"

#include "render_p.h"

#include <algorithm>

namespace LokiPushEncoder {

namespace {
// Stable grouping by stream and timestamp order. The batch usually holds one or a few streams whose
// entries are already in order, so the common case costs one pass and no sort.
void groupByStream(std::vector<LokiQueuedEntry> &entries)
{
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
} // namespace

Body encodeJson(std::vector<LokiQueuedEntry> &entries)
{
    groupByStream(entries);
    qsizetype estimate = 16;
    for (const LokiQueuedEntry &e : entries)
        estimate += e.line.size() + 32;
    Body body;
    body.contentType = QByteArrayLiteral("application/json");
    QByteArray &out = body.data;
    out.reserve(estimate + estimate / 8);
    out.append("{\"streams\":[");
    const LokiStreamInfo *current = nullptr;
    char digits[24];
    for (const LokiQueuedEntry &e : entries) {
        if (e.stream != current) {
            if (current)
                out.append("]},");
            current = e.stream;
            out.append("{\"stream\":");
            out.append(current->jsonLabels);
            out.append(",\"values\":[");
        } else {
            out.append(',');
        }
        out.append("[\"", 2);
        // Timestamps are non-negative nanoseconds; written as a decimal string as Loki expects.
        qint64 ts = std::max<qint64>(0, e.timestampNs);
        int n = 0;
        do {
            digits[n++] = char('0' + ts % 10);
            ts /= 10;
        } while (ts > 0);
        while (n > 0)
            out.append(digits[--n]);
        out.append("\",\"", 3);
        LokiRender::appendJsonEscaped(out, e.line);
        out.append("\"]", 2);
    }
    if (current)
        out.append("]}");
    out.append("]}");
    return body;
}

} // namespace LokiPushEncoder
