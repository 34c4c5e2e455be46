// SPDX-License-Identifier: MIT
#include <lokiqt/lokiconfig.h>

#include "render_p.h"

namespace {
// Constant-initialized (constexpr, with its size): a file-scope object that needs a constructor at run time
// would still be empty while an application's own static initializers run first, and a global static
// LokiClient would push to `/` (issue 9, 2.6). The library has no run-time-initialized globals; the test
// nostaticinit checks its object files for dynamic initializers.
constexpr char pushPathText[] = "/loki/api/v1/push";
constexpr QLatin1String pushPath(pushPathText, sizeof(pushPathText) - 1);
// Below this a cut line would hold little more than its marker.
constexpr qint64 minLineBytes = 64;

bool fail(QString *why, const QString &reason)
{
    if (why)
        *why = reason;
    return false;
}

bool isHeaderToken(const QByteArray &name)
{
    if (name.isEmpty())
        return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        QByteArrayView("!#$%&'*+-.^_`|~").contains(c);
        if (!ok)
            return false;
    }
    return true;
}

bool hasControl(const QByteArray &value)
{
    for (const char c : value) {
        if ((c >= 0 && c < 0x20 && c != '\t') || c == 0x7f)
            return true;
    }
    return false;
}
} // namespace

bool LokiConfig::parseBackpressure(const QString &text, Backpressure *out)
{
    Backpressure mode;
    if (text == QLatin1String("block"))
        mode = Backpressure::Block;
    else if (text == QLatin1String("drop-new"))
        mode = Backpressure::DropNew;
    else if (text == QLatin1String("drop-oldest"))
        mode = Backpressure::DropOldest;
    else
        return false;
    if (out)
        *out = mode;
    return true;
}

bool LokiConfig::parseLineFormat(const QString &text, LineFormat *out)
{
    if (text == QLatin1String("plain"))
        *out = LineFormat::Plain;
    else if (text == QLatin1String("logfmt"))
        *out = LineFormat::Logfmt;
    else if (text == QLatin1String("json"))
        *out = LineFormat::Json;
    else
        return false;
    return true;
}

QString LokiConfig::lineFormatName(LineFormat format)
{
    switch (format) {
    case LineFormat::Plain:
        break;
    case LineFormat::Logfmt:
        return QStringLiteral("logfmt");
    case LineFormat::Json:
        return QStringLiteral("json");
    }
    return QStringLiteral("plain");
}

bool LokiConfig::parseEncoding(const QString &text, Encoding *out)
{
    Encoding encoding;
    if (text == QLatin1String("protobuf"))
        encoding = Encoding::ProtobufSnappy;
    else if (text == QLatin1String("json"))
        encoding = Encoding::Json;
    else if (text == QLatin1String("json-gzip"))
        encoding = Encoding::JsonGzip;
    else
        return false;
    if (out)
        *out = encoding;
    return true;
}

QString LokiConfig::encodingName(Encoding encoding)
{
    switch (encoding) {
    case Encoding::ProtobufSnappy:
        return QStringLiteral("protobuf");
    case Encoding::Json:
        return QStringLiteral("json");
    case Encoding::JsonGzip:
        return QStringLiteral("json-gzip");
    }
    return QString();
}

QString LokiConfig::backpressureName(Backpressure mode)
{
    switch (mode) {
    case Backpressure::Block:
        return QStringLiteral("block");
    case Backpressure::DropNew:
        return QStringLiteral("drop-new");
    case Backpressure::DropOldest:
        return QStringLiteral("drop-oldest");
    }
    return QString();
}

QUrl LokiConfig::pushUrl() const
{
    QString path = url.path();
    if (path.endsWith(pushPath))
        return url;
    while (path.endsWith(QLatin1Char('/')))
        path.chop(1);
    QUrl push = url;
    push.setPath(path + pushPath);
    return push;
}

