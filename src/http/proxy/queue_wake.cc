#include "http/proxy/queue_wake.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <string>

#include "core/log.h"

namespace gw::http::proxy::queue_wake {

namespace {

// By upstream name; only ever grows (an upstream dropped by a reload may still have draining
// workers of an old generation using its eventfd; names are few).
std::map<std::string, int, std::less<>>& registry() {
    static std::map<std::string, int, std::less<>> fds;
    return fds;
}

}  // namespace

bool prepare(const Config& config) {
    bool ok = true;
    for (const UpstreamConfig& u : config.upstreams) {
        if (u.queue.size == 0 || registry().contains(u.name)) continue;
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            LOG_ALERT("eventfd() for the queue of upstream \"%s\" failed: %m; its waiters are woken by "
                      "their own worker only",
                      u.name.c_str());
            ok = false;
            continue;
        }
        registry().emplace(u.name, fd);
    }
    return ok;
}

void append_fds(std::vector<int>& keep) {
    for (const auto& [name, fd] : registry()) keep.push_back(fd);
}

int fd_for(std::string_view name) {
    auto it = registry().find(name);
    return it == registry().end() ? -1 : it->second;
}

void wake(int fd) {
    if (fd < 0) return;
    uint64_t one = 1;
    // EAGAIN: the counter is at its maximum, i.e. a wake-up is pending anyway.
    while (write(fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

void wake_all() {
    for (const auto& [name, fd] : registry()) wake(fd);
}

}  // namespace gw::http::proxy::queue_wake
