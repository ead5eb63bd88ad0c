// Header rewriting between client and upstream: what a proxy must remove (hop-by-hop headers,
// RFC 9110 §7.6.1), what it adds (X-Forwarded-*, X-Request-Id, traceparent), and the route's
// own set/remove operations. Pure functions over views, so they are unit-tested on their own.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/config/config.h"
#include "http/chars.h"
#include "http/parser.h"
#include "http/request_id.h"
#include "http/response_fields.h"

namespace gw::http::proxy {

using http::IdGenerator;  // (request_id.h) for the traceparent's ids

bool valid_traceparent(std::string_view value);

// Everything about a request that the upstream request head needs beyond the parsed request.
struct UpstreamRequestInput {
    std::string_view target;        // path (rewritten/stripped) + "?query" if any
    std::string_view default_host;  // Host to send when the request has none (HTTP/1.0):
                                    // the upstream's name, as nginx's $proxy_host
    std::string_view client_ip;
    std::string_view request_id;    // the id to send (the client's, or generated)
    std::string_view traceparent;   // the value to send (the client's if valid, or generated)
    bool chunked_body = false;      // send "transfer-encoding: chunked"
    bool has_length = false;        // send "content-length: length"
    uint64_t length = 0;
    bool upgrade = false;           // keep Upgrade and send "connection: upgrade"
    bool https = false;             // the client came over TLS (X-Forwarded-Proto: https)
    const HeaderOps* ops = nullptr;
    const vars::Env* env = nullptr;  // what the ops' variables read (null: none have a value)
    // Fields the route's filters set ("name: value\r\n"...; Stream::add_request_header), and
    // the names they may set: the client's fields of those names are dropped.
    std::string_view filter_lines;
    std::span<const std::string_view> filter_field_names;
};

// Appends the request head for the upstream (request line, filtered headers, added headers,
// final CRLF) to `out`.
void build_upstream_request(std::string& out, const Request& req, const UpstreamRequestInput& in);

struct ClientResponseInput {
    bool client_http10 = false;
    bool chunked = false;           // pass the body chunked (adds transfer-encoding: chunked)
    bool keep_alive = true;         // connection: keep-alive or close
    bool body_transformed = false;  // body filters change the body: the upstream's Content-Length goes
    bool upgrade = false;           // a 101: keep Upgrade, send connection: upgrade
    std::string_view request_id;    // added as x-request-id unless the upstream sent one
    const HeaderOps* ops = nullptr;
    const vars::Env* env = nullptr;  // what the ops' variables read
    // Header lines the route's filters add ("name: value\r\n"..., e.g. the gateway's
    // RateLimit-*), and the names of the fields they set: when there are lines, the upstream's
    // fields of those names are dropped.
    std::string_view filter_headers;
    std::span<const std::string_view> filter_field_names;
    // The upstream's fields the filters replaced on this response (lower-case names): dropped.
    std::span<const std::string_view> replaced_field_names;
};

// Appends the response head for the client to `out`.
void build_client_response(std::string& out, const Response& resp, const ClientResponseInput& in);
// The same head (not an upgrade) given to a codec as fields; the head's size as HTTP/1.1
// bytes (ResponseFieldSink::head_end).
uint64_t build_client_response(ResponseFieldSink& sink, const Response& resp, const ClientResponseInput& in);

// Appends an interim (1xx other than 101) head for the client to `out`: hop-by-hop headers
// removed and the route's response header changes applied, as on the final response.
void build_interim_response(std::string& out, const Response& resp, const HeaderOps* ops,
                            const vars::Env* env = nullptr);

// True for headers a proxy never forwards (Connection, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-*), given the Connection header's own list. A framing
// header (Content-Length) named in Connection is not hop-by-hop: dropping it would leave the
// message without its length.
bool is_hop_by_hop(std::string_view name, std::string_view connection_value);
// The Connection value to give is_hop_by_hop(): itself when it lists a field that is not
// hop-by-hop anyway, else empty - the usual "keep-alive" or "close" then costs no token walk
// per field.
std::string_view connection_listed_fields(std::string_view connection_value);

// The one ASCII case-insensitive comparison (http/chars.h), named here for the proxy's files.
using chars::iequals;

}  // namespace gw::http::proxy
