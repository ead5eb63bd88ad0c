// Stored heads: what of an upstream's response head a cache object keeps, the facts its
// freshness is computed from, and a stored head refreshed by a 304 (RFC 9111 §4.3.4). Shared by
// the filter and the background refresh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/parser.h"
#include "modules/cache/freshness.h"
#include "modules/cache/store.h"

namespace gw::cache {

// The response's facts for freshness.h.
ResponseFacts facts_of(const http::Response& r);

// "HTTP/1.1 200 OK\r\n" and the fields a stored head keeps - not the hop-by-hop ones, framing
// (a stored head gets its own Content-Length), Age (computed when served), Set-Cookie, or the
// upstream's per-request X-Request-Id - without the head's end.
void stored_head_of(const http::Response& r, std::string& out);

// Ends a stored head: its Content-Length and the blank line.
void end_stored_head(std::string& head, size_t body_size);

// The Vary field names, lower-case, comma-separated, in order ("" without Vary).
void vary_names(const http::Response& r, std::string& out);

// `stored` (a whole stored head) with its fields updated from the 304 `fresh`: the 304's
// fields replace those of the same names. A whole head, ended for a body of `body_size` bytes.
void merge_304(std::string_view stored, const http::Response& fresh, size_t body_size, std::string& out);

// A field of a whole stored head ("" when absent).
std::string_view field_of(std::string_view head, std::string_view name);

// Parses a whole stored head into `out` (a Response holds a large field array: callers keep one).
bool parse_stored(std::string_view head, http::Response& out);

Meta meta_of(const ResponseFacts& f, const StoreDecision& d, int64_t request_time, int64_t response_time);

int64_t now_seconds();

}  // namespace gw::cache
