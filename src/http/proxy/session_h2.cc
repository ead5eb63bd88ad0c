// The Session's side of an HTTP/2 upstream (protocol: h2c | h2): the same attempt, verdicts,
// retries, filters and client framing as for HTTP/1, with the request and the response carried
// by one stream of an H2Conn instead of a connection of its own. The client keeps getting
// HTTP/1 bytes: the head build_client_response makes, and the body as DATA brings it (chunked
// when the response has no content-length, its trailers in the chunked trailer section for a
// client that takes them).
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "http/proxy/h2_conn.h"
#include "http/proxy/h2_fields.h"
#include "http/proxy/headers.h"
#include "http/proxy/proxy.h"
#include "http/proxy/session.h"
#include "http/stream.h"

namespace gw::http::proxy {

namespace {

constexpr size_t kClientHighWater = 64 * 1024;  // as session.cc: client output before pausing
constexpr size_t kMaxH2Head = 64 * 1024;        // response fields (or trailers) kept, bytes
constexpr uint32_t kMaxInterim = 16;            // as session.cc: interim responses, count
constexpr size_t kMaxInterimBytes = 16 * 1024;  // ...and bytes of their fields

}  // namespace

void Session::h2_start() {
    h2_id_ = -1;
    h2_status_ = 0;
    h2_final_ = h2_refused_ = h2_deferred_ = h2_frame_ = h2_too_big_ = false;
    h2_unconsumed_ = 0;
    h2_lines_.clear();
    H2Conn* c = H2Conn::acquire(proxy_, *server_);
    if (!c) {
        fail(ErrorKind::ConnectRefused, 502, "connect() to upstream failed", errno);
        return;
    }
    h2_ = c;
    // A connection lost under a stream that got no answer: retried for free (as a pooled HTTP/1
    // connection the server closed as it was used) only when the method is idempotent - the
    // server may have processed it. A stream it refused (GOAWAY, REFUSED_STREAM) always is.
    reused_ = c->used() && idempotent_;
    state_ = State::Connecting;
    const RouteTimeouts& t = proxy_.config().routes[route_].timeout;
    arm(t.connect ? t.connect : proxy_.upstream(upstream_).config->connect_timeout);
    c->join(this);  // h2_ready() now or later (or h2_lost())
}

void Session::h2_ready() {
    const Request& req = stream_->request();
    if (req.expect_continue && !body_complete_ && valid_end_ == 0 && !continue_sent_) {
        continue_sent_ = true;  // the upstream is there: let the client send its body
        io_->output() += "HTTP/1.1 100 Continue\r\n\r\n";
        uint32_t e = epoch_;
        io_->flush();
        if (e != epoch_ || !io_->is_open()) return;
    }
    std::string storage;
    std::vector<nghttp2_nv> nva;
    bool tls = server_->upstream->tls != nullptr;
    if (!head_to_nv(head_, tls ? "https" : "http", te_has_trailers(req.header("te")), storage, nva)) {
        fail(ErrorKind::InvalidResponse, 502, "cannot make the HTTP/2 request", 0);
        return;
    }
    int32_t id = h2_->submit(this, nva.data(), nva.size(), req.body != BodyKind::None);
    if (id < 0) {
        h2_detach();
        h2_refused_ = true;  // not sent: another connection
        fail(ErrorKind::Reset, 502, "cannot open an HTTP/2 stream to upstream", 0);
        return;
    }
    h2_id_ = id;
    head_sent_ = head_.size();
    clock_gettime(CLOCK_MONOTONIC, &sent_at_);
    if (body_complete_ && sent_end_ == valid_end_) {
        state_ = State::Waiting;
        arm(proxy_.config().routes[route_].timeout.read);
    } else {
        state_ = State::Sending;
        arm(proxy_.config().http.client_body_timeout);
    }
    h2_->send_soon();
}

// More of the client's body arrived (or the stream may take more).
void Session::h2_send() {
    uint32_t e = epoch_;
    if (!validate_body() || e != epoch_) return;
    if (h2_deferred_ && (sent_end_ < send_end() || body_complete_)) {
        h2_deferred_ = false;
        h2_->resume(h2_id_);
    }
    h2_->send_soon();
}

ssize_t Session::h2_read_body(char* buf, size_t len, uint32_t* flags) {
    size_t end = send_end();
    size_t n = 0;
    if (sent_end_ < end) {
        n = std::min(len, end - sent_end_);
        memcpy(buf, io_->body_data() + sent_end_, n);
        sent_end_ += n;
    }
    if (body_complete_ && sent_end_ == valid_end_) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (state_ == State::Sending) {
            state_ = State::Waiting;
            arm(proxy_.config().routes[route_].timeout.read);
        }
    } else if (n == 0) {
        h2_deferred_ = true;
        if (state_ == State::Sending) arm(proxy_.config().http.client_body_timeout);
        return NGHTTP2_ERR_DEFERRED;
    }
    make_room();
    io_->resume_reading();
    return static_cast<ssize_t>(n);
}

void Session::h2_field(std::string_view name, std::string_view value) {
    if (name == ":status") {
        h2_status_ = status_value(value);
        return;
    }
    if (h2_lines_.size() + name.size() + value.size() + 4 > kMaxH2Head) {
        h2_too_big_ = true;
        return;
    }
    append_field(h2_lines_, name, value);
}

