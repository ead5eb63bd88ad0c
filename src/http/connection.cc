#include "http/connection.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/config/config.h"
#include "core/log.h"
#include "http/admin.h"
#include "http/path.h"
#include "http/proxy/proxy.h"
#include "http/proxy/session.h"
#include "http/proxy_protocol.h"
#include "http/real_ip.h"
#include "http/server.h"
#include "modules/ratelimit/limiter.h"

namespace gw::http {

namespace {

constexpr size_t kOutputHighWater = 64 * 1024;  // stop answering pipelined requests beyond this
constexpr event::Millis kLingeringTimeout = 5000;
constexpr size_t kKeepOutputCapacity = 16 * 1024;  // an idle connection keeps no bigger output buffer

uint64_t micros_since(const struct timespec& start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec - start.tv_sec) * 1000000 +
           (now.tv_nsec - start.tv_nsec) / 1000;
}

void append_number(std::string& out, uint64_t v) {
    char buf[24];
    char* p = buf + sizeof buf;
    do *--p = static_cast<char>('0' + v % 10); while (v /= 10);
    out.append(p, buf + sizeof buf - p);
}

}  // namespace

Connection::Connection(Server& server) : server_(server) {
    timer_.set_callback([this] { on_timeout(); });
    set_request_id({});  // every response head can end with the id line from the start
}

Connection::~Connection() {
    if (fd_ >= 0) ::close(fd_);
}

void Connection::open(int fd, const ListenerConfig* listener, const sockaddr_storage& peer) {
    fd_ = fd;
    listener_ = listener;
    in_cap_ = server_.input_buffers().size();  // the buffer itself comes with the first bytes
    in_len_ = in_pos_ = body_pos_ = 0;
    phase_ = listener->proxy_protocol ? Phase::ProxyHeader : Phase::Head;
    requests_ = 0;
    head_parsed_ = false;
    out_.clear();
    out_off_ = 0;
    close_after_write_ = write_blocked_ = head_timer_armed_ = may_still_send_ = reading_paused_ = false;
    events_ = 0;
    limit_ = {};
    if (peer.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, peer_, sizeof peer_);
    else if (peer.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, peer_, sizeof peer_);
    else
        peer_[0] = '\0';
    memcpy(socket_peer_, peer_, sizeof peer_);
    peer_trusted_ = forwarded_trusted_ = false;
    const std::optional<RealIpConfig>& real_ip = server_.ctx().config->real_ip;
    if (real_ip && net::ip_from_sockaddr(peer, socket_ip_)) {
        peer_trusted_ = net::contains(real_ip->trusted, socket_ip_);
        forwarded_trusted_ = peer_trusted_ && real_ip->from == RealIpConfig::From::Header;
    }
    set_events(EPOLLIN | EPOLLRDHUP);
    if (phase_ == Phase::ProxyHeader)
        server_.ctx().loop->arm(timer_, listener->proxy_protocol_timeout);  // from the accept
    else
        arm_timer();
}

void Connection::close() {
    if (fd_ < 0) return;
    if (phase_ == Phase::Proxy && session_) session_->abort();
    if (limit_check_) {
        server_.limiter()->cancel(limit_check_);  // Redis's answer will find nobody waiting
        limit_check_ = nullptr;
    }
    release_session();
    phase_ = Phase::Head;
    server_.ctx().loop->cancel(timer_);
    ::close(fd_);  // also removes it from epoll
    fd_ = -1;
    if (in_) server_.input_buffers().put(std::move(in_));
    if (req_) server_.requests().put(std::move(req_));
    in_len_ = in_pos_ = body_pos_ = 0;
    if (out_.capacity() > kKeepOutputCapacity) std::string().swap(out_);
    events_ = 0;
    server_.release(this);
}

bool Connection::close_tunnel() {
    return fd_ >= 0 && phase_ == Phase::Proxy && session_ && session_->close_tunnel();
}

bool Connection::close_if_idle() {
    if (fd_ < 0) return false;
    if (close_tunnel()) return true;
    bool idle = (phase_ == Phase::Head && in_len_ == in_pos_ && !write_blocked_ && out_off_ >= out_.size()) ||
                phase_ == Phase::ProxyHeader;  // no request has started
    if (!idle) return false;
    close();
    return true;
}

