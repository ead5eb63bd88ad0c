// The downstream HTTP/2 codec end to end (src/http/h2/, http::Connection's h2 phase): a real
// http::Server on an event loop in this process, an h2c (`http2: prior_knowledge`) listener on
// 127.0.0.1 with return routes and a proxied route to a small backend thread, and for each
// input a new loopback connection that sends the client preface and then the input's bytes as
// they are (frames, or anything), then half-closes. The loop runs until the gateway has closed
// the connection.
//
// Checked: no crash and no memory error (ASan, UBSan), no leak (libFuzzer's per-input leak
// check), the connection always ends (a client that sent EOF is never kept: a hang traps), and
// nothing is left behind: no connection still open in the server afterwards and a bounded
// response per input (what a client can make the gateway write for at most 16 KiB of input).
//
// The input's first byte picks how it is written: in one piece, or cut into pieces at
// positions from the rest of the input (so that frames split over reads are covered).
#include <arpa/inet.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "core/shm/zone.h"
#include "core/status.h"
#include "event/loop.h"
#include "http/access_log.h"
#include "http/server.h"
#include "fuzz_common.h"

namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int listen_loopback(int& port, bool nonblocking) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 128) != 0) abort();
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

// The proxied route's upstream: reads a request head, answers it (a chunked response with a
// trailer section, or one with a Content-Length, by the path) and closes, so that no upstream
// connection is kept from one input to the next.
class Backend {
  public:
    Backend() {
        fd_ = listen_loopback(port_, false);
        std::thread([this] { serve(); }).detach();  // lives as long as the process
    }
    int port() const { return port_; }

  private:
    void serve() {
        for (;;) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            timeval tv{1, 0};
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string in;
            char buf[4096];
            while (in.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = ::read(c, buf, sizeof buf);
                if (n <= 0) break;
                in.append(buf, static_cast<size_t>(n));
            }
            if (in.find("\r\n\r\n") != std::string::npos) {
                std::string_view r = in.find(" /up/length") != std::string::npos
                                         ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
                                         : "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                                           "X-Up: 1\r\n\r\n5\r\nhello\r\n0\r\nx-trailer: t\r\ngrpc-status: 0\r\n\r\n";
                (void)!::send(c, r.data(), r.size(), MSG_NOSIGNAL);  // (the gateway may have closed it)
            }
            ::close(c);
        }
    }
    int fd_ = -1;
    int port_ = 0;
};

struct World {
    std::string dir;
    int port = 0;
    int listen_fd = -1;
    gw::event::Loop loop;
    std::unique_ptr<Backend> backend;
    std::unique_ptr<gw::Config> config;
    std::unique_ptr<gw::shm::Zone> metrics_zone;
    std::unique_ptr<gw::metrics::Store> metrics;
    std::unique_ptr<gw::http::AccessLog> access_log;
    std::unique_ptr<gw::WorkerSlot> slot;
    gw::http::WorkerContext ctx;
    std::unique_ptr<gw::http::Server> server;

    World() {
        gw::log::set_level(gw::LogLevel::Crit);  // the codec's info lines about each bad input
        signal(SIGPIPE, SIG_IGN);  // as the daemon does (main.cc)
        backend = std::make_unique<Backend>();
        char tmpl[] = "/tmp/gw-fuzz-h2-XXXXXX";
        dir = mkdtemp(tmpl);
        listen_fd = listen_loopback(port, true);
        // Small budgets so that inputs of at most 16 KiB reach them: streams, resets, header
        // counts and sizes, CONTINUATION frames; a small window so flow control matters.
        std::string text =
            "listeners:\n"
            "  - address: 127.0.0.1:" + std::to_string(port) + "\n"
            "    http2: prior_knowledge\n"
            "http2:\n"
            "  max_concurrent_streams: 8\n"
            "  initial_window_size: 65535\n"
            "  max_header_list_size: 4k\n"
            "  max_headers: 20\n"
            "  max_resets_per_minute: 20\n"
            "  max_continuation_frames: 4\n"
            "http:\n"
            "  client_max_body_size: 64k\n"
            "upstreams:\n"
            "  b: {servers: [{address: \"127.0.0.1:" + std::to_string(backend->port()) + "\"}]}\n"
            "routes:\n"
            "  - {name: up, match: {path_prefix: /up}, upstream: b}\n"
            "  - {name: hello, match: {path: /hello}, return: {body: \"hello\\n\", headers: {content-type: text/plain}}}\n"
            "  - {name: redirect, match: {path: /r}, return: {status: 308, location: \"https://$host$request_uri\"}}\n"
            "  - {name: empty, match: {path: /e}, return: {status: 204}}\n"
            "  - {name: big, match: {path: /big}, return: {body: \"" + std::string(40000, 'x') + "\"}}\n";
        std::ofstream(dir + "/gw.conf") << text;
        gw::Diagnostics diags;
        auto c = gw::load_config(dir + "/gw.conf", dir, diags);
        if (!c) {
            fprintf(stderr, "fuzz_h2_server: the configuration does not load: %s\n",
                    diags.all().empty() ? "?" : diags.all()[0].str().c_str());
            abort();
        }
        config = std::make_unique<gw::Config>(std::move(*c));
        metrics_zone = gw::shm::Zone::create("metrics", 1 << 20, gw::metrics::kLayoutVersion);
        metrics = std::make_unique<gw::metrics::Store>(*metrics_zone);
        access_log = std::make_unique<gw::http::AccessLog>(config->access_log, config->logs);
        slot = std::make_unique<gw::WorkerSlot>();
        ctx.config = config.get();
        ctx.loop = &loop;
        ctx.slot = slot.get();
        ctx.metrics = metrics.get();
        ctx.access_log = access_log.get();
        server = std::make_unique<gw::http::Server>(
            ctx, std::vector<gw::http::Server::Listen>{{listen_fd, &config->listeners[0]}});
        if (!server->start()) abort();
    }
};

