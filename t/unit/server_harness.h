// An in-process gateway for filter tests that need the real codec and proxy: a real
// http::Server on the test's event loop, listening on an ephemeral 127.0.0.1 port, with the
// module parts the test gives it (their filters go on the routes), and a tiny blocking backend on
// a thread of its own. request() sends one request from another thread and runs the loop until
// the whole response (or the connection's close) has come back.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "core/shm/zone.h"
#include "core/status.h"
#include "event/loop.h"
#include "http/access_log.h"
#include "http/server.h"
#include "redis_server.h"

namespace gw::test {

inline int listen_loopback(int& port, bool nonblocking = false) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 64) != 0) return -1;
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

// Answers every request on a connection with `response` (raw bytes), until the peer closes.
class TinyBackend {
  public:
    explicit TinyBackend(std::string response) : response_(std::move(response)) {
        fd_ = listen_loopback(port_);
        thread_ = std::thread([this] { serve(); });
    }
    ~TinyBackend() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    int port() const { return port_; }

  private:
    void serve() {
        while (!stop_) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            std::string in;
            char buf[4096];
            for (;;) {
                ssize_t n = ::read(c, buf, sizeof buf);
                if (n <= 0) break;
                in.append(buf, static_cast<size_t>(n));
                size_t end;
                while ((end = in.find("\r\n\r\n")) != std::string::npos) {  // requests without bodies
                    in.erase(0, end + 4);
                    (void)!::write(c, response_.data(), response_.size());
                }
            }
            ::close(c);
        }
    }
    std::string response_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

class ServerHarness {
  public:
    // `routes_yaml`: the routes (and upstreams) section; %BACKEND% becomes the backend's port.
    ServerHarness(const std::string& yaml, int backend_port) {
        char tmpl[] = "/tmp/gw-server-harness-XXXXXX";
        dir_ = mkdtemp(tmpl);
        listen_fd_ = listen_loopback(port_, true);  // as the master makes them
        std::string text = "listeners:\n  - address: 127.0.0.1:" + std::to_string(port_) + "\n" + yaml;
        for (size_t at; (at = text.find("%BACKEND%")) != std::string::npos;)
            text.replace(at, 9, std::to_string(backend_port));
        std::ofstream(dir_ + "/gw.conf") << text;
        Diagnostics diags;
        auto c = load_config(dir_ + "/gw.conf", dir_, diags);
        EXPECT_TRUE(c) << (diags.all().empty() ? "" : diags.all()[0].str());
        if (!c) return;
        config_ = std::make_unique<Config>(std::move(*c));
        metrics_zone_ = shm::Zone::create("metrics", 1 << 20, metrics::kLayoutVersion);
        metrics_ = std::make_unique<metrics::Store>(*metrics_zone_);
        access_log_ = std::make_unique<http::AccessLog>(config_->access_log, config_->logs);
        slot_ = std::make_unique<WorkerSlot>();
        ctx_.config = config_.get();
        ctx_.loop = &loop_;
        ctx_.slot = slot_.get();
        ctx_.metrics = metrics_.get();
        ctx_.access_log = access_log_.get();
    }
    ~ServerHarness() {
        server_.reset();
        if (listen_fd_ >= 0) ::close(listen_fd_);
        std::filesystem::remove_all(dir_);
    }
    http::WorkerContext& ctx() { return ctx_; }
    // For clients of other kinds (h2_client.h): the loop to run and the port to connect to.
    event::Loop& loop() { return loop_; }
    int port() const { return port_; }
    bool start() {
        if (!config_) return false;
        server_ = std::make_unique<http::Server>(ctx_, std::vector<http::Server::Listen>{{listen_fd_, &config_->listeners[0]}});
        return server_->start();
    }
    // One request on a new connection; the raw response (read until `complete` says it is whole,
    // or the server closes).
    std::string request(const std::string& raw, const std::function<bool(const std::string&)>& complete) {
        return request(std::vector<std::string>{raw}, complete);
    }
    // The same, written in `pieces` 20 ms apart (a head, then its body): what the gateway does
    // must not depend on how the request was split, so the pause only makes the split likely.
    std::string request(const std::vector<std::string>& pieces, const std::function<bool(const std::string&)>& complete) {
        std::string got;
        std::atomic<bool> done{false};
        std::thread client([&] {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(static_cast<uint16_t>(port_));
            timeval tv{5, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
                for (size_t i = 0; i < pieces.size(); ++i) {
                    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
                    (void)!::write(fd, pieces[i].data(), pieces[i].size());
                }
                char buf[4096];
                ssize_t n;
                while (!complete(got) && (n = ::read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
            }
            ::close(fd);
            done = true;
        });
        redis_test::run_until(loop_, [&] { return done.load(); }, 5000);
        client.join();
        return got;
    }

  private:
    std::string dir_;
    int port_ = 0;
    int listen_fd_ = -1;
    event::Loop loop_;
    std::unique_ptr<Config> config_;
    std::unique_ptr<shm::Zone> metrics_zone_;
    std::unique_ptr<metrics::Store> metrics_;
    std::unique_ptr<http::AccessLog> access_log_;
    std::unique_ptr<WorkerSlot> slot_;
    http::WorkerContext ctx_;
    std::unique_ptr<http::Server> server_;
};

}  // namespace gw::test
