// One request/response exchange: the request head, access to its body, the route it matched,
// the filters' state, the response's extra header lines and what its log line needs. A codec
// (HTTP/1 today: http::Connection; HTTP/2 later, many per connection) takes a Stream from the
// worker's pool when a request starts and gives it back when the exchange is over, so an idle
// connection holds none.
//
// The terminal handler of a stream (the proxy session, or a `return:` route answered by the
// codec) reads the request body and writes the response through the Stream's StreamIo - the
// codec's interface - and never touches the codec's buffers directly.
#pragma once

#include <time.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/net/ip.h"
#include "http/access_log.h"
#include "http/filter.h"
#include "http/identity.h"
#include "http/parser.h"
#include "http/request_id.h"
#include "http/router.h"
#include "http/response_fields.h"
#include "http/trace_context.h"

namespace gw::http {

class Transport;

struct RouteRuntime;

// What a stream's terminal handler needs from the codec that carries the stream.
class StreamIo {
  public:
    // The request body as the codec buffered it (still framed, e.g. chunked), from the body's
    // first byte: body_data()[0, body_size()), in a buffer with body_capacity() bytes of room
    // from the same start. body_erase() drops bytes (the rest moves down).
    virtual char* body_data() = 0;
    virtual size_t body_size() const = 0;
    virtual size_t body_capacity() const = 0;
    virtual void body_erase(size_t offset, size_t n) = 0;
    virtual void resume_reading() = 0;  // the handler made room in the body buffer

    // The response. output() takes a head (HTTP/1 bytes); flush() writes what waits;
    // write_through() writes pending output and then `data` in one call, buffering the rest.
    virtual std::string& output() = 0;
    virtual void flush() = 0;
    virtual void write_through(std::string_view data) = 0;
    virtual size_t pending_output() const = 0;
    virtual bool is_open() const = 0;
    virtual bool want_keep_alive() const = 0;
    virtual void close() = 0;

    // The handler's ends. Offsets (`next_request`) count from the body's first byte;
    // kRequestUnread: part of the request was not read (the connection cannot be reused).
    static constexpr size_t kRequestUnread = static_cast<size_t>(-1);
    virtual void stream_done(int status, uint64_t body_bytes, bool keep_alive, size_t next_request,
                             uint64_t upstream_micros) = 0;
    virtual void stream_error(int status, std::string_view message, std::string_view headers,
                              size_t next_request) = 0;
    virtual void stream_cut(int status, uint64_t body_bytes) = 0;  // deliver what is buffered, then close
    // The handler gives the stream back before any response was sent: answer it with the
    // stream's reply (a stored response a filter set: Stream::offer_replacement).
    virtual void stream_answer(size_t next_request) = 0;

    // The filter chain, paused, was resumed (the request goes on) or answered.
    virtual void stream_resumed() = 0;

    // What carries the connection's bytes (TLS), or null: the socket itself.
    virtual const Transport* transport() const { return nullptr; }
    // The codec takes a final response head as fields (HTTP/2), or null: HTTP/1 bytes in
    // output(). Asked for each head; null too when output() still holds bytes to send first.
    virtual ResponseFieldSink* field_sink() { return nullptr; }
    // The client takes a chunked response's trailer fields (an HTTP/2 stream: gRPC's
    // grpc-status); HTTP/1.1 clients do not get them (no field arrives after the head's checks).
    virtual bool forwards_trailers() const { return false; }

  protected:
    ~StreamIo() = default;
};

// The terminal handler's side, called by the codec.
class StreamHandler {
  public:
    virtual void on_body_input() = 0;      // new request body bytes were buffered
    virtual void on_output_drained() = 0;  // a blocked write finished
    virtual void on_client_eof() = 0;      // the client closed its side
    virtual void on_abort() = 0;           // the connection is closing: drop everything
    virtual bool close_tunnel() { return false; }

  protected:
    ~StreamHandler() = default;
};

class Stream {
  public:
    Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Set up by the codec for each request.
    void begin(StreamIo* io, size_t listener_index);  // its index in Config::listeners
    void end();  // runs on_destroy hooks; the stream may be reused (stale handles see a new serial)

    uint32_t serial() const { return serial_; }
    StreamIo& io() { return *io_; }
    Request& request() { return *request_storage; }
    const Request& request() const { return *request_storage; }
    // The request object: from the worker's pool while the codec has bytes of a request (a
    // request has a large header array; a stream without one is small).
    std::unique_ptr<Request> request_storage;
    size_t listener_index() const { return listener_index_; }

