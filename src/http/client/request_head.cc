#include "http/client/request_head.h"

#include <string>

#include "http/chars.h"
#include "http/client/client.h"

namespace gw::httpc {

namespace {

// Visible characters only (obs-text included, as a configured path may hold UTF-8): no space,
// no control character, so nothing ends the request line or a header early.
bool is_visible(std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    return true;
}

bool is_field_value(std::string_view s) {
    for (char c : s)
        if (!http::chars::is_text(c)) return false;
    return true;
}

// Headers the client writes itself: the caller may not set them (a second Host, or a framing
// header on a request without a body, would be read differently by different servers).
bool reserved(std::string_view name) {
    using http::chars::iequals;
    return iequals(name, "host") || iequals(name, "connection") || iequals(name, "content-length") ||
           iequals(name, "transfer-encoding") || iequals(name, "upgrade") || iequals(name, "te");
}

}  // namespace

std::string_view write_request_head(const Request& r, std::string& out) {
    out.clear();
    if (!http::chars::is_token(r.method)) return "invalid method";
    if (r.target.empty() || r.target[0] != '/' || !is_visible(r.target)) return "invalid request target";
    if (r.host.empty() || !is_visible(r.host)) return "invalid or missing host";
    for (const http::Header& h : r.headers) {
        if (!http::chars::is_token(h.name)) return "invalid header name";
        if (!is_field_value(h.value)) return "invalid header value";
        if (reserved(h.name)) return "a header the client sets itself";
    }
    out.append(r.method).append(" ").append(r.target).append(" HTTP/1.1\r\nHost: ").append(r.host).append("\r\n");
    for (const http::Header& h : r.headers) out.append(h.name).append(": ").append(h.value).append("\r\n");
    if (!r.body.empty()) out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
    out.append("Connection: close\r\n\r\n");
    out.append(r.body);
    return {};
}

}  // namespace gw::httpc
