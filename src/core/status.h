// The node's status board in shared memory: which workers exist, of which generation, in which
// state, with their live counters. The master writes who exists; each worker updates its own
// slot; any worker serving /status or /metrics reads the whole board.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/shm/zone.h"

namespace gw {

constexpr uint32_t kStatusLayoutVersion = 2;  // 2: WorkerSlot::gauge_ledger
constexpr uint32_t kMaxWorkerSlots = 2048;

enum class SlotState : uint32_t { Free = 0, Starting = 1, Ready = 2, Draining = 3 };

struct WorkerSlot {
    std::atomic<int32_t> pid;
    std::atomic<uint32_t> generation;
    std::atomic<uint32_t> state;        // SlotState
    std::atomic<int64_t> connections;   // open client connections
    std::atomic<uint64_t> requests;     // requests answered by this process
    std::atomic<int64_t> started_unix;  // seconds
    // Metrics zone offset of the worker's gauge ledger (metrics::Store::set_ledger_home), 0 for
    // none. The master takes it with exchange(0) when it reaps the worker, before the slot can be
    // reused, and settles it: a worker killed with SIGKILL leaves no gauge drift behind.
    std::atomic<uint64_t> gauge_ledger;
};

struct StatusBoard {
    std::atomic<uint32_t> generation;   // the current (serving) configuration generation
    std::atomic<uint32_t> worker_processes;  // of the current generation
    std::atomic<int32_t> master_pid;
    std::atomic<int64_t> master_started_unix;
    WorkerSlot slots[kMaxWorkerSlots];

    // Attaches to (creating on first use) the board in `zone`.
    static StatusBoard* attach(shm::Zone& zone);
    // Workers of `generation` in state Ready.
    uint32_t ready_workers(uint32_t generation) const;
};

}  // namespace gw
