// Verification keys: JWKs (RFC 7517) read from a key set's JSON into OpenSSL EVP_PKEYs, and
// HMAC secrets.
//
// A key set is read whole or not at all when its JSON is malformed (the caller keeps the last
// good one); a single key that cannot be used - an encryption key, a type or curve not
// supported, an RSA modulus under 2048 bits, a point off its curve - is left out with a note
// saying why, so that a provider adding a key of a new kind does not break the others.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modules/auth/jwt/alg.h"

namespace gw::auth::jwt {

struct PkeyFree {
    void operator()(EVP_PKEY* k) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct Key {
    std::string kid;         // empty: the JWK has none
    KeyKind kind = KeyKind::Rsa;
    std::optional<Alg> alg;  // the JWK's "alg": then it verifies that algorithm only
    PkeyPtr pkey;            // asymmetric kinds
    std::string secret;      // KeyKind::Hmac

    // Whether this key may verify a signature made with `a`: the kind must be the
    // algorithm's, and the JWK's own "alg", when it has one, must be `a`.
    bool allows(Alg a) const { return key_kind(a) == kind && (!alg || *alg == a); }
};

inline constexpr size_t kMinRsaBits = 2048;

struct KeySetOptions {
    bool allow_secrets = false;  // "oct" keys (HMAC secrets): only from a local file
};

// Reads a JWK Set ({"keys": [...]}). False with `error` when the JSON is not a key set; else
// true with the usable keys appended to `keys` and one note per key left out (`notes`).
bool parse_jwks(std::string_view json, const KeySetOptions& options, std::vector<Key>& keys,
                std::vector<std::string>& notes, std::string& error);

// The first key of `keys` that may verify `alg` and, when `kid` is not empty, has that kid (a
// token without a kid: the first that fits). Null when none.
const Key* find_key(const std::vector<Key>& keys, std::string_view kid, Alg alg);

}  // namespace gw::auth::jwt
