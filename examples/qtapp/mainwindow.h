// SPDX-License-Identifier: MIT
#ifndef QTAPP_MAINWINDOW_H
#define QTAPP_MAINWINDOW_H

#include <lokiqt/lokiclient.h>

#include <QtCore/QList>
#include <QtCore/QLoggingCategory>
#include <QtWidgets/QMainWindow>

class QComboBox;
class QFrame;
class QLabel;
class QLineEdit;
class QPushButton;
class QThread;

// The application's logging categories. The message handler puts the category into each line
// (`category=app.network`), or makes it a label when LokiConfig::labelAllowList names "category".
Q_DECLARE_LOGGING_CATEGORY(lcUi)      // "app.ui": what the user does
Q_DECLARE_LOGGING_CATEGORY(lcNetwork) // "app.network"
Q_DECLARE_LOGGING_CATEGORY(lcStorage) // "app.storage"

/**
 * The example's window: buttons that log at each level from the UI thread, a Burst button that logs
 * 10,000 lines from 4 worker threads, and a live panel of the LokiClient's properties (state, counters, last
 * error) updated by its NOTIFY signals. Errors also show in the status bar and in a banner at the top.
 *
 * The window does not own the client, which must outlive it. Widgets a test (or a style sheet) needs have
 * object names: debugButton, infoButton, warningButton, criticalButton, burstButton, categoryBox,
 * messageEdit; stateValue, queuedValue, sentValue, droppedValue, failedValue, retriedValue, lastErrorValue;
 * errorBanner, errorBannerText, errorBannerClose.
 */
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    static constexpr int burstThreads = 4;
    static constexpr int burstLinesPerThread = 2500;

    explicit MainWindow(LokiClient *client, QWidget *parent = nullptr);
    /** Waits for a burst under way to finish: its threads log through the client. */
    ~MainWindow() override;

    bool isBurstRunning() const { return !m_burst.isEmpty(); }

Q_SIGNALS:
    /** Every line of a burst has been logged (not necessarily delivered yet). */
    void burstFinished();

private:
    void logMessage(QtMsgType type);
    void startBurst();
    void burstThreadFinished(QThread *thread);

    // Slots for the client's NOTIFY signals.
    void showCounters();                     // countersChanged: queued, sent, dropped, failed, retried
    void showState(LokiClient::State state); // stateChanged
    void showError(const LokiError &error);  // errorOccurred: lastError, status bar, banner

    LokiClient *const m_client;
    QFrame *m_banner;
    QLabel *m_bannerText;
    QComboBox *m_category;
    QLineEdit *m_message;
    QPushButton *m_burstButton;
    QLabel *m_state;
    QLabel *m_queued;
    QLabel *m_sent;
    QLabel *m_dropped;
    QLabel *m_failed;
    QLabel *m_retried;
    QLabel *m_lastError;
    QList<QThread *> m_burst; ///< the burst's threads still running
};

#endif // QTAPP_MAINWINDOW_H
