// The byte stream under the outbound HTTP client: a non-blocking socket, TCP (IPv4, IPv6) or unix.
//
// This is the seam for TLS (a later issue): a TLS transport adds a handshake step between
// finish_connect() and the first write, and reads and writes through the TLS library with the
// same answers as here (bytes, 0 at the end, -1 with errno EAGAIN when it would block), so the
// client's state machine (client.cc) does not change. Until then a request that asks for TLS is
// refused (httpc::Error::Unsupported), never sent in clear.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

namespace gw::httpc {

class Transport {
  public:
    Transport() = default;
    ~Transport() { close(); }
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;

    int fd() const { return fd_; }
    bool open() const { return fd_ >= 0; }

    // Starts a non-blocking connect to `address`: 0 when connected at once, EINPROGRESS while
    // it goes on (the socket turns writable when it ends), or the errno of the failure.
    int connect(const sockaddr* address, socklen_t len);
    // Once the socket turned writable (or reported an error) while connecting: 0 when connected,
    // EINPROGRESS when it is not over after all (a late readiness event of an earlier socket
    // with the same descriptor), or the errno of the failure.
    int finish_connect();

    // Bytes moved (> 0); 0: the peer closed (read only); -1 with errno (EAGAIN: not now).
    ssize_t read(char* buf, size_t len);
    ssize_t write(const char* buf, size_t len);

    void close();

  private:
    int fd_ = -1;
};

}  // namespace gw::httpc
