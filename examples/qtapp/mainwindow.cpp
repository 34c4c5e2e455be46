// SPDX-License-Identifier: MIT
#include "mainwindow.h"

#include <QtCore/QMetaEnum>
#include <QtCore/QThread>
#include <QtCore/QTime>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QFrame>
#include <QtWidgets/QGroupBox>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QStatusBar>
#include <QtWidgets/QToolButton>
#include <QtWidgets/QVBoxLayout>

Q_LOGGING_CATEGORY(lcUi, "app.ui")
Q_LOGGING_CATEGORY(lcNetwork, "app.network")
Q_LOGGING_CATEGORY(lcStorage, "app.storage")

namespace {
// qCDebug(category) and friends take the function that Q_LOGGING_CATEGORY defines, so a category can be
// picked at run time through a pointer to it.
using Category = const QLoggingCategory &(*)();
const Category categories[] = {lcUi, lcNetwork, lcStorage};

QLabel *valueLabel(const char *objectName)
{
    auto *label = new QLabel;
    label->setObjectName(QLatin1String(objectName));
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    return label;
}

QString labelSet(const QMap<QString, QString> &labels)
{
    QStringList pairs;
    for (auto it = labels.cbegin(); it != labels.cend(); ++it)
        pairs << QStringLiteral("%1=\"%2\"").arg(it.key(), it.value());
    return QLatin1Char('{') + pairs.join(QLatin1String(", ")) + QLatin1Char('}');
}
} // namespace

MainWindow::MainWindow(LokiClient *client, QWidget *parent)
    : QMainWindow(parent)
    , m_client(client)
    , m_banner(new QFrame)
    , m_bannerText(valueLabel("errorBannerText"))
    , m_category(new QComboBox)
    , m_message(new QLineEdit(tr("Hello from qtapp")))
    , m_burstButton(new QPushButton(
          tr("Burst: %L1 lines from %2 threads").arg(burstThreads * burstLinesPerThread).arg(burstThreads)))
    , m_state(valueLabel("stateValue"))
    , m_queued(valueLabel("queuedValue"))
    , m_sent(valueLabel("sentValue"))
    , m_dropped(valueLabel("droppedValue"))
    , m_failed(valueLabel("failedValue"))
    , m_retried(valueLabel("retriedValue"))
    , m_lastError(valueLabel("lastErrorValue"))
{
    setWindowTitle(tr("lokiqt example"));

    // The error banner: hidden until errorOccurred, dismissed with its close button.
    m_banner->setObjectName(QStringLiteral("errorBanner"));
    m_banner->setFrameShape(QFrame::StyledPanel);
    m_banner->setAutoFillBackground(true);
    m_bannerText->setWordWrap(true);
    auto *close = new QToolButton;
    close->setObjectName(QStringLiteral("errorBannerClose"));
    close->setText(QStringLiteral("\u00d7"));
    close->setToolTip(tr("Dismiss"));
    close->setAutoRaise(true);
    connect(close, &QToolButton::clicked, m_banner, &QWidget::hide);
    auto *bannerLayout = new QHBoxLayout(m_banner);
    bannerLayout->addWidget(m_bannerText, 1);
    bannerLayout->addWidget(close, 0, Qt::AlignTop);
    m_banner->hide();

    // Logging from the UI thread: one message per click, through the chosen category.
    m_category->setObjectName(QStringLiteral("categoryBox"));
    for (Category category : categories)
        m_category->addItem(QLatin1String(category().categoryName()));
    m_message->setObjectName(QStringLiteral("messageEdit"));
    auto *levels = new QHBoxLayout;
    const struct
    {
        const char *objectName;
        QString text;
        QtMsgType type;
    } buttons[] = {
        {"debugButton", tr("Debug"), QtDebugMsg},
        {"infoButton", tr("Info"), QtInfoMsg},
        {"warningButton", tr("Warning"), QtWarningMsg},
        {"criticalButton", tr("Critical"), QtCriticalMsg},
    };
    for (const auto &b : buttons) {
        auto *button = new QPushButton(b.text);
        button->setObjectName(QLatin1String(b.objectName));
        const QtMsgType type = b.type;
        connect(button, &QPushButton::clicked, this, [this, type] { logMessage(type); });
        levels->addWidget(button);
    }
    m_burstButton->setObjectName(QStringLiteral("burstButton"));
    connect(m_burstButton, &QPushButton::clicked, this, &MainWindow::startBurst);

    auto *logBox = new QGroupBox(tr("Log"));
    auto *logForm = new QFormLayout(logBox);
    logForm->addRow(tr("Category:"), m_category);
    logForm->addRow(tr("Message:"), m_message);
    logForm->addRow(levels);
    logForm->addRow(m_burstButton);

    // The live panel. Each value follows a property of the client through its NOTIFY signal.
    auto *panel = new QGroupBox(tr("Loki client"));
    auto *form = new QFormLayout(panel);
    auto *target = new QLabel(client->config().pushUrl().toDisplayString(QUrl::RemoveUserInfo));
    target->setTextInteractionFlags(Qt::TextSelectableByMouse);
    form->addRow(tr("Pushes to:"), target);
    form->addRow(tr("Labels:"), new QLabel(labelSet(client->config().labels)));
    form->addRow(tr("State:"), m_state);
    form->addRow(tr("Queued:"), m_queued);
    form->addRow(tr("Sent:"), m_sent);
    form->addRow(tr("Dropped:"), m_dropped);
    form->addRow(tr("Failed:"), m_failed);
    form->addRow(tr("Retried pushes:"), m_retried);
    form->addRow(tr("Last error:"), m_lastError);
    m_lastError->setWordWrap(true);

    auto *central = new QWidget;
    auto *layout = new QVBoxLayout(central);
    layout->addWidget(m_banner);
    layout->addWidget(logBox);
    layout->addWidget(panel);
    layout->addStretch();
    setCentralWidget(central);
    resize(620, sizeHint().height());

    // The client emits its signals in its owner thread (this one), so these slots may touch widgets.
    // No timer polls the counters: countersChanged coalesces changes, and always follows the last one.
    connect(client, &LokiClient::countersChanged, this, &MainWindow::showCounters);
    connect(client, &LokiClient::stateChanged, this, &MainWindow::showState);
    connect(client, &LokiClient::errorOccurred, this, &MainWindow::showError);

    showCounters();
    showState(client->state());
    m_lastError->setText(tr("none"));
    statusBar()->showMessage(tr("Ready"));
    if (client->lastError().isError())
        showError(client->lastError()); // reported before we connected, e.g. a spool directory in use
}