bool LokiConfig::isValid(QString *why) const
{
    if (!url.isValid() || url.host().isEmpty())
        return fail(why, QStringLiteral("url: '%1' is not a valid URL with a host")
                             .arg(url.toString(QUrl::RemoveUserInfo)));
    if (url.scheme() != QLatin1String("http") && url.scheme() != QLatin1String("https"))
        return fail(why, QStringLiteral("url: scheme '%1' is not http or https").arg(url.scheme()));
    if (labels.size() > limits.maxLabelNames)
        return fail(why, QStringLiteral("labels: %1 labels, at most %2 are allowed per stream "
                                        "(limits.maxLabelNames, Loki's max_label_names_per_series)")
                             .arg(labels.size())
                             .arg(limits.maxLabelNames));
    for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
        if (!LokiRender::isValidLabelName(it.key()))
            return fail(why, QStringLiteral("labels: '%1' is not a valid Loki label name "
                                            "([a-zA-Z_][a-zA-Z0-9_]*, not starting with __); try '%2'")
                                 .arg(it.key(), LokiRender::sanitizeLabelName(it.key())));
        if (it.key().size() > limits.maxLabelNameLength)
            return fail(why, QStringLiteral("labels: name '%1...' is longer than %2 characters")
                                 .arg(it.key().left(32))
                                 .arg(limits.maxLabelNameLength));
        if (it.value().isEmpty())
            return fail(
                why,
                QStringLiteral("labels: '%1' has an empty value (Loki drops such labels)").arg(it.key()));
        if (it.value().size() > limits.maxLabelValueLength)
            return fail(why, QStringLiteral("labels: the value of '%1' is longer than %2 characters")
                                 .arg(it.key())
                                 .arg(limits.maxLabelValueLength));
    }
    if (hasControl(tenant.toUtf8()))
        return fail(why, QStringLiteral("tenant: contains control characters"));
    for (const auto &header : headers) {
        if (!isHeaderToken(header.first))
            return fail(why, QStringLiteral("headers: '%1' is not a valid HTTP header name")
                                 .arg(QString::fromLatin1(header.first)));
        if (hasControl(header.second))
            return fail(why, QStringLiteral("headers: the value of '%1' contains control characters")
                                 .arg(QString::fromLatin1(header.first)));
    }
    if (batch.maxEntries < 1)
        return fail(why,
                    QStringLiteral("batch.maxEntries: must be at least 1 (is %1)").arg(batch.maxEntries));
    if (batch.maxBytes < 1)
        return fail(why, QStringLiteral("batch.maxBytes: must be at least 1 (is %1)").arg(batch.maxBytes));
    if (batch.maxInFlight < 1 || batch.maxInFlight > 64)
        return fail(why, QStringLiteral("batch.maxInFlight: must be 1 to 64 (is %1)").arg(batch.maxInFlight));
    if (batch.maxWait.count() < 1)
        return fail(
            why,
            QStringLiteral("batch.maxWait: must be at least 1 ms (is %1 ms)").arg(batch.maxWait.count()));
    if (retry.initialBackoff.count() < 1)
        return fail(why, QStringLiteral("retry.initialBackoff: must be at least 1 ms"));
    if (retry.maxBackoff < retry.initialBackoff)
        return fail(why, QStringLiteral("retry.maxBackoff: must not be shorter than retry.initialBackoff"));
    if (!(retry.multiplier >= 1.0))
        return fail(why,
                    QStringLiteral("retry.multiplier: must be at least 1 (is %1)").arg(retry.multiplier));
    if (!(retry.jitter >= 0.0 && retry.jitter <= 1.0))
        return fail(why, QStringLiteral("retry.jitter: must be between 0 and 1 (is %1)").arg(retry.jitter));
    if (retry.maxRetryAfter.count() < 0)
        return fail(why, QStringLiteral("retry.maxRetryAfter: must not be negative"));
    if (retry.offlineRetryInterval.count() < 1)
        return fail(why, QStringLiteral("retry.offlineRetryInterval: must be at least 1 ms"));
    if (retry.maxAttempts < 1)
        return fail(why,
                    QStringLiteral("retry.maxAttempts: must be at least 1 (is %1)").arg(retry.maxAttempts));
    if (queueCapacity < 1)
        return fail(why, QStringLiteral("queueCapacity: must be at least 1 (is %1)").arg(queueCapacity));
    if (requestTimeout.count() < 1)
        return fail(why, QStringLiteral("requestTimeout: must be at least 1 ms"));
    if (destructorCloseTimeout.count() < 0)
        return fail(why, QStringLiteral("destructorCloseTimeout: must not be negative"));
    if (gzipLevel < 1 || gzipLevel > 9)
        return fail(why, QStringLiteral("gzipLevel: must be between 1 and 9 (is %1)").arg(gzipLevel));
    if (limits.maxLineBytes < minLineBytes)
        return fail(why, QStringLiteral("limits.maxLineBytes: must be at least %1").arg(minLineBytes));
    if (limits.maxLabelNames < 1 || limits.maxLabelNameLength < 1 || limits.maxLabelValueLength < 1)
        return fail(why, QStringLiteral("limits: label limits must be at least 1"));
    if (limits.maxStreams < 1)
        return fail(why,
                    QStringLiteral("limits.maxStreams: must be at least 1 (is %1)").arg(limits.maxStreams));
    if (!spool.directory.isEmpty()) {
        constexpr qint64 minSpoolBytes = 1024 * 1024;
        if (spool.maxBytes < minSpoolBytes || spool.maxBytes < 4 * limits.maxLineBytes)
            return fail(why, QStringLiteral("spool.maxBytes: must be at least 1 MiB and 4 times "
                                            "limits.maxLineBytes (is %1)")
                                 .arg(spool.maxBytes));
        if (spool.segmentBytes < 64 * 1024)
            return fail(why, QStringLiteral("spool.segmentBytes: must be at least 64 KiB (is %1)")
                                 .arg(spool.segmentBytes));
        if (spool.syncInterval.count() < 1)
            return fail(why, QStringLiteral("spool.syncInterval: must be at least 1 ms"));
        if (spool.maxAge.count() < 1)
            return fail(why, QStringLiteral("spool.maxAge: must be at least 1 ms"));
    }
    if (basicAuthUser.isEmpty() && !basicAuthPassword.isEmpty())
        return fail(why, QStringLiteral("basicAuthPassword: set without basicAuthUser"));
    if (!basicAuthUser.isEmpty() && !bearerToken.isEmpty())
        return fail(why, QStringLiteral("bearerToken: set together with basicAuthUser; choose one"));
    for (const QString &name : structuredMetadataFields) {
        if (name.isEmpty())
            return fail(why, QStringLiteral("structuredMetadataFields: an empty field name"));
    }
    for (const QString &name : labelAllowList) {
        if (LokiRender::sanitizeLabelName(name).isEmpty())
            return fail(why, QStringLiteral("labelAllowList: an empty field name cannot become a label"));
    }
    return true;
}
