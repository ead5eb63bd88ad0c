// Rate-limit counters in the shared-memory zone "ratelimit": one table for the whole node, so
// that a limit is one exact limit across every worker (and across the generations that run
// side by side during a reload, and across a binary upgrade, which inherits the zone).
//
// The table is an array of fixed-size slots. A key (a policy and the request's key, hashed to 128
// bits by SipHash-1-3 under a secret of the zone) lives in one of kProbeWindow consecutive slots
// starting at a position given by its hash. Each slot has three 64-bit words that matter:
//
//   key    hi56 << 8 | epoch        hi56 == 0: the slot is free
//   check  lo56 << 8 | epoch        the rest of the key's identity (112 bits in all)
//   state  epoch << 56 | value      value: the algorithm's state, 0 = a key never seen
//
// The hash is keyed, so a client cannot choose a header value whose hash is another user's, and
// 112 bits make an accidental match of two live keys practically impossible. The secret is made
// (getrandom) when the table is laid out and kept in the zone, so a reload or a binary upgrade,
// which adopt the zone, hash every key as before. `check` is written right after the CAS that
// claims the slot: until then it holds another epoch, and a reader takes the 56 bits of `key` as
// the match (a claim in progress; never a way to pick another key's slot, which needs the
// secret).
//
// The hot path (a key already in the table) is lock-free: load the state, compute the decision,
// compare-and-swap the state. The epoch, which changes whenever the slot changes hands, ties the
// state word to the key word: an update prepared for the slot's previous key fails its CAS.
//
// Values (56 bits):
//   token bucket    the GCRA "theoretical arrival time", in microseconds of CLOCK_MONOTONIC
//   fixed window    window number (16 bits) | count (40 bits)
//   sliding window  window number (8 bits) | previous window's count (24) | this window's (24)
//   concurrency     the requests in flight (an entry at 0 is idle: free to reuse)
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
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "core/shm/zone.h"

namespace gw::ratelimit {

constexpr uint32_t kLayoutVersion = 2;  // of the zone's contents; a mismatch starts it afresh
// 16 slots (512 bytes): a table 60% full evicts a live entry for about 1 new key in 500 (with
// 8 slots, 1 in 80, and some already at 40%).
constexpr uint32_t kProbeWindow = 16;

enum class Algorithm : uint8_t { TokenBucket = 1, SlidingWindow = 2, FixedWindow = 3, Concurrency = 4 };

// The secret of the keyed hash (128 bits).
struct HashKey {
    uint64_t k0 = 0, k1 = 0;
};

// A key's identity: 128 bits of keyed hash.
struct KeyHash {
    uint64_t hi = 0, lo = 0;
    bool operator==(const KeyHash&) const = default;
};

namespace sip {

inline uint64_t rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }

// SipHash's state (Aumasson and Bernstein's reference, with its 128-bit output).
struct State {
    uint64_t v0, v1, v2, v3;

    explicit State(const HashKey& k)
        : v0(k.k0 ^ 0x736f6d6570736575ULL), v1(k.k1 ^ 0x646f72616e646f6dULL ^ 0xee),  // 0xee: 128 bits out
          v2(k.k0 ^ 0x6c7967656e657261ULL), v3(k.k1 ^ 0x7465646279746573ULL) {}
    void round() {
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    }
    void compress(uint64_t m, int c) {
        v3 ^= m;
        for (int i = 0; i < c; ++i) round();
        v0 ^= m;
    }
    KeyHash finish(uint64_t last, int c, int d) {
        compress(last, c);
        v2 ^= 0xee;
        for (int i = 0; i < d; ++i) round();
        KeyHash out;
        out.lo = v0 ^ v1 ^ v2 ^ v3;
        v1 ^= 0xdd;
        for (int i = 0; i < d; ++i) round();
        out.hi = v0 ^ v1 ^ v2 ^ v3;
        return out;
    }
};

// SipHash-c-d with its 128-bit output, of a byte string, as the reference computes it.
KeyHash hash128(const HashKey& key, std::string_view bytes, int c, int d);

}  // namespace sip

// The keyed hash of the table's keys: SipHash-1-3 with the 128-bit output (1 compression round
// per word, 3 finalization rounds: the variant Rust's and Python's hash tables use against hash
// flooding; sip::hash128 with 2, 4 is the reference SipHash-2-4), over a stream of fields:
// add() feeds the field's length, then its bytes in 8-byte little-endian words (the last one
// zero-padded), so that ("ab", "c") and ("a", "bc") differ. The result is the SipHash of that
// encoding, which is injective, so the hash keeps SipHash's guarantees. Inline: it runs for
// every policy of every request.
class Hasher {
  public:
    static constexpr int kC = 1, kD = 3;

