// One proxied request of one client connection, from choosing a server to the response's last
// byte (or, after a 101, a byte tunnel until either side closes).
//
// Flow: attempt() picks a server (balancer, minus servers already tried, servers this worker
// saw fail, and servers whose circuit breaker is open or out of half-open tickets; the breaker
// admits the one chosen) and takes a pooled connection or connects; send() writes the request head and then
// the body straight from the client connection's input buffer; the response head is parsed in
// the upstream connection's buffer, rewritten into the client's output buffer, and the body
// follows through that buffer with back-pressure in both directions (a full client output stops
// upstream reads; a blocked upstream write stops client reads).
//
// Replays: body bytes are forwarded from the client buffer without being consumed, so a request
// whose body fits in that buffer can be sent again (retry, or a pooled connection that turned
// out to be closed). Only when the buffer must make room are sent bytes dropped, and from then
// on the request can no longer be replayed.
#pragma once

#include <time.h>

#include <cstdint>
#include <string>
#include <vector>

#include "event/loop.h"
#include "http/parser.h"
#include "http/proxy/upstream.h"
#include "http/router.h"
#include "http/stream.h"

namespace gw::http::proxy {

class Proxy;
class UpstreamQueue;

class Session final : public StreamHandler {
  public:
    explicit Session(Proxy& proxy);
    ~Session();

    // Sessions are pooled per worker (Proxy::acquire_session): a stream holds one only while
    // its proxied request is in flight. The request and its body come through the stream.
    void start(Stream& stream, int route_index, const RouteMatchResult& match);
    void on_upstream_io(uint32_t events);
    void on_body_input() override;      // new bytes in the client's body buffer
    void on_output_drained() override;  // the client's output was written out
    void on_client_eof() override;      // the client closed its side
    void on_abort() override { abort(); }
    void abort();                       // the client is going away: drop everything
    // Draining: ends an upgraded tunnel now, as if a side had closed (buffered bytes are still
    // delivered, the request is logged). False when this session is not a tunnel.
    bool close_tunnel() override;

    // protocol: h2c | h2 (session_h2.cc): the events of this session's stream, from its H2Conn.
    void h2_ready();                                       // the connection is up: submit
    void h2_lost(ErrorKind kind, const char* what, int err);  // the connection failed or closed
    void h2_field(std::string_view name, std::string_view value);
    void h2_headers_end(bool end_stream);
    void h2_data(std::string_view data);
    void h2_end();                                         // END_STREAM after the response
    void h2_closed(uint32_t error_code);                   // reset (or refused) before its end
    ssize_t h2_read_body(char* buf, size_t len, uint32_t* flags);  // request body for DATA

  private:
    friend class UpstreamQueue;  // links waiting sessions, starts them (resume_from_queue)
    // Queued: every server is at its max_conns; waiting in the upstream's queue.
    // Handshake: connected, TLS handshake with the server under way (on the connect timer).
    enum class State : uint8_t { Idle, Queued, Connecting, Handshake, Sending, Waiting, Body, Tunnel };

    void attempt();
    void start_attempt();   // with server_ picked (and its slot taken)
    bool pick_server();
    void wait_for_slot();   // every usable server is full: queue, or 503
    bool resume_from_queue();  // a slot may be free: false when still none
    void leave_queue();
    void reject_busy(bool queue_timeout);
    void release_slot();    // the attempt no longer counts in server_'s requests in flight
    void connected();        // ready to send (and TLS established, with TLS)
    void start_tls();        // a new connection to a TLS upstream is up: handshake
    void drive_handshake();  // State::Handshake: on until done (then connected()) or failed
    void on_tls_io();        // on_upstream_io() of a connection with TLS
    void send();
    void read_upstream();
    template <bool kTls>
    void read_upstream_from();
    void handle_head();
    bool begin_response();  // the final response head in resp_: to the client (false: handled otherwise)
    [[gnu::always_inline]] inline bool start_response();  // its body, inlined on the HTTP/1 path
    void h2_start();        // start_attempt() for an HTTP/2 upstream
    void h2_detach();       // the stream is left (reset if still open)
    void h2_send();         // more request body for the stream
    void h2_flow();         // client output taken: give the stream's window back, or pause
    void observe(std::string_view data, bool end);
    void pump_body();
    void transform(std::string_view data, bool last);
    void pump_tunnel();
    void end_tunnel();
    void complete(bool upstream_reusable);
    void fail(ErrorKind kind, int status, const char* what, int err);
    bool can_retry() const;
    void retry();
    void drop_upstream();
    bool intercepted();  // intercept_errors took the response (answered with the error page)
    void answer_stored();  // a filter answered with a stored response instead (offer_replacement)
    void respond_error(int status, const char* message, std::string_view headers = {});
    void breaker_outcome(bool failure);  // the attempt's verdict, for the server's breaker
    void breaker_release();              // the attempt ended with no verdict
    void arm(event::Millis ms);
    void on_timeout();
    bool validate_body();
    void drop_request_trailers();
    size_t send_end() const;
    void make_room();
    void log_error(const char* what, int err);
    void note_attempt(int status);  // this attempt's outcome, for the access log (upstream_*)
    // A traced request (Stream::trace()): its traceparent; sampled, the span of each attempt.
    void trace_start(const TraceContext& t);
    void trace_attempt();
    void trace_failed(ErrorKind kind);
    uint64_t upstream_micros() const;
    // The request's value of `key` (balance: hash, split_by); empty when it has none.
    std::string_view request_key(const HashKey& key) const;

