// Base64 (RFC 4648): the URL-safe alphabet without padding (§5: JWS compact parts, JWK numbers)
// and the standard one with padding (§4: HTTP Basic credentials). The decoders are strict: a
// character outside the alphabet, a bad length, padding where there must be none (or none where
// there must be some), or unused low bits that are not zero (a second spelling of the same
// bytes) make them fail - a token has one spelling.
#pragma once

#include <string>
#include <string_view>

namespace gw {

// Appends the decoded bytes to `out`; false (out unchanged) when `in` is not canonical base64url.
bool base64url_decode(std::string_view in, std::string& out);
// Standard alphabet, padded to a multiple of 4.
bool base64_decode(std::string_view in, std::string& out);

void base64url_encode(std::string_view in, std::string& out);  // no padding
void base64_encode(std::string_view in, std::string& out);     // padded

// The decoded size of `n` base64url characters (an upper bound when `n` is not valid).
constexpr size_t base64url_decoded_size(size_t n) { return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0); }

}  // namespace gw
