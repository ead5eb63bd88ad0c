#include "http/h2/server_session.h"

#include <time.h>

#include <algorithm>

#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "http/connection.h"
#include "http/h2/memory.h"
#include "http/h2/server_stream.h"
#include "http/server.h"

namespace gw::http::h2 {

namespace {

// The budget of frames that do no work (see the header): a burst, a steady allowance, and
// what each request and each DATA frame the gateway sends earns back (a client that reads a
// large body sends WINDOW_UPDATEs in proportion).
constexpr double kControlBurst = 1000;
constexpr double kControlPerSecond = 100;
constexpr double kControlPerStream = 10;
constexpr double kControlPerDataSent = 2;
// HPACK: the decoder's table is what SETTINGS_HEADER_TABLE_SIZE allows the client (the
// protocol's 4096); the encoder's own table for responses.
constexpr size_t kEncoderTable = 4096;

uint64_t now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

ServerSession& self(void* user) { return *static_cast<ServerSession*>(user); }

ServerStream* stream_of(nghttp2_session* s, int32_t id) {
    return static_cast<ServerStream*>(nghttp2_session_get_stream_user_data(s, id));
}

}  // namespace

std::string_view flood_name(Flood f) {
    switch (f) {
        case Flood::RapidReset: return "rapid_reset";
        case Flood::Continuation: return "continuation";
        case Flood::HeaderCount: return "header_count";
        case Flood::HeaderSize: return "header_size";
        case Flood::ControlFrames: return "control_frames";
    }
    return "?";
}

ServerSession::ServerSession(Server& server, Connection& conn, const ListenerConfig& listener, size_t listener_index)
    : server_(server), conn_(conn), listener_(listener), listener_index_(listener_index),
      config_(server.ctx().config->http2) {
    static nghttp2_session_callbacks* callbacks = make_callbacks();  // one worker thread (never freed)
    nghttp2_option* opt = nullptr;
    if (nghttp2_option_new(&opt) != 0) return;
    // The window opens as the handlers take bytes (ServerStream::open_window), not on receipt.
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_continuations(opt, config_.max_continuation_frames);
    // The library's own Rapid Reset bucket answers INTERNAL_ERROR: left above ours.
    uint64_t resets = std::max<uint64_t>(config_.max_resets_per_minute, 1);
    nghttp2_option_set_stream_reset_rate_limit(opt, resets * 2 + 100, resets);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, kEncoderTable);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    int rv = nghttp2_session_server_new3(&session_, callbacks, this, opt, pooled_mem());
    nghttp2_option_del(opt);
    if (rv != 0) {
        session_ = nullptr;
        return;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, config_.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, config_.initial_window_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, config_.max_header_list_size},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        // RFC 9218: no RFC 7540 priority tree (deprecated by RFC 9113 5.3.2); nghttp2 then
        // schedules streams by urgency and keeps no closed streams - the checks that leaves
        // out are the FrameScanner's (check_data, check_priority).
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    // The connection's window: room for several streams' bodies at once (the protocol's
    // default, 64 KiB, would make uploads crawl).
    int32_t conn_window = static_cast<int32_t>(std::min<uint64_t>(uint64_t{config_.initial_window_size} * 4, (1u << 31) - 1));
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, std::max(conn_window, 1 << 20));
    resets_left_ = static_cast<double>(config_.max_resets_per_minute);
    control_left_ = kControlBurst;
    last_refill_ms_ = now_ms();
}

ServerSession::~ServerSession() {
    abort_all();
    free_dead();
    if (session_) nghttp2_session_del(session_);
}

bool ServerSession::receive(const char* data, size_t n) {
    if (failed_) return false;
    ++depth_;
    refill_budgets();
    // nghttp2 reads up to each frame the scanner stops at; the frame is checked there.
    const uint8_t* p = reinterpret_cast<const uint8_t*>(data);
    ssize_t rv = 0;
    while (n > 0 && !failed_) {
        FrameScanner::Stop stop = scanner_.next(p, n);
        rv = nghttp2_session_mem_recv(session_, p, stop.at);
        if (rv < 0) break;
        p += stop.at;
        n -= stop.at;
        if (stop.kind == FrameScanner::Kind::Data)
            check_data(stop.stream);
        else if (stop.kind == FrameScanner::Kind::Priority)
            check_priority(stop.stream, stop.depends_on);
    }
    --depth_;
    if (rv < 0) {
        if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
            flood(Flood::Continuation);
        } else if (rv == NGHTTP2_ERR_FLOODED) {
            flood(Flood::ControlFrames);
        } else if (!failed_) {
            LOG_INFO("client %s: HTTP/2 protocol error: %s; closing the connection", conn_.peer_text(),
                     nghttp2_strerror(static_cast<int>(rv)));
            failed_ = true;
        }
        nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);  // (no-op after a GOAWAY)
    }
    settle();
    return !failed_;
}

