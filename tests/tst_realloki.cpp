// SPDX-License-Identifier: MIT
// Against a real Grafana Loki: what only a real Loki can tell, everything read back by query.
//
// Which Loki:
// - LOKIQT_TEST_LOKI_URL set: that one (its tests that need our own instance's --auth and gateway skip);
// - else, when ../shared/realloki/start.sh exists beside the source tree (the project's CI machine), or in
//   the folder LOKIQT_REALLOKI_DIR names: the test starts a Loki 2.9.13 itself with `start.sh --auth
//   --gateway` on free ports (multi-tenant, plus an nginx HTTPS gateway with basic auth and a 4 MiB body
//   limit like the Loki Helm chart's) and stops it at the end with stop.sh, also when a test fails;
// - else every test skips, saying so (a user's clone has no ../shared), unless LOKIQT_TEST_REQUIRE_LOKI=1
//   (.ci/run sets it) makes that a failure.

#include <lokiqt/lokiclient.h>

#include <QtCore/QDir>
#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QProcess>
#include <QtCore/QScopeGuard>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtCore/QUrlQuery>
#include <QtCore/QUuid>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpServer>
#include <QtTest/QtTest>
#if QT_CONFIG(ssl)
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#endif

namespace {
constexpr int readBackWait = 120000; // Loki makes pushed entries queryable within a second or two
constexpr int flushWait = 120000;

QString newRunId()
{
    return QUuid::createUuid().toString(QUuid::WithoutBraces).left(8);
}

// The real Loki this test talks to, started by it or named by LOKIQT_TEST_LOKI_URL.
struct RealLoki
{
    QString scripts; ///< the folder holding start.sh and stop.sh, when we start Loki ourselves
    quint16 port = 0;
    QUrl url;          ///< Loki itself
    QUrl gateway;      ///< the nginx gateway (HTTPS, basic auth loki / s3cret), when we started it
    QString caPath;    ///< the gateway's CA
    bool ours = false; ///< started by this test: stop it at the end
    bool multiTenant = false;
    QString skipReason;

    ~RealLoki() { stop(false); }

    // A port P with P and P + 443 (the gateway's) both free on 127.0.0.1.
    static quint16 freePortPair()
    {
        for (int i = 0; i < 50; ++i) {
            QTcpServer loki;
            if (!loki.listen(QHostAddress::LocalHost, 0) || loki.serverPort() > 65091)
                continue;
            QTcpServer gateway;
            if (gateway.listen(QHostAddress::LocalHost, quint16(loki.serverPort() + 443)))
                return loki.serverPort();
        }
        return 0;
    }

    static bool runScript(const QString &script, const QStringList &args, QString *out, QString *err)
    {
        QProcess process;
        process.start(QStringLiteral("bash"), QStringList{script} + args);
        const bool ok = process.waitForStarted(10000) && process.waitForFinished(300000) &&
                        process.exitStatus() == QProcess::NormalExit && process.exitCode() == 0;
        if (!ok && process.state() != QProcess::NotRunning) {
            process.kill();
            process.waitForFinished(10000);
        }
        *out = QString::fromUtf8(process.readAllStandardOutput());
        *err = QString::fromUtf8(process.readAllStandardError());
        return ok;
    }

