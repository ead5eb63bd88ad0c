#include "http/proxy/session.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "core/log_throttle.h"
#include "http/error_pages.h"
#include "http/stream.h"
#include "http/proxy/headers.h"
#include "http/proxy/proxy.h"
#include "http/redact.h"
#include "http/server.h"

namespace gw::http::proxy {

namespace {

constexpr size_t kClientHighWater = 64 * 1024;   // client output buffered before upstream reads pause
constexpr size_t kMinFreeInput = 8 * 1024;       // compact the client input below this much room
constexpr event::Millis kDownFor = 10000;        // passive: skip a failing server this long
// Interim (1xx) responses allowed before the final one, by count and by bytes of their heads.
// The byte bound is below kClientHighWater, so they can never pile up in the client's output
// beyond what back-pressure allows for a body; beyond either bound the answer is a 502.
constexpr uint32_t kMaxInterimResponses = 16;
constexpr size_t kMaxInterimBytes = 16 * 1024;

bool is_idempotent(std::string_view m) {
    return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

// The Host sent for a request that has none (HTTP/1.0): the upstream's name if it is a valid
// host name, as nginx's $proxy_host, else "localhost".
std::string_view default_host(std::string_view upstream_name) {
    if (upstream_name.empty() || upstream_name.size() > 255) return "localhost";
    for (char c : upstream_name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_'))
            return "localhost";
    return upstream_name;
}

uint32_t retry_flag(ErrorKind k) {
    switch (k) {
        case ErrorKind::ConnectRefused:
        case ErrorKind::ConnectTimeout:
        case ErrorKind::Tls: return kRetryConnectFailure;
        case ErrorKind::Timeout: return kRetryTimeout;
        case ErrorKind::Reset: return kRetryReset;
        default: return 0;
    }
}

// What a circuit breaker's failure_on calls this failure.
uint32_t breaker_flag(ErrorKind k) {
    switch (k) {
        case ErrorKind::ConnectRefused:
        case ErrorKind::ConnectTimeout:
        case ErrorKind::Tls: return kFailConnect;
        case ErrorKind::Timeout: return kFailTimeout;
        case ErrorKind::Reset: return kFailReset;
        case ErrorKind::InvalidResponse: return kFailInvalid;
        default: return 0;
    }
}

bool breaker_status_failure(int status, uint32_t on) {
    if (status < 500 || status > 599) return false;
    return (on & kFail5xx) || (status == 502 && (on & kFail502)) || (status == 503 && (on & kFail503)) ||
           (status == 504 && (on & kFail504));
}

uint32_t status_retry_flag(int status) {
    uint32_t f = status >= 500 && status <= 599 ? static_cast<uint32_t>(kRetry5xx) : 0u;
    if (status == 502) f |= kRetry502;
    if (status == 503) f |= kRetry503;
    if (status == 504) f |= kRetry504;
    return f;
}

}  // namespace

Session::Session(Proxy& proxy) : proxy_(proxy) {
    timer_.set_callback([this] { on_timeout(); });
}

Session::~Session() { abort(); }

void Session::arm(event::Millis ms) {
    if (int64_t deadline = stream_ ? stream_->upstream_deadline() : 0) {  // (a gRPC call's grpc-timeout)
        event::Millis now = proxy_.loop().now();
        ms = std::min<event::Millis>(ms, deadline > now ? deadline - now : 1);
    }
    proxy_.loop().arm(timer_, ms);
}

uint64_t Session::upstream_micros() const {
    if (sent_at_.tv_sec == 0) return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec - sent_at_.tv_sec) * 1000000 + (now.tv_nsec - sent_at_.tv_nsec) / 1000;
}

void Session::start(Stream& stream, int route_index, const RouteMatchResult& match) {
    stream_ = &stream;
    io_ = &stream.io();
    const Request& req = stream_->request();
    const RouteConfig& rc = proxy_.config().routes[route_index];
    route_ = route_index;
    // A request without the split_by key (no cookie yet) goes by weighted round robin: hashing
    // the empty key would put every such user on one side.
    std::optional<uint64_t> split_key;
    if (rc.split_by) {
        std::string_view key = request_key(*rc.split_by);
        if (!key.empty()) split_key = upstream::hash_key(key);
    }
    upstream_ = proxy_.choose_upstream(route_index, split_key);
    h2_mode_ = proxy_.upstream(upstream_).config->protocol != UpstreamConfig::Protocol::Http1;
    idempotent_ = is_idempotent(req.method);
    replayable_ = true;
    attempts_ = 1;
    free_retry_used_ = false;
    tried_ = 0;
    panic_ = false;
    ticket_ = {};
    response_started_ = false;
    status_ = 0;
    body_bytes_ = 0;
    sent_at_ = {};
    continue_sent_ = false;
    paused_ = false;
    interim_count_ = 0;
    interim_bytes_ = 0;
    transform_ = chunk_out_ = observe_ = false;
    up_ = nullptr;
    server_ = nullptr;

    target_.clear();
    if (!rc.rewrite.empty()) {
        expand_rewrite(target_, rc.rewrite, req.path, match);
    } else if (!rc.strip_prefix.empty() && req.path.starts_with(rc.strip_prefix)) {
        std::string_view rest = req.path.substr(rc.strip_prefix.size());
        if (rest.empty() || rest.front() != '/') target_ += '/';
        target_ += rest;
    } else {
        target_ += req.path;
    }
    if (!req.query.empty()) {
        target_ += '?';
        target_ += req.query;
    }

    std::string_view rid = stream_->request_id();  // made once per request by the codec
    request_id_len_ = rid.size();
    memcpy(request_id_, rid.data(), rid.size());
    trace_at_ = 0;
    std::string_view tp;
    if (TraceContext* trace = stream_->trace()) [[unlikely]] {
        trace_start(*trace);  // (the tracing filter read the incoming traceparent)
    } else if (tp = req.header("traceparent"); valid_traceparent(tp)) {
        memcpy(traceparent_, tp.data(), sizeof traceparent_);
    } else {
        // A new trace: the trace id doubles as the request id's randomness, the span is ours.
        memcpy(traceparent_, "00-", 3);
        proxy_.ids().request_id(traceparent_ + 3);
        traceparent_[35] = '-';
        proxy_.ids().span_id(traceparent_ + 36);
        memcpy(traceparent_ + 52, "-01", 3);
    }

    valid_end_ = sent_end_ = 0;  // offsets count from the body's first byte
    body_complete_ = req.body == BodyKind::None;
    cl_left_ = req.body == BodyKind::ContentLength ? req.content_length : 0;
    if (req.body == BodyKind::Chunked) {
        chunked_.reset();
        chunked_.set_max_body(max_body_size(proxy_.config(), route_index));
    }

    UpstreamRequestInput in;
    in.target = target_;
    if (req.host.empty()) in.default_host = default_host(proxy_.upstream(upstream_).config->name);
    // X-Forwarded-For gets the hop that handed us the request: the socket's peer (a trusted
    // balancer whose own X-Forwarded-For already ends with the client), or the client itself
    // when it came directly or through the PROXY protocol, so the list stays a true hop list.
    in.client_ip = stream_->client_from_header() ? stream_->peer_address() : stream_->client_address();
    in.request_id = {request_id_, request_id_len_};
    in.traceparent = {traceparent_, sizeof traceparent_};
    in.chunked_body = req.body == BodyKind::Chunked;
    in.has_length = req.body == BodyKind::ContentLength;
    in.length = req.content_length;
    // Only WebSocket is tunnelled: other upgrades (h2c above all) are a known way to smuggle
    // requests past a proxy, so they are forwarded as plain requests without Upgrade.
    upgrade_ = req.upgrade && iequals(req.header("upgrade"), "websocket");
    in.upgrade = upgrade_;
    in.https = stream_->io().transport() != nullptr;
    in.ops = &rc.request_headers;
    in.filter_lines = stream_->request_header_lines();
    in.filter_field_names = stream_->request_field_names();
    vars::Env env;
    env.stream = stream_;
    in.env = &env;
    head_.clear();
    build_upstream_request(head_, req, in);

    const UpstreamConfig& uc = *proxy_.upstream(upstream_).config;
    hash_ = 0;
    if (uc.balance == UpstreamConfig::Balance::Hash) hash_ = upstream::hash_key(request_key(uc.hash_key));

    proxy_.count_request(route_index);
    epoch_++;
    if (!validate_body()) return;
    attempt();
}

std::string_view Session::request_key(const HashKey& key) const {
    const Request& req = stream_->request();
    switch (key.kind) {
        case HashKey::Kind::Ip: return stream_->client_address();
        case HashKey::Kind::Path: return req.path;
        case HashKey::Kind::Header: return req.header(key.name);
        case HashKey::Kind::Cookie: return req.cookie(key.name);
    }
    return {};
}

// Validates the body bytes the client has sent so far (Content-Length count, or the chunked
// framing), so that only well-formed bytes ever reach the upstream.
bool Session::validate_body() {
    if (body_complete_) return true;
    size_t end = io_->body_size();
    if (stream_->request().body == BodyKind::ContentLength) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(end - valid_end_, cl_left_));
        valid_end_ += n;
        cl_left_ -= n;
        body_complete_ = cl_left_ == 0;
        return true;
    }
    while (valid_end_ < end) {
        size_t consumed = 0;
        std::string_view data;
        ParseError err;
        auto st = chunked_.feed({io_->body_data() + valid_end_, end - valid_end_}, consumed, data, err);
        if (h2_mode_ && st != ChunkedDecoder::Status::Error) {
            // DATA frames carry the body itself: the framing goes, as it is validated.
            size_t pre = data.empty() ? consumed : static_cast<size_t>(data.data() - (io_->body_data() + valid_end_));
            size_t post = consumed - pre - data.size();
            size_t n = data.size();
            if (post) io_->body_erase(valid_end_ + pre + n, post);
            if (pre) io_->body_erase(valid_end_, pre);
            valid_end_ += n;
            end -= consumed - n;
            if (st == ChunkedDecoder::Status::Done) {
                body_complete_ = true;
                break;
            }
            if (consumed == 0) break;
            continue;
        }
        valid_end_ += consumed;
        if (st == ChunkedDecoder::Status::Error) {
            respond_error(err.status, err.reason.data());
            return false;
        }
        if (st == ChunkedDecoder::Status::Done) {
            drop_request_trailers();
            body_complete_ = true;
            break;
        }
        if (consumed == 0) break;
    }
    return true;
}

