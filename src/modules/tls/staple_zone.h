// The OCSP responses the master fetched (`ocsp_staple: {fetch: true}`, ocsp_fetch.h), in one
// small shared-memory zone for all listeners ("tls-ocsp"): a fixed table of slots, one per
// certificate, keyed by the SHA-256 of the certificate (so a slot means the same certificate in
// every generation, and after a binary upgrade that adopts the zone).
//
// The master writes a slot under the zone mutex (two masters run during a binary upgrade); the
// workers read without any lock: each slot has a sequence counter (a seqlock, odd while the
// master writes). A worker keeps its own copy of a response with the counter it was copied at:
// a handshake that asks for a staple costs one atomic load, and a copy only when the master
// published something new. A reader that overlaps a write tries again; a writer never waits for
// readers.
//
// The zone is kept across reloads and binary upgrades: a response still valid is stapled by the
// new workers at once and not fetched again.
#pragma once

#include <openssl/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "core/module/module.h"
#include "core/shm/zone.h"

namespace gw::tls {

inline constexpr uint32_t kStapleZoneLayoutVersion = 1;
inline constexpr size_t kStapleSlots = 32;
// A response larger than this is not stapled (they are 0.5 to 3 KiB: a basic response, often
// with the responder's certificate).
inline constexpr size_t kMaxStapleBytes = 8192;

using CertKey = std::array<unsigned char, 32>;  // SHA-256 of the certificate's DER

// The key of a certificate; false when it cannot be computed.
bool cert_key(const X509* leaf, CertKey& out);

std::string staple_zone_name();
// The zone's spec (the tls Descriptor's `zones`, when a listener fetches staples).
module::ZoneSpec staple_zone_spec();

// A response as a slot holds it.
struct StapleCopy {
    uint64_t sequence = 0;  // the slot's counter when copied (even); 0: never copied
    CertKey key{};
    time_t this_update = 0;
    time_t next_update = 0;  // 0: none
    std::string der;         // empty: the slot holds no response
};

class StapleBoard {
  public:
    // Lays the table out in a zone just created (or checks one adopted). False when it cannot.
    static bool lay_out(shm::Zone& zone);
    // The table of a zone lay_out() prepared; nullptr when it holds none.
    static std::unique_ptr<StapleBoard> attach(shm::Zone& zone);
    // The bytes the table takes in its zone.
    static uint64_t table_size();

    // --- the master ---
    // Publishes `der` for `key` (its slot, or a free one, or the one whose response expired
    // longest ago). False when the table is full of live responses or `der` is too large.
    bool publish(const CertKey& key, std::string_view der, time_t this_update, time_t next_update, time_t now);
    // Empties the slot of `key` (its certificate was revoked): nothing more is stapled.
    void withdraw(const CertKey& key);
    // The response held for `key` (copied under the mutex); false when there is none.
    bool get(const CertKey& key, StapleCopy& out) const;
    // How many times responses were published (tests).
    uint64_t publications() const;

    // --- a worker (lock-free) ---
    // The slot of `key`, or -1.
    int find(const CertKey& key) const;
    // The slot's counter: one relaxed load.
    uint64_t sequence(int slot) const;
    // Copies slot `slot` into `out` when its counter differs from out.sequence (out.der keeps
    // its capacity). False when no consistent copy could be had (a writer died halfway: the next
    // write repairs it); `out` then holds no response.
    bool read(int slot, StapleCopy& out) const;

  private:
    struct Slot;
    struct Root;
    StapleBoard(shm::Zone& zone, Root* root) : zone_(zone), root_(root) {}
    void write(Slot& slot, const CertKey& key, std::string_view der, time_t this_update, time_t next_update);

    shm::Zone& zone_;
    Root* root_;
};

}  // namespace gw::tls
