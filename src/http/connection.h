// One client connection: reads requests (pipelined ones too), answers them in order, keeps the
// connection alive between requests, and closes it politely (lingering close, so an error
// response is not destroyed by a TCP reset while the client is still sending).
#pragma once

#include <netinet/in.h>
#include <time.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/net/ip.h"
#include "event/loop.h"
#include "http/access_log.h"
#include "http/parser.h"
#include "http/request_id.h"
#include "http/router.h"
#include "modules/ratelimit/verdict.h"

namespace gw {
struct ListenerConfig;
}

namespace gw::http {

class Server;
struct RouteRuntime;
namespace proxy {
class Session;
}

class Connection final : public event::IoHandler, public ratelimit::Waiting {
  public:
    explicit Connection(Server& server);
    ~Connection();

    void open(int fd, const ListenerConfig* listener, const sockaddr_storage& peer);
    void on_io(uint32_t events) override;
    void close();
    bool is_open() const { return fd_ >= 0; }
    // For a retiring worker: closes the connection now if nothing is lost by it — it is idle
    // between requests, or it is an upgraded tunnel (ended cleanly: buffered bytes delivered,
    // then FIN). A connection in the middle of a request is left to finish. True if closed.
    bool close_if_idle();
    // Ends an upgraded tunnel cleanly (see close_if_idle); true if this connection was one.
    bool close_tunnel();

    // For the proxy session that handles this connection's current request.
    void flush();
    // Writes the pending output and then `data` in one writev; what the socket does not take is
    // buffered (and the write waits for the socket). Saves copying bodies into the buffer.
    void write_through(std::string_view data);
    void resume_reading();
    size_t pending_output() const { return out_.size() - out_off_; }
    bool want_keep_alive() const;
    // The proxied response is complete; the next request starts at `next_request`.
    void proxy_done(int status, uint64_t body_bytes, bool keep_alive, size_t next_request,
                    uint64_t upstream_micros);
    // Answered with an error (JSON body, and `headers`: "name: value\r\n" lines). The connection
    // is kept alive when the whole request was read (`next_request`: where the next starts),
    // closed when part of it is unread (kRequestUnread).
    static constexpr size_t kRequestUnread = static_cast<size_t>(-1);
    void proxy_error(int status, std::string_view message, std::string_view headers = {},
                     size_t next_request = kRequestUnread);
    // The exchange ended early (upstream cut the body) or a tunnel closed: deliver what is
    // buffered, log the request, then close.
    void proxy_cut(int status, uint64_t body_bytes);
    // The RateLimit-* header lines of the current request (empty when none), written to `buf`
    // of at least ratelimit::kMaxHeaderBytes.
    std::string_view rate_limit_headers(char* buf, size_t cap) const;
    // Redis has decided the rate limits of scope global of the waiting request.
    void on_rate_limit_decided() override;
    // The current request's id (X-Request-Id): made once when its head is read (or when it is
    // answered with an error before that), the same upstream, on the response and in the log.
    std::string_view request_id() const { return {id_line_ + kIdPrefix, request_id_len_}; }

  private:
    friend class proxy::Session;  // it streams bodies through in_ and out_ directly
    // Limit: the request's head is read and Redis decides its rate limits (scope global).
    // ProxyHeader: on a `proxy_protocol` listener, before the PROXY header is read.
    enum class Phase : uint8_t { Head, Limit, Body, Proxy, Lingering, ProxyHeader };

    void on_readable();
    void process();
    void after_process();
    bool read_proxy_header();    // false: wait for more bytes, or the connection was closed
    bool read_head();            // false: wait for more bytes or stop processing
    bool admit();                // the rest of read_head(), once the rate limits have decided
    void read_while_limited(uint32_t events);
    bool read_body();
    void dispatch();
    void serve_route(RouteRuntime& route);
    void respond(int status, std::string_view fixed_headers, std::string_view body,
                 RouteRuntime& route);
    void respond_error(int status, std::string_view message);
    bool normalize_path();     // false: answered 400
    bool answer_special_method();  // OPTIONS *, TRACE, CONNECT; true: answered here
    // A local answer to a request whose head was read; a body, if any, is left unread (and the
    // connection closes after the answer).
    void respond_local(int status, std::string_view headers, std::string_view body);
    bool apply_rate_limits();  // false: Redis decides, on_rate_limit_decided() follows
    void respond_rate_limited();
    void finish_request(RouteRuntime& route, int status, uint64_t body_bytes);
    void after_flush();
    void update_events();
    void start_lingering_close();
    void arm_timer();
    void on_timeout();
    void set_events(uint32_t events);
    void start_proxy();
    void release_session();
    void compact();
    void ensure_buffer();
    void release_idle_buffers();
    void consume_body_bytes(size_t n);
    void set_request_id(std::string_view incoming);  // incoming: a client's X-Request-Id, or none

    Server& server_;
    int fd_ = -1;
    const ListenerConfig* listener_ = nullptr;
    // The client's address, used everywhere (rate-limit keys, access log, the X-Forwarded-For
    // sent upstream): the socket's peer, or what `real_ip` found - once per connection from a
    // PROXY header, or for each request from a forwarding header (then reset after it).
    char peer_[INET6_ADDRSTRLEN] = {};
    char socket_peer_[INET6_ADDRSTRLEN] = {};  // the TCP peer itself
    net::IpAddress socket_ip_;
    bool peer_trusted_ = false;      // real_ip trusts the TCP peer (one check, at accept)
    bool forwarded_trusted_ = false; // ...and takes the client from a request header

    std::unique_ptr<char[]> in_;
    size_t in_cap_ = 0;
    size_t in_len_ = 0;   // bytes in in_
    size_t in_pos_ = 0;   // start of the request being read
    size_t body_pos_ = 0; // start of unread body bytes (after the current head)

    Phase phase_ = Phase::Head;
    RouteMatchResult match_;
    RouteRuntime* route_rt_ = nullptr;
    proxy::Session* session_ = nullptr;  // from the worker's pool, while proxying
    bool reading_paused_ = false;
    ChunkedDecoder chunked_;
    uint64_t body_left_ = 0;
    bool head_timer_armed_ = false;
    struct timespec req_start_ {};
    uint32_t requests_ = 0;
    uint32_t events_ = 0;

    std::string out_;
    size_t out_off_ = 0;
    bool keep_alive_ = true;       // of the response being built
    bool close_after_write_ = false;
    bool may_still_send_ = false;  // the client may be sending: linger before closing
    bool write_blocked_ = false;

    ratelimit::Verdict limit_;     // of the current request, when its route has rate limits
    ratelimit::Check* limit_check_ = nullptr;  // Phase::Limit: the decision Redis is making

    event::Timer timer_;
    // Of the current request, for its response and its log line.
    bool head_parsed_ = false;     // req_ holds this request's head
    uint8_t request_id_len_ = 0;
    // "x-request-id: ID\r\n\r\n": the last line of the gateway's own response heads, kept
    // whole so that it is appended at once.
    static constexpr size_t kIdPrefix = 14;
    char id_line_[kIdPrefix + kMaxRequestId + 4] = "x-request-id: ";
    UpstreamTrace upstream_trace_;     // filled by the proxy session
    uint64_t response_head_bytes_ = 0; // the response head's size (for bytes_sent)

    // The request being read or answered. Like in_, which its views point into, it is taken
    // from the worker's pool with the first bytes and given back when the connection is idle.
    std::unique_ptr<Request> req_;
    // The normalised path of the current request when it differs from the one sent (req_->path
    // then points here). Its capacity is kept, so normalising allocates only while warming up.
    std::string path_buf_;
};

}  // namespace gw::http
