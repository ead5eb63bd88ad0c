// A client HTTP/2 connection to one upstream server (protocol: h2c, or h2 over the upstream's
// `tls:` with ALPN "h2"), carrying the streams of many Sessions: libnghttp2 does the framing,
// HPACK, SETTINGS/PING and the flow-control windows; this class owns the socket (through an
// UpstreamConn, which dispatches its events here), drives the session and routes each stream's
// events to the Session that opened it.
//
// The pool: every server keeps its connections (ServerRuntime::h2); acquire() hands out one with
// room for a stream (below max_streams_per_connection and the server's
// SETTINGS_MAX_CONCURRENT_STREAMS, no GOAWAY received), or opens a new one. A connection left
// without streams stays for keepalive_timeout (at most `keepalive` idle ones per upstream).
//
// Flow control: the connection window is given back as DATA arrives; a stream's window only
// when its Session has passed the bytes on to the client (consume()): a slow client holds at
// most one stream window of its response in memory.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "event/loop.h"
#include "http/proxy/upstream.h"

namespace gw::http::proxy {

class Proxy;
class Session;

class H2Conn {
  public:
    H2Conn(Proxy& proxy, ServerRuntime& server);
    ~H2Conn();
    H2Conn(const H2Conn&) = delete;
    H2Conn& operator=(const H2Conn&) = delete;

    // A connection of `server` with room for one more stream, opened when none has; null (errno
    // set) when a new connection could not even start.
    static H2Conn* acquire(Proxy& proxy, ServerRuntime& server);

    // The session's stream goes on this connection: at once (h2_ready() called before this
    // returns) when it is up, else when it is (or h2_lost() when it cannot be).
    void join(Session* s);
    // Submits the request of a joined session; its stream id (> 0), or < 0 (not submitted).
    int32_t submit(Session* s, const nghttp2_nv* nva, size_t n, bool body);
    // The session is done with its stream (or still waits for the connection): the stream is
    // reset (CANCEL) when it is still open, and its events go nowhere from now on.
    void leave(Session* s, int32_t id);
    void resume(int32_t id);                  // more request body to send
    void consume(int32_t id, size_t n);       // the client took n bytes of this stream's DATA
    void send();                              // writes what the session has to send
    // send() at the end of this loop iteration: the frames of the streams started, resumed or
    // reset meanwhile go out in one write.
    void send_soon();
    void on_io(uint32_t events);
    void close() { die(ErrorKind::Reset, "upstream connection closed by the gateway", 0); }

    bool used() const { return streams_started_ > 0; }  // a stream went on it before
    bool dead() const { return state_ == State::Dead; }
    bool busy() const { return depth_ > 0; }            // inside one of its own calls

  private:
    enum class State : uint8_t { Connecting, Handshake, Ready, Dead };

    bool open();
    bool has_room() const;
    void became_ready();
    void read();
    void die(ErrorKind kind, const char* what, int err);
    void check_idle();
    void mark_idle(bool idle);  // gateway_upstream_connections{state="idle"} or "active"
    Session* owner(int32_t id) const;
    Session* take(int32_t id);

    static nghttp2_session_callbacks* callbacks();
    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                         const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
    static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t id, const uint8_t* data, size_t len, void* user);
    static int on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user);
    static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user);
    static ssize_t read_body(nghttp2_session*, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                             nghttp2_data_source* src, void* user);

    Proxy& proxy_;
    ServerRuntime& server_;
    UpstreamConn* up_ = nullptr;
    nghttp2_session* session_ = nullptr;
    State state_ = State::Connecting;
    bool idle_ = false;            // counted as idle (no stream)
    bool goaway_ = false;          // no new streams (GOAWAY received, or stream ids used up)
    int depth_ = 0;
    bool in_lib_ = false;          // inside mem_recv/mem_send: send() later
    bool send_again_ = false;
    std::vector<Session*> waiters_;                     // joined before the connection was up
    std::vector<std::pair<int32_t, Session*>> streams_; // open streams with their session
    uint64_t streams_started_ = 0;
    std::string out_;              // frames not yet written
    size_t out_sent_ = 0;
    event::Timer timer_;           // connect (and handshake) timeout, then the idle timeout
    event::Timer flush_timer_;     // send_soon()
};

}  // namespace gw::http::proxy
