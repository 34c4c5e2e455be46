// SPDX-License-Identifier: MIT
// lokiqt-push end to end: the real program against the test receiver.
#include "lokitestcertificates.h"
#include "lokitestreceiver.h"

#include <QtCore/QLockFile>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <algorithm>

#include <memory>

#ifdef Q_OS_UNIX
#include <signal.h>
#include <unistd.h>
#endif

namespace {
constexpr int longWait = 60000;

struct Run
{
    int exitCode = -1;
    QString stderrText;
};

// The environment for a run: the caller's, without any LOKI_ variable (lokiqt-push reads them all), plus
// @p extraEnv.
QProcessEnvironment pushEnvironment(const QMap<QString, QString> &extraEnv)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const QString &name : env.keys()) {
        if (name.startsWith(QLatin1String("LOKI_")))
            env.remove(name);
    }
    for (auto it = extraEnv.cbegin(); it != extraEnv.cend(); ++it)
        env.insert(it.key(), it.value());
    return env;
}

Run runPush(const QStringList &args, const QByteArray &input, const QMap<QString, QString> &extraEnv = {})
{
    QProcess process;
    process.setProcessEnvironment(pushEnvironment(extraEnv));
    process.start(QStringLiteral(LOKIQT_PUSH_PATH), args);
    if (!process.waitForStarted(longWait))
        return {};
    process.write(input);
    process.closeWriteChannel();
    if (!process.waitForFinished(longWait) || process.exitStatus() != QProcess::NormalExit)
        return {};
    return {process.exitCode(), QString::fromUtf8(process.readAllStandardError())};
}

// Runs lokiqt-push through /bin/sh with @p shellRedirect applied to it (for example `<&-`, which closes
// its stdin: QProcess cannot start a child without one). Gives up after @p limitMs, killing it.
struct ShellRun
{
    bool finished = false;
    int exitCode = -1;
    QString stderrText;
    qint64 elapsedMs = 0;
};

ShellRun runPushInShell(const QStringList &args, const QString &shellRedirect, int limitMs,
                        const QByteArray &input = QByteArray(), const QMap<QString, QString> &extraEnv = {})
{
    QProcess process;
    process.setProcessEnvironment(pushEnvironment(extraEnv));
    // $0 is lokiqt-push, "$@" its arguments.
    const QString script = QStringLiteral("exec \"$0\" \"$@\" %1").arg(shellRedirect);
    process.start(QStringLiteral("/bin/sh"),
                  QStringList{QStringLiteral("-c"), script, QStringLiteral(LOKIQT_PUSH_PATH)} + args);
    QElapsedTimer timer;
    timer.start();
    ShellRun run;
    if (!process.waitForStarted(longWait))
        return run;
    if (!input.isEmpty())
        process.write(input);
    process.closeWriteChannel();
    run.finished = process.waitForFinished(limitMs) && process.exitStatus() == QProcess::NormalExit;
    run.elapsedMs = timer.elapsed();
    if (!run.finished) {
        process.kill();
        process.waitForFinished(longWait);
    }
    run.exitCode = process.exitCode();
    run.stderrText = QString::fromUtf8(process.readAllStandardError());
    return run;
}

