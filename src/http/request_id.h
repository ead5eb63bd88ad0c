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
    explicit IdGenerator(uint64_t seed) : state_(seed ? seed : 0x9e3779b97f4a7c15ULL) {}
    uint64_t next();
    void request_id(char out[32]);    // 32 lowercase hex
    void span_id(char out[16]);       // 16 lowercase hex, never all zero
  private:
    uint64_t state_;
};

constexpr size_t kMaxRequestId = 128;

// An incoming X-Request-Id the gateway keeps: 1 to kMaxRequestId bytes of visible ASCII.
bool sane_request_id(std::string_view v);

// The request's id into `out` (kMaxRequestId bytes): `incoming` when sane, else a new one.
// Returns its length.
size_t make_request_id(std::string_view incoming, IdGenerator& ids, char* out);

}  // namespace gw::http