// After a read: the streams' body bytes are framed and handed over, the requests whose heads
// completed start (outside nghttp2's callbacks: a handler may answer at once), and closed
// streams go back to the pool.
void ServerSession::settle() {
    ++depth_;
    for (size_t i = 0; i < with_input_.size(); ++i)
        if (ServerStream* s = stream_of(session_, with_input_[i])) s->input_settled();
    with_input_.clear();
    for (size_t i = 0; i < ready_.size() && !failed_; ++i)
        if (ServerStream* s = stream_of(session_, ready_[i])) s->start();
    ready_.clear();
    --depth_;
}

bool ServerSession::produce(std::string& out, size_t limit) {
    if (!session_) return false;
    ++depth_;
    while (out.size() < limit) {
        const uint8_t* p = nullptr;
        ssize_t n = nghttp2_session_mem_send(session_, &p);
        if (n < 0) {
            LOG_INFO("client %s: HTTP/2 session failed: %s; closing the connection", conn_.peer_text(),
                     nghttp2_strerror(static_cast<int>(n)));
            failed_ = true;
            break;
        }
        if (n == 0) break;
        out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }
    // Handlers that waited for room go on (outside nghttp2's calls): they may write more.
    bool notified = false;
    if (depth_ == 1 && !drained_.empty()) {
        drained_swap_.swap(drained_);
        for (int32_t id : drained_swap_)
            if (ServerStream* st = stream_of(session_, id)) {
                st->notify_drained();
                notified = true;
            }
        drained_swap_.clear();
    }
    --depth_;
    return notified;
}

bool ServerSession::finished() const {
    if (!session_) return true;
    if (failed_) return nghttp2_session_want_write(session_) == 0;
    return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

void ServerSession::want_write() {
    if (depth_ > 0) return;  // the read or write under way writes before it returns
    conn_.h2_stream_send();
}

void ServerSession::shutdown() {
    if (!session_ || shutdown_started_) return;
    shutdown_started_ = true;
    // RFC 9113 6.8: a GOAWAY with the highest id first, then, a round trip later (the PING's
    // answer), the real last stream id: requests the client sent meanwhile are still served.
    nghttp2_submit_shutdown_notice(session_);
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
    want_write();
}

void ServerSession::on_shutdown_timer() {
    if (!shutdown_started_ || goaway_sent_) return;
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    want_write();
}

void ServerSession::idle_goaway() {
    if (!session_) return;
    goaway_sent_ = shutdown_started_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
}

void ServerSession::abort_all() {
    if (!session_) return;
    ++depth_;
    // Every stream not yet given back: the handlers drop their upstream work.
    while (!live_.empty()) {
        ServerStream* s = live_.back();
        if (!s->is_closed()) nghttp2_session_set_stream_user_data(session_, s->id(), nullptr);
        s->abort();
        if (!s->is_closed()) s->closed(NGHTTP2_CANCEL);
        stream_closed(s);
    }
    --depth_;
}

bool ServerSession::header_pending() const {
    for (const ServerStream* s : live_)
        if (!s->started() && !s->is_closed()) return true;
    return false;
}

void ServerSession::stream_closed(ServerStream* s) {
    for (size_t i = 0; i < live_.size(); ++i)
        if (live_[i] == s) {
            live_[i] = live_.back();
            live_.pop_back();
            dead_.push_back(s);
            return;
        }
}

// Closed streams go back to the pool only from the connection's own event (collect()), never
// from under a handler that may still be returning through one.
void ServerSession::free_dead() {
    for (ServerStream* s : dead_) {
        s->release();
        release_stream(s);
    }
    dead_.clear();
}

void ServerSession::flood(Flood kind) {
    if (failed_) return;
    failed_ = true;
    std::string_view name = flood_name(kind);
    LOG_INFO("client %s on %s: HTTP/2 flood (%.*s); closing the connection with GOAWAY(ENHANCE_YOUR_CALM)",
             conn_.peer_text(), listener_.address.c_str(), static_cast<int>(name.size()), name.data());
    std::string labels = "kind=\"" + std::string(name) + "\"";
    if (auto* c = server_.ctx().metrics->counter("gateway_http2_floods_total", labels,
                                                   "HTTP/2 connections closed for a flood, by kind."))
        c->fetch_add(1, std::memory_order_relaxed);
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
}

void ServerSession::refill_budgets() {
    uint64_t now = now_ms();
    if (now <= last_refill_ms_) return;
    double seconds = static_cast<double>(now - last_refill_ms_) / 1000.0;
    last_refill_ms_ = now;
    double max_resets = config_.max_resets_per_minute;
    resets_left_ = std::min(max_resets, resets_left_ + seconds * max_resets / 60.0);
    control_left_ = std::min(kControlBurst, control_left_ + seconds * kControlPerSecond);
}

// A DATA frame's header has been read by nghttp2. On a closed stream (below the last one the
// client opened, and gone from nghttp2) the protocol wants STREAM_CLOSED (RFC 9113 5.1), unless
// the gateway reset the stream itself: then the frame may have crossed the RST_STREAM and is
// ignored. nghttp2 ignores the frame either way (and counts it against the connection window);
// the answer is a stream error, which costs a well-behaved client nothing even if the stream
// is one the gateway reset so long ago that it is no longer among the recent ones.
void ServerSession::check_data(int32_t id) {
    if (id == 0 || !(id & 1) || id > last_client_stream_ || nghttp2_session_find_stream(session_, id)) return;
    // (nghttp2 does not tell of an ignored frame: it costs from the budget here)
    if (!spend_control(NGHTTP2_DATA) || recently_reset(id) || shutdown_started_) return;
    note_reset(id);  // (once per stream: its next DATA frames are ignored)
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_STREAM_CLOSED);
}

