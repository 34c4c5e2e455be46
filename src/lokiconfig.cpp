// SPDX-License-Identifier: MIT
#include <lokiqt/lokiconfig.h>

#include "render_p.h"

#include <QtCore/QFile>
#include <QtCore/QLoggingCategory>
#if QT_CONFIG(ssl)
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QSslSocket>
#endif

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
Q_LOGGING_CATEGORY(lcLokiConfig, "lokiqt.config", QtInfoMsg)

// Files named by the environment (a token, PEM files) are small; a larger one is the wrong file.
constexpr qint64 maxEnvironmentFileBytes = 1024 * 1024;

// Reads the variables and collects what they could not give. Each problem starts with "NAME: ".
class EnvironmentReader
{
public:
    QStringList problems;

    // The variable's value; empty when unset or empty (both mean "not set", as in logcli).
    static QString value(const char *name) { return qEnvironmentVariable(name); }
    static bool isSet(const char *name) { return !qEnvironmentVariableIsEmpty(name); }

    void problem(const char *name, const QString &what)
    {
        problems.append(QLatin1String(name) + QLatin1String(": ") + what);
    }

    // The whole file the variable names; false (with a problem) when it cannot be read.
    bool readFile(const char *name, QByteArray *out)
    {
        const QString path = value(name);
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly)) {
            problem(name, QStringLiteral("cannot read %1: %2").arg(path, file.errorString()));
            return false;
        }
        *out = file.read(maxEnvironmentFileBytes + 1);
        if (out->size() > maxEnvironmentFileBytes) {
            problem(name, QStringLiteral("%1 is larger than 1 MiB; not used").arg(path));
            return false;
        }
        return true;
    }

    // An http or https URL with a host; its text is shown only without user info (it may hold a password).
    bool readUrl(const char *name, QUrl *out)
    {
        const QUrl url(value(name), QUrl::StrictMode);
        if (url.isValid() && !url.host().isEmpty() &&
            (url.scheme() == QLatin1String("http") || url.scheme() == QLatin1String("https"))) {
            *out = url;
            return true;
        }
        const QUrl shown(value(name), QUrl::TolerantMode);
        const QString text = shown.isValid()
                                 ? QStringLiteral("'%1'").arg(shown.toString(QUrl::RemoveUserInfo))
                                 : QStringLiteral("the value (not shown: it may hold a password)");
        problem(name, QStringLiteral("%1 is not an http or https URL with a host; not used").arg(text));
        return false;
    }

    // Go's strconv.ParseBool, as logcli reads it; false (with a problem) for anything else.
    bool readBool(const char *name, bool *out)
    {
        const QString text = value(name);
        static constexpr const char *yes[] = {"1", "t", "true"};
        static constexpr const char *no[] = {"0", "f", "false"};
        for (const char *word : yes) {
            if (text.compare(QLatin1String(word), Qt::CaseInsensitive) == 0) {
                *out = true;
                return true;
            }
        }
        for (const char *word : no) {
            if (text.compare(QLatin1String(word), Qt::CaseInsensitive) == 0) {
                *out = false;
                return true;
            }
        }
        problem(name, QStringLiteral("'%1' is neither true nor false (1, t, true, 0, f, false); not used")
                          .arg(text.left(16)));
        return false;
    }
};
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

