// SPDX-License-Identifier: MIT
// Bad input gets a clear outcome and loses nothing else: huge lines, NUL bytes, label values that need
// escaping, unbounded field values, timestamps Loki refuses.
#include <lokiqt/lokiclient.h>

#include "lokitestreceiver.h"
#include "render_p.h"

#include <QtTest/QtTest>

#include <memory>

using namespace std::chrono_literals;
using Encoding = LokiConfig::Encoding;

namespace {
constexpr int longWait = 30000;

LokiConfig configFor(const LokiTestReceiver &receiver, Encoding encoding)
{
    LokiConfig config;
    config.url = receiver.url();
    config.labels = {{QStringLiteral("app"), QStringLiteral("bad")}};
    config.encoding = encoding;
    config.batch.maxWait = 1h; // every test flushes explicitly
    return config;
}
} // namespace

class tst_BadInput : public QObject
{
    Q_OBJECT
private:
    std::unique_ptr<LokiTestReceiver> receiver;

private Q_SLOTS:
    void init()
    {
        receiver = std::make_unique<LokiTestReceiver>();
        QVERIFY(receiver->listen());
        receiver->setMaxLineBytes(256 * 1024); // Loki's default
    }
    void cleanup() { receiver.reset(); }

    void encodings_data()
    {
        QTest::addColumn<Encoding>("encoding");
        QTest::newRow("protobuf") << Encoding::ProtobufSnappy;
        QTest::newRow("json") << Encoding::Json;
        QTest::newRow("json+gzip") << Encoding::JsonGzip;
    }

