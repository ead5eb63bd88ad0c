// The JWT core of the auth module (src/modules/auth/jwt/): tokens minted here with OpenSSL's
// own signing (keys generated per run), key sets written as JWKs from those keys, and every
// refusal a verifier must make - the algorithm confusions, "none", crit, duplicates, bad
// keys in a set, and the time and audience claims.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>
#include <vector>

#include "core/base64.h"
#include "modules/auth/jwt/key.h"
#include "modules/auth/jwt/token.h"
#include "modules/auth/jwt/verify.h"

using namespace gw::auth::jwt;

namespace {

std::string b64u(std::string_view s) {
    std::string out;
    gw::base64url_encode(s, out);
    return out;
}

struct Pkey {
    std::unique_ptr<EVP_PKEY, PkeyFree> k;
    EVP_PKEY* get() const { return k.get(); }
};

Pkey rsa_key(int bits = 2048) { return {PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)))}; }
Pkey ec_key(const char* curve) { return {PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve))}; }
Pkey ed_key() { return {PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"))}; }

std::string bn_bytes(const EVP_PKEY* k, const char* name) {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(k, name, &bn);
    std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
}

std::string jwk_of(const Pkey& key, const std::string& kid, const std::string& extra = "") {
    EVP_PKEY* k = key.get();
    std::string members = kid.empty() ? "" : "\"kid\":\"" + kid + "\",";
    members += extra;
    if (EVP_PKEY_is_a(k, "RSA"))
        return "{" + members + "\"kty\":\"RSA\",\"n\":\"" + b64u(bn_bytes(k, OSSL_PKEY_PARAM_RSA_N)) + "\",\"e\":\"" +
               b64u(bn_bytes(k, OSSL_PKEY_PARAM_RSA_E)) + "\"}";
    if (EVP_PKEY_is_a(k, "ED25519")) {
        unsigned char raw[32];
        size_t len = sizeof raw;
        EVP_PKEY_get_raw_public_key(k, raw, &len);
        return "{" + members + "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" +
               b64u(std::string(reinterpret_cast<char*>(raw), len)) + "\"}";
    }
    char group[32];
    size_t glen = 0;
    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen);
    std::string g(group, glen);
    std::string crv = g == "prime256v1" ? "P-256" : g == "secp384r1" ? "P-384" : "P-521";
    size_t n = crv == "P-256" ? 32 : crv == "P-384" ? 48 : 66;
    unsigned char pub[200];
    size_t plen = 0;
    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &plen);
    std::string point(reinterpret_cast<char*>(pub), plen);  // 04 || x || y
    return "{" + members + "\"kty\":\"EC\",\"crv\":\"" + crv + "\",\"x\":\"" + b64u(point.substr(1, n)) +
           "\",\"y\":\"" + b64u(point.substr(1 + n, n)) + "\"}";
}

std::string jwks(const std::vector<std::string>& keys) {
    std::string s = "{\"keys\":[";
    for (size_t i = 0; i < keys.size(); ++i) s += (i ? "," : "") + keys[i];
    return s + "]}";
}

const EVP_MD* md_of(std::string_view alg) {
    if (alg.ends_with("256")) return EVP_sha256();
    if (alg.ends_with("384")) return EVP_sha384();
    if (alg.ends_with("512")) return EVP_sha512();
    return nullptr;
}

// The JOSE signature of `input` with `alg` by `key` (an HMAC secret when `secret` is given).
std::string sign(std::string_view alg, const Pkey* key, std::string_view input, const std::string& secret = "") {
    if (alg.starts_with("HS")) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        HMAC(md_of(alg), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
        return std::string(reinterpret_cast<char*>(mac), len);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, alg == "EdDSA" ? nullptr : md_of(alg), nullptr, key->get());
    if (alg.starts_with("PS")) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (alg.starts_with("ES")) {  // DER -> r || s
        size_t n = alg == "ES256" ? 32 : alg == "ES384" ? 48 : 66;
        const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
        ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
        std::string raw(2 * n, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(n));
        BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + n, static_cast<int>(n));
        ECDSA_SIG_free(es);
        return raw;
    }
    return sig;
}

