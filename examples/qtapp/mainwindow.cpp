// SPDX-License-Identifier: MIT
#include "mainwindow.h"

#include <QtCore/QMetaEnum>
#include <QtWidgets/QFormLayout>
#include <QtWidgets/QGroupBox>
#include <QtWidgets/QHBoxLayout>
#include <QtWidgets/QLabel>
#include <QtWidgets/QLineEdit>
#include <QtWidgets/QPushButton>
#include <QtWidgets/QStatusBar>
#include <QtWidgets/QVBoxLayout>

Q_LOGGING_CATEGORY(lcApp, "qtapp.ui")

namespace {
QLabel *valueLabel()
{
    auto *label = new QLabel;
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    return label;
}
} // namespace

MainWindow::MainWindow(LokiClient *client, QWidget *parent)
    : QMainWindow(parent)
    , m_client(client)
    , m_message(new QLineEdit(tr("Hello from qtapp")))
    , m_state(valueLabel())
    , m_accepted(valueLabel())
    , m_sent(valueLabel())
    , m_dropped(valueLabel())
    , m_failed(valueLabel())
    , m_queued(valueLabel())
{
    setWindowTitle(tr("lokiqt example: %1").arg(client->config().pushUrl().toDisplayString()));

    auto *buttons = new QHBoxLayout;
    const struct
    {
        QString text;
        QtMsgType type;
    } levels[] = {
        {tr("qDebug"), QtDebugMsg},
        {tr("qInfo"), QtInfoMsg},
        {tr("qWarning"), QtWarningMsg},
        {tr("qCritical"), QtCriticalMsg},
    };
    for (const auto &level : levels) {
        auto *button = new QPushButton(level.text);
        const QtMsgType type = level.type;
        connect(button, &QPushButton::clicked, this, [this, type] { log(type); });
        buttons->addWidget(button);
    }

    auto *logBox =
        new QGroupBox(tr("Log through the \"%1\" category").arg(QLatin1String(lcApp().categoryName())));
    auto *logLayout = new QVBoxLayout(logBox);
    logLayout->addWidget(m_message);
    logLayout->addLayout(buttons);

    auto *clientBox = new QGroupBox(tr("LokiClient"));
    auto *form = new QFormLayout(clientBox);
    form->addRow(tr("State:"), m_state);
    form->addRow(tr("Accepted:"), m_accepted);
    form->addRow(tr("Sent:"), m_sent);
    form->addRow(tr("Dropped:"), m_dropped);
    form->addRow(tr("Failed:"), m_failed);
    form->addRow(tr("Queued:"), m_queued);

    auto *central = new QWidget;
    auto *layout = new QVBoxLayout(central);
    layout->addWidget(logBox);
    layout->addWidget(clientBox);
    layout->addStretch();
    setCentralWidget(central);
    resize(560, sizeHint().height()); // wide enough for an error message in the status bar

    // The client emits these in its owner thread (this one), so the slots may touch widgets directly.
    // Counters arrive through countersChanged at most every few milliseconds: no polling timer is needed.
    connect(client, &LokiClient::countersChanged, this, &MainWindow::showCounters);
    connect(client, &LokiClient::stateChanged, this, &MainWindow::showState);
    connect(client, &LokiClient::errorOccurred, this, &MainWindow::showError);

    showCounters();
    showState(client->state());
    const LokiError error = client->lastError();
    if (error.isError())
        showError(error); // for example an invalid configuration, reported while the client was constructed
    else
        statusBar()->showMessage(tr("Ready"));
}

void MainWindow::log(QtMsgType type)
{
    const QString text = QStringLiteral("%1 click=%2").arg(m_message->text()).arg(++m_clicks);
    // The installed LokiMessageHandler turns each of these into an entry with a level label.
    switch (type) {
    case QtDebugMsg:
        qCDebug(lcApp).noquote() << text;
        break;
    case QtInfoMsg:
        qCInfo(lcApp).noquote() << text;
        break;
    case QtWarningMsg:
        qCWarning(lcApp).noquote() << text;
        break;
    case QtCriticalMsg:
        qCCritical(lcApp).noquote() << text;
        break;
    case QtFatalMsg:
        break; // not offered: qFatal() would end the application
    }
}

void MainWindow::showCounters()
{
    // One snapshot, so the numbers shown belong together.
    const LokiClient::Counters counters = m_client->counters();
    m_accepted->setText(QString::number(counters.accepted));
    m_sent->setText(QString::number(counters.sent));
    m_dropped->setText(QString::number(counters.dropped()));
    m_failed->setText(QString::number(counters.failed));
    m_queued->setText(QString::number(counters.queued));
}

void MainWindow::showState(LokiClient::State state)
{
    m_state->setText(QLatin1String(QMetaEnum::fromType<LokiClient::State>().valueToKey(int(state))));
}

void MainWindow::showError(const LokiError &error)
{
    statusBar()->showMessage(error.toString());
}