void Connection::set_events(uint32_t events) {
    if (events == events_) return;
    event::Loop& loop = *server_.ctx().loop;
    if (events_ == 0)
        loop.add(fd_, events, this);
    else
        loop.modify(fd_, events, this);
    events_ = events;
}

// Writing is watched only while a write is blocked. Reading stops while a write is blocked
// (back-pressure on pipelined requests) except when proxying: a tunnel or a streamed upload must
// keep both directions moving, and the input buffer bounds what is read (reading_paused_).
void Connection::update_events() {
    uint32_t ev = EPOLLRDHUP;
    if (write_blocked_) ev |= EPOLLOUT;
    if (!reading_paused_ && (!write_blocked_ || phase_ == Phase::Proxy)) ev |= EPOLLIN;
    set_events(ev);
}

void Connection::resume_reading() {
    if (!reading_paused_) return;
    reading_paused_ = false;
    update_events();
}

bool Connection::want_keep_alive() const {
    const HttpConfig& http = server_.ctx().config->http;
    return req_->keep_alive && http.keepalive_timeout > 0 && requests_ < http.keepalive_requests &&
           !server_.draining();
}

void Connection::on_io(uint32_t events) {
    if (fd_ < 0) return;  // a stale event for a connection closed earlier in this batch
    if (events & EPOLLOUT) {
        flush();
        if (fd_ < 0) return;
    }
    if (phase_ == Phase::Limit) {
        read_while_limited(events);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable();
}

// While Redis decides, what the client sends next is kept for later (up to the buffer's end),
// and a client that goes away - or shuts its side, as for the proxy - is closed at once, which
// cancels the wait.
void Connection::read_while_limited(uint32_t events) {
    if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        close();
        return;
    }
    if (!(events & EPOLLIN)) return;
    if (in_len_ == in_cap_) {
        reading_paused_ = true;
        update_events();
        return;
    }
    ssize_t n = ::read(fd_, in_.get() + in_len_, in_cap_ - in_len_);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close();
        return;
    }
    if (n > 0) in_len_ += static_cast<size_t>(n);
}

void Connection::on_readable() {
    if (phase_ == Phase::Lingering) {
        char sink[4096];
        ssize_t n;
        while ((n = ::read(fd_, sink, sizeof sink)) > 0) {}
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) close();
        return;
    }
    ensure_buffer();
    if (phase_ == Phase::Proxy) {
        if (in_len_ == in_cap_) {  // the session has not taken what is there yet
            reading_paused_ = true;
            update_events();
            return;
        }
        ssize_t n = ::read(fd_, in_.get() + in_len_, in_cap_ - in_len_);
        if (n == 0) {
            session_->on_client_eof();
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) close();
            return;
        }
        in_len_ += static_cast<size_t>(n);
        session_->on_client_input();
        return;
    }
    if (write_blocked_) return;  // back-pressure: answer what we have before reading more
    if (phase_ == Phase::Head) compact();
    if (in_len_ == in_cap_) {  // cannot happen while limits hold; refuse rather than spin
        respond_error(431, "request header too large");
        return;
    }
    ssize_t n = ::read(fd_, in_.get() + in_len_, in_cap_ - in_len_);
    if (n == 0) {
        close();  // the client closed; nothing can be answered
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) close();
        return;
    }
    in_len_ += static_cast<size_t>(n);
    process();
}

void Connection::ensure_buffer() {
    if (!in_) in_ = server_.input_buffers().get();
    if (!req_) req_ = server_.requests().get();
}

// Between requests a connection needs no input buffer and only a small output buffer.
void Connection::release_idle_buffers() {
    if (phase_ != Phase::Head || in_pos_ != in_len_ || write_blocked_) return;
    if (in_) {
        server_.input_buffers().put(std::move(in_));
        in_len_ = in_pos_ = body_pos_ = 0;
    }
    if (req_) server_.requests().put(std::move(req_));
    if (out_.empty() && out_.capacity() > kKeepOutputCapacity) std::string().swap(out_);
}

void Connection::compact() {
    if (in_pos_ == 0) return;
    size_t left = in_len_ - in_pos_;
    if (left) memmove(in_.get(), in_.get() + in_pos_, left);
    in_len_ = left;
    in_pos_ = 0;
}

