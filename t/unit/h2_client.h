// An HTTP/2 client for in-process tests of the downstream codec: nghttp2's own client session
// over a nonblocking loopback socket to a ServerHarness listener with `http2: prior_knowledge`,
// pumped from the harness's loop (run()), so the test, the gateway and the client share one
// thread. Also a backend that records whole requests (bodies read by Content-Length or chunked)
// and answers each with what the test's function writes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "server_harness.h"

namespace gw::test {

using H2Fields = std::vector<std::pair<std::string, std::string>>;

class H2Client {
  public:
    struct StreamState {
        int status = 0;
        H2Fields headers;
        H2Fields trailers;
        std::string body;
        bool closed = false;
        uint32_t error_code = 0;
        bool reset = false;  // RST_STREAM received
        std::string header(const std::string& name) const {
            for (auto& [n, v] : headers)
                if (n == name) return v;
            return {};
        }
    };

    // `window`: the client's SETTINGS_INITIAL_WINDOW_SIZE; `auto_window`: false for a client that
    // never sends WINDOW_UPDATE until open_windows().
    explicit H2Client(ServerHarness& h, uint32_t window = 65535, bool auto_window = true)
        : h_(h), auto_window_(auto_window) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(h.port()));
        (void)::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        nghttp2_session_callbacks* cb;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
        nghttp2_option* opt;
        nghttp2_option_new(&opt);
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_session_client_new2(&s_, cb, this, opt);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cb);
        nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window}, {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
        nghttp2_submit_settings(s_, NGHTTP2_FLAG_NONE, iv, 2);
    }
    ~H2Client() {
        nghttp2_session_del(s_);
        if (fd_ >= 0) ::close(fd_);
    }
    nghttp2_session* session() { return s_; }

    // A request; `body` is sent as DATA (with a content-length field when `with_length`), or no
    // DATA at all when `has_body` is false (END_STREAM on HEADERS).
    int32_t request(const std::string& method, const std::string& path, const H2Fields& extra = {},
                    const std::string* body = nullptr, bool with_length = true, const H2Fields& trailers = {}) {
        H2Fields f = {{":method", method}, {":scheme", "http"}, {":authority", "example.com"}, {":path", path}};
        if (body && with_length) f.emplace_back("content-length", std::to_string(body->size()));
        for (auto& e : extra) f.push_back(e);
        std::vector<nghttp2_nv> nv;
        for (auto& [n, v] : f)
            nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())), reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())),
                          n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
        nghttp2_data_provider prd{};
        if (body) {
            bodies_.push_back({*body, 0, trailers, {}});
            prd.source.ptr = &bodies_.back();
            prd.read_callback = read_body;
        }
        int32_t id = nghttp2_submit_request(s_, nullptr, nv.data(), nv.size(), body ? &prd : nullptr, nullptr);
        if (id > 0) {
            streams[id];
            if (body) body_of_[id] = &bodies_.back();
        }
        return id;
    }
    int32_t get(const std::string& path, const H2Fields& extra = {}) { return request("GET", path, extra); }

    // Sends what nghttp2 has and raw bytes queued by send_raw, reads what came. False once the
    // connection is closed (EOF or an error).
    bool pump() {
        for (;;) {
            const uint8_t* p;
            ssize_t n = nghttp2_session_mem_send(s_, &p);
            if (n <= 0) break;
            out_.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
        }
        while (!out_.empty() && !eof) {
            ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                if (n < 0 && errno != EAGAIN && errno != ENOTCONN) eof = true;
                break;
            }
            out_.erase(0, static_cast<size_t>(n));
        }
        char buf[65536];
        while (!eof) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                eof = true;
                break;
            }
            if (n < 0) break;
            received += static_cast<uint64_t>(n);
            if (nghttp2_session_mem_recv(s_, reinterpret_cast<uint8_t*>(buf), static_cast<size_t>(n)) < 0) eof = true;
        }
        return !eof;
    }
    // Runs the gateway's loop and the client until `done` (or `ms`).
    bool run(const std::function<bool()>& done, int ms = 5000) {
        return redis_test::run_until(h_.loop(), [&] {
            pump();
            return done();
        }, ms);
    }
    bool run_until_closed(int32_t id, int ms = 5000) {
        return run([&] { return streams[id].closed || eof; }, ms);
    }
    // Request body bytes nghttp2 took from the data provider so far (what the windows let out).
    size_t body_sent(int32_t id) { return body_of_.count(id) ? body_of_[id]->off : 0; }
    // The client vanishes: the socket is closed with a TCP reset (SO_LINGER 0), nothing sent.
    void reset_connection() {
        linger l{1, 0};
        setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(fd_);
        fd_ = -1;
        eof = true;
    }
    // Bytes written as they are (frames the library would not send).
    void send_raw(const std::string& bytes) { out_ += bytes; }
    // The client's windows open from now on, for what came and what comes.
    void open_windows() {
        auto_window_ = true;
        for (auto& [id, st] : streams)
            if (unconsumed_[id]) nghttp2_session_consume(s_, id, unconsumed_[id]), unconsumed_[id] = 0;
    }

    std::map<int32_t, StreamState> streams;
    bool goaway = false;
    uint32_t goaway_error = 0;
    bool eof = false;
    uint64_t received = 0;
    uint32_t rst_received = 0;

  private:
    struct Body {
        std::string data;
        size_t off;
        H2Fields trailers;
        std::vector<nghttp2_nv> nv;
    };
    static ssize_t read_body(nghttp2_session* s, int32_t id, uint8_t* buf, size_t len, uint32_t* flags, nghttp2_data_source* src, void*) {
        Body& b = *static_cast<Body*>(src->ptr);
        size_t n = std::min(len, b.data.size() - b.off);
        if (n) memcpy(buf, b.data.data() + b.off, n);
        b.off += n;
        if (b.off == b.data.size()) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (!b.trailers.empty()) {  // END_STREAM on trailing HEADERS
                for (auto& [tn, tv] : b.trailers)
                    b.nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(tn.data())),
                                    reinterpret_cast<uint8_t*>(const_cast<char*>(tv.data())), tn.size(), tv.size(),
                                    NGHTTP2_NV_FLAG_NONE});
                nghttp2_submit_trailer(s, id, b.nv.data(), b.nv.size());
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            }
        }
        return static_cast<ssize_t>(n);
    }
    static H2Client& me(void* u) { return *static_cast<H2Client*>(u); }
    static int on_header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v, size_t vl, uint8_t, void* u) {
        StreamState& st = me(u).streams[f->hd.stream_id];
        std::string name(reinterpret_cast<const char*>(n), nl), value(reinterpret_cast<const char*>(v), vl);
        if (f->headers.cat == NGHTTP2_HCAT_HEADERS && st.status >= 200) {
            st.trailers.emplace_back(name, value);
        } else if (name == ":status") {
            st.status = std::stoi(value);
            if (st.status >= 200) st.headers.clear();  // (an interim head's fields before it)
        } else {
            st.headers.emplace_back(name, value);
        }
        return 0;
    }
    static int on_data(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* d, size_t len, void* u) {
        H2Client& c = me(u);
        c.streams[id].body.append(reinterpret_cast<const char*>(d), len);
        if (c.auto_window_)
            nghttp2_session_consume(s, id, len);
        else
            c.unconsumed_[id] += len;
        return 0;
    }
    static int on_close(nghttp2_session*, int32_t id, uint32_t err, void* u) {
        StreamState& st = me(u).streams[id];
        st.closed = true;
        st.error_code = err;
        return 0;
    }
    static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
        H2Client& c = me(u);
        if (f->hd.type == NGHTTP2_GOAWAY) {
            c.goaway = true;
            c.goaway_error = f->goaway.error_code;
        } else if (f->hd.type == NGHTTP2_RST_STREAM) {
            c.streams[f->hd.stream_id].reset = true;
            ++c.rst_received;
        }
        return 0;
    }

    ServerHarness& h_;
    bool auto_window_;
    int fd_ = -1;
    nghttp2_session* s_ = nullptr;
    std::string out_;
    std::list<Body> bodies_;
    std::map<int32_t, size_t> unconsumed_;
    std::map<int32_t, Body*> body_of_;
};

