// SPDX-License-Identifier: MIT
// lokiqt-push: one Loki entry per input line, from stdin or files.

#include <lokiqt/lokiclient.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QTextStream>
#if QT_CONFIG(ssl)
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#elif defined(Q_OS_WIN)
#include <io.h>
#endif

namespace {
constexpr int exitDelivered = 0;
constexpr int exitLost = 1;
constexpr int exitUsage = 2;

int usageError(const QString &message)
{
    QTextStream(stderr) << "lokiqt-push: " << message << "\nTry 'lokiqt-push --help'.\n";
    return exitUsage;
}

#ifdef Q_OS_UNIX
// Whether standard descriptor @p wanted was open. A closed one is reserved on /dev/null (opened with @p
// flags), which a program (not a library) may do: else the next descriptor anything opens (Qt's event
// dispatcher opens an eventfd, then sockets to Loki, spool files) would become it, to be read as input (fd 0)
// or to receive the summary and warnings (fds 1 and 2). Call it before anything opens a descriptor.
bool reserveIfClosed(int wanted, int flags)
{
    if (::fcntl(wanted, F_GETFD) != -1)
        return true;
    const int fd = ::open("/dev/null", flags);
    if (fd > wanted) { // not the lowest free descriptor: a lower one is closed too, or it is taken after all
        ::dup2(fd, wanted);
        ::close(fd);
    }
    return false;
}
#endif

// Whether the process was started with a standard input (`lokiqt-push <&-` has none: stdin counts as
// absent, and fd 0 reads /dev/null).
bool standardInputIsOpen()
{
#ifdef Q_OS_UNIX
    return reserveIfClosed(STDIN_FILENO, O_RDONLY);
#elif defined(Q_OS_WIN)
    const intptr_t handle = ::_get_osfhandle(0); // -1: not open; -2: not associated with a stream
    return handle != -1 && handle != -2;
#else
    return true;
#endif
}

// A closed stdout or stderr (`lokiqt-push 2>&-`, a daemon started without them) writes to /dev/null.
void reserveClosedOutputs()
{
#ifdef Q_OS_UNIX
    reserveIfClosed(STDOUT_FILENO, O_WRONLY);
    reserveIfClosed(STDERR_FILENO, O_WRONLY);
#endif
}

#ifdef Q_OS_UNIX
// SIGINT or SIGTERM (Ctrl-C on `journalctl -f | lokiqt-push`, a service stopped): reading stops, and what was
// read is delivered as at the end of the input, within --timeout-ms; a second signal ends the program at
// once.
volatile std::sig_atomic_t g_stopSignal = 0;
volatile std::sig_atomic_t g_inputFd = -1; ///< the descriptor being read, or -1
int g_devNull = -1;

extern "C" void onStopSignal(int signal)
{
    g_stopSignal = signal;
    struct sigaction action = {};
    action.sa_handler = SIG_DFL; // the second one: the default action
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    // A read() begun after the check of g_stopSignal finds the end of its input at once (a blocked one
    // returns with EINTR): the descriptor now reads /dev/null.
    if (g_inputFd >= 0 && g_devNull >= 0)
        ::dup2(g_devNull, g_inputFd);
}

// Before QCoreApplication and the client start threads: those threads keep SIGINT and SIGTERM blocked, so the
// signals reach the main thread, whose read() they interrupt.
void maskStopSignals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    ::pthread_sigmask(how, &set, nullptr);
}

// Before any thread starts: SIGINT and SIGTERM blocked (see maskStopSignals()), SIGPIPE ignored.
void prepareSignals()
{
    maskStopSignals(SIG_BLOCK);
    // A stderr whose reader went away (a logger that died) fails a write with EPIPE instead of ending the
    // program before it delivered what it read. Qt ignores SIGPIPE too, but only once it made a socket.
    ::signal(SIGPIPE, SIG_IGN);
}

