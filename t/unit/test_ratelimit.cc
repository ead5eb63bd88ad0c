// Rate limits: the three algorithms with an injected clock (exact counts, bursts, window edges,
// sliding-window weighting), the shared-memory table (eviction, re-attachment, exact totals
// from concurrent processes) and the limiter of a worker (keys, missing keys, every policy of a
// route applying, headers, metrics).
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/shm/zone.h"
#include "filter_harness.h"
#include "http/proxy/headers.h"
#include "modules/ratelimit/filter.h"
#include "modules/ratelimit/limiter.h"
#include "modules/ratelimit/table.h"

using gw::ratelimit::Algorithm;
using gw::ratelimit::Decision;
using gw::ratelimit::KeyHash;
using gw::ratelimit::Params;
using gw::ratelimit::Table;

namespace {

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kMin = 60 * kSec;
constexpr uint64_t kHour = 60 * kMin;
// A start time on a window boundary of every period used here (as if the machine had been up
// for 1000 hours), so that window edges are easy to name.
constexpr uint64_t kT0 = 1000 * kHour;

struct TestTable {
    std::unique_ptr<gw::shm::Zone> zone;
    std::unique_ptr<Table> table;
    explicit TestTable(uint64_t size = 1 << 20) {
        zone = gw::shm::Zone::create("ratelimit-test", size, gw::ratelimit::kLayoutVersion);
        EXPECT_TRUE(zone);
        table = Table::attach(*zone);
        EXPECT_TRUE(table);
    }
    Table* operator->() { return table.get(); }
};

// The table takes hashes made by the caller: any secret will do here.
KeyHash key_of(const Params& p, const std::string& key) {
    gw::ratelimit::Hasher h(gw::ratelimit::HashKey{1, 2}, p.id);
    h.add(key);
    return h.finish();
}

// Counts how many of `n` requests at `now` are allowed.
int allowed(Table& t, const Params& p, const KeyHash& key, uint64_t now, int n) {
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += t.consume(p, key, now).allowed;
    return ok;
}

// --- token bucket (GCRA) ----------------------------------------------------------------------

TEST(RateLimitTokenBucket, ExactBurstThenOneTokenPerInterval) {
    TestTable t;
    Params p = Params::make("per-ip", Algorithm::TokenBucket, 100, kMin, 100);
    EXPECT_EQ(p.interval_us, 600000u);  // 100/m: one token every 0.6 s
    KeyHash k = key_of(p, "10.0.0.1");
    for (int i = 0; i < 100; ++i) {
        Decision d = t->consume(p, k, kT0);
        ASSERT_TRUE(d.allowed) << i;
        EXPECT_EQ(d.limit, 100u);
        EXPECT_EQ(d.remaining, static_cast<uint64_t>(99 - i));
        EXPECT_EQ(d.reset_ns, static_cast<uint64_t>(i + 1) * 600000000u);  // until the bucket is full
    }
    Decision d = t->consume(p, k, kT0);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.remaining, 0u);
    EXPECT_EQ(d.retry_after_ns, 600000000u);
    EXPECT_EQ(d.reset_ns, 60 * kSec);
    // One token comes back 0.6 s later, not a nanosecond (a microsecond) sooner.
    EXPECT_FALSE(t->consume(p, k, kT0 + 600000000 - 1000).allowed);
    EXPECT_TRUE(t->consume(p, k, kT0 + 600000000).allowed);
    EXPECT_FALSE(t->consume(p, k, kT0 + 600000000).allowed);
    // A minute after the bucket was last used up it is full again, and holds no more than that.
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + 600000000 + kMin, 150), 100);
    // Other keys are not affected.
    EXPECT_EQ(allowed(*t.table, p, key_of(p, "10.0.0.2"), kT0, 150), 100);
}

TEST(RateLimitTokenBucket, BurstAboveTheRate) {
    TestTable t;
    Params p = Params::make("b", Algorithm::TokenBucket, 10, kSec, 20);  // 10/s, burst 20
    KeyHash k = key_of(p, "k");
    EXPECT_EQ(allowed(*t.table, p, k, kT0, 25), 20);
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + 100000000, 5), 1);   // +100 ms: one token
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + 550000000, 5), 4);   // +550 ms: 4.5 more
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + 600000000, 5), 1);   // the half token completed
    // Without burst, the bucket holds `rate`.
    Params q = Params::make("b", Algorithm::TokenBucket, 10, kSec, 0);
    EXPECT_EQ(allowed(*t.table, q, key_of(q, "other"), kT0, 25), 10);
}