// Request trailers are never forwarded: they could carry what the gateway owns or removed from
// the head (X-Forwarded-For, X-Request-Id, Content-Length, hop-by-hop fields) past every check.
// The decoder has just consumed the trailer section, which ends at valid_end_ with its final
// CRLF; cut the fields out of the input buffer so that the body ends with "0\r\n\r\n". (Bytes
// of the section were never sent: send_end() stops at its start.)
void Session::drop_request_trailers() {
    size_t fields = chunked_.trailer_bytes() - 2;
    if (fields == 0) return;
    size_t from = valid_end_ - 2;  // the final CRLF, kept
    io_->body_erase(from - fields, fields);
    valid_end_ -= fields;
}

// End of the body bytes that may be sent: the validated ones, short of a trailer section still
// being read (dropped once complete).
size_t Session::send_end() const {
    return body_complete_ || h2_mode_ || stream_->request().body != BodyKind::Chunked ? valid_end_ : valid_end_ - chunked_.trailer_bytes();
}

// Drops body bytes already sent upstream to make room for more. From now on the request
// cannot be sent again.
void Session::make_room() {
    if (body_complete_ || io_->body_capacity() - io_->body_size() >= kMinFreeInput) return;
    size_t drop = sent_end_;
    if (drop == 0) return;
    io_->body_erase(0, drop);
    valid_end_ -= drop;
    sent_end_ = 0;
    replayable_ = false;
}

bool Session::pick_server() {
    UpstreamRuntime& u = proxy_.upstream(upstream_);
    size_t n = u.servers.size();
    usable_.assign(n, 0);
    event::Millis now = proxy_.loop().now();
    breaker_blocked_ = 0;
    health_blocked_ = 0;
    full_blocked_ = 0;
    for (size_t i = 0; i < n; ++i) {
        if (i < 64 && (tried_ >> i) & 1) continue;
        ServerRuntime& s = u.servers[i];
        // Health first: out by active checks (or, without a breaker, by passive failures),
        // unless every server is out and the upstream routes to all of them then (panic).
        bool healthy = s.breaker.enabled() ? !health::actively_down(s.health)
                                           : (s.health ? health::usable(s.health, now) : s.down_until <= now);
        if (!healthy && !panic_) {
            health_blocked_++;
            continue;
        }
        if (s.breaker.enabled()) {
            usable_[i] = s.breaker.available(now);
            if (!usable_[i]) {
                breaker_blocked_++;
                if (s.breaker.state() == breaker::State::Open) proxy_.watch_breaker(s.breaker.wait(now));
            }
        } else {
            usable_[i] = 1;
        }
        // At its max_conns (all workers): skipped like an unavailable server. A cheap read
        // here; the slot itself is taken exactly below, for the server the balancer picks.
        // (Read in the seq_cst order of the queue's wake-ups: see queue.h.)
        if (usable_[i] && s.config->max_conns && s.active_requests.value_seq_cst() >= s.config->max_conns) {
            usable_[i] = 0;
            full_blocked_++;
        }
    }
    if (health_blocked_ > 0 && tried_ == 0 && !panic_ && health_blocked_ + breaker_blocked_ == n &&
        u.config->all_down == UpstreamConfig::AllDown::RouteToAll) {
        // Every server is out: rather than refuse everything, send to all of them (a health
        // check can be wrong; the servers may be up for real requests), as Envoy's panic mode.
        panic_ = true;
        GW_LOG_THROTTLED(LogLevel::Warn, u.log_throttles[UpstreamRuntime::kLogRouteToAll], now,
                         proxy_.config().logs.repeat_interval,
                         "every server of upstream \"%s\" is down; routing to all of them (all_down: route_to_all)",
                         u.config->name.c_str());
        return pick_server();
    }
    for (;;) {
        int idx = u.balancer->pick({usable_, hash_});
        if (idx < 0) return false;
        ServerRuntime& s = u.servers[idx];
        if (s.config->max_conns && !s.active_requests.try_inc_below(s.config->max_conns)) {
            usable_[idx] = 0;  // another worker took its last slot meanwhile
            full_blocked_++;
            continue;
        }
        // Admission: free for a closed breaker; a half-open one hands out a probe ticket, which
        // another worker may have taken first. Then the balancer picks again without it.
        breaker::Transition t;
        bool admitted = s.breaker.admit(now, ticket_, t);
        if (t) proxy_.breaker_transition(s, t);
        if (!admitted) {
            if (s.config->max_conns) {
                // Not served from here (we may be in a waiter's pick): the queue's workers,
                // this one included, look again on their next loop iteration.
                s.active_requests.release();
                if (u.queue) u.queue->wake_all();
            }
            usable_[idx] = 0;
            breaker_blocked_++;
            continue;
        }
        if (!s.config->max_conns) s.active_requests.inc();
        counted_ = true;
        server_ = &s;
        if (idx < 64) tried_ |= 1ull << idx;
        return true;
    }
}

