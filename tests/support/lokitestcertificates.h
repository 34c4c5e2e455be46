// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKITESTCERTIFICATES_H
#define LOKIQT_LOKITESTCERTIFICATES_H

#include <QtCore/QString>
#include <QtNetwork/qtnetworkglobal.h>

#include <memory>

#if QT_CONFIG(ssl)
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>
#endif

/**
 * Certificates for TLS tests, generated when the test runs: a CA, a server certificate for 127.0.0.1 and
 * localhost signed by it, and a client certificate signed by it. Nothing secret is committed.
 *
 * It runs the `openssl` command-line tool (Debian 12 has it in the `openssl` package) in a temporary
 * folder that lives as long as this object; generate() fails, saying why, when the tool is missing. The
 * keys are 2048-bit RSA; certificates are valid from an hour ago for two days.
 *
 * Usage:
 * ```cpp
 * LokiTestCertificates certificates;
 * QString why;
 * if (!certificates.generate(&why))
 *     QSKIP(qPrintable(why));
 * LokiTestReceiver receiver;
 * QVERIFY(receiver.listenTls(certificates.serverConfiguration()));
 * QSslConfiguration client = QSslConfiguration::defaultConfiguration();
 * client.setCaCertificates({certificates.caCertificate()});
 * ```
 *
 * Thread safety: generate() is a one-time setup; after it the object is read-only and may be read from any
 * thread.
 */
class LokiTestCertificates
{
public:
    LokiTestCertificates();
    ~LokiTestCertificates();
    LokiTestCertificates(const LokiTestCertificates &) = delete;
    LokiTestCertificates &operator=(const LokiTestCertificates &) = delete;

    /** Generates every certificate and key. Returns false, with the reason in @p error, when it cannot. */
    bool generate(QString *error = nullptr);
    /** Whether generate() succeeded. */
    bool isValid() const;

    /** The folder holding the PEM files below (empty before generate()). */
    QString directory() const;
    QString caCertificatePath() const;     ///< ca.pem
    QString serverCertificatePath() const; ///< server.pem
    QString serverKeyPath() const;         ///< server.key (unencrypted PEM)
    QString clientCertificatePath() const; ///< client.pem
    QString clientKeyPath() const;         ///< client.key (unencrypted PEM)

#if QT_CONFIG(ssl)
    QSslCertificate caCertificate() const;
    QSslCertificate serverCertificate() const;
    QSslKey serverKey() const;
    QSslCertificate clientCertificate() const;
    QSslKey clientKey() const;

    /**
     * A server configuration with the server certificate and key. With @p requireClientCertificate, the
     * peer must present a certificate signed by the test CA (mutual TLS): peerVerifyMode VerifyPeer and the
     * CA as the only trusted certificate.
     */
    QSslConfiguration serverConfiguration(bool requireClientCertificate = false) const;
    /**
     * A client configuration that trusts the test CA (and only it), with the client certificate and key
     * when @p withClientCertificate.
     */
    QSslConfiguration clientConfiguration(bool withClientCertificate = false) const;
#endif

private:
    struct Private;
    std::unique_ptr<Private> d;
};

#endif // LOKIQT_LOKITESTCERTIFICATES_H
