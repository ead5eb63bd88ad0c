// Sticky canaries (`split_by:`): the keyed choice (src/http/upstream/split.h) and the route keys
// that go with it and with per-route limits (split_by, client_max_body_size, timeout.connect).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "http/upstream/balancer.h"
#include "http/upstream/split.h"

namespace gw {
namespace {

using upstream::KeyedSplit;

std::vector<SplitTarget> targets(std::vector<std::pair<std::string, uint32_t>> list) {
    std::vector<SplitTarget> out;
    for (auto& [name, weight] : list) {
        SplitTarget t;
        t.upstream = name;
        t.weight = weight;
        out.push_back(t);
    }
    return out;
}

uint64_t user(int i) { return upstream::hash_key("user-" + std::to_string(i)); }

constexpr int kUsers = 10000;

TEST(KeyedSplit, SharesFollowTheWeights) {
    KeyedSplit split(targets({{"stable", 90}, {"canary", 10}}));
    int canary = 0;
    for (int i = 0; i < kUsers; ++i) canary += split.pick(user(i)) == 1;
    EXPECT_NEAR(canary, kUsers / 10, kUsers * 2 / 100) << canary;  // 10% +- 2%

    KeyedSplit three(targets({{"a", 70}, {"b", 20}, {"c", 10}}));
    int count[3] = {};
    for (int i = 0; i < kUsers; ++i) count[three.pick(user(i))]++;
    EXPECT_NEAR(count[0], 7000, 200);
    EXPECT_NEAR(count[1], 2000, 200);
    EXPECT_NEAR(count[2], 1000, 200);
}

TEST(KeyedSplit, OneKeyOneSideInEveryWorker) {
    // Two instances stand for two workers (or a reload): nothing per process goes into the hash.
    KeyedSplit worker1(targets({{"stable", 90}, {"canary", 10}}));
    KeyedSplit worker2(targets({{"stable", 90}, {"canary", 10}}));
    int canary_users = 0;
    for (int i = 0; i < 200; ++i) {
        size_t first = worker1.pick(user(i));
        canary_users += first == 1;
        for (int r = 0; r < 100; ++r) {
            ASSERT_EQ(worker1.pick(user(i)), first);
            ASSERT_EQ(worker2.pick(user(i)), first);
        }
    }
    EXPECT_GT(canary_users, 0);  // both sides are taken at all
    EXPECT_LT(canary_users, 200);
}

// Raising the canary moves only the share it gains, and only towards the canary.
TEST(KeyedSplit, RaisingTheCanaryMovesOnlyItsShare) {
    KeyedSplit before(targets({{"stable", 90}, {"canary", 10}}));
    KeyedSplit after(targets({{"stable", 80}, {"canary", 20}}));
    KeyedSplit after_only_canary(targets({{"stable", 90}, {"canary", 20}}));  // 10% -> 18.2%
    int moved = 0, moved_back = 0, moved2 = 0, moved_back2 = 0;
    for (int i = 0; i < kUsers; ++i) {
        size_t b = before.pick(user(i)), a = after.pick(user(i)), a2 = after_only_canary.pick(user(i));
        moved += b == 0 && a == 1;
        moved_back += b == 1 && a == 0;
        moved2 += b == 0 && a2 == 1;
        moved_back2 += b == 1 && a2 == 0;
    }
    EXPECT_GE(moved, kUsers * 8 / 100) << moved;
    EXPECT_LE(moved, kUsers * 12 / 100) << moved;
    EXPECT_EQ(moved_back, 0);
    EXPECT_NEAR(moved2, kUsers * 82 / 1000, kUsers * 2 / 100) << moved2;
    EXPECT_EQ(moved_back2, 0);
}

TEST(KeyedSplit, TargetsAreKnownByNameNotPosition) {
    KeyedSplit ab(targets({{"a", 50}, {"b", 30}, {"c", 20}}));
    KeyedSplit ba(targets({{"c", 20}, {"a", 50}, {"b", 30}}));
    KeyedSplit without_c(targets({{"a", 50}, {"b", 30}}));
    const char* names_ab[] = {"a", "b", "c"};
    const char* names_ba[] = {"c", "a", "b"};
    int moved_without_c = 0;
    for (int i = 0; i < kUsers; ++i) {
        size_t x = ab.pick(user(i));
        ASSERT_STREQ(names_ab[x], names_ba[ba.pick(user(i))]);
        // Removing c moves c's users only.
        size_t y = without_c.pick(user(i));
        if (x != 2) {
            ASSERT_EQ(x, y);
        }
        moved_without_c += x == 2;
    }
    EXPECT_NEAR(moved_without_c, 2000, 200);
}

TEST(KeyedSplit, NeighbouringKeysSpread) {
    // Keys that differ in their last byte only (uid=1000, uid=1001, ...).
    KeyedSplit split(targets({{"stable", 50}, {"canary", 50}}));
    int canary = 0;
    for (int i = 0; i < 1000; ++i) canary += split.pick(upstream::hash_key(std::to_string(100000 + i))) == 1;
    EXPECT_NEAR(canary, 500, 60);
}

// --- the route keys ------------------------------------------------------------------------------

class SplitConfigTest : public test::ConfigFixture {};

constexpr const char* kBase =
    "listeners:\n  - address: 127.0.0.1:8080\n"
    "upstreams:\n"
    "  stable: {servers: [{address: 127.0.0.1:9001}], connect_timeout: 3s}\n"
    "  canary: {servers: [{address: 127.0.0.1:9002}]}\n"
    "routes:\n";

TEST_F(SplitConfigTest, KeysAreReadDumpedAndLoadAgain) {
    write("gw.conf", std::string(kBase) +
                         "  - name: web\n"
                         "    split: [{upstream: stable, weight: 90}, {upstream: canary, weight: 10}]\n"
                         "    split_by: cookie:uid\n"
                         "    client_max_body_size: 10m\n"
                         "    timeout: {connect: 250ms}\n"
                         "  - name: api\n"
                         "    split_by: header:X-User-Id\n"
                         "    split: [{upstream: stable}, {upstream: canary}]\n"
                         "    client_max_body_size: 0\n"
                         "  - name: ip\n"
                         "    split: [{upstream: stable}, {upstream: canary}]\n"
                         "    split_by: ip\n"
                         "  - name: plain\n"
                         "    upstream: stable\n"
                         "  - name: ret\n"
                         "    return: {status: 204}\n"
                         "    client_max_body_size: 1k\n"
                         "http: {client_max_body_size: 64k}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->routes.size(), 5u);
    ASSERT_TRUE(c->routes[0].split_by);
    EXPECT_EQ(c->routes[0].split_by->kind, HashKey::Kind::Cookie);
    EXPECT_EQ(c->routes[0].split_by->name, "uid");
    EXPECT_EQ(c->routes[0].client_max_body_size, 10u * 1024 * 1024);
    EXPECT_EQ(c->routes[0].timeout.connect, 250);
    ASSERT_TRUE(c->routes[1].split_by);
    EXPECT_EQ(c->routes[1].split_by->kind, HashKey::Kind::Header);
    EXPECT_EQ(c->routes[1].split_by->name, "x-user-id");
    EXPECT_EQ(c->routes[1].client_max_body_size, 0u);  // unlimited, given
    ASSERT_TRUE(c->routes[2].split_by);
    EXPECT_EQ(c->routes[2].split_by->kind, HashKey::Kind::Ip);
    EXPECT_FALSE(c->routes[3].split_by);
    EXPECT_FALSE(c->routes[3].client_max_body_size);
    EXPECT_EQ(c->routes[3].timeout.connect, 0);  // the upstream's

    EXPECT_EQ(max_body_size(*c, 0), 10u * 1024 * 1024);
    EXPECT_EQ(max_body_size(*c, 1), 0u);
    EXPECT_EQ(max_body_size(*c, 3), 64u * 1024);
    EXPECT_EQ(max_body_size(*c, 4), 1024u);
    EXPECT_EQ(max_body_size(*c, -1), 64u * 1024);  // no route matched

    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("    split_by: \"cookie:uid\"\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    split_by: \"header:x-user-id\"\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    split_by: \"ip\"\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    client_max_body_size: 10m\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    client_max_body_size: 0\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    client_max_body_size: 1k\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("      connect: 250ms\n"), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    auto body = [](const std::string& s) { return s.substr(s.find("\nworker_processes:")); };
    EXPECT_EQ(body(dump_config(*again)), body(dump));
}

TEST_F(SplitConfigTest, Errors) {
    expect_errors(std::string(kBase) +
                      "  - name: nosplit\n"
                      "    upstream: stable\n"
                      "    split_by: cookie:uid\n"
                      "  - name: ret\n"
                      "    return: {}\n"
                      "    split_by: ip\n"
                      "  - name: bad\n"
                      "    split: [{upstream: stable}]\n"
                      "    split_by: cookie\n"
                      "  - name: badname\n"
                      "    split: [{upstream: stable}]\n"
                      "    split_by: 'header:a b'\n"
                      "  - name: limits\n"
                      "    upstream: stable\n"
                      "    client_max_body_size: lots\n"
                      "    timeout: {connect: 0}\n"
                      "  - name: retconnect\n"
                      "    return: {}\n"
                      "    timeout: {connect: 1s}\n",
                  {at("gw.conf", 9, 5) + "routes[0].split_by: only allowed with split",
                   at("gw.conf", 12, 5) + "routes[1].split_by: only allowed with split",
                   at("gw.conf", 15, 15) + "routes[2].split_by: unknown value \"cookie\" (expected ip, path, "
                                           "header:NAME or cookie:NAME)",
                   at("gw.conf", 18, 15) + "routes[3].split_by: bad header name \"a b\"",
                   at("gw.conf", 21, 27) + "routes[4].client_max_body_size: bad size \"lots\" (a number of "
                                           "bytes, optionally with k, m or g)",
                   at("gw.conf", 22, 24) + "routes[4].timeout.connect: 0 is out of range (1ms..1d)",
                   at("gw.conf", 25, 5) + "routes[5].timeout: only allowed with upstream or split, not with return"});
}

}  // namespace
}  // namespace gw
