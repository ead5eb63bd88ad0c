// RFC 9111 for a shared cache: what a response's fields say about storing it, for how long it is
// fresh, and its age. Pure functions over field values, for the unit tests and
// t/fuzz/fuzz_cache_control.cc.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace gw::cache {

// The Cache-Control directives a shared cache acts on (RFC 9111 §5.2, RFC 5861). Seconds; -1:
// absent. A directive given twice, or with a value that does not parse, counts as the more
// restrictive reading (a bad max-age is 0, §4.2.1).
struct CacheControl {
    int64_t max_age = -1;
    int64_t s_maxage = -1;
    int64_t stale_while_revalidate = -1;
    int64_t stale_if_error = -1;
    bool no_store = false;
    bool no_cache = false;  // also no-cache="field": the whole response is revalidated (stricter)
    bool is_private = false;  // also private="field": not stored (stricter)
    bool is_public = false;
    bool must_revalidate = false;
    bool proxy_revalidate = false;
};

// Parses Cache-Control field values (several fields are one list). Unknown directives are
// ignored; quoted arguments are read.
CacheControl parse_cache_control(std::span<const std::string_view> values);

// An HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime forms RFC 9110 §5.6.7 says
// to accept), as seconds since the epoch; -1 when it is none of them.
int64_t parse_http_date(std::string_view text);

// A non-negative delta-seconds (the Age field); -1 when it does not parse. Values past 2^31
// are 2^31 (RFC 9111 §1.2.2).
int64_t parse_delta_seconds(std::string_view text);

// What a response's fields say, gathered once at its head.
struct ResponseFacts {
    int status = 0;
    CacheControl cc;
    int64_t date = -1;     // Date, seconds since the epoch (-1: none or bad)
    int64_t expires = -2;  // Expires (-2: none; -1: present but bad, which means "already stale")
    int64_t age = 0;       // Age
    bool set_cookie = false;
    bool vary_star = false;  // Vary: *
    bool has_validator = false;  // ETag or Last-Modified
};

struct Policy {
    int64_t default_ttl = 0;   // seconds, for a response without explicit freshness (0: not stored)
    int64_t swr = 0;           // stale_while_revalidate: the route's, unless the response says
    int64_t sie = 0;           // stale_if_error
};

struct StoreDecision {
    bool store = false;
    const char* why_not = "";  // when not stored: for the debug log
    int64_t lifetime = 0;      // freshness lifetime, seconds (0: stale at once - revalidated)
    int64_t swr = 0;           // stale-while-revalidate window after it, seconds
    int64_t sie = 0;           // stale-if-error window
    bool must_revalidate = false;  // never served stale (no SWR, no SIE)
};

// Whether a shared cache may store the response to a GET, and its freshness (never a 1xx, 206,
// 304 or 5xx: an error is not kept to answer later requests with). `authorization`:
// the request carried Authorization (stored only when the response allows it: public,
// s-maxage, must-revalidate - §3.5). A response that sets a cookie is not stored (a per-user
// answer is the risk nginx also avoids by default).
StoreDecision decide_store(const ResponseFacts& r, bool authorization, const Policy& p);

// The response's current age (RFC 9111 §4.2.3), seconds: `response_time` is when it was
// received, `request_time` when its request was sent, `now` now (all seconds since the epoch).
int64_t initial_age(const ResponseFacts& r, int64_t request_time, int64_t response_time);

}  // namespace gw::cache