TEST(RateLimitTokenBucket, PeekDoesNotCount) {
    TestTable t;
    Params p = Params::make("p", Algorithm::TokenBucket, 3, kHour, 0);
    KeyHash k = key_of(p, "k");
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(t->peek(p, k, kT0).allowed);
    EXPECT_EQ(t->peek(p, k, kT0).remaining, 2u);
    EXPECT_EQ(allowed(*t.table, p, k, kT0, 5), 3);
    EXPECT_FALSE(t->peek(p, k, kT0).allowed);
}

// --- fixed window -------------------------------------------------------------------------------

TEST(RateLimitFixedWindow, CountsPerWindowAndResetsAtTheEdge) {
    TestTable t;
    Params p = Params::make("f", Algorithm::FixedWindow, 5, kMin, 0);
    KeyHash k = key_of(p, "k");
    uint64_t now = kT0 + 10 * kSec;  // 10 s into a window
    for (int i = 0; i < 5; ++i) {
        Decision d = t->consume(p, k, now);
        ASSERT_TRUE(d.allowed);
        EXPECT_EQ(d.remaining, static_cast<uint64_t>(4 - i));
        EXPECT_EQ(d.reset_ns, 50 * kSec);
    }
    Decision d = t->consume(p, k, now);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after_ns, 50 * kSec);
    EXPECT_FALSE(t->consume(p, k, kT0 + kMin - 1).allowed);  // the last nanosecond of the window
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + kMin, 10), 5);   // the first of the next one
    // A window skipped entirely does not matter either.
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + 5 * kMin + 1, 10), 5);
}

TEST(RateLimitFixedWindow, WindowNumberWrapIsNotMistakenForTheSameWindow) {
    TestTable t;
    Params p = Params::make("f", Algorithm::FixedWindow, 2, kSec, 0);
    KeyHash k = key_of(p, "k");
    EXPECT_EQ(allowed(*t.table, p, k, kT0, 5), 2);
    // 65536 windows later the stored window number (16 bits) is the same again; the entry's
    // age tells it apart.
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + 65536 * kSec, 5), 2);
}

// --- sliding window -----------------------------------------------------------------------------

TEST(RateLimitSlidingWindow, WeightsThePreviousWindow) {
    TestTable t;
    Params p = Params::make("s", Algorithm::SlidingWindow, 10, kMin, 0);
    KeyHash k = key_of(p, "k");
    EXPECT_EQ(allowed(*t.table, p, k, kT0, 15), 10);
    // At the start of the next window the previous one still weighs in full: 10 * 60/60.
    Decision d = t->consume(p, k, kT0 + kMin);
    EXPECT_FALSE(d.allowed);
    // prev * (P - e) <= (limit - 1) * P  ->  e >= 6 s
    EXPECT_EQ(d.retry_after_ns, 6 * kSec);
    EXPECT_FALSE(t->consume(p, k, kT0 + kMin + 6 * kSec - 1).allowed);
    d = t->consume(p, k, kT0 + kMin + 6 * kSec);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 0u);
    // Half-way through: 10 * 0.5 + 1 = 6 counted, so 4 more.
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + kMin + 30 * kSec, 10), 4);
    // 45 s in: 10 * 0.25 + 5 = 7.5, so 2 more (9.5 <= 10, 10.5 > 10).
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + kMin + 45 * kSec, 10), 2);
    // Next window: the 7 of this one at 100%, then fading.
    d = t->peek(p, k, kT0 + 2 * kMin);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 2u);
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + 2 * kMin, 10), 3);
    // Two windows on, nothing of it is left.
    EXPECT_EQ(allowed(*t.table, p, k, kT0 + 4 * kMin, 20), 10);
}

TEST(RateLimitSlidingWindow, RetryAfterWhenTheCurrentWindowIsFull) {
    TestTable t;
    Params p = Params::make("s", Algorithm::SlidingWindow, 4, kMin, 0);
    KeyHash k = key_of(p, "k");
    uint64_t now = kT0 + 15 * kSec;
    EXPECT_EQ(allowed(*t.table, p, k, now, 4), 4);
    Decision d = t->consume(p, k, now);
    EXPECT_FALSE(d.allowed);
    // Next window: 4 * (P - e') <= 3 * P  ->  e' >= 15 s; 45 s to the edge + 15 s.
    EXPECT_EQ(d.retry_after_ns, 60 * kSec);
    EXPECT_EQ(d.reset_ns, 105 * kSec);  // until this window's requests weigh nothing
    EXPECT_FALSE(t->consume(p, k, now + 60 * kSec - 1).allowed);
    EXPECT_TRUE(t->consume(p, k, now + 60 * kSec).allowed);
}

// --- the table ----------------------------------------------------------------------------------

