// Transports: what carries a client connection's bytes when it is not the bare socket - TLS,
// provided by the tls module (src/modules/tls/). The HTTP/1 codec (connection.cc) names no
// module: a listener with a transport has a TransportFactory, found through the services
// registry (Transports), and each connection accepted on it gets a Transport for its life.
//
// A plain connection has no transport and reads and writes its socket itself: the plain path
// costs nothing more. A transport is called once per event (a read into the codec's buffer, a
// write of what waits), never per byte.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace gw::http {

class Transport {
  public:
    // What the transport waits for before the call that returned EAGAIN (or 0 from handshake())
    // can make progress: a TLS write may need to read, and a read to write.
    enum class Want : uint8_t { Read, Write };

    virtual ~Transport() = default;

    // Drives the handshake: 1 done, 0 waiting for want(), -1 failed (handshake_failure() says
    // why, for the codec's one info line with the client: a client's failure is not the server's
    // error). Called until it is done before any read().
    virtual int handshake() = 0;
    // Why the last handshake() failed, for that line; empty when info lines are not logged.
    virtual std::string_view handshake_failure() const { return {}; }
    // The codec gave up waiting for the handshake (handshake_timeout) and closes the connection
    // next: the transport counts it (its metrics), the codec logs it.
    virtual void handshake_timed_out() {}

    // As read(2) and writev(2): bytes moved (> 0); 0 from read(): the peer ended the stream;
    // -1 with errno EAGAIN: wait for want(); -1 with another errno: the connection is lost.
    virtual ssize_t read(char* buf, size_t len) = 0;
    virtual ssize_t writev(const struct iovec* iov, int count) = 0;
    virtual Want want() const = 0;

    // Input the transport has already taken from the socket and not yet given to read(): no
    // event will announce it, so the codec reads again when it has room.
    virtual bool has_buffered_input() const = 0;

    // Ends the stream politely (TLS close_notify), without blocking; before shutdown(SHUT_WR)
    // or close().
    virtual void shutdown() = 0;

    // What the handshake settled (variables, logs); empty when not known.
    virtual std::string_view protocol() const = 0;     // "TLSv1.3"
    virtual std::string_view cipher() const = 0;       // "TLS_AES_128_GCM_SHA256"
    virtual std::string_view server_name() const = 0;  // the SNI the client sent
    virtual bool session_reused() const = 0;
    // The application protocol ALPN settled ("h2", "http/1.1"); empty when none was.
    virtual std::string_view alpn() const { return {}; }
};

class TransportFactory {
  public:
    virtual ~TransportFactory() = default;
    // A transport over the accepted socket `fd` (already non-blocking), or nullptr when none
    // can be made (the connection is then closed). Released with close().
    virtual Transport* open(int fd) = 0;
    virtual void close(Transport* t) = 0;
    // How long a handshake may take from the accept (or the end of a PROXY header).
    virtual uint64_t handshake_timeout_ms() const = 0;
};

// Provided through services::Registry by the module that makes transports: a factory per
// listener (by index into Config::listeners), null for a plain listener.
struct Transports {
    std::vector<TransportFactory*> by_listener;
    TransportFactory* find(size_t listener) const {
        return listener < by_listener.size() ? by_listener[listener] : nullptr;
    }
};

// ---- The upstream side: TLS to upstream servers (an upstream's `tls:`).
//
// The proxy (proxy/session.cc) connects as for a plain server; once the socket is connected it
// opens a client transport on it and drives handshake() on the connect timer, then reads and
// writes through it. A pooled connection keeps its transport. A plain upstream has no factory,
// and its connections no transport: the proxy's plain path pays a few pointer checks.

class ClientTransport : public Transport {
  public:
    // Why the last handshake() failed (the peer's certificate did not verify, and why; an
    // alert; a reset), for the error log line the proxy writes with the request's context. A
    // client transport does not log its handshake failures itself.
    virtual std::string_view failure() const = 0;
};

class UpstreamTransportFactory {
  public:
    virtual ~UpstreamTransportFactory() = default;
    // A client transport over the connected socket `fd` (non-blocking) to server `server` (an
    // index into the upstream's servers: the name it is verified against, its saved session),
    // or nullptr when none can be made (logged). Released with close(), before the socket is.
    virtual ClientTransport* open(int fd, size_t server) = 0;
    virtual void close(ClientTransport* t) = 0;
};

// Provided through services::Registry by the module that makes them: a factory per upstream
// (by index into Config::upstreams), null for a plain upstream.
struct UpstreamTransports {
    std::vector<UpstreamTransportFactory*> by_upstream;
    UpstreamTransportFactory* find(size_t upstream) const {
        return upstream < by_upstream.size() ? by_upstream[upstream] : nullptr;
    }
};

}  // namespace gw::http
