// Load balancing: smooth weighted round robin, least_conn, random_two and consistent hashing.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http/upstream/balancer.h"

using gw::UpstreamConfig;
using gw::UpstreamServerConfig;
using gw::upstream::Balancer;
using gw::upstream::hash_key;
using gw::upstream::PickInput;
using Balance = gw::UpstreamConfig::Balance;

namespace {

struct Server {
    std::string address;
    uint32_t weight = 1;
    bool backup = false;
};

UpstreamConfig upstream(Balance balance, const std::vector<Server>& servers) {
    UpstreamConfig u;
    u.name = "pool";
    u.balance = balance;
    for (const Server& s : servers) {
        UpstreamServerConfig c;
        c.address = s.address;
        c.weight = s.weight;
        c.backup = s.backup;
        u.servers.push_back(c);
    }
    return u;
}

// A balancer with its in-flight counters and the usable flags, all servers usable at first.
class Pool {
  public:
    Pool(Balance balance, const std::vector<Server>& servers, uint64_t seed = 42)
        : config_(upstream(balance, servers)), active_(servers.size()), usable_(servers.size(), 1) {
        std::vector<std::atomic<int64_t>*> ptrs;
        for (auto& a : active_) ptrs.push_back(&a);
        balancer_ = Balancer::create(config_, ptrs, seed);
    }

    int pick(uint64_t hash = 0) { return balancer_->pick(PickInput{usable_, hash}); }
    // The address of the pick, "-" for none.
    std::string pick_name(uint64_t hash = 0) {
        int i = pick(hash);
        return i < 0 ? "-" : config_.servers[static_cast<size_t>(i)].address;
    }
    std::string sequence(int n) {
        std::string s;
        for (int i = 0; i < n; ++i) s += pick_name();
        return s;
    }
    std::vector<int> counts(int n) {
        std::vector<int> c(config_.servers.size(), 0);
        for (int i = 0; i < n; ++i) {
            int p = pick();
            EXPECT_GE(p, 0);
            if (p >= 0) ++c[static_cast<size_t>(p)];
        }
        return c;
    }
    void set_usable(size_t i, bool on) { usable_[i] = on ? 1 : 0; }
    void set_active(size_t i, int64_t v) { active_[i].store(v); }
    int64_t active(size_t i) const { return active_[i].load(); }

  private:
    UpstreamConfig config_;
    std::vector<std::atomic<int64_t>> active_;
    std::vector<uint8_t> usable_;
    std::unique_ptr<Balancer> balancer_;
};

const Balance kAll[] = {Balance::RoundRobin, Balance::LeastConn, Balance::RandomTwo, Balance::Hash};

std::string key(int i) { return "key-" + std::to_string(i); }

}  // namespace

// ---- common to every algorithm ------------------------------------------------------------------

TEST(Balancer, NothingUsableGivesMinusOne) {
    for (Balance b : kAll) {
        Pool p(b, {{"a"}, {"b", 1, true}});
        p.set_usable(0, false);
        p.set_usable(1, false);
        EXPECT_EQ(p.pick(123), -1) << static_cast<int>(b);
    }
}

TEST(Balancer, NoServers) {
    for (Balance b : kAll) {
        UpstreamConfig u = upstream(b, {});
        auto bal = Balancer::create(u, {}, 1);
        EXPECT_EQ(bal->pick(PickInput{{}, 5}), -1) << static_cast<int>(b);
    }
}

TEST(Balancer, ShortUsableSpanMeansUnusable) {
    for (Balance b : kAll) {
        UpstreamConfig u = upstream(b, {{"a"}, {"b"}, {"c"}});
        auto bal = Balancer::create(u, {nullptr, nullptr, nullptr}, 1);
        std::vector<uint8_t> usable = {0, 1};  // "c" has no entry
        for (int i = 0; i < 50; ++i) EXPECT_EQ(bal->pick(PickInput{usable, hash_key(key(i))}), 1);
    }
}

TEST(Balancer, NullActivePointersCountAsZero) {
    for (Balance b : kAll) {
        UpstreamConfig u = upstream(b, {{"a"}, {"b"}});
        auto bal = Balancer::create(u, {nullptr}, 7);  // also shorter than the server list
        std::vector<uint8_t> usable = {1, 1};
        std::vector<int> seen(2, 0);
        for (int i = 0; i < 200; ++i) {
            int p = bal->pick(PickInput{usable, hash_key(key(i))});
            ASSERT_TRUE(p == 0 || p == 1);
            ++seen[static_cast<size_t>(p)];
        }
        EXPECT_GT(seen[0], 0) << static_cast<int>(b);
        EXPECT_GT(seen[1], 0) << static_cast<int>(b);
    }
}