TEST(RateLimitTable, RefundTakesBackACountedRequest) {
    TestTable t;
    for (Algorithm a : {Algorithm::TokenBucket, Algorithm::FixedWindow, Algorithm::SlidingWindow}) {
        Params p = Params::make("r", a, 3, kHour, 0);
        KeyHash k = key_of(p, "k");
        Table::Ref ref;
        ASSERT_TRUE(t->consume(p, k, kT0, &ref).allowed);
        ASSERT_TRUE(t->consume(p, k, kT0).allowed);
        EXPECT_EQ(t->peek(p, k, kT0).remaining, 0u);
        t->refund(p, ref);
        EXPECT_EQ(t->peek(p, k, kT0).remaining, 1u) << int(a);
        EXPECT_EQ(allowed(*t.table, p, k, kT0, 5), 2) << int(a);
    }
}

TEST(RateLimitTable, ReattachingSeesTheSameCounters) {
    TestTable t;
    Params p = Params::make("p", Algorithm::FixedWindow, 100, kHour, 0);
    KeyHash k = key_of(p, "k");
    EXPECT_EQ(allowed(*t.table, p, k, kT0, 60), 60);
    // Another process (a worker of the next generation, a new binary) attaches to the zone.
    std::unique_ptr<Table> again = Table::attach(*t.zone);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->capacity(), t->capacity());
    EXPECT_EQ(allowed(*again, p, k, kT0 + kSec, 100), 40);
    // Another policy name is another set of counters, even for the same key.
    Params q = Params::make("q", Algorithm::FixedWindow, 100, kHour, 0);
    EXPECT_EQ(allowed(*again, q, key_of(q, "k"), kT0, 100), 100);
}

TEST(RateLimitTable, AdoptedZoneKeepsCountersAndLayoutVersionIsChecked) {
    TestTable t;
    Params p = Params::make("p", Algorithm::TokenBucket, 10, kHour, 0);
    KeyHash k = key_of(p, "k");
    EXPECT_EQ(allowed(*t.table, p, k, kT0, 7), 7);
    // What a binary upgrade does with the zone's memfd.
    int fd = dup(t.zone->fd());
    auto adopted = gw::shm::Zone::adopt(fd, "ratelimit-test", gw::ratelimit::kLayoutVersion);
    ASSERT_TRUE(adopted);
    std::unique_ptr<Table> table = Table::attach(*adopted);
    ASSERT_TRUE(table);
    EXPECT_EQ(allowed(*table, p, k, kT0, 10), 3);
    int fd2 = dup(t.zone->fd());
    EXPECT_FALSE(gw::shm::Zone::adopt(fd2, "ratelimit-test", gw::ratelimit::kLayoutVersion + 1));
    close(fd2);
}

// --- the keyed hash -----------------------------------------------------------------------------

KeyHash from_hex(const char* hex) {  // the reference's bytes: lo then hi, little-endian each
    uint64_t w[2] = {};
    for (int i = 0; i < 16; ++i) {
        unsigned byte = std::stoul(std::string(hex + 2 * i, 2), nullptr, 16);
        w[i / 8] |= uint64_t{byte} << (8 * (i % 8));
    }
    return KeyHash{w[1], w[0]};
}

TEST(RateLimitHash, SipHash24With128BitOutputMatchesTheReferenceVectors) {
    // veorq/SipHash vectors.h, vectors_sip128: key 00..0f, message 00..len-1.
    const char* expected[] = {"a3817f04ba25a8e66df67214c7550293", "da87c1d86b99af44347659119b22fc45",
                              "8177228da4a45dc7fca38bdef60affe4", "9c70b60c5267a94e5f33b6b02985ed51",
                              "f88164c12d9c8faf7d0f6e7c7bcd5579", "1368875980776f8854527a07690e9627",
                              "14eeca338b208613485ea0308fd7a15e", "a1f1ebbed8dbc153c0b84aa61ff08239",
                              "3b62a9ba6258f5610f83e264f31497b4", "264499060ad9baabc47f8b02bb6d71ed"};
    gw::ratelimit::HashKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    std::string msg;
    for (const char* hex : expected) {
        EXPECT_EQ(gw::ratelimit::sip::hash128(key, msg, 2, 4), from_hex(hex)) << msg.size();
        msg += static_cast<char>(msg.size());
    }
}