std::string token(const std::string& header, const std::string& payload, std::string_view alg, const Pkey* key,
                  const std::string& secret = "") {
    std::string input = b64u(header) + "." + b64u(payload);
    return input + "." + b64u(sign(alg, key, input, secret));
}

constexpr int64_t kNow = 1800000000;

ClaimPolicy skew(int64_t s) {
    ClaimPolicy p;
    p.clock_skew_s = s;
    return p;
}
ClaimPolicy no_exp() {
    ClaimPolicy p;
    p.require_exp = false;
    return p;
}

std::string claims(const std::string& extra = "") {
    return "{\"iss\":\"https://id.example/\",\"sub\":\"alice\",\"aud\":\"api\",\"iat\":" + std::to_string(kNow - 10) +
           ",\"exp\":" + std::to_string(kNow + 600) + extra + "}";
}

AlgSet all_algs() {
    AlgSet s;
    for (int i = 0; i < kAlgCount; ++i) s.add(static_cast<Alg>(i));
    return s;
}

std::vector<Key> keys_of(const std::string& set, bool secrets = false) {
    std::vector<Key> keys;
    std::vector<std::string> notes;
    std::string error;
    KeySetOptions o;
    o.allow_secrets = secrets;
    EXPECT_TRUE(parse_jwks(set, o, keys, notes, error)) << error;
    for (const std::string& n : notes) ADD_FAILURE() << n;
    return keys;
}

struct Verdict {
    Failure read = Failure::None;
    Failure signature = Failure::None;
    Failure claims = Failure::None;
};

Verdict check(const std::string& compact, const std::vector<Key>& keys, const AlgSet& allowed = all_algs(),
              const ClaimPolicy& policy = {}) {
    static Reader reader;
    Token t;
    Verdict v;
    v.read = reader.read(compact, allowed, {}, t);
    if (v.read != Failure::None) return v;
    v.signature = verify_with(keys, t);
    if (v.signature != Failure::None) return v;
    v.claims = check_claims(t, policy, kNow);
    return v;
}

bool accepted(const Verdict& v) {
    return v.read == Failure::None && v.signature == Failure::None && v.claims == Failure::None;
}

}  // namespace

TEST(AuthJwt, EveryAlgorithmVerifies) {
    Pkey rsa = rsa_key(), p256 = ec_key("P-256"), p384 = ec_key("P-384"), p521 = ec_key("P-521"), ed = ed_key();
    std::string secret(32, 's');
    std::string set = jwks({jwk_of(rsa, "r"), jwk_of(p256, "e256"), jwk_of(p384, "e384"), jwk_of(p521, "e521"),
                            jwk_of(ed, "ed"), "{\"kid\":\"h\",\"kty\":\"oct\",\"k\":\"" + b64u(secret) + "\"}"});
    std::vector<Key> keys = keys_of(set, true);
    ASSERT_EQ(keys.size(), 6u);
    struct Case {
        const char* alg;
        const char* kid;
        const Pkey* key;
    } cases[] = {{"RS256", "r", &rsa},     {"RS384", "r", &rsa},     {"RS512", "r", &rsa},   {"PS256", "r", &rsa},
                 {"PS384", "r", &rsa},     {"PS512", "r", &rsa},     {"ES256", "e256", &p256}, {"ES384", "e384", &p384},
                 {"ES512", "e521", &p521}, {"EdDSA", "ed", &ed},     {"HS256", "h", nullptr}, {"HS384", "h", nullptr},
                 {"HS512", "h", nullptr}};
    for (const Case& c : cases) {
        std::string header = std::string("{\"alg\":\"") + c.alg + "\",\"kid\":\"" + c.kid + "\",\"typ\":\"JWT\"}";
        std::string good = token(header, claims(), c.alg, c.key, secret);
        EXPECT_TRUE(accepted(check(good, keys))) << c.alg;
        // One byte of the payload changed: the signature no longer holds.
        std::string forged = token(header, claims(), c.alg, c.key, secret);
        size_t dot = forged.find('.');
        std::string payload = claims(",\"admin\":true");
        forged = forged.substr(0, dot + 1) + b64u(payload) + forged.substr(forged.rfind('.'));
        EXPECT_EQ(check(forged, keys).signature, Failure::BadSignature) << c.alg;
    }
}