// A whole PRIORITY frame has been read (nghttp2 checked its length). RFC 9113 6.3: on stream 0
// it is a connection error; 5.3.1: a stream that depends on itself is an error too (a
// connection error here, as nghttp2 makes it with the priority tree on).
void ServerSession::check_priority(int32_t id, int32_t depends_on) {
    if (id != 0 && id != depends_on) return;
    LOG_INFO("client %s: HTTP/2 protocol error: PRIORITY frame %s; closing the connection", conn_.peer_text(),
             id == 0 ? "on stream 0" : "making a stream depend on itself");
    failed_ = true;
    nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
}

void ServerSession::note_reset(int32_t id) {
    recent_resets_[recent_reset_next_] = id;
    recent_reset_next_ = (recent_reset_next_ + 1) % kRecentResets;
}

bool ServerSession::recently_reset(int32_t id) const {
    for (int32_t r : recent_resets_)
        if (r == id) return true;
    return false;
}

bool ServerSession::spend_control(uint32_t) {
    control_left_ -= 1;
    if (control_left_ >= 0) return true;
    flood(Flood::ControlFrames);
    return false;
}

// ---- nghttp2's callbacks

int ServerSession::on_begin_frame(nghttp2_session* s, const nghttp2_frame_hd* hd, void* user) {
    ServerSession& me = self(user);
    switch (hd->type) {
        case NGHTTP2_HEADERS:
            // RFC 9113 5.1.1: a new stream's id is larger than every earlier one; a HEADERS
            // frame for a lower id that is not a stream's trailers is a connection error
            // (nghttp2 would take it for a closed stream and ignore it).
            if (hd->stream_id > me.last_client_stream_) {
                me.last_client_stream_ = hd->stream_id;
                me.control_left_ = std::min(kControlBurst, me.control_left_ + kControlPerStream);
            } else if (!nghttp2_session_find_stream(s, hd->stream_id) && !me.shutdown_started_ &&
                       !me.recently_reset(hd->stream_id)) {
                // (RFC 9113 5.1: frames on a stream the gateway reset are ignored - a client's
                // trailers may have crossed the RST_STREAM - for the last kRecentResets such
                // streams; nghttp2 ignores the block.)
                nghttp2_session_terminate_session(s, NGHTTP2_PROTOCOL_ERROR);
                return 0;
            }
            break;
        case NGHTTP2_DATA:
            if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) && !me.spend_control(hd->type)) return 0;
            break;
        case NGHTTP2_CONTINUATION:
            break;
        case NGHTTP2_RST_STREAM:
            // (also counted as resets when they end a stream: on_frame_recv)
            if (!me.spend_control(hd->type)) return 0;
            break;
        case NGHTTP2_SETTINGS:
        case NGHTTP2_PING:
            if (hd->flags & NGHTTP2_FLAG_ACK) break;  // answers to ours
            [[fallthrough]];
        default:  // WINDOW_UPDATE, PRIORITY, PRIORITY_UPDATE, unknown extension frames, GOAWAY
            if (!me.spend_control(hd->type)) return 0;
            break;
    }
    return 0;
}