MainWindow::~MainWindow()
{
    for (QThread *thread : std::as_const(m_burst)) {
        thread->wait();
        delete thread;
    }
}

void MainWindow::logMessage(QtMsgType type)
{
    const Category category = categories[m_category->currentIndex()];
    const QString text = m_message->text();
    // The installed LokiMessageHandler turns each of these into an entry with a level label; the previous
    // handler still prints it on the console.
    switch (type) {
    case QtDebugMsg:
        qCDebug(category).noquote() << text;
        break;
    case QtInfoMsg:
        qCInfo(category).noquote() << text;
        break;
    case QtWarningMsg:
        qCWarning(category).noquote() << text;
        break;
    case QtCriticalMsg:
        qCCritical(category).noquote() << text;
        break;
    case QtFatalMsg:
        break; // not offered: qFatal() ends the application
    }
}

void MainWindow::startBurst()
{
    if (isBurstRunning())
        return;
    m_burstButton->setEnabled(false);
    qCInfo(lcUi, "burst: %d lines from %d threads", burstThreads * burstLinesPerThread, burstThreads);
    for (int t = 0; t < burstThreads; ++t) {
        // Half of the threads play the network layer, half the storage layer. Logging is thread-safe: the
        // handler queues each line for the client's own thread, so the UI thread is never involved.
        const Category category = t % 2 == 0 ? lcNetwork : lcStorage;
        QThread *thread = QThread::create([t, category] {
            for (int i = 0; i < burstLinesPerThread; ++i)
                qCInfo(category, "burst thread=%d line=%d", t, i);
        });
        thread->setObjectName(QStringLiteral("burst-%1").arg(t));
        connect(thread, &QThread::finished, this, [this, thread] { burstThreadFinished(thread); });
        m_burst.append(thread);
        thread->start();
    }
}

void MainWindow::burstThreadFinished(QThread *thread)
{
    m_burst.removeOne(thread);
    thread->deleteLater();
    if (isBurstRunning())
        return;
    qCInfo(lcUi, "burst: done");
    m_burstButton->setEnabled(true);
    Q_EMIT burstFinished();
}

void MainWindow::showCounters()
{
    // One snapshot, so that the numbers shown belong together.
    const LokiClient::Counters counters = m_client->counters();
    m_queued->setText(QString::number(counters.queued));
    m_sent->setText(QString::number(counters.sent));
    m_dropped->setText(QString::number(counters.dropped()));
    m_failed->setText(QString::number(counters.failed));
    m_retried->setText(QString::number(counters.retried));
}

void MainWindow::showState(LokiClient::State state)
{
    // Idle, Sending, Retrying (a push failed and waits for its backoff) or Closed.
    m_state->setText(QLatin1String(QMetaEnum::fromType<LokiClient::State>().valueToKey(int(state))));
}

void MainWindow::showError(const LokiError &error)
{
    const QString text = error.toString();
    m_lastError->setText(text);
    statusBar()->showMessage(tr("%1 Loki: %2").arg(QTime::currentTime().toString(Qt::ISODate), text));

    // Amber while the client retries (the entries are not lost yet), red when entries failed or were
    // dropped. The banner stays until dismissed; the next error shows it again.
    QPalette palette = m_banner->palette();
    palette.setColor(QPalette::Window,
                     error.willRetry() ? QColor(0xff, 0xf3, 0xcd) : QColor(0xf8, 0xd7, 0xda));
    palette.setColor(QPalette::WindowText, QColor(0x21, 0x25, 0x29));
    m_banner->setPalette(palette);
    m_bannerText->setText(text);
    m_banner->show();
}
