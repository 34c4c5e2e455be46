// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKITESTRECEIVER_H
#define LOKIQT_LOKITESTRECEIVER_H

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>
#include <QtNetwork/qtnetworkglobal.h>

#include <chrono>
#include <functional>
#include <memory>

QT_BEGIN_NAMESPACE
class QSslConfiguration;
QT_END_NAMESPACE

/** One entry as Loki would store it. */
struct ReceivedEntry
{
    qint64 timestampNs = 0;
    QString line;
    QMap<QString, QString>
        metadata; ///< structured metadata (JSON's third element, protobuf's structuredMetadata)
    QMap<QString, QString> labels; ///< the labels of the stream it arrived in
};

/** One stream of one push. */
struct ReceivedStream
{
    QMap<QString, QString> labels;
    QList<ReceivedEntry> entries;
};

/** One HTTP request to the push endpoint, whatever its outcome. */
struct ReceivedPush
{
    int status = 0; ///< what the receiver answered (204 when stored)
    QString error;  ///< the body of an error answer
    QByteArray contentType;
    QByteArray contentEncoding;
    QMap<QByteArray, QByteArray> headers; ///< all request headers, names in lower case (Authorization too)
    qint64 bodyBytes = 0;                 ///< body size on the wire

    /** How the body was read. */
    enum class Format {
        None,     ///< not decoded: refused before (fault, 401, 413, 415, no media type, bad Content-Encoding)
        Json,     ///< `application/json`
        Protobuf, ///< snappy-compressed logproto.PushRequest: `application/x-protobuf` or any other media
                  ///< type
    };
    Format format = Format::None;
    /**
     * The size of what the format decoder read: the JSON text or the protobuf message, after Content-Encoding
     * (gzip, deflate) and snappy are undone. For an answer refused by setMaxDecodedBytes(), the size it
     * would have had. 0 when the body was not decoded that far.
     */
    qint64 decodedBytes = 0;
    QList<ReceivedStream> streams; ///< decoded streams (empty when the body did not decode)
    int duplicates = 0;            ///< entries dropped as exact duplicates of stored ones

    /** Which injected fault, if any, shaped the answer to this push. */
    enum class Fault {
        None,             ///< answered normally
        FailNext,         ///< answered the failNext() status; nothing stored
        CloseMidResponse, ///< processed (stored when valid), answer cut; status is what it would have been
        Garbage,          ///< answered bytes that are not HTTP; nothing stored, status 0
    };
    Fault fault = Fault::None;
};

/**
 * A Loki-compatible HTTP/1.1 push receiver on 127.0.0.1, for tests, benchmarks and the example.
 *
 * It decodes `POST /loki/api/v1/push` bodies the way Loki 2.9 does:
 * - `Content-Type: application/json`: Loki's JSON, with the optional structured metadata object;
 * - any other media type (`application/x-protobuf` is the usual one): a snappy block-compressed
 *   `logproto.PushRequest`, decoded by code that protoc generates from tests/proto/push.proto (the
 *   official protobuf library, independent of lokiqt's own encoder); a body snappy cannot read is answered
 *   400 `snappy: corrupt input`;
 * - `Content-Encoding: gzip` or `deflate` (raw DEFLATE, as Go's compress/flate reads it) undone first, for
 *   either format; `snappy` and no Content-Encoding leave the body as it is; anything else (`identity`
 *   too, as in Loki) is answered 400 `Content-Encoding "br" not supported`.
 *
 * Then it validates like Loki: a stream whose labels do not parse (bad name syntax, reserved `__` names)
 * refuses the whole push with 400 `couldn't parse labels: ...`, nothing stored; a stream without labels,
 * or over a limit set below, is refused and named while the other streams are stored; an entry over a limit
 * is refused while the other entries of its stream are stored. The answer is then 400 with one reason per
 * refused stream, one per line. Exact duplicates (same stream, timestamp and line) are dropped silently, as
 * Loki does. Error bodies end with a newline, as Go's `http.Error` writes them; ReceivedPush::error does
 * not. `GET /ready` answers 200. Entry age is not checked.
 *
 * The checks a push meets, in order: injected faults; setMaxBodyBytes() (413); required credentials (401
 * `unauthorized`) and tenant (401 `no org id`); the media type (400 `mime: no media type`; 415 when
 * protobuf is not accepted); Content-Encoding; setMaxDecodedBytes() (500); decoding (400); labels;
 * limits per stream and entry.
 *
 * Faults are injected on demand: answer a status for the next K pushes, delay answers, close the
 * connection mid-response, answer garbage, stop listening and listen again on the same port.
 *
 * Thread safety: the server runs on a thread of its own, so a test's thread may block (in flush() or
 * close()) while the receiver answers. Every public function is thread-safe; settings apply to pushes that
 * arrive after the call.
 *
 * Usage:
 * ```cpp
 * LokiTestReceiver receiver;
 * QVERIFY(receiver.listen());
 * config.url = receiver.url();
 * // ... push ...
 * QTRY_COMPARE_WITH_TIMEOUT(receiver.entryCount(), 3, 10000);
 * QCOMPARE(receiver.entries({{"app", "demo"}}).first().line, "hello");
 * ```
 */