// Answers every complete request in the buffer, in order, then writes all answers at once.
void Connection::process() {
    while (fd_ >= 0 && !close_after_write_ && out_.size() < kOutputHighWater) {
        if (phase_ == Phase::ProxyHeader) {
            if (!read_proxy_header()) break;
        } else if (phase_ == Phase::Head) {
            if (!read_head()) break;
        } else if (phase_ == Phase::Body) {
            if (!read_body()) break;
        } else {
            break;
        }
    }
    after_process();
}

void Connection::after_process() {
    if (fd_ < 0) return;
    if (!out_.empty()) flush();
    if (fd_ >= 0 && !write_blocked_) arm_timer();
    if (fd_ >= 0) release_idle_buffers();
}

// The PROXY protocol header comes with the first bytes, in the same buffer as the request
// after it (no extra read or peek). A header that is bad, or longer than the buffer, closes
// the connection without an answer: the peer is not speaking the protocol agreed on.
bool Connection::read_proxy_header() {
    proxy_protocol::Header h;
    std::string_view reason;
    auto r = proxy_protocol::parse({in_.get() + in_pos_, in_len_ - in_pos_}, in_cap_, h, reason);
    if (r == proxy_protocol::Result::Incomplete) return false;
    if (r == proxy_protocol::Result::Error) {
        LOG_INFO("client %s on %s: %.*s; closing the connection", socket_peer_, listener_->address.c_str(),
                 static_cast<int>(reason.size()), reason.data());
        close();
        return false;
    }
    in_pos_ += h.length;
    phase_ = Phase::Head;
    server_.ctx().loop->cancel(timer_);  // the request's own timers take over
    const std::optional<RealIpConfig>& real_ip = server_.ctx().config->real_ip;
    if (h.has_source && peer_trusted_ && real_ip->from == RealIpConfig::From::ProxyProtocol)
        net::format_ip(h.source, peer_);
    return true;
}

bool Connection::read_head() {
    std::string_view buf(in_.get() + in_pos_, in_len_ - in_pos_);
    if (buf.empty()) return false;
    if (!head_timer_armed_) {
        // client_header_timeout runs from the first byte of a request, not from the last read:
        // a client trickling bytes cannot hold the connection for ever.
        head_timer_armed_ = true;
        server_.ctx().loop->arm(timer_, server_.ctx().config->http.client_header_timeout);
    }
    ParseError err;
    ParseResult r = parse_request_head(buf, server_.limits(), *req_, err);
    if (r == ParseResult::Incomplete) return false;
    if (r == ParseResult::Error) {
        LOG_INFO("client %s sent an invalid request: %.*s", peer_, static_cast<int>(err.reason.size()),
                 err.reason.data());
        respond_error(err.status, err.reason);
        return false;
    }
    clock_gettime(CLOCK_MONOTONIC, &req_start_);
    head_timer_armed_ = false;
    ++requests_;
    if (forwarded_trusted_) {
        const RealIpConfig& real_ip = *server_.ctx().config->real_ip;
        net::format_ip(real_ip::forwarded_client(*req_, real_ip.header, real_ip.trusted, socket_ip_), peer_);
    }
    head_parsed_ = true;
    set_request_id(req_->header("x-request-id"));
    upstream_trace_.clear();
    response_head_bytes_ = 0;
    body_pos_ = in_pos_ + req_->head_length;
    const HttpConfig& http = server_.ctx().config->http;
    if (req_->body == BodyKind::ContentLength && http.client_max_body_size &&
        req_->content_length > http.client_max_body_size) {
        respond_error(413, "request body too large");
        return false;
    }
    if (!normalize_path()) return false;
    if (listener_->admin) {
        match_ = RouteMatchResult{};
    } else {
        match_ = server_.router().match(*req_);
    }
    route_rt_ = &server_.route(match_.route);
    if (answer_special_method()) return fd_ >= 0;
    if (route_rt_->rate_limits && !apply_rate_limits()) {
        // Redis decides (policies of scope global): the request waits, the worker goes on, and
        // on_rate_limit_decided() resumes it. The Redis timeout bounds the wait.
        phase_ = Phase::Limit;
        server_.ctx().loop->cancel(timer_);
        return false;
    }
    return admit();
}

