#include "http/proxy/h2_conn.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "core/log.h"
#include "http/h2/memory.h"
#include "http/proxy/proxy.h"
#include "http/proxy/session.h"

namespace gw::http::proxy {

namespace {

constexpr size_t kOutHighWater = 64 * 1024;          // frames made ahead of the socket
constexpr int32_t kStreamWindow = 256 * 1024;        // per stream: a slow client's bound
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;

}  // namespace

H2Conn::H2Conn(Proxy& proxy, ServerRuntime& server) : proxy_(proxy), server_(server) {
    flush_timer_.set_callback([this] {
        depth_++;
        send();
        depth_--;
    });
    timer_.set_callback([this] {
        if (state_ == State::Ready)
            die(ErrorKind::Reset, "idle", 0);  // keepalive_timeout: no stream to tell
        else
            die(ErrorKind::ConnectTimeout, "upstream connect timed out", 0);
    });
}

H2Conn::~H2Conn() {
    proxy_.loop().cancel(timer_);
    proxy_.loop().cancel(flush_timer_);
    mark_idle(false);
    if (up_) {
        up_->h2 = nullptr;
        up_->close();
    }
    if (session_) nghttp2_session_del(session_);
}

H2Conn* H2Conn::acquire(Proxy& proxy, ServerRuntime& server) {
    auto& all = server.h2;
    for (size_t i = 0; i < all.size();) {
        if (all[i]->dead() && !all[i]->busy())
            all.erase(all.begin() + static_cast<long>(i));
        else
            ++i;
    }
    // The busiest connection with room: streams packed on few connections, the others idle out.
    H2Conn* best = nullptr;
    size_t best_load = 0;
    for (auto& c : all) {
        if (!c->has_room()) continue;
        size_t load = c->waiters_.size() + c->streams_.size();
        if (!best || load > best_load) {
            best = c.get();
            best_load = load;
        }
    }
    if (best) return best;
    auto c = std::make_unique<H2Conn>(proxy, server);
    if (!c->open()) return nullptr;
    all.push_back(std::move(c));
    return all.back().get();
}

bool H2Conn::has_room() const {
    if (state_ == State::Dead || goaway_) return false;
    size_t limit = server_.upstream->config->max_streams_per_connection;
    if (session_ && state_ == State::Ready)
        limit = std::min<size_t>(limit, nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
    return waiters_.size() + streams_.size() < limit;
}

bool H2Conn::open() {
    up_ = proxy_.new_connection();
    if (!up_->connect(server_)) {
        up_ = nullptr;  // (recycled by connect)
        state_ = State::Dead;
        return false;
    }
    up_->h2 = this;
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, server_.upstream->config->max_streams_per_connection);
    int rv = nghttp2_session_client_new3(&session_, callbacks(), this, opt, h2::pooled_mem());
    nghttp2_option_del(opt);
    if (rv != 0) {
        session_ = nullptr;
        die(ErrorKind::ConnectRefused, "cannot make an HTTP/2 session", 0);
        return false;
    }
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
    proxy_.loop().arm(timer_, server_.upstream->config->connect_timeout);
    if (up_->connected) on_io(EPOLLOUT);  // (a unix socket: connected at once)
    return state_ != State::Dead;
}

void H2Conn::join(Session* s) {
    proxy_.loop().cancel(timer_);
    mark_idle(false);
    if (state_ == State::Ready) {
        s->h2_ready();
        return;
    }
    if (state_ != State::Dead && !timer_.armed())
        proxy_.loop().arm(timer_, server_.upstream->config->connect_timeout);
    waiters_.push_back(s);
}

int32_t H2Conn::submit(Session* s, const nghttp2_nv* nva, size_t n, bool body) {
    if (state_ != State::Ready || goaway_) return NGHTTP2_ERR_INVALID_STATE;
    nghttp2_data_provider prd;
    prd.source.ptr = nullptr;
    prd.read_callback = read_body;
    int32_t id = nghttp2_submit_request(session_, nullptr, nva, n, body ? &prd : nullptr, nullptr);
    if (id < 0) {
        if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) goaway_ = true;
        return id;
    }
    streams_.emplace_back(id, s);
    streams_started_++;
    proxy_.loop().cancel(timer_);
    return id;
}

void H2Conn::leave(Session* s, int32_t id) {
    waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), s), waiters_.end());
    if (id > 0) {
        for (size_t i = 0; i < streams_.size(); ++i)
            if (streams_[i].first == id && streams_[i].second == s) {
                streams_.erase(streams_.begin() + static_cast<long>(i));
                // Open, or still queued (then the library drops its HEADERS unsent).
                if (state_ == State::Ready) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
                break;
            }
        send_soon();
    }
    check_idle();
}

