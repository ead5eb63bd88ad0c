// Rate-limit counters in the shared-memory zone "ratelimit": one table for the whole node, so
// that a limit is one exact limit across every worker (and across the generations that run
// side by side during a reload, and across a binary upgrade, which inherits the zone).
//
// The table is an array of fixed-size slots. A key (a policy and the request's key, hashed to 64
// bits) lives in one of kProbeWindow consecutive slots starting at a position given by its hash.
// Each slot has two 64-bit words that matter:
//
//   key    hash56 << 8 | epoch      hash56 == 0: the slot is free
//   state  epoch << 56 | value      value: the algorithm's state, 0 = a key never seen
//
// The hot path (a key already in the table) is lock-free: load the state, compute the decision,
// compare-and-swap the state. The epoch, which changes whenever the slot changes hands, ties the
// state word to the key word: an update prepared for the slot's previous key fails its CAS.
//
// Values (56 bits):
//   token bucket    the GCRA "theoretical arrival time", in microseconds of CLOCK_MONOTONIC
//   fixed window    window number (16 bits) | count (40 bits)
//   sliding window  window number (8 bits) | previous window's count (24) | this window's (24)
// Window numbers are floor(now / period) on CLOCK_MONOTONIC, kept modulo 2^16 or 2^8; the slot's
// `touched` time (seconds) tells a current window number from one that wrapped around: an entry
// untouched for more than two windows (and two seconds) counts as empty, whatever it holds.
//
// Memory is bounded by the zone: when a key is new and its probe window has no free slot, the
// entry it replaces is one whose state is worth nothing any more (a full bucket, a window that
// has passed) if there is one, or else the least recently used of the window (approximate LRU:
// `touched` has a resolution of one second and only the window is searched).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/shm/zone.h"

namespace gw::ratelimit {

constexpr uint32_t kLayoutVersion = 1;  // of the zone's contents; a mismatch starts it afresh
// 16 slots (512 bytes): a table 60% full evicts a live entry for about 1 new key in 500 (with
// 8 slots, 1 in 80, and some already at 40%).
constexpr uint32_t kProbeWindow = 16;

enum class Algorithm : uint8_t { TokenBucket = 1, SlidingWindow = 2, FixedWindow = 3 };

// A 64-bit streaming hash (multiply-rotate rounds, murmur3's finalizer). Each add() also mixes
// in the length, so ("ab", "c") and ("a", "bc") differ.
class Hasher {
  public:
    explicit Hasher(uint64_t seed) : h_(seed ^ 0x243f6a8885a308d3ULL) {}
    void add(std::string_view bytes);
    void add_u64(uint64_t v) { round(v); }
    uint64_t finish() const;

  private:
    void round(uint64_t w);
    uint64_t h_;
};

// What the table needs to know about a policy.
struct Params {
    uint64_t id = 0;           // identity (name, algorithm, period): seeds the key hashes
    Algorithm algorithm = Algorithm::TokenBucket;
    uint64_t limit = 1;        // windows: requests per window; token bucket: its size (burst)
    uint64_t period_ns = 1000000000;
    uint64_t interval_us = 0;  // token bucket: the time one token takes to come back

    uint32_t tag() const { return static_cast<uint32_t>(id >> 32) | 1; }
    bool windowed() const { return algorithm != Algorithm::TokenBucket; }

    // `rate` requests per `period_ns`; `burst` (token bucket only, 0 = `rate`).
    static Params make(std::string_view name, Algorithm algorithm, uint64_t rate, uint64_t period_ns,
                       uint64_t burst);
};

struct Decision {
    bool allowed = true;
    uint64_t limit = 0;           // RateLimit-Limit
    uint64_t remaining = 0;       // RateLimit-Remaining, after this request
    uint64_t reset_ns = 0;        // until the whole quota is back if no request came
    uint64_t retry_after_ns = 0;  // rejected: until a request would be allowed
};

// The algorithms on a 56-bit value (0 = a key never seen). Pure, for the table and for tests.
// `next` receives the value after counting the request, when it is allowed.
Decision evaluate(const Params& p, uint64_t value, uint64_t now_ns, uint64_t* next);
// True when `value` at `now_ns` means the same as 0: forgetting it loses nothing.
bool is_idle(const Params& p, uint64_t value, uint64_t now_ns);
// `value` with one request counted at `counted_ns` taken back (what it can still find of it).
uint64_t refunded(const Params& p, uint64_t value, uint64_t counted_ns);
// Windows only: an entry last touched at `touched_s` is too old for its window number to mean
// anything at `now_s` (monotonic seconds).
bool is_stale(const Params& p, uint32_t touched_s, uint32_t now_s);

struct Slot {
    std::atomic<uint64_t> key;      // hash56 << 8 | epoch
    std::atomic<uint64_t> state;    // epoch << 56 | value
    std::atomic<uint32_t> touched;  // monotonic seconds of the last update (LRU, window guard)
    std::atomic<uint32_t> policy;   // Params::tag() of the policy that owns the entry
    uint64_t reserved;
};
static_assert(sizeof(Slot) == 32);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

class Table {
  public:
    // Attaches to a zone created with kLayoutVersion, laying the table out on first use (under
    // the zone mutex; the master does it before forking). nullptr when the zone holds something
    // else or is too small.
    static std::unique_ptr<Table> attach(shm::Zone& zone);

    uint64_t capacity() const { return capacity_; }
    uint64_t evictions() const;  // live entries replaced, over the life of the zone
    uint64_t used() const;       // slots holding an entry (a scan: for tests and tools)

    // The policies this process knows, so that eviction can tell their idle entries (free to
    // reuse) from live ones. Entries of other policies count as live.
    void set_policies(std::vector<Params> known) { known_ = std::move(known); }

    // Where a request was counted, for refund().
    struct Ref {
        Slot* slot = nullptr;
        uint8_t epoch = 0;
        uint64_t at_ns = 0;
    };

    // The decision for one more request of `key_hash`, without counting it.
    Decision peek(const Params& p, uint64_t key_hash, uint64_t now_ns) const;
    // The decision, and the request counted when it is allowed. `evicted` is set when a live
    // entry of another key had to make room.
    Decision consume(const Params& p, uint64_t key_hash, uint64_t now_ns, Ref* ref = nullptr,
                     bool* evicted = nullptr);
    // Takes back a request counted by consume() (another policy of the route rejected it).
    void refund(const Params& p, const Ref& ref);

  private:
    struct Root;
    Table(Root* root, Slot* slots, uint64_t capacity) : root_(root), slots_(slots), capacity_(capacity) {}
    Slot& slot(uint64_t start, uint32_t j) const;
    uint64_t home(uint64_t key_hash) const;
    bool find(uint64_t want, uint64_t key_hash, Slot*& slot, uint64_t& key) const;
    bool claim(const Params& p, uint64_t want, uint64_t key_hash, uint64_t now_ns, Slot*& slot,
               uint64_t& key, bool* evicted);
    bool slot_idle(const Slot& s, uint64_t key, uint64_t now_ns) const;
    const Params* known(uint32_t tag) const;

    Root* root_;
    Slot* slots_;
    uint64_t capacity_;
    std::vector<Params> known_;
};

}  // namespace gw::ratelimit
