// A basic-auth provider in one worker (RFC 7617): "Authorization: Basic base64(user:password)"
// checked against the provider's htpasswd hashes on the worker's CryptWorker thread.
//
//   - A cache of good checks: a keyed SHA-256 of (user, password) -> the user, for 5 minutes,
//     at most kCacheEntries - a client that sends the same credentials on every request costs
//     a hash and a lookup, not a bcrypt check. Only good checks are cached; the key is keyed by
//     a random per-process secret, so the cache holds nothing a password can be tested against
//     offline.
//   - An unknown user is checked against a dummy hash of the same method and cost as the
//     file's first user, and refused whatever it says: the time of a refusal does not tell
//     whether the user exists.
//   - Failures are limited per client address (FailureLimiter): kMaxFailures in kWindowMs,
//     then every basic-auth request of that address is answered 429 for kBlockMs.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/identity.h"
#include "modules/auth/config.h"

namespace gw::auth {

using Digest = std::array<unsigned char, 32>;

struct DigestHash {
    size_t operator()(const Digest& d) const {
        size_t h;
        static_assert(sizeof h <= sizeof d);
        __builtin_memcpy(&h, d.data(), sizeof h);  // already uniformly spread
        return h;
    }
};

// Failed basic-auth attempts by client address, in one worker (the workers do not share it: a
// guesser spread over N workers' connections gets N times the budget - documented).
class FailureLimiter {
  public:
    static constexpr uint32_t kMaxFailures = 10;
    static constexpr int64_t kWindowMs = 60'000;
    static constexpr int64_t kBlockMs = 60'000;
    static constexpr size_t kMaxClients = 16384;

    // Milliseconds until `client` may try again; 0 when it may now.
    int64_t blocked_for(std::string_view client, int64_t now_ms);
    void failed(std::string_view client, int64_t now_ms);
    size_t size() const { return clients_.size(); }

  private:
    struct Record {
        int64_t window_start = 0;
        int64_t blocked_until = 0;
        uint32_t failures = 0;
    };
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    void purge(int64_t now_ms);
    std::unordered_map<std::string, Record, Hash, std::equal_to<>> clients_;
};

class BasicRuntime {
  public:
    static constexpr size_t kCacheEntries = 4096;
    static constexpr int64_t kCacheMs = 5 * 60'000;

    BasicRuntime(const BasicProvider& provider, FailureLimiter& failures);
    const BasicProvider& provider() const { return p_; }
    FailureLimiter& failures() { return failures_; }

    // Splits decoded credentials "user:password" (RFC 7617 §2: the first colon). False for no
    // colon or an empty user.
    static bool split(std::string_view decoded, std::string_view& user, std::string_view& password);

    // The cache key of (user, password).
    Digest key(std::string_view user, std::string_view password) const;
    // The user a good check of `key` found within kCacheMs, or null.
    const http::Identity* cached(const Digest& key, int64_t now_ms) const;
    void remember(const Digest& key, const http::Identity* who, int64_t now_ms);

    // The hash to check the password against: the user's (`who` set) or the dummy (`who` null:
    // refused whatever the check says).
    const std::string& hash_for(std::string_view user, const http::Identity*& who) const;

  private:
    class UserIdentity final : public http::Identity {
      public:
        UserIdentity(std::string_view user, std::string_view provider, const std::string& hash)
            : user_(user), provider_(provider), hash_(hash) {}
        std::string_view consumer() const override { return user_; }
        std::string_view provider() const override { return provider_; }
        std::string_view method() const override { return "basic"; }
        const std::string& hash() const { return hash_; }

      private:
        std::string_view user_, provider_;
        const std::string& hash_;
    };
    struct Cached {
        const http::Identity* who;
        int64_t expires;
    };

    const BasicProvider& p_;
    FailureLimiter& failures_;
    std::map<std::string_view, std::unique_ptr<UserIdentity>, std::less<>> users_;  // views into p_.users
    std::string dummy_;
    std::array<unsigned char, 32> secret_{};
    std::unordered_map<Digest, Cached, DigestHash> cache_;
};

}  // namespace gw::auth