void H2Conn::send_soon() {
    if (state_ == State::Ready && !flush_timer_.armed()) proxy_.loop().arm(flush_timer_, 0);
}

void H2Conn::resume(int32_t id) {
    if (state_ == State::Ready) nghttp2_session_resume_data(session_, id);
}

void H2Conn::consume(int32_t id, size_t n) {
    if (state_ == State::Ready && n) nghttp2_session_consume_stream(session_, id, n);
}

Session* H2Conn::owner(int32_t id) const {
    for (auto& [sid, s] : streams_)
        if (sid == id) return s;
    return nullptr;
}

Session* H2Conn::take(int32_t id) {
    for (size_t i = 0; i < streams_.size(); ++i)
        if (streams_[i].first == id) {
            Session* s = streams_[i].second;
            streams_.erase(streams_.begin() + static_cast<long>(i));
            return s;
        }
    return nullptr;
}

void H2Conn::became_ready() {
    state_ = State::Ready;
    proxy_.loop().cancel(timer_);
    up_->watch_write(false);
    std::vector<Session*> w;
    w.swap(waiters_);
    depth_++;
    for (Session* s : w) {
        if (state_ == State::Ready)
            s->h2_ready();
        else  // died meanwhile (die() told those it knew of)
            s->h2_lost(ErrorKind::Reset, "upstream closed the HTTP/2 connection", 0);
    }
    depth_--;
    send();
    check_idle();
}

void H2Conn::on_io(uint32_t events) {
    depth_++;
    if (state_ == State::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(up_->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            die(ErrorKind::ConnectRefused, "connect() to upstream failed", err);
        } else if (events & EPOLLOUT) {
            up_->connected = true;
            if (server_.upstream->tls) {
                if (up_->open_tls())
                    state_ = State::Handshake;
                else
                    die(ErrorKind::Tls, "cannot start TLS to upstream", 0);
            } else {
                became_ready();
            }
        }
    }
    if (state_ == State::Handshake) {
        int r = up_->transport->handshake();
        if (r == 0) {
            up_->watch_write(up_->transport->want() == Transport::Want::Write);
        } else if (r < 0) {
            std::string what = "TLS handshake with upstream failed: ";
            what += up_->transport->failure();
            die(ErrorKind::Tls, what.c_str(), 0);
        } else if (up_->transport->alpn() != "h2") {
            die(ErrorKind::Tls, "the upstream did not choose h2 in ALPN (protocol: h2)", 0);
        } else {
            became_ready();
        }
    }
    if (state_ == State::Ready) {
        if ((events & EPOLLOUT) || up_->transport) send();
        read();
    }
    depth_--;
}

void H2Conn::read() {
    char buf[16384];
    for (;;) {
        if (state_ != State::Ready) return;
        ssize_t n = up_->transport ? up_->transport->read(buf, sizeof buf) : recv(up_->fd, buf, sizeof buf, 0);
        if (n > 0) {
            in_lib_ = true;
            ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n));
            in_lib_ = false;
            if (rv < 0) {
                LOG_ERROR("upstream server %s broke HTTP/2: %s", server_.config->address.c_str(),
                          nghttp2_strerror(static_cast<int>(rv)));
                die(ErrorKind::InvalidResponse, "upstream broke HTTP/2", 0);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            if (up_->transport && up_->transport->want() == Transport::Want::Write) up_->watch_write(true);
            break;
        }
        die(ErrorKind::Reset, "upstream prematurely closed the HTTP/2 connection", n < 0 ? errno : 0);
        return;
    }
    send();
    check_idle();
}

void H2Conn::send() {
    if (state_ != State::Ready) return;
    if (in_lib_) {
        send_again_ = true;
        return;
    }
    depth_++;
    for (;;) {
        send_again_ = false;
        while (out_.size() - out_sent_ < kOutHighWater) {
            const uint8_t* p = nullptr;
            in_lib_ = true;
            ssize_t n = nghttp2_session_mem_send(session_, &p);
            in_lib_ = false;
            if (n < 0) {
                die(ErrorKind::Reset, "HTTP/2 session failed", 0);
                depth_--;
                return;
            }
            if (n == 0) break;
            out_.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
        }
        if (out_sent_ == out_.size()) {
            out_.clear();
            out_sent_ = 0;
            if (!send_again_) break;
            continue;
        }
        struct iovec iov = {out_.data() + out_sent_, out_.size() - out_sent_};
        ssize_t w = up_->transport ? up_->transport->writev(&iov, 1) : ::writev(up_->fd, &iov, 1);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                up_->watch_write(true);
                break;
            }
            die(ErrorKind::Reset, "write to upstream failed", errno);
            break;
        }
        out_sent_ += static_cast<size_t>(w);
        if (out_sent_ == out_.size()) up_->watch_write(false);
    }
    depth_--;
}

