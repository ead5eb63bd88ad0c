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
#include "core/text_format.h"
#include "http/admin.h"
#include "http/exchange.h"
#include "http/h2/server_session.h"
#include "http/path.h"
#include "http/proxy/headers.h"
#include "http/proxy_protocol.h"
#include "http/real_ip.h"
#include "http/server.h"
#include "http/transport.h"

namespace gw::http {

namespace {

constexpr size_t kOutputHighWater = 64 * 1024;  // stop answering pipelined requests beyond this
// HTTP/2: frames queued for the socket before the session stops making more, and reading
// stops (a client that does not read its answers - or its PING acks - cannot grow it).
constexpr size_t kH2OutputHighWater = 256 * 1024;
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr event::Millis kLingeringTimeout = 5000;


}  // namespace

Connection::Connection(Server& server) : server_(server) {
    timer_.set_callback([this] { on_timeout(); });
    h2_send_timer_.set_callback([this] { h2_send(); });
}

Connection::~Connection() {
    if (fd_ >= 0) ::close(fd_);
    if (transport_) transport_factory_->close(transport_);
}

void Connection::open(int fd, const ListenerConfig* listener, size_t listener_index, const sockaddr_storage& peer) {
    fd_ = fd;
    listener_ = listener;
    listener_index_ = static_cast<uint32_t>(listener_index);
    in_len_ = in_pos_ = body_pos_ = 0;
    phase_ = listener->proxy_protocol ? Phase::ProxyHeader : Phase::Head;
    requests_ = 0;
    head_parsed_ = false;
    out_off_ = 0;
    close_after_write_ = write_blocked_ = head_timer_armed_ = may_still_send_ = reading_paused_ = false;
    events_ = 0;
    socket_ip_ = {};
    peer_len_ = 0;
    peer_[0] = '\0';
    if (net::ip_from_sockaddr(peer, socket_ip_)) peer_len_ = static_cast<uint8_t>(net::format_ip(socket_ip_, peer_));
    client_ip_ = socket_ip_;
    client_port_ = 0;
    if (peer.ss_family == AF_INET)
        client_port_ = ntohs(reinterpret_cast<const sockaddr_in&>(peer).sin_port);
    else if (peer.ss_family == AF_INET6)
        client_port_ = ntohs(reinterpret_cast<const sockaddr_in6&>(peer).sin6_port);
    memcpy(socket_peer_, peer_, sizeof peer_);
    peer_trusted_ = forwarded_trusted_ = false;
    const std::optional<RealIpConfig>& real_ip = server_.ctx().config->real_ip;
    if (real_ip && (peer.ss_family == AF_INET || peer.ss_family == AF_INET6)) {
        peer_trusted_ = net::contains(real_ip->trusted, socket_ip_);
        forwarded_trusted_ = peer_trusted_ && real_ip->from == RealIpConfig::From::Header;
    }
    transport_factory_ = server_.transport(listener_index);
    transport_ = transport_factory_ ? transport_factory_->open(fd) : nullptr;
    if (transport_factory_ && !transport_) {
        LOG_ERROR("client %s on %s: no TLS session could be made; closing the connection", peer_,
                  listener->address.c_str());
        close();
        return;
    }
    set_events(EPOLLIN | EPOLLRDHUP);
    if (phase_ == Phase::ProxyHeader)
        server_.ctx().loop->arm(timer_, listener->proxy_protocol_timeout);  // from the accept
    else if (transport_)
        start_handshake();
    else
        arm_timer();
}

// ---- the transport (TLS): its handshake, and the bytes through it

void Connection::start_handshake() {
    phase_ = Phase::Handshake;
    server_.ctx().loop->arm(timer_, transport_factory_->handshake_timeout_ms());
}

void Connection::continue_handshake() {
    int r = transport_->handshake();
    if (r < 0) {
        std::string_view why = transport_->handshake_failure();
        LOG_INFO("client %s on %s: TLS handshake failed: %.*s; closing the connection", peer_,
                 listener_->address.c_str(), static_cast<int>(why.size()), why.data());
        close();
        return;
    }
    if (r == 0) {
        set_events(EPOLLRDHUP | (transport_->want() == Transport::Want::Read ? EPOLLIN : EPOLLOUT));
        return;
    }
    phase_ = Phase::Head;
    server_.ctx().loop->cancel(timer_);  // the request's own timers take over
    if (listener_->http2 != ListenerConfig::Http2::Off && transport_->alpn() == "h2") {
        ensure_buffers();
        enter_h2(0);
        return;
    }
    update_events();
    arm_timer();
}

ssize_t Connection::receive(char* buf, size_t len) {
    if (!transport_) return ::read(fd_, buf, len);
    ssize_t n = transport_->read(buf, len);
    if (n < 0 && errno == EAGAIN && transport_->want() == Transport::Want::Write && !write_blocked_) {
        // (TLS: a read that must write first - a rare post-handshake message.) Wait for room.
        write_blocked_ = true;
        update_events();
    }
    return n;
}

ssize_t Connection::send_iov(const struct iovec* iov, int count) {
    if (transport_) return transport_->writev(iov, count);
    if (count == 1) return ::send(fd_, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    return ::writev(fd_, iov, count);
}

// The transport took more from the socket than the buffer had room for, or than one read asked:
// no event will say so, so the connection reads again (from the loop, not from inside whoever
// made room).
void Connection::read_buffered_input() {
    kick_pending_ = false;
    if (fd_ < 0 || !transport_ || !(events_ & EPOLLIN) || !transport_->has_buffered_input()) return;
    on_io(EPOLLIN);
}

void Connection::close() {
    if (fd_ < 0) return;
    if (h2_) h2_.reset();  // its streams' exchanges are dropped (their handlers' on_abort)
    h2_sending_ = false;  // (the object is pooled)
    server_.ctx().loop->cancel(h2_send_timer_);
    if (phase_ == Phase::Handler && stream_ && stream_->handler) stream_->handler->on_abort();
    release_handler();
    end_stream();  // a filter that waits is told (on_destroy) and cancels what it waits for
    phase_ = Phase::Head;
    server_.ctx().loop->cancel(timer_);
    if (transport_) transport_->shutdown();  // close_notify, when the session is sound
    ::close(fd_);  // also removes it from epoll
    fd_ = -1;
    if (transport_) {
        transport_factory_->close(transport_);
        transport_ = nullptr;
    }
    if (in_) server_.input_buffers().put(std::move(in_));
    if (stream_) {
        server_.requests().put(std::move(stream_->request_storage));
        server_.streams().put(stream_);
        stream_ = nullptr;
    }
    in_len_ = in_pos_ = body_pos_ = 0;
    out_off_ = 0;
    if (out_) server_.outputs().put(std::move(out_));
    events_ = 0;
    server_.release(this);
}

// The stream's request is over (answered, or its connection closing): filters end.
void Connection::end_stream() {
    if (stream_ && head_parsed_) stream_->end();
    head_parsed_ = false;
}

bool Connection::close_tunnel() {
    return fd_ >= 0 && phase_ == Phase::Handler && stream_ && stream_->handler && stream_->handler->close_tunnel();
}

bool Connection::close_if_idle() {
    if (fd_ < 0) return false;
    if (close_tunnel()) return true;
    if (phase_ == Phase::H2) {
        if (h2_->open_streams() > 0) {
            on_drain();  // GOAWAY; the streams finish, then the connection closes
            return false;
        }
        close();
        return true;
    }
    bool idle = (phase_ == Phase::Head && in_len_ == in_pos_ && !write_blocked_ && pending_output() == 0) ||
                phase_ == Phase::ProxyHeader || phase_ == Phase::Handshake;  // no request has started
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
    if (!reading_paused_ && (!write_blocked_ || phase_ == Phase::Handler)) ev |= EPOLLIN;
    // TLS: a blocked write may wait for the peer's bytes (want() Read).
    if (transport_ && write_blocked_ && transport_->want() == Transport::Want::Read) ev |= EPOLLIN;
    set_events(ev);
    if (transport_ && (ev & EPOLLIN) && !kick_pending_ && transport_->has_buffered_input()) {
        kick_pending_ = true;
        server_.kick(this);
    }
}

void Connection::resume_reading() {
    if (!reading_paused_) return;
    reading_paused_ = false;
    update_events();
}

size_t Connection::body_capacity() const { return server_.input_buffers().size() - body_pos_; }

void Connection::body_erase(size_t offset, size_t n) {
    char* body = in_.get() + body_pos_;
    size_t len = in_len_ - body_pos_;
    memmove(body + offset, body + offset + n, len - offset - n);
    in_len_ -= static_cast<uint32_t>(n);
}

// The one keep-alive rule: the client asks for it, it is on, the connection has requests left,
// and the worker is not draining.
bool Connection::keep_alive_allowed(bool client_wants) const {
    const HttpConfig& http = server_.ctx().config->http;
    return client_wants && http.keepalive_timeout > 0 && requests_ < http.keepalive_requests && !server_.draining();
}

bool Connection::want_keep_alive() const { return keep_alive_allowed(stream_->request().keep_alive); }

void Connection::on_io(uint32_t events) {
    if (fd_ < 0) return;  // a stale event for a connection closed earlier in this batch
    if (phase_ == Phase::Handshake) {
        if (events & (EPOLLERR | EPOLLHUP)) {
            close();
            return;
        }
        continue_handshake();
        if (fd_ >= 0 && phase_ == Phase::Head && transport_->has_buffered_input()) on_readable();
        if (fd_ >= 0 && phase_ == Phase::H2 && transport_->has_buffered_input()) h2_read();
        return;
    }
    if (phase_ == Phase::H2) {
        h2_on_io(events);
        return;
    }
    if ((events & EPOLLOUT) || (transport_ && write_blocked_ && (events & EPOLLIN) &&
                                transport_->want() == Transport::Want::Read)) {
        flush();
        if (fd_ < 0) return;
    }
    if (phase_ == Phase::Filters)
        read_while_paused(events);
    else if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
        on_readable();
    // TLS: what the transport read ahead of the buffer's room waits for no event.
    if (transport_ && fd_ >= 0 && (events_ & EPOLLIN) && !kick_pending_ && transport_->has_buffered_input()) {
        kick_pending_ = true;
        server_.kick(this);
    }
}

// While a filter waits, what the client sends next is kept for later (up to the buffer's end),
// and a client that goes away - or shuts its side, as for the proxy - is closed at once, which
// ends the stream (the filter cancels what it waits for).
void Connection::read_while_paused(uint32_t events) {
    if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        close();
        return;
    }
    if (!(events & EPOLLIN)) return;
    size_t cap = server_.input_buffers().size();
    if (in_len_ == cap) {
        reading_paused_ = true;
        update_events();
        return;
    }
    ssize_t n = receive(in_.get() + in_len_, cap - in_len_);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close();
        return;
    }
    if (n > 0) {
        in_len_ += static_cast<uint32_t>(n);
        stream_->input_arrived();  // last: the filter may resume (or answer) the stream here
    }
}

