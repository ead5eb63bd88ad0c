#include "modules/ratelimit/table.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gw::ratelimit {

namespace {

constexpr uint64_t kTableMagic = 0x314c5452574721ULL;  // "!GWRTL1"
constexpr uint64_t kValueMask = (uint64_t{1} << 56) - 1;
constexpr uint64_t kNsPerSecond = 1000000000;
constexpr uint64_t kPage = 4096;
constexpr int kMaxAttempts = 64;  // CAS rounds before giving up on one decision (never seen)

// Fixed window: window (16 bits) | count (40 bits).
constexpr uint64_t kFixedCountMask = (uint64_t{1} << 40) - 1;
constexpr uint64_t kFixedWindowMask = 0xffff;
// Sliding window: window (8 bits) | previous count (24 bits) | current count (24 bits).
constexpr uint64_t kSlidingCountMask = (uint64_t{1} << 24) - 1;
constexpr uint64_t kSlidingWindowMask = 0xff;

uint8_t epoch_of(uint64_t word_key) { return static_cast<uint8_t>(word_key); }

// What a slot stores of a key's hash: 56 bits in `key` (never 0: that is a free slot) and 56 in
// `check`.
struct Ident {
    uint64_t hi, lo;
    explicit Ident(const KeyHash& h) : hi(h.hi >> 8 ? h.hi >> 8 : 1), lo(h.lo >> 8) {}
};

// Whether slot `x`, whose key word was read as `k`, holds the key `id`. A `check` of another
// epoch is a claim in progress (see table.h): the 56 bits of `key` decide.
bool holds(const Slot& x, uint64_t k, const Ident& id) {
    if ((k >> 8) != id.hi) return false;
    uint64_t c = x.check.load(std::memory_order_acquire);
    return epoch_of(c) != epoch_of(k) || (c >> 8) == id.lo;
}

bool random_bytes(void* buf, size_t n) {
    auto* p = static_cast<unsigned char*>(buf);
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}
uint8_t state_epoch(uint64_t state) { return static_cast<uint8_t>(state >> 56); }
uint64_t make_state(uint8_t epoch, uint64_t value) { return uint64_t{epoch} << 56 | (value & kValueMask); }

uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

Decision token_bucket(const Params& p, uint64_t tat, uint64_t now_ns, uint64_t* next) {
    Decision d;
    d.limit = p.limit;
    uint64_t now = now_ns / 1000;
    uint64_t t = p.interval_us;
    uint64_t tolerance = p.limit * t;  // a full bucket: `limit` requests at once
    uint64_t base = std::max(tat, now);
    uint64_t new_tat = base + t;
    if (new_tat - now > tolerance) {
        d.allowed = false;
        d.retry_after_ns = (new_tat - now - tolerance) * 1000;
        d.reset_ns = (base - now) * 1000;
        return d;
    }
    if (next) *next = new_tat;
    d.remaining = (tolerance - (new_tat - now)) / t;
    d.reset_ns = (new_tat - now) * 1000;
    return d;
}

Decision fixed_window(const Params& p, uint64_t value, uint64_t now_ns, uint64_t* next) {
    Decision d;
    d.limit = p.limit;
    uint64_t w = now_ns / p.period_ns;
    uint64_t count = (value >> 40) == (w & kFixedWindowMask) ? value & kFixedCountMask : 0;
    d.reset_ns = (w + 1) * p.period_ns - now_ns;
    if (count >= p.limit) {
        d.allowed = false;
        d.retry_after_ns = d.reset_ns;
        return d;
    }
    if (next) *next = (w & kFixedWindowMask) << 40 | (count + 1);
    d.remaining = p.limit - count - 1;
    return d;
}

// The estimate of the requests in the last `period` is prev * (P - e) / P + cur, where e is the
// time elapsed in the current window: the previous window's count, weighted by how much of it
// the sliding period still covers. A request is allowed when the estimate plus it is at most the
// limit. Computed in exact integers: prev * (P - e) + (cur + 1) * P <= limit * P.
Decision sliding_window(const Params& p, uint64_t value, uint64_t now_ns, uint64_t* next) {
    using u128 = unsigned __int128;
    Decision d;
    d.limit = p.limit;
    const uint64_t P = p.period_ns;
    uint64_t w = now_ns / P;
    uint64_t e = now_ns - w * P;
    uint64_t stored = value >> 48;
    uint64_t prev = (value >> 24) & kSlidingCountMask;
    uint64_t cur = value & kSlidingCountMask;
    uint64_t age = (w - stored) & kSlidingWindowMask;
    if (age == 1) {
        prev = cur;
        cur = 0;
    } else if (age > 1) {
        prev = cur = 0;
    }
    u128 cap = u128(p.limit) * P;
    u128 load = u128(prev) * (P - e) + u128(cur + 1) * P;
    if (load <= cap) {
        if (next) *next = (w & kSlidingWindowMask) << 48 | prev << 24 | (cur + 1);
        d.remaining = static_cast<uint64_t>((cap - load) / P);
        d.reset_ns = 2 * P - e;  // this window's requests weigh until the end of the next one
        return d;
    }
    d.allowed = false;
    if (cur >= p.limit) {
        // Not before the next window, once this window's count (then "previous") weighs little
        // enough: cur * (P - e') <= (limit - 1) * P.
        uint64_t first = P - static_cast<uint64_t>(u128(p.limit - 1) * P / cur);
        d.retry_after_ns = (P - e) + first;
    } else {
        // In this window, once the previous window's weight has dropped enough:
        // prev * (P - e') <= (limit - cur - 1) * P.
        uint64_t first = P - static_cast<uint64_t>(u128(p.limit - cur - 1) * P / prev);
        d.retry_after_ns = first > e ? first - e : 1;
    }
    d.reset_ns = cur > 0 ? 2 * P - e : P - e;
    return d;
}

// At most `limit` in flight: the value is their number.
Decision concurrency(const Params& p, uint64_t in_flight, uint64_t* next) {
    Decision d;
    d.limit = p.limit;
    if (in_flight >= p.limit) {
        d.allowed = false;
        return d;
    }
    if (next) *next = in_flight + 1;
    d.remaining = p.limit - in_flight - 1;
    return d;
}

// A lease ledger's word for slot `index` at `epoch` (0 is an empty word).
uint64_t lease_word(uint64_t index, uint8_t epoch) { return (index + 1) << 8 | epoch; }

}  // namespace

