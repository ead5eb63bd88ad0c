#include "core/process/listeners.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

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

// The inodes of the TCP sockets listening on exactly `l`'s address, from /proc/net/tcp or tcp6:
// "sl local_address rem_address st ... inode", the address as the raw 32-bit words in hex.
std::vector<unsigned long> listening_inodes(const ListenerConfig& l) {
    std::vector<unsigned long> out;
    bool v6 = l.sockaddr.ss_family == AF_INET6;
    uint32_t want[4] = {};
    uint16_t port = 0;
    if (v6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(&l.sockaddr);
        memcpy(want, &in6->sin6_addr, sizeof want);
        port = ntohs(in6->sin6_port);
    } else {
        auto* in = reinterpret_cast<const sockaddr_in*>(&l.sockaddr);
        want[0] = in->sin_addr.s_addr;
        port = ntohs(in->sin_port);
    }
    std::ifstream in(v6 ? "/proc/net/tcp6" : "/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
        unsigned long inode = 0;
        if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode))
            continue;
        size_t colon = local.find(':');
        if (state != "0A" || colon != (v6 ? 32u : 8u) || strtoul(local.c_str() + colon + 1, nullptr, 16) != port)
            continue;
        bool same = true;
        for (int w = 0; w < (v6 ? 4 : 1); ++w)
            same = same && static_cast<uint32_t>(strtoul(local.substr(8 * w, 8).c_str(), nullptr, 16)) == want[w];
        if (same && inode != 0) out.push_back(inode);
    }
    return out;
}

// For each inode, a process that holds the socket open and its name (/proc/PID/comm). Processes
// this user cannot see are not looked at: their sockets stay unattributed.
std::map<unsigned long, std::pair<pid_t, std::string>> socket_holders(const std::vector<unsigned long>& inodes) {
    std::map<unsigned long, std::pair<pid_t, std::string>> out;
    if (inodes.empty()) return out;
    DIR* proc = opendir("/proc");
    if (!proc) return out;
    while (struct dirent* e = readdir(proc)) {
        char* end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        std::string dir = "/proc/" + std::string(e->d_name) + "/fd";
        DIR* fds = opendir(dir.c_str());
        if (!fds) continue;
        while (struct dirent* f = readdir(fds)) {
            char target[64];
            ssize_t n = readlink((dir + "/" + f->d_name).c_str(), target, sizeof target - 1);
            if (n <= 0) continue;
            target[n] = 0;
            unsigned long inode;
            if (sscanf(target, "socket:[%lu]", &inode) != 1) continue;
            if (std::find(inodes.begin(), inodes.end(), inode) == inodes.end() || out.count(inode)) continue;
            std::ifstream comm("/proc/" + std::string(e->d_name) + "/comm");
            std::string name;
            std::getline(comm, name);
            out[inode] = {static_cast<pid_t>(pid), name};
        }
        closedir(fds);
    }
    closedir(proc);
    return out;
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
        if (fd < 0) {
            diags.error(l.mark, error);
            continue;
        }
        close(fd);
        // The bind succeeded; it would also next to another program of this user that listens
        // with SO_REUSEPORT, and the kernel would then share the connections between them.
        for (const auto& [inode, holder] : socket_holders(listening_inodes(l))) {
            // The running gatewayd (its comm stays the binary's name, whatever the title).
            if (holder.second.starts_with("gatewayd")) continue;
            diags.error(l.mark, "listener " + l.address + " is already listened on by " + holder.second + " (pid " +
                                    std::to_string(holder.first) +
                                    ") with SO_REUSEPORT: it would share the connections");
            break;
        }
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
