// Wake-ups for the upstream queues (`queue:` with max_conns) across the workers of a node.
//
// A slot freed by one worker must start a request queued in another. Each upstream with a queue
// has an eventfd, made by the master before it forks a generation's workers, who inherit it; a
// worker watches it only while it has requests waiting, and writes to it when it frees a slot
// that others wait for. The eventfds are kept by upstream name for the master's life, so that
// the generations of a reload (old ones draining, the new one serving) share them, as they
// share the counts in the metrics zone. (A binary upgrade makes new ones: during its overlap a
// slot freed by an old-binary worker does not wake new-binary waiters; their next wake-up or
// queue.timeout does.)
#pragma once

#include <string_view>
#include <vector>

#include "core/config/config.h"

namespace gw::http::proxy::queue_wake {

// Master, before forking workers for `config`: makes the eventfds it lacks (false, logged, when
// one cannot be made: those upstreams then wake only their own worker's waiters).
bool prepare(const Config& config);
// The descriptors a forked worker must keep open.
void append_fds(std::vector<int>& keep);
// The eventfd of upstream `name`, or -1 (none prepared: not forked by a master, as in tests).
int fd_for(std::string_view name);
// Master, after settling a dead worker's gauges (its slots and queue places are free again):
// every queue's waiters look again.
void wake_all();
// Tells whoever watches `fd` (nothing for -1).
void wake(int fd);

}  // namespace gw::http::proxy::queue_wake