void Session::attempt() {
    UpstreamRuntime& u = proxy_.upstream(upstream_);
    if (u.queue && u.queue->has_waiters()) {
        wait_for_slot();  // behind this worker's earlier waiters (FIFO)
        return;
    }
    if (!pick_server()) {
        if (full_blocked_ > 0) {
            wait_for_slot();
            return;
        }
        if (tried_ == 0 && breaker_blocked_ > 0 && breaker_blocked_ == u.servers.size()) {
            // Every server's breaker is open (or out of probes): answer now, without touching
            // any backend, and say when to come back. Not a failure of any server.
            event::Millis wait = proxy_.breaker_wait(u);
            long long seconds = std::max<long long>(1, (wait + 999) / 1000);
            GW_LOG_THROTTLED(LogLevel::Info, u.log_throttles[UpstreamRuntime::kLogCircuitOpen], proxy_.loop().now(),
                             proxy_.config().logs.repeat_interval,
                             "circuit open for every server of upstream \"%s\", route: \"%s\", client: %s: 503, "
                             "retry after %llds",
                             u.config->name.c_str(), proxy_.config().routes[route_].name.c_str(), stream_->client_address().data(), seconds);
            char header[48];
            snprintf(header, sizeof header, "retry-after: %lld\r\n", seconds);
            respond_error(503, "upstream unavailable: circuit breaker open", header);
            return;
        }
        if (tried_ == 0 && health_blocked_ > 0 && health_blocked_ + breaker_blocked_ == u.servers.size()) {
            // Every server is down (all_down: reject): answer now, without touching a backend.
            GW_LOG_THROTTLED(LogLevel::Info, u.log_throttles[UpstreamRuntime::kLogAllDown], proxy_.loop().now(),
                             proxy_.config().logs.repeat_interval,
                             "every server of upstream \"%s\" is down, route: \"%s\", client: %s: 503",
                             u.config->name.c_str(), proxy_.config().routes[route_].name.c_str(), stream_->client_address().data());
            respond_error(503, "upstream unavailable: all servers down", "retry-after: 1\r\n");
            return;
        }
        GW_LOG_THROTTLED(LogLevel::Error, u.log_throttles[UpstreamRuntime::kLogNoServer], proxy_.loop().now(),
                         proxy_.config().logs.repeat_interval,
                         "no upstream server available, route: \"%s\", upstream: \"%s\", client: %s",
                         proxy_.config().routes[route_].name.c_str(), u.config->name.c_str(), stream_->client_address().data());
        respond_error(502, "no upstream server available");
        return;
    }
    start_attempt();
}

void Session::start_attempt() {
    if (trace_at_) [[unlikely]] trace_attempt();
    head_sent_ = 0;
    sent_end_ = 0;
    got_bytes_ = false;
    if (h2_mode_) {
        h2_start();
        return;
    }
    up_ = proxy_.acquire_idle(*server_);
    reused_ = up_ != nullptr;
    if (!up_) {
        up_ = proxy_.new_connection();
        if (!up_->connect(*server_)) {
            int err = errno;
            up_ = nullptr;
            fail(ErrorKind::ConnectRefused, 502, "connect() to upstream failed", err);
            return;
        }
    }
    up_->owner = this;
    up_->requests++;
    if (!up_->in.mem) up_->in.mem = proxy_.buffers().get();
    if (reused_) {
        connected();  // a pooled connection (with its TLS session, if any)
    } else if (!up_->connected) {
        state_ = State::Connecting;
        const RouteTimeouts& t = proxy_.config().routes[route_].timeout;
        arm(t.connect ? t.connect : proxy_.upstream(upstream_).config->connect_timeout);
    } else if (server_->upstream->tls) {
        start_tls();  // a new connection that connected at once (a unix socket)
    } else {
        connected();
    }
}

// A new connection to a server of an upstream with `tls:` is connected: the handshake first.
void Session::start_tls() {
    up_->connected = true;
    if (!up_->open_tls()) {
        fail(ErrorKind::Tls, 502, "cannot start TLS to upstream", 0);
        return;
    }
    // On the connect timer (armed here when the socket connected at once): the handshake counts
    // in the connect timeout.
    if (state_ != State::Connecting) {
        const RouteTimeouts& t = proxy_.config().routes[route_].timeout;
        arm(t.connect ? t.connect : proxy_.upstream(upstream_).config->connect_timeout);
    }
    state_ = State::Handshake;
    drive_handshake();
}

void Session::drive_handshake() {
    http::ClientTransport* t = up_->transport;
    int r = t->handshake();
    if (r == 0) {
        up_->watch_write(t->want() == Transport::Want::Write);
        return;
    }
    if (r < 0) {
        std::string what = "TLS handshake with upstream failed: ";
        what += t->failure();
        fail(ErrorKind::Tls, 502, what.c_str(), 0);
        return;
    }
    connected();
}

void Session::connected() {
    up_->connected = true;
    up_->watch_write(false);
    const Request& req = stream_->request();
    if (req.expect_continue && !body_complete_ && valid_end_ == 0 && !continue_sent_) {
        // The upstream is there: let the client send its body.
        continue_sent_ = true;
        io_->output() += "HTTP/1.1 100 Continue\r\n\r\n";
        io_->flush();
        if (!io_->is_open()) return;
    }
    state_ = State::Sending;
    send();
}

