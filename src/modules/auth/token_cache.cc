#include "modules/auth/token_cache.h"

#include <openssl/rand.h>

#include <cstring>

namespace gw::auth {

std::string_view TokenCache::Entry::claim(std::string_view name) const {
    if (!names_) return {};
    for (size_t i = 0; i < names_->size() && i < claims_.size(); ++i)
        if ((*names_)[i] == name) return claims_[i].present ? std::string_view(claims_[i].text) : std::string_view();
    return {};
}

TokenCache::TokenCache(size_t capacity, const std::string& provider, const std::vector<std::string>& claim_names)
    : buckets_(capacity > 0 ? capacity * 2 : 2, -1), capacity_(capacity > 0 ? capacity : 1), provider_(provider),
      names_(claim_names) {
    entries_.reserve(capacity_);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(seed_), sizeof seed_) != 1) {
        seed_[0] = 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(this);
        seed_[1] = 0xc2b2ae3d27d4eb4full;
    }
}

namespace {

// The last bytes of a token are hashed, not all of it: a JWT ends with its signature, which
// tells tokens apart, and only verified tokens are ever inserted - nobody outside can fill a
// bucket with tokens that share a tail. Equality is always checked on the whole token.
constexpr size_t kHashedTail = 48;

// Whether a and b (of one size) are equal, in time that depends on the size only: 32 bytes at
// a time in vector registers (GCC's and Clang's vector extensions: SSE2 on any x86-64), then
// 8, then 1. CRYPTO_memcmp goes a byte at a time: 3,700 instructions for a 700-byte token, more
// than the rest of a cached check together; this takes about 120.
bool equal_constant_time(const char* a, const char* b, size_t n) {
    typedef uint64_t Block __attribute__((vector_size(32)));
    Block acc = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        Block x, y;
        std::memcpy(&x, a + i, 32);
        std::memcpy(&y, b + i, 32);
        acc |= x ^ y;
    }
    uint64_t diff = acc[0] | acc[1] | acc[2] | acc[3];
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        std::memcpy(&x, a + i, 8);
        std::memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }
    for (; i < n; ++i) diff |= static_cast<uint64_t>(static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
    return diff == 0;
}

}  // namespace

// A keyed hash (a multiply-xorshift over 8-byte words with a per-cache random seed) of the
// token's length and its last kHashedTail bytes: enough to spread entries.
uint64_t TokenCache::hash(std::string_view token) const {
    uint64_t h = seed_[0] ^ (token.size() * 0x9e3779b97f4a7c15ull);
    if (token.size() > kHashedTail) token.remove_prefix(token.size() - kHashedTail);
    size_t i = 0;
    for (; i + 8 <= token.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, token.data() + i, 8);
        h = (h ^ (w + seed_[1])) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, token.data() + i, token.size() - i);
    h = (h ^ (tail + seed_[1])) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

TokenCache::Entry* TokenCache::find(std::string_view token, int64_t now) {
    uint64_t h = hash(token);
    for (int32_t i = buckets_[h % buckets_.size()]; i >= 0; i = at(i).next_in_bucket_) {
        Entry& e = at(i);
        if (e.hash_ != h || e.token_.size() != token.size() ||
            !equal_constant_time(e.token_.data(), token.data(), token.size()))
            continue;
        if (now >= e.expires_at) return nullptr;  // expired: insert() will replace it
        touch(i);
        return &e;
    }
    return nullptr;
}

TokenCache::Entry* TokenCache::insert(std::string_view token) {
    uint64_t h = hash(token);
    int32_t slot = -1;
    // The token's own expired entry, if it is not in use.
    for (int32_t i = buckets_[h % buckets_.size()]; i >= 0; i = at(i).next_in_bucket_) {
        Entry& e = at(i);
        if (e.hash_ == h && e.pins_ == 0 && e.token_ == token) {
            slot = i;
            break;
        }
    }
    if (slot < 0 && entries_.size() >= capacity_)
        for (int32_t i = oldest_; i >= 0; i = at(i).newer_)
            if (at(i).pins_ == 0) {
                slot = i;
                break;
            }
    if (slot >= 0) {
        unlink_bucket(slot);
        unlink_lru(slot);
    } else {
        auto e = std::make_unique<Entry>();
        e->provider_ = &provider_;
        e->names_ = &names_;
        entries_.push_back(std::move(e));
        slot = static_cast<int32_t>(entries_.size() - 1);
    }
    Entry& e = at(slot);
    e.token_.assign(token);
    e.hash_ = h;
    e.consumer_.clear();
    e.claims_.resize(names_.size());
    for (jwt::ClaimValue& c : e.claims_) c.present = false;
    e.expires_at = 0;
    e.pins_ = 0;
    link(slot, h);
    return &e;
}

void TokenCache::link(int32_t i, uint64_t h) {
    Entry& e = at(i);
    int32_t& head = buckets_[h % buckets_.size()];
    e.next_in_bucket_ = head;
    head = i;
    e.older_ = newest_;
    e.newer_ = -1;
    if (newest_ >= 0) at(newest_).newer_ = i;
    newest_ = i;
    if (oldest_ < 0) oldest_ = i;
}

void TokenCache::unlink_bucket(int32_t i) {
    int32_t* p = &buckets_[at(i).hash_ % buckets_.size()];
    while (*p >= 0 && *p != i) p = &at(*p).next_in_bucket_;
    if (*p == i) *p = at(i).next_in_bucket_;
    at(i).next_in_bucket_ = -1;
}

void TokenCache::unlink_lru(int32_t i) {
    Entry& e = at(i);
    if (e.older_ >= 0) at(e.older_).newer_ = e.newer_;
    else if (oldest_ == i) oldest_ = e.newer_;
    if (e.newer_ >= 0) at(e.newer_).older_ = e.older_;
    else if (newest_ == i) newest_ = e.older_;
    e.older_ = e.newer_ = -1;
}

void TokenCache::touch(int32_t i) {
    if (newest_ == i) return;
    unlink_lru(i);
    Entry& e = at(i);
    e.older_ = newest_;
    e.newer_ = -1;
    if (newest_ >= 0) at(newest_).newer_ = i;
    newest_ = i;
    if (oldest_ < 0) oldest_ = i;
}

}  // namespace gw::auth