// The table's Hasher is SipHash-1-3 (the same code with fewer rounds) of the encoding of its
// fields: each one's length, then its bytes zero-padded to whole words.
TEST(RateLimitHash, HasherIsSipHashOfTheFieldEncoding) {
    gw::ratelimit::HashKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    auto word = [](uint64_t w) { return std::string(reinterpret_cast<const char*>(&w), 8); };
    gw::ratelimit::Hasher h(key, 42);
    h.add("192.168.10.100");  // 14 bytes: two words
    h.add("");
    h.add_u64(7);
    std::string encoded = word(42) + word(14) + std::string("192.168.10.100\0\0", 16) + word(0) + word(7);
    EXPECT_EQ(h.finish(), gw::ratelimit::sip::hash128(key, encoded, 1, 3));
    gw::ratelimit::Hasher a(key, 42), b(key, 42);
    a.add("ab");
    a.add("c");
    b.add("a");
    b.add("bc");
    EXPECT_NE(a.finish(), b.finish());
}

// The hash that keyed the table before: unkeyed and invertible, so that a client could compute a
// header value landing on another user's bucket.
struct OldHasher {
    static uint64_t rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }
    static uint64_t round(uint64_t h, uint64_t w) {
        h ^= w * 0x9e3779b97f4a7c15ULL;
        return rotl(h, 29) * 0xbf58476d1ce4e5b9ULL + 0x94d049bb133111ebULL;
    }
    static uint64_t inverse(uint64_t odd) {  // modulo 2^64, Newton's iteration
        uint64_t x = odd;
        for (int i = 0; i < 6; ++i) x *= 2 - odd * x;
        return x;
    }
    // The state before round(_, w) that gives `h` after it, for a given h_before: the word.
    static uint64_t word_for(uint64_t h_before, uint64_t h_after) {
        uint64_t mixed = (h_after - 0x94d049bb133111ebULL) * inverse(0xbf58476d1ce4e5b9ULL);
        mixed = (mixed >> 29) | (mixed << 35);
        return (mixed ^ h_before) * inverse(0x9e3779b97f4a7c15ULL);
    }
    static uint64_t tail(size_t len) { return (uint64_t{len} << 56) ^ 0x5bd1e995u; }
};

TEST(RateLimitHash, KeysThatCollidedUnderTheOldHashGetBucketsOfTheirOwn) {
    // A victim's key "alice" and a crafted 16-byte value with the same old state: two words,
    // the second solved so that the old hash lands exactly on the victim's.
    uint64_t seed = 0x1234 ^ 0x243f6a8885a308d3ULL;
    uint64_t alice_tail = 0;
    std::memcpy(&alice_tail, "alice", 5);
    uint64_t victim = OldHasher::round(seed, alice_tail ^ OldHasher::tail(5));
    uint64_t w1 = 0x4141414141414141ULL;
    uint64_t h1 = OldHasher::round(seed, w1);
    // The round after w2 is the tail of a 16-byte value: solve for the state before it, then w2.
    uint64_t h2 = 0;
    {
        uint64_t mixed = (victim - 0x94d049bb133111ebULL) * OldHasher::inverse(0xbf58476d1ce4e5b9ULL);
        mixed = (mixed >> 29) | (mixed << 35);
        h2 = mixed ^ (OldHasher::tail(16) * 0x9e3779b97f4a7c15ULL);
    }
    uint64_t w2 = OldHasher::word_for(h1, h2);
    uint64_t forged = OldHasher::round(OldHasher::round(h1, w2), OldHasher::tail(16));
    ASSERT_EQ(forged, victim);  // the collision the old table fell for
    std::string crafted(16, '\0');
    std::memcpy(crafted.data(), &w1, 8);
    std::memcpy(crafted.data() + 8, &w2, 8);

    // Under the keyed hash they are two keys, with two buckets.
    TestTable t;
    Params p = Params::make("per-user", Algorithm::FixedWindow, 3, kHour, 0);
    auto hash = [&](std::string_view v) {
        gw::ratelimit::Hasher h = t->hasher(p);
        h.add(v);
        return h.finish();
    };
    KeyHash a = hash("alice"), b = hash(crafted);
    EXPECT_NE(a.hi >> 8, b.hi >> 8);
    EXPECT_EQ(allowed(*t.table, p, b, kT0, 10), 3);
    EXPECT_EQ(allowed(*t.table, p, a, kT0, 10), 3);  // alice keeps her whole quota
}

TEST(RateLimitHash, KeysEqualIn64BitsStillGetSeparateBuckets) {
    // Even two keys whose first 64 bits are equal (the whole identity of the old table) are told
    // apart by the other 56 bits kept in the slot.
    TestTable t;
    Params p = Params::make("p", Algorithm::TokenBucket, 5, kHour, 0);
    KeyHash a{0x0123456789abcdefULL, 0x1111111111111100ULL};
    KeyHash b{0x0123456789abcdefULL, 0x2222222222222200ULL};
    EXPECT_EQ(allowed(*t.table, p, a, kT0, 10), 5);
    EXPECT_EQ(allowed(*t.table, p, b, kT0, 10), 5);
    EXPECT_EQ(t->used(), 2u);
    EXPECT_FALSE(t->peek(p, a, kT0).allowed);
    EXPECT_TRUE(t->peek(p, b, kT0 + 3600 * kSec).allowed);
}

