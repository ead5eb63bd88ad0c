// Helpers shared by the libFuzzer harnesses: a trap-on-failure check, a cheap hash, a small PRNG
// seeded from the input (so piece sizes and prefix lengths are deterministic per input), and
// a check that a view lies inside a buffer.
#pragma once

#include <cstdint>
#include <string_view>

#define CHECK(cond)                    \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

namespace fuzz {

inline uint64_t fnv1a(std::string_view s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

inline bool within(std::string_view v, std::string_view outer) {
    if (v.empty()) return true;  // an empty view carries no bytes to be outside of
    return v.data() >= outer.data() && v.data() + v.size() <= outer.data() + outer.size();
}

}  // namespace fuzz
