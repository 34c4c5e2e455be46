// SPDX-License-Identifier: MIT
// lokiqt-push end to end: the real program against the test receiver.
#include "lokitestreceiver.h"

#include <QtCore/QLockFile>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <memory>

namespace {
constexpr int longWait = 60000;

struct Run
{
    int exitCode = -1;
    QString stderrText;
};

Run runPush(const QStringList &args, const QByteArray &input, const QMap<QString, QString> &extraEnv = {})
{
    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("LOKI_URL"));
    for (auto it = extraEnv.cbegin(); it != extraEnv.cend(); ++it)
        env.insert(it.key(), it.value());
    process.setProcessEnvironment(env);
    process.start(QStringLiteral(LOKIQT_PUSH_PATH), args);
    if (!process.waitForStarted(longWait))
        return {};
    process.write(input);
    process.closeWriteChannel();
    if (!process.waitForFinished(longWait) || process.exitStatus() != QProcess::NormalExit)
        return {};
    return {process.exitCode(), QString::fromUtf8(process.readAllStandardError())};
}

QString summaryOf(const Run &run)
{
    const QStringList lines = run.stderrText.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    return lines.isEmpty() ? QString() : lines.last();
}
} // namespace

class tst_LokiqtPush : public QObject
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

    void deliversStdinInOrder()
    {
        const Run run =
            runPush({QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--label"),
                     QStringLiteral("app=cli"), QStringLiteral("--label"), QStringLiteral("env=test")},
                    "first\nsecond line\r\n\nthird \"quoted\"\nno newline at end");
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(summaryOf(run), QStringLiteral("sent=4 dropped=0 failed=0 retries=0"));
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 4);
        const QStringList expected{QStringLiteral("first"), QStringLiteral("second line"),
                                   QStringLiteral("third \"quoted\""), QStringLiteral("no newline at end")};
        for (int i = 0; i < got.size(); ++i) {
            QCOMPARE(got[i].line, expected[i]);
            QCOMPARE(got[i].labels,
                     (QMap<QString, QString>{{QStringLiteral("app"), QStringLiteral("cli")},
                                             {QStringLiteral("env"), QStringLiteral("test")}}));
            if (i > 0)
                QVERIFY(got[i].timestampNs > got[i - 1].timestampNs);
        }
    }

    void readsFilesInOrder()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        QFile a(dir.filePath(QStringLiteral("a.log")));
        QFile b(dir.filePath(QStringLiteral("b.log")));
        QVERIFY(a.open(QIODevice::WriteOnly));
        a.write("a1\na2\n");
        a.close();
        QVERIFY(b.open(QIODevice::WriteOnly));
        b.write("b1\n");
        b.close();
        const Run run =
            runPush({QStringLiteral("--url"), receiver->url().toString(), a.fileName(), b.fileName()},
                    "ignored stdin\n");
        QCOMPARE(run.exitCode, 0);
        QStringList lines;
        for (const ReceivedEntry &e : receiver->entries())
            lines << e.line;
        QCOMPARE(lines, (QStringList{QStringLiteral("a1"), QStringLiteral("a2"), QStringLiteral("b1")}));
    }

    void manyLinesSmallBatches()
    {
        QByteArray input;
        for (int i = 0; i < 100000; ++i)
            input += QByteArray::number(i) + '\n';
        const Run run =
            runPush({QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--batch-entries"),
                     QStringLiteral("1000"), QStringLiteral("--queue-capacity"), QStringLiteral("5000")},
                    input);
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(summaryOf(run), QStringLiteral("sent=100000 dropped=0 failed=0 retries=0"));
        QCOMPARE(receiver->entryCount(), 100000);
        const QList<ReceivedEntry> got = receiver->entries();
        for (int i = 0; i < got.size(); i += 997)
            QCOMPARE(got[i].line, QString::number(i));
        QVERIFY(receiver->pushCount() >= 100);
    }

    void tenantHeaderAndEnvironmentUrl()
    {
        const Run run = runPush({QStringLiteral("--tenant"), QStringLiteral("team-a"),
                                 QStringLiteral("--header"), QStringLiteral("X-Token: abc def")},
                                "hello\n", {{QStringLiteral("LOKI_URL"), receiver->url().toString()}});
        QCOMPARE(run.exitCode, 0);
        const ReceivedPush push = receiver->pushes().first();
        QCOMPARE(push.headers.value("x-scope-orgid"), QByteArray("team-a"));
        QCOMPARE(push.headers.value("x-token"), QByteArray("abc def"));
    }

    void eachEncoding_data()
    {
        QTest::addColumn<QString>("encoding");
        QTest::addColumn<QByteArray>("contentType");
        QTest::newRow("protobuf") << "protobuf" << QByteArray("application/x-protobuf");
        QTest::newRow("json") << "json" << QByteArray("application/json");
        QTest::newRow("json-gzip") << "json-gzip" << QByteArray("application/json");
    }
    void eachEncoding()
    {
        QFETCH(QString, encoding);
        QFETCH(QByteArray, contentType);
        const Run run = runPush(
            {QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--encoding"), encoding},
            "x\ny\n");
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(receiver->entryCount(), 2);
        QCOMPARE(receiver->pushes().first().contentType, contentType);
    }

    void retriesAreCounted()
    {
        receiver->failNext(2, 503);
        const Run run = runPush({QStringLiteral("--url"), receiver->url().toString()}, "x\ny\n");
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(summaryOf(run), QStringLiteral("sent=2 dropped=0 failed=0 retries=2"));
    }

    void failedPushExitsOne()
    {
        receiver->failNext(1, 400, "entry too far behind");
        const Run run = runPush({QStringLiteral("--url"), receiver->url().toString()}, "a\nb\nc\n");
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(summaryOf(run), QStringLiteral("sent=0 dropped=0 failed=3 retries=0"));
        QVERIFY2(run.stderrText.contains(QStringLiteral("entry too far behind")), qPrintable(run.stderrText));
    }

    void serverDownExitsOneByDeadline()
    {
        receiver->stop();
        QElapsedTimer timer;
        timer.start();
        const Run run = runPush({QStringLiteral("--url"), receiver->url().toString(),
                                 QStringLiteral("--timeout-ms"), QStringLiteral("500")},
                                "lost\n");
        QCOMPARE(run.exitCode, 1);
        QVERIFY(timer.elapsed() < longWait);
        QVERIFY2(summaryOf(run).startsWith(QStringLiteral("sent=0 ")), qPrintable(run.stderrText));
    }

    void droppedLinesExitOne()
    {
        receiver->setResponseDelay(std::chrono::milliseconds(1000));
        QByteArray input;
        for (int i = 0; i < 200; ++i)
            input += "line " + QByteArray::number(i) + '\n';
        const Run run =
            runPush({QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--backpressure"),
                     QStringLiteral("drop-new"), QStringLiteral("--queue-capacity"), QStringLiteral("10"),
                     QStringLiteral("--batch-entries"), QStringLiteral("10")},
                    input);
        QCOMPARE(run.exitCode, 1);
        const QRegularExpression re(QStringLiteral("^sent=(\\d+) dropped=(\\d+) failed=0 retries=0$"));
        const QRegularExpressionMatch m = re.match(summaryOf(run));
        QVERIFY2(m.hasMatch(), qPrintable(run.stderrText));
        QVERIFY(m.captured(2).toInt() > 0);
        QCOMPARE(m.captured(1).toInt() + m.captured(2).toInt(), 200);
        QCOMPARE(receiver->entryCount(), m.captured(1).toInt());
    }

    void usageErrorsExitTwo_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("unknown option") << QStringList{QStringLiteral("--bogus")};
        QTest::newRow("bad backpressure")
            << QStringList{QStringLiteral("--backpressure"), QStringLiteral("drop")};
        QTest::newRow("label without value") << QStringList{QStringLiteral("--label"), QStringLiteral("app")};
        QTest::newRow("invalid label name")
            << QStringList{QStringLiteral("--label"), QStringLiteral("app-x=1")};
        QTest::newRow("zero batch") << QStringList{QStringLiteral("--batch-entries"), QStringLiteral("0")};
        QTest::newRow("not a number") << QStringList{QStringLiteral("--timeout-ms"), QStringLiteral("soon")};
        QTest::newRow("bad header") << QStringList{QStringLiteral("--header"), QStringLiteral("novalue")};
        QTest::newRow("ftp url") << QStringList{QStringLiteral("--url"), QStringLiteral("ftp://x")};
        QTest::newRow("bad encoding") << QStringList{QStringLiteral("--encoding"), QStringLiteral("xml")};
        QTest::newRow("bad spool sync")
            << QStringList{QStringLiteral("--spool-sync"), QStringLiteral("daily")};
        QTest::newRow("spool too small")
            << QStringList{QStringLiteral("--spool-dir"), QStringLiteral("/tmp/x"),
                           QStringLiteral("--spool-max-bytes"), QStringLiteral("1000")};
    }

    void spoolKeepsUndeliveredLinesForTheNextRun()
    {
        QTemporaryDir dir;
        const QStringList args{QStringLiteral("--url"),        receiver->url().toString(),
                               QStringLiteral("--spool-dir"),  dir.path(),
                               QStringLiteral("--timeout-ms"), QStringLiteral("300")};
        receiver->stop();
        const Run first = runPush(args, "one\ntwo\nthree\n");
        QCOMPARE(first.exitCode, 1);
        QVERIFY2(summaryOf(first).endsWith(QLatin1String("replayed=0 spooled=3")),
                 qPrintable(first.stderrText));

        // The next run, with nothing of its own, delivers them.
        QVERIFY(receiver->restart());
        const Run second = runPush(args, "");
        QCOMPARE(second.exitCode, 0);
        QCOMPARE(summaryOf(second),
                 QStringLiteral("sent=3 dropped=0 failed=0 retries=0 replayed=3 spooled=0"));
        QCOMPARE(lines(receiver->entries()),
                 (QStringList{QStringLiteral("one"), QStringLiteral("two"), QStringLiteral("three")}));

        // Left-overs go before a run's own input.
        receiver->stop();
        QCOMPARE(runPush(args, "four\n").exitCode, 1);
        QVERIFY(receiver->restart());
        receiver->clear();
        const Run fourth = runPush(args, "five\n");
        QCOMPARE(fourth.exitCode, 0);
        QCOMPARE(lines(receiver->entries()), (QStringList{QStringLiteral("four"), QStringLiteral("five")}));
    }

    void aSpoolDirectoryInUseIsAUsageError()
    {
        QTemporaryDir dir;
        QLockFile lock(dir.filePath(QStringLiteral("lock")));
        QVERIFY(lock.tryLock(0));
        const Run run = runPush(
            {QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--spool-dir"), dir.path()},
            "never sent\n");
        QCOMPARE(run.exitCode, 2);
        QVERIFY2(run.stderrText.contains(QLatin1String("in use by process")), qPrintable(run.stderrText));
        QCOMPARE(receiver->pushCount(), 0);
    }
    void usageErrorsExitTwo()
    {
        QFETCH(QStringList, args);
        const Run run = runPush(args, "never sent\n");
        QCOMPARE(run.exitCode, 2);
        QVERIFY(!run.stderrText.isEmpty());
        QCOMPARE(receiver->pushCount(), 0);
    }
};

QTEST_GUILESS_MAIN(tst_LokiqtPush)
#include "tst_lokiqtpush.moc"
