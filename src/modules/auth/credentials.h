// Finding a provider's credential in a request: the first of its `from:` places that has one.
//
// The Authorization header carries a scheme: a JWT provider reads "Bearer <token>", basic auth
// "Basic <base64>", and a credential of another scheme there is not theirs (another provider of
// the route may take it). Authorization is a singleton field: two of them make the credential
// ambiguous, and the request is refused rather than guessed at (a proxy behind us might read the
// other one). Query values are percent-decoded.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "http/parser.h"
#include "modules/auth/config.h"

namespace gw::auth {

enum class Scheme : uint8_t { None, Bearer, Basic };

enum class Found : uint8_t {
    None,       // no place has one: the provider does not apply to this request
    Yes,        // `out` holds it (a view into the request, or into `scratch`)
    Ambiguous,  // a singleton field given twice, or a bad percent-encoding: refuse
};

Found find_credential(const http::Request& req, std::span<const Source> from, Scheme scheme, std::string& scratch,
                      std::string_view& out);

}  // namespace gw::auth
