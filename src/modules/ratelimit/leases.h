// Who holds the requests in flight that the concurrency policies count: each worker keeps a
// ledger in the shared-memory zone "ratelimit_leases", one word per request and concurrency
// policy it admitted, naming the table entry that counts it. When the request ends the worker
// gives the count back and clears the word; when a worker dies (even by SIGKILL) the master,
// reaping it, gives back whatever its ledger still names (settle()) before its status-board slot
// can serve another worker.
//
// Ledgers are found by the worker's status-board slot, which is unique among the node's live
// workers - across generations running side by side during a reload, and across the two masters
// of a binary upgrade (they share the board, this zone and the counters' zone). A worker writes
// only its own ledger, and the master reads it only once the worker is gone: no word is shared
// by two live writers, so the hot path is plain stores.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/config/config.h"
#include "core/shm/zone.h"

namespace gw::ratelimit {

class Table;

constexpr std::string_view kLeaseZone = "ratelimit_leases";
constexpr uint32_t kLeaseLayoutVersion = 1;

// The words of one worker's ledger for `cfg`: a request holds at most one per concurrency policy
// of its route, and a worker has at most worker_connections requests at once (HTTP/1: one per
// connection). 0 when no policy is a concurrency policy.
uint64_t ledger_words(const Config& cfg);
// The size of the lease zone for `cfg` (room for the ledgers of every worker of the generation,
// of the draining ones and of a reload starting), or 0 when no policy needs one.
uint64_t lease_zone_size(const Config& cfg);
// Lays the zone out (the master, on a zone it created or adopted); false when it cannot.
bool attach_leases(shm::Zone& zone);

class Ledger {
  public:
    static constexpr uint32_t kNone = UINT32_MAX;

    // The ledger of the worker in board slot `slot`, made in `zone` and registered there for the
    // master; nullptr (logged by the caller) when the zone has no room or no layout.
    static std::unique_ptr<Ledger> open(shm::Zone& zone, int slot, uint64_t words);
    // A ledger of this process only (tests, or no zone): nobody settles it if the process dies.
    static std::unique_ptr<Ledger> local(uint64_t words);

    // A free word for one request's lease, or kNone when all are in use. No allocation.
    uint32_t take() {
        if (free_.empty()) return kNone;
        uint32_t i = free_.back();
        free_.pop_back();
        return i;
    }
    std::atomic<uint64_t>* word(uint32_t i) { return &words_[i]; }
    // The word is cleared and free again.
    void give_back(uint32_t i) {
        words_[i].store(0, std::memory_order_relaxed);
        free_.push_back(i);
    }
    uint64_t capacity() const { return capacity_; }
    bool shared() const { return !own_; }

  private:
    Ledger(std::atomic<uint64_t>* words, uint64_t capacity);
    std::atomic<uint64_t>* words_;
    uint64_t capacity_;
    std::vector<uint32_t> free_;  // reserved to capacity_: take()/give_back() never allocate
    std::unique_ptr<std::atomic<uint64_t>[]> own_;
};

// The master, for the worker that had board slot `slot` and has exited: gives back every count
// its ledger still names to `table` (nullptr: none to give back to), and frees the ledger.
// Returns how many it gave back.
uint64_t settle(shm::Zone& zone, Table* table, int slot);

}  // namespace gw::ratelimit
