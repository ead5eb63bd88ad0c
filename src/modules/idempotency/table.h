// The keys of `scope: local` policies (and the local-only claims of `on_store_error: allow`):
// a fixed table in the shared-memory zone "idempotency", shared by every worker of the node.
//
// The zone's first quarter holds the slots (open addressing, a bounded probe of kProbe slots);
// the rest is the slab the stored responses are allocated from. Everything is under the zone
// mutex: a claim, a completion and a release each take it once, for a few dozen slot compares
// and one copy.
//
// Bounded: a key whose probe window holds no free or expired slot, or a response the slab has
// no room for, is refused (the claim: 503; the completion: the key is released, the response
// still goes to the client). Nothing is evicted before it expires: evicting a completed key
// would let a retry through to the backend a second time.
//
// Stale claims: an in-flight claim records the worker's board slot; when the master reaps a
// worker (any exit, SIGKILL too) it releases that worker's claims (release_owner). A claim also
// ends after the policy's lease.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/shm/zone.h"
#include "modules/idempotency/key.h"

namespace gw::idempotency {

constexpr uint32_t kLayoutVersion = 1;
constexpr std::string_view kZone = "idempotency";

class Table {
  public:
    // The table in `zone`, laid out on first use; nullptr when the zone cannot hold one.
    static std::unique_ptr<Table> attach(shm::Zone& zone);

    enum class Outcome : uint8_t { Claimed, InFlight, Mismatch, Completed, Full };
    // Claims `key` for a request with fingerprint `fp`: Claimed (with *token, to complete or
    // release it), InFlight, Mismatch (a live entry with another fingerprint), Completed (the
    // stored response copied into *replay), or Full. `now_ms`: CLOCK_MONOTONIC; a claim is
    // kept for `ttl_ms` (the policy's lease), a completed key for complete()'s.
    Outcome claim(const Digest& key, const Digest& fp, uint64_t now_ms, uint64_t ttl_ms, int owner,
                  uint32_t* token, std::string* replay);
    // Stores the response of the claim `token` (which stays in the table until now + ttl).
    // False, the key released, when there is no room for it (or the claim is gone).
    bool complete(const Digest& key, uint32_t token, std::string_view blob, uint64_t now_ms, uint64_t ttl_ms);
    void release(const Digest& key, uint32_t token);
    // The in-flight claims of the worker of board slot `owner`: released; their count.
    size_t release_owner(int owner);

    uint64_t capacity() const;
    size_t live(uint64_t now_ms) const;  // for tests

    static constexpr size_t kProbe = 32;

  private:
    struct Slot;
    struct Root;
    explicit Table(shm::Zone& zone, Root* root) : zone_(zone), root_(root) {}
    Slot* find(const Digest& key);
    void clear(Slot& s);
    shm::Zone& zone_;
    Root* root_;
};

uint64_t monotonic_ms();

}  // namespace gw::idempotency
