#include "http/request_id.h"

#include <cstring>

namespace gw::http {

namespace {

// 16 lowercase hex digits of v, eight at a time without a table or a loop: ids are made on
// every request. Each nibble is spread into a byte of its own, then 0..9 become '0'..'9' and
// 10..15 'a'..'f' for all eight bytes at once (no byte ever carries into the next).
void hex32(uint32_t x, char* out) {
    uint64_t n = x;
    n = (n | (n << 16)) & 0x0000ffff0000ffffULL;
    n = (n | (n << 8)) & 0x00ff00ff00ff00ffULL;
    n = (n | (n << 4)) & 0x0f0f0f0f0f0f0f0fULL;
    uint64_t letters = ((n + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;  // 1 where >= 10
    uint64_t ascii = n + 0x3030303030303030ULL + letters * 0x27;
    memcpy(out, &ascii, 8);
}

void hex64(uint64_t v, char* out) {
    hex32(static_cast<uint32_t>(v), out);
    hex32(static_cast<uint32_t>(v >> 32), out + 8);
}

}  // namespace

uint64_t IdGenerator::next() {
    // splitmix64: fast, and every seed gives a full-period sequence.
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

IdGenerator::IdGenerator(uint64_t seed) : state_(seed ? seed : 0x9e3779b97f4a7c15ULL) { hex64(next(), prefix_); }

void IdGenerator::request_id(char out[32]) {
    memcpy(out, prefix_, sizeof prefix_);
    hex64(next(), out + 16);
}

void IdGenerator::span_id(char out[16]) {
    uint64_t v;
    do v = next(); while (v == 0);
    hex64(v, out);
}

bool sane_request_id(std::string_view v) {
    if (v.empty() || v.size() > kMaxRequestId) return false;
    for (char c : v)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

size_t make_request_id(std::string_view incoming, IdGenerator& ids, char* out) {
    if (sane_request_id(incoming)) {
        memcpy(out, incoming.data(), incoming.size());
        return incoming.size();
    }
    ids.request_id(out);
    return 32;
}

}  // namespace gw::http
