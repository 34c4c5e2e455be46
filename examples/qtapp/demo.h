// SPDX-License-Identifier: MIT
#ifndef QTAPP_DEMO_H
#define QTAPP_DEMO_H

#include <QtCore/QElapsedTimer>
#include <QtCore/QObject>
#include <QtCore/QTimer>

#include <chrono>

class LokiClient;
class MainWindow;

/**
 * The scripted demo (--demo, --demo-ms): clicks through the window's buttons by itself (three messages of
 * each level, one per category, then one burst), waits until the client has nothing queued or the time
 * limit is reached, and quits the application's event loop.
 */
class Demo : public QObject
{
    Q_OBJECT
public:
    Demo(MainWindow *window, LokiClient *client, std::chrono::milliseconds limit);

    /** After the event loop returned: whether every line was logged and delivered in time. */
    bool delivered() const { return m_delivered; }
    /** How long the demo ran: until everything was delivered, or its time limit. */
    qint64 elapsedMs() const { return m_elapsedMs; }

private:
    void nextStep();
    void checkDone();
    void finish(bool delivered);

    MainWindow *const m_window;
    LokiClient *const m_client;
    QTimer m_steps;
    QElapsedTimer m_elapsed;
    qint64 m_elapsedMs = 0;
    int m_step = 0;
    bool m_burstDone = false;
    bool m_finished = false;
    bool m_delivered = false;
};

#endif // QTAPP_DEMO_H