TEST(Balancer, BackupsOnlyWhenNoPrimaryIsUsable) {
    for (Balance b : kAll) {
        Pool p(b, {{"a"}, {"x", 5, true}, {"b"}, {"y", 1, true}});
        for (int i = 0; i < 200; ++i) {
            int s = p.pick(hash_key(key(i)));
            EXPECT_TRUE(s == 0 || s == 2) << static_cast<int>(b);
        }
        p.set_usable(0, false);
        for (int i = 0; i < 200; ++i) EXPECT_EQ(p.pick(hash_key(key(i))), 2) << static_cast<int>(b);
        p.set_usable(2, false);
        std::vector<int> seen(4, 0);
        for (int i = 0; i < 600; ++i) {
            int s = p.pick(hash_key(key(i)));
            ASSERT_TRUE(s == 1 || s == 3) << static_cast<int>(b);
            ++seen[static_cast<size_t>(s)];
        }
        EXPECT_GT(seen[1], seen[3]) << static_cast<int>(b);  // weight 5 against 1
        p.set_usable(1, false);
        for (int i = 0; i < 50; ++i) EXPECT_EQ(p.pick(hash_key(key(i))), 3) << static_cast<int>(b);
        p.set_usable(2, true);  // a primary is back: backups are left again
        for (int i = 0; i < 50; ++i) EXPECT_EQ(p.pick(hash_key(key(i))), 2) << static_cast<int>(b);
    }
}

// ---- round robin ---------------------------------------------------------------------------------

TEST(RoundRobin, ThreeToOneIsInterleaved) {
    Pool p(Balance::RoundRobin, {{"a", 3}, {"b", 1}});
    EXPECT_EQ(p.sequence(12), "aabaaabaaaba");
}

TEST(RoundRobin, NginxExampleFiveOneOne) {
    Pool p(Balance::RoundRobin, {{"a", 5}, {"b", 1}, {"c", 1}});
    EXPECT_EQ(p.sequence(7), "aabacaa");
    EXPECT_EQ(p.sequence(7), "aabacaa");
}

TEST(RoundRobin, EqualWeightsAlternate) {
    Pool p(Balance::RoundRobin, {{"a"}, {"b"}, {"c"}});
    EXPECT_EQ(p.sequence(9), "abcabcabc");
}

TEST(RoundRobin, ExactProportionsOverEveryCycle) {
    Pool p(Balance::RoundRobin, {{"a", 7}, {"b", 1}, {"c", 3}, {"d", 9}});
    for (int cycle = 0; cycle < 5; ++cycle) EXPECT_EQ(p.counts(20), (std::vector<int>{7, 1, 3, 9}));
}

TEST(RoundRobin, NoLongRunsOfOneServer) {
    // 3:2 must never give three of "a" in a row (smoothness).
    Pool p(Balance::RoundRobin, {{"a", 3}, {"b", 2}});
    std::string s = p.sequence(100);
    EXPECT_EQ(s.find("aaa"), std::string::npos) << s;
    EXPECT_EQ(std::count(s.begin(), s.end(), 'a'), 60);
}

TEST(RoundRobin, SkipsUnusable) {
    Pool p(Balance::RoundRobin, {{"a", 2}, {"b", 5}, {"c", 1}});
    p.set_usable(1, false);
    for (int cycle = 0; cycle < 4; ++cycle) EXPECT_EQ(p.counts(3), (std::vector<int>{2, 0, 1}));
    p.set_usable(1, true);
    p.set_usable(0, false);
    p.set_usable(2, false);
    EXPECT_EQ(p.sequence(4), "bbbb");
}

TEST(RoundRobin, BackupsUseWrrAmongThemselves) {
    Pool p(Balance::RoundRobin, {{"a", 1}, {"x", 2, true}, {"y", 1, true}});
    p.set_usable(0, false);
    EXPECT_EQ(p.sequence(6), "xyxxyx");
}

// ---- least_conn ----------------------------------------------------------------------------------