QString writeFile(const QTemporaryDir &dir, const QString &name, const QByteArray &content)
{
    QFile file(dir.filePath(name));
    if (!file.open(QIODevice::WriteOnly))
        return QString();
    file.write(content);
    return file.fileName();
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

    // Starts lokiqt-push on this test's receiver with @p args, its stdin left open for the test to write.
    bool startPush(QProcess &process, const QStringList &args = {})
    {
        process.setProcessEnvironment(pushEnvironment({}));
        process.start(QStringLiteral(LOKIQT_PUSH_PATH),
                      QStringList{QStringLiteral("--url"), receiver->url().toString()} + args);
        return process.waitForStarted(longWait);
    }

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
        // Pushes under way side by side may arrive in any order; the timestamps keep the input's order, as
        // a query of Loki shows it.
        QList<ReceivedEntry> got = receiver->entries();
        std::sort(got.begin(), got.end(), [](const ReceivedEntry &a, const ReceivedEntry &b) {
            return a.timestampNs < b.timestampNs;
        });
        for (int i = 0; i < got.size(); i += 997)
            QCOMPARE(got[i].line, QString::number(i));
        // A backlog grows a batch to at most 4x --batch-entries.
        QVERIFY(receiver->pushCount() >= 25);
    }

    // `tail -f app.log | lokiqt-push`: a line is sent when it arrives, not when 64 KiB more input have come
    // or the input ends (as with fread() of a pipe).
    void linesFromAPipeGoAsTheyArrive()
    {
        QProcess process;
        QVERIFY(startPush(process, {QStringLiteral("--batch-wait-ms"), QStringLiteral("20")}));
        process.write("first\nsecond\n");
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 2, longWait); // stdin is still open
        process.write("third\n");
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 3, longWait);
        QCOMPARE(process.state(), QProcess::Running);
        process.closeWriteChannel();
        QVERIFY(process.waitForFinished(longWait));
        QCOMPARE(process.exitCode(), 0);
        QCOMPARE(lines(receiver->entries()),
                 (QStringList{QStringLiteral("first"), QStringLiteral("second"), QStringLiteral("third")}));
    }

    // Ctrl-C on `journalctl -f | lokiqt-push`, or a service stopped: what was read is delivered (a batch that
    // would wait 10 minutes goes at once), the summary is printed, and the exit status says it was delivered.
    void aStopSignalDeliversWhatWasRead_data()
    {
        QTest::addColumn<int>("signal");
#ifdef Q_OS_UNIX
        QTest::newRow("SIGINT") << int(SIGINT);
        QTest::newRow("SIGTERM") << int(SIGTERM);
#endif
    }
    void aStopSignalDeliversWhatWasRead()
    {
#ifndef Q_OS_UNIX
        QSKIP("signals are Unix's");
#else
        QFETCH(int, signal);
        QProcess process;
        QVERIFY(startPush(process, {QStringLiteral("--batch-entries"), QStringLiteral("2"),
                                    QStringLiteral("--batch-wait-ms"), QStringLiteral("600000")}));
        process.write("one\ntwo\nthree\n");
        // A full batch went, so all three were read (one write()); the third waits for a batch of its own.
        QTRY_VERIFY_WITH_TIMEOUT(receiver->entryCount() >= 2, longWait);
        QCOMPARE(process.state(), QProcess::Running); // stdin is still open
        QCOMPARE(::kill(pid_t(process.processId()), signal), 0);
        QVERIFY(process.waitForFinished(longWait));
        QCOMPARE(process.exitStatus(), QProcess::NormalExit);
        const QString err = QString::fromUtf8(process.readAllStandardError());
        QCOMPARE(process.exitCode(), 0);
        QCOMPARE(err.split(QLatin1Char('\n'), Qt::SkipEmptyParts).last(),
                 QStringLiteral("sent=3 dropped=0 failed=0 retries=0"));
        QCOMPARE(receiver->entryCount(), 3);
#endif
    }

    // A file that cannot be read (here a directory) is named with the reason, and the others are still sent.
    void anUnreadableFileIsNamedAndTheOthersGo()
    {
        QTemporaryDir dir;
        const QString good = writeFile(dir, QStringLiteral("good.log"), "kept\n");
        QVERIFY(!good.isEmpty());
        const Run run =
            runPush({QStringLiteral("--url"), receiver->url().toString(), dir.path(), good}, QByteArray());
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.stderrText.contains(QStringLiteral("cannot read ") + dir.path() + QStringLiteral(": ")),
                 qPrintable(run.stderrText));
        QCOMPARE(summaryOf(run), QStringLiteral("sent=1 dropped=0 failed=0 retries=0"));
        QCOMPARE(receiver->entryCount(), 1);
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

    void configuredByTheEnvironmentAlone()
    {
        // logcli's names configure the push: address, tenant, basic auth.
        receiver->setRequiredTenant(QStringLiteral("team-env"));
        receiver->setRequiredBasicAuth(QStringLiteral("loki"), QStringLiteral("pa ss:word"));
        const Run run = runPush({}, "from the environment\n",
                                {{QStringLiteral("LOKI_ADDR"), receiver->url().toString()},
                                 {QStringLiteral("LOKI_ORG_ID"), QStringLiteral("team-env")},
                                 {QStringLiteral("LOKI_USERNAME"), QStringLiteral("loki")},
                                 {QStringLiteral("LOKI_PASSWORD"), QStringLiteral("pa ss:word")}});
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(lines(receiver->entries()), QStringList{QStringLiteral("from the environment")});
        const ReceivedPush push = receiver->pushes().first();
        QCOMPARE(push.headers.value("x-scope-orgid"), QByteArray("team-env"));
        QCOMPARE(push.headers.value("authorization"), "Basic " + QByteArray("loki:pa ss:word").toBase64());
    }

    void optionsOverrideTheEnvironment()
    {
        receiver->setRequiredTenant(QStringLiteral("from-option"));
        receiver->setRequiredBearerToken(QStringLiteral("t0ken"));
        QTemporaryDir dir;
        const QString token = writeFile(dir, QStringLiteral("token"), "t0ken\n");
        // LOKI_URL wins over LOKI_ADDR, --url over both (even a LOKI_URL that is no URL); --tenant over
        // LOKI_ORG_ID; --bearer-token-file over the environment's basic auth.
        const QMap<QString, QString> env{{QStringLiteral("LOKI_URL"), QStringLiteral("http://u:s3cret@a b")},
                                         {QStringLiteral("LOKI_ADDR"), QStringLiteral("http://127.0.0.1:1")},
                                         {QStringLiteral("LOKI_ORG_ID"), QStringLiteral("from-env")},
                                         {QStringLiteral("LOKI_USERNAME"), QStringLiteral("loki")},
                                         {QStringLiteral("LOKI_PASSWORD"), QStringLiteral("s3cret")}};
        Run run = runPush({QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--tenant"),
                           QStringLiteral("from-option"), QStringLiteral("--bearer-token-file"), token},
                          "options win\n", env);
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(lines(receiver->entries()), QStringList{QStringLiteral("options win")});
        // LOKI_URL, when no --url replaces it, wins over LOKI_ADDR.
        run = runPush({QStringLiteral("--tenant"), QStringLiteral("from-option"),
                       QStringLiteral("--bearer-token-file"), token},
                      "LOKI_URL wins\n",
                      {{QStringLiteral("LOKI_URL"), receiver->url().toString()},
                       {QStringLiteral("LOKI_ADDR"), QStringLiteral("http://127.0.0.1:1")}});
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(lines(receiver->entries()),
                 (QStringList{QStringLiteral("options win"), QStringLiteral("LOKI_URL wins")}));
    }

    void environmentProblemsAreUsageErrors_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("says");
        QTest::newRow("malformed LOKI_URL") << "LOKI_URL"
                                            << "http://u:s3cret@a b"
                                            << "LOKI_URL: the value (not shown";
        QTest::newRow("LOKI_ADDR not http") << "LOKI_ADDR"
                                            << "ftp://loki"
                                            << "LOKI_ADDR: 'ftp://loki'";
        QTest::newRow("unreadable token file") << "LOKI_BEARER_TOKEN_FILE"
                                               << "/nonexistent/lokiqt-push-test"
                                               << "LOKI_BEARER_TOKEN_FILE: cannot read";
        QTest::newRow("password without user") << "LOKI_PASSWORD"
                                               << "s3cret"
                                               << "LOKI_PASSWORD: set without LOKI_USERNAME";
        QTest::newRow("unreadable CA") << "LOKI_CA_CERT_PATH"
                                       << "/nonexistent/lokiqt-push-test"
                                       << "LOKI_CA_CERT_PATH: cannot read";
        QTest::newRow("key without certificate") << "LOKI_CLIENT_KEY_PATH"
                                                 << "/nonexistent/lokiqt-push-test"
                                                 << "LOKI_CLIENT_KEY_PATH: set without";
    }
    void environmentProblemsAreUsageErrors()
    {
        QFETCH(QString, name);
        QFETCH(QString, value);
        QFETCH(QString, says);
        // With a usable LOKI_ADDR beside it: the problem alone makes it a usage error.
        const Run run = runPush({}, "never sent\n",
                                {{QStringLiteral("LOKI_ADDR"), receiver->url().toString()}, {name, value}});
        QCOMPARE(run.exitCode, 2);
        QVERIFY2(run.stderrText.contains(says), qPrintable(run.stderrText));
        QVERIFY2(!run.stderrText.contains(QLatin1String("s3cret")), qPrintable(run.stderrText));
        QCOMPARE(receiver->pushCount(), 0);
    }

    void tlsFromTheEnvironment()
    {
        LokiTestCertificates certificates;
        QString why;
        QVERIFY2(certificates.generate(&why), qPrintable(why)); // openssl is a test dependency
        LokiTestReceiver tls;
        QVERIFY(tls.listenTls(certificates.serverConfiguration(true)));
        QMap<QString, QString> env{
            {QStringLiteral("LOKI_ADDR"), tls.url().toString()},
            {QStringLiteral("LOKI_CA_CERT_PATH"), certificates.caCertificatePath()},
            {QStringLiteral("LOKI_CLIENT_CERT_PATH"), certificates.clientCertificatePath()},
            {QStringLiteral("LOKI_CLIENT_KEY_PATH"), certificates.clientKeyPath()}};
        Run run = runPush({}, "mutual TLS from the environment\n", env);
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(lines(tls.entries()), QStringList{QStringLiteral("mutual TLS from the environment")});

        // Without the CA the server's certificate is not trusted; LOKI_TLS_SKIP_VERIFY accepts it, loudly.
        env.remove(QStringLiteral("LOKI_CA_CERT_PATH"));
        run = runPush({QStringLiteral("--timeout-ms"), QStringLiteral("3000")}, "untrusted\n", env);
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(tls.entryCount(), 1);
        env.insert(QStringLiteral("LOKI_TLS_SKIP_VERIFY"), QStringLiteral("true"));
        run = runPush({}, "not verified\n", env);
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.stderrText.contains(QLatin1String("NOT verified")), qPrintable(run.stderrText));
        QCOMPARE(lines(tls.entries()), (QStringList{QStringLiteral("mutual TLS from the environment"),
                                                    QStringLiteral("not verified")}));
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

    // Failure 2.8: with stdin closed (`<&-`), fd 0 was reused by Qt's event dispatcher (its eventfd) and
    // lokiqt-push pushed a line of its bytes (\x03 and 7 NULs). A closed stdin is no input at all.
    void closedStdinIsNoInput()
    {
        const ShellRun run = runPushInShell({QStringLiteral("--url"), receiver->url().toString(),
                                             QStringLiteral("--timeout-ms"), QStringLiteral("3000")},
                                            QStringLiteral("<&-"), longWait);
        QVERIFY2(run.finished, qPrintable(run.stderrText));
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.stderrText.endsWith(QLatin1String("sent=0 dropped=0 failed=0 retries=0\n")),
                 qPrintable(run.stderrText));
        QCOMPARE(receiver->pushCount(), 0);
        // Files named on the command line are still read.
        QTemporaryDir dir;
        QFile file(dir.filePath(QStringLiteral("in.log")));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("from a file\n");
        file.close();
        const ShellRun withFile =
            runPushInShell({QStringLiteral("--url"), receiver->url().toString(), file.fileName()},
                           QStringLiteral("<&-"), longWait);
        QVERIFY2(withFile.finished, qPrintable(withFile.stderrText));
        QCOMPARE(withFile.exitCode, 0);
        QCOMPARE(lines(receiver->entries()), QStringList{QStringLiteral("from a file")});
    }

    // A closed stdout and stderr (`lokiqt-push >&- 2>&-`, a daemon started without them): they are reserved
    // on /dev/null, so nothing lokiqt-push writes there lands in what it opened next (Qt's eventfd took fd
    // 2).
    void closedOutputsAreReservedOnDevNull()
    {
#ifndef Q_OS_LINUX
        QSKIP("reads the descriptors through Linux's /proc");
#else
        QProcess process;
        process.setProcessEnvironment(pushEnvironment({}));
        const QString script = QStringLiteral("exec \"$0\" \"$@\" >&- 2>&-");
        process.start(QStringLiteral("/bin/sh"),
                      {QStringLiteral("-c"), script, QStringLiteral(LOKIQT_PUSH_PATH),
                       QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--batch-wait-ms"),
                       QStringLiteral("20")});
        QVERIFY(process.waitForStarted(longWait));
        process.write("one line\n");
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait); // it runs (the shell exec'd it)
        const QString fds = QStringLiteral("/proc/%1/fd/").arg(process.processId());
        QCOMPARE(QFile::symLinkTarget(fds + QLatin1Char('1')), QStringLiteral("/dev/null"));
        QCOMPARE(QFile::symLinkTarget(fds + QLatin1Char('2')), QStringLiteral("/dev/null"));
        process.closeWriteChannel();
        QVERIFY(process.waitForFinished(longWait));
        QCOMPARE(process.exitStatus(), QProcess::NormalExit);
        QCOMPARE(process.exitCode(), 0);