TEST(RateLimitHash, TheSecretIsMadeWithTheZoneAndKeptAcrossAdoption) {
    TestTable t;
    gw::ratelimit::HashKey s = t->secret();
    EXPECT_TRUE(s.k0 || s.k1);
    // Another process of the same generation, and a new binary adopting the zone's memfd.
    EXPECT_EQ(Table::attach(*t.zone)->secret().k0, s.k0);
    int fd = dup(t.zone->fd());
    auto adopted = gw::shm::Zone::adopt(fd, "ratelimit-test", gw::ratelimit::kLayoutVersion);
    ASSERT_TRUE(adopted);
    std::unique_ptr<Table> table = Table::attach(*adopted);
    ASSERT_TRUE(table);
    EXPECT_EQ(table->secret().k0, s.k0);
    EXPECT_EQ(table->secret().k1, s.k1);
    // So a key hashes the same there, and finds its counters.
    Params p = Params::make("p", Algorithm::FixedWindow, 4, kHour, 0);
    gw::ratelimit::Hasher h1 = t->hasher(p), h2 = table->hasher(p);
    h1.add("10.0.0.1");
    h2.add("10.0.0.1");
    EXPECT_EQ(h1.finish(), h2.finish());
    // Another zone has another secret.
    TestTable other;
    EXPECT_NE(other->secret().k0, s.k0);
}

TEST(RateLimitTable, TooSmallOrForeignZoneIsRefused) {
    auto other = gw::shm::Zone::create("x", 1 << 16, gw::ratelimit::kLayoutVersion + 7);
    ASSERT_TRUE(other);
    EXPECT_FALSE(Table::attach(*other));
}

TEST(RateLimitTable, MemoryIsBoundedAndIdleEntriesGoFirst) {
    TestTable t(64 * 1024);
    uint64_t cap = t->capacity();
    ASSERT_GE(cap, 1000u);
    ASSERT_LT(cap, 2100u);
    Params live = Params::make("live", Algorithm::FixedWindow, 1000, kHour, 0);
    Params idle = Params::make("idle", Algorithm::TokenBucket, 100, kSec, 0);
    t->set_policies({live, idle});
    // Fill the table with idle-soon entries: one request each of a 100/s bucket.
    for (uint64_t i = 0; i < 4 * cap; ++i) t->consume(idle, key_of(idle, "i" + std::to_string(i)), kT0);
    EXPECT_LE(t->used(), cap);
    uint64_t evicted_while_filling = t->evictions();
    EXPECT_GT(evicted_while_filling, 0u);  // 4x the capacity at one instant: live ones had to go
    // A second later those buckets are full again: replacing them loses nothing and is no eviction.
    uint64_t now = kT0 + kSec;
    bool evicted = false;
    for (uint64_t i = 0; i < cap / 4; ++i) {
        ASSERT_TRUE(t->consume(live, key_of(live, "l" + std::to_string(i)), now, nullptr, &evicted).allowed);
    }
    EXPECT_FALSE(evicted);
    EXPECT_EQ(t->evictions(), evicted_while_filling);
    // A live entry that was just used is kept while the table churns with new keys at the same
    // time (the least recently used go first).
    KeyHash hot = key_of(live, "hot");
    EXPECT_EQ(allowed(*t.table, live, hot, now, 10), 10);
    for (int round = 0; round < 20; ++round) {
        uint64_t at = now + static_cast<uint64_t>(round + 1) * 2 * kSec;
        EXPECT_TRUE(t->consume(live, hot, at).allowed);
        for (uint64_t i = 0; i < cap / 8; ++i) t->consume(live, key_of(live, "c" + std::to_string(round) + "-" + std::to_string(i)), at);
    }
    EXPECT_EQ(t->peek(live, hot, now + 60 * kSec).remaining, 1000u - 30u - 1);  // after the peeked one
    EXPECT_LE(t->used(), cap);
}