// --- hashing ------------------------------------------------------------------------------------

namespace sip {

KeyHash hash128(const HashKey& key, std::string_view bytes, int c, int d) {
    State s(key);
    const char* p = bytes.data();
    size_t n = bytes.size();
    auto load = [](const char* at, size_t len) {
        uint64_t w = 0;
        std::memcpy(&w, at, len);
        return w;
    };
    for (; n >= 8; p += 8, n -= 8) s.compress(load(p, 8), c);
    return s.finish(load(p, n) | uint64_t{bytes.size()} << 56, c, d);
}

}  // namespace sip

Params Params::make(std::string_view name, Algorithm algorithm, uint64_t rate, uint64_t period_ns,
                    uint64_t burst) {
    Params p;
    // Not a secret: the identity only has to differ from policy to policy.
    Hasher h(HashKey{0x7261746531696d74ULL, 0x243f6a8885a308d3ULL}, 0);
    h.add(name);
    h.add_u64(static_cast<uint64_t>(algorithm));
    h.add_u64(period_ns);
    p.id = h.finish().hi;
    p.algorithm = algorithm;
    p.period_ns = period_ns;
    if (algorithm == Algorithm::TokenBucket) {
        p.limit = burst ? burst : rate;
        p.interval_us = std::max<uint64_t>(1, period_ns / 1000 / rate);
    } else {
        p.limit = rate;
    }
    return p;
}

// --- the algorithms -----------------------------------------------------------------------------

Decision evaluate(const Params& p, uint64_t value, uint64_t now_ns, uint64_t* next) {
    switch (p.algorithm) {
        case Algorithm::TokenBucket: return token_bucket(p, value, now_ns, next);
        case Algorithm::FixedWindow: return fixed_window(p, value, now_ns, next);
        case Algorithm::SlidingWindow: return sliding_window(p, value, now_ns, next);
        case Algorithm::Concurrency: return concurrency(p, value, next);
    }
    return Decision{};
}