void Session::send() {
    if (h2_) {
        h2_send();
        return;
    }
    uint32_t e = epoch_;
    const RouteConfig& rc = proxy_.config().routes[route_];
    for (;;) {
        if (!validate_body() || e != epoch_) return;
        struct iovec iov[2];
        int cnt = 0;
        if (head_sent_ < head_.size()) iov[cnt++] = {head_.data() + head_sent_, head_.size() - head_sent_};
        const size_t end = send_end();
        if (sent_end_ < end) iov[cnt++] = {io_->body_data() + sent_end_, end - sent_end_};
        if (cnt == 0) {
            up_->watch_write(false);
            break;
        }
        ssize_t n = up_->transport ? up_->transport->writev(iov, cnt)
                    : cnt == 1     ? ::send(up_->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)  // (no iovec to copy in)
                                   : writev(up_->fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                arm(rc.timeout.send);
                up_->watch_write(true);
                return;  // EPOLLOUT will call send() again
            }
            fail(ErrorKind::Reset, 502, "writev() to upstream failed", errno);
            return;
        }
        if (sent_at_.tv_sec == 0) clock_gettime(CLOCK_MONOTONIC, &sent_at_);
        size_t w = static_cast<size_t>(n);
        size_t from_head = std::min(w, head_.size() - head_sent_);
        head_sent_ += from_head;
        sent_end_ += w - from_head;
    }
    if (!body_complete_) {
        // Waiting for more of the client's body.
        make_room();
        io_->resume_reading();
        arm(proxy_.config().http.client_body_timeout);
        return;
    }
    if (state_ == State::Sending) {
        state_ = State::Waiting;
        arm(rc.timeout.read);
    }
}

void Session::on_body_input() {
    if (state_ == State::Tunnel) {
        pump_tunnel();
    } else if (state_ == State::Sending) {
        send();
    } else if (h2_ && (state_ == State::Waiting || state_ == State::Body)) {
        h2_send();  // an HTTP/2 upstream takes the rest of the body while it answers (bidi streaming)
    } else if (state_ == State::Queued || state_ == State::Connecting || state_ == State::Handshake ||
               state_ == State::Waiting || state_ == State::Body) {
        validate_body();  // bytes are forwarded once connected (or kept for the next request)
    }
}

