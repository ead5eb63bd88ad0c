// libFuzzer target for what the auth module reads from outside: JWTs (src/modules/auth/jwt/
// token.cc), JWK Sets (key.cc) and base64 (src/core/base64.cc).
//
//   make fuzz && objs/fuzz_jwt -max_total_time=300 CORPUS_COPY t/fuzz/corpus/jwt
//
// The first byte picks what the rest is:
//   0: a compact JWT, read and checked against a key set of freshly generated keys (an EC P-256
//      key and an HMAC secret nobody knows): it must never be accepted, the signing input must
//      be the token's first two parts, and the reader must not crash on any bytes;
//   1: a JWK Set: every key kept has an OpenSSL key or a secret of at least 32 bytes and a kind
//      that allows at least one algorithm;
//   2: base64url, 3: base64: a text that decodes encodes back to itself (one spelling).
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base64.h"
#include "fuzz_common.h"
#include "modules/auth/jwt/key.h"
#include "modules/auth/jwt/token.h"
#include "modules/auth/jwt/verify.h"

using namespace gw::auth::jwt;

namespace {

std::vector<Key> make_keys() {
    std::vector<Key> keys(2);
    keys[0].kid = "ec";
    keys[0].kind = KeyKind::EcP256;
    keys[0].pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    keys[1].kid = "h";
    keys[1].kind = KeyKind::Hmac;
    keys[1].secret.resize(32);
    RAND_bytes(reinterpret_cast<unsigned char*>(keys[1].secret.data()), 32);
    return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::vector<Key> keys = make_keys();
    static Reader reader;
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 4) {
        case 0: {
            AlgSet all;
            for (int i = 0; i < kAlgCount; ++i) all.add(static_cast<Alg>(i));
            std::vector<std::string> wanted = {"scope", "tenant", "roles"};
            Token t;
            if (reader.read(in, all, wanted, t) != Failure::None) break;
            CHECK(t.signing_input.data() == in.data());
            CHECK(t.signing_input.size() < in.size() && in[t.signing_input.size()] == '.');
            CHECK(t.claims.size() == wanted.size());
            CHECK(verify_with(keys, t) != Failure::None);
            break;
        }
        case 1: {
            std::vector<Key> set;
            std::vector<std::string> notes;
            std::string error;
            KeySetOptions o;
            o.allow_secrets = true;
            if (!parse_jwks(in, o, set, notes, error)) {
                CHECK(set.empty() && !error.empty());
                break;
            }
            for (const Key& k : set) {
                CHECK(k.kind == KeyKind::Hmac ? k.secret.size() >= 32 : k.pkey != nullptr);
                bool any = false;
                for (int i = 0; i < kAlgCount; ++i) any |= k.allows(static_cast<Alg>(i));
                CHECK(any);
            }
            break;
        }
        case 2:
        case 3: {
            bool url = data[0] % 4 == 2;
            std::string decoded = "x";
            if (!(url ? gw::base64url_decode(in, decoded) : gw::base64_decode(in, decoded))) {
                CHECK(decoded == "x");
                break;
            }
            std::string again;
            if (url)
                gw::base64url_encode(std::string_view(decoded).substr(1), again);
            else
                gw::base64_encode(std::string_view(decoded).substr(1), again);
            CHECK(again == in);
            break;
        }
    }
    return 0;
}