    // The client, as real_ip decided (the TCP peer, a PROXY header's source, or a forwarding
    // header's client), in binary and as text; and the TCP peer itself (the hop).
    const net::IpAddress& client_ip() const { return client_ip_; }
    std::string_view client_address() const { return {client_ptr_, client_len_}; }  // NUL-terminated
    std::string_view peer_address() const { return peer_text_; }
    bool client_from_header() const { return client_from_header_; }
    // `text` (NUL-terminated, `len` bytes) and `peer_text` stay the codec's: they must outlive the
    // request. `port`: the TCP peer's, or the PROXY header's source port (0: unknown).
    void set_client(const net::IpAddress& ip, const char* text, size_t len, const char* peer_text, uint16_t port) {
        client_ip_ = ip;
        client_port_ = port;
        client_ptr_ = text;
        client_len_ = static_cast<uint8_t>(len);
        peer_text_ = peer_text;
        client_from_header_ = false;
    }
    void set_client_text(const net::IpAddress& ip);  // a forwarding header's client: formatted here
    // The client's port; 0 when unknown (a client named by a forwarding header).
    uint16_t client_port() const { return client_port_; }

    // Routing.
    const RouteMatchResult& match() const { return match_; }
    RouteMatchResult& match() { return match_; }
    int route_index() const { return match_.route; }
    RouteRuntime& route() { return *route_; }
    void set_route(RouteRuntime* r) { route_ = r; }

    // Timing: the monotonic time the head was read.
    const struct timespec& start() const { return start_; }
    uint64_t start_ns() const {
        return static_cast<uint64_t>(start_.tv_sec) * 1000000000 + static_cast<uint64_t>(start_.tv_nsec);
    }
    void mark_start();

    // The request's id (X-Request-Id): made once when its head is read, the same upstream, on
    // the response and in the log; and the "x-request-id: ID\r\n\r\n" line that ends every head
    // the gateway writes itself.
    void set_request_id(std::string_view incoming, IdGenerator& ids);
    std::string_view request_id() const { return {id_line_ + kIdPrefix, request_id_len_}; }
    std::string_view id_line() const { return {id_line_, kIdPrefix + request_id_len_ + 4u}; }

    UpstreamTrace& upstream_trace() { return upstream_trace_; }
    // The request's trace (the tracing module's, set by its filter, which clears it again in
    // its on_destroy); null: not traced.
    TraceContext* trace() const { return trace_; }
    void set_trace(TraceContext* t) { trace_ = t; }
    // A deadline for the upstream exchange on the worker loop's clock (a gRPC call's
    // grpc-timeout): the proxy's timeouts end no later; 0: none.
    void set_upstream_deadline(int64_t at_ms) { upstream_deadline_ = at_ms; }
    int64_t upstream_deadline() const { return upstream_deadline_; }
    uint64_t response_head_bytes = 0;  // the response head's size (for bytes_sent)
    // The normalised path's storage (the request's path points here when it was rewritten).
    std::string path_buf;
    // For a codec that reads a chunked body itself (a local answer's body is discarded).
    ChunkedDecoder chunked;

    // ---- Filters.
    // Runs the on_request hooks of `chain` from the start. Continue: every filter let the
    // request through; Done: one answered (reply_status() != 0); Pause: one waits, and the codec
    // hears stream_resumed() when it resumes or answers.
    FilterStatus run_request_filters(const FilterChain* chain);
    bool paused() const { return paused_; }
    ResumeHandle pause_handle() { return ResumeHandle(this, serial_); }
    // A local reply set by a filter (or by the codec): status, content type and body.
    void reply(int status, std::string_view content_type, std::string_view body);
    void reply_error(int status, std::string_view message);  // the usual JSON error body
    // A reply with header fields of its own ("name: value\r\n" lines, content-type among them
    // when the body has one): a stored response replayed. The codec frames it (content-length,
    // connection) and error pages leave it alone.
    void reply_with_headers(int status, std::string_view header_lines, std::string_view body);
    // A stored response as the reply (a cache's object): `head` is an HTTP/1.1 response head
    // (status line, fields, CRLF CRLF) with its body's Content-Length, `body` that body; both
    // stay the filter's and must stay valid until the stream ends. It is answered as a proxied
    // response is: the response hooks see it as the upstream's (ResponseHead::upstream()), body
    // filters transform it, the route's header changes apply; error pages leave it alone.
    void reply_stored(std::string_view head, std::string_view body);
    bool has_stored_reply() const { return !stored_head_.empty(); }
    std::string_view stored_head() const { return stored_head_; }
    std::string_view stored_body() const { return stored_body_; }
    // Runs the on_replace hooks (filter.h), nearest the upstream first: true when one answered
    // with reply_stored() instead of `status` (the upstream's response, or the gateway's error).
    bool offer_replacement(int status, const Response* upstream);
    std::string_view reply_header_lines() const { return reply_lines_; }
    int reply_status() const { return reply_status_; }
    std::string_view reply_content_type() const { return reply_type_; }
    std::string_view reply_body() const { return reply_body_; }
    // The header lines filters add to the response head with this status (empty without
    // filters); `upstream`: the upstream's response head, for a proxied response.
    std::string_view response_head_lines(int status, const Response* upstream = nullptr);
    // The upstream's fields the filters replaced on this response (ResponseHead::replace).
    std::span<const std::string_view> replaced_fields() const { return replaced_.span(); }
    // The names of the fields those lines may set (see Filter::response_field_names).
    std::span<const std::string_view> response_field_names() const {
        return chain_ ? chain_->response_field_names() : std::span<const std::string_view>();
    }
    // Fields filters set on the upstream request (an auth filter's claims, an authorizer's
    // copied fields), as "name: value\r\n" lines; CR, LF and NUL are dropped from values.
    // The client's fields of every name the chain declares (Filter::request_field_names)
    // never reach the upstream.
    void add_request_header(std::string_view name, std::string_view value);
    std::string_view request_header_lines() const { return request_lines_; }
    std::span<const std::string_view> request_field_names() const {
        return chain_ ? chain_->request_field_names() : std::span<const std::string_view>();
    }
    // Who the request is, once a filter authenticated it (src/http/identity.h); null before.
    const Identity* identity() const { return identity_; }
    void set_identity(const Identity* who) { identity_ = who; }
    void run_log_filters(AccessLogEntry& e);
    // While a filter is paused, the codec keeps reading the request (up to its input buffer's
    // end) and calls `fn(arg)` after each read: a filter that needs the whole body (to hash
    // it) waits for it this way, looking at io().body_data(). Cleared when the stream ends.
    void set_input_listener(void (*fn)(void*), void* arg) {
        input_listener_ = fn;
        input_listener_arg_ = arg;
    }
    void input_arrived() {
        if (input_listener_) input_listener_(input_listener_arg_);
    }
    // Response body filters (added in on_response_head) - none for most responses. A filter
    // that only reads the body (`transforms` false: a cache's or a record's copy) leaves its
    // framing and Content-Length alone: when no filter transforms, the body goes out as it came
    // and the readers see it through observe_body().
    void add_body_filter(Filter* f, bool transforms = true);
    // The upstream's response trailers, for a filter that asks (a gRPC-Web translation puts
    // them into the body): a chunked response's trailer section ("name: value\r\n" lines, then
    // CRLF), complete before the body filters' last call. Asked for in on_response_head.
    void want_response_trailers() { want_trailers_ = true; }
    bool wants_response_trailers() const { return want_trailers_; }
    std::string& response_trailers() { return trailers_; }
    bool has_body_filters() const { return body_filter_count_ != 0; }
    bool body_transformed() const { return body_transforms_ != 0; }
    // Passes `in` through the body filters into `out` (cleared first).
    void filter_body(std::string_view in, bool last, std::string& out);
    // The body as it goes out unchanged, to the reading filters (no filter transforms it).
    void observe_body(std::string_view data, bool last);

