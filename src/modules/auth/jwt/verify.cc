#include "modules/auth/jwt/verify.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <memory>

namespace gw::auth::jwt {

namespace {

struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct SigFree {
    void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// JOSE's ECDSA signature is r || s, fixed width (RFC 7518 §3.4); OpenSSL verifies DER.
bool ecdsa_der(std::string_view raw, unsigned char* der, size_t cap, size_t& len) {
    size_t half = raw.size() / 2;
    std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes(raw), static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(bytes(raw) + half, static_cast<int>(half), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return false;
    }
    int n = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (n <= 0 || static_cast<size_t>(n) > cap) return false;
    unsigned char* p = der;
    len = static_cast<size_t>(i2d_ECDSA_SIG(sig.get(), &p));
    return true;
}

bool verify_hmac(Alg alg, const Key& key, std::string_view input, std::string_view signature) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(alg_digest(alg), key.secret.data(), static_cast<int>(key.secret.size()), bytes(input), input.size(),
              mac, &len))
        return false;
    return len == signature.size() && CRYPTO_memcmp(mac, signature.data(), len) == 0;
}

}  // namespace

bool verify_signature(Alg alg, const Key& key, std::string_view input, std::string_view signature) {
    if (!key.allows(alg)) return false;
    if (key.kind == KeyKind::Hmac) return verify_hmac(alg, key, input, signature);
    if (!key.pkey) return false;
    unsigned char der[160];  // a DER ECDSA signature on P-521 is at most 139 bytes
    std::string_view sig = signature;
    if (key_kind(alg) == KeyKind::EcP256 || key_kind(alg) == KeyKind::EcP384 || key_kind(alg) == KeyKind::EcP521) {
        size_t len = 0;
        if (signature.size() != fixed_signature_size(alg) || !ecdsa_der(signature, der, sizeof der, len)) return false;
        sig = std::string_view(reinterpret_cast<const char*>(der), len);
    }
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, alg_digest(alg), nullptr, key.pkey.get()) != 1) return false;
    if (alg == Alg::PS256 || alg == Alg::PS384 || alg == Alg::PS512) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, alg_digest(alg)) != 1)
            return false;
    } else if (key.kind == KeyKind::Rsa) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
    }
    bool ok = EVP_DigestVerify(ctx.get(), bytes(sig), sig.size(), bytes(input), input.size()) == 1;
    ERR_clear_error();  // a failed check leaves reasons in the queue: the caller has its answer
    return ok;
}

Failure verify_with(const std::vector<Key>& keys, const Token& token) {
    bool any = false;
    for (const Key& k : keys) {
        if (!k.allows(token.alg) || (!token.kid.empty() && k.kid != token.kid)) continue;
        any = true;
        if (verify_signature(token.alg, k, token.signing_input, token.signature)) return Failure::None;
        if (!token.kid.empty()) break;  // the named key said no
    }
    return any ? Failure::BadSignature : Failure::UnknownKey;
}

Failure check_claims(const Token& t, const ClaimPolicy& p, int64_t now) {
    int64_t skew = p.clock_skew_s;
    if (!t.has_exp && p.require_exp) return Failure::NoExpiry;
    if (t.has_exp && now - skew >= t.exp) return Failure::Expired;
    if (t.has_nbf && now + skew < t.nbf) return Failure::NotYetValid;
    if (t.has_iat && now + skew < t.iat) return Failure::IssuedInFuture;
    if (p.max_lifetime_s > 0 && t.has_exp) {
        // From its issue when it says, else from now: a token may not be good for longer.
        int64_t from = t.has_iat ? t.iat : now;
        if (t.exp - from > p.max_lifetime_s + skew) return Failure::TooLongLived;
    }
    if (!p.issuer.empty() && t.iss != p.issuer) return Failure::WrongIssuer;
    if (!p.audiences.empty()) {
        bool found = false;
        for (const std::string& a : t.aud)
            for (const std::string& want : p.audiences)
                if (a == want) found = true;
        if (!found) return Failure::WrongAudience;
    }
    return Failure::None;
}

bool claim_satisfies(const ClaimValue& claim, std::string_view want) {
    if (!claim.present) return false;
    if (claim.is_list) {
        for (const std::string& item : claim.items)
            if (item == want) return true;
        return false;
    }
    if (claim.text == want) return true;
    std::string_view words = claim.text;
    while (!words.empty()) {
        size_t sp = words.find(' ');
        if (words.substr(0, sp) == want) return true;
        if (sp == std::string_view::npos) break;
        words.remove_prefix(sp + 1);
    }
    return false;
}

}  // namespace gw::auth::jwt