TEST(AuthJwt, AnotherKeysSignatureIsRefused) {
    Pkey a = ec_key("P-256"), b = ec_key("P-256");
    std::vector<Key> keys = keys_of(jwks({jwk_of(a, "a")}));
    EXPECT_EQ(check(token("{\"alg\":\"ES256\",\"kid\":\"a\"}", claims(), "ES256", &b), keys).signature,
              Failure::BadSignature);
    EXPECT_EQ(check(token("{\"alg\":\"ES256\",\"kid\":\"zz\"}", claims(), "ES256", &a), keys).signature,
              Failure::UnknownKey);
    // Without a kid, every key that fits is tried.
    std::vector<Key> two = keys_of(jwks({jwk_of(b, "b"), jwk_of(a, "a")}));
    EXPECT_TRUE(accepted(check(token("{\"alg\":\"ES256\"}", claims(), "ES256", &a), two)));
}

TEST(AuthJwt, AlgorithmConfusionsAreRefused) {
    Pkey rsa = rsa_key();
    std::vector<Key> keys = keys_of(jwks({jwk_of(rsa, "r")}));
    // HS256 with the RSA public key (its PEM) as the HMAC secret: no RSA key verifies HMAC.
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, rsa.get());
    char* pem = nullptr;
    long len = BIO_get_mem_data(bio, &pem);
    std::string public_pem(pem, static_cast<size_t>(len));
    BIO_free(bio);
    std::string hs = token("{\"alg\":\"HS256\",\"kid\":\"r\"}", claims(), "HS256", nullptr, public_pem);
    EXPECT_EQ(check(hs, keys).signature, Failure::UnknownKey);
    // "none", with or without a signature part.
    std::string none_input = b64u("{\"alg\":\"none\"}") + "." + b64u(claims());
    EXPECT_EQ(check(none_input + ".", keys).read, Failure::Unsupported);
    EXPECT_EQ(check(none_input + "." + b64u("x"), keys).read, Failure::Unsupported);
    EXPECT_EQ(check(token("{\"alg\":\"None\"}", claims(), "HS256", nullptr, "k"), keys).read, Failure::Unsupported);
    // An algorithm outside the allow-list, though the key would verify it.
    AlgSet only_es;
    only_es.add(Alg::ES256);
    EXPECT_EQ(check(token("{\"alg\":\"RS256\",\"kid\":\"r\"}", claims(), "RS256", &rsa), keys, only_es).read,
              Failure::AlgNotAllowed);
    // A JWK whose "alg" says RS256 does not verify PS256 with the same key.
    std::vector<Key> pinned = keys_of(jwks({jwk_of(rsa, "r", "\"alg\":\"RS256\",")}));
    EXPECT_EQ(check(token("{\"alg\":\"PS256\",\"kid\":\"r\"}", claims(), "PS256", &rsa), pinned).signature,
              Failure::UnknownKey);
    EXPECT_TRUE(accepted(check(token("{\"alg\":\"RS256\",\"kid\":\"r\"}", claims(), "RS256", &rsa), pinned)));
}

