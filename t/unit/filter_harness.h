// An in-process harness for filters: a real Stream and FilterChain over a fake codec, no
// sockets. A test sets the request (a real head, parsed by the real parser), the client address,
// the listener and the route, runs the chain, and looks at what came out: the status the chain
// ended with, a local reply, the response header lines, and whether (and how often) a paused
// chain was resumed. end() ends the stream as a codec does (on_destroy for every filter that ran).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/net/ip.h"
#include "http/filter.h"
#include "http/parser.h"
#include "http/request_id.h"
#include "http/stream.h"

namespace gw::test {

// The codec side: counts what the stream tells it.
class FakeStreamIo final : public http::StreamIo {
  public:
    char* body_data() override { return body.data(); }
    size_t body_size() const override { return body.size(); }
    size_t body_capacity() const override { return body.capacity(); }
    void body_erase(size_t offset, size_t n) override { body.erase(offset, n); }
    void resume_reading() override {}
    std::string& output() override { return out; }
    void flush() override {}
    void write_through(std::string_view data) override { out.append(data); }
    size_t pending_output() const override { return out.size(); }
    bool is_open() const override { return true; }
    bool want_keep_alive() const override { return true; }
    void close() override {}
    void stream_done(int, uint64_t, bool, size_t, uint64_t) override {}
    void stream_error(int, std::string_view, std::string_view, size_t) override {}
    void stream_cut(int, uint64_t) override {}
    void stream_answer(size_t) override { ++answered; }
    void stream_resumed() override { ++resumed; }

    std::string body;
    std::string out;
    int answered = 0;  // stream_answer() calls
    int resumed = 0;  // stream_resumed() calls: a paused chain went on, or answered
};

class FilterHarness {
  public:
    FilterHarness() : ids_(42) {
        stream_.request_storage = std::make_unique<http::Request>();
        set_request("GET / HTTP/1.1\r\nHost: example.test\r\n\r\n");
        set_client("192.0.2.10");
    }
    ~FilterHarness() { end(); }

    // A whole request head ("GET /x HTTP/1.1\r\nHost: ...\r\n\r\n"); false if it does not parse.
    bool set_request(std::string head) {
        head_ = std::move(head);
        http::ParseError err;
        http::ParserLimits limits;
        return http::parse_request_head(head_, limits, stream_.request(), err) == http::ParseResult::Complete;
    }
    // The client as real_ip decided it ("10.1.2.3", "2001:db8::1"), and its port (0: unknown).
    bool set_client(std::string_view ip, uint16_t port = 0) {
        net::IpAddress a;
        if (!net::parse_ip(ip, a)) return false;
        client_len_ = net::format_ip(a, client_);
        stream_.set_client(a, client_, client_len_, "198.51.100.1", port);
        return true;
    }
    void set_listener(size_t index) { listener_ = index; }
    void set_route(int index) { route_ = index; }

    // Starts a request on the stream (as the codec does once a head is read) and runs the chain.
    http::FilterStatus run(const http::FilterChain& chain) {
        end();
        stream_.begin(&io_, listener_);
        stream_.match().route = route_;
        stream_.mark_start();
        stream_.set_request_id({}, ids_);
        started_ = true;
        return stream_.run_request_filters(&chain);
    }
    // Ends the request: on_destroy for every filter that ran. Idempotent.
    void end() {
        if (started_) stream_.end();
        started_ = false;
    }

    http::Stream& stream() { return stream_; }
    FakeStreamIo& io() { return io_; }
    int resumed() const { return io_.resumed; }
    bool paused() const { return stream_.paused(); }
    int reply_status() const { return stream_.reply_status(); }
    std::string reply_body() const { return std::string(stream_.reply_body()); }
    std::string reply_content_type() const { return std::string(stream_.reply_content_type()); }
    std::string response_headers(int status) { return std::string(stream_.response_head_lines(status)); }

  private:
    http::Stream stream_;
    FakeStreamIo io_;
    http::IdGenerator ids_;
    std::string head_;
    char client_[net::kIpTextSize] = {};
    size_t client_len_ = 0;
    size_t listener_ = 0;
    int route_ = 0;
    bool started_ = false;
};

}  // namespace gw::test
