// Session ticket keys shared by nodes through Redis (ticket_sync.h): the value's layout, and
// two or three "nodes" (a TicketKeySync each, over a zone each) on one event loop against a real
// redis-server: they converge on one set of keys, exactly one of them makes each rotation,
// Redis away keeps the keys, and a node that started while Redis was away adopts the cluster's
// keys when it comes back.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "core/shm/zone.h"
#include "modules/tls/ticket_keys.h"
#include "modules/tls/ticket_sync.h"
#include "redis_server.h"

namespace gw::tls {
namespace {

using redis_test::free_port;
using redis_test::have_redis_server;
using redis_test::RedisServer;
using redis_test::run_until;

TicketKey patterned(unsigned char v) {
    TicketKey k;
    k.name.fill(v);
    k.aes.fill(static_cast<unsigned char>(v + 1));
    k.hmac.fill(static_cast<unsigned char>(v + 2));
    return k;
}

TEST(TlsTicketSync, TheValueRoundTrips) {
    TicketKeys k;
    k.current = patterned(1);
    k.previous = patterned(10);
    k.next = patterned(20);
    k.rotated_at_ms = 1733300000123;
    std::string v = encode_keys(k);
    EXPECT_EQ(v.size(), 2u * (1 + 8 + 3 * 80));
    EXPECT_EQ(v.substr(0, 2), "01") << "the layout's version first";
    std::optional<TicketKeys> back = decode_keys(v);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->current == k.current && back->previous == k.previous && back->next == k.next);
    EXPECT_EQ(back->rotated_at_ms, k.rotated_at_ms);

    EXPECT_FALSE(decode_keys(""));
    EXPECT_FALSE(decode_keys(v.substr(1)));
    EXPECT_FALSE(decode_keys(v + "00"));
    std::string bad = v;
    bad[10] = 'x';
    EXPECT_FALSE(decode_keys(bad)) << "not hex";
    bad = v;
    bad[1] = '2';
    EXPECT_FALSE(decode_keys(bad)) << "another layout";
}

TEST(TlsTicketSync, RotatedShiftsTheKeys) {
    TicketKeys k;
    k.current = patterned(1);
    k.previous = patterned(2);
    k.next = patterned(3);
    TicketKeys r = rotated(k, patterned(4), 99);
    EXPECT_TRUE(r.previous == k.current);
    EXPECT_TRUE(r.current == k.next);
    EXPECT_TRUE(r.next == patterned(4));
    EXPECT_EQ(r.rotated_at_ms, 99);
}

TEST(TlsTicketSync, PollInterval) {
    EXPECT_EQ(TicketKeySync::poll_interval(3600 * 1000), 5000);
    EXPECT_EQ(TicketKeySync::poll_interval(2000), 500);
    EXPECT_EQ(TicketKeySync::poll_interval(100), 250);
}

int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// One node: its zone (the keys its workers read) and its sync.
struct Node {
    Node(const std::string& name) {
        zone = shm::Zone::create("tls-tickets." + name, kTicketZoneSize, kTicketZoneLayoutVersion);
        EXPECT_TRUE(zone && TicketKeyRing::lay_out(*zone, wall_ms()));
        ring = TicketKeyRing::attach(*zone);
    }
    void start(event::Loop& loop, const RedisConfig& redis, int64_t rotate_ms) {
        shm::Zone* z = zone.get();
        sync = std::make_unique<TicketKeySync>(
            loop, redis, [z](std::string_view) { return z; },
            std::vector<TicketKeySync::Listener>{{"0.0.0.0:443", z->name(), rotate_ms}});
    }
    TicketKeys keys() const {
        TicketKeys k;
        EXPECT_TRUE(ring->read(k));
        return k;
    }
    std::unique_ptr<shm::Zone> zone;
    std::unique_ptr<TicketKeyRing> ring;
    std::unique_ptr<TicketKeySync> sync;
};

bool same(const TicketKeys& a, const TicketKeys& b) {
    return a.current == b.current && a.previous == b.previous && a.next == b.next && a.rotated_at_ms == b.rotated_at_ms;
}

class TicketSyncTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!have_redis_server()) GTEST_SKIP() << "redis-server is not installed (make test installs it)";
        port_ = free_port();
        server_ = std::make_unique<RedisServer>(port_);
        redis_.address = "127.0.0.1:" + std::to_string(port_);
        auto& sa = reinterpret_cast<sockaddr_in&>(redis_.sockaddr);
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port_);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        redis_.socklen = sizeof sa;
        redis_.timeout = 200;
        redis_.pool = 1;
    }
    event::Loop loop_;
    uint16_t port_ = 0;
    std::unique_ptr<RedisServer> server_;
    RedisConfig redis_;
};

