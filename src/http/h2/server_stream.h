// One HTTP/2 stream of a client connection: the StreamIo its request's handler (the proxy, a
// local answer) talks to, exactly as to an HTTP/1.1 connection.
//
// Request: the fields nghttp2 decoded are copied into the stream's own storage and the
// Request's views point there (the "host" field made from :authority, cookie crumbs joined, RFC
// 9113 8.3.1 and 8.2.3). Its body (DATA) is kept in a buffer the handler reads through
// body_data(): as it came when the request has a Content-Length, else framed chunked here, one
// chunk per read from the socket, so that the proxy forwards it to an HTTP/1.1 upstream as it
// does any chunked body. The client's window is opened again (WINDOW_UPDATE) only as the
// handler takes bytes: a stream buffers at most about two windows.
//
// Response: the handler writes HTTP/1.1 bytes to output(); the stream turns the head into
// HEADERS (response_head.h) and the body, unframed, into DATA that nghttp2 takes as the
// client's window allows; a chunked body's trailer section becomes trailing HEADERS. The
// proxy gives its final heads as fields instead (ResponseFieldSink): nothing to split.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "http/h2/response_head.h"
#include "http/parser.h"
#include "http/stream.h"

namespace gw::http {
class Server;
}

namespace gw::http::h2 {

class ServerSession;

class ServerStream final : public StreamIo, public ResponseFieldSink {
  public:
    ServerStream() = default;
    ServerStream(const ServerStream&) = delete;
    ServerStream& operator=(const ServerStream&) = delete;

    // A new stream `id` of `session`: takes a Stream and a Request from the worker's pools.
    void open(ServerSession& session, int32_t id);
    int32_t id() const { return id_; }

    // ---- Called by the session while nghttp2 decodes the client's frames.
    // One request field; false: the header block is over a limit (the session says which).
    enum class FieldResult : uint8_t { Ok, TooMany, TooLarge };
    FieldResult add_field(std::string_view name, std::string_view value);
    // The request's header block is complete; `end_stream`: it has no body.
    void headers_done(bool end_stream);
    // Request body bytes; false when nobody wants them (the session opens the window at once).
    bool add_body(const uint8_t* data, size_t n);
    void body_done();  // END_STREAM (on DATA or trailers)
    // After the session's read: chunk framing closed, the handler told of new bytes.
    void input_settled();
    // The request is ready to run (after the read that completed its head).
    void start();
    // nghttp2 closed the stream (sent and received END_STREAM, or a reset either way). False
    // while its exchange still finishes (the stream is released when it does).
    bool closed(uint32_t error_code);
    bool is_closed() const { return closed_; }
    bool started() const { return started_ || reset_; }
    // The frame that ended our side was sent; resets the stream when the client has not
    // finished its request (RFC 9113 8.1: the answer came before the body was read).
    void response_sent();
    // nghttp2's data source read callback.
    ssize_t read_data(uint8_t* buf, size_t length, uint32_t* flags);
    // After frames went out: a handler that waited for room is told (on_output_drained).
    void notify_drained();
    bool wants_drain_notice() const { return drain_notice_; }
    bool request_complete() const { return body_ended_; }
    // The connection is going away: the handler drops everything, the exchange ends unlogged.
    void abort();
    // Gives the stream's buffers back (before it returns to the pool).
    void release();

    // ---- StreamIo.
    char* body_data() override { return body_.data(); }
    size_t body_size() const override { return body_.size(); }
    size_t body_capacity() const override;
    void body_erase(size_t offset, size_t n) override;
    void resume_reading() override;
    std::string& output() override { return out_; }
    void flush() override;
    void write_through(std::string_view data) override;
    size_t pending_output() const override { return out_.size() + data_.size() - data_off_; }
    bool is_open() const override { return !reset_ && !closed_; }
    bool want_keep_alive() const override { return true; }
    void close() override;
    void stream_done(int status, uint64_t body_bytes, bool keep_alive, size_t next_request,
                     uint64_t upstream_micros) override;
    void stream_error(int status, std::string_view message, std::string_view headers, size_t next_request) override;
    void stream_cut(int status, uint64_t body_bytes) override;
    void stream_answer(size_t next_request) override;
    void stream_resumed() override;
    const Transport* transport() const override;
    bool forwards_trailers() const override { return true; }
    ResponseFieldSink* field_sink() override;

