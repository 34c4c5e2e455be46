// SPDX-License-Identifier: MIT
#include "pushencoder_p.h"
#include "render_p.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtTest/QtTest>

using LokiRender::FieldList;
using LokiRender::LabelMap;

namespace {
using Pairs = QList<QPair<QString, QString>>;

// A logfmt reader with the rules of github.com/go-logfmt/logfmt, which LogQL's `| logfmt` uses: keys are runs
// of bytes above space except `=` and `"`; a value is bare up to the next space, or quoted with JSON's
// escapes. Returns false on anything it would refuse.
bool parseLogfmt(const QString &text, Pairs *out)
{
    qsizetype i = 0;
    const qsizetype n = text.size();
    while (i < n) {
        while (i < n && text[i].unicode() <= ' ')
            ++i;
        if (i == n)
            break;
        const qsizetype keyStart = i;
        while (i < n && text[i].unicode() > ' ' && text[i] != QLatin1Char('=') && text[i] != QLatin1Char('"'))
            ++i;
        if (i == keyStart)
            return false;
        const QString key = text.mid(keyStart, i - keyStart);
        QString value;
        if (i < n && text[i] == QLatin1Char('=')) {
            ++i;
            if (i < n && text[i] == QLatin1Char('"')) {
                ++i;
                bool closed = false;
                while (i < n) {
                    const QChar c = text[i++];
                    if (c == QLatin1Char('"')) {
                        closed = true;
                        break;
                    }
                    if (c != QLatin1Char('\\')) {
                        value += c;
                        continue;
                    }
                    if (i == n)
                        return false;
                    const QChar e = text[i++];
                    switch (e.unicode()) {
                    case '"':
                        value += QLatin1Char('"');
                        break;
                    case '\\':
                        value += QLatin1Char('\\');
                        break;
                    case '/':
                        value += QLatin1Char('/');
                        break;
                    case 'b':
                        value += QChar(8);
                        break;
                    case 'f':
                        value += QChar(12);
                        break;
                    case 'n':
                        value += QLatin1Char('\n');
                        break;
                    case 'r':
                        value += QLatin1Char('\r');
                        break;
                    case 't':
                        value += QLatin1Char('\t');
                        break;
                    case 'u': {
                        bool ok = false;
                        const int code = text.mid(i, 4).toInt(&ok, 16);
                        if (!ok || i + 4 > n)
                            return false;
                        value += QChar(code);
                        i += 4;
                        break;
                    }
                    default:
                        return false;
                    }
                }
                if (!closed)
                    return false;
            } else {
                const qsizetype valueStart = i;
                while (i < n && text[i].unicode() > ' ') {
                    if (text[i] == QLatin1Char('"') || text[i] == QLatin1Char('='))
                        return false;
                    ++i;
                }
                value = text.mid(valueStart, i - valueStart);
            }
        }
        out->append({key, value});
    }
    return true;
}

Pairs jsonPairs(const QString &text, bool *ok)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(text.toUtf8(), &error);
    *ok = error.error == QJsonParseError::NoError && doc.isObject();
    Pairs out;
    const QJsonObject object = doc.object();
    // QJsonObject sorts its keys: read them in the text's order instead.
    for (auto it = object.begin(); it != object.end(); ++it)
        out.append({it.key(), it.value().toString()});
    return out;
}
} // namespace

