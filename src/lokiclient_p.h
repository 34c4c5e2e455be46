// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKICLIENT_P_H
#define LOKIQT_LOKICLIENT_P_H

#include <lokiqt/lokiclient.h>

#include "counters_p.h"
#include "entry_p.h"
#include "entrybuffer_p.h"
#include "render_p.h"

#include <QtCore/QHash>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMutex>
#include <QtCore/QThread>
#include <QtCore/QWaitCondition>

#include <atomic>
#include <limits>
#include <memory>

Q_DECLARE_LOGGING_CATEGORY(lcLoki)

class LokiWorker;

/** A flush() caller waiting for the worker; shared so an abandoned wait outlives nothing it needs. */
struct LokiFlushWaiter
{
    QMutex mutex;
    QWaitCondition done;
    bool finished = false;
    bool ok = false;

    void finish(bool success)
    {
        QMutexLocker lock(&mutex);
        finished = true;
        ok = success;
        done.wakeAll();
    }
};

class LokiClientPrivate
{
public:
    LokiClientPrivate(LokiClient *q, const LokiConfig &config);

    static LokiClientPrivate *get(LokiClient *client) { return client->d_func(); }

    /** Any thread. Queues an already rendered entry. */
    LokiClient::SendResult enqueue(const LokiStreamInfo *stream, qint64 timestampNs, QByteArray line,
                                   const LokiWait &wait, LokiMetadata metadata = LokiMetadata());
    /** Any thread. The interned stream for @p labels (static labels must already be merged in); nullptr when
     * it would be new and @p maxStreams streams exist already. */
    const LokiStreamInfo *intern(const LokiRender::LabelMap &labels,
                                 qsizetype maxStreams = std::numeric_limits<qsizetype>::max());
    /**
     * Any thread. The stream for an entry with @p labels, under the cardinality guard: past
     * Limits::maxStreams, a new label set is not created; its labels beyond the static ones are appended to
     * @p metadata (or rendered into @p line when structured metadata is off) and the static stream is used.
     */
    const LokiStreamInfo *streamFor(const LokiRender::LabelMap &labels, LokiMetadata *metadata,
                                    QString *line);
    /** Any thread. The interned stream for a key and JSON form read back from the spool. */
    const LokiStreamInfo *internRaw(const QByteArray &key, const QByteArray &json);
    /**
     * Owner thread, before the worker starts. Chooses the entry buffer, once: the spool when one is
     * configured and its directory can be used, else memory (with a Spool error saying why).
     */
    void openBuffer();
    /** Owner thread. Tells the worker what QNetworkInformation says about the network, now and later. */
    void followReachability();
    /** Any thread. Counts an invalid entry and reports it. */
    LokiClient::SendResult reject(const QString &why);

    /** Any thread. Stores @p error as lastError() and emits errorOccurred() in the owner thread. */
    void reportError(const LokiError &error);
    /** Any thread. Emits countersChanged() in the owner thread soon, coalescing bursts of changes. */
    void notifyCounters();
    /** Worker thread. Publishes a new state (ignored once closed). */
    void setState(LokiClient::State state);

    /** Any thread. @p text with every secret of the configuration (URL user info, password, token, header
     *  values) replaced, so that no error or log line carries one. */
    QString redact(QString text) const;

    qint64 failuresSoFar() const
    {
        return counters.failed.load() + counters.droppedOldest.load() + counters.droppedClosed.load() +
               counters.expired.load() + counters.corrupted.load();
    }

    LokiClient *const q_ptr;
    const LokiConfig config;
    QString configError; ///< non-empty when the configuration is invalid: every send is rejected
    const QUrl pushUrl;  ///< without user info: credentials go in the Authorization header, never in the URL

    LokiCounterSet counters;
    std::unique_ptr<LokiEntryBuffer> buffer; ///< set by openBuffer(), before the worker starts

    QMutex streamsMutex;
    QHash<QByteArray, LokiStreamInfo *> streams; ///< owned; freed with the client
    const LokiStreamInfo *defaultStream = nullptr;

    mutable QMutex errorMutex;
    LokiError lastError;

    std::atomic<LokiClient::State> state{LokiClient::State::Idle};
    std::atomic<bool> countersNotifyPending{false};
    std::atomic<bool> closing{false};

    QThread thread;
    LokiWorker *worker = nullptr;
    bool closed = false;
    bool closeResult = false;

    Q_DECLARE_PUBLIC(LokiClient)
};

#endif // LOKIQT_LOKICLIENT_P_H