TEST(AuthJwt, MalformedTokensAreRefused) {
    Pkey ec = ec_key("P-256");
    std::vector<Key> keys = keys_of(jwks({jwk_of(ec, "e")}));
    auto with = [&](const std::string& header, const std::string& payload) {
        return check(token(header, payload, "ES256", &ec), keys).read;
    };
    std::string h = "{\"alg\":\"ES256\",\"kid\":\"e\"}";
    EXPECT_EQ(with(h, claims()), Failure::None);
    EXPECT_EQ(with("{\"alg\":\"ES256\",\"alg\":\"ES256\"}", claims()), Failure::Malformed);  // duplicate
    EXPECT_EQ(with("{\"alg\":\"ES256\",\"crit\":[\"exp\"]}", claims()), Failure::Unsupported);
    EXPECT_EQ(with("{\"alg\":\"ES256\",\"b64\":false}", claims()), Failure::Unsupported);
    EXPECT_EQ(with("{\"kid\":\"e\"}", claims()), Failure::Malformed);  // no alg
    EXPECT_EQ(with("[\"ES256\"]", claims()), Failure::Malformed);
    EXPECT_EQ(with(h, "[1]"), Failure::Malformed);
    EXPECT_EQ(with(h, "{\"exp\":\"tomorrow\"}"), Failure::Malformed);
    EXPECT_EQ(with(h, "{\"exp\":1,\"exp\":2}"), Failure::Malformed);
    EXPECT_EQ(with(h, "{\"aud\":[\"a\",1]}"), Failure::Malformed);
    EXPECT_EQ(with(h, "{\"sub\":5}"), Failure::Malformed);
    EXPECT_EQ(with(h, "{\"sub\":\"a\"} trailing"), Failure::Malformed);
    EXPECT_EQ(with(h, "{\"sub\":\"\xff\"}"), Failure::Malformed);  // not UTF-8
    std::string good = token(h, claims(), "ES256", &ec);
    EXPECT_EQ(check(good + ".x.y", keys).read, Failure::Unsupported);  // five parts: JWE
    EXPECT_EQ(check(good.substr(0, good.rfind('.')), keys).read, Failure::Malformed);
    EXPECT_EQ(check(good + "=", keys).read, Failure::Malformed);
    EXPECT_EQ(check("." + good, keys).read, Failure::Malformed);
    EXPECT_EQ(check(std::string(kMaxTokenBytes + 1, 'a'), keys).read, Failure::Malformed);
    // An ES256 signature must be 64 bytes (r || s), not DER.
    std::string input = good.substr(0, good.rfind('.'));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, ec.get());
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string der(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    der.resize(len);
    EVP_MD_CTX_free(ctx);
    EXPECT_EQ(check(input + "." + b64u(der), keys).read, Failure::BadSignature);
}