    // ---- ResponseFieldSink: the proxy's final head as fields (no HTTP/1 bytes to split).
    void head_status(int status) override;
    void head_field(std::string_view name, std::string_view value) override;
    void head_lines(std::string_view lines) override;
    uint64_t head_end(bool chunked) override;

  private:
    void run();                 // routing, filters, then the handler or a local answer
    bool admit();
    void answer_local();
    void answer_reply();
    void respond_error(int status, std::string_view message);
    void respond(int status, std::string_view headers, std::string_view body, bool own_answer);
    void finish(int status, uint64_t body_bytes);  // the exchange is over: log, count, release
    void release_handler();
    void translate();           // out_ (HTTP/1 bytes) -> HEADERS, DATA, trailers
    void submit_head(std::string_view head);
    void submit_fields(int status, ResponseBody framing, uint64_t length);
    void count_grpc_status();
    void reset(uint32_t error_code);
    void open_window();         // WINDOW_UPDATE for what the handler took
    void close_chunk();
    void notify_handler();
    Server& server() const;

    ServerSession* session_ = nullptr;
    int32_t id_ = 0;
    Stream* stream_ = nullptr;  // while the exchange runs
    bool exchange_running_ = false;
    bool started_ = false;
    bool head_done_ = false;    // the request's header block is complete (what follows: trailers)
    bool closed_ = false;
    bool reset_ = false;        // we reset it (RST_STREAM sent or queued)
    bool body_ended_ = false;   // the client sent END_STREAM
    bool body_wanted_ = true;   // a handler will read the body
    bool chunked_in_ = false;   // the body is framed chunked here (no Content-Length)
    bool chunk_open_ = false;   // a chunk's size is not written yet
    bool new_input_ = false;
    bool drain_notice_ = false;
    bool head_request_ = false;
    bool has_length_ = false;
    uint64_t content_length_ = 0;
    std::string_view authority_;
    uint32_t field_count_ = 0;
    uint32_t field_bytes_ = 0;
    std::string fields_;        // the request's field bytes (the Request's views point here)
    std::string cookie_;        // crumbs joined
    size_t cookie_crumbs_ = 0;

    std::string body_;
    size_t body_cap_ = 0;
    size_t chunk_at_ = 0;       // where the open chunk's size goes
    uint64_t unacked_ = 0;      // DATA bytes received and not yet given back to the window

    // The response.
    enum class Out : uint8_t { Head, Length, Chunked, UntilEnd, Done };
    Out out_state_ = Out::Head;
    std::string out_;           // the handler's HTTP/1 bytes not yet translated
    std::string data_;          // body bytes for DATA frames
    size_t data_off_ = 0;
    uint64_t out_left_ = 0;     // Out::Length
    ChunkedDecoder dechunk_;    // Out::Chunked
    size_t trailer_seen_ = 0;
    std::string trailer_raw_;
    bool submitted_ = false;    // the final HEADERS was submitted
    bool data_eof_ = false;     // the body's end is in data_
    bool deferred_ = false;     // nghttp2 waits for data (resume_data)
    bool cut_ = false;          // reset after the buffered bytes (stream_cut)
    bool end_sent_ = false;     // our END_STREAM went out
    bool lingering_ = false;    // closed by nghttp2 while the exchange finishes
    bool answer_at_end_ = false;  // a local answer waits for the request's end
    bool answer_ready_ = false;   // ...which came in this read
    FieldList fields_out_;
    HeadBuilder head_{fields_out_};
    bool head_bad_ = false;     // a field the builder refused (the stream is reset)
};

// Streams are pooled per worker (their buffers stay grown).
ServerStream* acquire_stream();
void release_stream(ServerStream* s);

}  // namespace gw::http::h2