// Once the client's threads run: the main thread takes the signals (not restarting read()).
void catchStopSignals()
{
    g_devNull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct sigaction action = {};
    action.sa_handler = onStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    maskStopSignals(SIG_UNBLOCK);
}

bool stopRequested()
{
    return g_stopSignal != 0;
}
#else
void prepareSignals() {}
void catchStopSignals() {}
bool stopRequested()
{
    return false;
}
#endif

bool parsePositive(const QString &text, qint64 *out)
{
    bool ok = false;
    const qint64 value = text.toLongLong(&ok);
    if (!ok || value < 1)
        return false;
    *out = value;
    return true;
}

// Reads a whole small file (a password, a token, a PEM file). False, with the reason in @p why, when it
// cannot.
bool readSmallFile(const QString &path, QByteArray *out, QString *why)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *why = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return false;
    }
    *out = file.read(1024 * 1024);
    return true;
}

// A secret kept in a file: its first line, without the line end.
QByteArray firstLine(const QByteArray &text)
{
    const qsizetype end = text.indexOf('\n');
    QByteArray line = end < 0 ? text : text.left(end);
    if (line.endsWith('\r'))
        line.chop(1);
    return line;
}

// Reads @p file in large blocks and sends one entry per line; returns the number of lines sent.
struct Pusher
{
    LokiClient *client;
    std::chrono::milliseconds lineTimeout; // the longest one line waits for room (Block mode)
    // The most of one line kept: a little more than the client keeps (it cuts longer lines, with a marker,
    // and counts them), so input with no newline for gigabytes costs no more memory than this.
    qsizetype maxKept;
    qint64 lines = 0;
    qint64 refused = 0;
    bool stalled = false; // a line timed out: the next ones take room only when there is some at once

    void keep(QByteArray &pending, const char *data, qsizetype size) const
    {
        pending.append(data, std::min(size, std::max<qsizetype>(0, maxKept - pending.size())));
    }

    void sendLine(const char *data, qsizetype size)
    {
        if (size > 0 && data[size - 1] == '\r')
            --size;
        if (size == 0)
            return; // empty lines carry nothing: Loki has nothing to store
        ++lines;
        // Every send() has a deadline: with Loki down and the queue (or a spool, which frees room only on
        // acknowledgement) full, Block mode would otherwise wait for ever. After one line timed out, the
        // following ones do not wait (each would time out again) until one finds room.
        const QDeadlineTimer deadline(stalled ? std::chrono::milliseconds(0) : lineTimeout);
        const LokiClient::SendResult result = client->send(QString::fromUtf8(data, size), deadline);
        if (result == LokiClient::SendResult::TimedOut)
            stalled = true;
        else if (result == LokiClient::SendResult::Accepted)
            stalled = false;
        if (result != LokiClient::SendResult::Accepted)
            ++refused;
    }

    // What @p file has now, up to @p size bytes: 0 at its end, -1 on an error. Not fread(), which waits
    // until it has all @p size bytes: from a pipe (`tail -f app.log | lokiqt-push`) a line would then wait
    // for the next 64 KiB of input, or for its end, before it is sent.
    static qint64 readSome(std::FILE *file, char *data, qint64 size)
    {
#ifdef Q_OS_UNIX
        const int fd = ::fileno(file);
        g_inputFd = fd;
        for (;;) {
            if (stopRequested())
                break; // as at the end of the input
            const ssize_t got = ::read(fd, data, size_t(size));
            if (got >= 0 || errno != EINTR) {
                g_inputFd = -1;
                return qint64(got);
            }
        }
        g_inputFd = -1;
        return 0;
#else
        const size_t got = std::fread(data, 1, size_t(size), file);
        return got > 0 || !std::ferror(file) ? qint64(got) : -1;
#endif
    }

