#include "core/shm/keyed_records.h"

#include <cstring>
#include <string>

namespace gw::shm {

namespace {

// FNV-1a, with a 0 between the parts so that ("ab", "c") and ("a", "bc") differ.
uint64_t hash_of(std::string_view first, std::string_view second) {
    uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&h](unsigned char c) { h = (h ^ c) * 0x100000001b3ULL; };
    for (char c : first) mix(static_cast<unsigned char>(c));
    mix(0);
    for (char c : second) mix(static_cast<unsigned char>(c));
    return h;
}

// The root fills one page: the tag, then the chains (511, a prime).
constexpr size_t kChains = (4096 - sizeof(uint64_t)) / sizeof(uint64_t);
struct Root {
    uint64_t magic;
    uint64_t chains[kChains];
};
static_assert(sizeof(Root) <= 4096);

}  // namespace

KeyedIndex::KeyedIndex(Zone& zone, uint64_t magic) : zone_(zone), magic_(magic) {
    LockGuard lock(zone_.mutex());
    if (zone_.header()->root) return;
    uint64_t off = zone_.alloc(sizeof(Root));
    if (!off) return;  // too small: find_or_create() returns 0
    auto* root = new (zone_.at<Root>(off)) Root{};
    root->magic = magic_;
    zone_.header()->root = off;
}

uint64_t KeyedIndex::find_or_create(std::string_view first, std::string_view second, uint64_t size,
                                    void (*construct)(void*)) {
    LockGuard lock(zone_.mutex());
    auto* root = zone_.at<Root>(zone_.header()->root);
    if (!root || root->magic != magic_) return 0;
    uint64_t hash = hash_of(first, second);
    std::string key(first);
    key += '\0';
    key += second;
    uint64_t& chain = root->chains[hash % kChains];
    for (uint64_t off = chain; off;) {
        auto* h = zone_.at<KeyedHeader>(off);
        if (h->hash == hash) {
            uint32_t len;
            std::memcpy(&len, zone_.base() + h->key, sizeof len);
            if (std::string_view(zone_.base() + h->key + sizeof len, len) == key) return off;
        }
        off = h->next;
    }
    if (key.size() > UINT32_MAX - sizeof(uint32_t)) return 0;
    uint64_t rec_off = zone_.alloc(size);
    uint64_t key_off = zone_.alloc(sizeof(uint32_t) + key.size());
    if (!rec_off || !key_off) {
        if (rec_off) zone_.free(rec_off);
        if (key_off) zone_.free(key_off);
        return 0;
    }
    uint32_t len = static_cast<uint32_t>(key.size());
    std::memcpy(zone_.base() + key_off, &len, sizeof len);
    std::memcpy(zone_.base() + key_off + sizeof len, key.data(), key.size());
    construct(zone_.base() + rec_off);
    auto* h = zone_.at<KeyedHeader>(rec_off);
    h->hash = hash;
    h->key = key_off;
    h->next = chain;
    chain = rec_off;  // published last, under the mutex
    return rec_off;
}

}  // namespace gw::shm