    void tenMebibyteLineIsCutAndTheRestDelivered_data() { encodings_data(); }
    void tenMebibyteLineIsCutAndTheRestDelivered()
    {
        QFETCH(Encoding, encoding);
        LokiClient client(configFor(*receiver, encoding));
        client.send(QStringLiteral("before"));
        QCOMPARE(client.sendUtf8(QByteArray(10 * 1024 * 1024, 'z')), LokiClient::SendResult::Accepted);
        client.send(QStringLiteral("after"));
        QVERIFY2(client.flush(QDeadlineTimer(longWait)), qPrintable(client.lastError().toString()));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 3);
        QCOMPARE(got[0].line, QStringLiteral("before"));
        QCOMPARE(got[2].line, QStringLiteral("after"));
        QVERIFY(got[1].line.size() <= 256 * 1024);
        QVERIFY(got[1].line.endsWith(QStringLiteral(" [lokiqt: 10485760 bytes, cut]")));
        QCOMPARE(client.counters().truncated, 1);
    }

    void labelValuesThatNeedEscapingRoundTrip_data() { encodings_data(); }
    void labelValuesThatNeedEscapingRoundTrip()
    {
        QFETCH(Encoding, encoding);
        LokiClient client(configFor(*receiver, encoding));
        const QString tricky = QStringLiteral("say \"hi\" \\ back\\slash\nnew line\ttab ünï");
        LokiEntry entry(QStringLiteral("escaped"));
        entry.labels = {{QStringLiteral("note"), tricky}};
        QCOMPARE(client.send(entry), LokiClient::SendResult::Accepted);
        QVERIFY2(client.flush(QDeadlineTimer(longWait)), qPrintable(client.lastError().toString()));
        QCOMPARE(receiver->entries().size(), 1);
        QCOMPARE(receiver->entries().first().labels.value(QStringLiteral("note")), tricky);
    }

    void nulBytesAndControlCharactersArrive_data() { encodings_data(); }
    void nulBytesAndControlCharactersArrive()
    {
        QFETCH(Encoding, encoding);
        LokiClient client(configFor(*receiver, encoding));
        const QByteArray raw("a\0b\x01\x1f\x7f end", 10);
        client.sendUtf8(raw);
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entries().first().line.toUtf8(), raw);
    }

    void invalidUtf8IsReplacedAndNothingElseLost_data() { encodings_data(); }
    void invalidUtf8IsReplacedAndNothingElseLost()
    {
        QFETCH(Encoding, encoding);
        LokiClient client(configFor(*receiver, encoding));
        client.send(QStringLiteral("before"));
        // A stray continuation byte, an overlong '/', a truncated sequence, a surrogate, a byte never valid.
        QCOMPARE(client.sendUtf8(QByteArray("bad \x80 \xc0\xaf \xe2\x82 \xed\xa0\x80 \xff end")),
                 LokiClient::SendResult::Accepted);
        client.send(QStringLiteral("after"));
        QVERIFY2(client.flush(QDeadlineTimer(longWait)), qPrintable(client.lastError().toString()));
        const QStringList got = lines(receiver->entries());
        QCOMPARE(got.size(), 3);
        QCOMPARE(got[0], QStringLiteral("before"));
        QVERIFY(got[1].startsWith(QLatin1String("bad ")) && got[1].endsWith(QLatin1String(" end")));
        QVERIFY(got[1].contains(QChar(0xFFFD))); // Loki would refuse the push otherwise
        QVERIFY(LokiRender::isValidUtf8(got[1].toUtf8()));
        QCOMPARE(got[2], QStringLiteral("after"));
    }

    void emptyLinesArriveEmpty()
    {
        LokiClient client(configFor(*receiver, Encoding::ProtobufSnappy));
        client.send(QString());
        client.sendUtf8(QByteArray());
        client.send(QStringLiteral("not empty"));
        QVERIFY2(client.flush(QDeadlineTimer(longWait)), qPrintable(client.lastError().toString()));
        QCOMPARE(lines(receiver->entries()),
                 (QStringList{QString(), QString(), QStringLiteral("not empty")}));
    }

    void unboundedFieldValuesCreateNoStreams()
    {
        LokiClient client(configFor(*receiver, Encoding::ProtobufSnappy));
        for (int i = 0; i < 100000; ++i) // not allow-listed: they stay in the line
            client.send(LokiEntry(QStringLiteral("hit"), {{QStringLiteral("request_id"), i}}));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        QCOMPARE(receiver->entryCount(), 100000);
        QSet<QString> streams;
        for (const ReceivedPush &push : receiver->pushes()) {
            for (const ReceivedStream &stream : push.streams)
                streams.insert(LokiTestReceiver::formatLabels(stream.labels));
        }
        QCOMPARE(streams.size(), 1);
        QCOMPARE(receiver->entries().last().line, QStringLiteral("hit request_id=99999"));
        QCOMPARE(client.counters().demoted, 0);
    }

    void timestampsLokiRefusesAreReportedAndNothingElseLost()
    {
        receiver->setCheckTimestamps(true);
        LokiClient client(configFor(*receiver, Encoding::ProtobufSnappy));
        LokiEntry ancient(QStringLiteral("from 1999"));
        ancient.timestampNs = 946684800LL * 1000000000;
        client.send(QStringLiteral("fine 1"));
        client.send(ancient);
        QVERIFY(!client.flush(QDeadlineTimer(longWait))); // the push is refused in part
        const LokiError error = client.lastError();
        QCOMPARE(error.httpStatus(), 400);
        QVERIFY2(error.message().contains(QStringLiteral("timestamp too old")), qPrintable(error.message()));
        QVERIFY(!error.willRetry());
        client.send(QStringLiteral("fine 2"));
        QVERIFY(client.flush(QDeadlineTimer(longWait)));
        // Loki stores the valid entries of a partly refused push; the client resends nothing.
        QCOMPARE(lines(receiver->entries()),
                 (QStringList{QStringLiteral("fine 1"), QStringLiteral("fine 2")}));
        QCOMPARE(receiver->pushCount(), 2);
    }
};

QTEST_GUILESS_MAIN(tst_BadInput)
#include "tst_badinput.moc"
