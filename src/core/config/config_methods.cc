// Request method names in the configuration: the standard ones, and what makes a name valid.
#include <algorithm>

#include "core/config/config_sections.h"

namespace gw::config_detail {

const std::vector<std::string> kKnownMethods = {
    // RFC 9110, and PATCH (RFC 5789)
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    // WebDAV (RFC 4918): what a WebDAV or CalDAV backend behind the gateway needs
    "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
};

bool is_known_method(std::string_view s) {
    return std::find(kKnownMethods.begin(), kKnownMethods.end(), s) != kKnownMethods.end();
}

// Methods are case-sensitive (RFC 9110 9.1) and every registered one is upper-case: a
// lower-case name in the configuration is a mistake, never a distinct method.
// The request parser takes methods of upper-case letters, '-' and '_' only (src/http/parser.cc),
// so a route may name no other.
bool is_method_name(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; });
}

}  // namespace gw::config_detail