// Before routing, so that routes, rewrites, rate-limit keys and the upstream see one canonical
// path (src/http/path.h). The target as sent stays in req_->target for the access log.
bool Connection::normalize_path() {
    std::string_view path = req_->path;
    if (path.empty() || path[0] != '/') return true;  // "*" of OPTIONS, CONNECT's authority
    if (path_is_plain(path)) return true;
    std::string_view why;
    switch (normalize_path_full(path, server_.ctx().config->http.path, path_buf_, why)) {
        case PathVerdict::Unchanged: return true;
        case PathVerdict::Normalized:
            if (path_buf_ != path) req_->path = path_buf_;
            return true;
        case PathVerdict::Invalid: break;
    }
    LOG_INFO("client %s sent an invalid request: %.*s", peer_, static_cast<int>(why.size()), why.data());
    respond_error(400, why);
    return false;
}

// OPTIONS * is about the server, not a resource: the gateway answers it. TRACE (it echoes
// credentials back: cross-site tracing) and CONNECT (the proxy does not tunnel it) get 405
// unless the matched route names them in `methods:`.
bool Connection::answer_special_method() {
    static constexpr std::string_view kAllow = "allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n";
    const std::string_view m = req_->method;
    if (m.size() == 7 && m == "OPTIONS" && req_->path == "*") {
        respond_local(200, kAllow, {});
        return true;
    }
    const bool trace = m == "TRACE", connect = m == "CONNECT";
    if (!trace && !connect) return false;
    if (match_.route != Router::kNoRoute && (trace ? route_rt_->allows_trace : route_rt_->allows_connect))
        return false;
    std::string body = json_error_body(405, "method not allowed");
    respond_local(405, kAllow, body);
    return true;
}

void Connection::respond_local(int status, std::string_view headers, std::string_view body) {
    keep_alive_ = want_keep_alive();
    if (req_->body != BodyKind::None) {
        // Answered without reading the body, so the connection cannot be reused.
        keep_alive_ = false;
        may_still_send_ = true;
        body_pos_ = in_len_;
    }
    std::string fixed = body.empty() ? std::string() : std::string("content-type: application/json\r\n");
    fixed += headers;
    respond(status, fixed, body, server_.route(Router::kNoRoute));
}

bool Connection::admit() {
    const HttpConfig& http = server_.ctx().config->http;
    if (route_rt_->rate_limits) {
        if (limit_.rejected && req_->body != BodyKind::None) {
            // Answered at once: the body is not read (nor is 100 Continue sent), so the
            // connection closes after the answer.
            keep_alive_ = false;
            may_still_send_ = true;
            body_pos_ = in_len_;
            respond_rate_limited();
            return false;
        }
        if (limit_.rejected) {
            dispatch();
            return fd_ >= 0;
        }
    }
    if (route_rt_->proxied) {
        start_proxy();
        return false;  // the session drives the connection until the response is complete
    }
    if (req_->body == BodyKind::None) {
        dispatch();
        return fd_ >= 0;
    }
    // A local answer: the body is read and discarded first, so pipelining stays in step.
    if (req_->body == BodyKind::ContentLength) {
        body_left_ = req_->content_length;
    } else {
        chunked_.reset();
        chunked_.set_max_body(http.client_max_body_size);
    }
    if (req_->expect_continue && body_pos_ == in_len_) {
        out_ += "HTTP/1.1 100 Continue\r\n\r\n";
        flush();
        if (fd_ < 0) return false;
    }
    phase_ = Phase::Body;
    server_.ctx().loop->arm(timer_, http.client_body_timeout);
    return read_body();
}

// The rate limits of the route, decided at the request's start time (already read from the
// monotonic clock above, so no other clock read is needed).
bool Connection::apply_rate_limits() {
    ratelimit::RequestInfo info;
    info.request = req_.get();
    info.ip = peer_;
    uint64_t now_ns = static_cast<uint64_t>(req_start_.tv_sec) * 1000000000 + static_cast<uint64_t>(req_start_.tv_nsec);
    return server_.limiter()->check(*route_rt_->rate_limits, info, now_ns, limit_, this, &limit_check_);
}

void Connection::on_rate_limit_decided() {
    limit_check_ = nullptr;
    phase_ = Phase::Head;
    if (reading_paused_) {
        reading_paused_ = false;
        update_events();
    }
    if (admit())
        process();  // and the pipelined requests behind it
    else
        after_process();
}

