// TLS resumption shared by workers: the session cache in a shared-memory zone (session_cache.h),
// the ticket key ring (ticket_keys.h), and both installed through SharedResumption
// (resumption.h) on two listeners' contexts built over the same zones - two "workers" - with
// handshakes between an OpenSSL client and server over memory BIOs.
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/shm/zone.h"
#include "modules/tls/context.h"
#include "modules/tls/resumption.h"
#include "modules/tls/session_cache.h"
#include "modules/tls/ticket_keys.h"

namespace gw::tls {
namespace {

using Bytes = std::vector<unsigned char>;

Bytes bytes(size_t n, unsigned char fill) { return Bytes(n, fill); }
Bytes id_of(int i) {
    Bytes id(32, 0);
    std::memcpy(id.data(), &i, sizeof i);
    return id;
}

std::unique_ptr<shm::Zone> cache_zone(uint64_t size) {
    auto z = shm::Zone::create("tls-sessions:test", size, kSessionCacheLayoutVersion);
    EXPECT_TRUE(z);
    EXPECT_TRUE(SessionCache::lay_out(*z));
    return z;
}

// ---- the session cache ----------------------------------------------------------------------

TEST(TlsSessionCache, StoreFetchRemove) {
    auto z = cache_zone(1 << 20);
    auto cache = SessionCache::attach(*z);
    ASSERT_TRUE(cache);
    Bytes der = bytes(300, 0xab), out(kMaxSessionBytes);
    EXPECT_EQ(cache->store(id_of(1), der, 2000, 1000), SessionCache::Stored::Yes);
    ASSERT_EQ(cache->fetch(id_of(1), 1000, out), der.size());
    EXPECT_TRUE(std::equal(der.begin(), der.end(), out.begin()));
    EXPECT_EQ(cache->fetch(id_of(2), 1000, out), 0u);
    Bytes one = id_of(1);
    Bytes shorter_id(one.begin(), one.begin() + 16);
    EXPECT_EQ(cache->fetch(shorter_id, 1000, out), 0u) << "the id's length is part of it";

    Bytes other = bytes(100, 0x11);
    EXPECT_EQ(cache->store(id_of(1), other, 2000, 1000), SessionCache::Stored::Yes) << "replaced";
    EXPECT_EQ(cache->fetch(id_of(1), 1000, out), other.size());
    EXPECT_EQ(cache->stats().entries, 1u);

    EXPECT_TRUE(cache->remove(id_of(1)));
    EXPECT_FALSE(cache->remove(id_of(1)));
    EXPECT_EQ(cache->fetch(id_of(1), 1000, out), 0u);
    SessionCache::Stats s = cache->stats();
    EXPECT_EQ(s.entries, 0u);
    EXPECT_EQ(s.stored, 2u);
    EXPECT_EQ(s.hits, 2u);
    EXPECT_EQ(s.misses, 3u);
}

TEST(TlsSessionCache, BadIdsAndOversizeAreRefused) {
    auto z = cache_zone(1 << 20);
    auto cache = SessionCache::attach(*z);
    Bytes out(kMaxSessionBytes);
    EXPECT_EQ(cache->store({}, bytes(10, 1), 2000, 1000), SessionCache::Stored::BadId);
    EXPECT_EQ(cache->store(bytes(33, 1), bytes(10, 1), 2000, 1000), SessionCache::Stored::BadId);
    EXPECT_EQ(cache->fetch(bytes(33, 1), 1000, out), 0u);
    EXPECT_EQ(cache->store(id_of(1), bytes(kMaxSessionBytes + 1, 1), 2000, 1000), SessionCache::Stored::Oversize);
    EXPECT_EQ(cache->store(id_of(2), bytes(kMaxSessionBytes, 1), 2000, 1000), SessionCache::Stored::Yes);
    cache->count_oversize();
    EXPECT_EQ(cache->stats().oversize, 2u);
    EXPECT_EQ(cache->stats().entries, 1u);
}

TEST(TlsSessionCache, ExpiredSessionsAreNotReturned) {
    auto z = cache_zone(1 << 20);
    auto cache = SessionCache::attach(*z);
    Bytes out(kMaxSessionBytes);
    ASSERT_EQ(cache->store(id_of(1), bytes(200, 1), 1010, 1000), SessionCache::Stored::Yes);
    EXPECT_EQ(cache->fetch(id_of(1), 1009, out), 200u);
    EXPECT_EQ(cache->fetch(id_of(1), 1010, out), 0u) << "expired at its time";
    EXPECT_EQ(cache->stats().expired, 1u);
    EXPECT_EQ(cache->stats().entries, 0u) << "and dropped";

    // Expired entries at the cold end go as new ones come, room needed or not.
    ASSERT_EQ(cache->store(id_of(2), bytes(200, 2), 1010, 1000), SessionCache::Stored::Yes);
    ASSERT_EQ(cache->store(id_of(3), bytes(200, 3), 5000, 2000), SessionCache::Stored::Yes);
    EXPECT_EQ(cache->stats().entries, 1u);
    EXPECT_EQ(cache->stats().expired, 2u);
}

TEST(TlsSessionCache, FullZoneEvictsTheLeastRecentlyUsed) {
    auto z = cache_zone(128 << 10);
    auto cache = SessionCache::attach(*z);
    Bytes out(kMaxSessionBytes);
    // ~900-byte entries (1 KB slab objects): the zone holds fewer than 128.
    int stored = 0;
    for (int i = 0; i < 400; ++i) {
        ASSERT_EQ(cache->store(id_of(i), bytes(900, static_cast<unsigned char>(i)), 100000, 1000),
                  SessionCache::Stored::Yes)
            << i;
        ++stored;
        if (i == 20) {
            EXPECT_EQ(cache->stats().evicted, 0u);
        }
        // Session 0 stays in use: it is never the least recently used.
        EXPECT_EQ(cache->fetch(id_of(0), 1000, out), 900u) << i;
    }
    SessionCache::Stats s = cache->stats();
    EXPECT_GT(s.evicted, 250u);
    EXPECT_EQ(s.entries + s.evicted, static_cast<uint64_t>(stored));
    EXPECT_EQ(s.full, 0u);
    EXPECT_EQ(cache->fetch(id_of(1), 1000, out), 0u) << "the oldest unused went first";
    EXPECT_EQ(cache->fetch(id_of(399), 1000, out), 900u);
    EXPECT_EQ(out[0], 399 & 0xff);
    EXPECT_EQ(cache->fetch(id_of(0), 1000, out), 900u);
    // A big session still finds room (smaller ones make way).
    EXPECT_EQ(cache->store(id_of(1000), bytes(kMaxSessionBytes, 7), 100000, 1000), SessionCache::Stored::Yes);
}

TEST(TlsSessionCache, AnotherProcessSeesTheSessions) {
    auto z = cache_zone(1 << 20);
    pid_t pid = fork();
    if (pid == 0) {
        auto cache = SessionCache::attach(*z);
        bool ok = cache && cache->store(id_of(7), bytes(250, 0x77), 2000, 1000) == SessionCache::Stored::Yes;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto cache = SessionCache::attach(*z);
    Bytes out(kMaxSessionBytes);
    ASSERT_EQ(cache->fetch(id_of(7), 1000, out), 250u);
    EXPECT_EQ(out[249], 0x77);
}

TEST(TlsSessionCache, LayingOutAgainKeepsTheSessions) {
    auto z = cache_zone(1 << 20);
    ASSERT_EQ(SessionCache::attach(*z)->store(id_of(1), bytes(10, 1), 2000, 1000), SessionCache::Stored::Yes);
    EXPECT_TRUE(SessionCache::lay_out(*z)) << "an adopted zone";
    Bytes out(kMaxSessionBytes);
    EXPECT_EQ(SessionCache::attach(*z)->fetch(id_of(1), 1000, out), 10u);

    auto other = shm::Zone::create("x", 1 << 20, 1);
    EXPECT_FALSE(SessionCache::attach(*other)) << "not laid out";
    auto tiny = shm::Zone::create("tiny", 8192, 1);
    EXPECT_FALSE(SessionCache::lay_out(*tiny));
}

// ---- the ticket key ring ----------------------------------------------------------------------

std::unique_ptr<shm::Zone> ticket_zone(int64_t now_ms) {
    auto z = shm::Zone::create("tls-tickets:test", kTicketZoneSize, kTicketZoneLayoutVersion);
    EXPECT_TRUE(z);
    EXPECT_TRUE(TicketKeyRing::lay_out(*z, now_ms));
    return z;
}

TicketKey patterned(unsigned char v) {
    TicketKey k;
    k.name.fill(v);
    k.aes.fill(v);
    k.hmac.fill(v);
    return k;
}

TEST(TlsTicketKeys, ThreeDistinctRandomKeys) {
    auto z = ticket_zone(5000);
    auto ring = TicketKeyRing::attach(*z);
    ASSERT_TRUE(ring);
    TicketKeys k;
    ASSERT_TRUE(ring->read(k));
    EXPECT_NE(k.sequence, 0u);
    EXPECT_EQ(k.sequence % 2, 0u);
    EXPECT_EQ(k.rotated_at_ms, 5000);
    EXPECT_FALSE(k.current == k.previous);
    EXPECT_FALSE(k.current == k.next);
    EXPECT_FALSE(k.current.name == k.next.name);
    EXPECT_FALSE(k.current == TicketKey{});
    EXPECT_TRUE(TicketKeyRing::lay_out(*z, 9000)) << "adopted: kept";
    TicketKeys again;
    ASSERT_TRUE(ring->read(again));
    EXPECT_TRUE(again.current == k.current);
    EXPECT_EQ(again.rotated_at_ms, 5000);
}

TEST(TlsTicketKeys, RotationShiftsTheKeysWhenDue) {
    auto z = ticket_zone(10000);
    auto ring = TicketKeyRing::attach(*z);
    TicketKeys before;
    ASSERT_TRUE(ring->read(before));
    uint64_t seq = ring->sequence();
    EXPECT_FALSE(ring->rotate_if_due(10999, 1000, patterned(1))) << "not due yet";
    EXPECT_EQ(ring->sequence(), seq);
    EXPECT_TRUE(ring->rotate_if_due(11000, 1000, patterned(1)));
    EXPECT_FALSE(ring->rotate_if_due(11000, 1000, patterned(2))) << "a second master finds it done";
    EXPECT_NE(ring->sequence(), seq);
    TicketKeys after = before;
    ASSERT_TRUE(ring->read(after));
    EXPECT_TRUE(after.previous == before.current);
    EXPECT_TRUE(after.current == before.next);
    EXPECT_TRUE(after.next == patterned(1));
    EXPECT_EQ(after.rotated_at_ms, 11000);
    EXPECT_EQ(ring->rotations(), 1u);
    EXPECT_TRUE(ring->rotate_if_due(5000, 1000, patterned(3))) << "the clock went back: rotate";
}

TEST(TlsTicketKeys, ACopyIsTakenOnlyWhenTheKeysChanged) {
    auto z = ticket_zone(0);
    auto ring = TicketKeyRing::attach(*z);
    TicketKeys k;
    ASSERT_TRUE(ring->read(k));
    k.current = patterned(9);  // a local mark: read() leaves an up-to-date copy alone
    ASSERT_TRUE(ring->read(k));
    EXPECT_TRUE(k.current == patterned(9));
    ring->replace(patterned(1), patterned(2), patterned(3), 77);
    ASSERT_TRUE(ring->read(k));
    EXPECT_TRUE(k.current == patterned(1));
    EXPECT_TRUE(k.previous == patterned(2));
    EXPECT_TRUE(k.next == patterned(3));
    EXPECT_EQ(k.rotated_at_ms, 77);
}

// A writer in another process replaces the keys as fast as it can; every copy the reader takes
// is one the writer wrote whole (the three keys of one write, all bytes alike).
TEST(TlsTicketKeys, AReadIsNeverTorn) {
    auto z = ticket_zone(0);
    auto ring = TicketKeyRing::attach(*z);
    ring->replace(patterned(0), patterned(1), patterned(2), 0);
    auto* stop = static_cast<std::atomic<int>*>(
        mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(stop, MAP_FAILED);
    new (stop) std::atomic<int>(0);
    pid_t pid = fork();
    if (pid == 0) {
        auto w = TicketKeyRing::attach(*z);
        for (unsigned v = 0; !stop->load(); ++v) {
            unsigned char b = static_cast<unsigned char>(v * 3);
            w->replace(patterned(b), patterned(static_cast<unsigned char>(b + 1)),
                       patterned(static_cast<unsigned char>(b + 2)), v);
        }
        _exit(0);
    }
    auto uniform = [](const TicketKey& k, unsigned char v) { return k == patterned(v); };
    int copies = 0, torn = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
    while (std::chrono::steady_clock::now() < deadline) {
        TicketKeys k;
        if (!ring->read(k)) continue;
        ++copies;
        unsigned char b = k.current.name[0];
        if (!uniform(k.current, b) || !uniform(k.previous, static_cast<unsigned char>(b + 1)) ||
            !uniform(k.next, static_cast<unsigned char>(b + 2)))
            ++torn;
    }
    stop->store(1);
    int status = 0;
    waitpid(pid, &status, 0);
    munmap(stop, sizeof(std::atomic<int>));
    EXPECT_GT(copies, 100);
    EXPECT_EQ(torn, 0);
    EXPECT_GT(ring->sequence(), 1000u) << "the writer did write meanwhile";
}

}  // namespace
}  // namespace gw::tls
