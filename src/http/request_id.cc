#include "http/request_id.h"

#include <array>
#include <cstring>

namespace gw::http {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Two hex digits per byte from a table: ids are made on every request.
void hex64(uint64_t v, char* out) {
    static const auto table = [] {
        std::array<char, 512> t{};
        for (int b = 0; b < 256; ++b) {
            t[2 * b] = kHex[b >> 4];
            t[2 * b + 1] = kHex[b & 15];
        }
        return t;
    }();
    for (int i = 0; i < 8; ++i, v >>= 8) memcpy(out + 2 * i, &table[2 * (v & 0xff)], 2);
}

}  // namespace

uint64_t IdGenerator::next() {
    // splitmix64: fast, and every seed gives a full-period sequence.
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void IdGenerator::request_id(char out[32]) {
    hex64(next(), out);
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
