// The pure pieces of the HTTP/2 upstream path (protocol: h2c | h2): the request's HTTP/1 head,
// as build_upstream_request makes it (hop-by-hop fields removed, X-Forwarded-*, x-request-id,
// traceparent, the route's operations), turned into an HTTP/2 field list; and the response's
// fields from a HEADERS frame turned back into an HTTP/1 head, parsed into the same `Response`
// the HTTP/1 path fills (so filters and build_client_response see no difference).
#pragma once

#include <nghttp2/nghttp2.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"

namespace gw::http::proxy {

// True when a TE value lists the "trailers" token (a gRPC client's "te: trailers").
bool te_has_trailers(std::string_view te);

// Fills `nva` from `head` (an HTTP/1 request head: request line, fields, final CRLF): :method,
// :scheme (`scheme`), :authority (from Host), :path (the request-target), then the fields with
// lower-case names, minus those HTTP/2 forbids (Connection, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade, TE) and Expect (the gateway answered it); "te: trailers" is added
// when `te_trailers`. The names and values point into `storage` (a lower-cased copy of the
// head): keep it until the list is submitted. False when the head is not of that shape.
bool head_to_nv(std::string_view head, std::string_view scheme, bool te_trailers, std::string& storage,
                std::vector<nghttp2_nv>& nva);

// The value of :status as a number; 1000 (invalid) when it is not 1 to 3 digits.
int status_value(std::string_view v);

// Appends one response field as a head line ("name: value\r\n"). Pseudo-fields are not lines.
void append_field(std::string& lines, std::string_view name, std::string_view value);

// The HTTP/1 head of an HTTP/2 response (`lines` from append_field, `status` from :status),
// written into `head` and parsed into `out`. A response without content-length (and that may have
// a body) is marked chunked: the proxy frames it so for the client. False when it does not parse.
bool h2_response(int status, std::string_view lines, bool request_method_head, std::string& head, Response& out);

}  // namespace gw::http::proxy
