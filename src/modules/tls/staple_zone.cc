#include "modules/tls/staple_zone.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstring>
#include <new>

#include "core/log.h"

namespace gw::tls {

namespace {

constexpr uint64_t kMagic = 0x31534c5041545343ULL;  // "CSTAPLS1"
constexpr size_t kKeyWords = sizeof(CertKey) / sizeof(uint64_t);
constexpr size_t kDerWords = kMaxStapleBytes / sizeof(uint64_t);
static_assert(kMaxStapleBytes % sizeof(uint64_t) == 0);
// A reader gives up after this many overlapped copies.
constexpr int kReadAttempts = 100;

}  // namespace

// Every field is a word of relaxed atomics: a copy that overlaps a write is a race the counter
// detects, not undefined behaviour.
struct StapleBoard::Slot {
    std::atomic<uint64_t> seq;
    std::atomic<uint64_t> key[kKeyWords];  // all zero: a free slot
    std::atomic<int64_t> this_update;
    std::atomic<int64_t> next_update;
    std::atomic<uint64_t> size;            // 0: no response
    std::atomic<uint64_t> der[kDerWords];
};

struct StapleBoard::Root {
    uint64_t magic;
    std::atomic<uint64_t> publications;
    Slot slots[kStapleSlots];
};
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free);

bool cert_key(const X509* leaf, CertKey& out) {
    unsigned int n = 0;
    return leaf && X509_digest(leaf, EVP_sha256(), out.data(), &n) == 1 && n == out.size();
}

std::string staple_zone_name() { return "tls-ocsp"; }

namespace {

bool attach_staples(shm::Zone& zone, const module::ZoneSpec&) {
    if (StapleBoard::lay_out(zone)) return true;
    LOG_EMERG("shared memory zone \"%s\" cannot hold the OCSP staples", zone.name().c_str());
    return false;
}

bool same_key(const std::atomic<uint64_t>* words, const CertKey& key) {
    for (size_t w = 0; w < kKeyWords; ++w) {
        uint64_t k;
        std::memcpy(&k, key.data() + w * sizeof k, sizeof k);
        if (words[w].load(std::memory_order_relaxed) != k) return false;
    }
    return true;
}

bool free_key(const std::atomic<uint64_t>* words) {
    for (size_t w = 0; w < kKeyWords; ++w)
        if (words[w].load(std::memory_order_relaxed) != 0) return false;
    return true;
}

}  // namespace

module::ZoneSpec staple_zone_spec() {
    // The table, and room for the slab's own pages and rounding.
    return {.name = staple_zone_name(),
            .size = (StapleBoard::table_size() + 64 * 1024 + 4095) / 4096 * 4096,
            .version = kStapleZoneLayoutVersion,
            .kept = "its OCSP staples",
            .lost = "OCSP staples are fetched again (handshakes go out unstapled meanwhile)",
            .attach = attach_staples};
}

uint64_t StapleBoard::table_size() { return sizeof(Root); }

bool StapleBoard::lay_out(shm::Zone& zone) {
    shm::LockGuard lock(zone.mutex());
    if (uint64_t root = zone.header()->root) return zone.at<Root>(root)->magic == kMagic;  // adopted
    uint64_t off = zone.alloc(sizeof(Root));
    if (!off) return false;
    auto* root = new (zone.at<Root>(off)) Root{};
    root->magic = kMagic;
    zone.header()->root = off;
    return true;
}

std::unique_ptr<StapleBoard> StapleBoard::attach(shm::Zone& zone) {
    shm::LockGuard lock(zone.mutex());
    auto* root = zone.at<Root>(zone.header()->root);
    if (!root || root->magic != kMagic) return nullptr;
    return std::unique_ptr<StapleBoard>(new StapleBoard(zone, root));
}

uint64_t StapleBoard::publications() const { return root_->publications.load(std::memory_order_relaxed); }

