// HTTP character classes and small string helpers shared by the request parser, the response
// parser and the proxy's header rewriting. Tables with one entry per byte: one load per byte in
// the hot loops.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/parser.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace gw::http::chars {

enum : uint8_t {
    kTchar = 1,      // RFC 9110 token character
    kHost = 2,       // reg-name / IPv4 characters accepted in a host (stricter than RFC 3986)
    kDigit = 4,
    kHex = 8,
    kValueBad = 16,  // not allowed in a field value or reason phrase: CTLs other than HTAB, DEL
};

constexpr std::array<uint8_t, 256> make_classes() {
    std::array<uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        uint8_t f = 0;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool digit = c >= '0' && c <= '9';
        if (alpha || digit) f |= kTchar | kHost;
        if (digit) f |= kDigit | kHex;
        if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) f |= kHex;
        for (char p : std::string_view("!#$%&'*+^`|"))
            if (c == p) f |= kTchar;
        for (char p : std::string_view("-._~"))
            if (c == p) f |= kTchar | kHost;
        if ((c < 0x20 && c != '\t') || c == 0x7f) f |= kValueBad;
        t[static_cast<size_t>(c)] = f;
    }
    return t;
}

inline constexpr std::array<uint8_t, 256> kClass = make_classes();

inline bool has(char c, uint8_t cls) { return kClass[static_cast<unsigned char>(c)] & cls; }
inline bool is_tchar(char c) { return has(c, kTchar); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }
// HTAB / SP / VCHAR / obs-text: what a field value or a reason phrase may hold.
inline bool is_text(char c) { return !has(c, kValueBad); }
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// The first index from `p` of a byte that may not be in a field value (a CTL other than HTAB,
// or DEL) - on a well-formed line, its CR - or `size` when there is none before it. Sixteen
// bytes at a time where SSE2 is there (every x86-64): a Date or a cookie value in a few steps.
inline size_t skip_value_text(const char* b, size_t p, size_t size) {
#if defined(__SSE2__)
    const __m128i k1f = _mm_set1_epi8(0x1f), ktab = _mm_set1_epi8('\t'), kdel = _mm_set1_epi8(0x7f);
    while (p + 16 <= size) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + p));
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, k1f), v);  // v <= 0x1f (unsigned)
        __m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, ktab), ctl), _mm_cmpeq_epi8(v, kdel));
        int mask = _mm_movemask_epi8(bad);
        if (mask) return p + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
        p += 16;
    }
#endif
    while (p < size && is_text(b[p])) ++p;
    return p;
}

// Lower-cases ASCII letters of `p[0, n)` in place, eight bytes at a time (field names going to
// HTTP/2, which must be lower case): no per-byte branch. Bytes >= 0x80 are left alone.
inline void lower_in_place(char* p, size_t n) {
    auto lower8 = [](char* at) {
        constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
        uint64_t w;
        __builtin_memcpy(&w, at, 8);
        uint64_t low7 = w & ~kHigh;
        uint64_t ge_a = low7 + (0x80 - 'A') * kOnes;  // bit 7 set where the byte >= 'A'
        uint64_t gt_z = low7 + (0x7f - 'Z') * kOnes;  // bit 7 set where the byte > 'Z'
        uint64_t upper = (ge_a & ~gt_z & ~w) & kHigh;  // ASCII and in 'A'..'Z'
        w |= upper >> 2;                               // + 0x20
        __builtin_memcpy(at, &w, 8);
    };
    if (n < 8) {
        for (size_t i = 0; i < n; ++i) p[i] = ascii_lower(p[i]);
        return;
    }
    for (size_t i = 0; i + 8 <= n; i += 8) lower8(p + i);
    if (n % 8) lower8(p + n - 8);  // the tail, overlapping what is lower-case already
}

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

inline std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

inline bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

// The value of the first header named `name` (any case), or an empty view.
inline std::string_view find_header(const Header* headers, size_t count, std::string_view name) {
    for (size_t i = 0; i < count; ++i)
        if (iequals(headers[i].name, name)) return headers[i].value;
    return {};
}

// Finds the first parameter called `name` in `query` ("a=1&b=2", no percent-decoding); a
// parameter without '=' has the empty value.
inline bool query_param(std::string_view query, std::string_view name, std::string_view& value) {
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view param = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        size_t eq = param.find('=');
        if (param.substr(0, eq) == name) {
            value = eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
            return true;
        }
    }
    return false;
}

}  // namespace gw::http::chars
