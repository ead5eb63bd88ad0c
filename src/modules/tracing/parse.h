// The tracing module's parsers of outside input, pure (no configuration, no I/O), fuzzed by
// t/fuzz/fuzz_tracing.cc: the collector's endpoint URL, and an incoming traceparent.
#pragma once

#include <string>
#include <string_view>

namespace gw::tracing {

// An OTLP/HTTP endpoint, taken apart and resolved when the configuration is loaded.
struct Endpoint {
    std::string url;            // as written
    bool tls = false;           // https:// (through the tls module's client transport)
    std::string host;           // the Host header: the authority as written
    std::string host_port;      // HOST:PORT or [IPv6]:PORT
    std::string target;         // origin-form path (and query)
};

// Takes `url` apart: http[s]://HOST[:PORT][/PATH][?QUERY] (no user info, no fragment, nothing
// but visible ASCII); the path defaults to /v1/traces (the OTLP/HTTP one) when
// absent. False with `error` saying why.
bool parse_endpoint(std::string_view url, Endpoint& out, std::string& error);

// A valid W3C traceparent's parts (Trace Context level 1, §3.2: the same rules as the proxy's
// valid_traceparent(), http/proxy/headers.h; a unit test holds them equal).
struct IncomingTrace {
    std::string_view trace_id;  // 32 hex
    std::string_view parent_id; // 16 hex
    bool sampled = false;       // flags & 01
};
// False when `value` is not a valid traceparent (version 00 form; a later version's first 55
// bytes as the specification says, when followed by '-').
bool parse_traceparent(std::string_view value, IncomingTrace& out);

}  // namespace gw::tracing