// Two processes hammer the same keys at the same instant: the totals are exact.
TEST(RateLimitTable, ConcurrentProcessesGiveExactTotals) {
    TestTable t(4 << 20);
    Params bucket = Params::make("c1", Algorithm::TokenBucket, 60000, kHour, 0);
    Params fixed = Params::make("c2", Algorithm::FixedWindow, 60000, kHour, 0);
    Params sliding = Params::make("c3", Algorithm::SlidingWindow, 60000, kHour, 0);
    Params per_key = Params::make("c4", Algorithm::FixedWindow, 1, kHour, 0);
    // Results from the children, in shared memory.
    auto* results = static_cast<std::atomic<int>*>(
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(results, MAP_FAILED);
    for (int i = 0; i < 8; ++i) new (&results[i]) std::atomic<int>(0);
    std::vector<pid_t> children;
    for (int c = 0; c < 2; ++c) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            std::unique_ptr<Table> mine = Table::attach(*t.zone);  // as a worker does
            results[6].fetch_add(1);
            while (results[6].load() < 2) {}  // start together
            int ok[4] = {};
            const Params* ps[3] = {&bucket, &fixed, &sliding};
            for (int i = 0; i < 50000; ++i)
                for (int j = 0; j < 3; ++j) ok[j] += mine->consume(*ps[j], key_of(*ps[j], "same"), kT0).allowed;
            // 2000 new keys, each allowed once: both processes insert every one of them.
            for (int i = 0; i < 2000; ++i)
                ok[3] += mine->consume(per_key, key_of(per_key, "k" + std::to_string(i)), kT0).allowed;
            for (int j = 0; j < 4; ++j) results[j].fetch_add(ok[j]);
            _exit(0);
        }
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    EXPECT_EQ(results[0].load(), 60000);  // token bucket
    EXPECT_EQ(results[1].load(), 60000);  // fixed window
    EXPECT_EQ(results[2].load(), 60000);  // sliding window
    EXPECT_EQ(results[3].load(), 2000);   // no key was counted twice
    EXPECT_EQ(t->peek(fixed, key_of(fixed, "same"), kT0).allowed, false);
    munmap(results, 4096);
}

// --- the limiter of a worker --------------------------------------------------------------------

class LimiterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gw-ratelimit-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        metrics_zone_ = gw::shm::Zone::create("metrics", 1 << 20, gw::metrics::kLayoutVersion);
        rl_zone_ = gw::shm::Zone::create("ratelimit", 1 << 20, gw::ratelimit::kLayoutVersion);
        ASSERT_TRUE(metrics_zone_ && rl_zone_);
        metrics_ = std::make_unique<gw::metrics::Store>(*metrics_zone_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    void load(const std::string& text) {
        std::ofstream(dir_ + "/gw.conf") << "listeners:\n  - address: 127.0.0.1:8080\n" << text;
        gw::Diagnostics diags;
        auto c = gw::load_config(dir_ + "/gw.conf", dir_, diags);
        ASSERT_TRUE(c) << (diags.all().empty() ? "" : diags.all()[0].str());
        config_ = std::make_unique<gw::Config>(std::move(*c));
        limiter_ = gw::ratelimit::Limiter::create(*config_, *rl_zone_, *metrics_);
        ASSERT_TRUE(limiter_);
    }

    // A request with these headers and query string from `ip`, on route `route`.
    gw::ratelimit::Verdict check(size_t route, const std::string& ip,
                                 std::vector<std::pair<std::string, std::string>> headers = {},
                                 const std::string& query = "", uint64_t now = kT0) {
        strings_.clear();
        for (auto& [n, v] : headers) {
            strings_.push_back(n);
            strings_.push_back(v);
        }
        strings_.push_back(query);
        strings_.push_back(ip);
        req_.header_count = headers.size();
        for (size_t i = 0; i < headers.size(); ++i) req_.headers[i] = {strings_[2 * i], strings_[2 * i + 1]};
        req_.query = strings_[2 * headers.size()];
        gw::ratelimit::RequestInfo info;
        info.request = &req_;
        info.ip = strings_.back();
        gw::ratelimit::Verdict v;
        const gw::ratelimit::RoutePolicies* rp = limiter_->route(route);
        EXPECT_TRUE(rp);
        if (rp) limiter_->check(*rp, info, now, v);
        return v;
    }

    uint64_t metric(const std::string& series) {
        std::string out;
        metrics_->render(out);
        size_t at = out.find(series + " ");
        return at == std::string::npos ? 0 : std::stoull(out.substr(at + series.size() + 1));
    }

    std::string dir_;
    std::unique_ptr<gw::shm::Zone> metrics_zone_, rl_zone_;
    std::unique_ptr<gw::metrics::Store> metrics_;
    std::unique_ptr<gw::Config> config_;
    std::unique_ptr<gw::ratelimit::Limiter> limiter_;
    gw::http::Request req_;
    std::vector<std::string> strings_;  // reserved below so views stay valid
  public:
    LimiterTest() { strings_.reserve(64); }
};

