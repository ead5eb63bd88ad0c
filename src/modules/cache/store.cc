#include "modules/cache/store.h"

#include <cstring>
#include <new>

#include "core/log.h"

namespace gw::cache {

namespace {

constexpr uint64_t kMagic = 0x3145484341435747ULL;  // "GWCACHE1"
constexpr uint32_t kDead = 1u << 31;                 // in Entry::state, above the pin count
constexpr uint32_t kMarker = 1;                      // Entry::flags: a Vary marker
constexpr size_t kFills = 512;
constexpr size_t kSlots = 2048;        // the status board's worker slots (core/status.h)
constexpr size_t kPinsPerSlot = 64;    // pins a worker records at once; more are not recorded
constexpr size_t kFillProbe = 16;

struct Fill {
    uint64_t hash;  // 0: free
    int64_t started_ms;
    int64_t pass_until_ms;  // hit-for-pass: the key's requests do not wait until then
};

}  // namespace

struct Store::Entry {
    uint64_t hash;
    uint64_t next;      // bucket chain (zone offsets)
    uint64_t lru_prev;  // towards the most recently used
    uint64_t lru_next;
    std::atomic<uint32_t> state;  // pins, and kDead
    uint32_t flags;
    uint32_t key_len;
    uint32_t head_len;  // a marker's: the length of its field names
    uint64_t body_len;
    uint64_t size;      // of the allocation
    Meta meta;
    std::atomic<int64_t> updating_until;  // a stale-while-revalidate refresh runs until then

