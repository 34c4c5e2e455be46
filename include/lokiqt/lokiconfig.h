// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKICONFIG_H
#define LOKIQT_LOKICONFIG_H

#include <lokiqt/lokiqt_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QObject>
#include <QtCore/QPair>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>
#include <QtNetwork/qtnetworkglobal.h>
#if QT_CONFIG(ssl)
#include <QtNetwork/QSslConfiguration>
#endif

#include <chrono>
#include <optional>

/**
 * The whole configuration of a LokiClient: a plain value with a sane default for every field.
 *
 * @code
 * LokiConfig config;                          // every field has a default
 * config.url = QUrl("http://loki:3100");      // base URL or the full push URL
 * config.labels = {{"service", "kiosk"}};
 * config.batch.maxWait = std::chrono::milliseconds(500);
 * QString why;
 * if (!config.isValid(&why))
 *     qFatal("%s", qPrintable(why));
 * LokiClient client(config);
 * @endcode
 *
 * A client copies its configuration when it is constructed; nothing changes while it runs.
 *
 * Thread safety: a value type; copies may be used from any thread.
 */
struct LOKIQT_EXPORT LokiConfig
{
    Q_GADGET
public:
    /** What `LokiClient::send()` does when the queue is full. */
    enum class Backpressure {
        Block,     ///< wait for room, at most until the deadline given to send()
        DropNew,   ///< refuse the new entry (the queue keeps the oldest)
        DropOldest ///< discard the oldest queued entry to make room (the queue keeps the newest)
    };
    Q_ENUM(Backpressure)

    /** How push bodies are encoded. */
    enum class Encoding {
        ProtobufSnappy, ///< Loki's native format, as its own agents send it: smallest and cheapest (default)
        Json,           ///< plain JSON
        JsonGzip,       ///< JSON with Content-Encoding: gzip
    };
    Q_ENUM(Encoding)

    /** How an entry's message and fields become its line. */
    enum class LineFormat {
        Plain,  ///< `<message> key=value ...` (values quoted when needed): easy to read, `|=` filters
        Logfmt, ///< `level=info msg="..." key=value`: parsed by LogQL's `| logfmt`
        Json,   ///< `{"level":"info","msg":"...","key":"value"}`: parsed by LogQL's `| json`
    };
    Q_ENUM(LineFormat)

    /** Parses "plain", "logfmt" or "json". Returns false (and leaves @p out alone) otherwise. */
    static bool parseLineFormat(const QString &text, LineFormat *out);
    /** The inverse of parseLineFormat(). */
    static QString lineFormatName(LineFormat format);

    /** When the disk spool forces what it wrote onto the storage (fdatasync). See Spool. */
    enum class SpoolSync {
        Never,    ///< leave it to the OS: survives a crash or kill of the process, not a power cut
        PerBatch, ///< after every batch's worth of entries written (batch.maxEntries or maxBytes), and
                  ///< whenever the worker takes a batch from the spool
        Interval, ///< at most Spool::syncInterval after an entry was written (default)
    };
    Q_ENUM(SpoolSync)

    /** Parses "protobuf", "json" or "json-gzip". Returns false (and leaves @p out alone) otherwise. */
    static bool parseEncoding(const QString &text, Encoding *out);
    /** The inverse of parseEncoding(). */
    static QString encodingName(Encoding encoding);

    /** Parses "block", "drop-new" or "drop-oldest". Returns false (and leaves @p out alone) otherwise. */
    static bool parseBackpressure(const QString &text, Backpressure *out);
    /** The inverse of parseBackpressure(). */
    static QString backpressureName(Backpressure mode);

    /** Loki's base URL (`http://loki:3100`) or the full push URL (`.../loki/api/v1/push`). http or https. */
    QUrl url = QUrl(QStringLiteral("http://localhost:3100"));

    /** Labels every entry carries (for example service, env, host). Keep them few and bounded. */
    QMap<QString, QString> labels;

    /** The tenant sent as `X-Scope-OrgID`; empty sends no header. */
    QString tenant;

    /** Extra HTTP headers sent with every push. Their values never appear in errors or logs. */
    QList<QPair<QByteArray, QByteArray>> headers;

