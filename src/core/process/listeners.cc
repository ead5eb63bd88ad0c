#include "core/process/listeners.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gw::process {

std::string address_key(const sockaddr_storage& sa) {
    char host[INET6_ADDRSTRLEN] = "";
    if (sa.ss_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

namespace {

int bound_socket(const ListenerConfig& l, std::string& error) {
    int fd = socket(l.sockaddr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket() failed: ") + strerror(errno);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (l.sockaddr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&l.sockaddr), l.socklen) < 0) {
        error = "cannot bind listener " + l.address + ": " + strerror(errno);
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

int open_listener(const ListenerConfig& l, std::string& error) {
    int fd = bound_socket(l, error);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted sockets
    if (listen(fd, l.backlog) < 0) {
        error = "listen() on " + l.address + " failed: " + strerror(errno);
        close(fd);
        return -1;
    }
    return fd;
}

void check_listeners_bindable(const Config& config, Diagnostics& diags) {
    for (const ListenerConfig& l : config.listeners) {
        if (l.socklen == 0) continue;  // an invalid address, reported by the loader
        std::string error;
        int fd = bound_socket(l, error);
        if (fd < 0)
            diags.error(l.mark, error);
        else
            close(fd);
    }
}

bool ListenerSet::ensure(const Config& config, int count, std::string& error) {
    for (const ListenerConfig& l : config.listeners) {
        Sockets& s = sockets_[address_key(l.sockaddr)];
        while (static_cast<int>(s.fds.size()) < count) {
            int fd = open_listener(l, error);
            if (fd < 0) return false;
            s.fds.push_back(fd);
        }
    }
    return true;
}

bool ListenerSet::adopt(const std::vector<int>& fds, std::string& error) {
    bool ok = true;
    for (int fd : fds) {
        sockaddr_storage sa{};
        socklen_t len = sizeof sa;
        int listening = 0;
        socklen_t optlen = sizeof listening;
        bool good = getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0 &&
                    (sa.ss_family == AF_INET || sa.ss_family == AF_INET6) &&
                    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 && listening;
        if (!good) {
            error += (error.empty() ? "" : "; ") + std::string("inherited descriptor ") + std::to_string(fd) +
                     " is not a listening socket";
            close(fd);
            ok = false;
            continue;
        }
        // The exec cleared close-on-exec so that the descriptor could cross it; set it again.
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        sockets_[address_key(sa)].fds.push_back(fd);
    }
    return ok;
}

std::vector<int> ListenerSet::for_worker(const ListenerConfig& l, int slot, int count) const {
    std::vector<int> out;
    auto it = sockets_.find(address_key(l.sockaddr));
    if (it == sockets_.end()) return out;
    for (size_t s = 0; s < it->second.fds.size(); ++s)
        if (static_cast<int>(s % count) == slot) out.push_back(it->second.fds[s]);
    return out;
}

void ListenerSet::prune(const std::vector<std::string>& in_use) {
    for (auto it = sockets_.begin(); it != sockets_.end();) {
        if (std::find(in_use.begin(), in_use.end(), it->first) != in_use.end()) {
            ++it;
            continue;
        }
        for (int fd : it->second.fds) close(fd);
        it = sockets_.erase(it);
    }
}

std::vector<int> ListenerSet::all_fds() const {
    std::vector<int> out;
    for (const auto& [key, s] : sockets_) out.insert(out.end(), s.fds.begin(), s.fds.end());
    return out;
}

void ListenerSet::close_all() { prune({}); }

}  // namespace gw::process