class tst_Render : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void labelNames_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<QString>("sanitized");
        QTest::newRow("plain") << "service" << true << "service";
        QTest::newRow("underscore start") << "_x" << true << "_x";
        QTest::newRow("digits inside") << "http2_status" << true << "http2_status";
        QTest::newRow("dot") << "http.method" << false << "http_method";
        QTest::newRow("dash") << "app-x" << false << "app_x";
        QTest::newRow("leading digit") << "2xx" << false << "_2xx";
        QTest::newRow("reserved") << "__name__" << false << "_name__";
        QTest::newRow("space and slash") << "a b/c" << false << "a_b_c";
        QTest::newRow("non-ascii") << QStringLiteral("größe") << false << QStringLiteral("gr__e");
        QTest::newRow("empty") << "" << false << "";
    }
    void labelNames()
    {
        QFETCH(QString, name);
        QFETCH(bool, valid);
        QFETCH(QString, sanitized);
        QCOMPARE(LokiRender::isValidLabelName(name), valid);
        QCOMPARE(LokiRender::sanitizeLabelName(name), sanitized);
        if (!sanitized.isEmpty())
            QVERIFY(LokiRender::isValidLabelName(LokiRender::sanitizeLabelName(name)));
    }

    void flatten()
    {
        const QVariantMap fields{
            {QStringLiteral("request"),
             QVariantMap{{QStringLiteral("id"), 42},
                         {QStringLiteral("http"), QVariantMap{{QStringLiteral("method"), "GET"}}}}},
            {QStringLiteral("ok"), true},
            {QStringLiteral("tags"), QStringList{QStringLiteral("a"), QStringLiteral("b")}},
            {QStringLiteral("none"), QVariant()}};
        const FieldList flat = LokiRender::flattenFields(fields);
        const FieldList expected{{QStringLiteral("none"), QString()},
                                 {QStringLiteral("ok"), QStringLiteral("true")},
                                 {QStringLiteral("request.http.method"), QStringLiteral("GET")},
                                 {QStringLiteral("request.id"), QStringLiteral("42")},
                                 {QStringLiteral("tags"), QStringLiteral("[a,b]")}};
        QCOMPARE(flat, expected);
    }

    void renderLine_data()
    {
        QTest::addColumn<QString>("message");
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("expected");
        QTest::newRow("bare value") << "msg"
                                    << "k"
                                    << "v"
                                    << "msg k=v";
        QTest::newRow("space quoted") << "msg"
                                      << "k"
                                      << "a b"
                                      << "msg k=\"a b\"";
        QTest::newRow("quote escaped") << "msg"
                                       << "k"
                                       << "say \"hi\""
                                       << "msg k=\"say \\\"hi\\\"\"";
        QTest::newRow("newline escaped") << "msg"
                                         << "k"
                                         << "a\nb"
                                         << "msg k=\"a\\nb\"";
        QTest::newRow("backslash") << "msg"
                                   << "k"
                                   << "c:\\x"
                                   << "msg k=\"c:\\\\x\"";
        QTest::newRow("equals quoted") << "msg"
                                       << "k"
                                       << "a=b"
                                       << "msg k=\"a=b\"";
        QTest::newRow("empty value") << "msg"
                                     << "k"
                                     << ""
                                     << "msg k=\"\"";
        QTest::newRow("empty message") << ""
                                       << "k"
                                       << "v"
                                       << "k=v";
        QTest::newRow("unicode bare") << "msg"
                                      << "k" << QStringLiteral("ünïcode") << QStringLiteral("msg k=ünïcode");
    }
    void renderLine()
    {
        QFETCH(QString, message);
        QFETCH(QString, key);
        QFETCH(QString, value);
        QFETCH(QString, expected);
        QCOMPARE(LokiRender::renderLine(message, {{key, value}}), expected);
    }

    void renderLineKeepsMessageWithoutFields()
    {
        QCOMPARE(LokiRender::renderLine(QStringLiteral("just text"), {}), QStringLiteral("just text"));
        QCOMPARE(LokiRender::renderLine(QStringLiteral("a"), {{QStringLiteral("x"), QStringLiteral("1")},
                                                              {QStringLiteral("y"), QStringLiteral("2")}}),
                 QStringLiteral("a x=1 y=2"));
    }

    void composeLabels_data()
    {
        QTest::addColumn<QStringList>("allow");
        QTest::addColumn<QStringList>("deny");
        QTest::addColumn<LabelMap>("expected");
        const LabelMap base{{QStringLiteral("service"), QStringLiteral("kiosk")}};
        QTest::newRow("nothing allow-listed: no promotion") << QStringList() << QStringList() << base;
        LabelMap withMethod = base;
        withMethod.insert(QStringLiteral("http_method"), QStringLiteral("GET"));
        QTest::newRow("allow-listed and sanitized")
            << QStringList{QStringLiteral("http.method")} << QStringList() << withMethod;
        QTest::newRow("deny wins over allow") << QStringList{QStringLiteral("http.method")}
                                              << QStringList{QStringLiteral("http.method")} << base;
        QTest::newRow("deny by sanitized name") << QStringList{QStringLiteral("http.method")}
                                                << QStringList{QStringLiteral("http_method")} << base;
        QTest::newRow("empty value dropped") << QStringList{QStringLiteral("empty")} << QStringList() << base;
        QTest::newRow("an empty field never removes a static label")
            << QStringList{QStringLiteral("service")} << QStringList() << base;
    }
    void composeLabels()
    {
        QFETCH(QStringList, allow);
        QFETCH(QStringList, deny);
        QFETCH(LabelMap, expected);
        const FieldList fields{{QStringLiteral("http.method"), QStringLiteral("GET")},
                               {QStringLiteral("request_id"), QStringLiteral("r-1")},
                               {QStringLiteral("empty"), QString()},
                               {QStringLiteral("service"), QString()}};
        QCOMPARE(LokiRender::composeLabels({{QStringLiteral("service"), QStringLiteral("kiosk")}}, {}, fields,
                                           allow, deny),
                 expected);
    }

    void entryLabelsOverrideStatic()
    {
        const LabelMap labels =
            LokiRender::composeLabels({{QStringLiteral("env"), QStringLiteral("prod")},
                                       {QStringLiteral("service"), QStringLiteral("a")}},
                                      {{QStringLiteral("service"), QStringLiteral("b")}}, {}, {}, {});
        QCOMPARE(labels.value(QStringLiteral("service")), QStringLiteral("b"));
        QCOMPARE(labels.value(QStringLiteral("env")), QStringLiteral("prod"));
    }

    void streamKeyIsPrometheusText()
    {
        const LabelMap labels{{QStringLiteral("service"), QStringLiteral("kiosk")},
                              {QStringLiteral("level"), QStringLiteral("in\"fo\\\n")}};
        QCOMPARE(LokiRender::streamKey(labels), QByteArray("{level=\"in\\\"fo\\\\\\n\", service=\"kiosk\"}"));
        QCOMPARE(LokiRender::streamKey({}), QByteArray("{}"));
    }

    void jsonEscapingRoundTrips_data()
    {
        QTest::addColumn<QString>("text");
        QTest::newRow("plain") << "hello";
        QTest::newRow("quotes and backslashes") << "a \"b\" \\c\\";
        QTest::newRow("controls") << QString::fromLatin1("tab\tnl\ncr\rbell\x07nul") + QChar(0) +
                                         QStringLiteral("end");
        QTest::newRow("unicode") << QStringLiteral("日本語 ünï 😀");
        QTest::newRow("empty") << "";
    }
    void jsonEscapingRoundTrips()
    {
        QFETCH(QString, text);
        QByteArray json("[\"");
        LokiRender::appendJsonEscaped(json, text.toUtf8());
        json.append("\"]");
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
        QCOMPARE(error.error, QJsonParseError::NoError);
        QCOMPARE(doc.array().at(0).toString(), text);
    }

    void utf8Exact_data()
    {
        QTest::addColumn<QString>("text");
        QTest::newRow("empty") << QString();
        QTest::newRow("ascii") << QStringLiteral("plain ascii line with 0123 and ~");
        QTest::newRow("latin-1 but not ascii") << QStringLiteral("café");
        QTest::newRow("cjk and emoji") << QStringLiteral("日本語 😀");
        QTest::newRow("lone surrogate") << (QStringLiteral("x") + QChar(0xd800) + QStringLiteral("y"));
    }
    void utf8Exact()
    {
        QFETCH(QString, text);
        const QByteArray exact = LokiRender::toUtf8Exact(text);
        QCOMPARE(exact, text.toUtf8());                 // the same bytes as Qt's conversion ...
        QVERIFY(exact.capacity() <= exact.size() + 16); // ... without three bytes reserved per character
        QVERIFY(LokiRender::isValidUtf8(exact));
    }

    void utf8Validation_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<bool>("valid");
        QTest::newRow("empty") << QByteArray() << true;
        QTest::newRow("ascii, longer than a word") << QByteArray("0123456789abcdefghij") << true;
        QTest::newRow("two-byte") << QByteArray("caf\xc3\xa9") << true;
        QTest::newRow("four-byte emoji") << QByteArray("\xf0\x9f\x98\x80 after") << true;
        QTest::newRow("lone continuation") << QByteArray("abc\x80") << false;
        QTest::newRow("truncated sequence") << QByteArray("abcdefgh\xe6\x97") << false;
        QTest::newRow("overlong slash") << QByteArray("\xc0\xaf") << false;
        QTest::newRow("surrogate half") << QByteArray("\xed\xa0\x80") << false;
        QTest::newRow("above U+10FFFF") << QByteArray("\xf4\x90\x80\x80") << false;
        QTest::newRow("0xff") << QByteArray("\xff") << false;
    }
    void utf8Validation()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(bool, valid);
        QCOMPARE(LokiRender::isValidUtf8(bytes), valid);
    }

    void truncateLine_data()
    {
        QTest::addColumn<QByteArray>("line");
        QTest::addColumn<int>("max");
        QTest::newRow("ascii") << QByteArray(1000, 'a') << 100;
        QTest::newRow("two-byte characters at the cut")
            << QByteArray("a") + QByteArray("\xc3\xa9").repeated(500) << 101;
        QTest::newRow("four-byte characters at the cut")
            << QByteArray("\xf0\x9f\x98\x80").repeated(300) << 99;
    }
    void truncateLine()
    {
        QFETCH(QByteArray, line);
        QFETCH(int, max);
        const QByteArray cut = LokiRender::truncateLine(line, max);
        QVERIFY(cut.size() <= max);
        QVERIFY(cut.size() >= max - 4); // at most one character's bytes lost to the boundary
        QVERIFY(LokiRender::isValidUtf8(cut));
        QVERIFY2(cut.endsWith(" [lokiqt: " + QByteArray::number(line.size()) + " bytes, cut]"),
                 cut.constData());
        QVERIFY(line.startsWith(cut.left(cut.indexOf(" [lokiqt:"))));
        QCOMPARE(LokiRender::truncateLine(QByteArray("short"), 100), QByteArray("short"));
    }

    void encodeJsonGroupsStreamsInTimestampOrder()
    {
        LokiStreamInfo a{LokiRender::streamKey({{QStringLiteral("s"), QStringLiteral("a")}}),
                         LokiRender::jsonLabels({{QStringLiteral("s"), QStringLiteral("a")}})};
        LokiStreamInfo b{LokiRender::streamKey({{QStringLiteral("s"), QStringLiteral("b")}}),
                         LokiRender::jsonLabels({{QStringLiteral("s"), QStringLiteral("b")}})};
        std::vector<LokiQueuedEntry> entries;
        entries.push_back({30, &a, "a30", {}});
        entries.push_back({10, &b, "b10", {}});
        entries.push_back({20, &a, "a20", {}});
        entries.push_back({5, &b, "b5 \"q\"", {}});
        const LokiPushEncoder::Body body = LokiPushEncoder::encode(entries, LokiConfig::Encoding::Json, 6);
        QCOMPARE(body.contentType, QByteArray("application/json"));
        QJsonParseError error;
        const QJsonObject root = QJsonDocument::fromJson(body.data, &error).object();
        QCOMPARE(error.error, QJsonParseError::NoError);
        const QJsonArray streams = root.value(QStringLiteral("streams")).toArray();
        QCOMPARE(streams.size(), 2);
        QCOMPARE(streams[0]
                     .toObject()
                     .value(QStringLiteral("stream"))
                     .toObject()
                     .value(QStringLiteral("s"))
                     .toString(),
                 QStringLiteral("a"));
        const QJsonArray aValues = streams[0].toObject().value(QStringLiteral("values")).toArray();
        QCOMPARE(aValues.size(), 2);
        QCOMPARE(aValues[0].toArray()[0].toString(), QStringLiteral("20"));
        QCOMPARE(aValues[1].toArray()[0].toString(), QStringLiteral("30"));
        const QJsonArray bValues = streams[1].toObject().value(QStringLiteral("values")).toArray();
        QCOMPARE(bValues[0].toArray()[1].toString(), QStringLiteral("b5 \"q\""));
        QCOMPARE(bValues[1].toArray()[0].toString(), QStringLiteral("10"));
    }
    void lineFormatsRoundTrip_data()
    {
        QTest::addColumn<QString>("level");
        QTest::addColumn<QString>("message");
        QTest::addColumn<Pairs>("fields");
        QTest::addColumn<Pairs>("expected"); // what a parser must read back, in order
        const QString tricky =
            QStringLiteral("a \"quoted\" back\\slash\nnew line\ttab = equals \u00e9\u4e2d\U0001F600");
        QTest::newRow("plain message") << QString() << QStringLiteral("started") << Pairs()
                                       << Pairs{{QStringLiteral("msg"), QStringLiteral("started")}};
        QTest::newRow("handler level and fields")
            << QStringLiteral("warning") << QStringLiteral("disk almost full")
            << Pairs{{QStringLiteral("category"), QStringLiteral("app.disk")},
                     {QStringLiteral("free_mb"), QStringLiteral("12")}}
            << Pairs{{QStringLiteral("level"), QStringLiteral("warning")},
                     {QStringLiteral("msg"), QStringLiteral("disk almost full")},
                     {QStringLiteral("category"), QStringLiteral("app.disk")},
                     {QStringLiteral("free_mb"), QStringLiteral("12")}};
        QTest::newRow("level from a field goes first")
            << QString() << QStringLiteral("m")
            << Pairs{{QStringLiteral("a"), QStringLiteral("1")},
                     {QStringLiteral("level"), QStringLiteral("error")}}
            << Pairs{{QStringLiteral("level"), QStringLiteral("error")},
                     {QStringLiteral("msg"), QStringLiteral("m")},
                     {QStringLiteral("a"), QStringLiteral("1")}};
        QTest::newRow("escapes, unicode, empty values")
            << QStringLiteral("info") << tricky
            << Pairs{{QStringLiteral("empty"), QString()},
                     {QStringLiteral("same"), tricky},
                     {QStringLiteral("ctl"), QStringLiteral("bell\u0007nul\u0001")}}
            << Pairs{{QStringLiteral("level"), QStringLiteral("info")},
                     {QStringLiteral("msg"), tricky},
                     {QStringLiteral("empty"), QString()},
                     {QStringLiteral("same"), tricky},
                     {QStringLiteral("ctl"), QStringLiteral("bell\u0007nul\u0001")}};
        QTest::newRow("colliding names are renamed")
            << QStringLiteral("info") << QStringLiteral("m")
            << Pairs{{QStringLiteral("msg"), QStringLiteral("x")},
                     {QStringLiteral("level"), QStringLiteral("y")}}
            << Pairs{{QStringLiteral("level"), QStringLiteral("info")},
                     {QStringLiteral("msg"), QStringLiteral("m")},
                     {QStringLiteral("_msg"), QStringLiteral("x")},
                     {QStringLiteral("_level"), QStringLiteral("y")}};
        QTest::newRow("empty message")
            << QString() << QString() << Pairs() << Pairs{{QStringLiteral("msg"), QString()}};
    }
    void lineFormatsRoundTrip()
    {
        QFETCH(QString, level);
        QFETCH(QString, message);
        QFETCH(Pairs, fields);
        QFETCH(Pairs, expected);

        const QString logfmt = LokiRender::renderLine(LokiConfig::LineFormat::Logfmt, level, message, fields);
        Pairs parsed;
        QVERIFY2(parseLogfmt(logfmt, &parsed), qPrintable(logfmt));
        QCOMPARE(parsed, expected);
        QVERIFY(!logfmt.contains(QLatin1Char('\n')));

        const QString json = LokiRender::renderLine(LokiConfig::LineFormat::Json, level, message, fields);
        bool ok = false;
        Pairs fromJson = jsonPairs(json, &ok);
        QVERIFY2(ok, qPrintable(json));
        Pairs sortedExpected = expected;
        std::sort(sortedExpected.begin(), sortedExpected.end());
        std::sort(fromJson.begin(), fromJson.end());
        QCOMPARE(fromJson, sortedExpected);
        QVERIFY(json.startsWith(level.isEmpty() && !expected.first().first.startsWith(QLatin1String("level"))
                                    ? QStringLiteral("{\"msg\":")
                                    : QStringLiteral("{\"level\":")));

        // Plain stays what it was: the message, then key=value.
        QCOMPARE(LokiRender::renderLine(LokiConfig::LineFormat::Plain, QString(), message, fields),
                 LokiRender::renderLine(message, fields));
    }

    void logfmtKeysAreMadeParsable()
    {
        QCOMPARE(LokiRender::logfmtKey(QStringLiteral("a b=c\"d")), QStringLiteral("a_b_c_d"));
        QCOMPARE(LokiRender::logfmtKey(QString()), QStringLiteral("_"));
        QCOMPARE(LokiRender::logfmtKey(QStringLiteral("http.method")), QStringLiteral("http.method"));
    }
};

QTEST_GUILESS_MAIN(tst_Render)
#include "tst_render.moc"
