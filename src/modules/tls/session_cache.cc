#include "modules/tls/session_cache.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace gw::tls {

namespace {

constexpr uint64_t kMagic = 0x3153455353534c54ULL;  // "TLSSESS1"
// A bucket per this many bytes of zone: about one entry per chain when the zone is full of
// typical sessions (~200-500 bytes with the entry's own fields).
constexpr uint64_t kBytesPerBucket = 512;
constexpr uint64_t kMinBuckets = 64;
// How many least recently used entries a store may drop to find room (more would hold the
// mutex for long; a refusal is counted instead).
constexpr int kMaxEvictions = 64;
// Expired entries dropped from the cold end by each store, whether room is needed or not, so
// that expired sessions do not wait for the zone to fill.
constexpr int kExpireOnStore = 2;

}  // namespace

struct SessionCache::Root {
    uint64_t magic;
    uint64_t k0, k1;          // the hash's secret: a client cannot pick ids that share a chain
    uint64_t buckets;         // offset of uint64_t[bucket_count]
    uint64_t bucket_count;
    uint64_t lru_head;        // most recently used
    uint64_t lru_tail;        // least recently used
    Stats stats;
};

struct SessionCache::Entry {
    uint64_t hash;
    uint64_t chain;           // next entry of the bucket
    uint64_t newer, older;    // LRU links
    int64_t expires;          // seconds since the epoch
    uint32_t der_len;
    uint8_t id_len;
    unsigned char id[kMaxSessionIdBytes];

    unsigned char* der() { return reinterpret_cast<unsigned char*>(this + 1); }
    std::span<const unsigned char> key() const { return {id, id_len}; }
};

bool SessionCache::lay_out(shm::Zone& zone) {
    shm::LockGuard lock(zone.mutex());
    shm::ZoneHeader* h = zone.header();
    if (h->root) {
        auto* root = zone.at<Root>(h->root);
        return root->magic == kMagic;  // adopted: the sessions are kept
    }
    uint64_t root_off = zone.alloc(sizeof(Root));
    if (!root_off) return false;
    uint64_t count = std::max(kMinBuckets, zone.size() / kBytesPerBucket);
    uint64_t buckets = zone.alloc(count * sizeof(uint64_t));  // zeroed: empty chains
    if (!buckets) {
        zone.free(root_off);
        return false;
    }
    auto* root = new (zone.at<Root>(root_off)) Root{};
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&root->k0), sizeof root->k0) != 1 ||
        RAND_bytes(reinterpret_cast<unsigned char*>(&root->k1), sizeof root->k1) != 1) {
        zone.free(buckets);
        zone.free(root_off);
        return false;
    }
    root->buckets = buckets;
    root->bucket_count = count;
    root->magic = kMagic;
    h->root = root_off;
    return true;
}

std::unique_ptr<SessionCache> SessionCache::attach(shm::Zone& zone) {
    shm::LockGuard lock(zone.mutex());
    auto* root = zone.at<Root>(zone.header()->root);
    if (!root || root->magic != kMagic) return nullptr;
    return std::unique_ptr<SessionCache>(new SessionCache(zone, root));
}