#endif
    }

    // stderr a pipe whose reader went away (a logger that died): writing the summary there must not kill
    // lokiqt-push with SIGPIPE; the exit status still says whether every line was delivered. (Qt ignores
    // SIGPIPE once it made a socket; with no input there is none.)
    void aBrokenStderrPipeDoesNotKillIt_data()
    {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<int>("lines");
        QTest::newRow("lines") << QByteArray("first\nsecond\n") << 2;
        QTest::newRow("no input") << QByteArray() << 0;
    }
    void aBrokenStderrPipeDoesNotKillIt()
    {
#ifndef Q_OS_UNIX
        QSKIP("SIGPIPE is Unix's");
#else
        QFETCH(QByteArray, input);
        QFETCH(int, lines);
        QProcess process;
        // In the child: SIGPIPE as from a shell (this test process ignores it, as Qt does once it made a
        // socket, and a child would inherit that), and stderr a pipe whose reading end is closed.
        process.setChildProcessModifier([] {
            ::signal(SIGPIPE, SIG_DFL);
            int ends[2];
            if (::pipe(ends) == 0) {
                ::close(ends[0]);
                ::dup2(ends[1], STDERR_FILENO);
                ::close(ends[1]);
            }
        });
        QVERIFY(startPush(process));
        process.write(input);
        process.closeWriteChannel();
        QVERIFY(process.waitForFinished(longWait));
        QCOMPARE(process.exitStatus(), QProcess::NormalExit);
        QCOMPARE(process.exitCode(), 0);
        QCOMPARE(receiver->entryCount(), lines);
#endif
    }

    // Input with no newline for a long time (a binary file, minified JSON): lokiqt-push keeps only a little
    // more of the line than the client would keep (it cuts it, with a marker), not all of it, and goes on
    // after it.
    void aLineWithoutEndCostsNoMoreThanTheLineLimit()
    {
#ifndef Q_OS_LINUX
        QSKIP("reads the peak RSS from Linux's /proc");
#else
        QProcess process;
        QVERIFY(startPush(process, {QStringLiteral("--batch-wait-ms"), QStringLiteral("20")}));
        auto peakRssKiB = [&process] {
            QFile status(QStringLiteral("/proc/%1/status").arg(process.processId()));
            if (!status.open(QIODevice::ReadOnly))
                return qint64(-1);
            for (const QByteArray &line : status.readAll().split('\n')) {
                if (line.startsWith("VmHWM:"))
                    return line.mid(6).trimmed().split(' ').first().toLongLong();
            }
            return qint64(-1);
        };
        process.write("warm\n");
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 1, longWait);
        const qint64 before = peakRssKiB();
        QVERIFY(before > 0);
        constexpr int mib = 64;
        const QByteArray chunk(1 << 20, 'x');
        for (int i = 0; i < mib; ++i) {
            process.write(chunk);
            while (process.bytesToWrite() > 0)
                QVERIFY(process.waitForBytesWritten(longWait));
        }
        process.write("\nafter\n");
        QTRY_COMPARE_WITH_TIMEOUT(receiver->entryCount(), 3, longWait);
        const qint64 grown = peakRssKiB() - before;
        QVERIFY2(grown < 16 * 1024, qPrintable(QStringLiteral("peak RSS grew by %1 KiB").arg(grown)));
        process.closeWriteChannel();
        QVERIFY(process.waitForFinished(longWait));
        QCOMPARE(process.exitCode(), 0);
        const QList<ReceivedEntry> got = receiver->entries();
        QCOMPARE(got.size(), 3);
        QVERIFY(got[1].line.startsWith(QStringLiteral("xxxx")));
        QVERIFY2(got[1].line.size() <= 256 * 1024 + 64, qPrintable(QString::number(got[1].line.size())));
        QCOMPARE(got[2].line, QStringLiteral("after"));
