#include "modules/auth/jwt/alg.h"

#include <openssl/evp.h>

#include <array>

namespace gw::auth::jwt {

namespace {

struct AlgInfo {
    std::string_view name;
    KeyKind kind;
    const char* digest;  // OpenSSL name; null: none (EdDSA)
    size_t fixed_size;
};

constexpr std::array<AlgInfo, kAlgCount> kAlgs = {{
    {"RS256", KeyKind::Rsa, "SHA256", 0},
    {"RS384", KeyKind::Rsa, "SHA384", 0},
    {"RS512", KeyKind::Rsa, "SHA512", 0},
    {"PS256", KeyKind::Rsa, "SHA256", 0},
    {"PS384", KeyKind::Rsa, "SHA384", 0},
    {"PS512", KeyKind::Rsa, "SHA512", 0},
    {"ES256", KeyKind::EcP256, "SHA256", 64},
    {"ES384", KeyKind::EcP384, "SHA384", 96},
    {"ES512", KeyKind::EcP521, "SHA512", 132},
    {"EdDSA", KeyKind::Ed25519, nullptr, 0},
    {"HS256", KeyKind::Hmac, "SHA256", 32},
    {"HS384", KeyKind::Hmac, "SHA384", 48},
    {"HS512", KeyKind::Hmac, "SHA512", 64},
}};

const AlgInfo& info(Alg a) { return kAlgs[static_cast<size_t>(a)]; }

}  // namespace

std::optional<Alg> alg_from_name(std::string_view name) {
    for (size_t i = 0; i < kAlgs.size(); ++i)
        if (kAlgs[i].name == name) return static_cast<Alg>(i);
    return std::nullopt;
}

std::string_view alg_name(Alg a) { return info(a).name; }
KeyKind key_kind(Alg a) { return info(a).kind; }
size_t fixed_signature_size(Alg a) { return info(a).fixed_size; }

std::string_view key_kind_name(KeyKind k) {
    switch (k) {
        case KeyKind::Rsa: return "RSA";
        case KeyKind::EcP256: return "EC P-256";
        case KeyKind::EcP384: return "EC P-384";
        case KeyKind::EcP521: return "EC P-521";
        case KeyKind::Ed25519: return "Ed25519";
        case KeyKind::Hmac: return "HMAC secret";
    }
    return "?";
}

const EVP_MD* alg_digest(Alg a) {
    // Explicitly fetched once (an implicit fetch per verification costs a provider lookup).
    static const std::array<EVP_MD*, kAlgCount> digests = [] {
        std::array<EVP_MD*, kAlgCount> d{};
        for (size_t i = 0; i < kAlgs.size(); ++i)
            d[i] = kAlgs[i].digest ? EVP_MD_fetch(nullptr, kAlgs[i].digest, nullptr) : nullptr;
        return d;
    }();
    return digests[static_cast<size_t>(a)];
}

}  // namespace gw::auth::jwt
