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

#include <cstdint>
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

// True when `path` (starting with '/') is certainly canonical: no '%', '\', "//", "/." or byte
// above 0x7f. The common case, checked without writing anything.
bool path_is_plain(std::string_view path);

// Normalises `path`, which starts with '/'. Uses the quick check above first.
PathVerdict normalize_path(std::string_view path, const PathOptions& opt, std::string& out,
                           std::string_view& reason);

// The full algorithm without the quick check (for tests and the fuzz target): Normalized or
// Invalid, never Unchanged.
PathVerdict normalize_path_full(std::string_view path, const PathOptions& opt, std::string& out,
                                std::string_view& reason);

}  // namespace gw::http