TEST(AuthJwt, KeySetLeavesOutWhatCannotVerify) {
    Pkey small = rsa_key(1024), good = rsa_key(), ec = ec_key("P-256"), ed448 = {PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448"))};
    std::string off_curve = jwk_of(ec, "bad");
    // Change one byte of y: the point is no longer on P-256.
    size_t y = off_curve.find("\"y\":\"") + 5;
    off_curve[y] = off_curve[y] == 'A' ? 'B' : 'A';
    std::string set = jwks({jwk_of(small, "small"), jwk_of(good, "enc", "\"use\":\"enc\","), off_curve,
                            "{\"kid\":\"k\",\"kty\":\"oct\",\"k\":\"" + b64u(std::string(32, 'k')) + "\"}",
                            "{\"kid\":\"x\",\"kty\":\"XYZ\"}", jwk_of(good, "mismatch", "\"alg\":\"ES256\","),
                            jwk_of(good, "ops", "\"key_ops\":[\"encrypt\"],"), "\"not an object\"",
                            jwk_of(good, "rsa"), jwk_of(ec, "ec", "\"use\":\"sig\",\"key_ops\":[\"verify\"],")});
    std::vector<Key> keys;
    std::vector<std::string> notes;
    std::string error;
    ASSERT_TRUE(parse_jwks(set, {}, keys, notes, error)) << error;
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].kid, "rsa");
    EXPECT_EQ(keys[1].kid, "ec");
    ASSERT_EQ(notes.size(), 8u);
    EXPECT_EQ(notes[0], "key \"small\" left out: an RSA modulus of 1024 bits (at least 2048 are required)");
    EXPECT_EQ(notes[1], "key \"enc\" left out: \"use\": \"enc\" (not a signature key)");
    EXPECT_EQ(notes[2], "key \"bad\" left out: a point that is not on P-256");
    EXPECT_EQ(notes[3], "key \"k\" left out: a secret (\"oct\") key, accepted only from a local file");
    EXPECT_EQ(notes[4], "key \"x\" left out: \"kty\": \"XYZ\" is not supported");
    EXPECT_EQ(notes[5], "key \"mismatch\" left out: \"alg\": \"ES256\" does not fit a RSA key");
    EXPECT_EQ(notes[6], "key \"ops\" left out: \"key_ops\" without \"verify\"");
    EXPECT_EQ(notes[7], "key 7 left out: not an object");
    (void)ed448;
    EXPECT_FALSE(parse_jwks("{\"keys\":", {}, keys, notes, error));
    EXPECT_NE(error.find("not JSON"), std::string::npos);
    EXPECT_FALSE(parse_jwks("{\"key\":[]}", {}, keys, notes, error));
    EXPECT_EQ(error, "not a JWK Set (an object with a \"keys\" array)");
    std::vector<Key> secrets;
    ASSERT_TRUE(parse_jwks("{\"keys\":[{\"kty\":\"oct\",\"k\":\"" + b64u("short") + "\"}]}", KeySetOptions{true},
                           secrets, notes, error));
    EXPECT_TRUE(secrets.empty());
    EXPECT_EQ(notes.back(), "key 0 left out: a secret of 5 bytes (at least 32 are required)");
}

TEST(AuthJwt, TimeClaims) {
    Pkey ec = ec_key("P-256");
    std::vector<Key> keys = keys_of(jwks({jwk_of(ec, "e")}));
    auto at = [&](const std::string& payload, const ClaimPolicy& p = {}) {
        return check(token("{\"alg\":\"ES256\"}", payload, "ES256", &ec), keys, all_algs(), p).claims;
    };
    auto n = [](int64_t d) { return std::to_string(kNow + d); };
    EXPECT_EQ(at("{\"exp\":" + n(1) + "}"), Failure::None);
    EXPECT_EQ(at("{\"exp\":" + n(-59) + "}"), Failure::None);  // within the 60 s skew
    EXPECT_EQ(at("{\"exp\":" + n(-60) + "}"), Failure::Expired);
    EXPECT_EQ(at("{\"exp\":" + n(-1) + "}", skew(0)), Failure::Expired);
    EXPECT_EQ(at("{\"exp\":" + n(0) + ".5}", skew(0)), Failure::Expired);  // fractions dropped
    EXPECT_EQ(at("{\"exp\":" + n(600) + ",\"nbf\":" + n(61) + "}"), Failure::NotYetValid);
    EXPECT_EQ(at("{\"exp\":" + n(600) + ",\"nbf\":" + n(60) + "}"), Failure::None);
    EXPECT_EQ(at("{\"exp\":" + n(600) + ",\"iat\":" + n(61) + "}"), Failure::IssuedInFuture);
    EXPECT_EQ(at("{\"sub\":\"no-exp\"}"), Failure::NoExpiry);
    EXPECT_EQ(at("{\"sub\":\"no-exp\"}", no_exp()), Failure::None);
    ClaimPolicy day;
    day.max_lifetime_s = 86400;
    EXPECT_EQ(at("{\"iat\":" + n(0) + ",\"exp\":" + n(86400) + "}", day), Failure::None);
    EXPECT_EQ(at("{\"iat\":" + n(0) + ",\"exp\":" + n(86400 + 61) + "}", day), Failure::TooLongLived);
    EXPECT_EQ(at("{\"exp\":" + n(86400 * 30) + "}", day), Failure::TooLongLived);  // no iat: from now
}

