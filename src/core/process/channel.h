// The master <-> worker channel: a SOCK_SEQPACKET socketpair, so each message arrives whole.
// Commands go over the channel rather than signals, as in nginx: they cannot be lost or merged,
// and a worker sees its master die as end-of-file on the channel.
#pragma once

#include <cstdint>

namespace gw::process {

enum class Command : uint32_t {
    Ready = 1,      // worker -> master: listening and serving
    Drain = 2,      // master -> worker: stop accepting, finish in-flight work, exit (QUIT)
    Terminate = 3,  // master -> worker: exit now (TERM)
    Reopen = 4,     // master -> worker: reopen log files (USR1)
    Retire = 5,     // master -> worker: drain, close idle connections and tunnels now, and give
                    // requests in progress a short grace (too many generations draining)
    Notify = 6,     // master -> worker: a module's notification (arg: module::notification())
    Ask = 7,        // worker -> master: a module's request to its master part (arg: as Notify)
};

struct Message {
    Command command;
    uint32_t arg;
};

// Creates the pair: fds[0] stays in the master, fds[1] goes to the worker. Both non-blocking,
// close-on-exec.
bool open_channel(int fds[2]);
bool send_message(int fd, Command command, uint32_t arg = 0);
// Returns 1 with a message, 0 on end-of-file, -1 when nothing is pending (EAGAIN) or on error.
int receive_message(int fd, Message& out);

}  // namespace gw::process
