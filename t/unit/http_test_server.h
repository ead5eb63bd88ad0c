// For unit tests of HTTP clients (the outbound client, health probes): a server on a listening
// socket of the test's own (127.0.0.1 or a unix socket), served by a thread that records each
// request head and answers as the test scripts it - bytes, delays, closing.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace gw::http_test {

inline void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

inline bool send_all(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

// Reads until the peer closes (or `ms` pass): true when it closed.
inline bool wait_for_close(int fd, int ms) {
    char buf[256];
    for (auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
         std::chrono::steady_clock::now() < end;) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return true;
    }
    return false;
}

// A server on 127.0.0.1 (or a unix socket): each connection's request head is recorded, then
// `answer(fd, head)` does what the test wants; the connection is closed after it.
class Server {
  public:
    using Answer = std::function<void(int fd, const std::string& head)>;

    explicit Server(Answer answer, bool unix_socket = false) : answer_(std::move(answer)) {
        if (unix_socket) {
            sockaddr_un& a = reinterpret_cast<sockaddr_un&>(address_);
            a.sun_family = AF_UNIX;
            static std::atomic<int> serial{0};
            snprintf(a.sun_path, sizeof a.sun_path, "/tmp/gw-http-test-%d-%d.sock", getpid(), ++serial);
            unlink(a.sun_path);
            address_len_ = sizeof a;
        } else {
            sockaddr_in& a = reinterpret_cast<sockaddr_in&>(address_);
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            address_len_ = sizeof a;
        }
        fd_ = socket(address_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (bind(fd_, addr(), address_len_) != 0 || listen(fd_, 16) != 0) ADD_FAILURE() << strerror(errno);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address_), &address_len_);
        thread_ = std::thread([this] { serve(); });
    }
    ~Server() {
        stop_ = true;
        thread_.join();
        close(fd_);
        if (address_.ss_family == AF_UNIX) unlink(reinterpret_cast<sockaddr_un&>(address_).sun_path);
    }

    const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&address_); }
    socklen_t addr_len() const { return address_len_; }
    std::vector<std::string> heads() {
        std::lock_guard<std::mutex> lock(mu_);
        return heads_;
    }
    int connections() const { return connections_; }

  private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, 20) <= 0) continue;
            int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            ++connections_;
            std::string head;
            char buf[1024];
            while (head.find("\r\n\r\n") == std::string::npos) {
                pollfd q{c, POLLIN, 0};
                if (poll(&q, 1, 1000) <= 0) break;
                ssize_t n = recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                head.append(buf, static_cast<size_t>(n));
            }
            {
                std::lock_guard<std::mutex> lock(mu_);
                heads_.push_back(head);
            }
            answer_(c, head);
            close(c);
        }
    }

    Answer answer_;
    sockaddr_storage address_{};
    socklen_t address_len_ = 0;
    int fd_ = -1;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::mutex mu_;
    std::vector<std::string> heads_;
};

}  // namespace gw::http_test
