// SPDX-License-Identifier: MIT
// Against a real Loki, when LOKIQT_TEST_LOKI_URL names one: push, then read back through query_range.
#include <lokiqt/lokiclient.h>

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QUrlQuery>
#include <QtCore/QUuid>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QtTest>

namespace {
// Reads back the lines of streams matching @p selector from Loki, newest last.
QStringList queryLines(const QUrl &base, const QString &selector, qint64 startNs)
{
    QNetworkAccessManager nam;
    QUrl url = base;
    url.setPath(url.path() + QStringLiteral("/loki/api/v1/query_range"));
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("query"), selector);
    query.addQueryItem(QStringLiteral("start"), QString::number(startNs));
    query.addQueryItem(QStringLiteral("direction"), QStringLiteral("forward"));
    query.addQueryItem(QStringLiteral("limit"), QStringLiteral("1000"));
    url.setQuery(query);
    QNetworkReply *reply = nam.get(QNetworkRequest(url));
    QSignalSpy finished(reply, &QNetworkReply::finished);
    if (!finished.wait(10000))
        return {};
    QStringList lines;
    const QJsonArray result = QJsonDocument::fromJson(reply->readAll())
                                  .object()
                                  .value(QStringLiteral("data"))
                                  .toObject()
                                  .value(QStringLiteral("result"))
                                  .toArray();
    for (const QJsonValue &stream : result) {
        for (const QJsonValue &value : stream.toObject().value(QStringLiteral("values")).toArray())
            lines << value.toArray().at(1).toString();
    }
    reply->deleteLater();
    return lines;
}
} // namespace

class tst_RealLoki : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void pushThenQueryBack_data()
    {
        QTest::addColumn<LokiConfig::Encoding>("encoding");
        QTest::newRow("protobuf+snappy") << LokiConfig::Encoding::ProtobufSnappy;
        QTest::newRow("json") << LokiConfig::Encoding::Json;
        QTest::newRow("json+gzip") << LokiConfig::Encoding::JsonGzip;
    }
    void pushThenQueryBack()
    {
        QFETCH(LokiConfig::Encoding, encoding);
        const QString base = qEnvironmentVariable("LOKIQT_TEST_LOKI_URL");
        if (base.isEmpty())
            QSKIP("LOKIQT_TEST_LOKI_URL is not set: no real Loki to test against");
        const QString run = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
        const qint64 startNs = (QDateTime::currentMSecsSinceEpoch() - 60000) * 1000000;
        LokiConfig config;
        config.url = QUrl(base);
        config.labels = {{QStringLiteral("app"), QStringLiteral("lokiqt-test")},
                         {QStringLiteral("run"), run}};
        config.encoding = encoding;
        // Loki 2.x refuses structured metadata; LOKIQT_TEST_LOKI_METADATA=1 tests it against a Loki 3.
        const bool metadata = qEnvironmentVariableIntValue("LOKIQT_TEST_LOKI_METADATA") == 1;
        config.structuredMetadata = metadata;
        config.structuredMetadataFields = {QStringLiteral("trace_id")};
        LokiClient client(config);
        QStringList expected;
        for (int i = 0; i < 10; ++i) {
            LokiEntry entry(QStringLiteral("entry %1").arg(i));
            entry.fields = {{QStringLiteral("note"), QStringLiteral("with \"quotes\" and spaces")},
                            {QStringLiteral("trace_id"), QStringLiteral("t%1").arg(i)}};
            expected << (metadata
                             ? QStringLiteral("entry %1 note=\"with \\\"quotes\\\" and spaces\"").arg(i)
                             : QStringLiteral("entry %1 note=\"with \\\"quotes\\\" and spaces\" trace_id=t%1")
                                   .arg(i));
            QCOMPARE(client.send(entry), LokiClient::SendResult::Accepted);
        }
        QVERIFY2(client.flush(QDeadlineTimer(30000)), qPrintable(client.lastError().toString()));
        const QString selector = QStringLiteral("{app=\"lokiqt-test\", run=\"%1\"}").arg(run);
        QTRY_COMPARE_WITH_TIMEOUT(queryLines(QUrl(base), selector, startNs), expected, 60000);
    }

    // Loki's own parsers read the formats back: `| logfmt` and `| json` extract level and the fields.
    void lineFormatsParseInLoki_data()
    {
        QTest::addColumn<LokiConfig::LineFormat>("format");
        QTest::addColumn<QString>("parser");
        QTest::newRow("logfmt") << LokiConfig::LineFormat::Logfmt << QStringLiteral("logfmt");
        QTest::newRow("json") << LokiConfig::LineFormat::Json << QStringLiteral("json");
    }
    void lineFormatsParseInLoki()
    {
        QFETCH(LokiConfig::LineFormat, format);
        QFETCH(QString, parser);
        const QString base = qEnvironmentVariable("LOKIQT_TEST_LOKI_URL");
        if (base.isEmpty())
            QSKIP("LOKIQT_TEST_LOKI_URL is not set: no real Loki to test against");
        const QString run = QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
        const qint64 startNs = (QDateTime::currentMSecsSinceEpoch() - 60000) * 1000000;
        LokiConfig config;
        config.url = QUrl(base);
        config.labels = {{QStringLiteral("app"), QStringLiteral("lokiqt-test")},
                         {QStringLiteral("run"), run}};
        config.lineFormat = format;
        config.structuredMetadata = false;
        LokiClient client(config);
        for (int i = 0; i < 6; ++i) {
            LokiEntry entry(QStringLiteral("order %1 \"done\"").arg(i));
            entry.fields = {
                {QStringLiteral("level"), i % 2 ? QStringLiteral("error") : QStringLiteral("info")},
                {QStringLiteral("order_id"), 1000 + i}};
            QCOMPARE(client.send(entry), LokiClient::SendResult::Accepted);
        }
        QVERIFY2(client.flush(QDeadlineTimer(30000)), qPrintable(client.lastError().toString()));
        const QString query = QStringLiteral("{app=\"lokiqt-test\", run=\"%1\"} | %2 | level=\"error\" | "
                                             "order_id > 1002 | line_format \"{{.msg}}\"")
                                  .arg(run, parser);
        QTRY_COMPARE_WITH_TIMEOUT(
            queryLines(QUrl(base), query, startNs),
            (QStringList{QStringLiteral("order 3 \"done\""), QStringLiteral("order 5 \"done\"")}), 60000);
    }
};

QTEST_GUILESS_MAIN(tst_RealLoki)
#include "tst_realloki.moc"
