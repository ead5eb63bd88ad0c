#include "modules/auth/jwt/key.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <simdjson.h>

#include "core/base64.h"

namespace gw::auth::jwt {

void PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

struct BnFree {
    void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BldFree {
    void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamsFree {
    void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

// A string member of a JWK, or nullopt when absent; `bad` is set when present but not a string.
std::optional<std::string_view> text_member(const object& o, std::string_view name, bool& bad) {
    element e;
    if (o.at_key(name).get(e) != simdjson::SUCCESS) return std::nullopt;
    std::string_view v;
    if (e.get(v) != simdjson::SUCCESS) {
        bad = true;
        return std::nullopt;
    }
    return v;
}

// A base64url member decoded, or false with `why` set.
bool bytes_member(const object& o, std::string_view name, std::string& out, std::string& why) {
    bool bad = false;
    auto v = text_member(o, name, bad);
    if (!v || bad) {
        why = "no \"" + std::string(name) + "\" string";
        return false;
    }
    out.clear();
    if (!base64url_decode(*v, out)) {
        why = "\"" + std::string(name) + "\" is not base64url";
        return false;
    }
    return true;
}

PkeyPtr from_params(const char* type, OSSL_PARAM_BLD* bld) {
    std::unique_ptr<OSSL_PARAM, ParamsFree> params(OSSL_PARAM_BLD_to_param(bld));
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        return nullptr;
    PkeyPtr key(pkey);
    // The point must be on the curve (and an RSA key sane): checked, not assumed.
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return key;
}

bool rsa_key(const object& o, Key& key, std::string& why) {
    std::string n, e;
    if (!bytes_member(o, "n", n, why) || !bytes_member(o, "e", e, why)) return false;
    while (!n.empty() && n.front() == '\0') n.erase(0, 1);
    if (n.size() * 8 < kMinRsaBits) {
        why = "an RSA modulus of " + std::to_string(n.size() * 8) + " bits (at least " +
              std::to_string(kMinRsaBits) + " are required)";
        return false;
    }
    if (e.empty() || e.size() > 8 || !(static_cast<unsigned char>(e.back()) & 1)) {
        why = "a bad RSA exponent";
        return false;
    }
    std::unique_ptr<BIGNUM, BnFree> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                                                   static_cast<int>(n.size()), nullptr));
    std::unique_ptr<BIGNUM, BnFree> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                                                   static_cast<int>(e.size()), nullptr));
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
        why = "an RSA key OpenSSL cannot build";
        return false;
    }
    key.pkey = from_params("RSA", bld.get());
    if (!key.pkey) {
        why = "an RSA key OpenSSL refuses";
        return false;
    }
    key.kind = KeyKind::Rsa;
    return true;
}

bool ec_key(const object& o, Key& key, std::string& why) {
    bool bad = false;
    auto crv = text_member(o, "crv", bad);
    struct Curve {
        std::string_view jwk;
        const char* openssl;
        size_t bytes;
        KeyKind kind;
    };
    static constexpr Curve kCurves[] = {{"P-256", "P-256", 32, KeyKind::EcP256},
                                        {"P-384", "P-384", 48, KeyKind::EcP384},
                                        {"P-521", "P-521", 66, KeyKind::EcP521}};
    const Curve* curve = nullptr;
    for (const Curve& c : kCurves)
        if (crv && *crv == c.jwk) curve = &c;
    if (!curve) {
        why = crv ? "the curve \"" + std::string(*crv) + "\" is not supported" : "no \"crv\"";
        return false;
    }
    std::string x, y;
    if (!bytes_member(o, "x", x, why) || !bytes_member(o, "y", y, why)) return false;
    if (x.size() != curve->bytes || y.size() != curve->bytes) {
        why = "coordinates of the wrong length for " + std::string(curve->jwk);
        return false;
    }
    std::string point = "\x04" + x + y;  // uncompressed
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->openssl, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
        why = "an EC key OpenSSL cannot build";
        return false;
    }
    key.pkey = from_params("EC", bld.get());
    if (!key.pkey) {
        why = "a point that is not on " + std::string(curve->jwk);
        return false;
    }
    key.kind = curve->kind;
    return true;
}