TEST(AuthJwt, IssuerAndAudience) {
    Pkey ec = ec_key("P-256");
    std::vector<Key> keys = keys_of(jwks({jwk_of(ec, "e")}));
    ClaimPolicy p;
    p.issuer = "https://id.example/";
    p.audiences = {"api", "admin"};
    auto verdict = [&](const std::string& extra) {
        std::string payload = "{\"exp\":" + std::to_string(kNow + 60) + extra + "}";
        return check(token("{\"alg\":\"ES256\"}", payload, "ES256", &ec), keys, all_algs(), p).claims;
    };
    EXPECT_EQ(verdict(",\"iss\":\"https://id.example/\",\"aud\":\"api\""), Failure::None);
    EXPECT_EQ(verdict(",\"iss\":\"https://id.example/\",\"aud\":[\"x\",\"admin\"]"), Failure::None);
    EXPECT_EQ(verdict(",\"iss\":\"https://id.example\",\"aud\":\"api\""), Failure::WrongIssuer);
    EXPECT_EQ(verdict(",\"aud\":\"api\""), Failure::WrongIssuer);
    EXPECT_EQ(verdict(",\"iss\":\"https://id.example/\",\"aud\":\"API\""), Failure::WrongAudience);
    EXPECT_EQ(verdict(",\"iss\":\"https://id.example/\",\"aud\":[]"), Failure::WrongAudience);
    EXPECT_EQ(verdict(",\"iss\":\"https://id.example/\""), Failure::WrongAudience);
}

TEST(AuthJwt, WantedClaims) {
    Pkey ec = ec_key("P-256");
    std::string payload = "{\"exp\":1,\"tenant\":\"acme\",\"level\":3,\"admin\":false,\"roles\":[\"a\",\"b\",7],"
                          "\"scope\":\"orders:read orders:write\",\"obj\":{\"k\": [1, 2]},\"n\":null}";
    std::string compact = token("{\"alg\":\"ES256\"}", payload, "ES256", &ec);
    std::vector<std::string> wanted = {"tenant", "level", "admin", "roles", "scope", "obj", "missing", "n"};
    Reader r;
    Token t;
    ASSERT_EQ(r.read(compact, all_algs(), wanted, t), Failure::None);
    ASSERT_EQ(t.claims.size(), wanted.size());
    EXPECT_EQ(t.claims[0].text, "acme");
    EXPECT_EQ(t.claims[1].text, "3");
    EXPECT_EQ(t.claims[2].text, "false");
    EXPECT_TRUE(t.claims[3].is_list);
    EXPECT_EQ(t.claims[3].text, "a,b,7");
    EXPECT_EQ(t.claims[5].text, "{\"k\":[1,2]}");
    EXPECT_FALSE(t.claims[6].present);
    EXPECT_EQ(t.claims[7].text, "null");
    EXPECT_TRUE(claim_satisfies(t.claims[4], "orders:write"));
    EXPECT_TRUE(claim_satisfies(t.claims[4], "orders:read orders:write"));
    EXPECT_FALSE(claim_satisfies(t.claims[4], "orders"));
    EXPECT_TRUE(claim_satisfies(t.claims[3], "b"));
    EXPECT_TRUE(claim_satisfies(t.claims[3], "7"));
    EXPECT_FALSE(claim_satisfies(t.claims[3], "a,b,7"));
    EXPECT_TRUE(claim_satisfies(t.claims[0], "acme"));
    EXPECT_FALSE(claim_satisfies(t.claims[6], ""));
    // A duplicate wanted claim is malformed.
    std::string dup = token("{\"alg\":\"ES256\"}", "{\"tenant\":\"a\",\"tenant\":\"b\"}", "ES256", &ec);
    EXPECT_EQ(r.read(dup, all_algs(), wanted, t), Failure::Malformed);
}