bool is_idle(const Params& p, uint64_t value, uint64_t now_ns) {
    switch (p.algorithm) {
        case Algorithm::TokenBucket: return value <= now_ns / 1000;
        case Algorithm::FixedWindow: {
            uint64_t w = now_ns / p.period_ns;
            return (value >> 40) != (w & kFixedWindowMask) || (value & kFixedCountMask) == 0;
        }
        case Algorithm::SlidingWindow: {
            uint64_t w = now_ns / p.period_ns;
            uint64_t age = (w - (value >> 48)) & kSlidingWindowMask;
            uint64_t prev = (value >> 24) & kSlidingCountMask;
            uint64_t cur = value & kSlidingCountMask;
            return age > 1 || (cur == 0 && (age == 1 || prev == 0));
        }
        case Algorithm::Concurrency: return value == 0;
    }
    return true;
}

uint64_t refunded(const Params& p, uint64_t value, uint64_t counted_ns) {
    switch (p.algorithm) {
        case Algorithm::TokenBucket: return value > p.interval_us ? value - p.interval_us : 0;
        case Algorithm::FixedWindow: {
            uint64_t w = (counted_ns / p.period_ns) & kFixedWindowMask;
            if ((value >> 40) != w || (value & kFixedCountMask) == 0) return value;
            return value - 1;
        }
        case Algorithm::SlidingWindow: {
            uint64_t w = (counted_ns / p.period_ns) & kSlidingWindowMask;
            uint64_t stored = value >> 48;
            if (stored == w && (value & kSlidingCountMask) > 0) return value - 1;
            if (stored == ((w + 1) & kSlidingWindowMask) && ((value >> 24) & kSlidingCountMask) > 0)
                return value - (uint64_t{1} << 24);
            return value;
        }
        case Algorithm::Concurrency: return value > 0 ? value - 1 : 0;
    }
    return value;
}

bool is_stale(const Params& p, uint32_t touched_s, uint32_t now_s) {
    uint64_t period_s = ceil_div(p.period_ns, kNsPerSecond);
    return now_s > touched_s && now_s - touched_s > 2 * period_s + 2;
}

// --- the table ----------------------------------------------------------------------------------

struct Table::Root {
    uint64_t magic;
    uint64_t slots;      // zone offset of Slot[capacity]
    uint64_t capacity;
    std::atomic<uint64_t> evictions;
    HashKey secret;      // of the key hashes: made with the table, kept for the zone's life
};

std::unique_ptr<Table> Table::attach(shm::Zone& zone) {
    shm::ZoneHeader* h = zone.header();
    if (h->layout_version != kLayoutVersion) return nullptr;
    shm::LockGuard lock(zone.mutex());
    if (h->root == 0) {
        uint64_t root_off = zone.alloc(sizeof(Root));
        if (!root_off) return nullptr;
        // Every page left, as one run: a fresh zone's free pages are contiguous.
        uint64_t capacity = shm::Slab::stats(zone.base()).pages_free * kPage / sizeof(Slot);
        uint64_t slots_off = capacity >= kProbeWindow ? zone.alloc(capacity * sizeof(Slot)) : 0;
        if (!slots_off) {
            zone.free(root_off);
            return nullptr;
        }
        Root* root = zone.at<Root>(root_off);
        if (!random_bytes(&root->secret, sizeof root->secret)) {
            zone.free(slots_off);
            zone.free(root_off);
            return nullptr;
        }
        root->slots = slots_off;
        root->capacity = capacity;
        root->evictions.store(0);
        root->magic = kTableMagic;  // last: the zone's memory was zero, slots are all free
        h->root = root_off;
    }
    Root* root = zone.at<Root>(h->root);
    if (root->magic != kTableMagic || root->capacity < kProbeWindow) return nullptr;
    return std::unique_ptr<Table>(new Table(root, zone.at<Slot>(root->slots), root->capacity, root->secret));
}

uint64_t Table::evictions() const { return root_->evictions.load(std::memory_order_relaxed); }

uint64_t Table::used() const {
    uint64_t n = 0;
    for (uint64_t i = 0; i < capacity_; ++i)
        if (slots_[i].key.load(std::memory_order_relaxed) >> 8) ++n;
    return n;
}

uint64_t Table::home(const KeyHash& key_hash) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(key_hash.hi) * capacity_) >> 64);
}

Slot& Table::slot(uint64_t start, uint32_t j) const {
    uint64_t i = start + j;
    return slots_[i >= capacity_ ? i - capacity_ : i];
}

const Params* Table::known(uint32_t tag) const {
    for (const Params& p : known_)
        if (p.tag() == tag) return &p;
    return nullptr;
}