World& world() {
    static World* w = new World();  // never destroyed: the backend thread outlives every input
    return *w;
}

// Runs the loop until `done` or `ms` milliseconds passed, one turn at a time (a timer at 0 ms
// stops each turn: re-armed from its own callback it would run again in the same turn).
template <class F>
bool run_until(gw::event::Loop& loop, F done, gw::event::Millis ms) {
    gw::event::Millis deadline = loop.update_time() + ms;
    gw::event::Timer tick;
    tick.set_callback([&] { loop.stop(); });
    for (;;) {
        loop.arm(tick, 0);
        loop.run();
        if (done()) return true;
        if (loop.now() >= deadline) return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    World& w = world();
    std::string_view in(reinterpret_cast<const char*>(data), size);
    uint8_t mode = in.empty() ? 0 : static_cast<uint8_t>(in[0]);
    if (!in.empty()) in.remove_prefix(1);

    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CHECK(fd >= 0);
    // A large receive buffer: the client reads only between loop turns.
    int rcv = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(w.port));
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    CHECK(rc == 0 || errno == EINPROGRESS);

    // The pieces to write: the preface and the input, whole or cut.
    std::string all(kPreface);
    all.append(in);
    std::vector<std::string_view> pieces;
    if ((mode & 3) == 0 || all.size() < 2) {
        pieces.push_back(all);
    } else {
        fuzz::Rng rng{fuzz::fnv1a(in) | 1};
        size_t pos = 0;
        while (pos < all.size()) {
            size_t n = 1 + rng.next() % ((mode & 3) == 1 ? 64 : 2048);
            n = std::min(n, all.size() - pos);
            pieces.push_back(std::string_view(all).substr(pos, n));
            pos += n;
        }
    }

    size_t piece = 0, off = 0;
    bool shut = false, eof = false;
    uint64_t got = 0;
    char buf[65536];
    auto step = [&]() -> bool {
        // Write the next piece (as much as the socket takes), then read what came back.
        if (piece < pieces.size()) {
            std::string_view p = pieces[piece];
            ssize_t n = ::send(fd, p.data() + off, p.size() - off, MSG_NOSIGNAL);
            if (n > 0) off += static_cast<size_t>(n);
            if (n < 0 && errno != EAGAIN && errno != ENOTCONN) piece = pieces.size();  // reset by the gateway
            if (off == p.size()) {
                ++piece;
                off = 0;
            }
        } else if (!shut) {
            ::shutdown(fd, SHUT_WR);
            shut = true;
        }
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                got += static_cast<uint64_t>(n);
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) eof = true;
            break;
        }
        return eof;
    };
    bool ended = run_until(w.loop, step, 5000);
    CHECK(ended);  // the gateway closes a connection whose client sent EOF
    ::close(fd);
    // The connection is gone from the server (closed connections are released in the loop).
    CHECK(run_until(w.loop, [&] { return w.server->active() == 0; }, 2000));
    // What at most 16 KiB of input can make the gateway send: bounded (the largest answer is
    // 40 KB, a stream window is 64 KiB, at most 8 streams at once, and each request costs a
    // HEADERS frame of 9 bytes or more).
    CHECK(got <= 64 * 1024 * 1024);
    return 0;
}