bool okp_key(const object& o, Key& key, std::string& why) {
    bool bad = false;
    auto crv = text_member(o, "crv", bad);
    if (!crv || *crv != "Ed25519") {
        why = crv ? "the curve \"" + std::string(*crv) + "\" is not supported" : "no \"crv\"";
        return false;
    }
    std::string x;
    if (!bytes_member(o, "x", x, why)) return false;
    if (x.size() != 32) {
        why = "an Ed25519 key that is not 32 bytes";
        return false;
    }
    key.pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                               reinterpret_cast<const unsigned char*>(x.data()), x.size()));
    if (!key.pkey) {
        why = "an Ed25519 key OpenSSL refuses";
        return false;
    }
    key.kind = KeyKind::Ed25519;
    return true;
}

bool oct_key(const object& o, const KeySetOptions& options, Key& key, std::string& why) {
    if (!options.allow_secrets) {
        why = "a secret (\"oct\") key, accepted only from a local file";
        return false;
    }
    if (!bytes_member(o, "k", key.secret, why)) return false;
    if (key.secret.size() < 32) {
        why = "a secret of " + std::to_string(key.secret.size()) + " bytes (at least 32 are required)";
        return false;
    }
    key.kind = KeyKind::Hmac;
    return true;
}

// One JWK; false with `why` when it is left out.
bool read_key(const object& o, const KeySetOptions& options, Key& key, std::string& why) {
    bool bad = false;
    auto kid = text_member(o, "kid", bad);
    auto kty = text_member(o, "kty", bad);
    auto use = text_member(o, "use", bad);
    auto alg = text_member(o, "alg", bad);
    if (bad) {
        why = "a member that should be a string is not";
        return false;
    }
    if (kid) key.kid = std::string(*kid);
    if (!kty) {
        why = "no \"kty\"";
        return false;
    }
    if (use && *use != "sig") {
        why = "\"use\": \"" + std::string(*use) + "\" (not a signature key)";
        return false;
    }
    element ops;
    if (o.at_key("key_ops").get(ops) == simdjson::SUCCESS) {
        simdjson::dom::array list;
        bool verify = false;
        if (ops.get(list) == simdjson::SUCCESS)
            for (element op : list) {
                std::string_view s;
                if (op.get(s) == simdjson::SUCCESS && s == "verify") verify = true;
            }
        if (!verify) {
            why = "\"key_ops\" without \"verify\"";
            return false;
        }
    }
    if (alg) {
        key.alg = alg_from_name(*alg);
        if (!key.alg) {
            why = "\"alg\": \"" + std::string(*alg) + "\" is not a signature algorithm supported here";
            return false;
        }
    }
    bool ok = *kty == "RSA" ? rsa_key(o, key, why)
              : *kty == "EC" ? ec_key(o, key, why)
              : *kty == "OKP" ? okp_key(o, key, why)
              : *kty == "oct" ? oct_key(o, options, key, why)
              : (why = "\"kty\": \"" + std::string(*kty) + "\" is not supported", false);
    if (ok && key.alg && key_kind(*key.alg) != key.kind) {
        why = "\"alg\": \"" + std::string(*alg) + "\" does not fit a " + std::string(key_kind_name(key.kind)) + " key";
        return false;
    }
    return ok;
}

}  // namespace

bool parse_jwks(std::string_view json, const KeySetOptions& options, std::vector<Key>& keys,
                std::vector<std::string>& notes, std::string& error) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    element doc;
    if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS) {
        error = std::string("not JSON: ") + simdjson::error_message(err);
        return false;
    }
    object top;
    simdjson::dom::array list;
    if (doc.get(top) != simdjson::SUCCESS || top.at_key("keys").get(list) != simdjson::SUCCESS) {
        error = "not a JWK Set (an object with a \"keys\" array)";
        return false;
    }
    size_t index = 0;
    for (element e : list) {
        object o;
        Key key;
        std::string why;
        if (e.get(o) != simdjson::SUCCESS) {
            why = "not an object";
        } else if (read_key(o, options, key, why)) {
            keys.push_back(std::move(key));
            ++index;
            continue;
        }
        std::string name = key.kid.empty() ? "key " + std::to_string(index) : "key \"" + key.kid + "\"";
        notes.push_back(name + " left out: " + why);
        ++index;
    }
    return true;
}

const Key* find_key(const std::vector<Key>& keys, std::string_view kid, Alg alg) {
    for (const Key& k : keys)
        if ((kid.empty() || k.kid == kid) && k.allows(alg)) return &k;
    return nullptr;
}

}  // namespace gw::auth::jwt