void Connection::on_readable() {
    if (phase_ == Phase::Lingering) {
        char sink[4096];
        ssize_t n;
        while ((n = receive(sink, sizeof sink)) > 0) {}
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) close();
        return;
    }
    ensure_buffers();
    size_t cap = server_.input_buffers().size();
    if (phase_ == Phase::Handler) {
        if (in_len_ == cap) {  // the handler has not taken what is there yet
            reading_paused_ = true;
            update_events();
            return;
        }
        ssize_t n = receive(in_.get() + in_len_, cap - in_len_);
        if (n == 0) {
            stream_->handler->on_client_eof();
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) close();
            return;
        }
        in_len_ += static_cast<uint32_t>(n);
        stream_->handler->on_body_input();
        return;
    }
    if (write_blocked_) return;  // back-pressure: answer what we have before reading more
    if (phase_ == Phase::Head) compact();
    if (in_len_ == cap) {  // cannot happen while limits hold; refuse rather than spin
        respond_error(431, "request header too large");
        return;
    }
    ssize_t n = receive(in_.get() + in_len_, cap - in_len_);
    if (n == 0) {
        close();  // the client closed; nothing can be answered
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) close();
        return;
    }
    in_len_ += static_cast<uint32_t>(n);
    process();
}

// The buffers and the stream come with a request's first bytes.
void Connection::ensure_buffers() {
    if (!in_) in_ = server_.input_buffers().get();
    if (!stream_) {
        stream_ = server_.streams().get();
        stream_->request_storage = server_.requests().get();
    }
    if (!out_) out_ = server_.outputs().get();
}