// A backend on a thread of its own that reads whole requests (a body by Content-Length or
// chunked) and hands each, with the connection, to `answer` (which writes what it likes and
// returns false to close). Connections are served one after another.
class RecordingBackend {
  public:
    using Answer = std::function<bool(int fd, const std::string& request)>;
    explicit RecordingBackend(Answer answer) : answer_(std::move(answer)) {
        fd_ = listen_loopback(port_);
        thread_ = std::thread([this] { serve(); });
    }
    ~RecordingBackend() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    int port() const { return port_; }
    std::vector<std::string> requests() {
        std::lock_guard<std::mutex> l(mu_);
        return requests_;
    }
    std::atomic<uint64_t> written{0};   // by write_all
    std::atomic<int> peer_closed{0};    // connections whose peer closed while `answer` waited

    // Writes all of `data` (blocking), counting it; false when the peer is gone.
    bool write_all(int fd, std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            written += static_cast<uint64_t>(n);
            data.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }
    // Waits for the peer to close (true) or `ms` to pass.
    bool wait_close(int fd, int ms) {
        timeval tv{ms / 1000, (ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                ++peer_closed;
                return true;
            }
            if (n < 0) return false;
        }
    }

  private:
    void serve() {
        while (!stop_) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            std::string in;
            char buf[65536];
            bool open = true;
            while (open) {
                size_t head_end;
                while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
                    ssize_t n = ::read(c, buf, sizeof buf);
                    if (n <= 0) {
                        open = false;
                        break;
                    }
                    in.append(buf, static_cast<size_t>(n));
                }
                if (!open) break;
                std::string head = in.substr(0, head_end + 4);
                std::string lower;
                for (char ch : head) lower += static_cast<char>(tolower(static_cast<unsigned char>(ch)));
                size_t total = head.size();
                bool chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
                size_t cl = lower.find("content-length:");
                if (!chunked && cl != std::string::npos) total += std::stoul(lower.substr(cl + 15));
                for (;;) {
                    bool whole = chunked ? (in.size() >= head.size() + 5 &&
                                            (in.compare(head.size(), 5, "0\r\n\r\n") == 0 ||
                                             in.find("\r\n0\r\n\r\n", head.size()) != std::string::npos))
                                         : in.size() >= total;
                    if (whole) break;
                    ssize_t n = ::read(c, buf, sizeof buf);
                    if (n <= 0) {
                        open = false;
                        break;
                    }
                    in.append(buf, static_cast<size_t>(n));
                }
                if (!open) break;
                if (chunked) total = in.find("0\r\n\r\n", head.size()) == head.size() ? head.size() + 5
                                                                                      : in.find("\r\n0\r\n\r\n", head.size()) + 7;
                std::string req = in.substr(0, total);
                in.erase(0, total);
                {
                    std::lock_guard<std::mutex> l(mu_);
                    requests_.push_back(req);
                }
                open = answer_(c, req);
            }
            ::close(c);
        }
    }
    Answer answer_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<std::string> requests_;
    std::thread thread_;
};

// Decodes a chunked body (no trailers); what is not chunked framing comes back as "(bad)".
inline std::string dechunk(std::string_view s) {
    std::string out;
    for (;;) {
        size_t eol = s.find("\r\n");
        if (eol == std::string_view::npos) return "(bad)";
        size_t n = std::stoul(std::string(s.substr(0, eol)), nullptr, 16);
        s.remove_prefix(eol + 2);
        if (n == 0) return out;
        if (s.size() < n + 2) return "(bad)";
        out.append(s.substr(0, n));
        s.remove_prefix(n + 2);
    }
}

}  // namespace gw::test
