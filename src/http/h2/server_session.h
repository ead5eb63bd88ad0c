// The HTTP/2 side of one client connection (RFC 9113), on nghttp2: the connection preface,
// SETTINGS, flow control, HPACK and the protocol's state machines are the library's; the
// streams (server_stream.h), the per-connection budgets that answer the known floods, and the
// graceful GOAWAY of a reload or stop are the gateway's.
//
// http::Connection still owns the socket, the transport (TLS) and the timer: once ALPN chose
// "h2" or the preface arrived on an h2c listener it hands its bytes here (receive) and writes
// what produce() gives it.
//
// Budgets, each closing the connection with GOAWAY(ENHANCE_YOUR_CALM), a count in
// gateway_http2_floods_total{kind} and an info line:
//   rapid_reset     more than http2.max_resets_per_minute streams reset by the client
//                   (CVE-2023-44487: the work of a reset stream is cancelled at once too);
//   continuation    more than http2.max_continuation_frames CONTINUATION frames in a block;
//   header_count    more than http2.max_headers fields in a block (the 2026 "bomb");
//   header_size     more than http2.max_header_list_size decoded bytes in a block;
//   control_frames  PING, SETTINGS, WINDOW_UPDATE, PRIORITY, RST_STREAM, empty DATA and unknown
//                   frames beyond a budget that requests and DATA the gateway sends earn back.
// nghttp2 answers what remains (malformed frames, HPACK table abuse, a stream window
// overflow) with the protocol's own errors.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/h2/frame_scanner.h"

namespace gw {
struct ListenerConfig;
struct Http2Config;
}  // namespace gw

namespace gw::http {
class Connection;
class Server;
}  // namespace gw::http

namespace gw::http::h2 {

class ServerStream;

enum class Flood : uint8_t { RapidReset, Continuation, HeaderCount, HeaderSize, ControlFrames };
std::string_view flood_name(Flood f);

class ServerSession {
  public:
    ServerSession(Server& server, Connection& conn, const ListenerConfig& listener, size_t listener_index);
    ~ServerSession();
    ServerSession(const ServerSession&) = delete;
    ServerSession& operator=(const ServerSession&) = delete;

    bool ok() const { return session_ != nullptr; }
    // Bytes from the client. False: the connection ends (a protocol error or a flood: what
    // produce() still gives - the GOAWAY - is written first).
    bool receive(const char* data, size_t n);
    // Appends the frames nghttp2 has ready to `out` until it holds `limit` bytes or more. True
    // when handlers that waited for room were told: they may have more (call again).
    bool produce(std::string& out, size_t limit);
    // Nothing more will be read or written: the connection can close.
    bool finished() const;
    // Starts the graceful end (a reload, a stop): GOAWAY with the last stream id taken, after
    // a notice and one round trip (so that requests already on the wire are not lost); the
    // streams below it finish.
    void shutdown();
    // The idle timeout passed with no stream open: GOAWAY(NO_ERROR).
    void idle_goaway();
    // The connection closes now: every running exchange is dropped.
    void abort_all();
    // Gives closed streams back to the pool (the connection calls it at the end of its events).
    void collect() { free_dead(); }
    size_t open_streams() const { return live_.size(); }
    // A stream whose header block is not complete yet (a client that stops in the middle of
    // one holds the connection: http.client_header_timeout bounds it).
    bool header_pending() const;
    bool shutting_down() const { return shutdown_started_; }
    // One of the connection's timer's reasons: the second GOAWAY is due (no PING answer).
    void on_shutdown_timer();
    bool shutdown_pending() const { return shutdown_started_ && !goaway_sent_; }

    // ---- For the streams.
    Server& server() { return server_; }
    Connection& connection() { return conn_; }
    const ListenerConfig& listener() const { return listener_; }
    size_t listener_index() const { return listener_index_; }
    const Http2Config& config() const { return config_; }
    nghttp2_session* session() { return session_; }
    // A stream has new output (or ended): the connection writes soon.
    void want_write();
    void stream_closed(ServerStream* s);  // (the stream goes back to the pool after the read/write)
    void flood(Flood kind);

  private:
    static nghttp2_session_callbacks* make_callbacks();
    static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user);
    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                         const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
    static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len,
                             void* user);
    static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);
    static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);
    static int on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user);
    bool spend_control(uint32_t type);
    bool recently_reset(int32_t id) const;
    void note_reset(int32_t id);
    void check_data(int32_t id);
    void check_priority(int32_t id, int32_t depends_on);
    void refill_budgets();
    void settle();  // after a read: streams' input settled, ready requests started
    void free_dead();

    Server& server_;
    Connection& conn_;
    const ListenerConfig& listener_;
    size_t listener_index_;
    const Http2Config& config_;
    nghttp2_session* session_ = nullptr;
    int depth_ = 0;              // inside receive/produce: streams are freed when it is back at 0
    bool failed_ = false;        // a flood or a fatal error: close after the GOAWAY
    bool shutdown_started_ = false;
    bool goaway_sent_ = false;
    int32_t last_client_stream_ = 0;
    std::vector<int32_t> ready_;         // streams whose requests start after this read
    int32_t block_id_ = 0;               // the header block being decoded, and its stream
    ServerStream* block_stream_ = nullptr;
    std::vector<int32_t> with_input_;    // streams that got body bytes in this read
    std::vector<ServerStream*> dead_;    // closed, freed by collect()
    // Streams not yet given back (open, or closed by nghttp2 while their exchanges finish).
    std::vector<ServerStream*> live_;
    std::vector<int32_t> drained_, drained_swap_;  // streams whose DATA went out (handlers held back)
    // Budgets.
    double resets_left_ = 0;     // token bucket, refilled max_resets_per_minute per minute
    double control_left_ = 0;    // token bucket for frames that do no work
    uint64_t last_refill_ms_ = 0;
    FrameScanner scanner_;  // the client's frame headers, a step ahead of nghttp2
    // The last streams the gateway sent RST_STREAM for: a HEADERS or DATA frame for one of them
    // (sent before the reset reached the client) is ignored, not an error.
    static constexpr size_t kRecentResets = 32;
    int32_t recent_resets_[kRecentResets] = {};
    size_t recent_reset_next_ = 0;
};

}  // namespace gw::http::h2