    // Sends each line of @p file; false (reported on stderr, naming @p name) when it could not be read on.
    bool pushFile(std::FILE *file, const QString &name)
    {
        QByteArray pending;
        QByteArray block(1 << 16, Qt::Uninitialized);
        bool ok = true;
        for (;;) {
            const qint64 got = readSome(file, block.data(), block.size());
            if (got <= 0) {
                ok = got == 0;
                if (!ok) // a directory, say: what was read before is sent
                    QTextStream(stderr)
                        << "lokiqt-push: cannot read " << name << ": " << std::strerror(errno) << '\n';
                break;
            }
            const char *begin = block.constData();
            const char *end = begin + got;
            const char *lineStart = begin;
            for (const char *p = begin; p < end; ++p) {
                if (*p != '\n')
                    continue;
                if (pending.isEmpty()) {
                    sendLine(lineStart, p - lineStart);
                } else {
                    keep(pending, lineStart, p - lineStart);
                    sendLine(pending.constData(), pending.size());
                    pending.clear();
                }
                lineStart = p + 1;
            }
            keep(pending, lineStart, end - lineStart);
        }
        if (!pending.isEmpty())
            sendLine(pending.constData(), pending.size());
        return ok;
    }
};
} // namespace

int main(int argc, char *argv[])
{
    const bool haveStdin = standardInputIsOpen(); // first: before Qt opens any descriptor
    reserveClosedOutputs();
    prepareSignals(); // before any thread starts
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lokiqt-push"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Pushes one Loki entry per line of standard input (or of FILEs) to Loki.\n"
        "The environment configures it with logcli's names (LOKI_ADDR, LOKI_USERNAME, "
        "LOKI_PASSWORD, LOKI_ORG_ID, LOKI_BEARER_TOKEN, LOKI_BEARER_TOKEN_FILE, "
        "LOKI_CA_CERT_PATH, LOKI_CLIENT_CERT_PATH, LOKI_CLIENT_KEY_PATH, LOKI_TLS_SKIP_VERIFY) "
        "and LOKI_URL; the options below override it.\n"
        "SIGINT or SIGTERM stops reading and delivers what was read, as at the end of the input "
        "(within --timeout-ms); a second one ends it at once.\n"
        "Exit status: 0 when every line was delivered, 1 when any was dropped or failed, "
        "2 for a usage error."));
    parser.addHelpOption();
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("Files to read instead of stdin."),
                                 QStringLiteral("[FILE...]"));
    const QCommandLineOption urlOption(
        QStringLiteral("url"),
        QStringLiteral("Loki base or push URL (default: $LOKI_URL, else $LOKI_ADDR, else "
                       "http://localhost:3100)."),
        QStringLiteral("url"));
    const QCommandLineOption labelOption(QStringLiteral("label"),
                                         QStringLiteral("A label for every entry (repeatable)."),
                                         QStringLiteral("name=value"));
    const QCommandLineOption batchEntriesOption(
        QStringLiteral("batch-entries"),
        QStringLiteral("Entries per push (default %1).").arg(LokiConfig().batch.maxEntries),
        QStringLiteral("n"));
    const QCommandLineOption batchBytesOption(
        QStringLiteral("batch-bytes"),
        QStringLiteral("Line bytes per push (default %1).").arg(LokiConfig().batch.maxBytes),
        QStringLiteral("n"));
    const QCommandLineOption batchWaitOption(
        QStringLiteral("batch-wait-ms"),
        QStringLiteral("Longest wait before a partial batch is pushed (default %1).")
            .arg(LokiConfig().batch.maxWait.count()),
        QStringLiteral("ms"));
    const QCommandLineOption backpressureOption(
        QStringLiteral("backpressure"), QStringLiteral("block, drop-new or drop-oldest (default block)."),
        QStringLiteral("mode"));
    const QCommandLineOption capacityOption(
        QStringLiteral("queue-capacity"),
        QStringLiteral("Entries the queue holds (default %1).").arg(LokiConfig().queueCapacity),
        QStringLiteral("n"));
    const QCommandLineOption timeoutOption(
        QStringLiteral("timeout-ms"),
        QStringLiteral("Deadline for the final flush, and the longest a line waits for room in block mode "
                       "(default 10000). Lines that find none are counted as timed out."),
        QStringLiteral("ms"));
    const QCommandLineOption encodingOption(QStringLiteral("encoding"),
                                            QStringLiteral("protobuf (default), json or json-gzip."),
                                            QStringLiteral("format"));
    const QCommandLineOption tenantOption(QStringLiteral("tenant"),
                                          QStringLiteral("Sent as X-Scope-OrgID (default: $LOKI_ORG_ID)."),
                                          QStringLiteral("id"));
    const QCommandLineOption headerOption(QStringLiteral("header"),
                                          QStringLiteral("An extra HTTP header (repeatable)."),
                                          QStringLiteral("Name: value"));
    const QCommandLineOption spoolDirOption(
        QStringLiteral("spool-dir"),
        QStringLiteral("Keep entries in a disk spool there: what is not delivered by the deadline stays for "
                       "the next run with the same directory, which sends it first."),
        QStringLiteral("dir"));
    const QCommandLineOption spoolBytesOption(
        QStringLiteral("spool-max-bytes"),
        QStringLiteral("Disk the spool may use (default %1).").arg(LokiConfig().spool.maxBytes),
        QStringLiteral("n"));
    const QCommandLineOption spoolSyncOption(QStringLiteral("spool-sync"),
                                             QStringLiteral("never, batch or interval (default interval)."),
                                             QStringLiteral("policy"));
    const QCommandLineOption caCertOption(
        QStringLiteral("ca-cert"),
        QStringLiteral("Trust the CA certificates in this PEM file for https (instead of the system's)."),
        QStringLiteral("file"));
    const QCommandLineOption clientCertOption(
        QStringLiteral("client-cert"),
        QStringLiteral("A client certificate (PEM) for mutual TLS; needs --client-key."),
        QStringLiteral("file"));
    const QCommandLineOption clientKeyOption(QStringLiteral("client-key"),
                                             QStringLiteral("The client certificate's private key (PEM, RSA "
                                                            "or EC, unencrypted)."),
                                             QStringLiteral("file"));
    const QCommandLineOption userOption(
        QStringLiteral("user"),
        QStringLiteral("HTTP basic auth user; the password comes from $LOKI_PASSWORD or --password-file."),
        QStringLiteral("name"));
    const QCommandLineOption passwordFileOption(
        QStringLiteral("password-file"),
        QStringLiteral("Read the basic auth password from the first line of this file."),
        QStringLiteral("file"));
    const QCommandLineOption bearerTokenFileOption(
        QStringLiteral("bearer-token-file"),
        QStringLiteral(
            "Send 'Authorization: Bearer <token>', the token read from the first line of this file."),
        QStringLiteral("file"));
    parser.addOptions({urlOption,        labelOption,        batchEntriesOption, batchBytesOption,
                       batchWaitOption,  backpressureOption, capacityOption,     timeoutOption,
                       encodingOption,   tenantOption,       headerOption,       spoolDirOption,
                       spoolBytesOption, spoolSyncOption,    caCertOption,       clientCertOption,
                       clientKeyOption,  userOption,         passwordFileOption, bearerTokenFileOption});
    if (!parser.parse(QCoreApplication::arguments()))
        return usageError(parser.errorText());
    if (parser.isSet(QStringLiteral("help"))) {
        QTextStream(stdout) << parser.helpText();
        return exitDelivered;
    }

    // The environment first (logcli's names, LOKI_URL), then the options on top. A problem with a variable
    // that an option replaces does not matter.
    QStringList environmentProblems;
    LokiConfig config = LokiConfig::fromEnvironment(&environmentProblems);
    const auto overridden = [&](const QCommandLineOption &option, std::initializer_list<const char *> names) {
        if (!parser.isSet(option))
            return;
        for (const char *name : names) {
            environmentProblems.removeIf([name](const QString &problem) {
                return problem.startsWith(QLatin1String(name) + QLatin1Char(':'));
            });
        }
    };
    overridden(urlOption, {"LOKI_URL", "LOKI_ADDR"});
    overridden(tenantOption, {"LOKI_ORG_ID"});
    for (const QCommandLineOption *auth : {&userOption, &bearerTokenFileOption})
        overridden(*auth, {"LOKI_USERNAME", "LOKI_PASSWORD", "LOKI_BEARER_TOKEN", "LOKI_BEARER_TOKEN_FILE"});
    overridden(caCertOption, {"LOKI_CA_CERT_PATH"});
    overridden(clientCertOption, {"LOKI_CLIENT_CERT_PATH", "LOKI_CLIENT_KEY_PATH"});
    overridden(clientKeyOption, {"LOKI_CLIENT_CERT_PATH", "LOKI_CLIENT_KEY_PATH"});
    if (!environmentProblems.isEmpty())
        return usageError(QStringLiteral("the environment: ") +
                          environmentProblems.join(QStringLiteral("\nlokiqt-push: the environment: ")));
    if (parser.isSet(urlOption))
        config.url = QUrl(parser.value(urlOption));
    for (const QString &label : parser.values(labelOption)) {
        const qsizetype eq = label.indexOf(QLatin1Char('='));
        if (eq <= 0)
            return usageError(QStringLiteral("--label wants name=value, got '%1'").arg(label));
        config.labels.insert(label.left(eq), label.mid(eq + 1));
    }
    qint64 number = 0;
    if (parser.isSet(batchEntriesOption)) {
        if (!parsePositive(parser.value(batchEntriesOption), &number) ||
            number > std::numeric_limits<int>::max())
            return usageError(QStringLiteral("--batch-entries wants a positive number"));
        config.batch.maxEntries = int(number);
    }
    if (parser.isSet(batchBytesOption)) {
        if (!parsePositive(parser.value(batchBytesOption), &number))
            return usageError(QStringLiteral("--batch-bytes wants a positive number"));
        config.batch.maxBytes = number;
    }
    if (parser.isSet(batchWaitOption)) {
        if (!parsePositive(parser.value(batchWaitOption), &number))
            return usageError(QStringLiteral("--batch-wait-ms wants a positive number"));
        config.batch.maxWait = std::chrono::milliseconds(number);
    }
    if (parser.isSet(backpressureOption) &&
        !LokiConfig::parseBackpressure(parser.value(backpressureOption), &config.backpressure))
        return usageError(QStringLiteral("--backpressure wants block, drop-new or drop-oldest"));
    if (parser.isSet(encodingOption) &&
        !LokiConfig::parseEncoding(parser.value(encodingOption), &config.encoding))
        return usageError(QStringLiteral("--encoding wants protobuf, json or json-gzip"));
    if (parser.isSet(capacityOption)) {
        if (!parsePositive(parser.value(capacityOption), &number) || number > std::numeric_limits<int>::max())
            return usageError(QStringLiteral("--queue-capacity wants a positive number"));
        config.queueCapacity = int(number);
    }
    std::chrono::milliseconds finalTimeout{10000};
    if (parser.isSet(timeoutOption)) {
        if (!parsePositive(parser.value(timeoutOption), &number))
            return usageError(QStringLiteral("--timeout-ms wants a positive number"));
        finalTimeout = std::chrono::milliseconds(number);
    }
    if (parser.isSet(tenantOption))
        config.tenant = parser.value(tenantOption);
    const QStringList headers = parser.values(headerOption);
    for (int i = 0; i < headers.size(); ++i) {
        const QString &header = headers.at(i);
        const qsizetype colon = header.indexOf(QLatin1Char(':'));
        // Never echo the text: a header's value is often a secret (Authorization, X-Api-Key...).
        if (colon <= 0)
            return usageError(QStringLiteral("--header wants 'Name: value'; --header number %1 has no name "
                                             "before a ':' (its text is not shown: it may hold a secret)")
                                  .arg(i + 1));
        config.headers.append(
            {header.left(colon).trimmed().toLatin1(), header.mid(colon + 1).trimmed().toUtf8()});
    }
    config.spool.directory = parser.value(spoolDirOption);
    if (parser.isSet(spoolBytesOption)) {
        if (!parsePositive(parser.value(spoolBytesOption), &number))
            return usageError(QStringLiteral("--spool-max-bytes wants a positive number"));
        config.spool.maxBytes = number;
    }
    if (parser.isSet(spoolSyncOption)) {
        const QString sync = parser.value(spoolSyncOption);
        if (sync == QLatin1String("never"))
            config.spool.sync = LokiConfig::SpoolSync::Never;
        else if (sync == QLatin1String("batch"))
            config.spool.sync = LokiConfig::SpoolSync::PerBatch;
        else if (sync == QLatin1String("interval"))
            config.spool.sync = LokiConfig::SpoolSync::Interval;
        else
            return usageError(QStringLiteral("--spool-sync wants never, batch or interval"));
    }
    QString why;
    // Credentials: never from the command line itself (other users see it in ps), only from a file or the
    // environment.
    if (parser.isSet(passwordFileOption) && !parser.isSet(userOption))
        return usageError(QStringLiteral("--password-file needs --user"));
    if (parser.isSet(userOption) || parser.isSet(bearerTokenFileOption)) {
        // An option for credentials replaces all of the environment's.
        config.basicAuthUser.clear();
        config.basicAuthPassword.clear();
        config.bearerToken.clear();
    }
    if (parser.isSet(userOption)) {
        config.basicAuthUser = parser.value(userOption);
        if (config.basicAuthUser.isEmpty())
            return usageError(QStringLiteral("--user wants a name"));
        if (parser.isSet(passwordFileOption)) {
            QByteArray text;
            if (!readSmallFile(parser.value(passwordFileOption), &text, &why))
                return usageError(QStringLiteral("--password-file: ") + why);
            config.basicAuthPassword = QString::fromUtf8(firstLine(text));
        } else if (qEnvironmentVariableIsSet("LOKI_PASSWORD")) {
            config.basicAuthPassword = qEnvironmentVariable("LOKI_PASSWORD");
        } else {
            return usageError(QStringLiteral("--user needs a password: set LOKI_PASSWORD or give "
                                             "--password-file (there is no --password option: a command "
                                             "line is visible to every user of the machine)"));
        }
    }
    if (parser.isSet(bearerTokenFileOption)) {
        if (parser.isSet(userOption))
            return usageError(QStringLiteral("--bearer-token-file and --user exclude each other"));
        QByteArray text;
        if (!readSmallFile(parser.value(bearerTokenFileOption), &text, &why))
            return usageError(QStringLiteral("--bearer-token-file: ") + why);
        config.bearerToken = QString::fromUtf8(firstLine(text).trimmed());
        if (config.bearerToken.isEmpty())
            return usageError(QStringLiteral("--bearer-token-file: the file holds no token"));
    }
    if (parser.isSet(clientCertOption) != parser.isSet(clientKeyOption))
        return usageError(QStringLiteral("--client-cert and --client-key go together"));
    if (parser.isSet(caCertOption) || parser.isSet(clientCertOption)) {
#if QT_CONFIG(ssl)
        // On top of what the environment set (LOKI_TLS_SKIP_VERIFY, the CA or client certificate the
        // options do not replace).
        QSslConfiguration tls =
            config.sslConfiguration ? *config.sslConfiguration : QSslConfiguration::defaultConfiguration();
        if (parser.isSet(caCertOption)) {
            QByteArray pem;
            if (!readSmallFile(parser.value(caCertOption), &pem, &why))
                return usageError(QStringLiteral("--ca-cert: ") + why);
            const QList<QSslCertificate> cas = QSslCertificate::fromData(pem, QSsl::Pem);
            if (cas.isEmpty())
                return usageError(
                    QStringLiteral("--ca-cert: no PEM certificate in %1").arg(parser.value(caCertOption)));
            tls.setCaCertificates(cas);
        }
        if (parser.isSet(clientCertOption)) {
            QByteArray pem;
            if (!readSmallFile(parser.value(clientCertOption), &pem, &why))
                return usageError(QStringLiteral("--client-cert: ") + why);
            const QList<QSslCertificate> chain = QSslCertificate::fromData(pem, QSsl::Pem);
            if (chain.isEmpty())
                return usageError(QStringLiteral("--client-cert: no PEM certificate in %1")
                                      .arg(parser.value(clientCertOption)));
            if (!readSmallFile(parser.value(clientKeyOption), &pem, &why))
                return usageError(QStringLiteral("--client-key: ") + why);
            QSslKey key(pem, QSsl::Rsa, QSsl::Pem);
            if (key.isNull())
                key = QSslKey(pem, QSsl::Ec, QSsl::Pem);
            if (key.isNull())
                return usageError(QStringLiteral("--client-key: no unencrypted PEM private key (RSA or EC) "
                                                 "in %1")
                                      .arg(parser.value(clientKeyOption)));
            tls.setLocalCertificateChain(chain);
            tls.setPrivateKey(key);
        }
        config.sslConfiguration = tls;
#else
        return usageError(QStringLiteral("--ca-cert and --client-cert need a Qt built with TLS support"));
#endif
    }
    if (!config.isValid(&why))
        return usageError(why);

    LokiClient client(config);
    if (!config.spool.directory.isEmpty() && !client.isSpooling())
        return usageError(client.lastError().message());
    Pusher pusher{&client, finalTimeout, qsizetype(config.limits.maxLineBytes + 4)};
    catchStopSignals();
    const QStringList files = parser.positionalArguments();
    bool readOk = true;
    if (files.isEmpty()) {
        if (haveStdin) // a closed stdin (`<&-`) is no input
            readOk = pusher.pushFile(stdin, QStringLiteral("stdin"));
    } else {
        for (const QString &name : files) {
            if (stopRequested())
                break;
            std::FILE *file = std::fopen(QFile::encodeName(name).constData(), "rb");
            if (!file) {
                QTextStream(stderr) << "lokiqt-push: cannot open " << name << ": " << std::strerror(errno)
                                    << '\n';
                readOk = false;
                continue;
            }
            readOk = pusher.pushFile(file, name) && readOk;
            std::fclose(file);
        }
    }

    const bool closed = client.close(QDeadlineTimer(finalTimeout));
    const LokiClient::Counters c = client.counters();
    const qint64 dropped = c.dropped() + c.rejected;
    QTextStream err(stderr);
    if (c.failed > 0 || dropped > 0 || !closed)
        err << "lokiqt-push: last error: " << client.lastError().toString() << '\n';
    err << "sent=" << c.sent << " dropped=" << dropped << " failed=" << c.failed << " retries=" << c.retried;
    if (c.timedOut > 0) // part of dropped: lines that found no room within --timeout-ms (block mode)
        err << " timedOut=" << c.timedOut;
    if (client
            .isSpooling()) // sent includes what an earlier run left (replayed); spooled is left for the next
        err << " replayed=" << c.replayed << " spooled=" << c.queued;
    err << '\n';
    const bool allDelivered =
        readOk && closed && c.sent == pusher.lines + c.replayed && dropped == 0 && c.failed == 0;
    return allDelivered ? exitDelivered : exitLost;
}