void Connection::respond_rate_limited() {
    respond(limit_.status, "content-type: application/json\r\n", limit_.body, *route_rt_);
}

std::string_view Connection::rate_limit_headers(char* buf, size_t cap) const {
    return {buf, limit_.format(buf, cap)};
}

void Connection::start_proxy() {
    phase_ = Phase::Proxy;
    server_.ctx().loop->cancel(timer_);  // the session keeps the time from here
    session_ = server_.proxy()->acquire_session();
    session_->start(*this, match_.route, match_);
}

void Connection::release_session() {
    if (!session_) return;
    server_.proxy()->release_session(session_);
    session_ = nullptr;
}

void Connection::proxy_done(int status, uint64_t body_bytes, bool keep_alive, size_t next_request,
                            uint64_t upstream_micros) {
    release_session();
    phase_ = Phase::Head;
    keep_alive_ = keep_alive;
    if (next_request >= in_len_ && !keep_alive) may_still_send_ = true;
    body_pos_ = next_request;
    uint64_t total = micros_since(req_start_);
    if (auto* h = server_.proxy()->route(match_.route).overhead)
        h->observe_micros(total > upstream_micros ? total - upstream_micros : 0);
    finish_request(*route_rt_, status, body_bytes);
    reading_paused_ = false;
    update_events();
    flush();
    if (fd_ >= 0 && !close_after_write_ && !write_blocked_) process();
}

void Connection::proxy_error(int status, std::string_view message, std::string_view headers,
                             size_t next_request) {
    release_session();
    phase_ = Phase::Head;
    bool keep = next_request != kRequestUnread && want_keep_alive();
    keep_alive_ = keep;
    may_still_send_ = !keep;
    body_pos_ = keep ? next_request : in_len_;
    reading_paused_ = false;
    std::string body = json_error_body(status, message);
    std::string fixed = "content-type: application/json\r\n";
    fixed += headers;
    respond(status, fixed, body, *route_rt_);
    if (keep) update_events();
    flush();
    if (keep && fd_ >= 0 && !close_after_write_ && !write_blocked_) process();
}

void Connection::proxy_cut(int status, uint64_t body_bytes) {
    release_session();
    phase_ = Phase::Head;
    keep_alive_ = false;
    body_pos_ = in_len_;
    finish_request(*route_rt_, status, body_bytes);
    may_still_send_ = false;
    in_pos_ = in_len_;
    flush();
}

void Connection::consume_body_bytes(size_t n) {
    // The body is discarded (a `return` route does not need it); the head stays in place
    // because req_ points into it.
    size_t tail = in_len_ - body_pos_ - n;
    if (tail) memmove(in_.get() + body_pos_, in_.get() + body_pos_ + n, tail);
    in_len_ -= n;
}

bool Connection::read_body() {
    size_t avail = in_len_ - body_pos_;
    if (req_->body == BodyKind::ContentLength) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(avail, body_left_));
        consume_body_bytes(n);
        body_left_ -= n;
        if (body_left_ > 0) {
            server_.ctx().loop->arm(timer_, server_.ctx().config->http.client_body_timeout);
            return false;
        }
    } else {
        for (;;) {
            size_t consumed = 0;
            std::string_view data;
            ParseError err;
            auto st = chunked_.feed({in_.get() + body_pos_, in_len_ - body_pos_}, consumed, data, err);
            consume_body_bytes(consumed);
            if (st == ChunkedDecoder::Status::Error) {
                respond_error(err.status, err.reason);
                return false;
            }
            if (st == ChunkedDecoder::Status::Done) break;
            if (consumed == 0 || body_pos_ == in_len_) {
                server_.ctx().loop->arm(timer_, server_.ctx().config->http.client_body_timeout);
                return false;
            }
        }
    }
    phase_ = Phase::Head;
    dispatch();
    return fd_ >= 0;
}

