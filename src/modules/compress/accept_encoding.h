// Content-coding negotiation (RFC 9110 §12.5.3): which of the codings a route may compress with
// the client accepts, and which it prefers. The first piece of the compress module (issue 16);
// pure, for the unit tests and t/fuzz/fuzz_accept_encoding.cc.
//
// The rules, as RFC 9110 gives them and as browsers and curl send the field:
//   - the field is a comma-separated list of codings, each with an optional weight
//     ("br;q=1.0, gzip;q=0.8, *;q=0.1"); names are case-insensitive; "x-gzip" is gzip;
//   - a weight is "q=" and 0 to 1 with at most three decimals ("0", "0.5", "1.000"); q=0 means
//     "not acceptable"; an element whose weight does not parse is ignored (as if not sent);
//   - "*" gives its weight to every coding the field does not name;
//   - identity (no coding) is acceptable unless "identity;q=0", or "*;q=0" without an identity
//     element of its own, says otherwise;
//   - no field at all: the client did not ask for compression, and gets none (what nginx, Envoy
//     and HAProxy do; RFC 9110 allows any coding, but old clients that send nothing break);
//   - an empty field: identity only.
// The choice is the acceptable coding of the route's list with the highest weight; equal weights
// go to the route's order (the server's preference: br before gzip, as configured).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace gw::compress {

enum class Coding : uint8_t { Identity, Gzip, Br, Zstd };

// Its token in Content-Encoding ("gzip", "br", "zstd"; "identity").
std::string_view coding_name(Coding c);

struct Negotiated {
    Coding coding = Coding::Identity;  // what to send (Identity: do not compress)
    bool identity_acceptable = true;   // false: "identity;q=0" (or "*;q=0") and no coding chosen
};

// `values`: the request's Accept-Encoding field values, in order (several fields are one list);
// empty when the request has none. `offered`: the route's codings in its order of preference.
Negotiated negotiate(std::span<const std::string_view> values, std::span<const Coding> offered);

}  // namespace gw::compress