TEST_F(TicketSyncTest, NodesConvergeOnOneSetOfKeys) {
    ASSERT_TRUE(server_->start());
    Node a("a"), b("b");
    ASSERT_FALSE(same(a.keys(), b.keys())) << "each made its own";
    TicketKeys first = a.keys();
    a.start(loop_, redis_, 3600 * 1000);
    run_until(loop_, [] { return false; }, 500);  // a publishes its keys
    b.start(loop_, redis_, 3600 * 1000);
    ASSERT_TRUE(run_until(loop_, [&] { return same(a.keys(), b.keys()); }, 3000));
    EXPECT_TRUE(same(a.keys(), first)) << "the first node's keys became the cluster's";
}

TEST_F(TicketSyncTest, ExactlyOneNodeMakesEachRotation) {
    ASSERT_TRUE(server_->start());
    Node a("a"), b("b");
    a.start(loop_, redis_, 3600 * 1000);
    b.start(loop_, redis_, 3600 * 1000);
    ASSERT_TRUE(run_until(loop_, [&] { return same(a.keys(), b.keys()); }, 3000));
    TicketKeys before = a.keys();
    // Both nodes now find a rotation due every second (polling every 250 ms).
    a.start(loop_, redis_, 1000);
    b.start(loop_, redis_, 1000);
    ASSERT_TRUE(run_until(loop_, [&] { return a.keys().current == before.next; }, 4000)) << "rotated";
    ASSERT_TRUE(run_until(loop_, [&] { return same(a.keys(), b.keys()); }, 2000)) << "and the other node follows";
    TicketKeys after = a.keys();
    EXPECT_TRUE(after.previous == before.current) << "one rotation, not two";
    EXPECT_FALSE(after.next == before.next);
}

TEST_F(TicketSyncTest, RedisAwayKeepsTheKeys) {
    ASSERT_TRUE(server_->start());
    Node a("a");
    TicketKeys initial = a.keys();
    a.start(loop_, redis_, 1000);
    ASSERT_TRUE(run_until(loop_, [&] { return a.keys().current == initial.next; }, 4000)) << "a rotation through Redis";
    server_->stop();
    run_until(loop_, [] { return false; }, 300);
    TicketKeys kept = a.keys();
    run_until(loop_, [] { return false; }, 1500);  // a rotation falls due meanwhile
    EXPECT_TRUE(same(a.keys(), kept)) << "no rotation without Redis: the keys stay";
    ASSERT_TRUE(server_->start());  // empty: no persistence
    ASSERT_TRUE(run_until(loop_, [&] { return a.keys().current == kept.next; }, 8000))
        << "back: the node republishes and rotates again";
}

TEST_F(TicketSyncTest, ANodeThatStartedWithoutRedisAdoptsTheClusterKeys) {
    Node a("a"), c("c");
    TicketKeys own = c.keys();
    a.start(loop_, redis_, 3600 * 1000);
    c.start(loop_, redis_, 3600 * 1000);
    run_until(loop_, [] { return false; }, 300);
    EXPECT_TRUE(same(c.keys(), own)) << "Redis away: its own keys serve";
    ASSERT_TRUE(server_->start());
    ASSERT_TRUE(run_until(loop_, [&] { return same(a.keys(), c.keys()); }, 8000)) << "one set once Redis is back";
}

}  // namespace
}  // namespace gw::tls