TEST_F(LimiterTest, EveryPolicyAppliesAndARejectedRequestCountsInNone) {
    load("rate_limits:\n"
         "  tenant: {key: header:x-tenant, rate: 3/h, algorithm: fixed_window}\n"
         "  ip: {key: ip, rate: 10/h}\n"
         "routes:\n"
         "  - {name: api, return: {}, rate_limit: [tenant, ip]}\n");
    for (int i = 0; i < 3; ++i) {
        auto v = check(0, "1.1.1.1", {{"X-Tenant", "t1"}});
        EXPECT_FALSE(v.rejected);
        EXPECT_TRUE(v.headers);
        EXPECT_EQ(v.limit, 3u);  // the tenant's is the most restrictive
        EXPECT_EQ(v.remaining, static_cast<uint64_t>(2 - i));
    }
    for (int i = 0; i < 5; ++i) {
        auto v = check(0, "1.1.1.1", {{"x-tenant", "t1"}});
        EXPECT_TRUE(v.rejected);
        EXPECT_EQ(v.status, 429);
        EXPECT_EQ(v.body, "{\"status\":429,\"error\":\"rate limit exceeded\"}\n");
        EXPECT_EQ(v.limit, 3u);
        EXPECT_EQ(v.remaining, 0u);
        EXPECT_EQ(v.retry_after_s, 3600u);  // the hour's window ends in 1 h
    }
    // The rejected requests did not use the IP's quota: 7 of 10 are left.
    auto v = check(0, "1.1.1.1", {{"x-tenant", "t2"}});
    EXPECT_FALSE(v.rejected);
    EXPECT_EQ(v.limit, 3u);
    EXPECT_EQ(v.remaining, 2u);
    int ok = 0;
    for (int i = 0; i < 20; ++i) ok += !check(0, "1.1.1.1", {{"x-tenant", "t" + std::to_string(10 + i)}}).rejected;
    EXPECT_EQ(ok, 6);
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"tenant\",result=\"rejected\"}"), 5u);
    // Each policy counts what it let through and what it rejected itself.
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"tenant\",result=\"allowed\"}"), 3u + 1 + 6);
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"ip\",result=\"allowed\"}"), 10u);
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"ip\",result=\"rejected\"}"), 14u);
}

TEST_F(LimiterTest, KeysAndTheMissingKeyRule) {
    load("rate_limits:\n"
         "  skip: {key: \"query:user+route\", rate: 2/h, algorithm: fixed_window}\n"
         "  limit: {key: header:x-user, rate: 2/h, algorithm: sliding_window, missing_key: limit}\n"
         "  g: {key: global, rate: 100/h, headers: false}\n"
         "routes:\n"
         "  - {name: a, return: {}, rate_limit: skip}\n"
         "  - {name: b, return: {}, rate_limit: skip}\n"
         "  - {name: c, return: {}, rate_limit: [limit, g]}\n");
    // query:user+route: per user and per route.
    EXPECT_FALSE(check(0, "1.1.1.1", {}, "x=1&user=ann").rejected);
    EXPECT_FALSE(check(0, "2.2.2.2", {}, "user=ann").rejected);
    EXPECT_TRUE(check(0, "3.3.3.3", {}, "user=ann&x").rejected);
    EXPECT_FALSE(check(1, "3.3.3.3", {}, "user=ann").rejected);  // another route
    EXPECT_FALSE(check(0, "3.3.3.3", {}, "user=bob").rejected);  // another user
    // Without the parameter (or with it empty) the policy does not apply: no verdict at all.
    for (int i = 0; i < 5; ++i) {
        auto v = check(0, "1.1.1.1", {}, i % 2 ? "user=" : "other=1");
        EXPECT_FALSE(v.rejected);
        EXPECT_FALSE(v.headers);
    }
    // missing_key: limit: every request without the header shares one counter.
    EXPECT_FALSE(check(2, "1.1.1.1").rejected);
    EXPECT_FALSE(check(2, "2.2.2.2", {{"x-user", ""}}).rejected);
    EXPECT_TRUE(check(2, "3.3.3.3").rejected);
    EXPECT_FALSE(check(2, "3.3.3.3", {{"x-user", "u1"}}).rejected);
    // `g` has headers: false, so only `limit` is reported.
    auto v = check(2, "3.3.3.3", {{"x-user", "u1"}});
    EXPECT_EQ(v.limit, 2u);
    EXPECT_EQ(v.remaining, 0u);
}

