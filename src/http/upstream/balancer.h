// Load balancing: which server of an upstream gets the next request.
//
// One Balancer per upstream per worker, built when a generation starts. The caller says which
// servers are usable for this pick (not down, not already tried by this request); the balancer
// prefers non-backup servers and falls back to backups only when no primary is usable.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/config/config.h"

namespace gw::upstream {

struct PickInput {
    std::span<const uint8_t> usable;  // one entry per server of the upstream: 1 = may be picked
    uint64_t hash = 0;                // the request's hash key (Balance::Hash), see hash_key()
};

class Balancer {
  public:
    virtual ~Balancer() = default;
    // Index of the chosen server, or -1 when no server is usable.
    virtual int pick(const PickInput& in) = 0;

    // `active` has one pointer per server: the number of requests in flight to that server
    // across all workers (shared memory), read by least_conn and random_two. Pointers may be
    // null (then counted as 0).
    static std::unique_ptr<Balancer> create(const UpstreamConfig& upstream,
                                            std::vector<std::atomic<int64_t>*> active,
                                            uint64_t seed);
};

// 64-bit hash for consistent hashing (stable across processes, builds and restarts).
uint64_t hash_key(std::string_view key);

// splitmix64's output function (also MurmurHash3's style of 64-bit finalizer): a bijection that
// spreads every input bit over the whole word.
inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

}  // namespace gw::upstream
