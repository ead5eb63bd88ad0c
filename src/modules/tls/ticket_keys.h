// Session ticket keys of one listener, in its shared-memory zone ("tls-tickets.ADDRESS"): the
// current key (tickets are issued under it), the previous one and the next one (tickets under
// them are still accepted, and renewed under the current key). The master makes them
// (RAND_bytes: never written to disk, never logged) and rotates them every `rotate`:
// previous <- current <- next <- a new key. A ticket thus resumes for one to two rotations
// after it was issued; "next" lets a node that rotated a moment earlier (a cluster sharing
// keys) be understood by one that has not yet.
//
// The zone is kept across reloads and adopted by a binary upgrade, so tickets issued before
// either still resume after.
//
// Workers read the keys without the lock: a sequence counter (a seqlock) that is odd while the
// master writes. A worker keeps its own copy and looks at the counter once per ticket (one
// atomic load); only when it changed does it copy the keys again (and retries a copy that a
// write overlapped). The master writes under the zone mutex (two masters run during a binary
// upgrade) and checks under it that a rotation is due, so they never rotate twice.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "core/shm/zone.h"

namespace gw::tls {

inline constexpr uint32_t kTicketZoneLayoutVersion = 1;
inline constexpr uint64_t kTicketZoneSize = 64 * 1024;

struct TicketKey {
    std::array<unsigned char, 16> name{};  // sent in the clear, in the ticket: which key made it
    std::array<unsigned char, 32> aes{};   // AES-256-CBC
    std::array<unsigned char, 32> hmac{};  // HMAC-SHA256
    bool operator==(const TicketKey&) const = default;
};

struct TicketKeys {
    TicketKey current, previous, next;
    uint64_t sequence = 0;       // the ring's counter when copied (even); 0: never copied
    int64_t rotated_at_ms = 0;   // when current became current (CLOCK_REALTIME)
};

// A fresh random key (RAND_bytes); false when the random generator fails.
bool make_ticket_key(TicketKey& out);

class TicketKeyRing {
  public:
    // Lays the ring out in a zone just created, with three fresh keys (or checks one adopted from
    // a previous binary, keeping its keys). In the master. False when the zone cannot hold it or
    // no random key could be made.
    static bool lay_out(shm::Zone& zone, int64_t now_ms);
    // The ring of a zone lay_out() prepared; nullptr when it holds none.
    static std::unique_ptr<TicketKeyRing> attach(shm::Zone& zone);

    // The counter: changes (by 2) with every write. One relaxed load: what a handshake pays.
    uint64_t sequence() const { return seq().load(std::memory_order_relaxed); }
    // Copies the keys into `out` when the ring's counter differs from out.sequence. False when
    // no consistent copy could be had (a writer died halfway: the next write repairs it); `out`
    // is then left as it was.
    bool read(TicketKeys& out) const;
    int64_t rotated_at_ms() const;

    // Rotates (previous <- current <- next <- `fresh`) when `rotate_ms` has passed since the
    // last rotation at `now_ms`; true when it did. Under the zone mutex.
    bool rotate_if_due(int64_t now_ms, int64_t rotate_ms, const TicketKey& fresh);
    // Replaces the three keys (keys adopted from the cluster, part of `shared: redis`).
    void replace(const TicketKey& current, const TicketKey& previous, const TicketKey& next, int64_t rotated_at_ms);
    // How many rotations the ring has seen (for tests and logs).
    uint64_t rotations() const;

  private:
    struct Root;
    TicketKeyRing(shm::Zone& zone, Root* root) : zone_(zone), root_(root) {}
    std::atomic<uint64_t>& seq() const;
    void copy_words(TicketKeys& out) const;
    void write(const TicketKey& current, const TicketKey& previous, const TicketKey& next, int64_t rotated_at_ms);

    shm::Zone& zone_;
    Root* root_;
};

}  // namespace gw::tls
