// The outbound HTTP/1.1 client of a process (gw::httpc), on its event loop: health probes now,
// key sets (JWKS) and external authorisation later. Non-blocking; the response is read with the
// proxy's own strict parser (http/parser.h: parse_response_head, ChunkedDecoder).
//
// One request per connection: every request opens its connection, sends "Connection: close",
// and closes it once answered. Its users call a few servers now and then (a probe every few
// seconds, a key set every few minutes), where a kept connection would save little and would
// need pools, idle timers and the rules for reusing a connection; a keep-alive pool can come
// behind the same interface if a user ever calls often.
//
// What it does:
//   - GET (or another method; a POST with a body of known length) with a Host and extra header lines, to a
//     resolved address: TCP (IPv4, IPv6) or a unix socket. Addresses are resolved by the caller
//     beforehand (the configuration does it when loaded): the loop never waits for a resolver.
//   - a connect timeout and a total timeout (connecting included), and a cap on the body;
//   - the answer delivered to a Handler exactly once, always from the event loop (never from
//     inside fetch(), so a caller is never re-entered), unless cancelled first;
//   - a Handle per request: cancelling it (or destroying it, or its owner) closes the socket,
//     and the handler is never called. A handle kept after the answer came is inert.
//   - TLS (https://) through a client transport the tls module makes (tls.h): the handshake
//     counts as connecting (connect_timeout), a failed one is Error::Tls with the reason (the
//     certificate did not verify, and why).
//
// Requests come from a pool and keep their buffers: after warm-up a request allocates nothing
// but the growth of its body string (and not even that when the handler leaves the string in
// place: its capacity is kept for the next request).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event/loop.h"
#include "http/parser.h"

namespace gw::http {
class UpstreamTransportFactory;
}

namespace gw::httpc {

enum class Error : uint8_t {
    None,
    Invalid,         // the request cannot be sent as given (a field with CR/LF, no address...)
    Tls,             // the TLS handshake failed (or no TLS connection could be made)
    Connect,         // connecting failed (refused, unreachable, no such socket...)
    ConnectTimeout,  // not connected within connect_timeout
    Timeout,         // no complete answer within the total timeout
    Io,              // the connection failed after connecting (reset...)
    Closed,          // the server closed the connection before the answer was complete
    BadResponse,     // not a valid HTTP/1.x response (or one that cannot be framed)
    TooLarge,        // the body is longer than max_body
};

// A short name for logs and metric labels ("connect_timeout").
std::string_view error_name(Error e);

struct Request {
    // Where to: a resolved address, copied by fetch(). AF_INET, AF_INET6 or AF_UNIX.
    const sockaddr* address = nullptr;
    socklen_t address_len = 0;
    // TLS: the factory of client transports to this server (tls.h; kept by the caller as long
    // as its requests), and the server's index in it. Null: plain.
    http::UpstreamTransportFactory* tls = nullptr;
    size_t tls_server = 0;
    std::string_view method = "GET";   // a token
    // A request body (POST: the tracing's span batches), sent with its Content-Length after the
    // head; empty: none. Copied by fetch(), like the rest. Not with http2.
    std::string_view body;
    std::string_view target = "/";     // origin-form: the path and query, as they go on the wire
    std::string_view host;             // the Host header (required)
    std::span<const http::Header> headers;  // more header lines, as given (no CR/LF in them)
    event::Millis connect_timeout = 1000;  // the TCP connect and the TLS handshake
    event::Millis timeout = 5000;      // the whole exchange, connecting included
    uint64_t max_body = 1 << 20;       // a longer body is Error::TooLarge
    // false: answered as soon as the head is in, without reading the body (a probe that only
    // wants the status); the connection is then closed.
    bool read_body = true;
    // HTTP/2 with prior knowledge (over TLS: the transport's ALPN must offer h2), for servers that
    // speak nothing else (health probes of upstreams with protocol: h2c | h2). The answer is
    // the same; trailers are dropped.
    bool http2 = false;
};

// The outcome of a request. Everything it points to is valid during the handler's call only.
struct Answer {
    Error error = Error::None;
    std::string_view reason;  // error != None: why, for a log line ("Connection refused")
    // Once the head was read (so also for TooLarge, and for a Timeout or Closed in the body):
    int status = 0;                           // 0 when no head was read
    const http::Response* head = nullptr;     // the status line and headers
    // The body (empty on error, or without read_body). The handler may take it with std::move;
    // left in place, its capacity serves the next request.
    std::string* body = nullptr;
};

class Handler {
  public:
    virtual void on_http_answer(Answer& answer) = 0;

  protected:
    ~Handler() = default;
};

class Client;
struct Call;

// A request in flight, as its owner holds it. Move-only; destroying it cancels the request.
// It must not outlive the Client that made it.
class Handle {
  public:
    Handle() = default;
    Handle(Handle&& other) noexcept;
    Handle& operator=(Handle&& other) noexcept;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() { cancel(); }

    // Drops the request: its socket is closed and the handler is never called. Harmless when
    // it was answered already (or never started).
    void cancel();
    // Not answered (nor cancelled) yet.
    bool pending() const;

  private:
    friend class Client;
    Handle(Call* call, uint64_t generation) : call_(call), generation_(generation) {}
    Call* call_ = nullptr;
    uint64_t generation_ = 0;  // the call's, when this request was started on it
};

class Client {
  public:
    explicit Client(event::Loop& loop);
    // Requests still in flight are dropped; their handlers are not called. A handler may
    // destroy the client it is called by only when no other request is in flight: the loop may
    // still hold readiness events of this iteration for the others.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts `request` (its fields are copied: nothing it points to need outlive the call). The
    // answer goes to `handler`, exactly once, from the event loop, unless the handle is
    // cancelled or destroyed first. Keep the handle: dropping it cancels the request.
    [[nodiscard]] Handle fetch(const Request& request, Handler& handler);

    // Requests started and not yet answered or cancelled.
    size_t in_flight() const { return in_flight_; }

  private:
    friend struct Call;
    friend class Handle;
    Call* acquire();
    void release(Call* call);

    event::Loop& loop_;
    std::vector<std::unique_ptr<Call>> calls_;  // every one ever made
    Call* free_ = nullptr;
    size_t in_flight_ = 0;
    bool* destroyed_ = nullptr;  // set while a handler runs: it may destroy the client
};

}  // namespace gw::httpc
