#include "http/h2/server_stream.h"

#include <cstdio>
#include <cstring>
#include <vector>

#include "core/config/config.h"
#include "core/log.h"
#include "http/chars.h"
#include "http/connection.h"
#include "http/exchange.h"
#include "http/grpc/routes.h"
#include "http/h2/server_session.h"
#include "http/response.h"
#include "http/server.h"

namespace gw::http::h2 {

namespace {

// The proxy holds its upstream reads while this much output waits (its kClientHighWater):
// it is told (on_output_drained) when the stream's pending output falls below it again.
constexpr size_t kDrainMark = 64 * 1024;
constexpr size_t kChunkHead = 10;  // "%08zx\r\n": a chunk's size, written when the chunk closes
constexpr size_t kProxyMinFree = 8 * 1024;  // the proxy makes room below this (its kMinFreeInput)
constexpr size_t kSpareStreams = 256;
constexpr size_t kKeepBuffer = 256 * 1024;  // a pooled stream's buffer larger than this is freed

std::vector<ServerStream*>& spare() {
    // One worker thread. Never destroyed: a vector destroyed at exit would leave the streams it
    // held unreachable (LeakSanitizer reports them at exit), and nothing needs them freed then.
    static std::vector<ServerStream*>* v = new std::vector<ServerStream*>();
    return *v;
}

ssize_t read_callback(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                      nghttp2_data_source* source, void*) {
    return static_cast<ServerStream*>(source->ptr)->read_data(buf, length, flags);
}

void shrink(std::string& s) {
    if (s.capacity() > kKeepBuffer) std::string().swap(s);
    s.clear();
}

}  // namespace

ServerStream* acquire_stream() {
    std::vector<ServerStream*>& v = spare();
    if (v.empty()) return new ServerStream();
    ServerStream* s = v.back();
    v.pop_back();
    return s;
}

void release_stream(ServerStream* s) {
    std::vector<ServerStream*>& v = spare();
    if (v.size() < kSpareStreams)
        v.push_back(s);
    else
        delete s;
}

Server& ServerStream::server() const { return session_->server(); }

const Transport* ServerStream::transport() const { return session_->connection().transport(); }

void ServerStream::open(ServerSession& session, int32_t id) {
    session_ = &session;
    id_ = id;
    exchange_running_ = started_ = head_done_ = closed_ = reset_ = body_ended_ = false;
    body_wanted_ = true;
    chunked_in_ = chunk_open_ = new_input_ = drain_notice_ = false;
    head_request_ = has_length_ = false;
    content_length_ = 0;
    authority_ = {};
    field_count_ = field_bytes_ = 0;
    const Http2Config& c = session.config();
    fields_.clear();
    // The Request's views point into fields_: it never grows past what a block may hold.
    fields_.reserve(c.max_header_list_size + 64);
    cookie_.clear();
    cookie_crumbs_ = 0;
    body_.clear();
    body_cap_ = size_t{c.initial_window_size} * 2 + 64 * 1024;
    chunk_at_ = 0;
    unacked_ = 0;
    out_state_ = Out::Head;
    out_.clear();
    data_.clear();
    data_off_ = 0;
    out_left_ = 0;
    dechunk_.reset();
    trailer_seen_ = 0;
    trailer_raw_.clear();
    submitted_ = data_eof_ = deferred_ = cut_ = false;
    end_sent_ = lingering_ = answer_at_end_ = answer_ready_ = false;
    Server& sv = session.server();
    stream_ = sv.streams().get();
    stream_->request_storage = sv.requests().get();
    Request& req = stream_->request();
    req.method = req.target = req.path = req.query = req.host = {};
    req.version_minor = 1;  // (to the gateway's HTTP/1 writers: a client that takes chunked)
    req.http2 = true;
    req.header_count = 0;
    req.body = BodyKind::None;
    req.content_length = 0;
    req.keep_alive = true;
    req.expect_continue = req.upgrade = false;
    req.head_length = 0;
}

ServerStream::FieldResult ServerStream::add_field(std::string_view name, std::string_view value) {
    const Http2Config& c = session_->config();
    ++field_count_;
    field_bytes_ += static_cast<uint32_t>(name.size() + value.size() + 32);
    if (field_bytes_ > c.max_header_list_size) return FieldResult::TooLarge;
    if (field_count_ > c.max_headers + 5) return FieldResult::TooMany;  // (+ the pseudo-fields)
    // Trailers: counted, not kept. (head_done_, not started_: trailers that come in the same
    // read as the head arrive before the request starts, and must not become its fields.)
    if (head_done_ || !stream_) return FieldResult::Ok;
    if (fields_.size() + name.size() + value.size() > fields_.capacity()) return FieldResult::TooLarge;
    size_t at = fields_.size();
    fields_.append(name);
    fields_.append(value);
    std::string_view n(fields_.data() + at, name.size()), v(fields_.data() + at + name.size(), value.size());
    Request& req = stream_->request();
    if (!n.empty() && n[0] == ':') {
        if (n == ":method")
            req.method = v;
        else if (n == ":path")
            req.target = v;
        else if (n == ":authority")
            authority_ = v;
        return FieldResult::Ok;  // :scheme, :protocol: nghttp2 checked them
    }
    if (n == "cookie") {  // crumbs joined into one field for HTTP/1 (RFC 9113 8.2.3)
        if (cookie_crumbs_++) cookie_ += "; ";
        cookie_ += v;
        return FieldResult::Ok;
    }
    if (req.header_count >= kMaxHeadersHard - 2) return FieldResult::TooMany;
    if (n == "content-length") {
        uint64_t len = 0;
        for (char ch : v) len = len * 10 + static_cast<uint64_t>(ch - '0');  // (digits: nghttp2 checked)
        has_length_ = true;
        content_length_ = len;
    } else if (n == "expect" && chars::iequals(v, "100-continue")) {
        req.expect_continue = true;
    }
    req.headers[req.header_count++] = {n, v};
    return FieldResult::Ok;
}

void ServerStream::headers_done(bool end_stream) {
    if (!stream_) return;
    head_done_ = true;
    field_count_ = field_bytes_ = 0;  // the budgets are per block: the trailers have their own
    Request& req = stream_->request();
    std::string_view target = req.target;
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    req.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    // Host: from :authority (RFC 9113 8.3.1: an intermediary to HTTP/1.1 makes the field).
    std::string_view host_field = req.header("host");
    if (!authority_.empty()) {
        req.host = authority_;
        if (host_field.empty() && req.header_count < kMaxHeadersHard) req.headers[req.header_count++] = {"host", authority_};
    } else {
        req.host = host_field;
    }
    if (cookie_crumbs_ && req.header_count < kMaxHeadersHard) req.headers[req.header_count++] = {"cookie", cookie_};
    if (end_stream) {
        req.body = BodyKind::None;
        body_ended_ = true;
    } else if (has_length_) {
        req.body = BodyKind::ContentLength;
        req.content_length = content_length_;
    } else {
        req.body = BodyKind::Chunked;  // framed here (add_body), forwarded chunked
        chunked_in_ = true;
    }
}

bool ServerStream::add_body(const uint8_t* data, size_t n) {
    if (!body_wanted_ || reset_ || !stream_) return false;
    if (body_.size() + n + kChunkHead + 7 > body_cap_) {
        // More than the windows allowed (they open only as the handler takes bytes).
        reset(NGHTTP2_FLOW_CONTROL_ERROR);
        return false;
    }
    if (chunked_in_ && !chunk_open_) {
        chunk_at_ = body_.size();
        body_.append(kChunkHead, '0');
        chunk_open_ = true;
    }
    body_.append(reinterpret_cast<const char*>(data), n);
    nghttp2_session_consume_connection(session_->session(), n);
    unacked_ += n;
    new_input_ = true;
    return true;
}

void ServerStream::close_chunk() {
    if (!chunk_open_) return;
    chunk_open_ = false;
    size_t len = body_.size() - chunk_at_ - kChunkHead;
    char head[kChunkHead + 1];
    snprintf(head, sizeof head, "%08zx\r\n", len);
    memcpy(body_.data() + chunk_at_, head, kChunkHead);
    body_ += "\r\n";
}

void ServerStream::body_done() {
    body_ended_ = true;
    if (answer_at_end_) {
        answer_at_end_ = false;
        answer_ready_ = true;  // answered after the read (input_settled), not inside nghttp2's callback
    }
    if (chunked_in_ && body_wanted_ && stream_) {
        close_chunk();
        body_ += "0\r\n\r\n";
        new_input_ = true;
    }
}

void ServerStream::input_settled() {
    if (answer_ready_) {
        answer_ready_ = false;
        if (stream_ && exchange_running_) answer_local();
        return;
    }
    close_chunk();
    open_window();
    if (!new_input_) return;
    new_input_ = false;
    notify_handler();
}

void ServerStream::notify_handler() {
    if (!exchange_running_ || !stream_) return;
    if (stream_->handler)
        stream_->handler->on_body_input();
    else if (stream_->paused())
        stream_->input_arrived();
}

// Flow control. The connection's window opens as bytes arrive (add_body): a stream whose
// handler waits must not hold the others back. A stream's window opens again - all of what
// arrived - while its buffer holds at most one window; beyond that it waits for the handler to
// take bytes, and body_capacity() says the buffer is nearly full, so that the proxy (which
// keeps bytes it sent for a replay until fewer than 8 KiB are free) lets them go. A stream so
// buffers at most two windows, and a body of up to a window can still be sent again.
void ServerStream::open_window() {
    if (unacked_ == 0 || closed_) return;
    if (body_wanted_ && !reset_ && body_.size() > session_->config().initial_window_size) return;
    nghttp2_session_consume_stream(session_->session(), id_, static_cast<size_t>(unacked_));
    unacked_ = 0;
    session_->want_write();
}

size_t ServerStream::body_capacity() const {
    if (body_.size() > session_->config().initial_window_size) return body_.size() + kProxyMinFree - 1;
    return body_cap_;
}

void ServerStream::body_erase(size_t offset, size_t n) {
    body_.erase(offset, n);
    open_window();
}

void ServerStream::resume_reading() { open_window(); }

void ServerStream::start() {
    if (reset_ || closed_ || !stream_ || started_) return;
    started_ = true;
    exchange_running_ = true;
    run();
}

void ServerStream::run() {
    Stream& s = *stream_;
    Server& sv = server();
    const ListenerConfig& listener = session_->listener();
    Request& req = s.request();
    s.begin(this, session_->listener_index());
    s.set_route(&sv.route(Router::kNoRoute));
    s.mark_start();
    session_->connection().fill_client(s);
    s.set_request_id(req.header("x-request-id"), sv.ids());
    head_request_ = req.method == "HEAD";
    const Config& config = *sv.ctx().config;
    if (req.target.size() > config.http.max_uri_size) {
        respond_error(414, "request-target too long");
        return;
    }
    std::string_view why;
    if (!exchange::normalize_path(s, config.http, why)) {
        LOG_INFO("client %s sent an invalid request: %.*s", s.client_address().data(), static_cast<int>(why.size()),
                 why.data());
        respond_error(400, why);
        return;
    }
    if (!listener.admin) s.match() = sv.router().match(req, static_cast<int>(session_->listener_index()));
    RouteRuntime& route = sv.route(s.route_index());
    s.set_route(&route);
    uint64_t max_body = max_body_size(config, s.route_index());
    if (req.body == BodyKind::ContentLength && max_body && req.content_length > max_body) {
        respond_error(413, "request body too large");
        return;
    }
    if (int status = exchange::special_method_status(s)) {
        std::string body = status == 405 ? json_error_body(405, "method not allowed") : std::string();
        std::string fields = body.empty() ? std::string() : std::string("content-type: application/json\r\n");
        fields += exchange::kAllow;
        s.set_route(&sv.route(Router::kNoRoute));
        respond(status, fields, body, false);
        return;
    }
    if (route.filters) {
        switch (s.run_request_filters(route.filters)) {
            case FilterStatus::Continue: break;
            case FilterStatus::Done: answer_reply(); return;
            case FilterStatus::Pause: return;  // stream_resumed() follows
        }
    }
    admit();
}

void ServerStream::stream_resumed() {
    if (!stream_) return;
    if (stream_->reply_status())
        answer_reply();
    else
        admit();
}

bool ServerStream::admit() {
    Stream& s = *stream_;
    Server& sv = server();
    const bool admin = session_->listener().admin;
    if (s.route().proxied && !admin) {
        sv.start_proxy(s);
        return true;
    }
    // A local answer comes once the request has ended, as on HTTP/1.1 (its body is read and
    // dropped): a malformed one (a content-length its DATA does not match) is reset by nghttp2
    // rather than answered.
    body_wanted_ = false;
    body_.clear();
    open_window();
    if (!body_ended_) {
        answer_at_end_ = true;
        return false;
    }
    answer_local();
    return false;
}

void ServerStream::answer_local() {
    exchange::LocalAnswer a = exchange::local_answer(server(), *stream_, session_->listener().admin);
    respond(a.status, a.headers, a.body, a.own_answer);
}

void ServerStream::answer_reply() {
    Stream& s = *stream_;
    body_wanted_ = false;
    body_.clear();
    open_window();
    if (s.has_stored_reply()) {
        bool keep_alive = true;
        exchange::Sent sent = exchange::append_stored(server(), s, out_, keep_alive);
        finish(sent.status, sent.body_bytes);
    } else {
        uint64_t n = exchange::append_reply(server(), s, out_, true);
        finish(s.reply_status(), n);
    }
    flush();
}

void ServerStream::respond_error(int status, std::string_view message) {
    body_wanted_ = false;
    body_.clear();
    open_window();
    respond(status, "content-type: application/json\r\n", json_error_body(status, message), false);
}

void ServerStream::respond(int status, std::string_view headers, std::string_view body, bool own_answer) {
    uint64_t n = exchange::append_response(server(), *stream_, out_, status, headers, body, true, own_answer);
    finish(status, n);
    flush();
}

void ServerStream::finish(int status, uint64_t body_bytes) {
    Stream& s = *stream_;
    Server& sv = server();
    const ListenerConfig& listener = session_->listener();
    RouteRuntime& route = s.route();
    uint64_t micros = exchange::micros_since(s.start());
    std::atomic<uint64_t>* cell = exchange::log_exchange(sv, s, listener, route, status, body_bytes, micros);
    s.end();
    if (!listener.admin) sv.count_response(route, cell, micros);
    sv.ctx().slot->requests.fetch_add(1, std::memory_order_release);
    exchange_running_ = false;
    sv.requests().put(std::move(s.request_storage));
    sv.streams().put(&s);
    stream_ = nullptr;
    if (lingering_) {  // nghttp2 closed it already
        lingering_ = false;
        session_->stream_closed(this);
    }
}

void ServerStream::release_handler() {
    if (stream_ && stream_->handler) server().release_handler(*stream_);
}

// ---- The handler's ends

void ServerStream::stream_done(int status, uint64_t body_bytes, bool, size_t, uint64_t upstream_micros) {
    release_handler();
    Stream& s = *stream_;
    uint64_t total = exchange::micros_since(s.start());
    server().observe_overhead(s.route_index(), total > upstream_micros ? total - upstream_micros : 0);
    translate();
    if (out_state_ == Out::UntilEnd) {  // its end is now
        data_eof_ = true;
        out_state_ = Out::Done;
    }
    finish(status, body_bytes);
    flush();
}

void ServerStream::stream_error(int status, std::string_view message, std::string_view headers, size_t) {
    release_handler();
    body_wanted_ = false;
    body_.clear();
    open_window();
    std::string fields = "content-type: application/json\r\n";
    fields += headers;
    respond(status, fields, json_error_body(status, message), false);
}

void ServerStream::stream_cut(int status, uint64_t body_bytes) {
    release_handler();
    translate();
    // What was sent is delivered, then the stream is reset: the client sees it cut short.
    cut_ = true;
    if (!submitted_) reset(NGHTTP2_INTERNAL_ERROR);
    finish(status, body_bytes);
    flush();
}

void ServerStream::stream_answer(size_t) {
    release_handler();
    body_wanted_ = false;
    body_.clear();
    open_window();
    Stream& s = *stream_;
    if (s.has_stored_reply()) {
        bool keep_alive = true;
        exchange::Sent sent = exchange::append_stored(server(), s, out_, keep_alive);
        finish(sent.status, sent.body_bytes);
        flush();
    } else {
        respond(500, "content-type: application/json\r\n", json_error_body(500, "no response"), false);
    }
}

// The handler gives up on the stream (its abort): the stream is reset.
void ServerStream::close() {
    if (exchange_running_ && stream_) {
        if (stream_->handler) stream_->handler->on_abort();
        release_handler();
        stream_->end();
        Server& sv = server();
        sv.requests().put(std::move(stream_->request_storage));
        sv.streams().put(stream_);
        stream_ = nullptr;
        exchange_running_ = false;
    }
    reset(NGHTTP2_INTERNAL_ERROR);
}

void ServerStream::abort() {
    if (stream_) {
        if (exchange_running_ && stream_->handler) stream_->handler->on_abort();
        release_handler();
        if (started_) stream_->end();
        Server& sv = server();
        sv.requests().put(std::move(stream_->request_storage));
        sv.streams().put(stream_);
        stream_ = nullptr;
    }
    exchange_running_ = false;
}

bool ServerStream::closed(uint32_t) {
    closed_ = true;
    // Our END_STREAM went out and the exchange is finishing (the proxy is about to say it is
    // done): it ends as usual, logged; the stream is released then.
    if (end_sent_ && exchange_running_) {
        lingering_ = true;
        return false;
    }
    abort();  // the client reset it mid-exchange (or the connection failed): the work stops
    return true;
}

void ServerStream::release() {
    shrink(fields_);
    shrink(body_);
    shrink(out_);
    shrink(data_);
    shrink(trailer_raw_);
    cookie_.clear();
    fields_out_.clear();
    session_ = nullptr;
}

void ServerStream::response_sent() {
    end_sent_ = true;
    // RFC 9113 8.1: the response is complete and the request is not: NO_ERROR tells the
    // client to stop sending it.
    if (!body_ended_ && !reset_ && !closed_) {
        reset_ = true;
        nghttp2_submit_rst_stream(session_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
    }
}

void ServerStream::reset(uint32_t error_code) {
    out_state_ = Out::Done;  // what the handler still writes goes nowhere
    if (reset_ || closed_) return;
    reset_ = true;
    nghttp2_submit_rst_stream(session_->session(), NGHTTP2_FLAG_NONE, id_, error_code);
    session_->want_write();
}

// ---- The response: HTTP/1.1 bytes in, HEADERS and DATA out

void ServerStream::flush() {
    if (!session_) return;
    translate();
    if (pending_output() >= kDrainMark) drain_notice_ = true;
    if (deferred_ && (data_.size() > data_off_ || data_eof_ || cut_)) {
        deferred_ = false;
        nghttp2_session_resume_data(session_->session(), id_);
    }
    session_->want_write();
}

void ServerStream::write_through(std::string_view data) {
    out_.append(data);
    flush();
}

void ServerStream::notify_drained() {
    if (pending_output() >= kDrainMark) return;
    drain_notice_ = false;
    if (exchange_running_ && stream_ && stream_->handler) stream_->handler->on_output_drained();
}

void ServerStream::translate() {
    if (data_off_ >= 16 * 1024) {  // keep the DATA buffer from creeping
        data_.erase(0, data_off_);
        data_off_ = 0;
    }
    size_t pos = 0;
    while (pos < out_.size()) {
        size_t avail = out_.size() - pos;
        if (out_state_ == Out::Head) {
            size_t end = out_.find("\r\n\r\n", pos);
            if (end == std::string::npos) break;
            end += 4;
            submit_head({out_.data() + pos, end - pos});
            pos = end;
        } else if (out_state_ == Out::Length) {
            size_t n = static_cast<size_t>(std::min<uint64_t>(avail, out_left_));
            data_.append(out_, pos, n);
            out_left_ -= n;
            pos += n;
            if (out_left_ == 0) {
                data_eof_ = true;
                out_state_ = Out::Done;
            }
        } else if (out_state_ == Out::Chunked) {
            size_t consumed = 0;
            std::string_view d;
            ParseError err;
            auto st = dechunk_.feed({out_.data() + pos, avail}, consumed, d, err);
            data_.append(d);
            size_t trailer = dechunk_.trailer_bytes();
            if (trailer > trailer_seen_) {
                size_t add = std::min(consumed, trailer - trailer_seen_);
                trailer_raw_.append(out_.data() + pos + consumed - add, add);
                trailer_seen_ = trailer;
            }
            pos += consumed;
            if (st == ChunkedDecoder::Status::Error) {
                reset(NGHTTP2_INTERNAL_ERROR);
                break;
            }
            if (st == ChunkedDecoder::Status::Done) {
                data_eof_ = true;
                out_state_ = Out::Done;
                count_grpc_status();
            } else if (consumed == 0) {
                break;
            }
        } else if (out_state_ == Out::UntilEnd) {
            data_.append(out_, pos, avail);
            pos = out_.size();
        } else {  // Done: nothing follows a response
            pos = out_.size();
        }
    }
    out_.erase(0, pos);
}

// A gRPC route's response ends with grpc-status in its trailers: counted by it.
void ServerStream::count_grpc_status() {
    GrpcRoutes* g = stream_ ? server().grpc_routes() : nullptr;
    if (!g || !g->is_grpc(stream_->route_index())) return;
    constexpr std::string_view kField = "grpc-status:";
    std::string_view t = trailer_raw_;
    for (size_t pos = 0; pos < t.size();) {
        size_t end = t.find("\r\n", pos);
        if (end == std::string_view::npos) end = t.size();
        std::string_view line = t.substr(pos, end - pos);
        if (line.size() > kField.size() && chars::iequals(line.substr(0, kField.size()), kField)) {
            g->count_status(stream_->route_index(), chars::trim_ows(line.substr(kField.size())));
            return;
        }
        pos = end + 2;
    }
}

ResponseFieldSink* ServerStream::field_sink() {
    // Bytes written before (an interim head) go first, as bytes.
    return out_state_ == Out::Head && out_.empty() && session_ ? this : nullptr;
}

void ServerStream::head_status(int status) {
    head_bad_ = false;
    head_.status(status);
}

void ServerStream::head_field(std::string_view name, std::string_view value) {
    if (!head_.field(name, value)) head_bad_ = true;
}

void ServerStream::head_lines(std::string_view lines) {
    if (!head_.lines(lines)) head_bad_ = true;
}

uint64_t ServerStream::head_end(bool chunked) {
    ResponseBody framing;
    uint64_t length = 0;
    head_.finish(head_request_, chunked, framing, length);
    if (head_bad_) {
        LOG_ERROR("HTTP/2 stream %d: a response head with a malformed field; resetting the stream", id_);
        reset(NGHTTP2_INTERNAL_ERROR);
    } else if (out_state_ == Out::Head) {
        submit_fields(head_.status_code(), framing, length);
    }
    return head_.http1_bytes();
}

void ServerStream::submit_head(std::string_view head) {
    int status = 0;
    ResponseBody framing;
    uint64_t length = 0;
    if (!split_head(head, head_request_, status, framing, length, fields_out_)) {
        LOG_ERROR("HTTP/2 stream %d: a response head the gateway wrote does not split; resetting the stream", id_);
        reset(NGHTTP2_INTERNAL_ERROR);
        return;
    }
    submit_fields(status, framing, length);
}

void ServerStream::submit_fields(int status, ResponseBody framing, uint64_t length) {
    nghttp2_session* ss = session_->session();
    if (status < 200) {  // interim (100 Continue, 103): the final head follows
        if (status != 101) nghttp2_submit_headers(ss, NGHTTP2_FLAG_NONE, id_, nullptr, fields_out_.nv.data(), fields_out_.nv.size(), nullptr);
        return;
    }
    submitted_ = true;
    // The final head's and the trailers' fields stay in fields_out_ until nghttp2 has sent them
    // (nothing rewrites it before: a stream's DATA, and so its trailers, come after its HEADERS;
    // a closed stream's frames are dropped): nghttp2 need not copy them. (An interim head above
    // is copied: the final one may follow in the same call.)
    for (nghttp2_nv& nv : fields_out_.nv) nv.flags |= NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
    if (framing == ResponseBody::None || (framing == ResponseBody::ContentLength && length == 0)) {
        out_state_ = Out::Done;
        nghttp2_submit_response(ss, id_, fields_out_.nv.data(), fields_out_.nv.size(), nullptr);
        return;
    }
    if (framing == ResponseBody::ContentLength) {
        out_state_ = Out::Length;
        out_left_ = length;
    } else if (framing == ResponseBody::Chunked) {
        out_state_ = Out::Chunked;
        dechunk_.reset();
    } else {
        out_state_ = Out::UntilEnd;
    }
    nghttp2_data_provider prd;
    prd.source.ptr = this;
    prd.read_callback = read_callback;
    nghttp2_submit_response(ss, id_, fields_out_.nv.data(), fields_out_.nv.size(), &prd);
}

ssize_t ServerStream::read_data(uint8_t* buf, size_t length, uint32_t* flags) {
    // What the handler wrote without a flush (it holds back while this much waits) is body
    // bytes too: taken now, or the stream would wait for a flush that waits for this.
    if (data_off_ == data_.size() && !out_.empty() && out_state_ != Out::Head) translate();
    size_t avail = data_.size() - data_off_;
    size_t n = std::min(avail, length);
    if (n) memcpy(buf, data_.data() + data_off_, n);
    data_off_ += n;
    if (data_off_ == data_.size()) {
        data_.clear();
        data_off_ = 0;
    }
    if (n < avail) return static_cast<ssize_t>(n);
    if (data_eof_) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!trailer_raw_.empty()) {
            split_trailers(trailer_raw_, fields_out_);
            for (nghttp2_nv& nv : fields_out_.nv) nv.flags |= NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
            if (!fields_out_.nv.empty() &&
                nghttp2_submit_trailer(session_->session(), id_, fields_out_.nv.data(), fields_out_.nv.size()) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
        return static_cast<ssize_t>(n);
    }
    if (n) return static_cast<ssize_t>(n);
    if (cut_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM(INTERNAL_ERROR)
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
}

}  // namespace gw::http::h2