    // Returns false with skipReason set when there is no Loki to test against; QFAIL-worthy failures
    // (start.sh exists but cannot start Loki) return false with @p error set.
    bool start(QString *error)
    {
        const QString external = qEnvironmentVariable("LOKIQT_TEST_LOKI_URL");
        if (!external.isEmpty()) {
            url = QUrl(external);
            return true;
        }
        // LOKIQT_REALLOKI_DIR names the folder for a checkout that does not sit beside ../shared.
        const QString dir = qEnvironmentVariableIsEmpty("LOKIQT_REALLOKI_DIR")
                                ? QDir::cleanPath(QStringLiteral(LOKIQT_SOURCE_DIR "/../shared/realloki"))
                                : qEnvironmentVariable("LOKIQT_REALLOKI_DIR");
        if (!QFileInfo::exists(dir + QStringLiteral("/start.sh"))) {
            skipReason = QStringLiteral("no real Loki: neither LOKIQT_TEST_LOKI_URL is set nor %1/start.sh "
                                        "exists (it does on the project's CI machine; LOKIQT_REALLOKI_DIR "
                                        "names another folder holding it)")
                             .arg(dir);
            return false;
        }
        scripts = dir;
        port = freePortPair();
        if (port == 0) {
            *error = QStringLiteral("no free port pair for Loki and its gateway");
            return false;
        }
        QElapsedTimer timer;
        timer.start();
        QString out, err;
        ours = true; // from here on, stop.sh cleans up whatever start.sh got to start
        if (!runScript(scripts + QStringLiteral("/start.sh"),
                       {QStringLiteral("--port"), QString::number(port), QStringLiteral("--auth"),
                        QStringLiteral("--gateway")},
                       &out, &err)) {
            *error = QStringLiteral("start.sh --port %1 --auth --gateway failed:\n%2").arg(port).arg(err);
            return false;
        }
        const QStringList urls = out.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        if (urls.size() < 2) {
            *error = QStringLiteral("start.sh printed no URLs:\n%1\n%2").arg(out, err);
            return false;
        }
        url = QUrl(urls.at(0).trimmed());
        gateway = QUrl(urls.at(1).trimmed());
        caPath = QStringLiteral("/tmp/realloki-%1/ca.pem").arg(port);
        multiTenant = true;
        qInfo("real Loki 2.9.13 at %s, gateway %s: ready in %.1f s", qPrintable(url.toString()),
              qPrintable(gateway.toString()), double(timer.elapsed()) / 1000);
        return true;
    }

    void stop(bool clean)
    {
        if (!ours)
            return;
        ours = false;
        QString out, err;
        QStringList args{QStringLiteral("--port"), QString::number(port)};
        if (clean)
            args << QStringLiteral("--clean");
        if (!runScript(scripts + QStringLiteral("/stop.sh"), args, &out, &err))
            qWarning("stop.sh --port %u failed: %s", unsigned(port), qPrintable(err));
    }
};

// Queries Loki (HTTP GET, with X-Scope-OrgID when a tenant is given); the JSON answer, or an empty object.
QJsonObject lokiGet(const QUrl &base, const QString &path, const QUrlQuery &query, const QString &tenant)
{
    QNetworkAccessManager nam;
    QUrl url = base;
    url.setPath(path);
    url.setQuery(query);
    QNetworkRequest request(url);
    if (!tenant.isEmpty())
        request.setRawHeader("X-Scope-OrgID", tenant.toUtf8());
    QNetworkReply *reply = nam.get(request);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(30000, &loop, &QEventLoop::quit);
    loop.exec();
    const QByteArray body = reply->isFinished() ? reply->readAll() : QByteArray();
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    reply->abort();
    reply->deleteLater();
    if (status != 200) {
        qWarning("Loki answered %d to %s: %s", status, qPrintable(url.toString()),
                 body.left(300).constData());
        return {};
    }
    return QJsonDocument::fromJson(body).object();
}

// The lines of streams matching the LogQL @p logql, oldest first.
QStringList queryLines(const QUrl &base, const QString &tenant, const QString &logql)
{
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("query"), logql);
    query.addQueryItem(QStringLiteral("start"),
                       QString::number((QDateTime::currentMSecsSinceEpoch() - 3600 * 1000) * 1000000));
    query.addQueryItem(QStringLiteral("direction"), QStringLiteral("forward"));
    query.addQueryItem(QStringLiteral("limit"), QStringLiteral("5000"));
    const QJsonArray result = lokiGet(base, QStringLiteral("/loki/api/v1/query_range"), query, tenant)
                                  .value(QStringLiteral("data"))
                                  .toObject()
                                  .value(QStringLiteral("result"))
                                  .toArray();
    QList<QPair<qint64, QString>> values;
    for (const QJsonValue &stream : result) {
        for (const QJsonValue &value : stream.toObject().value(QStringLiteral("values")).toArray())
            values.append({value.toArray().at(0).toString().toLongLong(), value.toArray().at(1).toString()});
    }
    std::stable_sort(values.begin(), values.end(),
                     [](const auto &a, const auto &b) { return a.first < b.first; });
    QStringList lines;
    for (const auto &value : values)
        lines << value.second;
    return lines;
}