void Session::on_upstream_io(uint32_t events) {
    uint32_t e = epoch_;
    if (state_ == State::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(up_->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail(ErrorKind::ConnectRefused, 502, "connect() to upstream failed", err);
            return;
        }
        if (!(events & EPOLLOUT)) return;
        if (server_->upstream->tls) {
            start_tls();  // the next events go on with it
            return;
        }
        connected();
        if (e != epoch_ || !up_) return;
    }
    if (up_->transport) {
        on_tls_io();
        return;
    }
    if (state_ == State::Tunnel) {
        pump_tunnel();
        return;
    }
    if ((events & EPOLLOUT) && state_ == State::Sending) {
        send();
        if (e != epoch_ || !up_) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_upstream_from<false>();
}

// The events of a connection with TLS. A TLS read may wait for room to write and a TLS write for
// input: any readiness retries both.
void Session::on_tls_io() {
    uint32_t e = epoch_;
    switch (state_) {
        case State::Handshake:
            drive_handshake();
            return;
        case State::Tunnel:
            pump_tunnel();
            return;
        case State::Sending:
            send();
            if (e != epoch_ || !up_) return;
            break;
        default:
            break;
    }
    read_upstream_from<true>();
}

void Session::read_upstream() {
    if (up_->transport)
        read_upstream_from<true>();
    else
        read_upstream_from<false>();
}

// One copy for plain connections and one for TLS: the plain path reads as it always did.
template <bool kTls>
void Session::read_upstream_from() {
    uint32_t e = epoch_;
    const RouteConfig& rc = proxy_.config().routes[route_];
    for (;;) {
        if (state_ == State::Body && paused_) return;
        up_->in.make_room();
        if (up_->in.full()) {
            // A full buffer with no progress: only a response head can do that.
            fail(ErrorKind::InvalidResponse, 502, "upstream sent too big a response head", 0);
            return;
        }
        ssize_t n = kTls ? up_->transport->read(up_->in.tail(), up_->in.room())
                         : recv(up_->fd, up_->in.tail(), up_->in.room(), 0);
        if (n > 0) {
            up_->in.len += static_cast<size_t>(n);
            got_bytes_ = true;
            if (state_ == State::Body) {
                arm(rc.timeout.read);
                pump_body();
            } else {
                handle_head();
            }
            if (e != epoch_ || !up_) return;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            // A TLS read that must write first (say, a key update's answer) waits for room
            // (while sending, send() decides).
            if (kTls && state_ != State::Sending)
                up_->watch_write(up_->transport->want() == Transport::Want::Write);
            // All the upstream has sent so far is read: what it became goes to the client now
            // (a chunked stream - events, long polls - must not wait for the high-water mark).
            if (state_ == State::Body && io_->pending_output()) io_->flush();
            return;
        }
        // End of file or an error.
        int err = n < 0 ? errno : 0;
        if (state_ == State::Body && resp_.body == ResponseBody::UntilClose) {
            complete(false);
            return;
        }
        fail(ErrorKind::Reset, 502,
             state_ == State::Body ? "upstream prematurely closed connection while sending the body"
                                   : "upstream prematurely closed connection",
             err);
        return;
    }
}

// Parses the response head (after any 1xx), then starts the body.
void Session::handle_head() {
    const Request& req = stream_->request();
    ParserLimits limits;
    limits.max_header_size = UpstreamConn::kBufferSize;
    limits.max_headers = kMaxHeadersHard;
    for (;;) {
        ParseError err;
        ParseResult r = parse_response_head({up_->in.data(), up_->in.len}, limits, req.method == "HEAD", resp_, err);
        if (r == ParseResult::Incomplete) return;
        if (r == ParseResult::Error) {
            fail(ErrorKind::InvalidResponse, 502, "upstream sent an invalid response", 0);
            return;
        }
        if (resp_.status >= 100 && resp_.status < 200 && resp_.status != 101) {
            // Informational: pass it on to clients that understand it, then read on. Bounded
            // (a backend sending them endlessly would otherwise fill the worker's memory).
            interim_bytes_ += resp_.head_length;
            if (++interim_count_ > kMaxInterimResponses || interim_bytes_ > kMaxInterimBytes) {
                fail(ErrorKind::InvalidResponse, 502, "upstream sent too many interim responses", 0);
                return;
            }
            if (req.version_minor >= 1) {
                std::string& out = io_->output();
                vars::Env env;
                env.stream = stream_;
                env.status = resp_.status;
                build_interim_response(out, resp_, &proxy_.config().routes[route_].response_headers, &env);
                up_->in.consume(resp_.head_length);
                uint32_t e = epoch_;
                io_->flush();
                if (e != epoch_ || !io_->is_open()) return;
            } else {
                up_->in.consume(resp_.head_length);
            }
            continue;
        }
        break;
    }
    const RouteConfig& rc = proxy_.config().routes[route_];
    if (resp_.status == 101) {
        if (!upgrade_ || !resp_.upgrade) {
            fail(ErrorKind::InvalidResponse, 502, "upstream switched protocols unasked", 0);
            return;
        }
        // Only WebSocket is asked for (see start()): a switch to anything else is not ours.
        if (!iequals(resp_.header("upgrade"), "websocket")) {
            fail(ErrorKind::InvalidResponse, 502, "upstream switched to a protocol not asked for", 0);
            return;
        }
        breaker_outcome(false);
        note_attempt(101);
        ClientResponseInput in;
        in.upgrade = true;
        in.request_id = {request_id_, request_id_len_};
        in.ops = &rc.response_headers;
        vars::Env env;
        env.stream = stream_;
        env.status = 101;
        in.env = &env;
        std::string& out = io_->output();
        size_t head_start = out.size();
        build_client_response(out, resp_, in);
        stream_->response_head_bytes = out.size() - head_start;
        up_->in.consume(resp_.head_length);
        status_ = 101;
        response_started_ = true;
        state_ = State::Tunnel;
        proxy_.loop().cancel(timer_);
        uint32_t e = epoch_;
        io_->write_through({up_->in.data(), up_->in.len});  // bytes that came with the 101
        if (e != epoch_) return;
        up_->in.clear();
        proxy_.buffers().put(std::move(up_->in.mem));
        pump_tunnel();
        return;
    }
    if (!start_response()) return;
    up_->in.consume(resp_.head_length);
    pump_body();
}

bool Session::begin_response() { return start_response(); }

// The final response head is in resp_ (from either protocol): the breaker's verdict, a retry,
// a filter's stored answer or an error page, or else the head for the client in its output and
// the body next (state Body). False when the session went another way (or ended).
bool Session::start_response() {
    const Request& req = stream_->request();
    const RouteConfig& rc = proxy_.config().routes[route_];
    // The server's verdict is its response head (what follows does not change it).
    if (const auto& cb = proxy_.upstream(upstream_).config->circuit_breaker)
        breaker_outcome(breaker_status_failure(resp_.status, cb->failure_on));
    uint32_t retry_on = status_retry_flag(resp_.status) & rc.retries.on;
    if (retry_on && can_retry()) {
        note_attempt(resp_.status);
        log_error("upstream answered with a status to retry", 0);
        drop_upstream();
        retry();
        return false;
    }
    // A filter may answer with a stored response instead (a cache revalidated by this 304, or
    // serving a stale object on this error).
    if (stream_->offer_replacement(resp_.status, &resp_)) {
        note_attempt(resp_.status);
        answer_stored();
        return false;
    }
    if (resp_.status >= 400 && intercepted()) return false;
    status_ = resp_.status;
    note_attempt(status_);
    // What the route's filters add to the head; a filter may also take the body (it adds
    // itself to the stream's body filters, e.g. to compress it).
    std::string_view filter_headers = stream_->response_head_lines(resp_.status, &resp_);
    transform_ = stream_->body_transformed() && resp_.body != ResponseBody::None;
    observe_ = !transform_ && stream_->has_body_filters() && resp_.body != ResponseBody::None;
    bool http10 = req.version_minor == 0;
    // A transformed body's length is known only at its end: chunked to an HTTP/1.1 client, and
    // delimited by closing the connection for HTTP/1.0 (which cannot take chunked either).
    dechunk_ = (http10 || transform_) && resp_.body == ResponseBody::Chunked;
    chunk_out_ = transform_ && !http10;
    bool length_known = !transform_ && (resp_.body == ResponseBody::ContentLength || resp_.body == ResponseBody::None);
    client_keep_alive_ = io_->want_keep_alive() && body_complete_ && resp_.body != ResponseBody::UntilClose &&
                         !(http10 && !length_known);
    if (resp_.untrusted_framing) {
        // Connection named a framing header: forward this response, then close the client
        // connection, since whatever the upstream sends next may be framed differently.
        log_error("upstream listed a framing header in Connection; closing the client connection after the response", 0);
        client_keep_alive_ = false;
    }
    ClientResponseInput in;
    in.client_http10 = http10;
    in.chunked = (resp_.body == ResponseBody::Chunked && !dechunk_) || chunk_out_;
    in.body_transformed = transform_;
    in.keep_alive = client_keep_alive_;
    in.request_id = {request_id_, request_id_len_};
    in.ops = &rc.response_headers;
    vars::Env env;
    env.stream = stream_;
    env.status = resp_.status;
    in.env = &env;
    in.filter_headers = filter_headers;  // RateLimit-*, ...
    in.filter_field_names = stream_->response_field_names();
    in.replaced_field_names = stream_->replaced_fields();
    if (ResponseFieldSink* sink = io_->field_sink()) {  // HTTP/2: the head as fields
        stream_->response_head_bytes = build_client_response(*sink, resp_, in);
    } else {
        std::string& out = io_->output();
        size_t head_start = out.size();
        build_client_response(out, resp_, in);
        stream_->response_head_bytes = out.size() - head_start;
    }
    response_started_ = true;
    resp_left_ = resp_.content_length;
    resp_chunked_.reset();
    resp_trailer_bytes_ = 0;
    state_ = State::Body;
    paused_ = false;
    arm(rc.timeout.read);
    return true;
}

// Moves response body bytes from the upstream buffer to the client's output.
// The body through the stream's body filters: decoded, transformed, framed anew.
void Session::transform(std::string_view data, bool last) {
    stream_->filter_body(data, last, filtered_);
    std::string& out = io_->output();
    if (!chunk_out_) {
        out += filtered_;
    } else {
        if (!filtered_.empty()) {
            char size[24];
            int n = snprintf(size, sizeof size, "%zx\r\n", filtered_.size());
            out.append(size, static_cast<size_t>(n));
            out += filtered_;
            out += "\r\n";
        }
        if (last) out += "0\r\n\r\n";
    }
    body_bytes_ += filtered_.size();
}

// The body as it goes out unchanged, to the filters that read it. `end`: these are its last
// bytes, seen before they are written - the readers (a cache's store) are done before the
// client can have the whole response and ask again, maybe of another worker.
void Session::observe(std::string_view data, bool end) {
    stream_->observe_body(data, end);
    if (end) observe_ = false;  // (complete() has nothing more to tell them)
}

void Session::pump_body() {
    uint32_t e = epoch_;
    bool done = false;
    std::string& out = io_->output();
    switch (resp_.body) {
        case ResponseBody::None:
            done = true;
            break;
        case ResponseBody::ContentLength: {
            size_t n = static_cast<size_t>(std::min<uint64_t>(up_->in.len, resp_left_));
            resp_left_ -= n;
            done = resp_left_ == 0;
            if (transform_) {
                transform({up_->in.data(), n}, false);
            } else {
                if (observe_) observe({up_->in.data(), n}, done);
                body_bytes_ += n;
                // Straight from the upstream buffer to the client, with the head if still pending.
                io_->write_through({up_->in.data(), n});
                if (e != epoch_) return;
            }
            up_->in.consume(n);
            break;
        }
        case ResponseBody::UntilClose:  // (a transformed one ends in complete(), at the close)
            if (transform_) {
                transform({up_->in.data(), up_->in.len}, false);
            } else {
                if (observe_) stream_->observe_body({up_->in.data(), up_->in.len}, false);
                body_bytes_ += up_->in.len;
                io_->write_through({up_->in.data(), up_->in.len});
                if (e != epoch_) return;
            }
            up_->in.clear();
            break;
        case ResponseBody::Chunked:
            while (up_->in.len > 0) {
                size_t consumed = 0;
                std::string_view data;
                ParseError err;
                auto st = resp_chunked_.feed({up_->in.data(), up_->in.len}, consumed, data, err);
                if (observe_ && !data.empty()) stream_->observe_body(data, false);
                if (stream_->wants_response_trailers()) [[unlikely]] {
                    // A filter reads the trailer section (gRPC-Web puts it into the body): the
                    // bytes of it this call consumed are the last ones.
                    size_t section = resp_chunked_.trailer_bytes();
                    size_t seen = stream_->response_trailers().size();
                    if (section > seen) {
                        size_t n = std::min(consumed, section - seen);
                        stream_->response_trailers().append(up_->in.data() + consumed - n, n);
                    }
                }
                if (transform_) {
                    if (!data.empty()) transform(data, false);
                } else if (dechunk_) {
                    out.append(data);
                } else if (io_->forwards_trailers()) {
                    // An HTTP/2 client: the trailer section goes too (its codec turns it into a
                    // trailing HEADERS frame and drops the fields trailers may not carry).
                    out.append(up_->in.data(), consumed);
                } else {
                    // Trailer fields are dropped, as on requests (no Set-Cookie or framing field
                    // arrives after the head's checks): the consumed bytes end with the ones of
                    // the trailer section seen in this call, and the section becomes one CRLF.
                    size_t trailer = std::min(consumed, resp_chunked_.trailer_bytes() - resp_trailer_bytes_);
                    resp_trailer_bytes_ = resp_chunked_.trailer_bytes();
                    out.append(up_->in.data(), consumed - trailer);
                    if (st == ChunkedDecoder::Status::Done) out += "\r\n";
                }
                if (!transform_) body_bytes_ += data.size();
                up_->in.consume(consumed);
                if (st == ChunkedDecoder::Status::Error) {
                    fail(ErrorKind::InvalidResponse, 502, "upstream sent an invalid chunked body", 0);
                    return;
                }
                if (st == ChunkedDecoder::Status::Done) {
                    done = true;
                    break;
                }
                if (consumed == 0) break;
            }
            break;
    }
    if (done) {
        complete(resp_.keep_alive && up_->in.len == 0);
        return;
    }
    if (io_->pending_output() >= kClientHighWater) {
        io_->flush();
        if (e != epoch_) return;
        // Back-pressure: stop reading the upstream until the client has taken this. The wait
        // is the client's, not the upstream's: the upstream read timer stops (the client's
        // send_timeout bounds the stall) and runs again when reading resumes.
        paused_ = io_->pending_output() >= kClientHighWater;
        if (paused_) proxy_.loop().cancel(timer_);
    }
}

void Session::on_output_drained() {
    uint32_t e = epoch_;
    if (h2_ && state_ == State::Body && paused_) {
        paused_ = false;
        arm(proxy_.config().routes[route_].timeout.read);
        h2_flow();
    } else if (state_ == State::Body && paused_) {
        paused_ = false;
        arm(proxy_.config().routes[route_].timeout.read);
        pump_body();
        if (e != epoch_ || !up_ || paused_) return;
        read_upstream();  // edge-triggered: data that arrived meanwhile gives no new event
    } else if (state_ == State::Tunnel) {
        pump_tunnel();
    }
}

void Session::pump_tunnel() {
    uint32_t e = epoch_;
    const RouteConfig& rc = proxy_.config().routes[route_];
    // Client -> upstream, straight from the client's input buffer.
    while (io_->body_size() > 0) {
        ssize_t n;
        if (up_->transport) {
            struct iovec iov = {io_->body_data(), io_->body_size()};
            n = up_->transport->writev(&iov, 1);
        } else {
            n = ::send(up_->fd, io_->body_data(), io_->body_size(), MSG_NOSIGNAL);
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                up_->watch_write(true);
                break;
            }
            end_tunnel();
            return;
        }
        io_->body_erase(0, static_cast<size_t>(n));
    }
    if (io_->body_size() == 0) up_->watch_write(false);
    if (io_->body_size() < io_->body_capacity()) io_->resume_reading();
    // Upstream -> client, straight through (buffered only when the client cannot take it).
    for (;;) {
        if (io_->pending_output() >= kClientHighWater) {
            io_->flush();
            if (e != epoch_) return;
            // Still full: the client is slow; on_client_drained() resumes. Otherwise read on:
            // the upstream socket is edge-triggered and will not report what is already there.
            if (io_->pending_output() >= kClientHighWater) break;
        }
        ssize_t n = up_->transport ? up_->transport->read(proxy_.scratch(), UpstreamConn::kBufferSize)
                                   : recv(up_->fd, proxy_.scratch(), UpstreamConn::kBufferSize, 0);
        if (n > 0) {
            io_->write_through({proxy_.scratch(), static_cast<size_t>(n)});
            if (e != epoch_) return;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            if (up_->transport && up_->transport->want() == Transport::Want::Write) up_->watch_write(true);
            break;
        }
        // The upstream closed: deliver what it sent, then close the client.
        io_->flush();
        if (e != epoch_) return;
        end_tunnel();
        return;
    }
    io_->flush();
    if (e != epoch_) return;
    arm(rc.timeout.tunnel);
}