    /** HTTP basic auth (hosted Loki: user = tenant id, password = token). Empty user: none. */
    QString basicAuthUser;
    /** The password (or token) for basicAuthUser. Never appears in errors or logs. */
    QString basicAuthPassword;
    /** Sent as `Authorization: Bearer <token>` when not empty (and basic auth is not set). */
    QString bearerToken;
#if QT_CONFIG(ssl)
    /**
     * TLS settings for https URLs: a custom CA (`setCaCertificates`), a client certificate and key for
     * mutual TLS (`setLocalCertificate`, `setPrivateKey`). Null: Qt's defaults, with peer verification on.
     * Verification stays on unless this configuration turns it off explicitly.
     *
     * Empty (or null): Qt's defaults. Set it as a whole (`config.sslConfiguration = tls;`). It is optional
     * because any QSslConfiguration, even a null one, loads Qt's TLS backend when it is constructed (OpenSSL,
     * about 6.5 MiB of RSS on Linux), which a client of an http URL never needs.
     */
    std::optional<QSslConfiguration> sslConfiguration;
#endif

    /**
     * How send() and the message handler render lines. In Logfmt and Json the message is the `msg` key, a
     * `level` (from the message handler, or a field of that name) comes first, and a field named `msg` or
     * `level` is renamed `_msg` or `_level`. sendUtf8() sends its line as it is, in every format.
     */
    LineFormat lineFormat = LineFormat::Plain;

    /** The body format. ProtobufSnappy unless the server (or a proxy) cannot take it. */
    Encoding encoding = Encoding::ProtobufSnappy;
    /** zlib level for Encoding::JsonGzip (1 fastest … 9 smallest). */
    int gzipLevel = 6;

    /**
     * Field names that go out as Loki 3 structured metadata (for example trace_id, user_id) instead of into
     * the line or the labels. Needs Loki 3 (schema v13); an older server refuses such pushes with 400.
     */
    QStringList structuredMetadataFields;
    /**
     * Whether structured metadata is sent at all. Turn it off for Loki 2.x: metadata fields then go into the
     * line, and streams over maxStreams are demoted into the line instead of into metadata.
     */
    bool structuredMetadata = true;

    /** When a batch is pushed: whichever of the three limits is reached first. */
    struct Batching
    {
        int maxEntries = 2000;                   ///< flush when a batch holds this many entries
        qint64 maxBytes = 1024 * 1024;           ///< flush when a batch's lines add up to this many bytes
        std::chrono::milliseconds maxWait{1000}; ///< flush this long after a batch received its first entry
        /**
         * Pushes under way at once (each on a connection of its own), so that a Loki far away (tens of ms
         * per answer) is kept busy. A push goes out beside others only while a backlog waits and the oldest
         * push under way has waited 2 ms or more for its answer: on loopback or a LAN one at a time keeps
         * up and holds less memory. Entries of one stream may then reach Loki out of order; Loki 2.4 and
         * later accept that (unordered_writes, within an hour of the stream's newest entry). 1 pushes one
         * batch at a time, in order, for a Loki that wants it. A spool acknowledges batches in the order
         * taken.
         */
        int maxInFlight = 16;
    } batch; ///< see Batching

    /** How failed pushes (network errors, 429, 5xx) are retried: exponential backoff with jitter. */
    struct Retry
    {
        std::chrono::milliseconds initialBackoff{100}; ///< delay before the first retry
        std::chrono::milliseconds maxBackoff{3000};    ///< no delay is longer than this
        double multiplier = 2.0;                       ///< growth of the delay from one retry to the next
        double jitter = 0.2; ///< each delay is spread uniformly by ± this fraction (0 to 1)
        /** Attempts per batch, the first one included; then the batch fails. With a spool, transient
         *  failures (network, 429, 5xx) are retried without this limit: the batch stays on disk. */
        int maxAttempts = 5;
        /**
         * The longest wait a server's `Retry-After` (on 429 or 503) is honoured for; a longer one is cut to
         * this. It is not bounded by maxBackoff: a server that asks for 60 s is not asked again every 3 s.
         * 0 ignores Retry-After (the backoff applies).
         */
        std::chrono::milliseconds maxRetryAfter{5 * 60 * 1000};
        /**
         * While the system reports no network (followNetworkReachability), a push that failed for a network
         * error waits for the network, but is also tried again this often, without using up maxAttempts: the
         * system may not count the way to Loki (loopback, a local agent, a VPN). At least 1 ms.
         */
        std::chrono::milliseconds offlineRetryInterval{30 * 1000};
    } retry; ///< see Retry

