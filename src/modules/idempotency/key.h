// The pieces of an idempotency key that need no I/O, pure for the unit tests and the fuzzer:
// parsing the key header, the stored key (a hash of the key's scope and value), the request's
// fingerprint, and the stored response's encoding.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gw::idempotency {

using Digest = std::array<uint8_t, 32>;  // SHA-256

// The key header's value (draft-ietf-httpapi-idempotency-key-header: an sf-string): a quoted
// "..." string (with \" and \\ escapes) or a bare token of visible ASCII; leading and trailing
// spaces and tabs are ignored. The key (unquoted) is 1..255 visible ASCII characters. False for
// anything else (the filter answers 400).
bool parse_key(std::string_view header_value, std::string& key);

// SHA-256 over the scope parts and the key, each length-prefixed (so that ("ab","c") and
// ("a","bc") differ).
Digest scoped_key(std::string_view consumer, std::string_view route, std::string_view key);

// Lower-case hex of a digest (64 characters); and its first 12 for the log.
std::string hex(const Digest& d);

// The stored response: "SSS HHHHHHHH\n" (status, the field lines' length in hex), the field
// lines ("name: value\r\n" each) and the body.
constexpr size_t kBlobPrefix = 13;
void blob_start(std::string& out, int status);
void blob_set_fields_length(std::string& blob, size_t n);
struct Stored {
    int status = 0;
    std::string_view fields;  // "name: value\r\n" lines
    std::string_view body;
};
bool blob_parse(std::string_view blob, Stored& out);

// Response fields never stored: hop-by-hop and framing fields, and those the gateway writes
// itself on every answer (server, date, x-request-id).
bool is_unstored_field(std::string_view name);

}  // namespace gw::idempotency