void Session::end_tunnel() {
    drop_upstream();
    state_ = State::Idle;
    epoch_++;
    io_->stream_cut(status_, body_bytes_);
}

bool Session::close_tunnel() {
    if (state_ != State::Tunnel) return false;
    end_tunnel();
    return true;
}

void Session::complete(bool upstream_reusable) {
    proxy_.loop().cancel_lazily(timer_);  // (the session's next request arms it again for free)
    if (transform_) transform({}, true);  // the filters' last words, and the chunked end
    if (observe_) observe({}, true);  // (unless the last piece already told them)
    uint64_t upstream_us = upstream_micros();
    if (server_->response_time) server_->response_time->observe_micros(upstream_us);
    if (auto* c = proxy_.class_counter(route_, *server_, status_)) c->fetch_add(1, std::memory_order_relaxed);
    release_slot();
    breaker_release();  // no-op: the verdict was given at the head
    // A connection is reused only after a whole exchange: all of the request was sent.
    bool reusable = upstream_reusable && body_complete_ && sent_end_ == valid_end_ && head_sent_ == head_.size();
    if (h2_)
        h2_detach();
    else
        proxy_.release(up_, reusable);
    up_ = nullptr;
    server_ = nullptr;
    state_ = State::Idle;
    epoch_++;
    size_t next = body_complete_ ? valid_end_ : io_->body_size();
    io_->stream_done(status_, body_bytes_, client_keep_alive_, next, upstream_us);
}

void Session::drop_upstream() {
    proxy_.loop().cancel(timer_);
    breaker_release();  // an attempt that ends here without a verdict (client gone, 408, ...)
    leave_queue();
    release_slot();     // (also when the connect failed at once and there is no up_)
    if (h2_) h2_detach();
    if (!up_) return;
    up_->owner = nullptr;
    up_->close();
    up_ = nullptr;
}