void Connection::dispatch() {
    const HttpConfig& http = server_.ctx().config->http;
    keep_alive_ = req_->keep_alive && http.keepalive_timeout > 0 &&
                  requests_ < http.keepalive_requests && !server_.draining();
    if (listener_->admin) {
        AdminResponse a;
        handle_admin(server_, *req_, a);
        std::string headers = "content-type: ";
        headers += a.content_type;
        headers += "\r\ncache-control: no-store\r\n";
        RouteRuntime& none = server_.route(Router::kNoRoute);
        respond(a.status, headers, a.body, none);
        return;
    }
    RouteRuntime& route = *route_rt_;
    if (limit_.rejected) {
        respond_rate_limited();
        return;
    }
    if (match_.route == Router::kNoRoute) {
        std::string body = json_error_body(404, "no route matches the request");
        respond(404, "content-type: application/json\r\n", body, route);
        return;
    }
    serve_route(route);
}

void Connection::serve_route(RouteRuntime& route) {
    // The only action of this release is `return`; the proxy hooks in here.
    respond(route.ret->status, route.fixed_headers, route.ret->body, route);
}

void Connection::respond(int status, std::string_view fixed_headers, std::string_view body,
                         RouteRuntime& route) {
    bool head = req_->method == "HEAD";
    bool bodiless_status = status < 200 || status == 204 || status == 304;
    size_t head_start = out_.size();
    out_ += "HTTP/1.1 ";
    append_number(out_, static_cast<uint64_t>(status));
    out_ += ' ';
    out_ += reason_phrase(status);
    out_ += "\r\nserver: gatewayd\r\ndate: ";
    out_ += server_.date().get();
    if (!bodiless_status) {
        out_ += "\r\ncontent-length: ";
        append_number(out_, body.size());
    }
    out_ += keep_alive_ ? "\r\nconnection: keep-alive\r\n" : "\r\nconnection: close\r\n";
    out_ += fixed_headers;
    if (limit_.rejected || limit_.headers) {
        char buf[ratelimit::kMaxHeaderBytes];
        out_.append(buf, limit_.format(buf, sizeof buf));
    }
    out_.append(id_line_, kIdPrefix + request_id_len_ + 4);  // x-request-id and the head's end
    response_head_bytes_ = out_.size() - head_start;
    bool send_body = !head && !bodiless_status;
    if (send_body) out_ += body;
    finish_request(route, status, send_body ? body.size() : 0);
}

void Connection::finish_request(RouteRuntime& route, int status, uint64_t body_bytes) {
    uint64_t micros = micros_since(req_start_);
    if (!listener_->admin) server_.count_response(route, status, micros);
    WorkerContext& ctx = server_.ctx();
    ctx.slot->requests.fetch_add(1, std::memory_order_relaxed);
    // Admin listeners (scrapes, probes) are logged only when asked for.
    if (ctx.access_log->enabled() && (!listener_->admin || ctx.config->access_log.log_admin)) {
        AccessLogEntry e;
        e.remote_addr = peer_;
        e.method = req_->method;
        e.uri = req_->target;
        e.version_minor = req_->version_minor;
        e.status = status;
        e.body_bytes_sent = body_bytes;
        e.bytes_sent = response_head_bytes_ + body_bytes;
        e.request_time = static_cast<double>(micros) / 1e6;
        e.route = route.name;
        e.host = req_->host;
        e.user_agent = req_->header("user-agent");
        e.referer = req_->header("referer");
        e.generation = ctx.generation;
        e.request_id = request_id();
        e.upstream = &upstream_trace_;
        ctx.access_log->write(e);
    }
    limit_ = {};
    if (forwarded_trusted_) memcpy(peer_, socket_peer_, sizeof peer_);  // the next request says its own
    head_parsed_ = false;
    in_pos_ = body_pos_;  // the next request starts after this one's body
    if (!keep_alive_) close_after_write_ = true;
}

void Connection::set_request_id(std::string_view incoming) {
    size_t n = make_request_id(incoming, server_.ids(), id_line_ + kIdPrefix);
    memcpy(id_line_ + kIdPrefix + n, "\r\n\r\n", 4);
    request_id_len_ = static_cast<uint8_t>(n);
}

