#include "modules/idempotency/table.h"

#include <time.h>

#include <cstring>

namespace gw::idempotency {

namespace {
constexpr uint64_t kMagic = 0x314d454449574723ULL;  // "#GWIDEM1"
enum : uint8_t { kFree = 0, kInFlight = 1, kDone = 2 };
}  // namespace

struct Table::Slot {
    Digest key;
    Digest fp;
    uint8_t state;
    int32_t owner;      // in flight: the claiming worker's board slot
    uint32_t token;     // in flight: the claim's token
    uint64_t expires;   // CLOCK_MONOTONIC ms
    uint64_t blob;      // done: zone offset of the stored response
    uint64_t blob_len;
};

struct Table::Root {
    uint64_t magic;
    uint64_t capacity;
    uint32_t next_token;
    Slot slots[1];
};

uint64_t monotonic_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

std::unique_ptr<Table> Table::attach(shm::Zone& zone) {
    shm::LockGuard lock(zone.mutex());
    auto* root = zone.at<Root>(zone.header()->root);
    if (!root) {
        uint64_t capacity = zone.size() / 4 / sizeof(Slot);
        if (capacity < kProbe) return nullptr;
        uint64_t off = zone.alloc(offsetof(Root, slots) + capacity * sizeof(Slot));
        if (!off) return nullptr;
        root = zone.at<Root>(off);
        std::memset(static_cast<void*>(root), 0, offsetof(Root, slots) + capacity * sizeof(Slot));
        root->magic = kMagic;
        root->capacity = capacity;
        zone.header()->root = off;
    }
    if (root->magic != kMagic) return nullptr;
    return std::unique_ptr<Table>(new Table(zone, root));
}

uint64_t Table::capacity() const { return root_->capacity; }

void Table::clear(Slot& s) {
    if (s.blob) zone_.free(s.blob);
    std::memset(static_cast<void*>(&s), 0, sizeof s);
}

Table::Slot* Table::find(const Digest& key) {
    uint64_t h;
    std::memcpy(&h, key.data(), sizeof h);
    uint64_t cap = root_->capacity;
    for (size_t i = 0; i < kProbe; ++i) {
        Slot& s = root_->slots[(h + i) % cap];
        if (s.state != kFree && s.key == key) return &s;
    }
    return nullptr;
}

Table::Outcome Table::claim(const Digest& key, const Digest& fp, uint64_t now_ms, uint64_t ttl_ms, int owner,
                            uint32_t* token, std::string* replay) {
    shm::LockGuard lock(zone_.mutex());
    uint64_t h;
    std::memcpy(&h, key.data(), sizeof h);
    uint64_t cap = root_->capacity;
    Slot* room = nullptr;
    for (size_t i = 0; i < kProbe; ++i) {
        Slot& s = root_->slots[(h + i) % cap];
        if (s.state != kFree && s.expires <= now_ms) clear(s);  // expired: as good as free
        if (s.state == kFree) {
            if (!room) room = &s;
            continue;
        }
        if (s.key != key) continue;
        if (s.fp != fp) return Outcome::Mismatch;
        if (s.state == kInFlight) return Outcome::InFlight;
        replay->assign(zone_.base() + s.blob, s.blob_len);
        return Outcome::Completed;
    }
    if (!room) return Outcome::Full;
    room->key = key;
    room->fp = fp;
    room->state = kInFlight;
    room->owner = owner;
    room->token = ++root_->next_token;
    if (room->token == 0) room->token = ++root_->next_token;
    room->expires = now_ms + ttl_ms;
    room->blob = 0;
    room->blob_len = 0;
    *token = room->token;
    return Outcome::Claimed;
}

bool Table::complete(const Digest& key, uint32_t token, std::string_view blob, uint64_t now_ms, uint64_t ttl_ms) {
    shm::LockGuard lock(zone_.mutex());
    Slot* s = find(key);
    if (!s || s->state != kInFlight || s->token != token) return false;
    uint64_t off = zone_.alloc(blob.size() ? blob.size() : 1);
    if (!off) {
        clear(*s);
        return false;
    }
    std::memcpy(zone_.base() + off, blob.data(), blob.size());
    s->blob = off;
    s->blob_len = blob.size();
    s->state = kDone;
    s->expires = now_ms + ttl_ms;
    return true;
}

void Table::release(const Digest& key, uint32_t token) {
    shm::LockGuard lock(zone_.mutex());
    Slot* s = find(key);
    if (s && s->state == kInFlight && s->token == token) clear(*s);
}

size_t Table::release_owner(int owner) {
    shm::LockGuard lock(zone_.mutex());
    size_t n = 0;
    for (uint64_t i = 0; i < root_->capacity; ++i) {
        Slot& s = root_->slots[i];
        if (s.state == kInFlight && s.owner == owner) {
            clear(s);
            ++n;
        }
    }
    return n;
}

size_t Table::live(uint64_t now_ms) const {
    shm::LockGuard lock(zone_.mutex());
    size_t n = 0;
    for (uint64_t i = 0; i < root_->capacity; ++i)
        if (root_->slots[i].state != kFree && root_->slots[i].expires > now_ms) ++n;
    return n;
}

}  // namespace gw::idempotency
