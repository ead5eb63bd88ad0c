// A worker's cache of verified tokens for one JWT provider: a hot token costs a hash and a
// compare, not a signature check. Bounded (least recently used entries go), never past the
// token's exp, and nothing allocated once its entries have grown to their sizes.
//
// Entries are found by a keyed hash of the token's tail (its signature) and compared whole in
// constant time: a cached token cannot be found, or guessed byte by byte, from outside. An
// entry is the request's http::Identity while a request uses it (pinned: not evicted).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/identity.h"
#include "modules/auth/jwt/token.h"

namespace gw::auth {

class TokenCache {
  public:
    class Entry final : public http::Identity {
      public:
        std::string_view consumer() const override { return consumer_; }
        std::string_view provider() const override { return *provider_; }
        std::string_view method() const override { return "jwt"; }
        std::string_view claim(std::string_view name) const override;

        // Filled by the provider when it inserts the token (claims parallel to its wanted list).
        std::string consumer_;
        std::vector<jwt::ClaimValue> claims_;
        int64_t expires_at = 0;  // Unix seconds: not served from the cache at or after it

      private:
        friend class TokenCache;
        const std::string* provider_ = nullptr;
        const std::vector<std::string>* names_ = nullptr;  // the provider's wanted claims
        std::string token_;
        uint64_t hash_ = 0;
        int32_t next_in_bucket_ = -1;
        int32_t newer_ = -1, older_ = -1;  // LRU list
        uint32_t pins_ = 0;
    };

    // `provider` and `claim_names` (the provider's wanted claims) must outlive the cache.
    TokenCache(size_t capacity, const std::string& provider, const std::vector<std::string>& claim_names);

    // The entry of `token` if it is cached and still good at `now` (it becomes the most
    // recently used), else null.
    Entry* find(std::string_view token, int64_t now);
    // A fresh entry for `token` (the caller fills consumer_, claims_ and expires_at), taking the
    // place of the token's expired entry or of the least recently used unpinned one. When every
    // entry is pinned (more requests in flight with distinct tokens than the cache holds), the
    // cache grows by one: its size follows the peak of concurrent requests, never more.
    Entry* insert(std::string_view token);

    // A request uses the entry (as its identity) until it ends.
    static void pin(Entry* e) { ++e->pins_; }
    static void unpin(Entry* e) { --e->pins_; }

    size_t size() const { return entries_.size(); }

    // The key set changed: every token is verified again (a key taken out of the set no longer
    // lets its tokens in). Entries pinned by requests in flight stay as they are for them.
    void expire_all() {
        for (auto& e : entries_) e->expires_at = 0;
    }

  private:
    uint64_t hash(std::string_view token) const;
    void unlink_bucket(int32_t i);
    void touch(int32_t i);
    void unlink_lru(int32_t i);

    Entry& at(int32_t i) { return *entries_[static_cast<size_t>(i)]; }
    void link(int32_t i, uint64_t h);

    std::vector<std::unique_ptr<Entry>> entries_;  // (pointers: a pinned entry never moves)
    std::vector<int32_t> buckets_;
    size_t capacity_;
    const std::string& provider_;
    const std::vector<std::string>& names_;
    int32_t newest_ = -1, oldest_ = -1;
    uint64_t seed_[2];
};

}  // namespace gw::auth