void Connection::respond_error(int status, std::string_view message) {
    // The request could not be read to its end, so the connection cannot be reused.
    if (phase_ == Phase::Head && !head_parsed_) {
        // The head was not parsed, so req_ holds nothing of this request: log what we can,
        // under an id of its own.
        set_request_id({});
        upstream_trace_.clear();
        response_head_bytes_ = 0;
        req_->method = "-";
        req_->target = "-";
        req_->host = {};
        req_->header_count = 0;
        req_->version_minor = 1;
        clock_gettime(CLOCK_MONOTONIC, &req_start_);
    }
    keep_alive_ = false;
    may_still_send_ = true;
    std::string body = json_error_body(status, message);
    body_pos_ = in_len_;
    phase_ = Phase::Head;
    respond(status, "content-type: application/json\r\n", body, server_.route(Router::kNoRoute));
    flush();
}

void Connection::flush() {
    while (out_off_ < out_.size()) {
        ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (!write_blocked_) {
                    write_blocked_ = true;
                    update_events();
                }
                server_.ctx().loop->arm(timer_, server_.ctx().config->http.send_timeout);
                return;
            }
            close();  // EPIPE, ECONNRESET: the client went away
            return;
        }
        out_off_ += static_cast<size_t>(n);
    }
    out_.clear();
    out_off_ = 0;
    bool was_blocked = write_blocked_;
    write_blocked_ = false;
    if (phase_ == Phase::Proxy) {
        // Only a write that had been blocked can have paused the session.
        if (was_blocked) {
            server_.ctx().loop->cancel(timer_);  // its send_timeout: the session keeps the time
            update_events();
            session_->on_client_drained();
        }
        return;
    }
    after_flush();
    if (was_blocked && fd_ >= 0 && phase_ != Phase::Lingering) {
        update_events();
        process();  // answer pipelined requests that waited behind the blocked write
    }
}

void Connection::write_through(std::string_view data) {
    if (fd_ < 0) return;
    if (write_blocked_ || data.empty()) {
        out_.append(data);  // keep the order: the socket will take it after what waits
        return;
    }
    struct iovec iov[2];
    int cnt = 0;
    size_t pending = out_.size() - out_off_;
    if (pending) iov[cnt++] = {out_.data() + out_off_, pending};
    iov[cnt++] = {const_cast<char*>(data.data()), data.size()};
    ssize_t n;
    do n = ::writev(fd_, iov, cnt); while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN) {
            close();
            return;
        }
        n = 0;
    }
    size_t w = static_cast<size_t>(n);
    if (w >= pending) {
        out_.clear();
        out_off_ = 0;
        data.remove_prefix(w - pending);
    } else {
        out_off_ += w;
    }
    if (data.empty()) return;
    out_.append(data);
    write_blocked_ = true;
    update_events();
    server_.ctx().loop->arm(timer_, server_.ctx().config->http.send_timeout);
}

void Connection::after_flush() {
    if (!close_after_write_) return;
    // Closing a socket with unread data makes the kernel send a reset, which can destroy the
    // response before the client reads it. Linger only when that can happen, as nginx does:
    // after an error (the rest of the request is unread) or with pipelined bytes not yet used.
    if (may_still_send_ || in_len_ > in_pos_)
        start_lingering_close();
    else
        close();
}

void Connection::start_lingering_close() {
    phase_ = Phase::Lingering;
    ::shutdown(fd_, SHUT_WR);
    set_events(EPOLLIN | EPOLLRDHUP);
    server_.ctx().loop->arm(timer_, kLingeringTimeout);
}

void Connection::arm_timer() {
    if (phase_ != Phase::Head || head_timer_armed_) return;
    const HttpConfig& http = server_.ctx().config->http;
    // Idle between requests: a fresh connection has client_header_timeout to start talking,
    // a kept-alive one keepalive_timeout.
    server_.ctx().loop->arm(timer_, requests_ == 0 ? http.client_header_timeout : http.keepalive_timeout);
}

void Connection::on_timeout() {
    if (fd_ < 0) return;
    if (phase_ == Phase::ProxyHeader) {
        LOG_INFO("client %s on %s sent no PROXY protocol header in time; closing the connection", socket_peer_,
                 listener_->address.c_str());
        close();
        return;
    }
    bool mid_request = (phase_ == Phase::Head && in_len_ > in_pos_) || phase_ == Phase::Body;
    if (mid_request && !write_blocked_) {
        LOG_INFO("client %s timed out while sending a request", peer_);
        respond_error(408, "request timeout");
        return;
    }
    close();
}

}  // namespace gw::http