TEST_F(LimiterTest, DryRunCountsButNeverRejects) {
    load("rate_limits:\n"
         "  d: {key: ip, rate: 2/h, dry_run: true}\n"
         "routes:\n"
         "  - {name: a, return: {}, rate_limit: d}\n");
    for (int i = 0; i < 5; ++i) {
        auto v = check(0, "1.1.1.1");
        EXPECT_FALSE(v.rejected);
        EXPECT_FALSE(v.headers);  // a dry run is invisible to clients
    }
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"d\",result=\"allowed\"}"), 2u);
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"d\",result=\"dry_run_rejected\"}"), 3u);
}

TEST(RateLimitVerdict, HeaderLines) {
    gw::ratelimit::Verdict v;
    char buf[gw::ratelimit::kMaxHeaderBytes];
    EXPECT_EQ(v.format(buf, sizeof buf), 0u);
    v.headers = true;
    v.limit = 100;
    v.remaining = 0;
    v.reset_s = 36;
    v.rejected = true;
    v.retry_after_s = 18446744073709551615ull;
    std::string s(buf, v.format(buf, sizeof buf));
    EXPECT_EQ(s, "retry-after: 18446744073709551615\r\nratelimit-limit: 100\r\nratelimit-remaining: 0\r\n"
                 "ratelimit-reset: 36\r\n");
}

// A proxied response: the upstream's own RateLimit-* headers give way to the gateway's.
TEST(RateLimitVerdict, ProxiedResponseHeaders) {
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nRateLimit-Limit: 9\r\nratelimit-remaining: 8\r\n"
                       "RateLimit-Reset: 7\r\nRetry-After: 5\r\nX-A: b\r\n\r\n";
    auto resp = std::make_unique<gw::http::Response>();
    gw::http::ParseError err;
    ASSERT_EQ(gw::http::parse_response_head(head, {}, false, *resp, err), gw::http::ParseResult::Complete);
    gw::ratelimit::Verdict v;
    v.headers = true;
    v.limit = 100;
    v.remaining = 42;
    v.reset_s = 3;
    char buf[gw::ratelimit::kMaxHeaderBytes];
    gw::http::proxy::ClientResponseInput in;
    in.filter_headers = {buf, v.format(buf, sizeof buf)};
    static constexpr std::string_view kNames[] = {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"};
    in.filter_field_names = kNames;  // what the rate-limit filter declares (checked below)
    std::string out;
    gw::http::proxy::build_client_response(out, *resp, in);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nRetry-After: 5\r\nX-A: b\r\nratelimit-limit: 100\r\n"
                   "ratelimit-remaining: 42\r\nratelimit-reset: 3\r\nconnection: keep-alive\r\n\r\n");
    // Without gateway headers (no policy, or headers: false) the upstream's pass through.
    out.clear();
    gw::http::proxy::build_client_response(out, *resp, gw::http::proxy::ClientResponseInput{});
    EXPECT_NE(out.find("RateLimit-Limit: 9\r\n"), std::string::npos) << out;
}

}  // namespace

// --- the rate-limit filter, through the in-process harness ---------------------------------------

TEST_F(LimiterTest, AsAFilterAllowsThenAnswers429WithItsHeaders) {
    load("rate_limits:\n  per-ip: {key: ip, rate: 2/m}\nroutes:\n  - {name: r, return: {}, rate_limit: per-ip}\n");
    gw::ratelimit::RateLimitFilter filter(*limiter_, *limiter_->route(0));
    gw::http::FilterChain chain;
    ASSERT_TRUE(chain.add(&filter));
    auto names = chain.response_field_names();
    EXPECT_EQ(std::vector<std::string_view>(names.begin(), names.end()),
              (std::vector<std::string_view>{"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"}))
        << "the upstream's RateLimit-* give way to the gateway's";
    gw::test::FilterHarness h;
    h.set_client("10.0.0.1");
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(h.run(chain), gw::http::FilterStatus::Continue) << i;
        EXPECT_EQ(h.response_headers(200), "ratelimit-limit: 2\r\nratelimit-remaining: " + std::to_string(1 - i) +
                                                "\r\nratelimit-reset: " +
                                                h.response_headers(200).substr(h.response_headers(200).rfind(' ') + 1));
    }
    EXPECT_EQ(h.run(chain), gw::http::FilterStatus::Done);
    EXPECT_EQ(h.reply_status(), 429);
    EXPECT_NE(h.reply_body().find("\"status\":429"), std::string::npos) << h.reply_body();
    std::string head = h.response_headers(429);
    EXPECT_EQ(head.rfind("retry-after: ", 0), 0u) << head;
    EXPECT_NE(head.find("ratelimit-remaining: 0\r\n"), std::string::npos) << head;
    h.set_client("10.0.0.2");
    EXPECT_EQ(h.run(chain), gw::http::FilterStatus::Continue) << "another client has its own count";
}
