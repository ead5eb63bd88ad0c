// Request-path normalisation, done once per request before routing, so that routes, rewrites,
// rate-limit keys and the upstream all see one canonical form of the path, and a path that two
// servers could read two ways (a dot segment hidden by percent-encoding, an encoded slash, an
// overlong UTF-8 dot) is either made canonical or refused with 400.
//
// The rules, in order (the query is never touched):
//   1. Percent-encodings of unreserved characters (ALPHA DIGIT - . _ ~) are decoded ("%61" -> "a",
//      "%2E" -> "."); every other percent-encoding is kept with upper-case hex digits. Decoding is
//      done once: "%252e" stays "%252e" ("%25" is kept, "2e" is plain text), never ".".
//   2. Encoded slashes and backslashes ("%2F", "%5C") and a raw "\" follow EscapedSlashes: Keep
//      leaves them data, never separators (a raw "\" becomes "%5C"); Reject answers 400; Decode
//      makes all three separators ("/").
//   3. Dot segments are removed (RFC 3986 §5.2.4). A path that would climb above "/" is refused,
//      as is a dot segment carrying path parameters ("..;x", as Tomcat would read it).
//   4. Repeated slashes are merged into one (unless merge_slashes is off).
// A "%" without two hex digits, an encoded NUL or control character, and bytes that are not
// well-formed UTF-8 (overlong forms included: "%C0%AE" is no dot) are refused.
#pragma once

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gw::http {

enum class EscapedSlashes : uint8_t { Keep, Reject, Decode };

struct PathOptions {
    bool merge_slashes = true;
    EscapedSlashes escaped_slashes = EscapedSlashes::Keep;
};

enum class PathVerdict : uint8_t {
    Unchanged,   // already canonical; `out` is unspecified
    Normalized,  // `out` holds the canonical path
    Invalid,     // answer 400; `reason` says why (static text)
};

namespace path_detail {

// Eight bytes at a time (SWAR): the quick check runs on every request, so it costs a few
// instructions per word, not per byte. A mask may flag a byte that is not a match (a borrow from
// a zero byte below it): that only sends a path to the full algorithm, which is exact.
constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

constexpr uint64_t zero_bytes(uint64_t v) { return (v - kOnes) & ~v & kHighBits; }
constexpr uint64_t bytes_equal(uint64_t w, unsigned char c) { return zero_bytes(w ^ (kOnes * c)); }

// `w`: eight path bytes, the first in the low byte; `next`: the byte after them (0 at the end).
inline bool word_is_plain(uint64_t w, unsigned char next) {
    const uint64_t following = (w >> 8) | (uint64_t{next} << 56);  // byte k: the byte after byte k
    const uint64_t special = (w & kHighBits) | bytes_equal(w, '%') | bytes_equal(w, '\\');
    // '.' (0x2E) and '/' (0x2F) differ only in the low bit.
    const uint64_t slash_then_dot_or_slash = bytes_equal(w, '/') & bytes_equal(following | kOnes, '/');
    return (special | slash_then_dot_or_slash) == 0;
}

#if defined(__SSE2__)
// Sixteen bytes at a time with SSE2 (every x86-64 has it): bit k of each mask is byte k.
struct Block16 {
    uint32_t special;        // '%', '\\' or a byte above 0x7f
    uint32_t slash;          // '/'
    uint32_t dot_or_slash;   // '.' or '/'
};

inline Block16 scan16(const char* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    Block16 b;
    b.special = static_cast<uint32_t>(_mm_movemask_epi8(v) |
                                      _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('%'))) |
                                      _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    b.slash = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('/'))));
    // '.' (0x2E) and '/' (0x2F) differ only in the low bit.
    b.dot_or_slash = static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(1)), _mm_set1_epi8('/'))));
    return b;
}

// No special byte, and no '/' followed by '.' or '/' (inside the block, or from `slash_before`,
// a '/' just before it, onto its first byte).
inline bool block_is_plain(const Block16& b, uint32_t slash_before) {
    return (b.special | (b.slash & (b.dot_or_slash >> 1)) | (slash_before & b.dot_or_slash & 1)) == 0;
}
#endif

}  // namespace path_detail

// The same check eight bytes at a time, for machines without SSE2 (and tested everywhere).
inline bool path_is_plain_swar(std::string_view path) {
    const char* p = path.data();
    const size_t n = path.size();
    using path_detail::word_is_plain;
    static_assert(std::endian::native == std::endian::little, "word_is_plain reads bytes little-endian");
    uint64_t w = 0;
    if (n < 8) {
        if (n) memcpy(&w, p, n);  // zero padding matches nothing
        return word_is_plain(w, 0);
    }
    size_t i = 0;
    for (; i + 8 < n; i += 8) {
        memcpy(&w, p + i, 8);
        if (!word_is_plain(w, static_cast<unsigned char>(p[i + 8]))) return false;
    }
    memcpy(&w, p + n - 8, 8);  // the last eight bytes, overlapping what was checked
    return word_is_plain(w, 0);
}

// True when `path` (starting with '/') is certainly canonical: no '%', backslash, "//", "/." or byte
// above 0x7f. The common case, checked without writing anything.
inline bool path_is_plain(std::string_view path) {
#if defined(__SSE2__)
    using namespace path_detail;
    const char* p = path.data();
    const size_t n = path.size();
    if (n < 16) {
        char buf[16] = {};  // zero padding matches nothing
        if (n) memcpy(buf, p, n);
        return block_is_plain(scan16(buf), 0);
    }
    uint32_t slash_before = 0;
    size_t i = 0;
    for (; i + 16 < n; i += 16) {
        Block16 b = scan16(p + i);
        if (!block_is_plain(b, slash_before)) return false;
        slash_before = b.slash >> 15;
    }
    // The last sixteen bytes, overlapping what was checked; the byte before them is known.
    return block_is_plain(scan16(p + n - 16), n > 16 && p[n - 17] == '/' ? 1 : 0);
#else
    return path_is_plain_swar(path);
#endif
}

// Normalises `path`, which starts with '/'. Uses the quick check above first.
PathVerdict normalize_path(std::string_view path, const PathOptions& opt, std::string& out,
                           std::string_view& reason);

// The full algorithm without the quick check (for tests and the fuzz target): Normalized or
// Invalid, never Unchanged.
PathVerdict normalize_path_full(std::string_view path, const PathOptions& opt, std::string& out,
                                std::string_view& reason);

}  // namespace gw::http
