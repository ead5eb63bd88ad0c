// The HTTP/1.1 codec of one client connection: reads requests (pipelined ones too) into its
// input buffer, hands each to a Stream (taken from the worker's pool for the request's time),
// runs the route's filters, hands the stream to its terminal handler (the proxy, or a local
// answer), writes the answers in order, keeps the connection alive between requests, and closes
// it politely (lingering close, so an error response is not destroyed by a TCP reset while the
// client is still sending).
//
// Between requests the connection holds only this object: its input and output buffers and its
// stream go back to the worker's pools.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/net/ip.h"
#include "event/loop.h"
#include "http/parser.h"
#include "http/stream.h"

namespace gw {
struct ListenerConfig;
}

namespace gw::http {

namespace h2 {
class ServerSession;
}

class Server;
class Transport;
class TransportFactory;
struct RouteRuntime;

class Connection final : public event::IoHandler, public StreamIo {
  public:
    explicit Connection(Server& server);
    ~Connection();

    void open(int fd, const ListenerConfig* listener, size_t listener_index, const sockaddr_storage& peer);
    void on_io(uint32_t events) override;
    void close() override;
    bool is_open() const override { return fd_ >= 0; }
    // For a retiring worker: closes the connection now if nothing is lost by it — it is idle
    // between requests, or it is an upgraded tunnel (ended cleanly: buffered bytes delivered,
    // then FIN). A connection in the middle of a request is left to finish. True if closed.
    bool close_if_idle();
    // Ends an upgraded tunnel cleanly (see close_if_idle); true if this connection was one.
    bool close_tunnel();

    // StreamIo: for the current stream's terminal handler and filters.
    char* body_data() override { return in_.get() + body_pos_; }
    size_t body_size() const override { return in_len_ - body_pos_; }
    size_t body_capacity() const override;
    void body_erase(size_t offset, size_t n) override;
    void resume_reading() override;
    std::string& output() override { return *out_; }
    void flush() override;
    void write_through(std::string_view data) override;
    size_t pending_output() const override { return out_ ? out_->size() - out_off_ : 0; }
    bool want_keep_alive() const override;
    void stream_done(int status, uint64_t body_bytes, bool keep_alive, size_t next_request,
                     uint64_t upstream_micros) override;
    void stream_error(int status, std::string_view message, std::string_view headers,
                      size_t next_request) override;
    void stream_cut(int status, uint64_t body_bytes) override;
    void stream_answer(size_t next_request) override;
    void stream_resumed() override;
    const Transport* transport() const override { return transport_; }
    // Reads what the transport (TLS) holds already and no event will announce (Server::kick).
    void read_buffered_input();
    // The worker drains (a reload, a stop): an HTTP/2 connection starts its graceful GOAWAY.
    void on_drain();

    // For the HTTP/2 streams (h2/): the client as this connection knows it (the TCP peer, a
    // PROXY header's source, or a trusted forwarding header of the stream's request).
    void fill_client(Stream& s) const;
    const char* peer_text() const { return peer_; }
    // Writes what the HTTP/2 session has ready (re-entered calls return at once).
    void h2_send();
    // The same, asked by a stream (ServerSession::want_write): from the loop, soon (a 0 ms timer).
    // What the streams write during one loop iteration goes out in one write, and a connection
    // that must close (a failed write) never closes under the stream and session that asked.
    void h2_stream_send();

  private:
    // ProxyHeader: on a `proxy_protocol` listener, before the PROXY header is read.
    // Filters: the request's head is read and a filter waits (the body is buffered meanwhile).
    // Body: a local answer's request body is read and discarded.
    // Handler: the stream's terminal handler (the proxy) drives the connection.
    // Handshake: on a listener with a transport (TLS), until its handshake is done.
    // H2: the connection speaks HTTP/2 (ALPN h2, or the h2c preface): h2_ drives it.
    enum class Phase : uint8_t { Head, Filters, Body, Handler, Lingering, ProxyHeader, Handshake, H2 };

    void on_readable();
    void process();
    void after_process();
    bool read_proxy_header();    // false: wait for more bytes, or the connection was closed
    void start_handshake();
    void continue_handshake();
    // The socket's bytes, or the transport's: read(2) and writev(2) semantics.
    ssize_t receive(char* buf, size_t len);
    ssize_t send_iov(const struct iovec* iov, int count);

