// Checking a read token: its signature with a key of the set (verify_signature), then its
// registered claims against a policy (check_claims) - the order matters: nothing a token says
// is believed before its signature is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "modules/auth/jwt/key.h"
#include "modules/auth/jwt/token.h"

namespace gw::auth::jwt {

// Whether `signature` is `key`'s signature of `input` with `alg` (the key must allow it: a
// caller that found it with find_key() knows it does; checked again here).
bool verify_signature(Alg alg, const Key& key, std::string_view input, std::string_view signature);

// The key set's verdict on a token: its kid names the key; a token without a kid is tried with
// every key that allows its algorithm (a set holds a handful).
Failure verify_with(const std::vector<Key>& keys, const Token& token);

struct ClaimPolicy {
    std::string issuer;                  // empty: any
    std::vector<std::string> audiences;  // empty: any; else the token must name one of them
    int64_t clock_skew_s = 60;
    int64_t max_lifetime_s = 0;          // 0: no bound
    bool require_exp = true;
};

// exp/nbf/iat against `now` (Unix seconds) with the skew, iss, aud and the lifetime bound.
Failure check_claims(const Token& token, const ClaimPolicy& policy, int64_t now);

// A `require:` check on a claim: true when the claim equals `want`, or - for an array, or for a
// string of space-separated words (an OAuth "scope") - when one of its items or words does.
bool claim_satisfies(const ClaimValue& claim, std::string_view want);

}  // namespace gw::auth::jwt