void Session::release_slot() {
    if (!counted_) return;
    counted_ = false;
    if (!server_->config->max_conns) {
        server_->active_requests.dec();
        return;
    }
    server_->active_requests.release();
    if (UpstreamQueue* q = server_->upstream->queue.get()) q->slot_freed();
}

void Session::wait_for_slot() {
    UpstreamQueue* q = proxy_.upstream(upstream_).queue.get();
    if (q && q->enter(*this)) {
        state_ = State::Queued;
        arm(q->timeout());
        return;
    }
    reject_busy(false);
}

bool Session::resume_from_queue() {
    if (!pick_server()) return false;
    leave_queue();
    proxy_.loop().cancel(timer_);
    state_ = State::Idle;
    start_attempt();
    return true;
}

void Session::leave_queue() {
    if (queued_) proxy_.upstream(upstream_).queue->leave(*this);
}

// Every usable server is at its max_conns, and the queue is full (or there is none), or the
// request waited in it for queue.timeout.
void Session::reject_busy(bool queue_timeout) {
    UpstreamRuntime& u = proxy_.upstream(upstream_);
    if (auto* c = u.busy_rejected[queue_timeout ? 1 : 0]) c->fetch_add(1, std::memory_order_relaxed);
    GW_LOG_THROTTLED(LogLevel::Warn, u.log_throttles[UpstreamRuntime::kLogBusy], proxy_.loop().now(),
                     proxy_.config().logs.repeat_interval, "%s upstream \"%s\"%s, route: \"%s\", client: %s: 503",
                     queue_timeout ? "no server under its max_conns within queue.timeout for"
                                   : "every server is at its max_conns for",
                     u.config->name.c_str(), queue_timeout || !u.queue ? "" : " and the queue is full",
                     proxy_.config().routes[route_].name.c_str(), stream_->client_address().data());
    respond_error(503, queue_timeout ? "upstream busy: queue timeout" : "upstream busy", "retry-after: 1\r\n");
}

// Once per server per logs.repeat_interval (with a count), the request line redacted and escaped.
void Session::log_error(const char* what, int err) {
    const Request& req = stream_->request();
    char reason[128] = "";
    if (err) snprintf(reason, sizeof reason, " (%d: %s)", err, strerror(err));
    std::string_view target = error_log_target(req.target, proxy_.config().logs);
    LogThrottle none;  // no server chosen: not throttled (rare)
    GW_LOG_THROTTLED(LogLevel::Error, server_ ? server_->error_log : none, proxy_.loop().now(),
                     proxy_.config().logs.repeat_interval,
                     "%s%s, route: \"%s\", upstream: \"%s\", server: \"%s\", client: %s, request: \"%.*s %.*s HTTP/1.%d\", "
                     "request_id: \"%.*s\"",
                     what, reason, proxy_.config().routes[route_].name.c_str(),
                     proxy_.upstream(upstream_).config->name.c_str(), server_ ? server_->config->address.c_str() : "-",
                     stream_->client_address().data(), static_cast<int>(req.method.size()), req.method.data(),
                     static_cast<int>(target.size()), target.data(), req.version_minor,
                     static_cast<int>(request_id_len_), request_id_);
}

void Session::note_attempt(int status) {
    if (server_) stream_->upstream_trace().add(server_->config->address, status, upstream_micros());
}

// A traced request's traceparent: sampled, its trace id and (per attempt, trace_attempt()) the
// attempt's span id, flags 01; unsampled (a new trace the tracing did not sample: a valid
// incoming one, sampled or not, the filter leaves to the proxy as it came), a new trace id with
// flags 00, so that the services behind us do not record the children of a span nobody exports.
void Session::trace_start(const TraceContext& t) {
    if (t.sampled) trace_at_ = kTraceLocate;  // (found in head_ at the first attempt)
    memcpy(traceparent_, "00-", 3);
    if (t.sampled)
        memcpy(traceparent_ + 3, t.trace_id, 32);
    else
        proxy_.ids().request_id(traceparent_ + 3);
    traceparent_[35] = '-';
    if (t.sampled)
        memcpy(traceparent_ + 36, t.span_id, 16);  // (each attempt puts its own in its place)
    else
        proxy_.ids().span_id(traceparent_ + 36);
    memcpy(traceparent_ + 52, t.sampled ? "-01" : "-00", 3);
}