    /** Entries that may wait in the queue; the batch under way is held besides. */
    int queueCapacity = 4096;

    /** Loki's limits, checked before an entry costs a push (defaults are Loki's own). */
    struct Limits
    {
        /** Lines longer than this (UTF-8 bytes) are cut, with a visible marker, and counted (Loki: 256 KiB).
         */
        qint64 maxLineBytes = 256 * 1024;
        /** Labels per stream; more are refused before they cost a push (Loki 3: 15). */
        int maxLabelNames = 15;
        int maxLabelNameLength = 1024;  ///< characters (Loki's default)
        int maxLabelValueLength = 2048; ///< characters (Loki's default)
        /**
         * Distinct streams the client creates. Past it, the labels an entry adds to the static ones are
         * demoted into structured metadata (or the line), counted and reported once, instead of creating
         * streams until Loki answers "maximum active stream limit exceeded".
         */
        int maxStreams = 500;
    } limits; ///< see Limits

    /**
     * The disk spool (off unless a directory is set): the logs an offline device must not lose.
     *
     * Every entry send() accepts is first written to a segment file in the directory (each record with a
     * CRC-32C); the worker reads its batches from there, and a segment is deleted (or its file reused for a
     * later segment) only after Loki acknowledged all of it. Entries that a process left behind (Loki down,
     * close() at its deadline, a crash, SIGKILL) are delivered by the next client that opens the directory,
     * oldest first, before its own. The disk bound replaces queueCapacity: when the spool is full, the
     * backpressure mode applies to it (DropOldest deletes the oldest segment file). Only one process at a
     * time may use a directory; a second one reports a LokiError::Kind::Spool error and keeps its entries in
     * memory only.
     *
     * On a disk with room for many segments, files are reused rather than made anew: when all of the segment
     * being written is delivered (an application that logs steadily gets there after every batch), its file
     * goes on as the next segment, renamed and emptied, so an idle spool keeps that one file (at most
     * segmentBytes, what one burst reserved); and one delivered file may become a later segment while
     * writing goes on. After a refused reservation (a full disk) a delivered file is deleted at once.
     */
    struct Spool
    {
        QString directory;                  ///< empty: memory only (the default). Created owner-only (0700).
        qint64 maxBytes = 64 * 1024 * 1024; ///< disk the segment files may use together
        qint64 segmentBytes = 4 * 1024 * 1024;        ///< size of one segment file (at most maxBytes / 4)
        SpoolSync sync = SpoolSync::Interval;         ///< when writes are forced onto the storage
        std::chrono::milliseconds syncInterval{1000}; ///< for SpoolSync::Interval
        /**
         * Entries read from the spool that are older than this are dropped and counted (Counters::expired)
         * instead of being refused by Loki forever (Loki's reject_old_samples_max_age: one week).
         */
        std::chrono::milliseconds maxAge{std::chrono::hours(24 * 7)};
    } spool; ///< see Spool

    /** What send() does when the queue is full. */
    Backpressure backpressure = Backpressure::Block;
    /**
     * In Block mode, how long send() without a deadline waits for room before it gives up (SendResult::
     * TimedOut, Counters::timedOut). Room comes when a batch is taken, or with a spool only when Loki
     * acknowledged one: with Loki down a sender would otherwise wait for as long as the outage lasts.
     * Negative: wait without limit. send() with an explicit deadline uses that instead.
     */
    std::chrono::milliseconds blockTimeout{5000};

    /** Time one push may take before it counts as a network failure (and is retried). */
    std::chrono::milliseconds requestTimeout{10000};

    /**
     * Devices without a real-time clock often log with a wrong date until they sync. The client compares its
     * clock with the `Date` header of Loki's answers; when they differ by more than this, the timestamps it
     * assigns from then on are corrected by the difference, entries still queued are shifted by it, and a
     * batch Loki refused as too old or too new because of it is corrected and sent again once (queued and
     * refused entries are shifted whole: explicit timestamps too). 0 turns correction off.
     */
    std::chrono::milliseconds clockSkewThreshold{5 * 60 * 1000};

