#include "core/process/channel.h"

#include <sys/socket.h>

#include <cerrno>

namespace gw::process {

bool open_channel(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0;
}

bool send_message(int fd, Command command, uint32_t arg) {
    Message m{command, arg};
    ssize_t n;
    do n = send(fd, &m, sizeof m, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
    return n == sizeof m;
}

int receive_message(int fd, Message& out) {
    ssize_t n;
    do n = recv(fd, &out, sizeof out, 0); while (n < 0 && errno == EINTR);
    if (n == 0) return 0;
    if (n != sizeof out) return -1;
    return 1;
}

}  // namespace gw::process