int ServerSession::on_begin_headers(nghttp2_session* s, const nghttp2_frame* frame, void* user) {
    ServerSession& me = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {  // trailers: their fields go to the stream
        me.block_id_ = frame->hd.stream_id;
        me.block_stream_ = stream_of(s, frame->hd.stream_id);
        return 0;
    }
    ServerStream* st = acquire_stream();
    st->open(me, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
    me.live_.push_back(st);
    me.block_id_ = frame->hd.stream_id;  // the fields that follow are this block's (on_header)
    me.block_stream_ = st;
    return 0;
}

int ServerSession::on_header(nghttp2_session* s, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                             const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    ServerSession& me = self(user);
    if (me.failed_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    // (a header block's fields come one after the other: its stream is found once)
    ServerStream* st = frame->hd.stream_id == me.block_id_ ? me.block_stream_ : stream_of(s, frame->hd.stream_id);
    if (!st) return 0;
    auto r = st->add_field({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
    if (r == ServerStream::FieldResult::Ok) return 0;
    me.flood(r == ServerStream::FieldResult::TooMany ? Flood::HeaderCount : Flood::HeaderSize);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

int ServerSession::on_frame_recv(nghttp2_session* s, const nghttp2_frame* frame, void* user) {
    ServerSession& me = self(user);
    int32_t id = frame->hd.stream_id;
    switch (frame->hd.type) {
        case NGHTTP2_HEADERS: {
            ServerStream* st = stream_of(s, id);
            if (!st) break;
            bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
            if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
                st->headers_done(end);
                if (!me.failed_) me.ready_.push_back(id);
            } else if (end) {  // trailers: dropped (as the proxy drops HTTP/1.1 request trailers)
                st->body_done();
                me.with_input_.push_back(id);
            }
            break;
        }
        case NGHTTP2_DATA:
            if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
                if (ServerStream* st = stream_of(s, id)) {
                    st->body_done();
                    me.with_input_.push_back(id);
                }
            }
            break;
        case NGHTTP2_RST_STREAM:
            me.resets_left_ -= 1;
            if (me.resets_left_ < 0) me.flood(Flood::RapidReset);
            break;
        case NGHTTP2_PING:
            // The answer to the shutdown notice's PING: one round trip has passed.
            if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && me.shutdown_started_ && !me.goaway_sent_) me.on_shutdown_timer();
            break;
        default: break;
    }
    return 0;
}

int ServerSession::on_data_chunk(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
    ServerSession& me = self(user);
    ServerStream* st = stream_of(s, id);
    if (st && st->add_body(data, len)) {
        if (me.with_input_.empty() || me.with_input_.back() != id) me.with_input_.push_back(id);
        return 0;
    }
    // Nobody reads it (an answered or reset stream): the windows open again at once.
    if (st && !st->is_closed())
        nghttp2_session_consume(s, id, len);
    else
        nghttp2_session_consume_connection(s, len);
    return 0;
}

int ServerSession::on_stream_close(nghttp2_session* s, int32_t id, uint32_t error_code, void* user) {
    ServerSession& me = self(user);
    if (id == me.block_id_) me.block_stream_ = nullptr;
    ServerStream* st = stream_of(s, id);
    if (!st) return 0;
    nghttp2_session_set_stream_user_data(s, id, nullptr);
    if (st->closed(error_code)) me.stream_closed(st);  // (else: when its exchange finishes)
    return 0;
}

int ServerSession::on_frame_send(nghttp2_session* s, const nghttp2_frame* frame, void* user) {
    ServerSession& me = self(user);
    if (frame->hd.type == NGHTTP2_RST_STREAM && !me.recently_reset(frame->hd.stream_id)) me.note_reset(frame->hd.stream_id);
    if (frame->hd.type == NGHTTP2_DATA) me.control_left_ = std::min(kControlBurst, me.control_left_ + kControlPerDataSent);
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        if (ServerStream* st = stream_of(s, frame->hd.stream_id)) st->response_sent();
    if (frame->hd.type == NGHTTP2_DATA)
        if (ServerStream* st = stream_of(s, frame->hd.stream_id))
            if (st->wants_drain_notice()) me.drained_.push_back(frame->hd.stream_id);
    return 0;
}

int ServerSession::on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void* user) {
    // A malformed request (RST_STREAM PROTOCOL_ERROR from nghttp2): it costs from the budget.
    ServerSession& me = self(user);
    me.spend_control(0);
    return 0;
}

namespace {

int on_error(nghttp2_session*, int, const char* msg, size_t len, void*) {
    LOG_DEBUG("HTTP/2: %.*s", static_cast<int>(len), msg);
    return 0;
}

}  // namespace

nghttp2_session_callbacks* ServerSession::make_callbacks() {
    nghttp2_session_callbacks* cb = nullptr;
    if (nghttp2_session_callbacks_new(&cb) != 0) return nullptr;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    return cb;
}

}  // namespace gw::http::h2