    Hasher(const HashKey& key, uint64_t domain) : s_(key) { word(domain); }
    void add(std::string_view bytes) {
        word(bytes.size());
        const char* p = bytes.data();
        size_t n = bytes.size();
        for (; n >= 8; p += 8, n -= 8) word(load(p, 8));
        if (n) word(load(p, n));
    }
    void add_u64(uint64_t v) { word(v); }
    KeyHash finish() const {
        sip::State s = s_;
        return s.finish(bytes_ << 56, kC, kD);
    }

  private:
    static uint64_t load(const char* p, size_t n) {
        uint64_t w = 0;
        std::memcpy(&w, p, n);
        return w;
    }
    void word(uint64_t m) {
        s_.compress(m, kC);
        bytes_ += 8;
    }
    sip::State s_;
    uint64_t bytes_ = 0;  // hashed so far (the final block carries it, mod 256)
};

// What the table needs to know about a policy.
struct Params {
    uint64_t id = 0;           // identity (name, algorithm, period): the first word of its key hashes
    Algorithm algorithm = Algorithm::TokenBucket;
    uint64_t limit = 1;        // windows: requests per window; token bucket: its size (burst);
                               // concurrency: requests in flight
    uint64_t period_ns = 1000000000;
    uint64_t interval_us = 0;  // token bucket: the time one token takes to come back

    uint32_t tag() const { return static_cast<uint32_t>(id >> 32) | 1; }
    bool windowed() const { return algorithm != Algorithm::TokenBucket && algorithm != Algorithm::Concurrency; }

    // `rate` requests per `period_ns`; `burst` (token bucket only, 0 = `rate`). Concurrency:
    // `rate` requests in flight (the period only makes the identity).
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
    std::atomic<uint64_t> key;      // hi56 << 8 | epoch
    std::atomic<uint64_t> state;    // epoch << 56 | value
    std::atomic<uint32_t> touched;  // monotonic seconds of the last update (LRU, window guard)
    std::atomic<uint32_t> policy;   // Params::tag() of the policy that owns the entry
    std::atomic<uint64_t> check;    // lo56 << 8 | epoch
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
    // The secret of the key hashes (the same for every process of the zone, over its life).
    const HashKey& secret() const { return secret_; }
    // A hasher for a key of policy `p`.
    Hasher hasher(const Params& p) const { return Hasher(secret_, p.id); }
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
    Decision peek(const Params& p, const KeyHash& key_hash, uint64_t now_ns) const;
    // The decision, and the request counted when it is allowed. `evicted` is set when a live
    // entry of another key had to make room.
    //
    // Concurrency (the request is counted as one in flight): `lease`, when given, is the word of
    // the worker's lease ledger that names the entry holding the request. It is written before
    // the count is taken and cleared when it is not, so that a worker killed at any point leaves
    // the master at most one count too few to give back, never one too many (see leases.h).
    Decision consume(const Params& p, const KeyHash& key_hash, uint64_t now_ns, Ref* ref = nullptr,
                     bool* evicted = nullptr, std::atomic<uint64_t>* lease = nullptr);
    // Takes back a request counted by consume() (another policy of the route rejected it).
    void refund(const Params& p, const Ref& ref);

    // Concurrency: gives back the request in flight that `lease` (a word consume() wrote; 0:
    // none) names. Never below 0; nothing when the entry has changed hands since (evicted).
    void release(uint64_t lease);

  private:
    struct Root;
    Table(Root* root, Slot* slots, uint64_t capacity, HashKey secret)
        : root_(root), slots_(slots), capacity_(capacity), secret_(secret) {}
    Slot& slot(uint64_t start, uint32_t j) const;
    uint64_t home(const KeyHash& key_hash) const;
    bool find(const KeyHash& want, Slot*& slot, uint64_t& key) const;
    bool claim(const Params& p, const KeyHash& want, uint64_t now_ns, Slot*& slot, uint64_t& key, bool* evicted);
    bool slot_idle(const Slot& s, uint64_t key, uint64_t now_ns) const;
    const Params* known(uint32_t tag) const;

    Root* root_;
    Slot* slots_;
    uint64_t capacity_;
    HashKey secret_;
    std::vector<Params> known_;
};

}  // namespace gw::ratelimit
