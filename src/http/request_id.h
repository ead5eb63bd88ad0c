// Request ids: every request gets one (X-Request-Id), made once when its head is read, sent
// upstream, returned on every response (the gateway's own errors too) and written to the access
// log. A client's own id is kept when it is sane (1 to 128 visible ASCII characters); otherwise
// one is generated: 32 lowercase hex digits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gw::http {

// A small fast PRNG for ids (one per worker; not for secrets).
class IdGenerator {
  public:
    explicit IdGenerator(uint64_t seed);
    uint64_t next();
    // 32 lowercase hex: 64 random bits drawn once per generator, then 64 bits of the sequence,
    // which never repeats within a generator (splitmix64 has a full period). Half the work of
    // 128 fresh bits on every request; the right half stays random, as W3C trace ids want.
    void request_id(char out[32]);
    void span_id(char out[16]);       // 16 lowercase hex, never all zero
  private:
    uint64_t state_;
    char prefix_[16];
};

constexpr size_t kMaxRequestId = 128;

// An incoming X-Request-Id the gateway keeps: 1 to kMaxRequestId bytes of visible ASCII.
bool sane_request_id(std::string_view v);

// The request's id into `out` (kMaxRequestId bytes): `incoming` when sane, else a new one.
// Returns its length.
size_t make_request_id(std::string_view incoming, IdGenerator& ids, char* out);

}  // namespace gw::http