// A keyed FNV-1a with a final mix: cheap for 32 bytes, and not predictable without the secret.
uint64_t SessionCache::hash(std::span<const unsigned char> id) const {
    uint64_t h = root_->k0 ^ 0xcbf29ce484222325ULL;
    for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ULL;
    h ^= root_->k1;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

uint64_t* SessionCache::bucket(uint64_t h) const {
    return zone_.at<uint64_t>(root_->buckets) + h % root_->bucket_count;
}

uint64_t SessionCache::find(std::span<const unsigned char> id, uint64_t h) const {
    for (uint64_t off = *bucket(h); off;) {
        Entry* e = zone_.at<Entry>(off);
        if (e->hash == h && e->id_len == id.size() && std::memcmp(e->id, id.data(), id.size()) == 0) return off;
        off = e->chain;
    }
    return 0;
}

void SessionCache::unlink(uint64_t off) {
    Entry* e = zone_.at<Entry>(off);
    if (e->newer) zone_.at<Entry>(e->newer)->older = e->older; else root_->lru_head = e->older;
    if (e->older) zone_.at<Entry>(e->older)->newer = e->newer; else root_->lru_tail = e->newer;
    e->newer = e->older = 0;
}

void SessionCache::push_front(uint64_t off) {
    Entry* e = zone_.at<Entry>(off);
    e->newer = 0;
    e->older = root_->lru_head;
    if (root_->lru_head) zone_.at<Entry>(root_->lru_head)->newer = off;
    root_->lru_head = off;
    if (!root_->lru_tail) root_->lru_tail = off;
}

// Out of its chain and the LRU list, and freed.
void SessionCache::drop(uint64_t off) {
    Entry* e = zone_.at<Entry>(off);
    for (uint64_t* link = bucket(e->hash); *link; link = &zone_.at<Entry>(*link)->chain)
        if (*link == off) {
            *link = e->chain;
            break;
        }
    unlink(off);
    zone_.free(off);
    --root_->stats.entries;
}

uint64_t SessionCache::alloc_evicting(uint64_t size, int64_t now) {
    for (int i = 0; i < kExpireOnStore && root_->lru_tail; ++i) {
        if (zone_.at<Entry>(root_->lru_tail)->expires > now) break;
        drop(root_->lru_tail);
        ++root_->stats.expired;
    }
    for (int i = 0;; ++i) {
        if (uint64_t off = zone_.alloc(size)) return off;
        if (i == kMaxEvictions || !root_->lru_tail) return 0;
        bool expired = zone_.at<Entry>(root_->lru_tail)->expires <= now;
        drop(root_->lru_tail);
        ++(expired ? root_->stats.expired : root_->stats.evicted);
    }
}

SessionCache::Stored SessionCache::store(std::span<const unsigned char> id, std::span<const unsigned char> der,
                                         int64_t expires, int64_t now) {
    if (id.empty() || id.size() > kMaxSessionIdBytes) return Stored::BadId;
    uint64_t h = hash(id);
    shm::LockGuard lock(zone_.mutex());
    if (der.size() > kMaxSessionBytes) {
        ++root_->stats.oversize;
        return Stored::Oversize;
    }
    if (uint64_t old = find(id, h)) drop(old);
    uint64_t off = alloc_evicting(sizeof(Entry) + der.size(), now);
    if (!off) {
        ++root_->stats.full;
        return Stored::Full;
    }
    Entry* e = new (zone_.at<Entry>(off)) Entry{};
    e->hash = h;
    e->expires = expires;
    e->der_len = static_cast<uint32_t>(der.size());
    e->id_len = static_cast<uint8_t>(id.size());
    std::memcpy(e->id, id.data(), id.size());
    std::memcpy(e->der(), der.data(), der.size());
    uint64_t* head = bucket(h);
    e->chain = *head;
    *head = off;
    push_front(off);
    ++root_->stats.entries;
    ++root_->stats.stored;
    return Stored::Yes;
}

size_t SessionCache::fetch(std::span<const unsigned char> id, int64_t now, std::span<unsigned char> out) {
    if (id.empty() || id.size() > kMaxSessionIdBytes) return 0;
    uint64_t h = hash(id);
    shm::LockGuard lock(zone_.mutex());
    uint64_t off = find(id, h);
    if (!off) {
        ++root_->stats.misses;
        return 0;
    }
    Entry* e = zone_.at<Entry>(off);
    if (e->expires <= now || e->der_len > out.size()) {
        drop(off);
        ++root_->stats.expired;
        ++root_->stats.misses;
        return 0;
    }
    std::memcpy(out.data(), e->der(), e->der_len);
    unlink(off);
    push_front(off);
    ++root_->stats.hits;
    return e->der_len;
}

void SessionCache::count_oversize() {
    shm::LockGuard lock(zone_.mutex());
    ++root_->stats.oversize;
}

bool SessionCache::remove(std::span<const unsigned char> id) {
    if (id.empty() || id.size() > kMaxSessionIdBytes) return false;
    uint64_t h = hash(id);
    shm::LockGuard lock(zone_.mutex());
    uint64_t off = find(id, h);
    if (off) drop(off);
    return off != 0;
}

SessionCache::Stats SessionCache::stats() const {
    shm::LockGuard lock(zone_.mutex());
    return root_->stats;
}

}  // namespace gw::tls