    bool read_head();            // false: wait for more bytes or stop processing
    bool admit();                // the rest of read_head(), once the filters let the request on
    bool answer_reply();         // a filter answered: send its reply
    void respond_stored(RouteRuntime& route);  // ...a stored response (Stream::reply_stored)
    void read_while_paused(uint32_t events);
    bool read_body();
    void dispatch();
    // Writes a whole response. An error status (>= 400) takes the configured error page for the
    // stream's route when there is one (error_pages), unless `own_answer` (a `return:` route's
    // own status, the admin endpoints).
    void respond(int status, std::string_view fixed_headers, std::string_view body, RouteRuntime& route,
                 bool own_answer = false);
    void respond_error(int status, std::string_view message);
    bool normalize_path();         // false: answered 400
    bool answer_special_method();  // OPTIONS *, TRACE, CONNECT; true: answered here
    // A local answer to a request whose head was read; a body, if any, is left unread (and the
    // connection closes after the answer).
    void respond_local(int status, std::string_view headers, std::string_view body);
    void finish_request(RouteRuntime& route, int status, uint64_t body_bytes);
    void after_flush();
    void update_events();
    void start_lingering_close();
    void arm_timer();
    void on_timeout();
    void set_events(uint32_t events);
    void start_handler();
    void release_handler();
    void compact();
    void ensure_buffers();
    void release_idle_buffers();
    void consume_body_bytes(size_t n);
    void end_stream();
    bool keep_alive_allowed(bool client_wants) const;
    // HTTP/2 (h2/server_session.h): entered with the bytes in_[from, in_len_) already read.
    bool h2c_preface(std::string_view buf);  // true: the preface came (or may be coming)
    static bool speaks_http1(std::string_view buf);
    void enter_h2(size_t from);
    void h2_on_io(uint32_t events);
    void h2_read();
    bool h2_write();  // false: the connection closed
    void h2_update_events();
    void h2_arm_timer();
    void h2_timeout();

    Server& server_;
    int fd_ = -1;
    TransportFactory* transport_factory_ = nullptr;
    Transport* transport_ = nullptr;  // null: the socket itself (plain HTTP)
    const ListenerConfig* listener_ = nullptr;
    uint32_t listener_index_ = 0;
    Phase phase_ = Phase::Head;
    bool peer_trusted_ = false;      // real_ip trusts the TCP peer (one check, at accept)
    bool forwarded_trusted_ = false; // ...and takes the client from a request header
    bool reading_paused_ = false;
    bool head_timer_armed_ = false;
    bool keep_alive_ = true;         // of the response being built
    bool close_after_write_ = false;
    bool may_still_send_ = false;    // the client may be sending: linger before closing
    bool write_blocked_ = false;
    bool head_parsed_ = false;       // the stream holds this request's head
    bool kick_pending_ = false;      // Server::kick() will call read_buffered_input()
    uint8_t peer_len_ = 0;
    uint16_t client_port_ = 0;       // the TCP peer's port, or the PROXY header's source port
    uint32_t requests_ = 0;
    uint32_t events_ = 0;

    // The client, once per connection: the socket's peer, or a PROXY header's source. A
    // forwarding header (real_ip) may name another per request: that goes to the stream.
    net::IpAddress client_ip_;
    net::IpAddress socket_ip_;
    char peer_[net::kIpTextSize] = {};
    char socket_peer_[net::kIpTextSize] = {};  // the TCP peer itself

    // Input: taken from the worker's pool with the first bytes, given back when idle.
    std::unique_ptr<char[]> in_;
    uint32_t in_len_ = 0;   // bytes in in_
    uint32_t in_pos_ = 0;   // start of the request being read
    uint32_t body_pos_ = 0; // start of unread body bytes (after the current head)
    uint64_t body_left_ = 0;  // Phase::Body, Content-Length: bytes still to discard

    Stream* stream_ = nullptr;  // the current request's, from the worker's pool
    std::unique_ptr<h2::ServerSession> h2_;  // Phase::H2
    bool h2_sending_ = false;
    // What streams write during one loop iteration goes out in one write, from this timer
    // (0 ms): a response's HEADERS and DATA together, many streams' frames at once.
    event::Timer h2_send_timer_;

    std::unique_ptr<std::string> out_;  // from the worker's pool while a request is in progress
    size_t out_off_ = 0;

    event::Timer timer_;
};

}  // namespace gw::http