// The writer's half of the seqlock; the caller holds the zone mutex. A counter found odd is a
// writer that died halfway: this write completes it.
void StapleBoard::write(Slot& slot, const CertKey& key, std::string_view der, time_t this_update,
                        time_t next_update) {
    uint64_t s = slot.seq.load(std::memory_order_relaxed);
    if ((s & 1) == 0) slot.seq.store(++s, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    for (size_t w = 0; w < kKeyWords; ++w) {
        uint64_t k;
        std::memcpy(&k, key.data() + w * sizeof k, sizeof k);
        slot.key[w].store(k, std::memory_order_relaxed);
    }
    slot.this_update.store(this_update, std::memory_order_relaxed);
    slot.next_update.store(next_update, std::memory_order_relaxed);
    slot.size.store(der.size(), std::memory_order_relaxed);
    for (size_t w = 0; w * sizeof(uint64_t) < der.size(); ++w) {
        uint64_t word = 0;
        std::memcpy(&word, der.data() + w * sizeof word, std::min(sizeof word, der.size() - w * sizeof word));
        slot.der[w].store(word, std::memory_order_relaxed);
    }
    slot.seq.store(s + 1, std::memory_order_release);
}

bool StapleBoard::publish(const CertKey& key, std::string_view der, time_t this_update, time_t next_update,
                          time_t now) {
    if (der.empty() || der.size() > kMaxStapleBytes) return false;
    shm::LockGuard lock(zone_.mutex());
    Slot* mine = nullptr;
    Slot* free = nullptr;
    Slot* stale = nullptr;  // the response that expired longest ago
    for (Slot& s : root_->slots) {
        if (same_key(s.key, key)) {
            mine = &s;
            break;
        }
        if (!free && free_key(s.key)) free = &s;
        int64_t next = s.next_update.load(std::memory_order_relaxed);
        bool dead = s.size.load(std::memory_order_relaxed) == 0 || (next != 0 && next <= now);
        if (!free_key(s.key) && dead && (!stale || next < stale->next_update.load(std::memory_order_relaxed)))
            stale = &s;
    }
    Slot* slot = mine ? mine : free ? free : stale;
    if (!slot) return false;
    write(*slot, key, der, this_update, next_update);
    root_->publications.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void StapleBoard::withdraw(const CertKey& key) {
    shm::LockGuard lock(zone_.mutex());
    for (Slot& s : root_->slots)
        if (same_key(s.key, key)) write(s, key, {}, 0, 0);
}

bool StapleBoard::get(const CertKey& key, StapleCopy& out) const {
    int slot = find(key);
    if (slot < 0) return false;
    shm::LockGuard lock(zone_.mutex());  // no writer meanwhile: the copy is consistent
    out.sequence = 0;
    return read(slot, out) && !out.der.empty() && out.key == key;
}

int StapleBoard::find(const CertKey& key) const {
    for (size_t i = 0; i < kStapleSlots; ++i)
        if (same_key(root_->slots[i].key, key)) return static_cast<int>(i);
    return -1;
}

uint64_t StapleBoard::sequence(int slot) const {
    return root_->slots[slot].seq.load(std::memory_order_relaxed);
}

bool StapleBoard::read(int slot, StapleCopy& out) const {
    const Slot& s = root_->slots[slot];
    for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
        uint64_t before = s.seq.load(std::memory_order_acquire);
        if (before == out.sequence) return true;  // unchanged: the copy is current
        if (before & 1) continue;                 // a write in progress
        for (size_t w = 0; w < kKeyWords; ++w) {
            uint64_t k = s.key[w].load(std::memory_order_relaxed);
            std::memcpy(out.key.data() + w * sizeof k, &k, sizeof k);
        }
        out.this_update = static_cast<time_t>(s.this_update.load(std::memory_order_relaxed));
        out.next_update = static_cast<time_t>(s.next_update.load(std::memory_order_relaxed));
        uint64_t size = std::min<uint64_t>(s.size.load(std::memory_order_relaxed), kMaxStapleBytes);
        out.der.resize(size);
        for (size_t w = 0; w * sizeof(uint64_t) < size; ++w) {
            uint64_t word = s.der[w].load(std::memory_order_relaxed);
            std::memcpy(out.der.data() + w * sizeof word, &word, std::min<size_t>(sizeof word, size - w * sizeof word));
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        if (s.seq.load(std::memory_order_relaxed) != before) continue;  // overlapped a write
        out.sequence = before;
        return true;
    }
    out.sequence = 0;
    out.der.clear();
    return false;
}

}  // namespace gw::tls