// How many entries of the last hour match @p selector (sum(count_over_time(...[1h]))); -1 when the query
// failed.
qint64 countEntries(const QUrl &base, const QString &tenant, const QString &selector)
{
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("query"), QStringLiteral("sum(count_over_time(%1[1h]))").arg(selector));
    const QJsonObject answer = lokiGet(base, QStringLiteral("/loki/api/v1/query"), query, tenant);
    if (answer.value(QStringLiteral("status")).toString() != QLatin1String("success"))
        return -1;
    const QJsonArray result =
        answer.value(QStringLiteral("data")).toObject().value(QStringLiteral("result")).toArray();
    if (result.isEmpty())
        return 0;
    return result.at(0).toObject().value(QStringLiteral("value")).toArray().at(1).toString().toLongLong();
}

// Every error a client reports, in order.
struct ErrorLog
{
    QList<LokiError> errors;
    explicit ErrorLog(LokiClient &client)
    {
        QObject::connect(&client, &LokiClient::errorOccurred, &client,
                         [this](const LokiError &error) { errors.append(error); });
    }
    // Errors reach the owner thread through its event loop: let the ones already reported arrive.
    void settle() { QTest::qWait(1000); }
    int withStatus(int status) const
    {
        return int(std::count_if(errors.cbegin(), errors.cend(),
                                 [status](const LokiError &e) { return e.httpStatus() == status; }));
    }
    int ofKind(LokiError::Kind kind) const
    {
        return int(std::count_if(errors.cbegin(), errors.cend(),
                                 [kind](const LokiError &e) { return e.kind() == kind; }));
    }
};

QString selectorFor(const QString &run)
{
    return QStringLiteral("{app=\"lokiqt-realloki\", run=\"%1\"}").arg(run);
}
} // namespace

class tst_RealLoki : public QObject
{
    Q_OBJECT
private:
    RealLoki loki;
    bool anyFailed = false;

    LokiConfig configFor(const QString &run, const QString &tenant) const
    {
        LokiConfig config;
        config.url = loki.url;
        config.tenant = tenant;
        config.labels = {{QStringLiteral("app"), QStringLiteral("lokiqt-realloki")},
                         {QStringLiteral("run"), run}};
        return config;
    }

#if QT_CONFIG(ssl)
    LokiConfig gatewayConfigFor(const QString &run, const QString &password) const
    {
        LokiConfig config = configFor(run, QString());
        config.url = loki.gateway;
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(loki.caPath));
        config.sslConfiguration = tls;
        config.basicAuthUser = QStringLiteral("loki");
        config.basicAuthPassword = password;
        return config;
    }
#endif

    // Our own instance's gateway tenant: the gateway sets X-Scope-OrgID to the basic-auth user.
    static QString gatewayTenant()
    {
        return QStringLiteral("loki");
    }

    // The tests that need the instance start.sh --auth --gateway starts (multi-tenant, with its gateway).
    bool needOwnInstance() const
    {
        return loki.multiTenant;
    }
    static constexpr const char *notOurInstance = "needs the multi-tenant Loki and gateway that "
                                                  "../shared/realloki/start.sh starts; LOKIQT_TEST_LOKI_URL "
                                                  "names another";

