// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKITESTRECEIVER_H
#define LOKIQT_LOKITESTRECEIVER_H

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QMap>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QUrl>

#include <chrono>
#include <functional>
#include <memory>

/** One entry as Loki would store it. */
struct ReceivedEntry
{
    qint64 timestampNs = 0;
    QString line;
    QMap<QString, QString> metadata; ///< structured metadata (the optional third element)
    QMap<QString, QString> labels;   ///< the labels of the stream it arrived in
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
    QMap<QByteArray, QByteArray> headers; ///< all request headers, names in lower case
    qint64 bodyBytes = 0;                 ///< body size on the wire
    QList<ReceivedStream> streams;        ///< decoded streams (empty when the body did not decode)
    int duplicates = 0;                   ///< entries dropped as exact duplicates of stored ones

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
 * It decodes `POST /loki/api/v1/push` bodies the way Loki does (JSON with `Content-Type: application/json`),
 * applies Loki's validation (label name syntax, reserved `__` names, at least one label per stream,
 * timestamps as decimal nanosecond strings) and answers like Loki: 204 when stored, 400 with Loki's wording
 * otherwise. Exact duplicates (same stream, timestamp and line) are dropped silently, as Loki does.
 * `GET /ready` answers 200.
 *
 * Faults are injected on demand: answer a status for the next K pushes, delay answers, close the
 * connection mid-response, answer garbage, stop listening and listen again on the same port.
 *
 * Thread safety: the server runs on a thread of its own, so a test's thread may block (in flush() or
 * close()) while the receiver answers. Every public function is thread-safe.
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
 *
 * Decoding is written so that a format is one function: Content-Encoding other than identity (gzip) is
 * answered 415, and so is `application/x-protobuf`, until those decoders are added. Any other media type is
 * answered 400. Error bodies end with a newline, as Go's `http.Error` writes them; ReceivedPush::error does
 * not. Entry age, line size and label-count limits are not checked.
 */
class LokiTestReceiver
{
public:
    LokiTestReceiver();
    ~LokiTestReceiver();

    /** Listens on 127.0.0.1:@p port (0 picks a free port). Returns false when it cannot. */
    bool listen(quint16 port = 0);
    /** Stops listening and drops every open connection; port() stays as it was. */
    void stop();
    /** Listens again on the same port as before. */
    bool restart();
    bool isListening() const;
    quint16 port() const;
    /** The base URL, `http://127.0.0.1:<port>`. */
    QUrl url() const;
    /** The push URL, `http://127.0.0.1:<port>/loki/api/v1/push`. */
    QUrl pushUrl() const;

    /**
     * The next @p count pushes are answered @p status with @p body (and `Retry-After` when given), and
     * nothing of them is stored. Each of these three fault settings replaces its own earlier count; when
     * several are pending, closeMidResponseNext() goes first, then answerGarbageNext(), then failNext().
     */
    void failNext(int count, int status, const QByteArray &body = QByteArray(),
                  const QByteArray &retryAfter = QByteArray());
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
    /** Every stored entry, in arrival order. */
    QList<ReceivedEntry> entries() const;
    /** Stored entries whose stream labels include every pair of @p selector. */
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
     * benchmarks and long runs. Default true. Applies to pushes that arrive after the call.
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

#endif // LOKIQT_LOKITESTRECEIVER_H
