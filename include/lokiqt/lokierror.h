// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKIERROR_H
#define LOKIQT_LOKIERROR_H

#include <lokiqt/lokiqt_export.h>

#include <QtCore/QMetaType>
#include <QtCore/QObject>
#include <QtCore/QString>

/**
 * What went wrong with a push, as delivered by LokiClient::errorOccurred() and LokiClient::lastError().
 *
 * @code
 * connect(&client, &LokiClient::errorOccurred, statusBar, [=](const LokiError &e) {
 *     statusBar->showMessage(e.toString());   // "HTTP 400 from Loki: ... (12 entries, not retried)"
 * });
 * @endcode
 *
 * A Q_GADGET: kind, httpStatus, message, entries, willRetry, attempt, isError and text (toString()) are
 * read-only properties, so QML shows them from LokiClient's `lastError` property or from the argument of
 * `onErrorOccurred`, e.g. `client.lastError.message` (the QML module LokiQt registers the type).
 *
 * Thread safety: a value type; registered with Qt's meta-type system so it crosses queued connections.
 */
class LOKIQT_EXPORT LokiError
{
    Q_GADGET
    Q_PROPERTY(Kind kind READ kind)
    Q_PROPERTY(int httpStatus READ httpStatus)
    Q_PROPERTY(QString message READ message)
    Q_PROPERTY(int entries READ entries)
    Q_PROPERTY(bool willRetry READ willRetry)
    Q_PROPERTY(int attempt READ attempt)
    Q_PROPERTY(bool isError READ isError)
    Q_PROPERTY(QString text READ toString)
public:
    /** What kind of failure it is. */
    enum class Kind {
        NoError,      ///< nothing went wrong
        Network,      ///< the connection failed, was reset, or timed out
        Http,         ///< Loki (or a proxy) answered with an error status; see httpStatus()
        InvalidEntry, ///< an entry was refused before it was queued (bad label name, ...)
        Dropped,      ///< entries were dropped because the queue was full or the client closed
        Limit,        ///< a limit changed entries on their way (lines cut, labels demoted), or the server's
                      ///< format limits forced a fallback; the entries are still delivered
        Spool,        ///< the disk spool: directory in use or unusable, damaged records skipped, write errors
    };
    Q_ENUM(Kind)

    /** No error (Kind::NoError). */
    LokiError() = default;
    /** An error of @p kind about @p entries entries; the client creates these, tests may too. */
    LokiError(Kind kind, const QString &message, int entries = 0, int httpStatus = 0, bool willRetry = false,
              int attempt = 0)
        : m_kind(kind)
        , m_httpStatus(httpStatus)
        , m_entries(entries)
        , m_attempt(attempt)
        , m_willRetry(willRetry)
        , m_message(message)
    {}

    /** What kind of failure it is. */
    Kind kind() const { return m_kind; }
    /** False only for a default-constructed LokiError (Kind::NoError). */
    bool isError() const { return m_kind != Kind::NoError; }
    /** The HTTP status for Kind::Http, else 0. */
    int httpStatus() const { return m_httpStatus; }
    /** Loki's own reason text (the response body), or a description of the network failure. */
    QString message() const { return m_message; }
    /** How many entries the failure affects. */
    int entries() const { return m_entries; }
    /** True when the client will try again: the entries are not lost yet. */
    bool willRetry() const { return m_willRetry; }
    /** Which attempt failed (1 for the first push of a batch); 0 when no push was involved. */
    int attempt() const { return m_attempt; }

    /** One line for a status bar or a log: what failed, how many entries, and whether it is retried.
     *  Also the property `text`, and invokable from QML. */
    Q_INVOKABLE QString toString() const;

private:
    Kind m_kind = Kind::NoError;
    int m_httpStatus = 0;
    int m_entries = 0;
    int m_attempt = 0;
    bool m_willRetry = false;
    QString m_message;
};

Q_DECLARE_METATYPE(LokiError)

#endif // LOKIQT_LOKIERROR_H