    // The terminal handler (the proxy session) while it runs.
    StreamHandler* handler = nullptr;

  private:
    friend class ResumeHandle;
    void resume_from_handle(uint32_t serial);
    void respond_from_handle(uint32_t serial, int status, std::string_view content_type, std::string_view body,
                             bool json_error);
    void answer_from_handle(uint32_t serial);
    FilterStatus continue_filters();
    void* ctx(size_t i) { return arena_ + chain_->entries()[i].ctx_offset; }

    static constexpr size_t kIdPrefix = 14;
    static constexpr size_t kMaxBodyFilters = 4;

    StreamIo* io_ = nullptr;
    size_t listener_index_ = 0;
    RouteRuntime* route_ = nullptr;
    uint32_t serial_ = 1;

    // Filter state.
    const FilterChain* chain_ = nullptr;
    uint8_t next_filter_ = 0;      // the chain runs from here (filters before it ran on_request)
    bool paused_ = false;
    bool running_ = false;         // inside run_request_filters / continue_filters
    bool resumed_inline_ = false;  // resume() came while the paused filter was still running
    uint8_t body_filter_count_ = 0;
    uint8_t body_filters_[kMaxBodyFilters] = {};
    uint8_t body_transforms_ = 0;  // a bit per body filter (by its place) that transforms
    std::string_view stored_head_, stored_body_;  // reply_stored()
    int reply_status_ = 0;
    std::string_view reply_type_;
    std::string reply_body_;
    std::string head_lines_;
    ResponseHead::Replaced replaced_;
    std::string body_scratch_;
    std::string observe_scratch_;  // what a reading body filter would write (nothing)
    std::string request_lines_;
    const Identity* identity_ = nullptr;

    std::string reply_lines_;  // reply_with_headers()
    // A paused filter waiting for more of the request body (set_input_listener).
    void (*input_listener_)(void*) = nullptr;
    void* input_listener_arg_ = nullptr;

    bool client_from_header_ = false;
    uint8_t client_len_ = 0;
    uint8_t request_id_len_ = 0;
    uint16_t client_port_ = 0;
    struct timespec start_ {};
    net::IpAddress client_ip_;
    const char* peer_text_ = "";
    const char* client_ptr_ = "";
    char client_text_[net::kIpTextSize] = {};  // a forwarding header's client
    char id_line_[kIdPrefix + kMaxRequestId + 4] = "x-request-id: ";
    RouteMatchResult match_;
    UpstreamTrace upstream_trace_;
    TraceContext* trace_ = nullptr;
    int64_t upstream_deadline_ = 0;
    bool want_trailers_ = false;
    std::string trailers_;
    alignas(std::max_align_t) unsigned char arena_[FilterChain::kArenaSize];
};

}  // namespace gw::http