class LokiTestReceiver
{
public:
    LokiTestReceiver();
    ~LokiTestReceiver();

    /** Listens on 127.0.0.1:@p port (0 picks a free port), plain HTTP. Returns false when it cannot. */
    bool listen(quint16 port = 0);
    /**
     * Listens on 127.0.0.1:@p port serving HTTPS with @p configuration (its local certificate and private
     * key). When the configuration's peerVerifyMode is VerifyPeer, every client must present a certificate
     * that its caCertificates trust (mutual TLS); a connection without one fails its handshake and no request
     * on it reaches the receiver. Returns false when it cannot listen or Qt has no TLS backend.
     * See LokiTestCertificates for certificates made at test time.
     */
    bool listenTls(const QSslConfiguration &configuration, quint16 port = 0);
    /** Stops listening and drops every open connection; port() stays as it was. */
    void stop();
    /** Listens again on the same port as before, with TLS when the last listen was listenTls(). */
    bool restart();
    bool isListening() const;
    /** Whether the last listen was listenTls(). */
    bool isTls() const;
    quint16 port() const;
    /** The base URL, `http://127.0.0.1:<port>` (`https://` after listenTls()). */
    QUrl url() const;
    /** The push URL, `http://127.0.0.1:<port>/loki/api/v1/push` (`https://` after listenTls()). */
    QUrl pushUrl() const;

    /**
     * Pushes must carry `Authorization: Basic base64(user:password)`; others are answered 401 `unauthorized`
     * (with `WWW-Authenticate: Basic realm="loki"`), as a gateway in front of Loki does. An empty @p user
     * turns it off (the default). When basic auth and a bearer token are both required, either one passes.
     */
    void setRequiredBasicAuth(const QString &user, const QString &password);
    /** Pushes must carry `Authorization: Bearer <token>`, as above. An empty @p token turns it off. */
    void setRequiredBearerToken(const QString &token);
    /**
     * Pushes must carry `X-Scope-OrgID`: without it (or empty) they are answered 401 `no org id`, like Loki
     * with auth enabled; with another tenant than @p tenant, 401 `unauthorized` (a gateway tying credentials
     * to a tenant). An empty @p tenant turns it off (the default).
     */
    void setRequiredTenant(const QString &tenant);

    /**
     * With true, every error answer (status 400 and above, injected faults aside) ends with the request's
     * headers, `request headers:` then one `name: value` line each (names in lower case), as a debugging
     * gateway would echo them: `Authorization` and every other secret included. Default false.
     */
    void setEchoHeadersInErrors(bool echo);

    /**
     * Loki 2.9's default: entries carrying structured metadata are refused, 400 `stream '{...}' includes
     * structured metadata, but this feature is disallowed. Please see limits_config.allow_structured_metadata
     * or contact your Loki administrator to enable it.`; the stream's other entries are stored. Default false
     * (Loki 3).
     */
    void setRejectStructuredMetadata(bool reject);
    /**
     * A body (as sent, still encoded) larger than @p bytes is answered 413 `413 Request Entity Too Large`,
     * as an nginx gateway with client_max_body_size does; nothing stored. 0 (the default) turns it off.
     */
    void setMaxBodyBytes(qint64 bytes);
    /**
     * A push whose decoded size (ReceivedPush::decodedBytes) exceeds @p bytes is answered 500
     * `rpc error: code = ResourceExhausted desc = grpc: received message larger than max (N vs. M)`, what
     * Loki answers above its 4 MB gRPC limit; nothing stored. 0 (the default) turns it off.
     */
    void setMaxDecodedBytes(qint64 bytes);
    /**
     * With false, every push that is not `application/json` is answered 415 `unsupported Content-Type`, as
     * a proxy that passes only JSON does. Default true.
     */
    void setAcceptProtobuf(bool accept);
    /**
     * Entries whose line is longer than @p bytes (UTF-8) are refused with Loki's 400 `Max entry size 'M'
     * bytes exceeded for stream '{...}' while adding an entry with length 'N' bytes` (Loki's line_too_long
     * reason); the stream's other entries are stored. Loki's default is 256 KiB; 0 (the default here) turns
     * it off.
     */
    void setMaxLineBytes(qint64 bytes);
    /**
     * Streams with more than @p count labels are refused with Loki's 400 `entry for stream '{...}' has N
     * label names; limit M`. Loki 2.9's default is 30, 3.x's 15; 0 (the default here) turns it off.
     */
    void setMaxLabelNames(int count);
    /**
     * Loki's age checks, off by default: entries older than a week (`reject_old_samples_max_age`) or more
     * than 10 minutes ahead (`creation_grace_period`) of the receiver's clock are refused with Loki's 400
     * `entry for stream '{...}' has timestamp too old: ...` / `... too new: ...`; the stream's other entries
     * are stored.
     */
    void setCheckTimestamps(bool check);
    /**
     * With true, 400 answers read as Loki 2.9's distributor writes them: one reason per refused entry (and
     * per refused stream), equal reasons grouped as `N errors like: <reason>` joined by `; ` (a single
     * reason alone as it is), timestamps at second resolution (`2026-11-23T16:00:31Z`). Default false: one
     * reason per refused stream, one per line.
     */
    void setGroupedErrors(bool grouped);
    /**
     * Runs the receiver's clock @p offset away from the real one: its `Date` header (sent with every answer,
     * as HTTP servers do) and the age checks use it. For clients on devices whose clock is wrong.
     */
    void setClockOffset(std::chrono::milliseconds offset);

