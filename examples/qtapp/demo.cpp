// SPDX-License-Identifier: MIT
#include "demo.h"

#include "mainwindow.h"

#include <QtCore/QCoreApplication>
#include <QtWidgets/QAbstractButton>
#include <QtWidgets/QComboBox>
#include <QtWidgets/QLineEdit>

#include <iterator>

namespace {
const char *const levelButtons[] = {"debugButton", "infoButton", "warningButton", "criticalButton"};
constexpr int categoryCount = 3; // app.ui, app.network, app.storage
constexpr int messageSteps = int(std::size(levelButtons)) * categoryCount;
} // namespace

Demo::Demo(MainWindow *window, LokiClient *client, std::chrono::milliseconds limit)
    : QObject(window)
    , m_window(window)
    , m_client(client)
{
    m_elapsed.start();
    // One click every 50 ms, from the event loop, as a user would: the panel updates in between.
    m_steps.setInterval(std::chrono::milliseconds(50));
    connect(&m_steps, &QTimer::timeout, this, &Demo::nextStep);
    m_steps.start();
    connect(window, &MainWindow::burstFinished, this, [this] {
        m_burstDone = true;
        checkDone();
    });
    connect(client, &LokiClient::countersChanged, this, &Demo::checkDone);
    QTimer::singleShot(limit, this, [this] { finish(false); });
}

void Demo::nextStep()
{
    const int step = m_step++;
    if (step < messageSteps) {
        // Each level once through each category.
        const char *button = levelButtons[step / categoryCount];
        auto *category = m_window->findChild<QComboBox *>(QStringLiteral("categoryBox"));
        category->setCurrentIndex(step % categoryCount);
        m_window->findChild<QLineEdit *>(QStringLiteral("messageEdit"))
            ->setText(QStringLiteral("demo message %1 of %2").arg(step + 1).arg(messageSteps));
        m_window->findChild<QAbstractButton *>(QLatin1String(button))->click();
        return;
    }
    m_steps.stop();
    m_window->findChild<QAbstractButton *>(QStringLiteral("burstButton"))->click();
}

void Demo::checkDone()
{
    // Every line is logged once the burst is done; it is delivered once nothing is queued any more
    // (queued counts the batch under way too). Failures and drops end the wait as well: the summary tells.
    if (!m_burstDone || m_client->queued() > 0)
        return;
    const LokiClient::Counters counters = m_client->counters();
    finish(counters.sent == counters.accepted && counters.dropped() == 0 && counters.failed == 0 &&
           counters.rejected == 0);
}

void Demo::finish(bool delivered)
{
    if (m_finished)
        return;
    m_finished = true;
    m_delivered = delivered;
    m_elapsedMs = m_elapsed.elapsed();
    m_steps.stop();
    QCoreApplication::exit(delivered ? 0 : 1);
}
