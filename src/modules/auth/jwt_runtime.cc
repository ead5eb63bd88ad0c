#include "modules/auth/jwt_runtime.h"

#include <algorithm>

#include "modules/auth/jwt/verify.h"

namespace gw::auth {

namespace {

// A token without exp (require_exp: false) is cached this long at most.
constexpr int64_t kMaxCacheSeconds = 300;

size_t index_of(const std::vector<std::string>& names, const std::string& name) {
    return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
}

}  // namespace

JwtRuntime::JwtRuntime(const JwtProvider& provider, jwt::Reader& reader)
    : p_(provider), reader_(reader), cache_(kCacheEntries, provider.name, provider.wanted_claims),
      keys_(provider.static_keys) {
    for (const auto& r : p_.require) require_index_.push_back(index_of(p_.wanted_claims, r.first));
}

TokenCache::Entry* JwtRuntime::check(std::string_view token, int64_t now, jwt::Failure& why) {
    if (TokenCache::Entry* e = cache_.find(token, now)) return e;
    why = reader_.read(token, p_.algorithms, p_.wanted_claims, token_);
    if (why != jwt::Failure::None) return nullptr;
    why = keys_ ? jwt::verify_with(*keys_, token_) : jwt::Failure::UnknownKey;
    if (why != jwt::Failure::None) return nullptr;
    why = jwt::check_claims(token_, p_.policy, now);
    if (why != jwt::Failure::None) return nullptr;
    TokenCache::Entry* e = cache_.insert(token);
    // The consumer: the consumer claim when the token has it, else the provider's name (tokens
    // without it - client credentials - share one consumer).
    size_t ci = p_.consumer_claim.empty() ? p_.wanted_claims.size() : index_of(p_.wanted_claims, p_.consumer_claim);
    if (ci < token_.claims.size() && token_.claims[ci].present && !token_.claims[ci].text.empty())
        e->consumer_ = token_.claims[ci].text;
    else
        e->consumer_ = p_.name;
    for (size_t i = 0; i < token_.claims.size() && i < e->claims_.size(); ++i) {
        jwt::ClaimValue& to = e->claims_[i];
        const jwt::ClaimValue& from = token_.claims[i];
        to.present = from.present;
        to.is_list = from.is_list;
        if (from.present)
            to.text = from.text;  // (assign: the entry's strings keep their capacity)
        else
            to.text.clear();
        to.items.resize(from.items.size());
        for (size_t k = 0; k < from.items.size(); ++k) to.items[k] = from.items[k];
    }
    // Never served from the cache past exp (nor longer than a few minutes without one).
    e->expires_at = token_.has_exp ? std::min(token_.exp, now + 86400 * 366) : now + kMaxCacheSeconds;
    if (e->expires_at <= now) e->expires_at = now + 1;  // within the skew after exp: this second only
    return e;
}

bool JwtRuntime::meets_requirements(const TokenCache::Entry& e) const {
    for (size_t i = 0; i < p_.require.size(); ++i) {
        size_t ci = require_index_[i];
        if (ci >= e.claims_.size() || !jwt::claim_satisfies(e.claims_[ci], p_.require[i].second)) return false;
    }
    return true;
}

}  // namespace gw::auth