void Session::h2_headers_end(bool end_stream) {
    got_bytes_ = true;
    if (h2_final_) {  // trailers
        if (end_stream) h2_end();
        return;
    }
    const Request& req = stream_->request();
    if (h2_status_ >= 100 && h2_status_ < 200 && !end_stream) {
        // Interim (103 Early Hints...): passed on to HTTP/1.1 clients as on the HTTP/1 path, but
        // for 100 (the gateway answered Expect itself); bounded.
        interim_bytes_ += h2_lines_.size();
        if (++interim_count_ > kMaxInterim || interim_bytes_ > kMaxInterimBytes) {
            fail(ErrorKind::InvalidResponse, 502, "upstream sent too many interim responses", 0);
            return;
        }
        if (h2_status_ != 100 && req.version_minor >= 1 && !h2_too_big_ &&
            h2_response(h2_status_, h2_lines_, false, h2_head_, resp_)) {
            vars::Env env;
            env.stream = stream_;
            env.status = resp_.status;
            build_interim_response(io_->output(), resp_, &proxy_.config().routes[route_].response_headers, &env);
            uint32_t e = epoch_;
            io_->flush();
            if (e != epoch_ || !io_->is_open()) return;
        }
        h2_lines_.clear();
        h2_status_ = 0;
        return;
    }
    if (h2_too_big_ || !h2_response(h2_status_, h2_lines_, req.method == "HEAD", h2_head_, resp_) ||
        resp_.status < 200) {
        fail(ErrorKind::InvalidResponse, 502, "upstream sent an invalid response", 0);
        return;
    }
    h2_final_ = true;
    h2_lines_.clear();
    // A client that takes trailers (an HTTP/2 one: gRPC's grpc-status) gets a body with a
    // Content-Length chunked too, so that trailers after it still have their place (the length
    // stays in the head, and its codec checks the body against it).
    if (resp_.body == ResponseBody::ContentLength && resp_.content_length > 0 && io_->forwards_trailers())
        resp_.body = ResponseBody::Chunked;
    uint32_t e = epoch_;
    if (!begin_response() || e != epoch_) return;
    h2_frame_ = resp_.body == ResponseBody::Chunked && !dechunk_ && !transform_;
    if (end_stream) {
        h2_end();
        return;
    }
    io_->flush();  // the head now: a stream's first bytes may take a while
}

void Session::h2_data(std::string_view data) {
    if (state_ != State::Body || data.empty()) return;
    if (!paused_) arm(proxy_.config().routes[route_].timeout.read);
    if (transform_) {
        transform(data, false);
    } else {
        if (observe_)  // (a Content-Length body's last bytes: see observe())
            observe(data, resp_.body == ResponseBody::ContentLength && body_bytes_ + data.size() >= resp_.content_length);
        body_bytes_ += data.size();
        std::string& out = io_->output();
        if (h2_frame_) {
            char size[24];
            int n = snprintf(size, sizeof size, "%zx\r\n", data.size());
            out.append(size, static_cast<size_t>(n));
            out.append(data);
            out += "\r\n";
        } else {
            out.append(data);
        }
    }
    h2_unconsumed_ += data.size();
    if (!paused_) h2_flow();
}

// Output for the client is written; the stream's window is given back for what it took, or,
// while the client is slow, kept shut (the server stops after one window).
void Session::h2_flow() {
    uint32_t e = epoch_;
    io_->flush();
    if (e != epoch_ || !h2_) return;
    if (io_->pending_output() >= kClientHighWater) {
        paused_ = true;
        proxy_.loop().cancel(timer_);  // the wait is the client's (its send_timeout)
        return;
    }
    h2_->consume(h2_id_, h2_unconsumed_);
    h2_unconsumed_ = 0;
    h2_->send_soon();
}

void Session::h2_end() {
    if (state_ != State::Body) {
        if (!h2_final_) fail(ErrorKind::InvalidResponse, 502, "upstream sent no response", 0);
        return;
    }
    if (h2_frame_) {
        std::string& out = io_->output();
        out += "0\r\n";
        if (io_->forwards_trailers()) out += h2_lines_;  // the client's codec checks them
        out += "\r\n";
    }
    if (stream_->wants_response_trailers()) [[unlikely]] {  // (gRPC-Web: into the body)
        stream_->response_trailers() = h2_lines_;
        stream_->response_trailers() += "\r\n";
    }
    h2_lines_.clear();
    complete(true);
}

void Session::h2_closed(uint32_t error_code) {
    h2_ = nullptr;  // the stream is gone from the connection already
    if (error_code == NGHTTP2_REFUSED_STREAM && !h2_final_) h2_refused_ = true;
    char what[96];
    snprintf(what, sizeof what, "upstream reset the HTTP/2 stream (%s)", nghttp2_http2_strerror(error_code));
    fail(ErrorKind::Reset, 502, what, 0);
}

void Session::h2_lost(ErrorKind kind, const char* what, int err) {
    h2_ = nullptr;
    fail(kind, kind == ErrorKind::ConnectTimeout ? 504 : 502, what, err);
}

void Session::h2_detach() {
    H2Conn* c = h2_;
    h2_ = nullptr;
    c->leave(this, h2_id_);
    h2_id_ = -1;
}

}  // namespace gw::http::proxy
