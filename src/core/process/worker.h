// A worker process: serves one generation's configuration on its share of the listening sockets
// until the master tells it to drain (or its master disappears), then finishes its work and exits.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/shm/zone.h"
#include "core/status.h"

namespace gw::process {

struct WorkerSpec {
    std::shared_ptr<const Config> config;
    uint32_t generation = 0;
    int index = 0;           // 0..worker_processes-1 within the generation
    int board_slot = 0;      // its slot on the status board
    int channel_fd = -1;     // its end of the channel
    struct Listen {
        int fd;
        size_t listener;     // index into config->listeners
    };
    std::vector<Listen> listens;
    // By name: "metrics", and the zones the modules asked for the generation's configuration.
    std::map<std::string, shm::Zone*, std::less<>> zones;
    StatusBoard* board = nullptr;
};

// Runs in the forked child; never returns.
[[noreturn]] void run_worker(const WorkerSpec& spec);

// Raises RLIMIT_NOFILE for worker_connections (called by the master; workers inherit it).
void raise_fd_limit(const Config& cfg);

// Closes every descriptor above 2 except those in `keep` (a child must not hold the master's
// listening sockets or other workers' channels, or they would outlive their owners).
void close_fds_except(const std::vector<int>& keep);

}  // namespace gw::process
