// SPDX-License-Identifier: MIT
// Wire formats, structured metadata, limits, the cardinality guard, auth and TLS, against the test receiver
// (which decodes protobuf with the official protobuf library, independently of lokiqt's encoder).
#include <lokiqt/lokiclient.h>

#include "lokitestcertificates.h"
#include "lokitestreceiver.h"

#include <QtTest/QtTest>

#include <memory>

using namespace std::chrono_literals;
using Encoding = LokiConfig::Encoding;

namespace {
constexpr int longWait = 20000;

LokiConfig configFor(const LokiTestReceiver &receiver, Encoding encoding = Encoding::ProtobufSnappy)
{
    LokiConfig config;
    config.url = receiver.url();
    config.labels = {{QStringLiteral("app"), QStringLiteral("wire")}};
    config.encoding = encoding;
    config.batch.maxWait = 20ms;
    config.retry.initialBackoff = 20ms;
    config.retry.maxBackoff = 100ms;
    return config;
}

bool anyError(const QSignalSpy &spy, LokiError::Kind kind, const QString &text = QString())
{
    for (const QList<QVariant> &args : spy) {
        const auto error = args.at(0).value<LokiError>();
        if (error.kind() == kind && error.message().contains(text))
            return true;
    }
    return false;
}
} // namespace

class tst_WireFormats : public QObject
{
    Q_OBJECT
private:
    std::unique_ptr<LokiTestReceiver> receiver;

private Q_SLOTS:
    void init()
    {
        receiver = std::make_unique<LokiTestReceiver>();
        QVERIFY(receiver->listen());
    }
    void cleanup() { receiver.reset(); }