    char* key() { return reinterpret_cast<char*>(this + 1); }
    std::string_view key_view() { return {key(), key_len}; }
    std::string_view head() { return {key() + key_len, head_len}; }
    std::string_view body() { return {key() + key_len + head_len, body_len}; }
};

struct Store::Root {
    uint64_t magic;
    uint64_t resets;  // times the store was emptied after a worker died holding its mutex
    uint64_t nbuckets;
    uint64_t buckets;  // offset of uint64_t[nbuckets]
    uint64_t lru_head, lru_tail;
    uint64_t objects, bytes, evictions;
    Fill fills[kFills];
    uint64_t pins[kSlots];  // per worker slot: the offset of its pin records (0: none yet)
};

// The zone mutex, held by a store operation. A worker that died holding it (SIGKILL in the middle
// of an insert) may have left a list half-linked: the store is emptied, never walked in that
// state. The unreachable entries' memory is lost to the zone until it is made anew (a restart,
// or a reload with another size); objects other workers have pinned stay readable.
class Store::Locked {
  public:
    explicit Locked(const Store& s) : s_(s) {
        if (s_.zone_.mutex().lock()) s_.empty_after_death();
    }
    ~Locked() { s_.zone_.mutex().unlock(); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

  private:
    const Store& s_;
};

void Store::empty_after_death() const {
    LOG_ERROR("cache zone \"%s\": a worker died holding its lock; the cache is emptied (%llu bytes of objects lost "
              "to the zone until it is made anew)",
              zone_.name().c_str(), static_cast<unsigned long long>(root_->bytes));
    std::memset(zone_.base() + root_->buckets, 0, root_->nbuckets * sizeof(uint64_t));
    root_->lru_head = root_->lru_tail = 0;
    root_->objects = root_->bytes = 0;
    std::memset(root_->fills, 0, sizeof root_->fills);
    ++root_->resets;
}

uint64_t Store::hash(std::string_view key) {
    // FNV-1a: the same in every binary (the zone outlives a binary upgrade), and keys are short.
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : key) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;  // (0 marks a free fill slot)
}

bool Store::init(shm::Zone& zone) {
    shm::LockGuard g(zone.mutex());
    uint64_t root_off = zone.alloc(sizeof(Root));
    if (!root_off) return false;
    // About one bucket per 4 KiB of zone: chains stay short for objects of a few KiB and more.
    uint64_t n = 256;
    while (n * 4096 < zone.size() && n < (1u << 22)) n <<= 1;
    uint64_t buckets = zone.alloc(n * sizeof(uint64_t));
    if (!buckets) return false;
    std::memset(zone.base() + buckets, 0, n * sizeof(uint64_t));
    Root* r = new (zone.base() + root_off) Root{};
    r->nbuckets = n;
    r->buckets = buckets;
    r->magic = kMagic;
    zone.header()->root = root_off;
    return true;
}

std::unique_ptr<Store> Store::attach(shm::Zone& zone, int slot) {
    Root* r = zone.at<Root>(zone.header()->root);
    if (!r || r->magic != kMagic) return nullptr;
    return std::unique_ptr<Store>(new Store(zone, r, slot >= 0 && static_cast<size_t>(slot) < kSlots ? slot : -1));
}

// This worker's pin records (made on first use, under the zone lock), or null.
std::atomic<uint64_t>* Store::pin_records(bool make) {
    if (slot_ < 0) return nullptr;
    uint64_t& off = root_->pins[slot_];
    if (!off && make) {
        off = zone_.alloc(kPinsPerSlot * sizeof(std::atomic<uint64_t>));
        if (off) new (zone_.base() + off) std::atomic<uint64_t>[kPinsPerSlot]{};
    }
    return off ? zone_.at<std::atomic<uint64_t>>(off) : nullptr;
}

size_t Store::release_slot(int slot) {
    if (slot < 0 || static_cast<size_t>(slot) >= kSlots) return 0;
    Locked g(*this);
    uint64_t off = root_->pins[slot];
    if (!off) return 0;
    auto* records = zone_.at<std::atomic<uint64_t>>(off);
    size_t n = 0;
    for (size_t i = 0; i < kPinsPerSlot; ++i) {
        uint64_t e_off = records[i].exchange(0, std::memory_order_acq_rel);
        if (!e_off) continue;
        ++n;
        Entry* e = zone_.at<Entry>(e_off);
        if (e->state.fetch_sub(1, std::memory_order_acq_rel) == (kDead | 1)) zone_.free(e_off);
    }
    return n;
}

Store::Entry* Store::lookup(std::string_view key, uint64_t h) {
    uint64_t* buckets = zone_.at<uint64_t>(root_->buckets);
    for (uint64_t off = buckets[h & (root_->nbuckets - 1)]; off;) {
        Entry* e = zone_.at<Entry>(off);
        if (e->hash == h && e->key_view() == key) return e;
        off = e->next;
    }
    return nullptr;
}

void Store::unlink(Entry* e) {
    uint64_t self = static_cast<uint64_t>(reinterpret_cast<char*>(e) - zone_.base());
    uint64_t* link = &zone_.at<uint64_t>(root_->buckets)[e->hash & (root_->nbuckets - 1)];
    while (*link && *link != self) link = &zone_.at<Entry>(*link)->next;
    if (*link) *link = e->next;
    if (e->lru_prev) zone_.at<Entry>(e->lru_prev)->lru_next = e->lru_next;
    else root_->lru_head = e->lru_next;
    if (e->lru_next) zone_.at<Entry>(e->lru_next)->lru_prev = e->lru_prev;
    else root_->lru_tail = e->lru_prev;
    e->next = e->lru_prev = e->lru_next = 0;
}

// Unlinked and dead; freed now unless pinned (then by the last unpin).
void Store::kill(Entry* e) {
    unlink(e);
    if (!(e->flags & kMarker)) --root_->objects;
    root_->bytes -= e->size;
    uint32_t before = e->state.fetch_or(kDead, std::memory_order_acq_rel);
    if ((before & ~kDead) == 0) zone_.free(static_cast<uint64_t>(reinterpret_cast<char*>(e) - zone_.base()));
}

void Store::unpin(Object& o) {
    if (!o.entry) return;
    Entry* e = o.entry;
    o.entry = nullptr;
    if (o.pin >= 0) {
        if (std::atomic<uint64_t>* records = pin_records(false)) records[o.pin].store(0, std::memory_order_release);
        o.pin = -1;
    }
    uint32_t before = e->state.fetch_sub(1, std::memory_order_acq_rel);
    if (before == (kDead | 1)) {  // the last pin of a dead entry
        Locked g(*this);
        zone_.free(static_cast<uint64_t>(reinterpret_cast<char*>(e) - zone_.base()));
    }
}

Store::Object Store::find(std::string_view key, VariantFn variant, void* arg, std::string& scratch) {
    Locked g(*this);
    Entry* e = lookup(key, hash(key));
    if (e && (e->flags & kMarker)) {
        scratch.assign(key);
        variant(e->head(), arg, scratch);
        e = lookup(scratch, hash(scratch));
    }
    if (!e) return {};
    e->state.fetch_add(1, std::memory_order_acq_rel);
    // Recorded under the worker's slot (a record is cleared before the pin is dropped: a worker
    // that dies between the two leaks one pin rather than dropping it twice).
    int pin = -1;
    if (std::atomic<uint64_t>* records = pin_records(true)) {
        for (size_t i = 0; i < kPinsPerSlot; ++i) {
            if (records[i].load(std::memory_order_relaxed) == 0) {
                records[i].store(static_cast<uint64_t>(reinterpret_cast<char*>(e) - zone_.base()),
                                 std::memory_order_release);
                pin = static_cast<int>(i);
                break;
            }
        }
    }
    // Most recently used first.
    uint64_t self = static_cast<uint64_t>(reinterpret_cast<char*>(e) - zone_.base());
    if (root_->lru_head != self) {
        if (e->lru_prev) zone_.at<Entry>(e->lru_prev)->lru_next = e->lru_next;
        if (e->lru_next) zone_.at<Entry>(e->lru_next)->lru_prev = e->lru_prev;
        else root_->lru_tail = e->lru_prev;
        e->lru_prev = 0;
        e->lru_next = root_->lru_head;
        if (root_->lru_head) zone_.at<Entry>(root_->lru_head)->lru_prev = self;
        root_->lru_head = self;
    }
    Object o;
    o.entry = e;
    o.pin = pin;
    o.head = e->head();
    o.body = e->body();
    o.meta = e->meta;
    return o;
}

// Evicts from the least recently used end until `size` bytes can be allocated.
bool Store::make_room(uint64_t size) {
    for (int tries = 0; tries < 4096; ++tries) {
        uint64_t off = zone_.alloc(size);
        if (off) {
            zone_.free(off);
            return true;
        }
        if (!root_->lru_tail) return false;
        kill(zone_.at<Entry>(root_->lru_tail));
        ++root_->evictions;
    }
    return false;
}

bool Store::insert(std::string_view key, std::string_view vary_names, std::string_view variant_key,
                   std::string_view head, std::string_view body, const Meta& meta) {
    auto place = [&](std::string_view k, std::string_view h, std::string_view b, uint32_t flags) -> bool {
        uint64_t size = sizeof(Entry) + k.size() + h.size() + b.size();
        uint64_t off = zone_.alloc(size);
        if (!off && (!make_room(size) || !(off = zone_.alloc(size)))) return false;
        Entry* e = new (zone_.base() + off) Entry{};
        e->hash = hash(k);
        e->flags = flags;
        e->key_len = static_cast<uint32_t>(k.size());
        e->head_len = static_cast<uint32_t>(h.size());
        e->body_len = b.size();
        e->size = size;
        e->meta = meta;
        std::memcpy(e->key(), k.data(), k.size());
        std::memcpy(e->key() + k.size(), h.data(), h.size());
        if (!b.empty()) std::memcpy(e->key() + k.size() + h.size(), b.data(), b.size());
        uint64_t* bucket = &zone_.at<uint64_t>(root_->buckets)[e->hash & (root_->nbuckets - 1)];
        e->next = *bucket;
        *bucket = off;
        e->lru_next = root_->lru_head;
        if (root_->lru_head) zone_.at<Entry>(root_->lru_head)->lru_prev = off;
        root_->lru_head = off;
        if (!root_->lru_tail) root_->lru_tail = off;
        if (!(flags & kMarker)) ++root_->objects;
        root_->bytes += size;
        return true;
    };
    Locked g(*this);
    Entry* at_key = lookup(key, hash(key));
    if (vary_names.empty()) {
        if (at_key) kill(at_key);  // an older object, or a marker of older variants
        return place(key, head, body, 0);
    }
    if (at_key && (!(at_key->flags & kMarker) || at_key->head() != vary_names)) {
        kill(at_key);
        at_key = nullptr;
    }
    if (!at_key && !place(key, vary_names, {}, kMarker)) return false;
    if (Entry* old = lookup(variant_key, hash(variant_key))) kill(old);
    return place(variant_key, head, body, 0);
}

size_t Store::purge(std::string_view key, bool prefix) {
    Locked g(*this);
    size_t n = 0;
    auto matches = [&](Entry* e) {
        std::string_view k = e->key_view();
        if (prefix) return k.starts_with(key);
        // Exactly the key, or one of its variants (the key, a NUL, the variant's values).
        return k == key || (k.size() > key.size() && k.starts_with(key) && k[key.size()] == '\0');
    };
    for (uint64_t off = root_->lru_head; off;) {
        Entry* e = zone_.at<Entry>(off);
        off = e->lru_next;
        if (!matches(e)) continue;
        if (!(e->flags & kMarker)) ++n;
        kill(e);
    }
    return n;
}

Store::Claim Store::claim_fill(uint64_t key_hash, int64_t now_ms, int64_t lock_ms, int64_t* started_ms) {
    Locked g(*this);
    if (started_ms) *started_ms = now_ms;
    Fill* free_slot = nullptr;
    for (size_t i = 0; i < kFillProbe; ++i) {
        Fill& f = root_->fills[(key_hash + i) % kFills];
        bool live = f.hash && (now_ms - f.started_ms < lock_ms || now_ms < f.pass_until_ms);
        if (f.hash == key_hash) {
            if (now_ms < f.pass_until_ms) return Claim::Pass;
            if (now_ms - f.started_ms < lock_ms) return Claim::Busy;
            f.started_ms = now_ms;  // a fill that outlived its lock (its worker died, or it is slow)
            f.pass_until_ms = 0;
            return Claim::Claimed;
        }
        if (!live && !free_slot) free_slot = &f;
    }
    if (!free_slot) return Claim::NoRoom;
    free_slot->hash = key_hash;
    free_slot->started_ms = now_ms;
    free_slot->pass_until_ms = 0;
    return Claim::Claimed;
}

void Store::end_fill(uint64_t key_hash, int64_t started_ms, int64_t now_ms, int64_t pass_ms) {
    Locked g(*this);
    for (size_t i = 0; i < kFillProbe; ++i) {
        Fill& f = root_->fills[(key_hash + i) % kFills];
        if (f.hash != key_hash || f.started_ms != started_ms) continue;  // (not a newer claim)
        if (pass_ms > 0) {
            f.started_ms = INT64_MIN / 2;  // not filling: passing
            f.pass_until_ms = now_ms + pass_ms;
        } else {
            f.hash = 0;
        }
    }
}

bool Store::fill_pending(uint64_t key_hash, int64_t now_ms, int64_t lock_ms) {
    Locked g(*this);
    for (size_t i = 0; i < kFillProbe; ++i) {
        const Fill& f = root_->fills[(key_hash + i) % kFills];
        if (f.hash == key_hash && now_ms - f.started_ms < lock_ms && now_ms >= f.pass_until_ms) return true;
    }
    return false;
}

bool Store::claim_update(const Object& o, int64_t now_s, int64_t until_s) {
    if (!o.entry) return false;
    int64_t cur = o.entry->updating_until.load(std::memory_order_acquire);
    return cur <= now_s && o.entry->updating_until.compare_exchange_strong(cur, until_s, std::memory_order_acq_rel);
}

Store::Stats Store::stats() const {
    Locked g(*this);
    return {root_->objects, root_->bytes, root_->evictions};
}

}  // namespace gw::cache
