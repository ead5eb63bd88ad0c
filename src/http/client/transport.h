// The byte stream under the outbound HTTP client: a non-blocking socket, TCP (IPv4, IPv6) or unix,
// and over it, for an https:// request, a TLS client transport (http/transport.h) that a factory
// of the tls module opens once the socket is connected (tls.h). Reads and writes answer alike
// either way (bytes, 0 at the end, -1 with errno EAGAIN when it would block), so the client's
// state machine (client.cc) only adds the handshake step and asks want() what to wait for.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <string_view>

#include "http/transport.h"

namespace gw::httpc {

class Transport {
  public:
    Transport() = default;
    ~Transport() { close(); }
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;

    int fd() const { return fd_; }
    bool open() const { return fd_ >= 0; }
    bool secure() const { return tls_ != nullptr; }

    // Starts a non-blocking connect to `address`: 0 when connected at once, EINPROGRESS while
    // it goes on (the socket turns writable when it ends), or the errno of the failure.
    int connect(const sockaddr* address, socklen_t len);
    // Once the socket turned writable (or reported an error) while connecting: 0 when connected,
    // EINPROGRESS when it is not over after all (a late readiness event of an earlier socket
    // with the same descriptor), or the errno of the failure.
    int finish_connect();

    // Once connected: TLS over the socket, to server `server` of `factory`. False when the
    // factory could make no transport (it logged why).
    bool start_tls(http::UpstreamTransportFactory& factory, size_t server);
    // Drives the TLS handshake: 1 done, 0 waiting for want(), -1 failed (failure() says why).
    int handshake() { return tls_->handshake(); }
    std::string_view failure() const { return tls_ ? tls_->failure() : std::string_view{}; }

    // Bytes moved (> 0); 0: the peer closed (read only); -1 with errno (EAGAIN: not now).
    ssize_t read(char* buf, size_t len);
    ssize_t write(const char* buf, size_t len);
    // What to wait for after EAGAIN: readable, or (TLS, rarely) writable.
    bool wants_write() const { return tls_ && tls_->want() == http::Transport::Want::Write; }
    // TLS: input already taken from the socket and not yet read (no event will announce it).
    bool has_buffered_input() const { return tls_ && tls_->has_buffered_input(); }

    void close();

  private:
    int fd_ = -1;
    http::UpstreamTransportFactory* factory_ = nullptr;
    http::ClientTransport* tls_ = nullptr;
};

}  // namespace gw::httpc
