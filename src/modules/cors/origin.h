// Origins (RFC 6454) as CORS compares them: "scheme://host[:port]", the serialisation a browser
// sends in Origin. A configured origin is parsed once, at load, into an OriginPattern; a request's
// Origin is parsed per request into views on the request's own bytes (no allocation) and compared
// against the patterns: scheme and port exactly (a default port, 80 for http and 443 for https,
// equals no port), host case-insensitively. "*.example.com" matches one or more labels before
// ".example.com", never "example.com" itself. "*" alone is any origin; "null" (sandboxed
// documents, file: pages, redirects) matches only a listed "null", never "*".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gw::cors {

// A request's Origin, split. Views on the input.
struct Origin {
    std::string_view scheme;
    std::string_view host;  // as sent (an IPv6 literal keeps its brackets)
    uint16_t port = 0;      // 0: the scheme's default
    bool null = false;      // the opaque origin "null"
};

// Parses an Origin value. nullopt for anything that is not one origin in the serialised form
// (a list, a path, userinfo, an empty label, a bad port, stray characters).
std::optional<Origin> parse_origin(std::string_view text);

struct OriginPattern {
    enum class Kind : uint8_t { Exact, Wildcard, Any, Null };
    Kind kind = Kind::Exact;
    std::string scheme;  // lower-case
    std::string host;    // lower-case; Wildcard: the suffix after "*" (".example.com")
    uint16_t port = 0;   // 0: the scheme's default

    bool matches(const Origin& o) const;
    // The pattern as it reads back ("https://*.example.com:8443").
    std::string text() const;
};

// Parses a configured origin. nullopt with `why` set for a bad one.
std::optional<OriginPattern> parse_pattern(std::string_view text, std::string& why);

// The first pattern `origin` matches, or nullptr.
const OriginPattern* match(std::span<const OriginPattern> patterns, const Origin& origin);

}  // namespace gw::cors
