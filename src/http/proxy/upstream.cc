#include "http/proxy/upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "http/proxy/h2_conn.h"
#include "http/proxy/proxy.h"
#include "http/proxy/session.h"

namespace gw::http::proxy {

std::string_view error_kind_name(ErrorKind k) {
    switch (k) {
        case ErrorKind::ConnectRefused: return "connect_refused";
        case ErrorKind::ConnectTimeout: return "connect_timeout";
        case ErrorKind::Timeout: return "timeout";
        case ErrorKind::Reset: return "reset";
        case ErrorKind::InvalidResponse: return "invalid_response";
        case ErrorKind::Tls: return "tls";
        default: return "unknown";
    }
}

ServerRuntime::ServerRuntime() = default;
ServerRuntime::~ServerRuntime() = default;
ServerRuntime::ServerRuntime(ServerRuntime&&) noexcept = default;

UpstreamConn::UpstreamConn(Proxy& proxy) : proxy_(proxy) {
    idle_timer.set_callback([this] {
        if (idle) close();  // (a busy connection keeps it armed: see Proxy::acquire_idle)
    });
}

UpstreamConn::~UpstreamConn() {
    if (fd >= 0) ::close(fd);
}

bool UpstreamConn::connect(ServerRuntime& s) {
    const UpstreamServerConfig& cfg = *s.config;
    fd = ::socket(cfg.sockaddr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    server = &s;
    requests = 0;
    in.clear();
    idle = false;
    connected = false;
    if (cfg.sockaddr.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&cfg.sockaddr), cfg.socklen);
    if (rc < 0 && errno != EINPROGRESS) {
        int saved = errno;
        ::close(fd);
        fd = -1;
        errno = saved;
        proxy_.recycle(this);
        return false;
    }
    connected = rc == 0;
    watching_write = !connected;  // a connect in progress completes with EPOLLOUT
    proxy_.loop().add(fd, EPOLLIN | EPOLLRDHUP | EPOLLET | (watching_write ? static_cast<uint32_t>(EPOLLOUT) : 0u), this);
    s.upstream->conns_active.inc();
    return true;
}

void UpstreamConn::watch_write(bool on) {
    if (on == watching_write || fd < 0) return;
    watching_write = on;
    proxy_.loop().modify(fd, EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? static_cast<uint32_t>(EPOLLOUT) : 0u), this);
}

bool UpstreamConn::open_tls() {
    transport = server->upstream->tls->open(fd, static_cast<size_t>(server->index));
    return transport != nullptr;
}

void UpstreamConn::close() {
    if (fd < 0) return;
    proxy_.loop().cancel(idle_timer);
    if (transport) {  // close_notify (after a completed handshake), before the socket goes
        transport->shutdown();
        server->upstream->tls->close(transport);
        transport = nullptr;
    }
    ::close(fd);
    fd = -1;
    if (idle) {
        auto& v = server->idle;
        for (size_t i = 0; i < v.size(); ++i)
            if (v[i] == this) {
                v.erase(v.begin() + static_cast<long>(i));
                break;
            }
        server->upstream->idle_total--;
        server->upstream->conns_idle.dec();
        idle = false;
    } else {
        server->upstream->conns_active.dec();
    }
    owner = nullptr;
    in.clear();
    if (in.mem) proxy_.buffers().put(std::move(in.mem));
    proxy_.recycle(this);
}

void UpstreamConn::on_io(uint32_t events) {
    if (fd < 0) return;
    if (owner)
        owner->on_upstream_io(events);
    else if (h2)
        h2->on_io(events);
    else if (idle)
        proxy_.on_idle_event(this);
}

}  // namespace gw::http::proxy
