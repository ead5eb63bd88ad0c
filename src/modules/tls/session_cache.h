// The TLS session cache one listener's workers share: a hash table in the listener's
// shared-memory zone ("tls-sessions.ADDRESS", sized by `session_cache:`), keyed by session id,
// holding each session as DER (i2d_SSL_SESSION), so a client resumes on whichever worker its
// next connection reaches, and after a reload or a binary upgrade (the zone is kept, or adopted).
//
// Layout (offsets from the zone start, never pointers: another binary may map it elsewhere):
//   Root     the table's tag, its secret, the buckets' offset, the LRU list's ends, counters
//   buckets  uint64_t[bucket_count], each the first entry of a chain
//   entries  one slab object each: Entry, then the DER right after it
// Every operation takes the zone mutex for the table work alone (a lookup, a copy of at most
// kMaxSessionBytes, a few links): the DER is encoded before and decoded after, outside it.
//
// Memory is bounded by the zone: when an entry does not fit, the least recently used ones go
// (first those that have expired) until it does, or it is refused. Sessions larger than
// kMaxSessionBytes (a client certificate chain, say) are refused and counted.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/shm/zone.h"

namespace gw::tls {

inline constexpr uint32_t kSessionCacheLayoutVersion = 1;
// The largest session stored: a session with a client certificate is ~1-2 KB, one without
// ~200 bytes. A bigger one is refused (counted), the client then makes a full handshake.
inline constexpr size_t kMaxSessionBytes = 4096;
inline constexpr size_t kMaxSessionIdBytes = 32;  // SSL_MAX_SSL_SESSION_ID_LENGTH

class SessionCache {
  public:
    // Lays the table out in a zone just created (or checks one adopted from a previous binary).
    // In the master, before the workers fork. False when the zone is too small or holds
    // something else.
    static bool lay_out(shm::Zone& zone);
    // The table of a zone lay_out() prepared; nullptr when it holds none.
    static std::unique_ptr<SessionCache> attach(shm::Zone& zone);

    enum class Stored { Yes, Oversize, Full, BadId };
    // Stores (or replaces) the session `id` -> `der`, valid until `expires` (seconds since the
    // epoch). `now` decides what has expired.
    Stored store(std::span<const unsigned char> id, std::span<const unsigned char> der, int64_t expires,
                 int64_t now);
    // Copies the DER of session `id` into `out` (at least kMaxSessionBytes) and returns its
    // length; 0 when there is none (or it has expired: then it is removed). A hit becomes the
    // most recently used.
    size_t fetch(std::span<const unsigned char> id, int64_t now, std::span<unsigned char> out);
    // A session larger than kMaxSessionBytes was not offered to store(): counted as refused.
    void count_oversize();
    // Removes session `id`; false when it was not there.
    bool remove(std::span<const unsigned char> id);

    // Counters over the life of the zone (every process adds to them).
    struct Stats {
        uint64_t entries = 0;     // held now
        uint64_t stored = 0;      // store() calls that stored
        uint64_t hits = 0;
        uint64_t misses = 0;
        uint64_t evicted = 0;     // live entries dropped to make room
        uint64_t expired = 0;     // dropped because their time had passed
        uint64_t oversize = 0;    // refused: larger than kMaxSessionBytes
        uint64_t full = 0;        // refused: no room even after evicting
    };
    Stats stats() const;

  private:
    struct Root;
    struct Entry;
    SessionCache(shm::Zone& zone, Root* root) : zone_(zone), root_(root) {}

    uint64_t hash(std::span<const unsigned char> id) const;
    uint64_t* bucket(uint64_t h) const;
    uint64_t find(std::span<const unsigned char> id, uint64_t h) const;
    void unlink(uint64_t off);
    void push_front(uint64_t off);
    void drop(uint64_t off);
    uint64_t alloc_evicting(uint64_t size, int64_t now);

    shm::Zone& zone_;
    Root* root_;
};

}  // namespace gw::tls
