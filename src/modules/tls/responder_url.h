// The URL of an OCSP responder (`responder:`, or a certificate's Authority Information Access),
// read without anything else of the module (fuzzed by t/fuzz/fuzz_ocsp_url.cc).
#pragma once

#include <string>
#include <string_view>

namespace gw::tls {

// An http:// responder URL: http://HOST[:PORT][/PATH], HOST a name, an IPv4 address or an IPv6
// one in brackets. No user, query or fragment; https:// is refused (OCSP responders are plain
// HTTP: their responses are signed).
struct ResponderUrl {
    std::string host_port;   // "HOST:PORT" (the port made explicit), to resolve
    std::string host_field;  // the Host field: the authority as written
    std::string path;        // "/" at least
};

// False, with `error` set, when `url` is not such a URL.
bool parse_responder_url(std::string_view url, ResponderUrl& out, std::string& error);

// Whether `s` starts with `prefix` (lower-case), whatever the case of `s`.
bool starts_with_lower(std::string_view s, std::string_view prefix);

}  // namespace gw::tls
