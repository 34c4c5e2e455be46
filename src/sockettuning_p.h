// SPDX-License-Identifier: MIT
#ifndef LOKIQT_SOCKETTUNING_P_H
#define LOKIQT_SOCKETTUNING_P_H

#include <QtCore/QList>
#include <QtNetwork/QHostAddress>

namespace LokiSocketTuning {

/**
 * Turns Nagle's algorithm off (TCP_NODELAY) on this process's TCP sockets connected to one of @p peers on
 * @p port; returns how many it changed.
 *
 * Why: QNetworkAccessManager (Qt 6.4 and earlier) leaves Nagle on and writes a request body in 16 KiB
 * pieces. Any body larger than one piece then waits for the server's delayed ACK (40 ms on Linux) before
 * its tail leaves, capping a client with one push in flight at about 25 pushes a second. QNAM offers no
 * way to set socket options, so the worker looks for the connection it opened to Loki (by peer address and
 * port) after each new connection and sets the option on it; the kernel takes it from any thread. Only
 * sockets to the Loki server are touched, where the option is harmless. POSIX only; elsewhere it does
 * nothing.
 */
int disableNagleToward(const QList<QHostAddress> &peers, quint16 port);

} // namespace LokiSocketTuning

#endif // LOKIQT_SOCKETTUNING_P_H