private Q_SLOTS:
    void initTestCase()
    {
        QString error;
        auto stopOnFailure = qScopeGuard([this] { loki.stop(false); });
        if (!loki.start(&error)) {
            if (!error.isEmpty())
                QFAIL(qPrintable(error));
            // .ci/run sets it: there, a skip would hide that the real-Loki tests did not run.
            if (qEnvironmentVariableIntValue("LOKIQT_TEST_REQUIRE_LOKI") == 1)
                QFAIL(qPrintable(loki.skipReason + QStringLiteral(" (and LOKIQT_TEST_REQUIRE_LOKI=1 forbids "
                                                                  "skipping)")));
            QSKIP(qPrintable(loki.skipReason));
        }
        stopOnFailure.dismiss();
    }
    void cleanup()
    {
        anyFailed = anyFailed || QTest::currentTestFailed();
    }
    void cleanupTestCase()
    {
        loki.stop(!anyFailed); // keep /tmp/realloki-PORT (loki.log) when a test failed
    }

    // The three encodings, with structured metadata (schema v13, allow_structured_metadata): the line
    // holds the other fields, and `| trace_id="..."` finds an entry by its metadata.
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
        const QString run = newRunId();
        const QString tenant = QStringLiteral("enc-") + run;
        LokiConfig config = configFor(run, tenant);
        config.encoding = encoding;
        config.structuredMetadataFields = {QStringLiteral("trace_id")};
        LokiClient client(config);
        QStringList expected;
        for (int i = 0; i < 10; ++i) {
            LokiEntry entry(QStringLiteral("entry %1").arg(i));
            entry.fields = {{QStringLiteral("note"), QStringLiteral("with \"quotes\" and spaces")},
                            {QStringLiteral("trace_id"), QStringLiteral("t%1").arg(i)}};
            expected << QStringLiteral("entry %1 note=\"with \\\"quotes\\\" and spaces\"").arg(i);
            QCOMPARE(client.send(entry), LokiClient::SendResult::Accepted);
        }
        QVERIFY2(client.flush(QDeadlineTimer(flushWait)), qPrintable(client.lastError().toString()));
        QTRY_COMPARE_WITH_TIMEOUT(queryLines(loki.url, tenant, selectorFor(run)), expected, readBackWait);
        QCOMPARE(queryLines(loki.url, tenant, selectorFor(run) + QStringLiteral(" | trace_id=\"t7\"")),
                 QStringList{expected.at(7)});
        QCOMPARE(client.counters().sent, qint64(10));
    }

    // Loki's own parsers read the line formats back: `| logfmt` and `| json` extract level and the fields.
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
        const QString run = newRunId();
        const QString tenant = QStringLiteral("fmt-") + run;
        LokiConfig config = configFor(run, tenant);
        config.lineFormat = format;
        LokiClient client(config);
        for (int i = 0; i < 6; ++i) {
            LokiEntry entry(QStringLiteral("order %1 \"done\"").arg(i));
            entry.fields = {
                {QStringLiteral("level"), i % 2 ? QStringLiteral("error") : QStringLiteral("info")},
                {QStringLiteral("order_id"), 1000 + i}};
            QCOMPARE(client.send(entry), LokiClient::SendResult::Accepted);
        }
        QVERIFY2(client.flush(QDeadlineTimer(flushWait)), qPrintable(client.lastError().toString()));
        const QString query = selectorFor(run) + QStringLiteral(" | %1 | level=\"error\" | order_id > 1002 | "
                                                                "line_format \"{{.msg}}\"")
                                                     .arg(parser);
        QTRY_COMPARE_WITH_TIMEOUT(
            queryLines(loki.url, tenant, query),
            (QStringList{QStringLiteral("order 3 \"done\""), QStringLiteral("order 5 \"done\"")}),
            readBackWait);
    }

    // --auth: without a tenant Loki answers 401 "no org id"; reported at once, never retried.
    void noTenantIsRefusedAtOnce()
    {
        if (!needOwnInstance())
            QSKIP(notOurInstance);
        const QString run = newRunId();
        LokiClient client(configFor(run, QString()));
        ErrorLog log(client);
        for (int i = 0; i < 5; ++i)
            QCOMPARE(client.send(QStringLiteral("no tenant %1").arg(i)), LokiClient::SendResult::Accepted);
        QVERIFY(!client.flush(QDeadlineTimer(flushWait)));
        const LokiError error = client.lastError();
        QCOMPARE(error.httpStatus(), 401);
        QVERIFY2(error.message().contains(QLatin1String("no org id")), qPrintable(error.toString()));
        QCOMPARE(error.attempt(), 1);
        QVERIFY(!error.willRetry());
        const LokiClient::Counters c = client.counters();
        QCOMPARE(c.retried, qint64(0));
        QCOMPARE(c.failed, qint64(5));
        QCOMPARE(c.sent, qint64(0));
        QTRY_COMPARE_WITH_TIMEOUT(log.withStatus(401), 1, 10000);
        QTest::qWait(1500); // nothing else follows: no second attempt
        QCOMPARE(log.withStatus(401), 1);
        QCOMPARE(log.ofKind(LokiError::Kind::Http), 1);
        QCOMPARE(client.counters().retried, qint64(0));
    }

    // --auth, with a tenant: stored under it, invisible to another.
    void tenantStoresUnderIt()
    {
        if (!needOwnInstance())
            QSKIP(notOurInstance);
        const QString run = newRunId();
        const QString tenant = QStringLiteral("team-") + run;
        LokiClient client(configFor(run, tenant));
        for (int i = 0; i < 20; ++i)
            QCOMPARE(client.send(QStringLiteral("tenant line %1").arg(i)), LokiClient::SendResult::Accepted);
        QVERIFY2(client.flush(QDeadlineTimer(flushWait)), qPrintable(client.lastError().toString()));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, tenant, selectorFor(run)), qint64(20), readBackWait);
        QCOMPARE(countEntries(loki.url, QStringLiteral("other-") + run, selectorFor(run)), qint64(0));
    }

    // The gateway: HTTPS trusting its CA through sslConfiguration, basic auth.
    void gatewayOverHttpsWithBasicAuth()
    {
#if QT_CONFIG(ssl)
        if (!needOwnInstance())
            QSKIP(notOurInstance);
        const QString run = newRunId();
        LokiClient client(gatewayConfigFor(run, QStringLiteral("s3cret")));
        for (int i = 0; i < 25; ++i)
            QCOMPARE(client.send(QStringLiteral("through the gateway %1").arg(i)),
                     LokiClient::SendResult::Accepted);
        QVERIFY2(client.flush(QDeadlineTimer(flushWait)), qPrintable(client.lastError().toString()));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, gatewayTenant(), selectorFor(run)), qint64(25),
                                  readBackWait);
        QCOMPARE(client.counters().retried, qint64(0));