    Stream* stream_ = nullptr;
    StreamIo* io_ = nullptr;
    Proxy& proxy_;
    State state_ = State::Idle;
    uint32_t epoch_ = 0;         // changes whenever the session finishes or restarts: callers
                                 // that see it change must return at once
    event::Timer timer_;

    // The request.
    int route_ = -1;
    int upstream_ = -1;
    bool idempotent_ = true;
    bool upgrade_ = false;       // a WebSocket upgrade request
    bool replayable_ = true;
    uint32_t attempts_ = 0;      // counted attempts made (the first included)
    bool free_retry_used_ = false;
    bool continue_sent_ = false;
    uint64_t tried_ = 0;         // bit i: server i of upstream_ already tried (first 64 servers)
    size_t breaker_blocked_ = 0; // servers the last pick skipped because of their breaker
    size_t health_blocked_ = 0;  // servers skipped as down in the last pick
    size_t full_blocked_ = 0;    // servers skipped at their max_conns in the last pick
    bool counted_ = false;       // this attempt counts in server_->active_requests (its slot)
    bool queued_ = false;        // in the upstream's queue (UpstreamQueue links these two)
    Session* queue_prev_ = nullptr;
    Session* queue_next_ = nullptr;
    bool panic_ = false;         // every server was down: route to all (all_down: route_to_all)
    breaker::Ticket ticket_;     // the breaker's admission of the current attempt, until its verdict
    uint64_t hash_ = 0;          // balance: hash key of this request
    std::vector<uint8_t> usable_;
    std::string target_;
    std::string head_;           // upstream request head
    size_t head_sent_ = 0;
    char request_id_[128];
    size_t request_id_len_ = 0;
    char traceparent_[55];
    // Sampled: where the attempt's span id goes in head_ (kTraceLocate: to be found at the first
    // attempt); 0: not traced.
    static constexpr uint32_t kTraceLocate = 1;
    uint32_t trace_at_ = 0;
    // Body bytes live in the stream's body buffer (offsets from its first byte) up to:
    size_t valid_end_ = 0;       // end of the body bytes validated so far
    size_t sent_end_ = 0;        // end of the body bytes written upstream in this attempt
    bool body_complete_ = false; // every body byte has been validated (the request's end is known)
    uint64_t cl_left_ = 0;       // Content-Length bytes not yet validated
    ChunkedDecoder chunked_;
    bool h2_mode_ = false;       // the upstream speaks HTTP/2: the body buffer holds the body
                                 // unframed (a chunked body's framing is cut as it is validated)

    // The upstream side.
    UpstreamConn* up_ = nullptr;
    ServerRuntime* server_ = nullptr;
    bool reused_ = false;        // the connection came from the pool
    bool got_bytes_ = false;     // any response byte arrived in this attempt
    bool response_started_ = false;  // bytes of the final response went to the client
    bool paused_ = false;        // upstream reads paused: the client's output is full
    uint32_t interim_count_ = 0; // 1xx responses received for this request
    size_t interim_bytes_ = 0;   // ...and the bytes of their heads
    size_t resp_trailer_bytes_ = 0;  // of the response's trailer section, seen so far (dropped)
    Response resp_;
    ChunkedDecoder resp_chunked_;
    uint64_t resp_left_ = 0;
    bool dechunk_ = false;       // HTTP/1.0 client (or body filters): strip the chunked framing
    bool transform_ = false;     // the body goes through the stream's body filters
    bool chunk_out_ = false;     // ...and is framed chunked anew for the client
    bool observe_ = false;       // body filters only read the body (it goes out as it came)
    std::string filtered_;       // what the body filters made of the last piece
    bool client_keep_alive_ = true;
    int status_ = 0;
    uint64_t body_bytes_ = 0;
    struct timespec sent_at_ {};

    // HTTP/2 upstream stream (h2_mode_).
    class H2Conn* h2_ = nullptr;
    int32_t h2_id_ = -1;
    int h2_status_ = 0;
    bool h2_final_ = false;      // the final response head arrived
    bool h2_refused_ = false;    // the stream was refused (never processed): retried for free
    bool h2_deferred_ = false;   // nghttp2 waits for more request body
    bool h2_frame_ = false;      // the client gets the body chunked (no content-length)
    bool h2_too_big_ = false;
    size_t h2_unconsumed_ = 0;   // DATA bytes not yet given back to the stream's window
    std::string h2_lines_;       // fields of the head (then trailers) being received
    std::string h2_head_;        // the HTTP/1 head resp_ points into
};

}  // namespace gw::http::proxy
