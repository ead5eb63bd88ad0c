#include "modules/tls/ticket_keys.h"

#include <openssl/rand.h>

#include <cstring>
#include <new>

namespace gw::tls {

namespace {

constexpr uint64_t kMagic = 0x315359454b4b4954ULL;  // "TIKKEYS1"
constexpr size_t kKeyWords = sizeof(TicketKey) / sizeof(uint64_t);
static_assert(sizeof(TicketKey) == 80 && sizeof(TicketKey) % sizeof(uint64_t) == 0);
// A reader gives up after this many overlapped copies (a writer that died halfway leaves the
// counter odd until the next write).
constexpr int kReadAttempts = 1000;

}  // namespace

// The keys are words of relaxed atomics, so a copy that overlaps a write is a race the counter
// detects, not undefined behaviour.
struct TicketKeyRing::Root {
    uint64_t magic;
    std::atomic<uint64_t> seq;
    std::atomic<int64_t> rotated_at_ms;
    std::atomic<uint64_t> rotations;
    std::atomic<uint64_t> words[3 * kKeyWords];  // current, previous, next
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

bool make_ticket_key(TicketKey& out) {
    return RAND_bytes(out.name.data(), static_cast<int>(out.name.size())) == 1 &&
           RAND_bytes(out.aes.data(), static_cast<int>(out.aes.size())) == 1 &&
           RAND_bytes(out.hmac.data(), static_cast<int>(out.hmac.size())) == 1;
}

bool TicketKeyRing::lay_out(shm::Zone& zone, int64_t now_ms) {
    TicketKey keys[3];
    {
        shm::LockGuard lock(zone.mutex());
        if (uint64_t root = zone.header()->root) return zone.at<Root>(root)->magic == kMagic;  // adopted
    }
    for (TicketKey& k : keys)
        if (!make_ticket_key(k)) return false;
    {
        shm::LockGuard lock(zone.mutex());
        if (zone.header()->root) return zone.at<Root>(zone.header()->root)->magic == kMagic;
        uint64_t off = zone.alloc(sizeof(Root));
        if (!off) return false;
        auto* root = new (zone.at<Root>(off)) Root{};
        root->magic = kMagic;
        zone.header()->root = off;
    }
    std::unique_ptr<TicketKeyRing> ring = attach(zone);
    shm::LockGuard lock(zone.mutex());
    ring->write(keys[0], keys[1], keys[2], now_ms);
    for (TicketKey& k : keys) OPENSSL_cleanse(&k, sizeof k);
    return true;
}

std::unique_ptr<TicketKeyRing> TicketKeyRing::attach(shm::Zone& zone) {
    shm::LockGuard lock(zone.mutex());
    auto* root = zone.at<Root>(zone.header()->root);
    if (!root || root->magic != kMagic) return nullptr;
    return std::unique_ptr<TicketKeyRing>(new TicketKeyRing(zone, root));
}

std::atomic<uint64_t>& TicketKeyRing::seq() const { return root_->seq; }

int64_t TicketKeyRing::rotated_at_ms() const { return root_->rotated_at_ms.load(std::memory_order_acquire); }

uint64_t TicketKeyRing::rotations() const { return root_->rotations.load(std::memory_order_relaxed); }

// The writer's half of the seqlock; the caller holds the zone mutex (one writer at a time). A
// counter found odd is a writer that died halfway: this write completes it.
void TicketKeyRing::write(const TicketKey& current, const TicketKey& previous, const TicketKey& next,
                          int64_t rotated_at_ms) {
    uint64_t s = root_->seq.load(std::memory_order_relaxed);
    if ((s & 1) == 0) root_->seq.store(++s, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    const TicketKey* keys[3] = {&current, &previous, &next};
    for (size_t k = 0; k < 3; ++k)
        for (size_t w = 0; w < kKeyWords; ++w) {
            uint64_t word;
            std::memcpy(&word, reinterpret_cast<const unsigned char*>(keys[k]) + w * sizeof word, sizeof word);
            root_->words[k * kKeyWords + w].store(word, std::memory_order_relaxed);
        }
    root_->rotated_at_ms.store(rotated_at_ms, std::memory_order_relaxed);
    root_->seq.store(s + 1, std::memory_order_release);
}

void TicketKeyRing::copy_words(TicketKeys& out) const {
    TicketKey* keys[3] = {&out.current, &out.previous, &out.next};
    for (size_t k = 0; k < 3; ++k)
        for (size_t w = 0; w < kKeyWords; ++w) {
            uint64_t word = root_->words[k * kKeyWords + w].load(std::memory_order_relaxed);
            std::memcpy(reinterpret_cast<unsigned char*>(keys[k]) + w * sizeof word, &word, sizeof word);
        }
    out.rotated_at_ms = root_->rotated_at_ms.load(std::memory_order_relaxed);
}

bool TicketKeyRing::read(TicketKeys& out) const {
    for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
        uint64_t before = root_->seq.load(std::memory_order_acquire);
        if (before == out.sequence) return true;  // unchanged: the copy is current
        if (before & 1) continue;                 // a write in progress
        TicketKeys copy;
        copy_words(copy);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (root_->seq.load(std::memory_order_relaxed) != before) continue;  // overlapped a write
        copy.sequence = before;
        out = copy;
        OPENSSL_cleanse(&copy, sizeof copy);
        return true;
    }
    return false;
}

bool TicketKeyRing::rotate_if_due(int64_t now_ms, int64_t rotate_ms, const TicketKey& fresh) {
    shm::LockGuard lock(zone_.mutex());
    int64_t at = root_->rotated_at_ms.load(std::memory_order_relaxed);
    if (now_ms - at < rotate_ms && now_ms >= at) return false;  // not due (a clock gone back is)
    TicketKeys old;
    copy_words(old);  // no other writer: the mutex
    write(old.next, old.current, fresh, now_ms);
    root_->rotations.fetch_add(1, std::memory_order_relaxed);
    OPENSSL_cleanse(&old, sizeof old);
    return true;
}

void TicketKeyRing::replace(const TicketKey& current, const TicketKey& previous, const TicketKey& next,
                            int64_t rotated_at_ms) {
    shm::LockGuard lock(zone_.mutex());
    write(current, previous, next, rotated_at_ms);
}

}  // namespace gw::tls