#else
        QSKIP("Qt without TLS");
#endif
    }

    // Pushes side by side (batch.maxInFlight 8, small batches): straight to Loki over HTTP and through the
    // gateway over HTTPS (HTTP/1.1 on the client's own connections), everything stored exactly once.
    void severalPushesInFlightAreStoredOnce_data()
    {
        QTest::addColumn<bool>("gateway");
        QTest::newRow("straight to Loki") << false;
        QTest::newRow("gateway, https") << true;
    }
    void severalPushesInFlightAreStoredOnce()
    {
        QFETCH(bool, gateway);
        if (!needOwnInstance())
            QSKIP(notOurInstance);
        const QString run = newRunId();
#if QT_CONFIG(ssl)
        LokiConfig config =
            gateway ? gatewayConfigFor(run, QStringLiteral("s3cret")) : configFor(run, gatewayTenant());
#else
        if (gateway)
            QSKIP("Qt without TLS");
        LokiConfig config = configFor(run, gatewayTenant());
#endif
        config.batch.maxEntries = 250;
        config.batch.maxInFlight = 8;
        config.queueCapacity = 50000;
        LokiClient client(config);
        constexpr int entries = 20000;
        for (int i = 0; i < entries; ++i)
            QCOMPARE(client.send(QStringLiteral("in flight %1").arg(i)), LokiClient::SendResult::Accepted);
        QVERIFY2(client.flush(QDeadlineTimer(flushWait)), qPrintable(client.lastError().toString()));
        const LokiClient::Counters c = client.counters();
        QCOMPARE(c.sent, qint64(entries));
        QCOMPARE(c.failed, qint64(0));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, gatewayTenant(), selectorFor(run)), qint64(entries),
                                  readBackWait);
        qInfo("%s: %d entries, %lld retries, %lld splits", gateway ? "gateway" : "direct", entries, c.retried,
              c.splits);
    }

    // A wrong password: nginx answers 401, reported at once and not retried.
    void gatewayWrongPasswordIsRefusedAtOnce()
    {
#if QT_CONFIG(ssl)
        if (!needOwnInstance())
            QSKIP(notOurInstance);
        const QString run = newRunId();
        LokiClient client(gatewayConfigFor(run, QStringLiteral("wrong-password")));
        ErrorLog log(client);
        for (int i = 0; i < 3; ++i)
            QCOMPARE(client.send(QStringLiteral("wrong password %1").arg(i)),
                     LokiClient::SendResult::Accepted);
        QVERIFY(!client.flush(QDeadlineTimer(flushWait)));
        const LokiError error = client.lastError();
        QCOMPARE(error.httpStatus(), 401);
        QCOMPARE(error.attempt(), 1);
        QVERIFY(!error.willRetry());
        QVERIFY2(!error.toString().contains(QLatin1String("wrong-password")), qPrintable(error.toString()));
        QCOMPARE(client.counters().retried, qint64(0));
        QCOMPARE(client.counters().failed, qint64(3));
        QTRY_COMPARE_WITH_TIMEOUT(log.withStatus(401), 1, 10000);
        QCOMPARE(countEntries(loki.url, gatewayTenant(), selectorFor(run)), qint64(0));
#else
        QSKIP("Qt without TLS");
#endif
    }

    // A push over the gateway's 4 MiB body limit: nginx answers 413, the client splits, everything is
    // stored exactly once.
    void gatewayBodyLimitSplits()
    {
#if QT_CONFIG(ssl)
        if (!needOwnInstance())
            QSKIP(notOurInstance);
        const QString run = newRunId();
        LokiConfig config = gatewayConfigFor(run, QStringLiteral("s3cret"));
        config.encoding = LokiConfig::Encoding::Json; // the body is about the lines' size
        config.batch.maxEntries = 100000;
        config.batch.maxBytes = 16 * 1024 * 1024;
        config.batch.maxWait = std::chrono::milliseconds(60000); // one batch, pushed by flush()
        config.queueCapacity = 100000;
        config.retry.maxAttempts = 50;
        LokiClient client(config);
        ErrorLog log(client);
        constexpr int entries = 5000; // 5000 lines of ~1000 bytes: a 5 MB body
        const QString padding(990, QLatin1Char('g'));
        for (int i = 0; i < entries; ++i)
            QCOMPARE(client.send(QStringLiteral("%1 %2").arg(i, 6, 10, QLatin1Char('0')).arg(padding)),
                     LokiClient::SendResult::Accepted);
        QVERIFY2(client.flush(QDeadlineTimer(flushWait)), qPrintable(client.lastError().toString()));
        log.settle();
        const LokiClient::Counters c = client.counters();
        QVERIFY2(c.splits >= 1, "the 5 MB push was not split");
        QCOMPARE(c.sent, qint64(entries));
        QCOMPARE(c.failed, qint64(0));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, gatewayTenant(), selectorFor(run)), qint64(entries),
                                  readBackWait);
        qInfo("gateway 413: %lld splits, %lld retries, %d errors reported", c.splits, c.retried,
              int(log.errors.size()));
