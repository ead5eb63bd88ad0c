#include "core/status.h"

#include <cstring>
#include <new>

namespace gw {

StatusBoard* StatusBoard::attach(shm::Zone& zone) {
    shm::LockGuard lock(zone.mutex());
    shm::ZoneHeader* h = zone.header();
    if (h->root == 0) {
        uint64_t off = zone.alloc(sizeof(StatusBoard));
        if (off == 0) return nullptr;
        new (zone.base() + off) StatusBoard();  // zeroed memory: every atomic starts at 0
        h->root = off;
    }
    return zone.at<StatusBoard>(h->root);
}

uint32_t StatusBoard::ready_workers(uint32_t gen) const {
    uint32_t n = 0;
    for (const WorkerSlot& s : slots)
        if (s.state.load(std::memory_order_relaxed) == static_cast<uint32_t>(SlotState::Ready) &&
            s.generation.load(std::memory_order_relaxed) == gen)
            ++n;
    return n;
}

}  // namespace gw