    /**
     * Follow the system's network state through QNetworkInformation (when Qt has a backend for the
     * platform): while it reports no network, a push that failed for a network error waits for the network
     * instead of retrying on the backoff (and does not use up retry.maxAttempts), tried again only every
     * retry.offlineRetryInterval in case the system is wrong; when the network comes back, a waiting push
     * goes out at once instead of waiting out its backoff.
     *
     * A QNetworkInformation backend costs megabytes and threads to load, so the client loads it only at the
     * first push that fails for a network error (in the owner thread, as errorOccurred() is signalled), never
     * while its pushes succeed; that first failure is retried on the backoff like any network error, and the
     * rule above holds from then on. A QNetworkInformation the application loaded itself is followed from
     * the start.
     */
    bool followNetworkReachability = true;

    /** The deadline the destructor gives close() when the client was not closed before. */
    std::chrono::milliseconds destructorCloseTimeout{2000};

    /**
     * Field names that may become labels (after sanitizing: `http.method` becomes `http_method`).
     * Empty: no field ever becomes a label, the cardinality-safe default. The label set that results is
     * checked against limits like the entry's own labels: an entry whose allow-listed field value is longer
     * than limits.maxLabelValueLength is Rejected. `category` here makes LokiMessageHandler label messages
     * with their logging category.
     */
    QStringList labelAllowList;
    /** Field names that never become labels, even when allow-listed. */
    QStringList labelDenyList;

    /**
     * Whether every value is acceptable. When not, and @p why is given, it receives a sentence that names
     * the offending setting and says what is wrong.
     */
    bool isValid(QString *why = nullptr) const;

    /** The URL pushes go to: @ref url when it already ends in `/loki/api/v1/push`, else url + that path. */
    QUrl pushUrl() const;

    /**
     * A configuration from the process environment, with the names that logcli (Grafana's own CLI) reads, so
     * that one set of variables configures every Loki tool. Every other field keeps its default; an unset or
     * empty variable leaves its field at the default.
     *
     * | variable | field | meaning |
     * |---|---|---|
     * | `LOKI_URL` | url | lokiqt's own name: base URL or full push URL; wins over LOKI_ADDR |
     * | `LOKI_ADDR` | url | logcli's name: Loki's base URL (`/loki/api/v1/push` is appended) |
     * | `LOKI_USERNAME`, `LOKI_PASSWORD` | basicAuthUser, basicAuthPassword | basic auth; both or neither |
     * | `LOKI_ORG_ID` | tenant | sent as `X-Scope-OrgID` |
     * | `LOKI_BEARER_TOKEN` | bearerToken | sent as `Authorization: Bearer` |
     * | `LOKI_BEARER_TOKEN_FILE` | bearerToken | the token is the file's content, white space trimmed |
     * | `LOKI_CA_CERT_PATH` | sslConfiguration | trust the PEM CA certificates in it, not the system's |
     * | `LOKI_CLIENT_CERT_PATH` | sslConfiguration | client certificate (PEM) for mutual TLS, with the key |
     * | `LOKI_CLIENT_KEY_PATH` | sslConfiguration | its unencrypted PEM key (RSA or EC), with the cert |
     * | `LOKI_TLS_SKIP_VERIFY` | sslConfiguration | `true`, `1`, `t`: no verification (warned about) |
     *
     * sslConfiguration is set only when a TLS variable asks for it (building one loads Qt's TLS backend).
     * Basic auth and a bearer token, or a token and a token file, exclude each other (as in logcli).
     *
     * What cannot be used is left at its default and reported in @p problems, one sentence each, which starts
     * with the name of the variable it is about and a colon (`LOKI_CA_CERT_PATH: cannot read ...`), so that a
     * program whose command line overrides a variable can drop its problems. A secret (a password, a token,
     * a key) never appears in a problem. @p problems is empty when everything set could be used. When
     * LOKI_TLS_SKIP_VERIFY turns verification off, a warning is logged (category `lokiqt.config`) and added
     * to @p warnings.
     *
     * Call it from any thread, but not while another thread changes the environment. The result still
     * needs isValid() (labels, for example, are not read from the environment).
     */
    static LokiConfig fromEnvironment(QStringList *problems = nullptr, QStringList *warnings = nullptr);
};

#endif // LOKIQT_LOKICONFIG_H
