// The status page's inline stylesheet and script, and the Content-Security-Policy that allows
// exactly those two (by their SHA-256, computed once) and nothing else: no other script, style,
// image, font, frame or form target; connections to the page's own origin only (/status/live).
#pragma once

#include <string>
#include <string_view>

namespace gw::http::status_page {

std::string_view page_style();
std::string_view page_script();

// The admin answer's extra header lines for the page (CSP, nosniff, no referrer, no framing),
// each ending in CRLF.
const std::string& page_headers();

}  // namespace gw::http::status_page
