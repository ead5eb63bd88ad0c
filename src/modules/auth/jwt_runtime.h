// A JWT provider in one worker: its key set, its verified-token cache, and the check of one
// token - from the cache, or read, verified and claim-checked (then cached).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "modules/auth/config.h"
#include "modules/auth/jwt/token.h"
#include "modules/auth/token_cache.h"

namespace gw::auth {

class RemoteKeys;

class JwtRuntime {
  public:
    static constexpr size_t kCacheEntries = 1024;

    // `reader` is the worker's (shared by its providers: one request is checked at a time).
    JwtRuntime(const JwtProvider& provider, jwt::Reader& reader);

    const JwtProvider& provider() const { return p_; }

    // The identity of `token` at `now` (Unix seconds), or null with `why` set. The entry stays
    // good until the caller's request ends if it is pinned (TokenCache::pin).
    TokenCache::Entry* check(std::string_view token, int64_t now, jwt::Failure& why);

    // Whether the token's claims meet the provider's `require:` (checked per request: a cached
    // token is checked again, cheaply, against the claims it was cached with).
    bool meets_requirements(const TokenCache::Entry& e) const;

    // A remote set (jwks: {url: ...}): its keys come and go (a request in flight keeps the set
    // it was checked with: the keys are shared); every token is verified again with new keys.
    void set_keys(std::shared_ptr<const std::vector<jwt::Key>> keys) {
        keys_ = std::move(keys);
        cache_.expire_all();
    }
    RemoteKeys* remote() const { return remote_; }
    void set_remote(RemoteKeys* remote) { remote_ = remote; }

  private:
    const JwtProvider& p_;
    jwt::Reader& reader_;
    jwt::Token token_;  // scratch, capacity kept
    TokenCache cache_;
    std::shared_ptr<const std::vector<jwt::Key>> keys_;
    std::vector<size_t> require_index_;
    RemoteKeys* remote_ = nullptr;  // p_.require[i] -> index into p_.wanted_claims
};

}  // namespace gw::auth
