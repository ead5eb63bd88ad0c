// The remote key sets in shared memory (zone "auth-jwks"): the master writes the last good JSON
// of each provider's JWK Set with a version number, the workers read it when the version moved
// and parse it into their own keys. One record per (provider name, URL), kept across reloads and
// binary upgrades like every zone; records are never removed.
//
// The master also counts its answers (fetches finished, or kid-miss requests it declined within
// kid_miss_interval) so that requests waiting for a refetch learn it is over even when the set
// did not change; a worker that met an unknown kid raises `refetch_wanted` before it asks the
// master (a flag rather than an index in the message: workers of several generations, whose
// provider lists differ, share the record).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/shm/keyed_records.h"
#include "core/shm/zone.h"

namespace gw::auth {

constexpr std::string_view kJwksZoneName = "auth-jwks";
constexpr uint32_t kJwksLayoutVersion = 1;
constexpr uint64_t kMaxJwksBytes = 1 << 20;  // a key set body larger than this is refused

// The zone's size for `providers` remote sets: room for two of the largest sets each (the old
// one is freed after the new one is written), and the table.
constexpr uint64_t jwks_zone_size(size_t providers) { return (1 + 2 * static_cast<uint64_t>(providers)) * kMaxJwksBytes + (64 << 10); }

struct JwksRecord {
    shm::KeyedHeader id;
    std::atomic<uint64_t> version;         // 0: no set yet; bumped by every publication
    std::atomic<uint64_t> answers;         // refetches answered (ok, failed or declined)
    std::atomic<uint32_t> refetch_wanted;  // a worker met an unknown kid
    uint32_t length;                       // of the JSON (under the zone mutex)
    uint64_t json;                         // its offset in the zone (under the zone mutex)
};

class JwksTable {
  public:
    explicit JwksTable(shm::Zone& zone);
    // nullptr when the zone is full. Takes the zone mutex.
    JwksRecord* record(std::string_view provider, std::string_view url);
    // Replaces the record's set and bumps its version. False when the zone has no room.
    bool publish(JwksRecord& r, std::string_view json);
    // The record's set and its version, read together. False when there is none yet.
    bool read(const JwksRecord& r, std::string& json, uint64_t& version) const;

  private:
    shm::Zone& zone_;
    shm::KeyedIndex index_;
};

}  // namespace gw::auth
