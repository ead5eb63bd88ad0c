// A cache zone's objects in shared memory: every worker of the node serves from the same store,
// and it outlives reloads and binary upgrades (the zone does). Under the zone mutex: a chained
// hash table of entries, an LRU list, and a small table of fills in progress (the coalescing
// claims). Objects are immutable once stored; a reader pins one (under the mutex) and reads it
// without the mutex, so a big body is never copied with the lock held.
//
// An entry is one slab allocation: Entry | key | head | body. Its key is the route's key text;
// a response with Vary is stored under the key plus the request's values of the Vary fields,
// and the plain key then holds a marker naming those fields (so one key has many variants, as
// nginx and Varnish do it).
//
// Pins and death in one atomic word: a purged, replaced or evicted entry is unlinked and marked
// dead; whoever drops its last pin (the unlinker when it had none) frees it - exactly one party
// sees that transition.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/shm/zone.h"

namespace gw::cache {

constexpr uint32_t kLayoutVersion = 2;

struct Meta {
    int64_t stored_at = 0;    // when the response arrived (seconds since the epoch)
    int64_t initial_age = 0;  // its age then (RFC 9111 §4.2.3)
    int64_t lifetime = 0;     // freshness lifetime, seconds
    int64_t swr = 0;          // stale-while-revalidate window after it
    int64_t sie = 0;          // stale-if-error window after it
    bool must_revalidate = false;
};

class Store {
  public:
    struct Entry;

    // Lays out a fresh zone (the ZoneSpec's attach hook); false when it is too small.
    static bool init(shm::Zone& zone);
    // The store in a zone init() laid out (or one adopted with the same layout); null otherwise.
    // `slot`: the worker's board slot (WorkerEnv::slot): its pins are recorded under it, so that
    // release_slot() can drop them if it dies holding some; -1: not recorded.
    static std::unique_ptr<Store> attach(shm::Zone& zone, int slot = -1);
    // In the master, for a worker it reaped: the pins it held are dropped (a worker SIGKILLed in
    // the middle of answering from an object would otherwise keep that object's memory forever).
    size_t release_slot(int slot);

    // A pinned object: its head (an HTTP/1.1 response head with Content-Length) and body stay
    // valid until unpin().
    struct Object {
        Entry* entry = nullptr;
        std::string_view head, body;
        Meta meta;
        int pin = -1;  // its record among the worker's pins (-1: none)
        explicit operator bool() const { return entry != nullptr; }
    };

    // Finds and pins the object of `key`. A Vary marker there: `variant(names, arg, out)` appends
    // the request's variant key for those field names to `out` (which starts as the key), and
    // that is looked up. Touches the LRU order.
    using VariantFn = void (*)(std::string_view names, void* arg, std::string& out);
    Object find(std::string_view key, VariantFn variant, void* arg, std::string& scratch);
    void unpin(Object& o);

    // Stores an object under `key` (its variant key `variant_key` when `vary_names` is not empty:
    // then the marker under `key` names them), replacing what was there, evicting the least
    // recently used unpinned entries to make room. False when it cannot fit.
    bool insert(std::string_view key, std::string_view vary_names, std::string_view variant_key, std::string_view head,
                std::string_view body, const Meta& meta);

    // Removes the entry of `key` exactly (every variant of a key with a Vary marker), or every
    // entry whose key starts with `key` when `prefix`; how many objects went.
    size_t purge(std::string_view key, bool prefix);

    // Coalescing: a miss claims the fill of `key_hash`. Claimed: go fill it (end_fill() after,
    // with the claim's start, `*started_ms`); Busy: another request fills it (started less than
    // `lock_ms` ago) - wait; Pass: the key's last response could not be stored (hit-for-pass, as
    // Varnish: go upstream, do not wait); NoRoom: no claim could be recorded (proceed without
    // coalescing).
    enum class Claim : uint8_t { Claimed, Busy, Pass, NoRoom };
    Claim claim_fill(uint64_t key_hash, int64_t now_ms, int64_t lock_ms, int64_t* started_ms = nullptr);
    // Ends the claim that started at `started_ms` - not a newer one that took over this key after
    // the first outlived its lock. `pass_ms` > 0: its response may not be stored, so that for that
    // long the key's requests go upstream at once instead of each waiting for the one before it.
    void end_fill(uint64_t key_hash, int64_t started_ms, int64_t now_ms = 0, int64_t pass_ms = 0);
    bool fill_pending(uint64_t key_hash, int64_t now_ms, int64_t lock_ms);

    // A background refresh (stale-while-revalidate) of the entry: true for the one caller that
    // claims it (until `until_s`), false while another runs.
    bool claim_update(const Object& o, int64_t now_s, int64_t until_s);

    struct Stats {
        uint64_t objects = 0, bytes = 0, evictions = 0;
    };
    Stats stats() const;

    static uint64_t hash(std::string_view key);

  private:
    struct Root;
    class Locked;
    void empty_after_death() const;
    Store(shm::Zone& zone, Root* root, int slot) : zone_(zone), root_(root), slot_(slot) {}
    std::atomic<uint64_t>* pin_records(bool make);
    Entry* lookup(std::string_view key, uint64_t h);
    void unlink(Entry* e);
    void kill(Entry* e);
    bool make_room(uint64_t size);
    shm::Zone& zone_;
    Root* root_;
    int slot_;
};

}  // namespace gw::cache