TEST(LeastConn, PicksLeastLoaded) {
    Pool p(Balance::LeastConn, {{"a"}, {"b"}, {"c"}});
    p.set_active(0, 5);
    p.set_active(1, 2);
    p.set_active(2, 7);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(p.pick(), 1);
    p.set_active(2, 1);
    EXPECT_EQ(p.pick(), 2);
    p.set_usable(2, false);
    EXPECT_EQ(p.pick(), 1);
}

TEST(LeastConn, RespectsWeights) {
    Pool p(Balance::LeastConn, {{"a", 3}, {"b", 1}});
    p.set_active(0, 5);  // 5/3 < 2/1
    p.set_active(1, 2);
    EXPECT_EQ(p.pick(), 0);
    p.set_active(0, 7);  // 7/3 > 2/1
    EXPECT_EQ(p.pick(), 1);
    p.set_active(0, 6);  // 6/3 == 2/1: a tie, shared 3:1 by smooth WRR
    EXPECT_EQ(p.sequence(8), "aabaaaba");
}

TEST(LeastConn, EqualLoadsSpreadEvenly) {
    Pool p(Balance::LeastConn, {{"a"}, {"b"}, {"c"}, {"d"}});
    EXPECT_EQ(p.sequence(8), "abcdabcd");
    for (size_t i = 0; i < 4; ++i) p.set_active(i, 3);
    EXPECT_EQ(p.counts(400), (std::vector<int>{100, 100, 100, 100}));
}

TEST(LeastConn, TiesAmongTheLeastOnly) {
    Pool p(Balance::LeastConn, {{"a"}, {"b"}, {"c"}});
    p.set_active(1, 4);
    EXPECT_EQ(p.counts(10), (std::vector<int>{5, 0, 5}));
}

TEST(LeastConn, GrowingLoadFollowsWeights) {
    // Requests that never finish: each pick adds one in-flight request to its server.
    Pool p(Balance::LeastConn, {{"a", 3}, {"b", 1}, {"c", 2}});
    for (int i = 0; i < 600; ++i) {
        int s = p.pick();
        ASSERT_GE(s, 0);
        p.set_active(static_cast<size_t>(s), p.active(static_cast<size_t>(s)) + 1);
    }
    EXPECT_EQ(p.active(0), 300);
    EXPECT_EQ(p.active(1), 100);
    EXPECT_EQ(p.active(2), 200);
}

TEST(LeastConn, NegativeCounterCountsAsZero) {
    Pool p(Balance::LeastConn, {{"a"}, {"b"}});
    p.set_active(0, -5);
    p.set_active(1, 0);
    EXPECT_EQ(p.counts(10), (std::vector<int>{5, 5}));
}

// ---- random_two ----------------------------------------------------------------------------------

TEST(RandomTwo, EqualLoadsFollowWeights) {
    Pool p(Balance::RandomTwo, {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}}, 12345);
    const int n = 100000;
    std::vector<int> c = p.counts(n);
    for (size_t i = 0; i < 4; ++i) {
        double expected = n * static_cast<double>(i + 1) / 10.0;
        EXPECT_GT(c[i], expected * 0.9) << i;
        EXPECT_LT(c[i], expected * 1.1) << i;
    }
}

TEST(RandomTwo, EqualWeightsEqualShares) {
    Pool p(Balance::RandomTwo, {{"a"}, {"b"}, {"c"}}, 99);
    std::vector<int> c = p.counts(30000);
    for (int x : c) {
        EXPECT_GT(x, 9000);
        EXPECT_LT(x, 11000);
    }
}

TEST(RandomTwo, AlwaysOneOfTheTwoLeastLoaded) {
    Pool p(Balance::RandomTwo, {{"a"}, {"b"}, {"c"}}, 7);
    p.set_active(0, 10);
    p.set_active(1, 0);
    p.set_active(2, 5);
    std::vector<int> c = p.counts(3000);
    EXPECT_EQ(c[0], 0);
    EXPECT_GT(c[1], c[2]);  // the least loaded wins two pairs of three
    EXPECT_GT(c[2], 0);
}