#endif
    }

    // Failure 2.5: Loki answering 503 forever, more input than --spool-max-bytes, Block mode: send() waited
    // for room for ever (a spool frees room only on acknowledgement). Now lokiqt-push gives up within
    // --timeout-ms plus a margin and counts what it could not take as timed out.
    void blockedSpoolEndsByTheDeadline()
    {
        receiver->setFailRate(1.0, 503);
        QTemporaryDir dir;
        QByteArray input;
        const QByteArray padding(120, 'x');
        for (int i = 0; i < 30000; ++i) // ~3.7 MB, over three times the spool's 1 MiB
            input += QByteArray::number(i) + ' ' + padding + '\n';
        const ShellRun run =
            runPushInShell({QStringLiteral("--url"), receiver->url().toString(),
                            QStringLiteral("--spool-dir"), dir.path(), QStringLiteral("--spool-max-bytes"),
                            QString::number(1024 * 1024), QStringLiteral("--backpressure"),
                            QStringLiteral("block"), QStringLiteral("--timeout-ms"), QStringLiteral("2000")},
                           QString(), 20000, input);
        QVERIFY2(run.finished, "lokiqt-push did not exit within 20 s of a 2 s --timeout-ms");
        QCOMPARE(run.exitCode, 1);
        const QRegularExpression re(QStringLiteral("timedOut=(\\d+)"));
        const QRegularExpressionMatch m = re.match(run.stderrText);
        QVERIFY2(m.hasMatch(), qPrintable(run.stderrText));
        QVERIFY2(m.captured(1).toInt() > 0, qPrintable(run.stderrText));
    }

    // Failure 2.9 (usage part): a malformed --header must not echo its value, which may be a secret.
    void malformedHeaderDoesNotEchoItsValue()
    {
        const Run run =
            runPush({QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--header"),
                     QStringLiteral("Authorization Bearer s3cr3t-t0ken")},
                    "never sent\n");
        QCOMPARE(run.exitCode, 2);
        QVERIFY2(run.stderrText.contains(QLatin1String("--header")), qPrintable(run.stderrText));
        QVERIFY2(!run.stderrText.contains(QLatin1String("s3cr3t")), qPrintable(run.stderrText));
        QCOMPARE(receiver->pushCount(), 0);
    }

    void basicAuthPasswordFromEnvironmentOrFile()
    {
        receiver->setRequiredBasicAuth(QStringLiteral("loki"), QStringLiteral("pa ss:word"));
        const QByteArray expected = "Basic " + QByteArray("loki:pa ss:word").toBase64();
        const QStringList args{QStringLiteral("--url"), receiver->url().toString(), QStringLiteral("--user"),
                               QStringLiteral("loki")};
        Run run =
            runPush(args, "from env\n", {{QStringLiteral("LOKI_PASSWORD"), QStringLiteral("pa ss:word")}});
        QCOMPARE(run.exitCode, 0);
        QTemporaryDir dir;
        const QString file =
            writeFile(dir, QStringLiteral("password"), "pa ss:word\r\nsecond line ignored\n");
        // The file wins over the environment.
        run = runPush(args + QStringList{QStringLiteral("--password-file"), file}, "from file\n",
                      {{QStringLiteral("LOKI_PASSWORD"), QStringLiteral("wrong")}});
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(lines(receiver->entries()),
                 (QStringList{QStringLiteral("from env"), QStringLiteral("from file")}));
        for (const ReceivedPush &push : receiver->pushes())
            QCOMPARE(push.headers.value("authorization"), expected);
        // A wrong password is reported (401) and the line counted as failed.
        run = runPush(args, "refused\n", {{QStringLiteral("LOKI_PASSWORD"), QStringLiteral("wrong")}});
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.stderrText.contains(QLatin1String("401")), qPrintable(run.stderrText));
        QVERIFY2(!run.stderrText.contains(QLatin1String("wrong")), qPrintable(run.stderrText));
    }

    void bearerTokenFromFile()
    {
        receiver->setRequiredBearerToken(QStringLiteral("t0ken"));
        QTemporaryDir dir;
        const QString file = writeFile(dir, QStringLiteral("token"), "t0ken\n");
        const Run run = runPush({QStringLiteral("--url"), receiver->url().toString(),
                                 QStringLiteral("--bearer-token-file"), file},
                                "with a token\n");
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(receiver->pushes().first().headers.value("authorization"), QByteArray("Bearer t0ken"));
    }

    void mutualTlsWithCaAndClientCertificate()
    {
        LokiTestCertificates certificates;
        QString why;
        QVERIFY2(certificates.generate(&why), qPrintable(why)); // openssl is a test dependency
        LokiTestReceiver tls;
        QVERIFY(tls.listenTls(certificates.serverConfiguration(true)));
        const QStringList args{QStringLiteral("--url"), tls.url().toString(), QStringLiteral("--ca-cert"),
                               certificates.caCertificatePath()};
        const Run run =
            runPush(args + QStringList{QStringLiteral("--client-cert"), certificates.clientCertificatePath(),
                                       QStringLiteral("--client-key"), certificates.clientKeyPath()},
                    "over mutual TLS\n");
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(lines(tls.entries()), QStringList{QStringLiteral("over mutual TLS")});
        // Without the client certificate the handshake fails: nothing is stored.
        const Run without =
            runPush(args + QStringList{QStringLiteral("--timeout-ms"), QStringLiteral("3000")},
                    "no client certificate\n");
        QCOMPARE(without.exitCode, 1);
        QCOMPARE(tls.entryCount(), 1);
    }

    void credentialOptionErrors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("says");
        const QString missing = QStringLiteral("/nonexistent/lokiqt-push-test");
        QTest::newRow("user without password")
            << QStringList{QStringLiteral("--user"), QStringLiteral("loki")}
            << QStringLiteral("LOKI_PASSWORD");
        QTest::newRow("unreadable password file")
            << QStringList{QStringLiteral("--user"), QStringLiteral("loki"),
                           QStringLiteral("--password-file"), missing}
            << QStringLiteral("--password-file: cannot read");
        QTest::newRow("password file without user")
            << QStringList{QStringLiteral("--password-file"), missing} << QStringLiteral("needs --user");
        QTest::newRow("unreadable token file") << QStringList{QStringLiteral("--bearer-token-file"), missing}
                                               << QStringLiteral("--bearer-token-file: cannot read");
        QTest::newRow("unreadable ca")
            << QStringList{QStringLiteral("--ca-cert"), missing} << QStringLiteral("--ca-cert: cannot read");
        QTest::newRow("ca not pem") << QStringList{QStringLiteral("--ca-cert"), QStringLiteral("NOTPEM")}
                                    << QStringLiteral("no PEM certificate");
        QTest::newRow("cert without key")
            << QStringList{QStringLiteral("--client-cert"), missing} << QStringLiteral("go together");
        QTest::newRow("unreadable client cert")
            << QStringList{QStringLiteral("--client-cert"), missing, QStringLiteral("--client-key"), missing}
            << QStringLiteral("--client-cert: cannot read");
        QTest::newRow("no password option")
            << QStringList{QStringLiteral("--password"), QStringLiteral("x")} << QStringLiteral("password");
    }
    void credentialOptionErrors()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, says);
        QTemporaryDir dir;
        const QString notPem = writeFile(dir, QStringLiteral("not.pem"), "just text\n");
        args.replaceInStrings(QStringLiteral("NOTPEM"), notPem);
        const Run run =
            runPush(QStringList{QStringLiteral("--url"), receiver->url().toString()} + args, "never sent\n");
        QCOMPARE(run.exitCode, 2);
        QVERIFY2(run.stderrText.contains(says), qPrintable(run.stderrText));
        QCOMPARE(receiver->pushCount(), 0);
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
