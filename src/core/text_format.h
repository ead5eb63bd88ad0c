// Small formatting helpers for code that builds wire text (HTTP heads, Redis commands) into a
// std::string it reuses: no locale, no temporary strings, so they stay allocation-free once the
// buffer has grown.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

namespace gw {

// Appends `v` in decimal.
inline void append_number(std::string& out, uint64_t v) {
    char buf[20];  // UINT64_MAX has 20 digits
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

}  // namespace gw