// Between requests a connection needs no buffer and no stream.
void Connection::release_idle_buffers() {
    if (phase_ != Phase::Head || in_pos_ != in_len_ || write_blocked_ || head_parsed_) return;
    if (in_) {
        server_.input_buffers().put(std::move(in_));
        in_len_ = in_pos_ = body_pos_ = 0;
    }
    if (stream_) {
        server_.requests().put(std::move(stream_->request_storage));
        server_.streams().put(stream_);
        stream_ = nullptr;
    }
    if (out_ && out_->empty()) {
        out_off_ = 0;
        server_.outputs().put(std::move(out_));
    }
}

void Connection::compact() {
    if (in_pos_ == 0) return;
    size_t left = in_len_ - in_pos_;
    if (left) memmove(in_.get(), in_.get() + in_pos_, left);
    in_len_ = static_cast<uint32_t>(left);
    in_pos_ = 0;
}

// Answers every complete request in the buffer, in order, then writes all answers at once.
void Connection::process() {
    while (fd_ >= 0 && !close_after_write_ && out_->size() < kOutputHighWater) {
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
    if (out_ && !out_->empty()) flush();
    if (fd_ >= 0 && !write_blocked_) arm_timer();
    if (fd_ >= 0) release_idle_buffers();
}

// The PROXY protocol header comes with the first bytes, in the same buffer as the request
// after it (no extra read or peek). A header that is bad, or longer than the buffer, closes
// the connection without an answer: the peer is not speaking the protocol agreed on.
bool Connection::read_proxy_header() {
    proxy_protocol::Header h;
    std::string_view reason;
    size_t cap = server_.input_buffers().size();
    auto r = proxy_protocol::parse({in_.get() + in_pos_, in_len_ - in_pos_}, cap, h, reason);
    if (r == proxy_protocol::Result::Incomplete) return false;
    if (r == proxy_protocol::Result::Error) {
        LOG_INFO("client %s on %s: %.*s; closing the connection", socket_peer_, listener_->address.c_str(),
                 static_cast<int>(reason.size()), reason.data());
        close();
        return false;
    }
    in_pos_ += static_cast<uint32_t>(h.length);
    phase_ = Phase::Head;
    server_.ctx().loop->cancel(timer_);  // the request's own timers take over
    const std::optional<RealIpConfig>& real_ip = server_.ctx().config->real_ip;
    if (h.has_source && peer_trusted_ && real_ip->from == RealIpConfig::From::ProxyProtocol) {
        client_ip_ = h.source;
        client_port_ = h.source_port;
        peer_len_ = static_cast<uint8_t>(net::format_ip(h.source, peer_));
    }
    return true;
}

bool Connection::read_head() {
    std::string_view buf(in_.get() + in_pos_, in_len_ - in_pos_);
    if (buf.empty()) return false;
    if (requests_ == 0 && listener_->http2 != ListenerConfig::Http2::Off && !transport_ && h2c_preface(buf)) {
        if (buf.size() >= kH2Preface.size()) enter_h2(in_pos_);
        return false;
    }
    if (!head_timer_armed_) {
        // client_header_timeout runs from the first byte of a request, not from the last read:
        // a client trickling bytes cannot hold the connection for ever.
        head_timer_armed_ = true;
        server_.ctx().loop->arm(timer_, server_.ctx().config->http.client_header_timeout);
    }
    Stream& s = *stream_;
    Request& req = s.request();
    ParseError err;
    ParseResult r = parse_request_head(buf, server_.limits(), req, err);
    if (r == ParseResult::Incomplete) return false;
    if (r == ParseResult::Error) {
        LOG_INFO("client %s sent an invalid request: %.*s", peer_, static_cast<int>(err.reason.size()),
                 err.reason.data());
        if (requests_ == 0 && listener_->http2 != ListenerConfig::Http2::Off && !transport_ && !speaks_http1(buf)) {
            // Neither HTTP/1.x nor the HTTP/2 preface on an h2c port: a client that would not
            // read an HTTP/1.1 error (an HTTP/2 client with a bad preface, RFC 9113 3.4).
            close();
            return false;
        }
        respond_error(err.status, err.reason);
        return false;
    }
    s.begin(this, listener_index_);
    // Until routing, the requests no route matched: a request refused before it (413, a bad
    // path) is logged and counted there, and what reads the stream's route ($route in a log
    // line) never finds none.
    s.set_route(&server_.route(Router::kNoRoute));
    s.mark_start();
    head_timer_armed_ = false;
    ++requests_;
    fill_client(s);
    head_parsed_ = true;
    s.set_request_id(req.header("x-request-id"), server_.ids());
    body_pos_ = in_pos_ + static_cast<uint32_t>(req.head_length);
    if (!normalize_path()) return false;
    if (!listener_->admin) s.match() = server_.router().match(req, static_cast<int>(listener_index_));
    RouteRuntime& route = server_.route(s.route_index());
    s.set_route(&route);
    // After routing: a route may have its own client_max_body_size (an upload route).
    uint64_t max_body = max_body_size(*server_.ctx().config, s.route_index());
    if (req.body == BodyKind::ContentLength && max_body && req.content_length > max_body) {
        respond_error(413, "request body too large");
        return false;
    }
    if (answer_special_method()) return fd_ >= 0;
    if (route.filters) {  // a route without filters pays this check
        switch (s.run_request_filters(route.filters)) {
            case FilterStatus::Continue: break;
            case FilterStatus::Done: return answer_reply();
            case FilterStatus::Pause:
                // A filter waits (for Redis, say): the worker goes on, and stream_resumed()
                // follows. What bounds the wait is the filter's business (its own timeout).
                phase_ = Phase::Filters;
                server_.ctx().loop->cancel(timer_);
                return false;
        }
    }
    return admit();
}

void Connection::fill_client(Stream& s) const {
    s.set_client(client_ip_, peer_, peer_len_, socket_peer_, client_port_);
    if (forwarded_trusted_) {
        const RealIpConfig& real_ip = *server_.ctx().config->real_ip;
        s.set_client_text(real_ip::forwarded_client(s.request(), real_ip.header, real_ip.trusted, socket_ip_));
    }
}

// Before routing, so that routes, rewrites, rate-limit keys and the upstream see one canonical
// path (src/http/path.h). The target as sent stays in the request's target for the access log.
bool Connection::normalize_path() {
    std::string_view why;
    if (exchange::normalize_path(*stream_, server_.ctx().config->http, why)) return true;
    LOG_INFO("client %s sent an invalid request: %.*s", stream_->client_address().data(), static_cast<int>(why.size()),
             why.data());
    respond_error(400, why);
    return false;
}

// OPTIONS * (200 with Allow), TRACE and CONNECT (405 unless the route names them).
bool Connection::answer_special_method() {
    int status = exchange::special_method_status(*stream_);
    if (status == 0) return false;
    respond_local(status, exchange::kAllow, status == 405 ? json_error_body(405, "method not allowed") : std::string());
    return true;
}

void Connection::respond_local(int status, std::string_view headers, std::string_view body) {
    keep_alive_ = want_keep_alive();
    if (stream_->request().body != BodyKind::None) {
        // Answered without reading the body, so the connection cannot be reused.
        keep_alive_ = false;
        may_still_send_ = true;
        body_pos_ = in_len_;
    }
    std::string fixed = body.empty() ? std::string() : std::string("content-type: application/json\r\n");
    fixed += headers;
    respond(status, fixed, body, server_.route(Router::kNoRoute));
}

// A filter answered (403, 429, ...). A request body is not read (nor is 100 Continue sent), so
// a request that has one closes the connection after the answer - unless all of its body
// (Content-Length) is in the buffer already.
bool Connection::answer_reply() {
    Stream& s = *stream_;
    keep_alive_ = want_keep_alive();
    const Request& req = s.request();
    if (req.body == BodyKind::ContentLength && !req.expect_continue && in_len_ - body_pos_ >= req.content_length) {
        // The whole body is here already (a small one, or one a filter waited for): skipped,
        // the connection goes on after it.
        body_pos_ += static_cast<uint32_t>(req.content_length);
    } else if (req.body != BodyKind::None) {
        keep_alive_ = false;
        may_still_send_ = true;
        body_pos_ = in_len_;
    }
    if (s.has_stored_reply()) {
        respond_stored(s.route());
        return fd_ >= 0 && !close_after_write_;
    }
    uint64_t sent = exchange::append_reply(server_, s, *out_, keep_alive_);
    finish_request(s.route(), s.reply_status(), sent);
    return fd_ >= 0 && !close_after_write_;
}

void Connection::stream_resumed() {
    phase_ = Phase::Head;
    if (reading_paused_) {
        reading_paused_ = false;
        update_events();
    }
    bool go_on = stream_->reply_status() ? answer_reply() : admit();
    if (go_on)
        process();  // and the pipelined requests behind it
    else
        after_process();
}

bool Connection::admit() {
    const Request& req = stream_->request();
    if (stream_->route().proxied && !listener_->admin) {
        start_handler();
        return false;  // the handler drives the connection until the response is complete
    }
    if (req.body == BodyKind::None) {
        dispatch();
        return fd_ >= 0;
    }
    // A local answer: the body is read and discarded first, so pipelining stays in step.
    const HttpConfig& http = server_.ctx().config->http;
    if (req.body == BodyKind::ContentLength) {
        body_left_ = req.content_length;
    } else {
        stream_->chunked.reset();
        stream_->chunked.set_max_body(max_body_size(*server_.ctx().config, stream_->route_index()));
    }
    if (req.expect_continue && body_pos_ == in_len_) {
        *out_ += "HTTP/1.1 100 Continue\r\n\r\n";
        flush();
        if (fd_ < 0) return false;
    }
    phase_ = Phase::Body;
    server_.ctx().loop->arm(timer_, http.client_body_timeout);
    return read_body();
}

void Connection::start_handler() {
    phase_ = Phase::Handler;
    server_.ctx().loop->cancel(timer_);  // the handler keeps the time from here
    server_.start_proxy(*stream_);
}

void Connection::release_handler() {
    if (!stream_ || !stream_->handler) return;
    server_.release_handler(*stream_);
}

void Connection::stream_done(int status, uint64_t body_bytes, bool keep_alive, size_t next_request,
                             uint64_t upstream_micros) {
    release_handler();
    phase_ = Phase::Head;
    keep_alive_ = keep_alive;
    size_t next = body_pos_ + next_request;
    // Closing: the client may still be sending - requests it pipelined expecting to be served,
    // or a body the upstream did not wait for - so linger, unless it asked to close after a
    // request without a body (it has said all it will say: close at once, as nginx does,
    // without a shutdown(2) and a wait for its FIN per connection).
    const Request& req = stream_->request();
    bool client_finished = !req.keep_alive && req.body == BodyKind::None;
    if (next >= in_len_ && !keep_alive && !client_finished) may_still_send_ = true;
    body_pos_ = static_cast<uint32_t>(next);
    uint64_t total = exchange::micros_since(stream_->start());
    server_.observe_overhead(stream_->route_index(), total > upstream_micros ? total - upstream_micros : 0);
    finish_request(stream_->route(), status, body_bytes);
    reading_paused_ = false;
    update_events();
    flush();
    if (fd_ >= 0 && !close_after_write_ && !write_blocked_) process();
}

void Connection::stream_error(int status, std::string_view message, std::string_view headers,
                              size_t next_request) {
    release_handler();
    phase_ = Phase::Head;
    bool keep = next_request != kRequestUnread && want_keep_alive();
    keep_alive_ = keep;
    may_still_send_ = !keep;
    body_pos_ = keep ? static_cast<uint32_t>(body_pos_ + next_request) : in_len_;
    reading_paused_ = false;
    std::string body = json_error_body(status, message);
    std::string fixed = "content-type: application/json\r\n";
    fixed += headers;
    respond(status, fixed, body, stream_->route());
    if (keep) update_events();
    flush();
    if (keep && fd_ >= 0 && !close_after_write_ && !write_blocked_) process();
}

void Connection::stream_answer(size_t next_request) {
    release_handler();
    phase_ = Phase::Head;
    bool keep = next_request != kRequestUnread && want_keep_alive();
    keep_alive_ = keep;
    may_still_send_ = !keep;
    body_pos_ = keep ? static_cast<uint32_t>(body_pos_ + next_request) : in_len_;
    reading_paused_ = false;
    if (stream_->has_stored_reply())
        respond_stored(stream_->route());
    else  // (a handler that gives a stream back has a reply for it: this is a fallback)
        respond(500, "content-type: application/json\r\n", json_error_body(500, "no response"), stream_->route());
    if (keep) update_events();
    flush();
    if (keep && fd_ >= 0 && !close_after_write_ && !write_blocked_) process();
}

// A stored response (a cache's object) answered as a proxied response is (exchange.h).
void Connection::respond_stored(RouteRuntime& route) {
    exchange::Sent sent = exchange::append_stored(server_, *stream_, *out_, keep_alive_);
    finish_request(route, sent.status, sent.body_bytes);
}

void Connection::stream_cut(int status, uint64_t body_bytes) {
    release_handler();
    phase_ = Phase::Head;
    keep_alive_ = false;
    body_pos_ = in_len_;
    finish_request(stream_->route(), status, body_bytes);
    may_still_send_ = false;
    in_pos_ = in_len_;
    flush();
}

void Connection::consume_body_bytes(size_t n) {
    // The body is discarded (a `return` route does not need it); the head stays in place
    // because the request points into it.
    size_t tail = in_len_ - body_pos_ - n;
    if (tail) memmove(in_.get() + body_pos_, in_.get() + body_pos_ + n, tail);
    in_len_ -= static_cast<uint32_t>(n);
}

bool Connection::read_body() {
    size_t avail = in_len_ - body_pos_;
    const Request& req = stream_->request();
    if (req.body == BodyKind::ContentLength) {
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
            auto st = stream_->chunked.feed({in_.get() + body_pos_, in_len_ - body_pos_}, consumed, data, err);
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
    keep_alive_ = want_keep_alive();
    exchange::LocalAnswer a = exchange::local_answer(server_, *stream_, listener_->admin);
    RouteRuntime& route = listener_->admin ? server_.route(Router::kNoRoute) : stream_->route();
    respond(a.status, a.headers, a.body, route, a.own_answer);
}

void Connection::respond(int status, std::string_view fixed_headers, std::string_view body,
                         RouteRuntime& route, bool own_answer) {
    uint64_t sent = exchange::append_response(server_, *stream_, *out_, status, fixed_headers, body, keep_alive_, own_answer);
    finish_request(route, status, sent);
}

void Connection::finish_request(RouteRuntime& route, int status, uint64_t body_bytes) {
    Stream& s = *stream_;
    uint64_t micros = exchange::micros_since(s.start());
    std::atomic<uint64_t>* cell = exchange::log_exchange(server_, s, *listener_, route, status, body_bytes, micros);
    end_stream();
    // Counted once the stream has ended - its filters' on_destroy ran, a concurrency lease is
    // given back - so that whoever reads the counts (/status, /metrics) also sees the release.
    if (!listener_->admin) server_.count_response(route, cell, micros);
    server_.ctx().slot->requests.fetch_add(1, std::memory_order_release);
    in_pos_ = body_pos_;  // the next request starts after this one's body
    if (!keep_alive_) close_after_write_ = true;
}

void Connection::respond_error(int status, std::string_view message) {
    // The request could not be read to its end, so the connection cannot be reused.
    if (phase_ == Phase::Head && !head_parsed_) {
        // The head was not parsed, so the stream holds nothing of this request: log what we
        // can, under an id of its own.
        Stream& s = *stream_;
        s.begin(this, listener_index_);
        s.set_client(client_ip_, peer_, peer_len_, socket_peer_, client_port_);
        s.set_request_id({}, server_.ids());
        Request& req = s.request();
        req.method = "-";
        req.target = "-";
        req.path = {};   // (a pooled request keeps an earlier request's views: $uri, $arg_*
        req.query = {};  // in a log line would show them)
        req.host = {};
        req.header_count = 0;
        req.version_minor = 1;
        req.http2 = false;
        req.keep_alive = false;
        req.body = BodyKind::None;
        s.mark_start();
        s.set_route(&server_.route(Router::kNoRoute));
        head_parsed_ = true;
    }
    keep_alive_ = false;
    may_still_send_ = true;
    std::string body = json_error_body(status, message);
    body_pos_ = in_len_;
    phase_ = Phase::Head;
    // Counted and logged under the stream's route: the route once the request was routed (a
    // 413 of a route's own limit, a bad chunked body), no route before.
    respond(status, "content-type: application/json\r\n", body, stream_->route());
    flush();
}

void Connection::flush() {
    if (!out_) {  // idle: nothing to write
        if (write_blocked_) {  // (a TLS read that waited to write: it may go on)
            write_blocked_ = false;
            update_events();
        }
        return;
    }
    while (out_off_ < out_->size()) {
        struct iovec iov = {out_->data() + out_off_, out_->size() - out_off_};
        ssize_t n = send_iov(&iov, 1);
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
    out_->clear();
    out_off_ = 0;
    bool was_blocked = write_blocked_;
    write_blocked_ = false;
    if (phase_ == Phase::Handler) {
        // Only a write that had been blocked can have paused the handler.
        if (was_blocked) {
            server_.ctx().loop->cancel(timer_);  // its send_timeout: the handler keeps the time
            update_events();
            stream_->handler->on_output_drained();
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
        out_->append(data);  // keep the order: the socket will take it after what waits
        return;
    }
    struct iovec iov[2];
    int cnt = 0;
    size_t pending = out_->size() - out_off_;
    if (pending) iov[cnt++] = {out_->data() + out_off_, pending};
    iov[cnt++] = {const_cast<char*>(data.data()), data.size()};
    ssize_t n;
    do n = send_iov(iov, cnt); while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN) {
            close();
            return;
        }
        n = 0;
    }
    size_t w = static_cast<size_t>(n);  // (out_ exists: a handler writes only within a request)
    if (w >= pending) {
        out_->clear();
        out_off_ = 0;
        data.remove_prefix(w - pending);
    } else {
        out_off_ += w;
    }
    if (data.empty()) return;
    out_->append(data);
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
    if (transport_) transport_->shutdown();
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
    if (phase_ == Phase::Handshake) {
        transport_->handshake_timed_out();
        LOG_INFO("client %s on %s did not finish its TLS handshake in time; closing the connection", peer_,
                 listener_->address.c_str());
        close();
        return;
    }
    if (phase_ == Phase::H2) {
        h2_timeout();
        return;
    }
    if (phase_ == Phase::ProxyHeader) {
        LOG_INFO("client %s on %s sent no PROXY protocol header in time; closing the connection", socket_peer_,
                 listener_->address.c_str());
        close();
        return;
    }
    bool mid_request = (phase_ == Phase::Head && in_len_ > in_pos_) || phase_ == Phase::Body;
    if (mid_request && !write_blocked_) {
        LOG_INFO("client %s timed out while sending a request", head_parsed_ ? stream_->client_address().data() : peer_);
        respond_error(408, "request timeout");
        return;
    }
    close();
}


// ---- HTTP/2 (h2/server_session.h): this connection keeps the socket, the transport and the
// timer; the session has the protocol.

// The first line names HTTP/1.x (or is not complete yet).
bool Connection::speaks_http1(std::string_view buf) {
    size_t eol = buf.find('\n');
    std::string_view line = buf.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t sp = line.rfind(' ');
    std::string_view version = sp == std::string_view::npos ? line : line.substr(sp + 1);
    return version.starts_with("HTTP/1.") || eol == std::string_view::npos;
}

// The h2c connection preface, or the start of one (then more bytes are awaited).
bool Connection::h2c_preface(std::string_view buf) {
    size_t n = std::min(buf.size(), kH2Preface.size());
    return buf.substr(0, n) == kH2Preface.substr(0, n);
}

void Connection::enter_h2(size_t from) {
    phase_ = Phase::H2;
    server_.ctx().loop->cancel(timer_);
    head_timer_armed_ = false;
    if (stream_) {  // the HTTP/1 stream is not needed: each h2 stream takes its own
        server_.requests().put(std::move(stream_->request_storage));
        server_.streams().put(stream_);
        stream_ = nullptr;
    }
    h2_ = std::make_unique<h2::ServerSession>(server_, *this, *listener_, listener_index_);
    if (!h2_->ok()) {
        LOG_ERROR("client %s on %s: no HTTP/2 session could be made; closing the connection", peer_,
                  listener_->address.c_str());
        close();
        return;
    }
    size_t n = in_len_ - from;
    in_len_ = in_pos_ = body_pos_ = 0;
    if (n && !h2_->receive(in_.get() + from, n)) {
        h2_send();
        return;
    }
    h2_send();
}

void Connection::on_drain() {
    if (fd_ < 0 || phase_ != Phase::H2) return;
    h2_->shutdown();
    h2_send();
}

void Connection::h2_on_io(uint32_t events) {
    if (events & EPOLLERR) {
        close();
        return;
    }
    if ((events & EPOLLOUT) || (transport_ && write_blocked_ && (events & EPOLLIN) &&
                                transport_->want() == Transport::Want::Read)) {
        h2_send();
        if (fd_ < 0) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) h2_read();
    if (fd_ >= 0) h2_->collect();
    if (transport_ && fd_ >= 0 && (events_ & EPOLLIN) && !kick_pending_ && transport_->has_buffered_input()) {
        kick_pending_ = true;
        server_.kick(this);
    }
}

void Connection::h2_read() {
    if (fd_ < 0 || pending_output() >= kH2OutputHighWater) return;
    size_t cap = server_.input_buffers().size();
    ssize_t n = receive(in_.get(), cap);
    if (n == 0) {
        close();  // the client is gone: its streams' exchanges are dropped
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) close();
        return;
    }
    h2_->receive(in_.get(), static_cast<size_t>(n));
    h2_send();
}

void Connection::h2_stream_send() {
    if (fd_ >= 0 && !h2_send_timer_.armed()) server_.ctx().loop->arm(h2_send_timer_, 0);
}

void Connection::h2_send() {
    if (fd_ < 0 || !h2_ || h2_sending_) return;
    h2_sending_ = true;
    for (;;) {
        size_t before = out_->size();
        bool notified = !write_blocked_ && h2_->produce(*out_, kH2OutputHighWater);
        bool made = out_->size() > before;
        if (!h2_write()) return;  // closed
        if (write_blocked_ || (!made && !notified)) break;
    }
    h2_sending_ = false;
    if (h2_->finished() && pending_output() == 0) {
        close();
        return;
    }
    h2_update_events();
    h2_arm_timer();
}

bool Connection::h2_write() {
    while (out_off_ < out_->size()) {
        struct iovec iov = {out_->data() + out_off_, out_->size() - out_off_};
        ssize_t n = send_iov(&iov, 1);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (!write_blocked_) {
                    write_blocked_ = true;
                    server_.ctx().loop->arm(timer_, server_.ctx().config->http.send_timeout);
                }
                return true;
            }
            close();  // EPIPE, ECONNRESET: the client went away
            return false;
        }
        out_off_ += static_cast<size_t>(n);
    }
    out_->clear();
    out_off_ = 0;
    write_blocked_ = false;
    return true;
}

