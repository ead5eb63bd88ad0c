// For unit tests that need a real redis-server: one of our own on a free loopback port, without
// persistence, and a way to run an event loop until something holds.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "event/loop.h"

namespace gw::redis_test {

inline uint16_t free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    close(fd);
    return ntohs(sa.sin_port);
}

inline bool accepts(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    close(fd);
    return ok;
}

// A redis-server of our own, without persistence.
class RedisServer {
  public:
    explicit RedisServer(uint16_t port) : port_(port) {}
    ~RedisServer() { stop(); }
    bool start() {
        pid_ = fork();
        if (pid_ == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
            std::string p = std::to_string(port_);
            execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
            _exit(127);
        }
        for (int i = 0; i < 500; ++i) {
            if (accepts(port_)) return true;
            int st;
            if (waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            usleep(10000);
        }
        return false;
    }
    void stop() {
        if (pid_ <= 0) return;
        kill(pid_, SIGCONT);
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    void pause() { kill(pid_, SIGSTOP); }
    void resume() { kill(pid_, SIGCONT); }
    uint16_t port() const { return port_; }

  private:
    uint16_t port_;
    pid_t pid_ = -1;
};

inline bool have_redis_server() { return system("command -v redis-server >/dev/null 2>&1") == 0; }

// Runs the loop until `done` holds or `ms` pass; returns done().
inline bool run_until(event::Loop& loop, const std::function<bool()>& done, event::Millis ms) {
    event::Millis deadline = loop.update_time() + ms;
    event::Timer tick;
    tick.set_callback([&] {
        if (done() || loop.now() >= deadline)
            loop.stop();
        else
            loop.arm(tick, 2);
    });
    loop.arm(tick, 0);
    loop.run();
    loop.cancel(tick);
    return done();
}

}  // namespace gw::redis_test
