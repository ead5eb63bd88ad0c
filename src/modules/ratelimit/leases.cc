#include "modules/ratelimit/leases.h"

#include <algorithm>

#include "core/status.h"
#include "modules/ratelimit/config.h"
#include "modules/ratelimit/table.h"

namespace gw::ratelimit {

namespace {

constexpr uint64_t kLeaseMagic = 0x455341454c5747ULL;  // "GWLEASE"
constexpr uint64_t kPage = 4096;
// 8 MiB a worker at most: a worker with more requests in flight (and policies) than that rejects
// the extra ones (Limiter::count_one).
constexpr uint64_t kMaxLedgerWords = 1 << 20;

// The zone's root: the offset of each board slot's ledger (0: none).
struct LeaseRoot {
    uint64_t magic;
    std::atomic<uint64_t> ledgers[kMaxWorkerSlots];
};

// A ledger: its number of words, then the words.
struct LedgerHead {
    uint64_t words;
};

LeaseRoot* root_of(shm::Zone& zone) {
    LeaseRoot* root = zone.at<LeaseRoot>(zone.header()->root);
    return root && root->magic == kLeaseMagic ? root : nullptr;
}

std::atomic<uint64_t>* words_of(LedgerHead* head) { return reinterpret_cast<std::atomic<uint64_t>*>(head + 1); }

uint64_t pages(uint64_t bytes) { return (bytes + kPage - 1) / kPage; }

}  // namespace

uint64_t ledger_words(const Config& cfg) {
    const Settings& s = settings(cfg);
    uint64_t most = 0;  // concurrency policies on one route
    for (const std::vector<int>& route : s.routes) {
        uint64_t n = static_cast<uint64_t>(std::count_if(route.begin(), route.end(), [&](int i) {
            return s.policies[static_cast<size_t>(i)].concurrency();
        }));
        most = std::max(most, n);
    }
    return std::min<uint64_t>(most * cfg.worker_connections, kMaxLedgerWords);
}

uint64_t lease_zone_size(const Config& cfg) {
    uint64_t words = ledger_words(cfg);
    if (words == 0) return 0;
    uint64_t workers = std::min<uint64_t>(static_cast<uint64_t>(cfg.worker_processes) * (cfg.max_draining_generations + 2),
                                          kMaxWorkerSlots);
    uint64_t n = pages(sizeof(LeaseRoot)) + workers * pages(sizeof(LedgerHead) + words * 8);
    // Each page of the slab costs a descriptor too; the header and the slab's state need a few.
    uint64_t bytes = n * (kPage + 64) + 64 * 1024;
    return (bytes + 0xffff) & ~uint64_t{0xffff};
}

bool attach_leases(shm::Zone& zone) {
    if (zone.header()->layout_version != kLeaseLayoutVersion) return false;
    shm::LockGuard lock(zone.mutex());
    if (zone.header()->root == 0) {
        uint64_t off = zone.alloc(sizeof(LeaseRoot));
        if (!off) return false;
        LeaseRoot* root = zone.at<LeaseRoot>(off);
        for (auto& l : root->ledgers) l.store(0, std::memory_order_relaxed);
        root->magic = kLeaseMagic;
        zone.header()->root = off;
    }
    return root_of(zone) != nullptr;
}

Ledger::Ledger(std::atomic<uint64_t>* words, uint64_t capacity) : words_(words), capacity_(capacity) {
    free_.reserve(capacity);
    for (uint64_t i = capacity; i > 0; --i) free_.push_back(static_cast<uint32_t>(i - 1));
}

std::unique_ptr<Ledger> Ledger::open(shm::Zone& zone, int slot, uint64_t words) {
    if (slot < 0 || static_cast<uint32_t>(slot) >= kMaxWorkerSlots || words == 0) return nullptr;
    std::atomic<uint64_t>* at = nullptr;
    {
        shm::LockGuard lock(zone.mutex());
        LeaseRoot* root = root_of(zone);
        if (!root) return nullptr;
        uint64_t off = zone.alloc(sizeof(LedgerHead) + words * sizeof(uint64_t));
        if (!off) return nullptr;
        LedgerHead* head = zone.at<LedgerHead>(off);
        head->words = words;
        at = words_of(head);
        for (uint64_t i = 0; i < words; ++i) at[i].store(0, std::memory_order_relaxed);
        // A ledger left in the slot was settled by settle() before this (the caller's duty).
        root->ledgers[slot].store(off, std::memory_order_release);
    }
    return std::unique_ptr<Ledger>(new Ledger(at, words));
}

std::unique_ptr<Ledger> Ledger::local(uint64_t words) {
    auto own = std::make_unique<std::atomic<uint64_t>[]>(words);
    for (uint64_t i = 0; i < words; ++i) own[i].store(0, std::memory_order_relaxed);
    std::unique_ptr<Ledger> l(new Ledger(own.get(), words));
    l->own_ = std::move(own);
    return l;
}

uint64_t settle(shm::Zone& zone, Table* table, int slot) {
    if (slot < 0 || static_cast<uint32_t>(slot) >= kMaxWorkerSlots) return 0;
    shm::LockGuard lock(zone.mutex());
    LeaseRoot* root = root_of(zone);
    if (!root) return 0;
    uint64_t off = root->ledgers[slot].exchange(0, std::memory_order_acq_rel);
    if (!off || off > zone.size() - sizeof(LedgerHead)) return 0;
    LedgerHead* head = zone.at<LedgerHead>(off);
    std::atomic<uint64_t>* words = words_of(head);
    // The dead worker could write anywhere in the zone: read no further than the zone's end.
    uint64_t n = std::min<uint64_t>(head->words, (zone.size() - off - sizeof(LedgerHead)) / sizeof(uint64_t));
    uint64_t given = 0;
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t w = words[i].load(std::memory_order_acquire);
        if (!w) continue;
        if (table) table->release(w);
        ++given;
    }
    zone.free(off);
    return given;
}

}  // namespace gw::ratelimit
