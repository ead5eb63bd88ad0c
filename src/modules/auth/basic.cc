#include "modules/auth/basic.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

namespace gw::auth {

int64_t FailureLimiter::blocked_for(std::string_view client, int64_t now_ms) {
    auto it = clients_.find(client);
    if (it == clients_.end() || it->second.blocked_until <= now_ms) return 0;
    return it->second.blocked_until - now_ms;
}

void FailureLimiter::failed(std::string_view client, int64_t now_ms) {
    auto it = clients_.find(client);
    if (it == clients_.end()) {
        if (clients_.size() >= kMaxClients) purge(now_ms);
        if (clients_.size() >= kMaxClients) clients_.erase(clients_.begin());  // a flood of addresses
        it = clients_.emplace(std::string(client), Record{}).first;
    }
    Record& r = it->second;
    if (r.failures == 0 || now_ms - r.window_start >= kWindowMs) {
        r.window_start = now_ms;
        r.failures = 0;
    }
    if (++r.failures >= kMaxFailures) {
        r.blocked_until = now_ms + kBlockMs;
        r.failures = 0;  // a new window once the block ends
    }
}

void FailureLimiter::purge(int64_t now_ms) {
    std::erase_if(clients_, [&](const auto& e) {
        return e.second.blocked_until <= now_ms && now_ms - e.second.window_start >= kWindowMs;
    });
}

BasicRuntime::BasicRuntime(const BasicProvider& provider, FailureLimiter& failures) : p_(provider), failures_(failures) {
    for (const auto& [user, hash] : p_.users) users_.emplace(user, std::make_unique<UserIdentity>(user, p_.name, hash));
    // The first user's hash: the same method and cost as a real check (its outcome is ignored).
    if (!p_.users.empty()) dummy_ = p_.users.begin()->second;
    RAND_bytes(secret_.data(), static_cast<int>(secret_.size()));
    cache_.reserve(kCacheEntries);
}

bool BasicRuntime::split(std::string_view decoded, std::string_view& user, std::string_view& password) {
    size_t colon = decoded.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    user = decoded.substr(0, colon);
    password = decoded.substr(colon + 1);
    return true;
}

Digest BasicRuntime::key(std::string_view user, std::string_view password) const {
    // SHA-256(secret || len(user) || user || password): the length keeps ("ab","c") and
    // ("a","bc") apart.
    thread_local EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    Digest out{};
    uint64_t user_len = user.size();
    unsigned int len = 0;
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1) {
        EVP_DigestUpdate(ctx, secret_.data(), secret_.size());
        EVP_DigestUpdate(ctx, &user_len, sizeof user_len);
        EVP_DigestUpdate(ctx, user.data(), user.size());
        EVP_DigestUpdate(ctx, password.data(), password.size());
        EVP_DigestFinal_ex(ctx, out.data(), &len);
    }
    return out;
}

const http::Identity* BasicRuntime::cached(const Digest& key, int64_t now_ms) const {
    auto it = cache_.find(key);
    return it != cache_.end() && it->second.expires > now_ms ? it->second.who : nullptr;
}

void BasicRuntime::remember(const Digest& key, const http::Identity* who, int64_t now_ms) {
    if (cache_.size() >= kCacheEntries && !cache_.contains(key)) {
        std::erase_if(cache_, [&](const auto& e) { return e.second.expires <= now_ms; });
        if (cache_.size() >= kCacheEntries) cache_.erase(cache_.begin());
    }
    cache_.insert_or_assign(key, Cached{who, now_ms + kCacheMs});
}

const std::string& BasicRuntime::hash_for(std::string_view user, const http::Identity*& who) const {
    auto it = users_.find(user);
    if (it == users_.end()) {
        who = nullptr;
        return dummy_;
    }
    who = it->second.get();
    return it->second->hash();
}

}  // namespace gw::auth
