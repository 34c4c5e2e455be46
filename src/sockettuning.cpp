// SPDX-License-Identifier: MIT
#include "sockettuning_p.h"

#if defined(Q_OS_UNIX)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <dirent.h>
#endif

namespace LokiSocketTuning {

#if defined(Q_OS_UNIX)
namespace {
bool tune(int fd, const QList<QHostAddress> &peers, quint16 port)
{
    int type = 0;
    socklen_t length = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM)
        return false;
    sockaddr_storage address{};
    length = sizeof(address);
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&address), &length) != 0)
        return false;
    QHostAddress peer;
    quint16 peerPort = 0;
    if (address.ss_family == AF_INET) {
        const auto *in = reinterpret_cast<const sockaddr_in *>(&address);
        peer.setAddress(ntohl(in->sin_addr.s_addr));
        peerPort = ntohs(in->sin_port);
    } else if (address.ss_family == AF_INET6) {
        const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(&address);
        peer.setAddress(in6->sin6_addr.s6_addr);
        peerPort = ntohs(in6->sin6_port);
    } else {
        return false;
    }
    if (peerPort != port)
        return false;
    bool known = false;
    for (const QHostAddress &candidate : peers)
        known = known || candidate.isEqual(peer, QHostAddress::TolerantConversion);
    if (!known)
        return false;
    int on = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0;
}
} // namespace

int disableNagleToward(const QList<QHostAddress> &peers, quint16 port)
{
    if (peers.isEmpty())
        return 0;
    int changed = 0;
#if defined(Q_OS_LINUX)
    // The open descriptors, without probing every possible number.
    if (DIR *dir = opendir("/proc/self/fd")) {
        while (dirent *entry = readdir(dir)) {
            char *end = nullptr;
            const long fd = std::strtol(entry->d_name, &end, 10);
            if (end != entry->d_name && *end == '\0' && fd != dirfd(dir) && tune(int(fd), peers, port))
                ++changed;
        }
        closedir(dir);
        return changed;
    }
#endif
    rlimit limit{};
    const int maxFd = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? int(qMin<rlim_t>(limit.rlim_cur, 4096)) : 1024;
    for (int fd = 0; fd < maxFd; ++fd)
        changed += tune(fd, peers, port) ? 1 : 0;
    return changed;
}
#else
int disableNagleToward(const QList<QHostAddress> &, quint16)
{
    return 0;
}
#endif

} // namespace LokiSocketTuning
