// A JWS in compact serialisation (RFC 7515 §7.1) as a JWT (RFC 7519): split, decoded, its header
// and claims read - strictly: three base64url parts without padding, JSON objects without
// duplicate members (RFC 7515 §4: "MUST reject" is the safe reading), no "crit" extensions (we
// understand none), no JWE, an "alg" from the allow-list ("none" never is).
//
// One Reader per worker: its JSON parser and buffers keep their capacity, so reading a token
// allocates nothing once warmed up. A Token's strings are its own (copied), valid until the
// Token is read into again.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "modules/auth/jwt/alg.h"

// simdjson.h is a large header (1.3 s of compile time per file at -O2): only token.cc needs it.
namespace simdjson::dom {
class parser;
}

namespace gw::auth::jwt {

// Why a token is refused, as the WWW-Authenticate error_description says it (RFC 6750 §3).
enum class Failure : uint8_t {
    None,
    Malformed,         // not three base64url parts of JSON objects, or a claim of the wrong type
    Unsupported,       // "crit", JWE, an unknown algorithm
    AlgNotAllowed,     // an algorithm not in the allow-list
    UnknownKey,        // no key of the set fits the kid and algorithm
    BadSignature,
    Expired,
    NotYetValid,       // nbf in the future
    IssuedInFuture,    // iat in the future
    NoExpiry,          // no exp
    TooLongLived,      // exp - iat (or exp - now) beyond max_lifetime
    WrongIssuer,
    WrongAudience,
    ClaimRequirement,  // a `require:` claim check failed: 403, not 401
};
std::string_view failure_text(Failure f);

// A claim asked for by name (forward_claims, require, rate-limit keys), as found in the token.
struct ClaimValue {
    bool present = false;
    bool is_list = false;             // a JSON array
    std::string text;                 // a string as is; a number or boolean as JSON writes it;
                                      // an array's items joined with ","; an object as JSON
    std::vector<std::string> items;   // an array's items (each as `text` would be)
};

struct Token {
    Alg alg = Alg::RS256;
    std::string kid;
    std::string_view signing_input;   // "header.payload", into the compact text given to read()
    std::string signature;            // decoded
    std::string iss, sub;
    std::vector<std::string> aud;     // a string "aud" is a list of one
    bool has_exp = false, has_nbf = false, has_iat = false;
    int64_t exp = 0, nbf = 0, iat = 0;  // NumericDate, whole seconds (fractions dropped)
    std::vector<ClaimValue> claims;   // parallel to the names read() was given
};

class Reader {
  public:
    Reader();
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // Reads `compact` (which must outlive the token's signing_input) into `out`, with the
    // claims named in `wanted`. Failure::None when the token is well formed and its algorithm
    // is in `allowed`; the signature is not checked here (verify.h).
    Failure read(std::string_view compact, const AlgSet& allowed, std::span<const std::string> wanted, Token& out);

  private:
    Failure read_header(Token& out, const AlgSet& allowed);
    Failure read_claims(Token& out, std::span<const std::string> wanted);

    std::unique_ptr<simdjson::dom::parser> json_;
    std::string header_;   // decoded JSON, with simdjson's padding as spare capacity
    std::string payload_;
};

// Largest token read (bytes of the compact form): a bigger one is Malformed at once.
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

}  // namespace gw::auth::jwt