LokiConfig LokiConfig::fromEnvironment(QStringList *problems, QStringList *warnings)
{
    LokiConfig config;
    EnvironmentReader env;

    // LOKI_URL (lokiqt's own, base or push URL) wins over LOKI_ADDR (logcli's, a base URL): a setup that
    // sets both may point pushes somewhere else than queries (a write gateway), and LOKI_URL is the one
    // only pushers read. A LOKI_URL that cannot be used is reported, and LOKI_ADDR is not tried instead.
    if (env.isSet("LOKI_URL"))
        env.readUrl("LOKI_URL", &config.url);
    else if (env.isSet("LOKI_ADDR"))
        env.readUrl("LOKI_ADDR", &config.url);

    config.tenant = EnvironmentReader::value("LOKI_ORG_ID");
    if (hasControl(config.tenant.toUtf8())) {
        env.problem("LOKI_ORG_ID", QStringLiteral("contains control characters; not used"));
        config.tenant.clear();
    }

    // Authentication: basic auth, a token or a token file, at most one (logcli refuses a mix too).
    const bool user = env.isSet("LOKI_USERNAME");
    const bool password = env.isSet("LOKI_PASSWORD");
    const bool token = env.isSet("LOKI_BEARER_TOKEN");
    const bool tokenFile = env.isSet("LOKI_BEARER_TOKEN_FILE");
    if ((user || password) && (token || tokenFile)) {
        env.problem(token ? "LOKI_BEARER_TOKEN" : "LOKI_BEARER_TOKEN_FILE",
                    QStringLiteral("set together with LOKI_USERNAME or LOKI_PASSWORD; choose basic auth or a "
                                   "bearer token (neither is used)"));
    } else if (token && tokenFile) {
        env.problem("LOKI_BEARER_TOKEN_FILE",
                    QStringLiteral("set together with LOKI_BEARER_TOKEN; choose one (neither is used)"));
    } else if (user != password) {
        if (user)
            env.problem("LOKI_USERNAME", QStringLiteral("set without LOKI_PASSWORD; basic auth not used"));
        else
            env.problem("LOKI_PASSWORD", QStringLiteral("set without LOKI_USERNAME; basic auth not used"));
    } else if (user) {
        config.basicAuthUser = EnvironmentReader::value("LOKI_USERNAME");
        config.basicAuthPassword = EnvironmentReader::value("LOKI_PASSWORD");
    } else if (token) {
        config.bearerToken = EnvironmentReader::value("LOKI_BEARER_TOKEN").trimmed();
        if (hasControl(config.bearerToken.toUtf8())) {
            env.problem("LOKI_BEARER_TOKEN", QStringLiteral("contains control characters; not used"));
            config.bearerToken.clear();
        }
    } else if (tokenFile) {
        QByteArray text;
        if (env.readFile("LOKI_BEARER_TOKEN_FILE", &text)) {
            const QString path = EnvironmentReader::value("LOKI_BEARER_TOKEN_FILE");
            const QByteArray trimmed = text.trimmed();
            if (trimmed.isEmpty())
                env.problem("LOKI_BEARER_TOKEN_FILE", QStringLiteral("%1 holds no token").arg(path));
            else if (hasControl(trimmed))
                env.problem(
                    "LOKI_BEARER_TOKEN_FILE",
                    QStringLiteral("%1 holds more than one line or control characters; not used").arg(path));
            else
                config.bearerToken = QString::fromUtf8(trimmed);
        }
    }

    // TLS: a QSslConfiguration only when a variable asks for one (it loads Qt's TLS backend).
    const bool cert = env.isSet("LOKI_CLIENT_CERT_PATH");
    const bool key = env.isSet("LOKI_CLIENT_KEY_PATH");
    if (cert && !key)
        env.problem("LOKI_CLIENT_CERT_PATH",
                    QStringLiteral("set without LOKI_CLIENT_KEY_PATH; no client certificate is used"));
    if (key && !cert)
        env.problem("LOKI_CLIENT_KEY_PATH",
                    QStringLiteral("set without LOKI_CLIENT_CERT_PATH; no client certificate is used"));
#if QT_CONFIG(ssl)
    bool skipVerify = false;
    if (env.isSet("LOKI_TLS_SKIP_VERIFY"))
        env.readBool("LOKI_TLS_SKIP_VERIFY", &skipVerify);
    QList<QSslCertificate> cas;
    if (env.isSet("LOKI_CA_CERT_PATH")) {
        QByteArray pem;
        if (env.readFile("LOKI_CA_CERT_PATH", &pem)) {
            cas = QSslCertificate::fromData(pem, QSsl::Pem);
            if (cas.isEmpty())
                env.problem("LOKI_CA_CERT_PATH", QStringLiteral("no PEM certificate in %1; not used")
                                                     .arg(EnvironmentReader::value("LOKI_CA_CERT_PATH")));
        }
    }
    QList<QSslCertificate> chain;
    QSslKey privateKey;
    if (cert && key) {
        QByteArray pem;
        if (env.readFile("LOKI_CLIENT_CERT_PATH", &pem)) {
            chain = QSslCertificate::fromData(pem, QSsl::Pem);
            if (chain.isEmpty())
                env.problem("LOKI_CLIENT_CERT_PATH",
                            QStringLiteral("no PEM certificate in %1; no client certificate is used")
                                .arg(EnvironmentReader::value("LOKI_CLIENT_CERT_PATH")));
        }
        if (env.readFile("LOKI_CLIENT_KEY_PATH", &pem)) {
            privateKey = QSslKey(pem, QSsl::Rsa, QSsl::Pem);
            if (privateKey.isNull())
                privateKey = QSslKey(pem, QSsl::Ec, QSsl::Pem);
            if (privateKey.isNull())
                env.problem("LOKI_CLIENT_KEY_PATH",
                            QStringLiteral("no unencrypted PEM private key (RSA or EC) in %1; no client "
                                           "certificate is used")
                                .arg(EnvironmentReader::value("LOKI_CLIENT_KEY_PATH")));
        }
        pem.fill('\0'); // the key's text
        if (chain.isEmpty() || privateKey.isNull()) {
            chain.clear();
            privateKey = QSslKey();
        }
    }
    if (!cas.isEmpty() || !chain.isEmpty() || skipVerify) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        if (!cas.isEmpty())
            tls.setCaCertificates(cas);
        if (!chain.isEmpty()) {
            tls.setLocalCertificateChain(chain);
            tls.setPrivateKey(privateKey);
        }
        if (skipVerify) {
            tls.setPeerVerifyMode(QSslSocket::VerifyNone);
            const QString warning = QStringLiteral(
                "LOKI_TLS_SKIP_VERIFY: the server's TLS certificate is NOT verified: anyone on the way to "
                "Loki can read and change what is sent, credentials included. Use it for tests only.");
            qCWarning(lcLokiConfig, "%s", qPrintable(warning));
            if (warnings)
                warnings->append(warning);
        }
        config.sslConfiguration = tls;
    }
#else
    Q_UNUSED(warnings);
    for (const char *name :
         {"LOKI_CA_CERT_PATH", "LOKI_CLIENT_CERT_PATH", "LOKI_CLIENT_KEY_PATH", "LOKI_TLS_SKIP_VERIFY"}) {
        if (env.isSet(name))
            env.problem(name, QStringLiteral("needs a Qt built with TLS support; not used"));
    }
#endif
    if (problems)
        *problems = env.problems;
    return config;
}