#else
        QSKIP("Qt without TLS");
#endif
    }

    // Straight to Loki, a push whose protobuf exceeds Loki's 4 MiB gRPC limit: 500 ResourceExhausted, split,
    // never resent whole (a resend would be a retry of the 500, reported as such).
    void grpcLimitSplits()
    {
        const QString run = newRunId();
        const QString tenant = QStringLiteral("grpc-") + run;
        LokiConfig config = configFor(run, tenant);
        config.batch.maxEntries = 1000000;
        config.batch.maxBytes = 64 * 1024 * 1024;
        config.batch.maxWait = std::chrono::milliseconds(60000);
        config.queueCapacity = 1000000;
        config.retry.maxAttempts = 50;
        LokiClient client(config);
        ErrorLog log(client);
        // Short lines: ~31 protobuf bytes per entry for 12 line bytes, so 160,000 entries make a 5 MB
        // protobuf with under 2 MB of lines (far from the 4 MB/s rate limit).
        constexpr int entries = 160000;
        for (int i = 0; i < entries; ++i)
            QCOMPARE(client.send(QStringLiteral("e%1 grpc").arg(i, 6, 10, QLatin1Char('0'))),
                     LokiClient::SendResult::Accepted);
        QVERIFY2(client.flush(QDeadlineTimer(flushWait)), qPrintable(client.lastError().toString()));
        log.settle();
        const LokiClient::Counters c = client.counters();
        QVERIFY2(c.splits >= 1, "the 5 MB protobuf was not split");
        QCOMPARE(log.withStatus(500), 0); // a 500 reported would be one retried (resent) or failed
        QCOMPARE(c.sent, qint64(entries));
        QCOMPARE(c.failed, qint64(0));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, tenant, selectorFor(run)), qint64(entries),
                                  readBackWait);
        qInfo("gRPC limit: %lld splits, %lld retries", c.splits, c.retried);
    }

    // More than Loki's 4 MB/s (burst 6 MB) for several seconds: 429s, retried until everything is stored,
    // exactly once. 40 MB in four streams (Loki's per-stream limit, 3 MB/s with a 15 MB burst, stays out of
    // the way: this is the tenant's limit, which refuses whole pushes).
    void rateLimitIsRetriedUntilStored()
    {
        const QString run = newRunId();
        const QString tenant = QStringLiteral("rate-") + run;
        LokiConfig config = configFor(run, tenant);
        config.retry.maxAttempts = 1000;
        config.retry.maxBackoff = std::chrono::milliseconds(1000);
        LokiClient client(config);
        ErrorLog log(client);
        constexpr int entries = 40000; // 40 MB of lines
        const QString padding(990, QLatin1Char('r'));
        QElapsedTimer timer;
        timer.start();
        for (int i = 0; i < entries; ++i) {
            LokiEntry entry(QStringLiteral("%1 %2").arg(i, 6, 10, QLatin1Char('0')).arg(padding));
            entry.labels = {{QStringLiteral("shard"), QString::number(i % 4)}};
            QCOMPARE(client.send(entry), LokiClient::SendResult::Accepted);
        }
        QVERIFY2(client.flush(QDeadlineTimer(240000)), qPrintable(client.lastError().toString()));
        log.settle();
        const LokiClient::Counters c = client.counters();
        qInfo("rate limit: 40 MB in %.1f s, %d answers 429, %lld retries", double(timer.elapsed()) / 1000,
              log.withStatus(429), c.retried);
        QVERIFY2(log.withStatus(429) > 0, "Loki never answered 429: the test did not reach its rate limit");
        QCOMPARE(c.sent, qint64(entries));
        QCOMPARE(c.failed, qint64(0));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, tenant, selectorFor(run)), qint64(entries),
                                  readBackWait);
    }

    // One entry 8 days old among 1,000 good ones: Loki answers 400 and stores the 1,000. Only the old one
    // counts as failed.
    void oneTooOldEntryAmongAThousand()
    {
        const QString run = newRunId();
        const QString tenant = QStringLiteral("old-") + run;
        LokiConfig config = configFor(run, tenant);
        config.batch.maxWait = std::chrono::milliseconds(60000); // one batch, pushed by flush()
        LokiClient client(config);
        ErrorLog log(client);
        for (int i = 0; i < 1000; ++i) {
            if (i == 500) {
                LokiEntry old(QStringLiteral("eight days old"));
                old.timestampNs = (QDateTime::currentMSecsSinceEpoch() - 8LL * 24 * 3600 * 1000) * 1000000;
                QCOMPARE(client.send(old), LokiClient::SendResult::Accepted);
            }
            QCOMPARE(client.send(QStringLiteral("good %1").arg(i)), LokiClient::SendResult::Accepted);
        }
        QVERIFY(!client.flush(QDeadlineTimer(flushWait)));
        const LokiError error = client.lastError();
        QCOMPARE(error.httpStatus(), 400);
        QVERIFY2(error.message().contains(QLatin1String("timestamp too old")), qPrintable(error.message()));
        QCOMPARE(error.entries(), 1);
        const LokiClient::Counters c = client.counters();
        QCOMPARE(c.failed, qint64(1));
        QCOMPARE(c.sent, qint64(1000));
        QCOMPARE(c.retried, qint64(0));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, tenant, selectorFor(run)), qint64(1000),
                                  readBackWait);
    }

    // A spool filled while Loki was unreachable (a port nobody listens on), replayed by the next client with
    // the real URL: everything stored once.
    void spoolReplaysAfterLokiWasDown()
    {
        const QString run = newRunId();
        const QString tenant = QStringLiteral("spool-") + run;
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        quint16 downPort = 0;
        {
            QTcpServer probe;
            QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
            downPort = probe.serverPort();
        }
        constexpr int entries = 3000;
        {
            LokiConfig config = configFor(run, tenant);
            config.url = QUrl(QStringLiteral("http://127.0.0.1:%1").arg(downPort));
            config.spool.directory = dir.path();
            LokiClient client(config);
            QVERIFY(client.isSpooling());
            for (int i = 0; i < entries; ++i)
                QCOMPARE(client.send(QStringLiteral("spooled %1").arg(i)), LokiClient::SendResult::Accepted);
            QVERIFY(!client.close(QDeadlineTimer(1500)));
            QCOMPARE(client.counters().sent, qint64(0));
            QCOMPARE(client.counters().queued, qint64(entries));
        }
        LokiConfig config = configFor(run, tenant);
        config.spool.directory = dir.path();
        LokiClient client(config);
        QVERIFY(client.isSpooling());
        QVERIFY2(client.close(QDeadlineTimer(flushWait)), qPrintable(client.lastError().toString()));
        const LokiClient::Counters c = client.counters();
        QCOMPARE(c.replayed, qint64(entries));
        QCOMPARE(c.sent, qint64(entries));
        QCOMPARE(c.queued, qint64(0));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, tenant, selectorFor(run)), qint64(entries),
                                  readBackWait);
        const QStringList got = queryLines(loki.url, tenant, selectorFor(run));
        QCOMPARE(got.size(), entries);
        QCOMPARE(got.first(), QStringLiteral("spooled 0"));
        QCOMPARE(got.last(), QStringLiteral("spooled %1").arg(entries - 1));
    }

    // lokiqt-push through the gateway: --ca-cert, --user with LOKI_PASSWORD or --password-file.
    void lokiqtPushThroughTheGateway()
    {
#ifdef LOKIQT_PUSH_PATH
        if (!needOwnInstance())
            QSKIP(notOurInstance);
        const QString run = newRunId();
        QTemporaryDir dir;
        QFile passwordFile(dir.filePath(QStringLiteral("password")));
        QVERIFY(passwordFile.open(QIODevice::WriteOnly));
        passwordFile.write("s3cret\n");
        passwordFile.close();
        const auto push = [&](const QStringList &extra, const QString &password, const QByteArray &input) {
            QProcess process;
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.remove(QStringLiteral("LOKI_URL"));
            env.remove(QStringLiteral("LOKI_PASSWORD"));
            if (!password.isEmpty())
                env.insert(QStringLiteral("LOKI_PASSWORD"), password);
            process.setProcessEnvironment(env);
            process.start(QStringLiteral(LOKIQT_PUSH_PATH),
                          QStringList{QStringLiteral("--url"), loki.gateway.toString(),
                                      QStringLiteral("--ca-cert"), loki.caPath, QStringLiteral("--user"),
                                      QStringLiteral("loki"), QStringLiteral("--label"),
                                      QStringLiteral("app=lokiqt-realloki"), QStringLiteral("--label"),
                                      QStringLiteral("run=") + run} +
                              extra);
            process.write(input);
            process.closeWriteChannel();
            if (!process.waitForFinished(flushWait))
                process.kill();
            process.waitForFinished();
            return qMakePair(process.exitCode(), QString::fromUtf8(process.readAllStandardError()));
        };
        QByteArray input;
        for (int i = 0; i < 100; ++i)
            input += "pushed " + QByteArray::number(i) + '\n';
        auto result = push({}, QStringLiteral("s3cret"), input);
        QVERIFY2(result.first == 0, qPrintable(result.second));
        result =
            push({QStringLiteral("--password-file"), passwordFile.fileName()}, QString(), "from a file\n");
        QVERIFY2(result.first == 0, qPrintable(result.second));
        result = push({}, QStringLiteral("wrong"), "refused\n");
        QCOMPARE(result.first, 1);
        QVERIFY2(result.second.contains(QLatin1String("401")), qPrintable(result.second));
        QTRY_COMPARE_WITH_TIMEOUT(countEntries(loki.url, gatewayTenant(), selectorFor(run)), qint64(101),
                                  readBackWait);
#else
        QSKIP("lokiqt-push is not built");
#endif
    }
};

QTEST_GUILESS_MAIN(tst_RealLoki)
#include "tst_realloki.moc"
