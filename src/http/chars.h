// HTTP character classes and small string helpers shared by the request parser, the response
// parser and the proxy's header rewriting. Tables with one entry per byte: one load per byte in
// the hot loops.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/parser.h"

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