// The first slot of the window holding the key (there is normally at most one; see claim()).
bool Table::find(const KeyHash& key_hash, Slot*& s, uint64_t& key) const {
    Ident want(key_hash);
    uint64_t start = home(key_hash);
    for (uint32_t j = 0; j < kProbeWindow; ++j) {
        Slot& x = slot(start, j);
        uint64_t k = x.key.load(std::memory_order_acquire);
        if (holds(x, k, want)) {
            s = &x;
            key = k;
            return true;
        }
    }
    return false;
}

bool Table::slot_idle(const Slot& s, uint64_t key, uint64_t now_ns) const {
    const Params* p = known(s.policy.load(std::memory_order_relaxed));
    if (!p) return false;
    uint64_t st = s.state.load(std::memory_order_acquire);
    if (state_epoch(st) != epoch_of(key)) return false;  // changing hands right now
    if (p->windowed() && is_stale(*p, s.touched.load(std::memory_order_relaxed),
                                  static_cast<uint32_t>(now_ns / kNsPerSecond)))
        return true;
    return is_idle(*p, st & kValueMask, now_ns);
}

// Takes a slot of the window for a new key: a free one (the first), else one whose entry is idle
// (nothing is lost), else the least recently touched. False when another process changed the
// chosen slot first: the caller looks again.
//
// Two processes inserting the same new key both take the first free slot and only one CAS
// succeeds, so the key is not duplicated. Only when the window changes under them (entries
// evicted at the same moment) can they take two slots; the later one then sees the other and, if
// it comes first in the window, gives its own back. find() always takes the first.
bool Table::claim(const Params& p, const KeyHash& key_hash, uint64_t now_ns, Slot*& out, uint64_t& out_key,
                  bool* evicted) {
    Ident want(key_hash);
    uint64_t start = home(key_hash);
    Slot* free_slot = nullptr;
    Slot* idle_slot = nullptr;
    Slot* lru_slot = nullptr;
    uint64_t free_key = 0, idle_key = 0, lru_key = 0;
    uint32_t oldest = UINT32_MAX;
    for (uint32_t j = 0; j < kProbeWindow; ++j) {
        Slot& x = slot(start, j);
        uint64_t k = x.key.load(std::memory_order_acquire);
        if (holds(x, k, want)) {  // inserted meanwhile
            out = &x;
            out_key = k;
            return true;
        }
        if ((k >> 8) == 0) {
            if (!free_slot) free_slot = &x, free_key = k;
        } else if (!free_slot && !idle_slot) {
            if (slot_idle(x, k, now_ns)) {
                idle_slot = &x, idle_key = k;
            } else if (uint32_t t = x.touched.load(std::memory_order_relaxed); t < oldest || !lru_slot) {
                oldest = t;
                lru_slot = &x, lru_key = k;
            }
        }
    }
    Slot* victim = free_slot ? free_slot : idle_slot ? idle_slot : lru_slot;
    uint64_t old = free_slot ? free_key : idle_slot ? idle_key : lru_key;
    uint8_t epoch = static_cast<uint8_t>(epoch_of(old) + 1);
    uint64_t key = want.hi << 8 | epoch;
    if (!victim->key.compare_exchange_strong(old, key, std::memory_order_acq_rel, std::memory_order_acquire))
        return false;
    victim->check.store(want.lo << 8 | epoch, std::memory_order_release);
    bool live = !free_slot && !idle_slot;
    if (live) {
        root_->evictions.fetch_add(1, std::memory_order_relaxed);
        if (evicted) *evicted = true;
    }
    victim->touched.store(static_cast<uint32_t>(now_ns / kNsPerSecond), std::memory_order_relaxed);
    victim->policy.store(p.tag(), std::memory_order_relaxed);
    // The state restarts at 0 under the new epoch. Updaters that come meanwhile see the old epoch
    // in the state and do this same step themselves (so nobody waits for this process).
    uint64_t st = victim->state.load(std::memory_order_acquire);
    while (state_epoch(st) != epoch &&
           !victim->state.compare_exchange_weak(st, make_state(epoch, 0), std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
    }
    // Did another process insert the same key elsewhere in the window meanwhile?
    for (uint32_t j = 0; j < kProbeWindow; ++j) {
        Slot& x = slot(start, j);
        if (&x == victim) break;  // ours comes first: the other one gives way
        uint64_t k = x.key.load(std::memory_order_acquire);
        if (holds(x, k, want)) {
            uint64_t mine = key;
            victim->key.compare_exchange_strong(mine, epoch, std::memory_order_acq_rel);  // free again
            out = &x;
            out_key = k;
            return true;
        }
    }
    out = victim;
    out_key = key;
    return true;
}

Decision Table::peek(const Params& p, const KeyHash& key_hash, uint64_t now_ns) const {
    uint64_t value = 0;
    Slot* s = nullptr;
    uint64_t key = 0;
    if (find(key_hash, s, key)) {
        uint64_t st = s->state.load(std::memory_order_acquire);
        if (state_epoch(st) == epoch_of(key)) value = st & kValueMask;
        if (p.windowed() && is_stale(p, s->touched.load(std::memory_order_relaxed),
                                     static_cast<uint32_t>(now_ns / kNsPerSecond)))
            value = 0;
    }
    return evaluate(p, value, now_ns, nullptr);
}

Decision Table::consume(const Params& p, const KeyHash& key_hash, uint64_t now_ns, Ref* ref, bool* evicted,
                        std::atomic<uint64_t>* lease) {
    uint32_t now_s = static_cast<uint32_t>(now_ns / kNsPerSecond);
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
        Slot* s = nullptr;
        uint64_t key = 0;
        if (!find(key_hash, s, key) && !claim(p, key_hash, now_ns, s, key, evicted)) continue;
        uint8_t epoch = epoch_of(key);
        // Before the count (the CAS below releases it): a worker killed in between leaves a lease
        // the master gives back although nothing was taken - one too few in flight, which heals
        // as the key's requests end (release() stops at 0) - rather than a count nobody frees.
        if (lease) lease->store(lease_word(static_cast<uint64_t>(s - slots_), epoch), std::memory_order_relaxed);
        uint64_t st = s->state.load(std::memory_order_acquire);
        for (; attempt < kMaxAttempts; ++attempt) {
            if (state_epoch(st) != epoch) {
                if (state_epoch(st) != static_cast<uint8_t>(epoch - 1)) break;  // changed hands: look again
                // The claim of this slot has not reset the state yet: do it for the claimer.
                s->state.compare_exchange_strong(st, make_state(epoch, 0), std::memory_order_acq_rel,
                                                 std::memory_order_acquire);
                continue;
            }
            uint64_t value = st & kValueMask;
            if (p.windowed() && is_stale(p, s->touched.load(std::memory_order_relaxed), now_s)) value = 0;
            uint64_t next = 0;
            Decision d = evaluate(p, value, now_ns, &next);
            if (!d.allowed) {
                if (lease) lease->store(0, std::memory_order_relaxed);
                return d;
            }
            // `touched` first: whoever sees the new state sees this time too (release/acquire).
            s->touched.store(now_s, std::memory_order_relaxed);
            if (s->state.compare_exchange_weak(st, make_state(epoch, next), std::memory_order_acq_rel,
                                               std::memory_order_acquire)) {
                if (ref) *ref = Ref{s, epoch, now_ns};
                return d;
            }
        }
    }
    // Only under a livelock that has never been seen: let the request through uncounted rather
    // than hold the worker.
    if (lease) lease->store(0, std::memory_order_relaxed);
    return evaluate(p, 0, now_ns, nullptr);
}

void Table::release(uint64_t lease) {
    uint64_t index = (lease >> 8) - 1;
    if (lease >> 8 == 0 || index >= capacity_) return;
    uint8_t epoch = static_cast<uint8_t>(lease);
    Slot& s = slots_[index];
    uint64_t st = s.state.load(std::memory_order_acquire);
    for (;;) {
        if (state_epoch(st) != epoch || (st & kValueMask) == 0) return;  // gone, or already at 0
        if (s.state.compare_exchange_weak(st, st - 1, std::memory_order_acq_rel, std::memory_order_acquire)) return;
    }
}

void Table::refund(const Params& p, const Ref& ref) {
    if (!ref.slot) return;
    uint64_t st = ref.slot->state.load(std::memory_order_acquire);
    for (;;) {
        if (state_epoch(st) != ref.epoch) return;  // the entry is gone
        uint64_t value = st & kValueMask;
        uint64_t back = refunded(p, value, ref.at_ns);
        if (back == value) return;
        if (ref.slot->state.compare_exchange_weak(st, make_state(ref.epoch, back), std::memory_order_acq_rel,
                                                  std::memory_order_acquire))
            return;
    }
}

}  // namespace gw::ratelimit
