// The services registry of a process: objects provided by type, the outbound HTTP client, and
// the Redis client of `redis:` made on first use (against a redis-server of the test's own).
#include <gtest/gtest.h>

#include "core/config/config.h"
#include "core/redis/client.h"
#include "core/services/registry.h"
#include "event/loop.h"
#include "http/client/client.h"
#include "redis_server.h"

using gw::services::Registry;

namespace {

struct Keys {
    int n = 0;
};
struct Quota {
    int n = 0;
};

}  // namespace

TEST(ServicesRegistry, ObjectsAreFoundByTheirType) {
    gw::event::Loop loop;
    gw::Config cfg;
    Registry r(loop, cfg);
    EXPECT_EQ(r.find<Keys>(), nullptr);
    Keys keys, other_keys;
    Quota quota;
    r.provide(&keys);
    r.provide(&quota);
    EXPECT_EQ(r.find<Keys>(), &keys);
    EXPECT_EQ(r.find<const Keys>(), &keys) << "const or not, the same type";
    EXPECT_EQ(r.find<Quota>(), &quota);
    r.provide(&other_keys);
    EXPECT_EQ(r.find<Keys>(), &other_keys) << "a second provide replaces the first";
    r.provide<Keys>(nullptr);
    EXPECT_EQ(r.find<Keys>(), nullptr) << "withdrawn";
    EXPECT_EQ(r.find<Quota>(), &quota);
}

TEST(ServicesRegistry, NoRedisWithoutARedisSectionAndOneHttpClient) {
    gw::event::Loop loop;
    gw::Config cfg;
    Registry r(loop, cfg);
    EXPECT_EQ(r.redis(), nullptr);
    gw::httpc::Client& http = r.http();
    EXPECT_EQ(&r.http(), &http) << "one per process";
    EXPECT_EQ(http.in_flight(), 0u);
}

TEST(ServicesRegistry, TheRedisClientIsMadeOnFirstUseAndShared) {
    if (!gw::redis_test::have_redis_server()) GTEST_SKIP() << "redis-server is not installed (make test installs it)";
    gw::redis_test::RedisServer server(gw::redis_test::free_port());
    ASSERT_TRUE(server.start());
    gw::Config cfg;
    cfg.redis.emplace();
    cfg.redis->address = "127.0.0.1:" + std::to_string(server.port());
    std::string error;
    ASSERT_TRUE(gw::parse_upstream_address(cfg.redis->address, cfg.redis->sockaddr, cfg.redis->socklen, error)) << error;
    cfg.redis->pool = 1;
    gw::event::Loop loop;
    Registry r(loop, cfg);
    gw::redis::Client* c = r.redis();
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(r.redis(), c) << "the same client for every module";
    ASSERT_TRUE(gw::redis_test::run_until(loop, [&] { return c->up(); }, 3000)) << "connecting on its own: "
                                                                                  << c->last_error();
    EXPECT_EQ(c->connects(), 1u);
}
