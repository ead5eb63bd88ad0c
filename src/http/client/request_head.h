// The request head the client sends, checked field by field: whatever a caller passes (a path
// from the configuration, a header value from a key set's URL) cannot split the request or
// smuggle a second one.
#pragma once

#include <string>
#include <string_view>

namespace gw::httpc {

struct Request;

// Writes "METHOD target HTTP/1.1", Host, the extra headers (Content-Length with a body) and
// "Connection: close" into `out`, then the body if any
// (replacing what it held). Returns "" on success, or why the request cannot be sent.
std::string_view write_request_head(const Request& request, std::string& out);

}  // namespace gw::httpc