    void encodings_data()
    {
        QTest::addColumn<Encoding>("encoding");
        QTest::addColumn<QByteArray>("contentType");
        QTest::addColumn<QByteArray>("contentEncoding");
        QTest::newRow("protobuf+snappy")
            << Encoding::ProtobufSnappy << QByteArray("application/x-protobuf") << QByteArray();
        QTest::newRow("json") << Encoding::Json << QByteArray("application/json") << QByteArray();
        QTest::newRow("json+gzip") << Encoding::JsonGzip << QByteArray("application/json")
                                   << QByteArray("gzip");
    }
    void encodings()
    {
        QFETCH(Encoding, encoding);
        QFETCH(QByteArray, contentType);
        QFETCH(QByteArray, contentEncoding);
        LokiConfig config = configFor(*receiver, encoding);
        config.structuredMetadataFields = {QStringLiteral("trace_id")};
        LokiClient client(config);
        const QString longLine(70000, QLatin1Char('L')); // multi-byte length prefixes
        const QString unicode = QStringLiteral("ünïcödé 日本語 \"quoted\" \\ back\nslash\ttab");
        LokiEntry traced(QStringLiteral("traced"));
        traced.fields = {{QStringLiteral("trace_id"), QStringLiteral("abc123")}, {QStringLiteral("n"), 1}};
        LokiEntry other(QStringLiteral("other stream"));
        other.labels = {{QStringLiteral("level"), QStringLiteral("warning")}};
        LokiEntry old(QStringLiteral("explicit time"));
        old.timestampNs = 1732665600123456789LL;
        client.send(QStringLiteral("plain"));
        client.send(longLine);
        client.send(unicode);
        client.send(traced);
        client.send(other);
        client.send(old);
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        const QList<ReceivedPush> pushes = receiver->pushes();
        QCOMPARE(pushes.size(), 1);
        QCOMPARE(pushes[0].status, 204);
        QCOMPARE(pushes[0].contentType, contentType);
        QCOMPARE(pushes[0].contentEncoding, contentEncoding);
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 6);
        const QStringList expected{QStringLiteral("plain"),
                                   longLine,
                                   unicode,
                                   QStringLiteral("traced n=1"),
                                   QStringLiteral("explicit time"),
                                   QStringLiteral("other stream")};
        // Streams come in order of first appearance, entries of a stream in timestamp order.
        QStringList mainStream = lines(receiver->entries({{QStringLiteral("app"), QStringLiteral("wire")}}));
        QCOMPARE(mainStream.size(), 6);
        QCOMPARE(lines(receiver->entries({{QStringLiteral("level"), QStringLiteral("warning")}})),
                 QStringList{QStringLiteral("other stream")});
        QStringList all = lines(got);
        std::sort(all.begin(), all.end());
        QStringList sortedExpected = expected;
        std::sort(sortedExpected.begin(), sortedExpected.end());
        QCOMPARE(all, sortedExpected);
        for (const ReceivedEntry &e : got) {
            if (e.line == QLatin1String("traced n=1"))
                QCOMPARE(e.metadata,
                         (QMap<QString, QString>{{QStringLiteral("trace_id"), QStringLiteral("abc123")}}));
            else
                QVERIFY(e.metadata.isEmpty());
            if (e.line == QLatin1String("explicit time"))
                QCOMPARE(e.timestampNs, 1732665600123456789LL);
        }
    }

    void protobufIsSmallerThanJson()
    {
        qint64 bytes[2] = {0, 0};
        int i = 0;
        for (Encoding encoding : {Encoding::ProtobufSnappy, Encoding::Json}) {
            receiver->clear();
            LokiClient client(configFor(*receiver, encoding));
            for (int n = 0; n < 500; ++n)
                client.send(QStringLiteral("GET /api/items/%1 200 12ms user-agent=kiosk/1.4").arg(n % 37));
            QVERIFY(client.flush(QDeadlineTimer(longWait)));
            for (const ReceivedPush &push : receiver->pushes())
                bytes[i] += push.bodyBytes;
            ++i;
        }
        QVERIFY2(bytes[0] * 3 < bytes[1], qPrintable(QStringLiteral("%1 vs %2").arg(bytes[0]).arg(bytes[1])));
    }

    void metadataOffPutsFieldsInTheLine()
    {
        LokiConfig config = configFor(*receiver);
        config.structuredMetadataFields = {QStringLiteral("trace_id")};
        config.structuredMetadata = false;
        LokiClient client(config);
        client.send(LokiEntry(QStringLiteral("m"), {{QStringLiteral("trace_id"), QStringLiteral("t1")}}));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        const ReceivedEntry got = receiver->entries().first();
        QCOMPARE(got.line, QStringLiteral("m trace_id=t1"));
        QVERIFY(got.metadata.isEmpty());
    }

    void serverWithoutMetadataSaysWhichSettingToTurnOff()
    {
        receiver->setRejectStructuredMetadata(true);
        LokiConfig config = configFor(*receiver);
        config.structuredMetadataFields = {QStringLiteral("trace_id")};
        LokiClient client(config);
        client.send(LokiEntry(QStringLiteral("m"), {{QStringLiteral("trace_id"), QStringLiteral("t1")}}));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        const LokiError error = client.lastError();
        QCOMPARE(error.httpStatus(), 400);
        QVERIFY2(error.message().contains(QStringLiteral("LokiConfig::structuredMetadata")),
                 qPrintable(error.message()));
        QVERIFY(!error.willRetry());
    }

    void longLinesAreCutWithAMarker()
    {
        receiver->setMaxLineBytes(1000);
        LokiConfig config = configFor(*receiver);
        config.limits.maxLineBytes = 1000;
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        // A multi-byte character straddles the cut: it must not be split.
        const QString line = QString(990, QLatin1Char('a')) + QString(100, QChar(0x00e9));
        client.send(QStringLiteral("before"));
        client.send(line);
        client.send(QString(5000, QLatin1Char('b')));
        client.send(QStringLiteral("after"));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 4);
        QCOMPARE(got[0].line, QStringLiteral("before"));
        QCOMPARE(got[3].line, QStringLiteral("after"));
        for (int i : {1, 2}) {
            QVERIFY(got[i].line.toUtf8().size() <= 1000);
            QVERIFY2(got[i].line.contains(QStringLiteral("bytes, cut]")), qPrintable(got[i].line.right(60)));
            QVERIFY(!got[i].line.contains(QChar::ReplacementCharacter));
        }
        QCOMPARE(client.counters().truncated, 2);
        QTRY_VERIFY_WITH_TIMEOUT(anyError(errors, LokiError::Kind::Limit, QStringLiteral("cut")), longWait);
    }

    void tooManyOrTooLongLabelsAreRefusedBeforeAPush()
    {
        LokiClient client(configFor(*receiver));
        LokiEntry many(QStringLiteral("many"));
        for (int i = 0; i < 15; ++i)
            many.labels.insert(QStringLiteral("l%1").arg(i), QStringLiteral("v"));
        QCOMPARE(client.send(many), LokiClient::SendResult::Rejected); // 15 + app = 16
        QVERIFY(client.lastError().message().contains(QStringLiteral("16 labels")));
        LokiEntry longValue(QStringLiteral("long"));
        longValue.labels = {{QStringLiteral("x"), QString(3000, QLatin1Char('v'))}};
        QCOMPARE(client.send(longValue), LokiClient::SendResult::Rejected);
        LokiEntry longName(QStringLiteral("long name"));
        longName.labels = {{QString(1100, QLatin1Char('n')), QStringLiteral("v")}};
        QCOMPARE(client.send(longName), LokiClient::SendResult::Rejected);
        client.send(QStringLiteral("fine"));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(lines(receiver->entries()), QStringList{QStringLiteral("fine")});
        QCOMPARE(client.counters().rejected, 3);
    }

    void tooLargeBatchesAreSplitDownToSingleEntries_data()
    {
        QTest::addColumn<bool>("gateway413");
        QTest::newRow("413 from a gateway") << true;
        QTest::newRow("500 ResourceExhausted from Loki") << false;
    }
    void tooLargeBatchesAreSplitDownToSingleEntries()
    {
        QFETCH(bool, gateway413);
        LokiConfig config = configFor(*receiver, Encoding::Json); // sizes are predictable uncompressed
        config.batch.maxWait = 1h;
        LokiClient client(config);
        if (gateway413)
            receiver->setMaxBodyBytes(900);
        else
            receiver->setMaxDecodedBytes(900);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        for (int i = 0; i < 16; ++i)
            client.send(QStringLiteral("%1 ").arg(i) + QString(100, QLatin1Char('x')));
        client.send(QString(2000, QLatin1Char('y'))); // too large even alone
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(client.sent(), 16);
        QCOMPARE(client.failed(), 1);
        QVERIFY(client.counters().splits >= 4);
        QStringList got = lines(receiver->entries());
        QCOMPARE(got.size(), 16);
        for (int i = 0; i < 16; ++i)
            QVERIFY(got[i].startsWith(QStringLiteral("%1 ").arg(i))); // order kept across the halves
        QTRY_VERIFY_WITH_TIMEOUT(!errors.isEmpty(), longWait);
        QCOMPARE(client.lastError().entries(), 1);
        QVERIFY(!client.lastError().willRetry());
    }

    void protobufRefusedFallsBackToJsonOnce()
    {
        receiver->setAcceptProtobuf(false);
        LokiClient client(configFor(*receiver));
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        client.send(QStringLiteral("one"));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        client.send(QStringLiteral("two"));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(lines(receiver->entries()), (QStringList{QStringLiteral("one"), QStringLiteral("two")}));
        const QList<ReceivedPush> pushes = receiver->pushes();
        QCOMPARE(pushes.size(), 3); // one refused protobuf push, then JSON for good
        QCOMPARE(pushes[0].status, 415);
        QCOMPARE(pushes[1].contentType, QByteArray("application/json"));
        QCOMPARE(pushes[2].contentType, QByteArray("application/json"));
        QTRY_VERIFY_WITH_TIMEOUT(anyError(errors, LokiError::Kind::Limit, QStringLiteral("JSON")), longWait);
        int limitErrors = 0;
        for (const QList<QVariant> &args : std::as_const(errors))
            limitErrors += args.at(0).value<LokiError>().kind() == LokiError::Kind::Limit ? 1 : 0;
        QCOMPARE(limitErrors, 1);
        QCOMPARE(client.failed(), 0);
    }

    void cardinalityGuardDemotesExtraLabels_data()
    {
        QTest::addColumn<bool>("metadata");
        QTest::newRow("into structured metadata") << true;
        QTest::newRow("into the line") << false;
    }
    void cardinalityGuardDemotesExtraLabels()
    {
        QFETCH(bool, metadata);
        LokiConfig config = configFor(*receiver);
        config.limits.maxStreams = 3;
        config.structuredMetadata = metadata;
        config.labelAllowList = {QStringLiteral("user")};
        LokiClient client(config);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);
        for (int i = 0; i < 20; ++i)
            client.send(
                LokiEntry(QStringLiteral("hit"), {{QStringLiteral("user"), QStringLiteral("u%1").arg(i)}}));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 20);
        QSet<QString> streams;
        int demoted = 0;
        for (const ReceivedEntry &e : got) {
            streams.insert(LokiTestReceiver::formatLabels(e.labels));
            if (!e.labels.contains(QStringLiteral("user"))) {
                ++demoted;
                if (metadata)
                    QVERIFY(e.metadata.value(QStringLiteral("user")).startsWith(QLatin1Char('u')));
                else
                    QVERIFY2(e.line.contains(QStringLiteral("user=u")), qPrintable(e.line));
            }
        }
        QVERIFY2(streams.size() <= 3, qPrintable(QStringList(streams.values()).join(QLatin1Char(' '))));
        QCOMPARE(client.counters().demoted, demoted);
        QVERIFY(demoted >= 17);
        QTRY_VERIFY_WITH_TIMEOUT(anyError(errors, LokiError::Kind::Limit, QStringLiteral("maxStreams")),
                                 longWait);
        int reports = 0;
        for (const QList<QVariant> &args : std::as_const(errors))
            reports += args.at(0).value<LokiError>().message().contains(QStringLiteral("maxStreams")) ? 1 : 0;
        QCOMPARE(reports, 1); // reported once, not per entry
    }

    void invalidUtf8IsReplacedNotLost()
    {
        LokiClient client(configFor(*receiver));
        QCOMPARE(client.sendUtf8(QByteArray("valid ascii")), LokiClient::SendResult::Accepted);
        QCOMPARE(client.sendUtf8(QByteArray("caf\xc3\xa9 ok")), LokiClient::SendResult::Accepted);
        QCOMPARE(client.sendUtf8(QByteArray("bad \xff\xfe byte")), LokiClient::SendResult::Accepted);
        QCOMPARE(client.sendUtf8(QByteArray("nul \0 inside", 12)), LokiClient::SendResult::Accepted);
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        const QStringList got = lines(receiver->entries());
        QCOMPARE(got.size(), 4);
        QCOMPARE(got[0], QStringLiteral("valid ascii"));
        QCOMPARE(got[1], QStringLiteral("café ok"));
        QVERIFY(got[2].startsWith(QStringLiteral("bad ")) && got[2].contains(QChar::ReplacementCharacter));
        QCOMPARE(got[3], QString::fromUtf8("nul \0 inside", 12));
    }

    void authentication_data()
    {
        QTest::addColumn<int>("mode");
        QTest::newRow("basic auth settings") << 0;
        QTest::newRow("basic auth from the URL") << 1;
        QTest::newRow("bearer token") << 2;
    }
    void authentication()
    {
        QFETCH(int, mode);
        LokiConfig config = configFor(*receiver);
        config.tenant = QStringLiteral("tenant-7");
        receiver->setRequiredTenant(QStringLiteral("tenant-7"));
        if (mode == 2) {
            receiver->setRequiredBearerToken(QStringLiteral("tok-123456"));
            config.bearerToken = QStringLiteral("tok-123456");
        } else {
            receiver->setRequiredBasicAuth(QStringLiteral("tenant-7"), QStringLiteral("pa55-word"));
            if (mode == 0) {
                config.basicAuthUser = QStringLiteral("tenant-7");
                config.basicAuthPassword = QStringLiteral("pa55-word");
            } else {
                config.url.setUserName(QStringLiteral("tenant-7"));
                config.url.setPassword(QStringLiteral("pa55-word"));
            }
        }
        LokiClient client(config);
        client.send(QStringLiteral("authorized"));
        QVERIFY2(client.flush(QDeadlineTimer(longWait)), qPrintable(client.lastError().toString()));
        QCOMPARE(receiver->entryCount(), 1);
        QCOMPARE(receiver->pushes().first().headers.value("x-scope-orgid"), QByteArray("tenant-7"));
    }

    void wrongCredentialsFailAtOnceAndSecretsStayOut()
    {
        receiver->setRequiredBasicAuth(QStringLiteral("u"), QStringLiteral("right-password"));
        LokiConfig config = configFor(*receiver);
        config.basicAuthUser = QStringLiteral("u");
        config.basicAuthPassword = QStringLiteral("wrong-password");
        config.headers = {{QByteArray("X-Api-Key"), QByteArray("key-abcdef")}};
        LokiClient client(config);
        // A server that echoes what it got must not make the client repeat a secret.
        receiver->failNext(1, 401, "bad credentials: wrong-password key-abcdef");
        client.send(QStringLiteral("refused"));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        const QString text = client.lastError().toString();
        QCOMPARE(client.lastError().httpStatus(), 401);
        QVERIFY2(!text.contains(QStringLiteral("wrong-password")), qPrintable(text));
        QVERIFY2(!text.contains(QStringLiteral("key-abcdef")), qPrintable(text));
        QCOMPARE(receiver->pushCount(), 1); // 401 is not retried
    }

    void redirectsNeverCarryCredentialsToAnotherHost()
    {
        LokiTestReceiver elsewhere; // another origin: same host, other port
        QVERIFY(elsewhere.listen());
        LokiConfig config = configFor(*receiver);
        config.basicAuthUser = QStringLiteral("tenant");
        config.basicAuthPassword = QStringLiteral("s3cret-token");
        config.retry.maxAttempts = 1;
        LokiClient client(config);
        receiver->redirectNext(1, 307, elsewhere.pushUrl());
        client.send(QStringLiteral("stays home"));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(elsewhere.pushCount(), 0); // the redirect was not followed, so nothing went there
        QCOMPARE(receiver->pushCount(), 1);
        QVERIFY2(!client.lastError().toString().contains(QStringLiteral("s3cret-token")),
                 qPrintable(client.lastError().toString()));
    }

    void hugeErrorBodiesAreCapped()
    {
        LokiConfig config = configFor(*receiver);
        LokiClient client(config);
        receiver->failNext(1, 400, QByteArray(8 * 1024 * 1024, 'E')); // a hostile 8 MiB error answer
        client.send(QStringLiteral("x"));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(client.lastError().httpStatus(), 400);
        QVERIFY(client.lastError().message().size() <= 1100); // Loki's reasons are short; the rest is cut
        client.send(QStringLiteral("y"));
        QVERIFY(client.flush(QDeadlineTimer(longWait))); // and the client goes on
    }

    void urlPasswordNeverInNetworkErrors()
    {
        receiver->stop();
        LokiConfig config = configFor(*receiver);
        config.url.setUserName(QStringLiteral("user"));
        config.url.setPassword(QStringLiteral("hunter22"));
        config.retry.maxAttempts = 1;
        LokiClient client(config);
        client.send(QStringLiteral("x"));
        QVERIFY(!client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(client.lastError().kind(), LokiError::Kind::Network);
        QVERIFY2(!client.lastError().toString().contains(QStringLiteral("hunter22")),
                 qPrintable(client.lastError().toString()));
    }

#if QT_CONFIG(ssl)
    void tls_data()
    {
        QTest::addColumn<bool>("mutual");
        QTest::newRow("server certificate from a custom CA") << false;
        QTest::newRow("mutual TLS") << true;
    }
    void tls()
    {
        QFETCH(bool, mutual);
        LokiTestCertificates certificates;
        QString why;
        QVERIFY2(certificates.generate(&why), qPrintable(why));
        LokiTestReceiver tlsReceiver;
        QVERIFY(tlsReceiver.listenTls(certificates.serverConfiguration(mutual)));
        LokiConfig config = configFor(tlsReceiver);
        QCOMPARE(config.url.scheme(), QStringLiteral("https"));
        config.sslConfiguration = certificates.clientConfiguration(mutual);
        {
            LokiClient client(config);
            client.send(QStringLiteral("over tls"));
            QVERIFY2(client.flush(QDeadlineTimer(longWait)), qPrintable(client.lastError().toString()));
        }
        QCOMPARE(lines(tlsReceiver.entries()), QStringList{QStringLiteral("over tls")});

        // Without trusting the CA (or without the client certificate) nothing gets through.
        config.sslConfiguration = mutual ? certificates.clientConfiguration(false) : QSslConfiguration();
        config.retry.maxAttempts = 1;
        LokiClient refused(config);
        refused.send(QStringLiteral("must not arrive"));
        QVERIFY(!refused.flush(QDeadlineTimer(longWait)));
        QCOMPARE(refused.lastError().kind(), LokiError::Kind::Network);
        QCOMPARE(tlsReceiver.entryCount(), 1);
    }
#endif
};

QTEST_GUILESS_MAIN(tst_WireFormats)
#include "tst_wireformats.moc"