void Connection::h2_update_events() {
    uint32_t ev = EPOLLRDHUP;
    if (write_blocked_) ev |= EPOLLOUT;
    if (pending_output() < kH2OutputHighWater) ev |= EPOLLIN;
    if (transport_ && write_blocked_ && transport_->want() == Transport::Want::Read) ev |= EPOLLIN;
    set_events(ev);
}

// One timer, for what the connection waits for: a blocked write (send_timeout), the second
// GOAWAY of a graceful end, or, with no stream open, the idle timeout.
void Connection::h2_arm_timer() {
    if (write_blocked_) return;  // armed when the write blocked
    event::Loop& loop = *server_.ctx().loop;
    if (h2_->shutdown_pending())
        loop.arm(timer_, 1000);
    else if (h2_->open_streams() == 0)
        loop.arm(timer_, server_.ctx().config->http2.idle_timeout);
    else if (h2_->header_pending())
        loop.arm(timer_, server_.ctx().config->http.client_header_timeout);
    else
        loop.cancel(timer_);  // the streams' handlers keep their own time
}

void Connection::h2_timeout() {
    if (write_blocked_) {
        LOG_INFO("client %s on %s did not read its HTTP/2 responses in time; closing the connection", peer_,
                 listener_->address.c_str());
        close();
        return;
    }
    if (h2_->shutdown_pending()) {
        h2_->on_shutdown_timer();
    } else if (h2_->open_streams() == 0) {
        h2_->idle_goaway();
    } else if (h2_->header_pending()) {
        LOG_INFO("client %s on %s did not finish an HTTP/2 header block in time; closing the connection", peer_,
                 listener_->address.c_str());
        close();
        return;
    }
    h2_send();
}

}  // namespace gw::http
