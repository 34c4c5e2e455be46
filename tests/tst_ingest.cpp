// SPDX-License-Identifier: MIT
// The ingest room as a function: input (entry, line, Qt message) and configuration -> the stream, line and
// metadata of the entry it makes, or why it is refused. No client, no network.
#include "ingest_p.h"

#include <QtTest/QtTest>

using Labels = QMap<QString, QString>;
using Format = LokiConfig::LineFormat;

namespace {
LokiConfig baseConfig()
{
    LokiConfig config;
    config.url = QUrl(QStringLiteral("http://127.0.0.1:3100"));
    config.labels = {{QStringLiteral("app"), QStringLiteral("t")}};
    return config;
}

// Metadata as `a=1,b=2`, for comparing in tables.
QString metadataText(const LokiMetadata &metadata)
{
    QStringList parts;
    for (const auto &pair : metadata)
        parts << QString::fromUtf8(pair.first + '=' + pair.second);
    return parts.join(QLatin1Char(','));
}

QMessageLogContext where(const char *category)
{
    return QMessageLogContext(nullptr, 0, nullptr, category);
}
} // namespace

class tst_Ingest : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void entry_data()
    {
        QTest::addColumn<Labels>("labels");
        QTest::addColumn<QVariantMap>("fields");
        QTest::addColumn<QStringList>("allowList");
        QTest::addColumn<QStringList>("metadataFields");
        QTest::addColumn<Format>("format");
        QTest::addColumn<QString>("stream");   // the key of the resulting stream
        QTest::addColumn<QString>("line");     // the resulting line
        QTest::addColumn<QString>("metadata"); // a=1,b=2
        QTest::addColumn<QString>("rejected"); // part of the reason; empty when accepted

        const QStringList none;
        const QString plainStream = QStringLiteral("{app=\"t\"}");
        QTest::newRow("plain line") << Labels() << QVariantMap() << none << none << Format::Plain
                                    << plainStream << "hello"
                                    << ""
                                    << "";
        QTest::newRow("fields into the line") << Labels() << QVariantMap{{"user", "ann"}, {"n", 3}} << none
                                              << none << Format::Plain << plainStream << "hello n=3 user=ann"
                                              << ""
                                              << "";
        QTest::newRow("logfmt") << Labels() << QVariantMap{{"user", "a b"}} << none << none << Format::Logfmt
                                << plainStream << "msg=hello user=\"a b\""
                                << ""
                                << "";
        QTest::newRow("json") << Labels() << QVariantMap{{"user", "ann"}} << none << none << Format::Json
                              << plainStream << "{\"msg\":\"hello\",\"user\":\"ann\"}"
                              << ""
                              << "";
        QTest::newRow("entry label") << Labels{{"room", "kitchen"}} << QVariantMap() << none << none
                                     << Format::Plain << "{app=\"t\", room=\"kitchen\"}"
                                     << "hello"
                                     << ""
                                     << "";
        QTest::newRow("entry label overrides a static one")
            << Labels{{"app", "other"}} << QVariantMap() << none << none << Format::Plain << "{app=\"other\"}"
            << "hello"
            << ""
            << "";
        QTest::newRow("empty entry label removes a static one: fallback label")
            << Labels{{"app", ""}} << QVariantMap() << none << none << Format::Plain
            << "{service_name=\"tst_ingest\"}"
            << "hello"
            << ""
            << "";
        QTest::newRow("allow-listed field becomes a sanitized label, stays in the line")
            << Labels() << QVariantMap{{"http.method", "GET"}} << QStringList{"http.method"} << none
            << Format::Plain << "{app=\"t\", http_method=\"GET\"}"
            << "hello http.method=GET"
            << ""
            << "";
        QTest::newRow("metadata field leaves the line")
            << Labels() << QVariantMap{{"trace", "abc"}, {"user", "ann"}} << none << QStringList{"trace"}
            << Format::Plain << plainStream << "hello user=ann"
            << "trace=abc"
            << "";
        QTest::newRow("invalid label name: try the sanitized one")
            << Labels{{"log-level", "x"}} << QVariantMap() << none << none << Format::Plain << ""
            << ""
            << ""
            << "label name 'log-level' breaks Loki's rules ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __); "
               "try 'log_level'";
        QTest::newRow("reserved label name")
            << Labels{{"__name__", "x"}} << QVariantMap() << none << none << Format::Plain << ""
            << ""
            << ""
            << "try '_name__'";
        QTest::newRow("label name too long") << Labels{{QString(40, QLatin1Char('n')), "x"}} << QVariantMap()
                                             << none << none << Format::Plain << ""
                                             << ""
                                             << ""
                                             << "is longer than 32 characters";
        QTest::newRow("label value too long") << Labels{{"v", QString(65, QLatin1Char('x'))}} << QVariantMap()
                                              << none << none << Format::Plain << ""
                                              << ""
                                              << ""
                                              << "the value of label 'v' is longer than 64 characters";
        QTest::newRow("allow-listed field value too long")
            << Labels() << QVariantMap{{"v", QString(65, QLatin1Char('x'))}} << QStringList{"v"} << none
            << Format::Plain << ""
            << ""
            << ""
            << "the value of label 'v' is longer than 64 characters";
        QTest::newRow("too many labels") << Labels{{"a", "1"}, {"b", "2"}, {"c", "3"}} << QVariantMap()
                                         << none << none << Format::Plain << ""
                                         << ""
                                         << ""
                                         << "4 labels on one stream; at most 3 are allowed";
    }
    void entry()
    {
        QFETCH(Labels, labels);
        QFETCH(QVariantMap, fields);
        QFETCH(QStringList, allowList);
        QFETCH(QStringList, metadataFields);
        QFETCH(Format, format);
        QFETCH(QString, stream);
        QFETCH(QString, line);
        QFETCH(QString, metadata);
        QFETCH(QString, rejected);

        LokiConfig config = baseConfig();
        config.labelAllowList = allowList;
        config.structuredMetadataFields = metadataFields;
        config.lineFormat = format;
        config.limits.maxLabelNameLength = 32;
        config.limits.maxLabelValueLength = 64;
        config.limits.maxLabelNames = 3;
        LokiIngest ingest(config);
        LokiEntry entry(QStringLiteral("hello"), fields);
        entry.labels = labels;
        entry.timestampNs = 42;
        const LokiIngested got = ingest.entry(entry);
        if (!rejected.isEmpty()) {
            QVERIFY(got.isRejected());
            QVERIFY2(got.rejection.contains(rejected), qPrintable(got.rejection));
            QVERIFY(!got.entry.stream);
            return;
        }
        QVERIFY2(!got.isRejected(), qPrintable(got.rejection));
        QVERIFY(got.entry.stream);
        QCOMPARE(QString::fromUtf8(got.entry.stream->key), stream);
        QCOMPARE(QString::fromUtf8(got.entry.line), line);
        QCOMPARE(metadataText(got.entry.metadata), metadata);
        QCOMPARE(got.entry.timestampNs, qint64(42));
        QVERIFY(!got.truncated);
        QVERIFY(!got.demoted);
    }

    void invalidConfigurationRefusesEverything()
    {
        LokiConfig config = baseConfig();
        config.labels = {{QStringLiteral("bad-name"), QStringLiteral("x")}};
        LokiIngest ingest(config);
        QVERIFY(!ingest.configError().isEmpty());
        const QString why = QStringLiteral("invalid configuration: ");
        QVERIFY(ingest.entry(LokiEntry(QStringLiteral("x"))).rejection.startsWith(why));
        QVERIFY(ingest.line(QStringLiteral("x")).rejection.startsWith(why));
        QVERIFY(ingest.utf8("x").rejection.startsWith(why));
    }

    void linesAreCutToTheLimit()
    {
        LokiConfig config = baseConfig();
        config.limits.maxLineBytes = 100;
        LokiIngest ingest(config);
        const LokiIngested shortLine = ingest.utf8(QByteArray(100, 'a'));
        QVERIFY(!shortLine.truncated);
        QCOMPARE(shortLine.entry.line.size(), 100);
        for (const LokiIngested &got :
             {ingest.utf8(QByteArray(1000, 'a')), ingest.line(QString(1000, QLatin1Char('a'))),
              ingest.entry(LokiEntry(QString(1000, QLatin1Char('a'))))}) {
            QVERIFY(got.truncated);
            QVERIFY(got.entry.line.size() <= 100);
            QVERIFY(got.entry.line.endsWith(" [lokiqt: 1000 bytes, cut]"));
            QCOMPARE(got.entry.stream, ingest.defaultStream());
        }
        // Invalid UTF-8 becomes U+FFFD.
        QCOMPARE(ingest
                     .utf8("a\xff"
                           "b")
                     .entry.line,
                 QByteArray("a\xef\xbf\xbd"
                            "b"));
    }

    void cardinalityGuard_data()
    {
        QTest::addColumn<bool>("structuredMetadata");
        QTest::addColumn<Format>("format");
        QTest::addColumn<QString>("line");
        QTest::addColumn<QString>("metadata");
        QTest::newRow("into metadata") << true << Format::Plain << "hello"
                                       << "room=r2";
        QTest::newRow("into the line") << false << Format::Plain << "hello room=r2"
                                       << "";
        QTest::newRow("into the JSON line") << false << Format::Json << "{\"msg\":\"hello\",\"room\":\"r2\"}"
                                            << "";
    }
    void cardinalityGuard()
    {
        QFETCH(bool, structuredMetadata);
        QFETCH(Format, format);
        QFETCH(QString, line);
        QFETCH(QString, metadata);
        LokiConfig config = baseConfig();
        config.limits.maxStreams = 2; // the default stream and one more
        config.structuredMetadata = structuredMetadata;
        config.lineFormat = format;
        LokiIngest ingest(config);
        LokiEntry first(QStringLiteral("hello"));
        first.labels = {{QStringLiteral("room"), QStringLiteral("r1")}};
        const LokiIngested one = ingest.entry(first);
        QCOMPARE(one.entry.stream->key, QByteArray("{app=\"t\", room=\"r1\"}"));
        QVERIFY(!one.demoted);
        LokiEntry second = first;
        second.labels = {{QStringLiteral("room"), QStringLiteral("r2")}};
        const LokiIngested two = ingest.entry(second);
        QVERIFY(two.demoted);
        QCOMPARE(two.entry.stream, ingest.defaultStream());
        QCOMPARE(QString::fromUtf8(two.entry.line), line);
        QCOMPARE(metadataText(two.entry.metadata), metadata);
        // Streams that exist go on being used.
        QCOMPARE(ingest.entry(first).entry.stream, one.entry.stream);
        QCOMPARE(ingest.streams().size(), 2);
    }

    void streamsAreInternedOnce()
    {
        LokiIngest ingest(baseConfig());
        const LokiStreamInfo *a = ingest.streams().intern({{QStringLiteral("app"), QStringLiteral("t")}});
        QCOMPARE(a, ingest.defaultStream());
        QCOMPARE(ingest.streams().internRaw(a->key, a->jsonLabels), a);
        const LokiStreamInfo *b = ingest.streams().internRaw("{x=\"1\"}", "{\"x\":\"1\"}");
        QCOMPARE(b->jsonLabels, QByteArray("{\"x\":\"1\"}"));
        QCOMPARE(ingest.streams().intern({{QStringLiteral("x"), QStringLiteral("1")}}), b);
        QCOMPARE(ingest.streams().intern({{QStringLiteral("y"), QStringLiteral("1")}}, 2), nullptr);
    }

    void handlerContext_data()
    {
        QTest::addColumn<Labels>("staticLabels");
        QTest::addColumn<QString>("levelLabel");
        QTest::addColumn<int>("maxLabelNames");
        QTest::addColumn<bool>("categoryAllowed");
        QTest::addColumn<QString>("usedLevelLabel");
        QTest::addColumn<bool>("categoryIsLabel");
        QTest::addColumn<QString>("warningStream");
        QTest::addColumn<QString>("problem"); // part of the one problem reported; empty for none

        const Labels app{{"app", "t"}};
        QTest::newRow("default") << app << "level" << 15 << false << "level" << false
                                 << "{app=\"t\", level=\"warning\"}"
                                 << "";
        QTest::newRow("renamed") << app << "severity" << 15 << false << "severity" << false
                                 << "{app=\"t\", severity=\"warning\"}"
                                 << "";
        QTest::newRow("invalid name is sanitized")
            << app << "log-level" << 15 << false << "log_level" << false
            << "{app=\"t\", log_level=\"warning\"}"
            << "levelLabel 'log-level' breaks Loki's label name rules ([a-zA-Z_][a-zA-Z0-9_]*, not starting "
               "with __); using 'log_level'";
        QTest::newRow("reserved name is sanitized")
            << app << "__level" << 15 << false << "_level" << false << "{_level=\"warning\", app=\"t\"}"
            << "using '_level'";
        QTest::newRow("none") << app << "" << 15 << false << "" << false << "{app=\"t\"}"
                              << "";
        QTest::newRow("none and no static labels: the fallback label")
            << Labels() << "" << 15 << false << "" << false << "{service_name=\"tst_ingest\"}"
            << "";
        QTest::newRow("over the label limit: into the line")
            << app << "level" << 1 << false << "" << false << "{app=\"t\"}"
            << "would be label 2 of a stream; at most 1 are allowed (limits.maxLabelNames)";
        QTest::newRow("replacing a static label counts once")
            << app << "app" << 1 << false << "app" << false << "{app=\"warning\"}"
            << "";
        QTest::newRow("category label")
            << app << "level" << 15 << true << "level" << true << "{app=\"t\", level=\"warning\"}"
            << "";
        QTest::newRow("category over the label limit: into the line")
            << app << "level" << 2 << true << "level" << false << "{app=\"t\", level=\"warning\"}"
            << "labelAllowList names 'category', but with it the message handler's streams would have 3 "
               "labels; at most 2 are allowed";
    }
    void handlerContext()
    {
        QFETCH(Labels, staticLabels);
        QFETCH(QString, levelLabel);
        QFETCH(int, maxLabelNames);
        QFETCH(bool, categoryAllowed);
        QFETCH(QString, usedLevelLabel);
        QFETCH(bool, categoryIsLabel);
        QFETCH(QString, warningStream);
        QFETCH(QString, problem);
        LokiConfig config = baseConfig();
        config.labels = staticLabels;
        config.limits.maxLabelNames = maxLabelNames;
        if (categoryAllowed)
            config.labelAllowList = {QStringLiteral("category")};
        LokiIngest ingest(config);
        QVERIFY(ingest.configError().isEmpty());
        LokiMessageHandler::Options options;
        options.levelLabel = levelLabel;
        QStringList problems;
        const LokiIngest::HandlerContext c = ingest.handlerContext(options, &problems);
        QCOMPARE(c.options.levelLabel, usedLevelLabel);
        QCOMPARE(c.categoryIsLabel, categoryIsLabel);
        QCOMPARE(QString::fromUtf8(c.levelStreams[size_t(LokiIngest::severity(QtWarningMsg))]->key),
                 warningStream);
        if (problem.isEmpty()) {
            QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QLatin1Char('\n'))));
        } else {
            QCOMPARE(problems.size(), 1);
            QVERIFY2(problems.first().contains(problem), qPrintable(problems.first()));
        }
        for (const LokiStreamInfo *stream : c.levelStreams)
            QVERIFY(stream && stream->key != "{}");
    }

    void message_data()
    {
        QTest::addColumn<Format>("format");
        QTest::addColumn<QString>("levelLabel");
        QTest::addColumn<bool>("categoryAllowed");
        QTest::addColumn<QByteArray>("category");
        QTest::addColumn<bool>("includeContext");
        QTest::addColumn<QString>("stream");
        QTest::addColumn<QString>("line");
        QTest::newRow("plain") << Format::Plain << "level" << false << QByteArray("ui") << true
                               << "{app=\"t\", level=\"info\"}"
                               << "hi category=ui";
        QTest::newRow("plain, default category") << Format::Plain << "level" << false << QByteArray("default")
                                                 << true << "{app=\"t\", level=\"info\"}"
                                                 << "hi";
        QTest::newRow("plain, no level label")
            << Format::Plain << "" << false << QByteArray("ui") << true << "{app=\"t\"}"
            << "hi level=info category=ui";
        QTest::newRow("logfmt") << Format::Logfmt << "level" << false << QByteArray("ui") << true
                                << "{app=\"t\", level=\"info\"}"
                                << "level=info msg=hi category=ui";
        QTest::newRow("json") << Format::Json << "" << false << QByteArray("ui") << true << "{app=\"t\"}"
                              << "{\"level\":\"info\",\"msg\":\"hi\",\"category\":\"ui\"}";
        QTest::newRow("category label") << Format::Plain << "level" << true << QByteArray("ui") << true
                                        << "{app=\"t\", category=\"ui\", level=\"info\"}"
                                        << "hi";
        QTest::newRow("category value too long: into the line")
            << Format::Plain << "level" << true << QByteArray(70, 'c') << true
            << "{app=\"t\", level=\"info\"}"
            << "hi category=" + QString(70, QLatin1Char('c'));
        QTest::newRow("category value too long, no context: still into the line")
            << Format::Plain << "level" << true << QByteArray(70, 'c') << false
            << "{app=\"t\", level=\"info\"}"
            << "hi category=" + QString(70, QLatin1Char('c'));
        QTest::newRow("no context") << Format::Plain << "level" << false << QByteArray("ui") << false
                                    << "{app=\"t\", level=\"info\"}"
                                    << "hi";
    }
    void message()
    {
        QFETCH(Format, format);
        QFETCH(QString, levelLabel);
        QFETCH(bool, categoryAllowed);
        QFETCH(QByteArray, category);
        QFETCH(bool, includeContext);
        QFETCH(QString, stream);
        QFETCH(QString, line);
        LokiConfig config = baseConfig();
        config.lineFormat = format;
        config.limits.maxLabelValueLength = 64;
        if (categoryAllowed)
            config.labelAllowList = {QStringLiteral("category")};
        LokiIngest ingest(config);
        LokiMessageHandler::Options options;
        options.levelLabel = levelLabel;
        options.includeContext = includeContext;
        QStringList problems;
        const LokiIngest::HandlerContext c = ingest.handlerContext(options, &problems);
        QVERIFY(problems.isEmpty());
        const LokiIngested got =
            ingest.message(c, QtInfoMsg, where(category.constData()), QStringLiteral("hi"));
        QVERIFY(!got.isRejected());
        QCOMPARE(QString::fromUtf8(got.entry.stream->key), stream);
        QCOMPARE(QString::fromUtf8(got.entry.line), line);
        QCOMPARE(got.entry.timestampNs, qint64(0)); // stamped by the buffer
        if (!ingest.categoryIsLabel(c, category.constData())) {
            // The way of the memory buffer: kept raw, rendered later on the worker, the same entry.
            const QString text = QStringLiteral("hi");
            LokiRawMessage raw;
            raw.assign(LokiIngest::messageParts(c, QtInfoMsg, where(category.constData()), &text));
            LokiQueuedEntry rendered;
            QVERIFY(!ingest.renderMessage(raw, rendered));
            QCOMPARE(rendered.stream, got.entry.stream);
            QCOMPARE(QString::fromUtf8(rendered.line), line);
        }
    }

    // Kept raw and rendered later (LokiMessageParts -> LokiRawMessage -> renderMessage), a message becomes
    // exactly what message() makes of it at once, in every format and option, with odd text and context.
    void rawMessagesRenderAsMessagesDo()
    {
        const QString loneSurrogate = QStringLiteral("bad ") + QChar(0xd800) + QStringLiteral(" utf-16");
        const QStringList texts = {QStringLiteral("hi"),
                                   QStringLiteral("quote \" back\\ new\nline\ttab"),
                                   loneSurrogate,
                                   QStringLiteral("caf\u00e9 \u65e5\u672c"),
                                   QString(),
                                   QString(300, QLatin1Char('x'))};
        const QList<QByteArray> categories = {QByteArray(), QByteArray(""), QByteArray("default"),
                                              QByteArray("app.ui"), QByteArray(70, 'c')};
        int compared = 0;
        for (Format format : {Format::Plain, Format::Logfmt, Format::Json}) {
            for (bool categoryAllowed : {false, true}) {
                LokiConfig config = baseConfig();
                config.lineFormat = format;
                config.limits.maxLabelValueLength = 64;
                config.limits.maxLineBytes = 200; // the long text is cut
                if (categoryAllowed)
                    config.labelAllowList = {QStringLiteral("category")};
                LokiIngest ingest(config);
                for (const QString &levelLabel : {QStringLiteral("level"), QString()}) {
                    for (bool includeContext : {true, false}) {
                        LokiMessageHandler::Options options;
                        options.levelLabel = levelLabel;
                        options.includeContext = includeContext;
                        QStringList problems;
                        const LokiIngest::HandlerContext c = ingest.handlerContext(options, &problems);
                        for (const QByteArray &category : categories) {
                            const char *cat = category.isNull() ? nullptr : category.constData();
                            for (bool withFile : {false, true}) {
                                const QMessageLogContext w(withFile ? "src/main.cpp" : nullptr,
                                                           withFile ? 42 : 0, withFile ? "void f()" : nullptr,
                                                           cat);
                                if (ingest.categoryIsLabel(c, cat))
                                    continue;
                                for (const QString &text : texts) {
                                    for (QtMsgType type : {QtDebugMsg, QtWarningMsg, QtFatalMsg}) {
                                        const LokiIngested once = ingest.message(c, type, w, text);
                                        LokiRawMessage raw;
                                        raw.assign(LokiIngest::messageParts(c, type, w, &text));
                                        LokiQueuedEntry later;
                                        const bool truncated = ingest.renderMessage(raw, later);
                                        const QByteArray where = "format " + QByteArray::number(int(format)) +
                                                                 " category " + category + " text " +
                                                                 text.toUtf8().left(20);
                                        QVERIFY2(later.line == once.entry.line, where.constData());
                                        QVERIFY2(later.stream == once.entry.stream, where.constData());
                                        QVERIFY2(truncated == once.truncated, where.constData());
                                        QVERIFY(later.metadata.isEmpty());
                                        ++compared;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        QVERIFY(compared > 1000);
    }

    void severityOrder()
    {
        QVERIFY(LokiIngest::severity(QtDebugMsg) < LokiIngest::severity(QtInfoMsg));
        QVERIFY(LokiIngest::severity(QtInfoMsg) < LokiIngest::severity(QtWarningMsg));
        QVERIFY(LokiIngest::severity(QtWarningMsg) < LokiIngest::severity(QtCriticalMsg));
        QVERIFY(LokiIngest::severity(QtCriticalMsg) < LokiIngest::severity(QtFatalMsg));
    }
};

QTEST_GUILESS_MAIN(tst_Ingest)

#include "tst_ingest.moc"