TEST(RandomTwo, NeverTheMostLoaded) {
    Pool p(Balance::RandomTwo, {{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}, 3);
    const int64_t loads[] = {4, 9, 1, 3, 7};
    for (size_t i = 0; i < 5; ++i) p.set_active(i, loads[i]);
    std::vector<int> c = p.counts(5000);
    EXPECT_EQ(c[1], 0);
    EXPECT_GT(c[2], c[3]);
    EXPECT_GT(c[3], c[0]);
    EXPECT_GT(c[0], c[4]);
}

TEST(RandomTwo, TwoServersAlwaysTheLighter) {
    Pool p(Balance::RandomTwo, {{"a", 1}, {"b", 4}}, 11);
    p.set_active(0, 1);  // 1/1 < 5/4
    p.set_active(1, 5);
    for (int i = 0; i < 200; ++i) EXPECT_EQ(p.pick(), 0);
    p.set_active(1, 3);  // 3/4 < 1/1
    for (int i = 0; i < 200; ++i) EXPECT_EQ(p.pick(), 1);
}

TEST(RandomTwo, SkipsUnusable) {
    Pool p(Balance::RandomTwo, {{"a"}, {"b"}, {"c"}, {"d"}}, 5);
    p.set_usable(1, false);
    p.set_usable(3, false);
    std::vector<int> c = p.counts(2000);
    EXPECT_EQ(c[1], 0);
    EXPECT_EQ(c[3], 0);
    EXPECT_GT(c[0], 800);
    EXPECT_GT(c[2], 800);
    p.set_usable(2, false);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(p.pick(), 0);
}

TEST(RandomTwo, SeedDeterminesSequence) {
    Pool p1(Balance::RandomTwo, {{"a"}, {"b"}, {"c"}, {"d"}}, 2024);
    Pool p2(Balance::RandomTwo, {{"a"}, {"b"}, {"c"}, {"d"}}, 2024);
    Pool p3(Balance::RandomTwo, {{"a"}, {"b"}, {"c"}, {"d"}}, 2025);
    std::string s1 = p1.sequence(64), s2 = p2.sequence(64), s3 = p3.sequence(64);
    EXPECT_EQ(s1, s2);
    EXPECT_NE(s1, s3);
}

// ---- hash ----------------------------------------------------------------------------------------

TEST(Hash, SameKeySameServer) {
    Pool p(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.3:80"}});
    for (int i = 0; i < 1000; ++i) {
        uint64_t h = hash_key(key(i));
        int first = p.pick(h);
        ASSERT_GE(first, 0);
        EXPECT_EQ(p.pick(h), first);
        EXPECT_EQ(p.pick(h), first);
    }
    // Another balancer built from the same configuration (another worker) agrees.
    Pool q(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.3:80"}}, 999);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(q.pick(hash_key(key(i))), p.pick(hash_key(key(i))));
}

TEST(Hash, EvenDistributionOverThreeServers) {
    Pool p(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.3:80"}});
    const int n = 30000;
    std::vector<int> c(3, 0);
    for (int i = 0; i < n; ++i) ++c[static_cast<size_t>(p.pick(hash_key(key(i))))];
    for (int x : c) {
        EXPECT_GT(x, n / 3 * 0.85);
        EXPECT_LT(x, n / 3 * 1.15);
    }
}

TEST(Hash, WeightedDistribution) {
    Pool p(Balance::Hash, {{"10.0.0.1:80", 1}, {"10.0.0.2:80", 2}});
    const int n = 30000;
    std::vector<int> c(2, 0);
    for (int i = 0; i < n; ++i) ++c[static_cast<size_t>(p.pick(hash_key(key(i))))];
    EXPECT_GT(c[0], n / 3 * 0.85);
    EXPECT_LT(c[0], n / 3 * 1.15);
}

TEST(Hash, RemovingAServerMovesOnlyItsKeys) {
    Pool p(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.3:80"}});
    const int n = 30000;
    std::vector<int> before(n);
    for (int i = 0; i < n; ++i) before[static_cast<size_t>(i)] = p.pick(hash_key(key(i)));
    p.set_usable(1, false);
    int moved = 0;
    std::vector<int> to(3, 0);
    for (int i = 0; i < n; ++i) {
        int now = p.pick(hash_key(key(i)));
        int was = before[static_cast<size_t>(i)];
        ASSERT_NE(now, 1);
        if (was != 1) {
            EXPECT_EQ(now, was) << key(i);
        } else {
            ++moved;
            ++to[static_cast<size_t>(now)];
        }
    }
    EXPECT_GT(moved, n / 3 * 0.85);
    EXPECT_LT(moved, n / 3 * 1.15);
    // The orphaned keys spread over both survivors, not all onto one neighbour.
    EXPECT_GT(to[0], moved / 4);
    EXPECT_GT(to[2], moved / 4);
    // Back again: every key returns to where it was.
    p.set_usable(1, true);
    for (int i = 0; i < n; ++i) EXPECT_EQ(p.pick(hash_key(key(i))), before[static_cast<size_t>(i)]);
}

TEST(Hash, AddingAServerMovesAboutItsShare) {
    Pool three(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.3:80"}});
    Pool four(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.3:80"}, {"10.0.0.4:80"}});
    const int n = 30000;
    int moved = 0;
    for (int i = 0; i < n; ++i) {
        int a = three.pick(hash_key(key(i))), b = four.pick(hash_key(key(i)));
        if (a != b) {
            ++moved;
            EXPECT_EQ(b, 3);  // a key only ever moves to the new server
        }
    }
    EXPECT_GT(moved, n / 4 * 0.85);
    EXPECT_LT(moved, n / 4 * 1.15);
}

TEST(Hash, ServerOrderDoesNotMatter) {
    Pool p(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.3:80"}});
    Pool q(Balance::Hash, {{"10.0.0.3:80"}, {"10.0.0.1:80"}, {"10.0.0.2:80"}});
    for (int i = 0; i < 2000; ++i) EXPECT_EQ(p.pick_name(hash_key(key(i))), q.pick_name(hash_key(key(i))));
}

TEST(Hash, DuplicateAddressesBothGetKeys) {
    Pool p(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.1:80"}});
    std::vector<int> c(2, 0);
    for (int i = 0; i < 10000; ++i) ++c[static_cast<size_t>(p.pick(hash_key(key(i))))];
    EXPECT_GT(c[0], 3500);
    EXPECT_GT(c[1], 3500);
}

TEST(Hash, RingWrapsAround) {
    Pool p(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.2:80"}});
    int top = p.pick(std::numeric_limits<uint64_t>::max());
    int bottom = p.pick(0);
    ASSERT_GE(top, 0);
    EXPECT_EQ(top, bottom);  // past the last point comes the first
}

TEST(Hash, BackupsHaveTheirOwnRing) {
    Pool p(Balance::Hash, {{"10.0.0.1:80"}, {"10.0.0.8:80", 1, true}, {"10.0.0.9:80", 1, true}});
    p.set_usable(0, false);
    std::vector<int> c(3, 0);
    for (int i = 0; i < 3000; ++i) {
        uint64_t h = hash_key(key(i));
        int s = p.pick(h);
        ASSERT_TRUE(s == 1 || s == 2);
        EXPECT_EQ(p.pick(h), s);
        ++c[static_cast<size_t>(s)];
    }
    EXPECT_GT(c[1], 1000);
    EXPECT_GT(c[2], 1000);
}

// ---- hash_key ------------------------------------------------------------------------------------

TEST(HashKey, GoldenValues) {
    // Computed once by this implementation (FNV-1a 64 + 64-bit finalizer); they must never change,
    // or every consistent-hash assignment moves on upgrade.
    EXPECT_EQ(hash_key(""), 0xf52a15e9a9b5e89bULL);
    EXPECT_EQ(hash_key("a"), 0x02c0bdbf481420f8ULL);
    EXPECT_EQ(hash_key("127.0.0.1"), 0x360fa4ade68d5adaULL);
    EXPECT_EQ(hash_key("10.0.0.1:80#0"), 0xfe0cfe8a2ef11643ULL);
    EXPECT_EQ(hash_key("session=0123456789abcdef"), 0x6433ad4bf14ee846ULL);
    EXPECT_EQ(hash_key(std::string_view("a\0b", 3)), 0xeb38c838c62d597eULL);
}

TEST(HashKey, NearbyKeysDiffer) {
    std::map<uint64_t, int> seen;
    for (int i = 0; i < 100000; ++i) EXPECT_TRUE(seen.emplace(hash_key(key(i)), i).second) << i;
    // Keys differing in one trailing byte differ in about half the bits of the hash.
    int bits = 0;
    for (int i = 0; i < 1000; ++i) bits += __builtin_popcountll(hash_key(key(i)) ^ hash_key(key(i) + "x"));
    EXPECT_GT(bits, 1000 * 28);
    EXPECT_LT(bits, 1000 * 36);
}
