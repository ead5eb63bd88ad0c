// Small text formatting helpers shared by the response builders.
#pragma once

#include <cstdint>
#include <string>

namespace gw {

// Appends the decimal digits of `v` to `out`.
inline void append_number(std::string& out, uint64_t v) {
    char buf[24];
    char* p = buf + sizeof buf;
    do *--p = static_cast<char>('0' + v % 10); while (v /= 10);
    out.append(p, static_cast<size_t>(buf + sizeof buf - p));
}

}  // namespace gw
