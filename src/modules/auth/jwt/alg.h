// JWS algorithms (RFC 7518 §3, RFC 8037 for EdDSA) and the kind of key each one needs. An
// algorithm verifies only with a key of its kind: an RSA public key can never be used as an
// HMAC secret (the classic "HS256 signed with the public key" confusion), and "none" is not an
// algorithm here at all.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <openssl/types.h>

namespace gw::auth::jwt {

enum class Alg : uint8_t {
    RS256, RS384, RS512,  // RSASSA-PKCS1-v1_5
    PS256, PS384, PS512,  // RSASSA-PSS, MGF1 with the same hash, salt as long as the hash
    ES256, ES384, ES512,  // ECDSA on P-256 / P-384 / P-521, signature r || s
    EdDSA,                // Ed25519
    HS256, HS384, HS512,  // HMAC
};
inline constexpr int kAlgCount = 13;

enum class KeyKind : uint8_t { Rsa, EcP256, EcP384, EcP521, Ed25519, Hmac };

std::optional<Alg> alg_from_name(std::string_view name);  // exact, case-sensitive; "none": nullopt
std::string_view alg_name(Alg a);
KeyKind key_kind(Alg a);
std::string_view key_kind_name(KeyKind k);  // "RSA", "EC P-256", ..., for messages
// The hash of the algorithm (null for EdDSA, which hashes itself). Fetched once.
const EVP_MD* alg_digest(Alg a);
// Bytes of an ECDSA signature (r || s) for ES*, or of an HMAC for HS*; 0 for the others.
size_t fixed_signature_size(Alg a);

// A set of algorithms (an `algorithms:` allow-list).
class AlgSet {
  public:
    void add(Alg a) { bits_ |= 1u << static_cast<unsigned>(a); }
    bool has(Alg a) const { return bits_ >> static_cast<unsigned>(a) & 1; }
    bool empty() const { return bits_ == 0; }

  private:
    uint32_t bits_ = 0;
};

}  // namespace gw::auth::jwt