    /**
     * The next @p count pushes are answered @p status with @p body (and `Retry-After` when given), and
     * nothing of them is stored. Each of these three fault settings replaces its own earlier count; when
     * several are pending, closeMidResponseNext() goes first, then answerGarbageNext(), then failNext().
     */
    void failNext(int count, int status, const QByteArray &body = QByteArray(),
                  const QByteArray &retryAfter = QByteArray());
    /** The next @p count pushes are answered @p status (301, 302, 307, 308) with `Location: @p location`. */
    void redirectNext(int count, int status, const QUrl &location);
    /**
     * From now on each push is answered @p status (nothing stored) with probability @p rate, drawn from a
     * generator seeded with @p seed so a test sees the same pattern every run; failNext() goes first. 0 stops
     * it.
     */
    void setFailRate(double rate, int status = 503, quint32 seed = 1);
    /** Every answer waits this long before it is written (0 to stop delaying). */
    void setResponseDelay(std::chrono::milliseconds delay);
    /**
     * The next @p count pushes are processed as usual (stored when valid: a Loki whose answer was lost),
     * then get half a status line (`HTTP/1.1 2`) and the connection is closed.
     * Note: QNetworkAccessManager silently resends a request cut this way, POST included (up to 3 times in
     * Qt 6.4), before it reports RemoteHostClosedError: to fail one of its requests, set a large count and
     * set it back to 0 afterwards.
     */
    void closeMidResponseNext(int count);
    /**
     * The next @p count pushes are not stored and get bytes that are not HTTP, then the connection is
     * closed. QNetworkAccessManager resends these too, as above.
     */
    void answerGarbageNext(int count);

    /** Every push request received so far, stored or not, in arrival order. */
    QList<ReceivedPush> pushes() const;
    /** How many push requests arrived (stored or not). */
    int pushCount() const;
    /**
     * The most requests that were waiting for their answer at once, over all connections: the pushes in
     * flight as the server saw them (with setResponseDelay(), each waits that long).
     */
    int maxConcurrentRequests() const;
    /**
     * Every stored entry, as a query of Loki returns them: by timestamp, entries with equal timestamps in
     * arrival order. (Pushes under way side by side arrive in any order; their timestamps keep the order
     * the entries were accepted in.)
     */
    QList<ReceivedEntry> entries() const;
    /** Every stored entry, in the order the pushes arrived. */
    QList<ReceivedEntry> entriesInArrivalOrder() const;
    /** Stored entries whose stream labels include every pair of @p selector, by timestamp. */
    QList<ReceivedEntry> entries(const QMap<QString, QString> &selector) const;
    /** How many entries are stored. */
    int entryCount() const;
    /** Forgets every push and entry (the duplicate filter too). */
    void clear();

    /** How many entries were dropped as exact duplicates, over every push since the last clear(). */
    int duplicateCount() const;

    /**
     * With false, entries are only counted (entryCount()), not stored: entries() stays empty, the duplicate
     * filter is off (every valid entry counts) and pushes() are recorded without their streams. For
     * benchmarks and long runs: with no push callback either, protobuf pushes are validated and counted
     * without building a ReceivedEntry per entry. Default true. Applies to pushes that arrive after the call.
     */
    void setRecordEntries(bool record);

    /**
     * Called for every push request, after it is recorded and before it is answered, with the push as
     * recorded (its decoded streams included even when entries are not recorded) and @p stored: the
     * streams of that push with only the entries that were stored (refused streams and duplicates left
     * out; every valid entry when entries are not recorded).
     */
    using PushCallback = std::function<void(const ReceivedPush &push, const QList<ReceivedStream> &stored)>;
    /**
     * Sets the push callback (an empty function removes it). Thread-safe, any thread; the callback runs on
     * the receiver's own thread, never concurrently with itself, and delays that answer while it runs. It
     * may call the receiver's functions except the destructor. A call already running when the callback is
     * replaced finishes; stop() returns only after it has.
     */
    void setPushCallback(PushCallback callback);

    /** Renders a label set the way Loki prints it: `{app="demo", level="info"}`, values quoted like Go. */
    static QString formatLabels(const QMap<QString, QString> &labels);

private:
    struct Private;
    std::unique_ptr<Private> d;
};

/** The lines of @p entries, in their order: what most assertions compare. */
inline QStringList lines(const QList<ReceivedEntry> &entries)
{
    QStringList out;
    for (const ReceivedEntry &e : entries)
        out << e.line;
    return out;
}

#endif // LOKIQT_LOKITESTRECEIVER_H
