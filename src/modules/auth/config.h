// The auth module's configuration (man/gateway.conf.5, AUTHENTICATION):
//
//   auth:
//     jwt:
//       main:
//         issuer: https://id.example.com/
//         audiences: [api]
//         jwks: {url: https://id.example.com/.well-known/jwks.json, refresh: 10m, timeout: 2s}   # or file:
//         algorithms: [RS256, ES256, EdDSA]     # the allow-list; "none" is never accepted
//         clock_skew: 60s
//         max_lifetime: 24h
//         from: [header:authorization, cookie:session, query:access_token]   # the first found wins
//         forward_claims: {sub: x-user-id, tenant: x-tenant-id}
//         require: {scope: "orders:write"}
//         consumer_claim: sub
//     api_keys:
//       partners: {from: [header:x-api-key], keys_file: /etc/gatewayd/api-keys.yaml}
//     basic:
//       ops: {htpasswd: /etc/gatewayd/ops.htpasswd, realm: ops}
//     external:
//       authz: {url: http://127.0.0.1:9100/check, timeout: 200ms, cache: 30s,
//               forward_headers: [authorization], copy_headers: [x-user-id], on_error: deny}
//   routes:
//     - auth: [main, partners]       # any of them may authenticate; the first that applies decides
//
// Every provider name is unique across the four kinds (a route names providers, not kinds).
// Files (JWKS file, keys_file, htpasswd, secret files) are read when the configuration is
// loaded - by the master, at start and on HUP, and by `gatewayd -t` - and their problems are
// reported at the key that names them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/module/module.h"
#include "modules/auth/jwt/alg.h"
#include "modules/auth/jwt/key.h"
#include "modules/auth/jwks_url.h"
#include "modules/auth/jwt/verify.h"

namespace gw::module {
extern const Descriptor auth_module;  // module.cc
}

namespace gw::auth {

// Where a credential is looked for in a request (`from:` items).
struct Source {
    enum class Kind : uint8_t { Header, Cookie, Query };
    Kind kind = Kind::Header;
    std::string name;  // header names lower-case; cookie and query names as written
    // header:authorization takes the credentials of the scheme the provider speaks ("Bearer"
    // for JWT, "Basic" for basic) and ignores the others.
};

struct JwksSource {
    std::string url;            // http:// or https:// (fetched by the master)
    FetchUrl fetch;             // the url taken apart and resolved at load
    std::string ca_file;        // https://: the CAs its certificate must chain to (empty: the system's)
    std::string file;           // or a local JWK Set (read at load and on HUP)
    Millis refresh = 600000;    // fetched again before this elapses (with jitter)
    Millis timeout = 2000;      // per fetch; also how long a request waits for a kid miss
    Millis kid_miss_interval = 30000;  // at most one refetch per set for unknown kids in this
    std::string cache_file;     // the last good set, read when the provider is down at start
};

struct JwtProvider {
    std::string name;
    jwt::ClaimPolicy policy;    // issuer, audiences, clock_skew, max_lifetime
    JwksSource jwks;
    std::string secret_file;    // HS*: the secret (raw bytes of the file, trailing newline dropped)
    jwt::AlgSet algorithms;
    std::vector<Source> from;   // default: header:authorization
    std::vector<std::pair<std::string, std::string>> forward_claims;  // claim -> header (lower-case)
    std::vector<std::pair<std::string, std::string>> require;         // claim -> wanted value
    std::string consumer_claim = "sub";
    // The keys known at load: from `file:`/`secret_file:` (a URL set starts empty and comes
    // from the master's fetch, or from cache_file).
    std::shared_ptr<const std::vector<jwt::Key>> static_keys;
    // Every claim a request may ask for (forward_claims, require, the consumer claim, and the
    // claim:NAME rate-limit keys): read once per token, kept with it in the token cache.
    std::vector<std::string> wanted_claims;
    Mark mark;
};

struct ApiKeysProvider {
    std::string name;
    std::vector<Source> from;   // default: header:x-api-key
    std::string keys_file;
    // SHA-256 of each key -> consumer name (the file holds "sha256:<hex>" digests only).
    std::map<std::string, std::string, std::less<>> digests;
    Mark mark;
};

struct BasicProvider {
    std::string name;
    std::string htpasswd;
    std::string realm;
    // user -> crypt(3) hash ($2b$/$2y$ bcrypt, $6$ sha512-crypt, $5$ sha256-crypt)
    std::map<std::string, std::string, std::less<>> users;
    Mark mark;
};

struct ExternalProvider {
    enum class OnError : uint8_t { Deny, Allow };
    std::string name;
    std::string url;
    Millis timeout = 200;
    Millis cache = 0;                          // 0: decisions are not cached
    std::vector<std::string> forward_headers;  // lower-case; the cache key is these values
    std::vector<std::string> copy_headers;     // from an allowing answer to the upstream request
    OnError on_error = OnError::Deny;
    FetchUrl fetch;       // the url, split and resolved at load: the loop never waits for a resolver
    std::string ca_file;  // https://: the CAs its certificate must chain to (empty: the system's)
    Mark mark;
};

// A route's `auth:` list, resolved: which provider of which kind, in order.
struct ProviderRef {
    enum class Kind : uint8_t { Jwt, ApiKeys, Basic, External };
    Kind kind;
    uint32_t index;  // into the Settings vector of that kind
};

struct Settings final : module::ConfigPart {
    std::vector<JwtProvider> jwt;
    std::vector<ApiKeysProvider> api_keys;
    std::vector<BasicProvider> basic;
    std::vector<ExternalProvider> external;
    std::vector<std::vector<ProviderRef>> routes;  // by route index; may be shorter
    std::vector<Mark> route_marks;                 // parallel, for messages

    const std::vector<ProviderRef>* route(size_t index) const {
        return index < routes.size() && !routes[index].empty() ? &routes[index] : nullptr;
    }
};

const Settings* settings(const Config& config);

}  // namespace gw::auth

namespace gw::auth {
// The descriptor's configuration hooks (config.cc).
void read_sections(schema::MapReader& top, Config& config);
void read_route(schema::MapReader& route, Config& config, size_t index);
void dump(const Config& config, std::string& out);
void dump_route(const Config& config, size_t index, int indent, std::string& out);
}  // namespace gw::auth
