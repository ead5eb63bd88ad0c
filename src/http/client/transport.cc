#include "http/client/transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>

#include "http/transport.h"

namespace gw::httpc {

int Transport::connect(const sockaddr* address, socklen_t len) {
    close();
    fd_ = ::socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return errno;
    if (address->sa_family != AF_UNIX) {
        // The request head goes in one write: no reason to let Nagle hold it back.
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (::connect(fd_, address, len) == 0) return 0;
    // A unix socket whose listener's backlog is full says EAGAIN: a failure, not "in progress".
    return errno;
}

int Transport::finish_connect() {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    if (err) return err;
    sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len) < 0)
        return errno == ENOTCONN ? EINPROGRESS : errno;
    return 0;
}

bool Transport::start_tls(http::UpstreamTransportFactory& factory, size_t server) {
    tls_ = factory.open(fd_, server);
    if (!tls_) return false;
    factory_ = &factory;
    return true;
}

ssize_t Transport::read(char* buf, size_t len) {
    if (tls_) return tls_->read(buf, len);
    ssize_t n;
    do n = ::recv(fd_, buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n;
}

ssize_t Transport::write(const char* buf, size_t len) {
    if (tls_) {
        iovec iov{const_cast<char*>(buf), len};
        return tls_->writev(&iov, 1);
    }
    ssize_t n;
    do n = ::send(fd_, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
}

void Transport::close() {
    if (tls_) factory_->close(tls_);  // before the socket it is on
    tls_ = nullptr;
    factory_ = nullptr;
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
}

}  // namespace gw::httpc
