// SPDX-License-Identifier: MIT
#ifndef QTAPP_MAINWINDOW_H
#define QTAPP_MAINWINDOW_H

#include <lokiqt/lokiclient.h>

#include <QtCore/QLoggingCategory>
#include <QtWidgets/QMainWindow>

class QLabel;
class QLineEdit;

Q_DECLARE_LOGGING_CATEGORY(lcApp)

/**
 * Buttons that log through the `qtapp.ui` category at each level, and a live view of a LokiClient:
 * its state and counters, updated from the client's NOTIFY signals, and its errors in the status bar.
 *
 * The window does not own the client; the client must outlive it.
 */
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(LokiClient *client, QWidget *parent = nullptr);

private:
    void log(QtMsgType type);
    void showCounters();
    void showState(LokiClient::State state);
    void showError(const LokiError &error);

    LokiClient *m_client;
    QLineEdit *m_message;
    QLabel *m_state;
    QLabel *m_accepted;
    QLabel *m_sent;
    QLabel *m_dropped;
    QLabel *m_failed;
    QLabel *m_queued;
    int m_clicks = 0;
};

#endif // QTAPP_MAINWINDOW_H