namespace {

uint64_t monotonic_ns() {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1000000000 + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace

// A new attempt of a traced request: its own span id, sent upstream in traceparent, and its
// span's start in the attempt's UpstreamTrace entry (the one note_attempt() fills next; the
// first UpstreamTrace::kMax attempts only). The attempt before it ended now.
void Session::trace_attempt() {
    if (trace_at_ == kTraceLocate) {
        // The span id part of our traceparent (absent when the route's header operations set
        // traceparent themselves: then the attempts have no spans).
        const void* at = memmem(head_.data(), head_.size(), traceparent_, sizeof traceparent_);
        trace_at_ = at ? static_cast<uint32_t>(static_cast<const char*>(at) - head_.data() + 36) : 0;
        if (!trace_at_) return;
        stream_->trace()->attempt_spans = true;
    }
    UpstreamTrace& t = stream_->upstream_trace();
    uint64_t now = monotonic_ns();
    if (t.count > 0 && t.count <= UpstreamTrace::kMax && t.spans[t.count - 1].end_ns == 0)
        t.spans[t.count - 1].end_ns = now;
    if (t.count >= UpstreamTrace::kMax) {
        proxy_.ids().span_id(head_.data() + trace_at_);  // (no room to record it)
        return;
    }
    UpstreamTrace::Span& span = t.spans[t.count];
    proxy_.ids().span_id(span.id);
    memcpy(head_.data() + trace_at_, span.id, sizeof span.id);
    span.start_ns = now;
    span.end_ns = 0;
    span.error = 0;
}

// The attempt just noted failed (`kind`): its span ends now, with that error.
void Session::trace_failed(ErrorKind kind) {
    UpstreamTrace& t = stream_->upstream_trace();
    if (t.count == 0 || t.count > UpstreamTrace::kMax) return;
    UpstreamTrace::Span& span = t.spans[t.count - 1];
    span.end_ns = monotonic_ns();
    span.error = static_cast<uint8_t>(static_cast<uint8_t>(kind) + 1);
}

bool Session::can_retry() const {
    const RetryPolicy& p = proxy_.config().routes[route_].retries;
    if (!replayable_ || attempts_ >= p.attempts) return false;
    if (!idempotent_ && !p.non_idempotent) return false;
    UpstreamRuntime& u = proxy_.upstream(upstream_);
    event::Millis now = proxy_.loop().now();
    // Only to a server not tried yet whose breaker would let the retry through.
    for (size_t i = 0; i < u.servers.size(); ++i)
        if ((i >= 64 || !((tried_ >> i) & 1)) && u.servers[i].breaker.available(now))
            return proxy_.retry_allowed(route_, p.budget);
    return false;
}

void Session::breaker_outcome(bool failure) {
    if (!ticket_.admitted || !server_) return;
    breaker::Ticket ticket = ticket_;
    ticket_ = {};
    breaker::Transition t;
    server_->breaker.record(proxy_.loop().now(), ticket, failure, t);
    if (t) proxy_.breaker_transition(*server_, t);
}

void Session::breaker_release() {
    if (!ticket_.admitted) return;
    if (server_) server_->breaker.release(ticket_);
    ticket_ = {};
}

void Session::retry() {
    attempts_++;
    proxy_.count_retry(route_, upstream_);
    attempt();
}

void Session::fail(ErrorKind kind, int status, const char* what, int err) {
    if (!response_started_) {  // (a started response has its status noted)
        note_attempt(status);
        if (trace_at_) [[unlikely]] trace_failed(kind);
    }
    log_error(what, err);
    bool stale_pooled = reused_ && kind == ErrorKind::Reset && !got_bytes_ && !response_started_;
    // The upstream closed a pooled connection just as we used it: not the request's fault.
    // Or an HTTP/2 stream the server refused (GOAWAY, REFUSED_STREAM): it was not processed.
    bool free_retry = (stale_pooled || h2_refused_) && replayable_ && !free_retry_used_;
    if (server_) {
        if (auto* c = server_->errors[static_cast<int>(kind)]) c->fetch_add(1, std::memory_order_relaxed);
        if (server_->breaker.enabled()) {
            // The breaker's verdict, unless the request goes again to the server on a new
            // connection (its ticket is given back) or the response head already gave it.
            if (!free_retry)
                breaker_outcome(breaker_flag(kind) & proxy_.upstream(upstream_).config->circuit_breaker->failure_on);
        } else if (kind == ErrorKind::ConnectRefused || kind == ErrorKind::ConnectTimeout ||
                   kind == ErrorKind::Tls || kind == ErrorKind::Timeout) {
            // Passive check: max_fails of these within fail_timeout take the server out, for
            // every worker (without the shared record, for this worker only).
            const UpstreamConfig& uc = *proxy_.upstream(upstream_).config;
            event::Millis now = proxy_.loop().now();
            if (!server_->health) {
                if (kind != ErrorKind::Timeout) server_->down_until = now + kDownFor;
            } else if (health::passive_failure(server_->health, now, uc.max_fails, uc.fail_timeout)) {
                LOG_WARN("upstream \"%s\", server %s: %u failure%s within fail_timeout %lld ms; out for %lld ms",
                         uc.name.c_str(), server_->config->address.c_str(), uc.max_fails, uc.max_fails == 1 ? "" : "s",
                         static_cast<long long>(uc.fail_timeout), static_cast<long long>(uc.fail_timeout));
            }
        }
    }
    drop_upstream();
    if (response_started_) {
        // The client has part of a response: deliver what arrived, then cut the connection so
        // the client sees the body is incomplete.
        state_ = State::Idle;
        epoch_++;
        io_->stream_cut(status_, body_bytes_);
        return;
    }
    if (free_retry) {
        free_retry_used_ = true;
        size_t idx = static_cast<size_t>(server_ - proxy_.upstream(upstream_).servers.data());
        if (idx < 64) tried_ &= ~(1ull << idx);
        got_bytes_ = false;
        attempt();
        return;
    }
    if ((retry_flag(kind) & proxy_.config().routes[route_].retries.on) && can_retry()) {
        got_bytes_ = false;
        retry();
        return;
    }
    respond_error(status, kind == ErrorKind::ConnectTimeout ? "upstream connect timed out"
                          : kind == ErrorKind::Timeout      ? "upstream timed out"
                          : kind == ErrorKind::InvalidResponse ? "upstream sent an invalid response"
                          : kind == ErrorKind::Tls             ? "upstream TLS handshake failed"
                                                               : "upstream connection failed");
}

// intercept_errors: an upstream's error response that has an error page is answered with the
// page instead (the codec finds it, as for the gateway's own errors). The upstream's body is
// not read, so its connection is closed rather than reused.
bool Session::intercepted() {
    const ErrorPages* pages = proxy_.error_pages();
    if (!pages || !pages->intercepts(route_) || !pages->find(route_, resp_.status)) return false;
    status_ = resp_.status;
    note_attempt(status_);
    respond_error(resp_.status, "upstream error", {});
    return true;
}

// The stream is answered with the stored response a filter set (Stream::offer_replacement): the
// upstream's answer, if any, is dropped - its connection reused when it had no body to skip (a 304).
void Session::answer_stored() {
    proxy_.loop().cancel(timer_);
    if (h2_) h2_detach();
    breaker_release();
    release_slot();
    if (up_) {
        bool reusable = resp_.body == ResponseBody::None && resp_.keep_alive && up_->in.len == resp_.head_length &&
                        body_complete_ && sent_end_ == valid_end_ && head_sent_ == head_.size();
        if (reusable) {
            up_->in.consume(resp_.head_length);
            proxy_.release(up_, true);
            up_ = nullptr;
        } else {
            drop_upstream();
        }
    }
    status_ = stream_->reply_status();
    state_ = State::Idle;
    epoch_++;
    io_->stream_answer(body_complete_ ? valid_end_ : StreamIo::kRequestUnread);
}

void Session::respond_error(int status, const char* message, std::string_view headers) {
    drop_upstream();
    // The gateway's own 5xx after a failed attempt: a filter may have a stored response to
    // answer with instead (a cache's stale object, stale-if-error).
    if (status >= 500 && stream_->offer_replacement(status, nullptr)) {
        answer_stored();
        return;
    }
    state_ = State::Idle;
    epoch_++;
    // The gateway's own answer keeps the client connection when the whole request has been
    // read (as nginx does): the next one starts after its body.
    io_->stream_error(status, message, headers, body_complete_ ? valid_end_ : StreamIo::kRequestUnread);
}

void Session::on_timeout() {
    switch (state_) {
        case State::Queued:
            reject_busy(true);
            break;
        case State::Connecting:
            fail(ErrorKind::ConnectTimeout, 504, "upstream connect timed out", 0);
            break;
        case State::Handshake:
            fail(ErrorKind::ConnectTimeout, 504, "upstream TLS handshake timed out", 0);
            break;
        case State::Sending:
            if (!body_complete_ && sent_end_ == send_end() && head_sent_ == head_.size()) {
                // It is the client that stopped sending its body.
                LOG_INFO("client %s timed out sending a request body", stream_->client_address().data());
                respond_error(408, "request timeout");
            } else {
                fail(ErrorKind::Timeout, 504, "upstream timed out while sending the request", 0);
            }
            break;
        case State::Waiting:
            fail(ErrorKind::Timeout, 504, "upstream timed out", 0);
            break;
        case State::Body:
            fail(ErrorKind::Timeout, 504, "upstream timed out while sending the body", 0);
            break;
        case State::Tunnel:
            end_tunnel();
            break;
        case State::Idle:
            break;
    }
}

void Session::on_client_eof() {
    if (state_ == State::Tunnel) {
        end_tunnel();
        return;
    }
    io_->close();  // calls on_abort()
}

void Session::abort() {
    if (state_ == State::Idle && !up_ && !h2_) return;
    drop_upstream();
    state_ = State::Idle;
    epoch_++;
}

}  // namespace gw::http::proxy
