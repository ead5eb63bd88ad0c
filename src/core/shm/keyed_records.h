// Records in a shared-memory zone found by a two-part key, such as (upstream name, server
// address): a chained hash table whose root is the zone's root object. Per-server state that
// every worker shares (circuit breakers, health) lives in such records, so that a reload that
// reorders servers, or a binary upgrade that adopts the zone, finds each server's state again.
//
// Records are never removed (a process of an older generation may still point at one). Lookups
// and insertions take the zone mutex: they happen when a generation starts, not per request;
// the records themselves are then used lock-free by their owners.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>

#include "core/shm/zone.h"

namespace gw::shm {

// The first member of every record: its identity in the table.
struct KeyedHeader {
    uint64_t hash;
    uint64_t key;   // offset of the key string (uint32_t length, then "first\0second")
    uint64_t next;  // chain link
};

class KeyedIndex {
  public:
    // Attaches to `zone`, creating the table (tagged `magic`) on first use.
    KeyedIndex(Zone& zone, uint64_t magic);

    // The record for (first, second), created with `construct` (a placement new of a zeroed
    // record of `size` bytes whose first member is a KeyedHeader) when it does not exist yet.
    // Returns its offset, 0 when the zone is full or is not such a table.
    uint64_t find_or_create(std::string_view first, std::string_view second, uint64_t size,
                            void (*construct)(void* where));

    template <class Record>
    Record* find_or_create(std::string_view first, std::string_view second) {
        static_assert(offsetof(Record, id) == 0, "a record starts with its KeyedHeader `id`");
        uint64_t off = find_or_create(first, second, sizeof(Record), [](void* p) { new (p) Record{}; });
        return zone_.at<Record>(off);
    }

  private:
    Zone& zone_;
    uint64_t magic_;
};

}  // namespace gw::shm