void H2Conn::check_idle() {
    if (state_ != State::Ready || in_lib_ || !streams_.empty() || !waiters_.empty()) return;
    if (goaway_ || !nghttp2_session_want_read(session_)) {
        die(ErrorKind::Reset, "done", 0);
        return;
    }
    size_t idle = 0;  // the upstream's, as keepalive counts HTTP/1 connections
    for (ServerRuntime& sr : server_.upstream->servers)
        for (auto& c : sr.h2)
            if (c->state_ == State::Ready && c->streams_.empty() && c->waiters_.empty()) idle++;
    if (idle > server_.upstream->config->keepalive) {
        die(ErrorKind::Reset, "done", 0);
        return;
    }
    if (!timer_.armed()) proxy_.loop().arm(timer_, server_.upstream->config->keepalive_timeout);
    mark_idle(true);
}

void H2Conn::mark_idle(bool idle) {
    if (idle == idle_) return;
    idle_ = idle;
    UpstreamRuntime& u = *server_.upstream;
    (idle ? u.conns_active : u.conns_idle).dec();
    (idle ? u.conns_idle : u.conns_active).inc();
}

void H2Conn::die(ErrorKind kind, const char* what, int err) {
    if (state_ == State::Dead) return;
    state_ = State::Dead;
    proxy_.loop().cancel(timer_);
    proxy_.loop().cancel(flush_timer_);
    mark_idle(false);  // (closing counts it out of "active")
    if (up_) {
        up_->h2 = nullptr;
        up_->close();
        up_ = nullptr;
    }
    out_.clear();
    out_sent_ = 0;
    std::vector<Session*> w;
    w.swap(waiters_);
    std::vector<std::pair<int32_t, Session*>> s;
    s.swap(streams_);
    depth_++;
    for (Session* x : w) x->h2_lost(kind, what, err);
    for (auto& [id, x] : s) x->h2_lost(kind, what, err);
    depth_--;
}

// ---- nghttp2's callbacks (user = the H2Conn)

int H2Conn::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto* c = static_cast<H2Conn*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (Session* s = c->owner(frame->hd.stream_id))
        s->h2_field({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
    return 0;
}

int H2Conn::on_frame_recv(nghttp2_session* ng, const nghttp2_frame* frame, void* user) {
    auto* c = static_cast<H2Conn*>(user);
    int32_t id = frame->hd.stream_id;
    switch (frame->hd.type) {
        case NGHTTP2_GOAWAY:
            c->goaway_ = true;  // streams above last_stream_id: closed with REFUSED_STREAM by the library
            break;
        case NGHTTP2_HEADERS:
        case NGHTTP2_DATA: {
            bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
            if (!end) {
                if (frame->hd.type == NGHTTP2_HEADERS)
                    if (Session* s = c->owner(id)) s->h2_headers_end(false);
                break;
            }
            Session* s = c->take(id);
            if (!s) break;
            // The response is whole while the request is not (an early answer): stop sending it.
            if (nghttp2_session_get_stream_local_close(ng, id) == 0)
                nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
            if (frame->hd.type == NGHTTP2_HEADERS)
                s->h2_headers_end(true);
            else
                s->h2_end();
            break;
        }
        default:
            break;
    }
    return 0;
}

int H2Conn::on_data_chunk(nghttp2_session* ng, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
    auto* c = static_cast<H2Conn*>(user);
    nghttp2_session_consume_connection(ng, len);  // the stream's window is the bound
    if (Session* s = c->owner(id)) s->h2_data({reinterpret_cast<const char*>(data), len});
    return 0;
}

int H2Conn::on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
    auto* c = static_cast<H2Conn*>(user);
    if (Session* s = c->take(id)) s->h2_closed(error_code);
    return 0;
}

int H2Conn::on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int, void* user) {
    auto* c = static_cast<H2Conn*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (Session* s = c->take(frame->hd.stream_id)) s->h2_closed(NGHTTP2_REFUSED_STREAM);  // never sent
    return 0;
}

ssize_t H2Conn::read_body(nghttp2_session*, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                          nghttp2_data_source*, void* user) {
    auto* c = static_cast<H2Conn*>(user);
    Session* s = c->owner(id);
    if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return s->h2_read_body(reinterpret_cast<char*>(buf), len, flags);
}

nghttp2_session_callbacks* H2Conn::callbacks() {
    static nghttp2_session_callbacks* cb = [] {
        nghttp2_session_callbacks* c = nullptr;
        nghttp2_session_callbacks_new(&c);
        nghttp2_session_callbacks_set_on_header_callback(c, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(c, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(c, on_stream_close);
        nghttp2_session_callbacks_set_on_frame_not_send_callback(c, on_frame_not_send);
        return c;
    }();
    return cb;
}

}  // namespace gw::http::proxy
