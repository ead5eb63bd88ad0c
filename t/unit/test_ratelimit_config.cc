// gateway.conf: `rate_limits`, `rate_limit_zone_size` and a route's `rate_limit`, every error at
// its place, and the -T dump.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "modules/ratelimit/config.h"

namespace gw {
namespace {

using ratelimit::RateLimitKeyPart;
using ratelimit::RateLimitPolicy;

// The policies and routes' lists are the rate-limit module's part of the configuration.
const ratelimit::Settings& rl(const Config& c) { return ratelimit::settings(c); }

class RateLimitConfig : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gw-rl-config-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    void write(const std::string& name, const std::string& text) {
        std::filesystem::create_directories(std::filesystem::path(path(name)).parent_path());
        std::ofstream(path(name), std::ios::binary) << text;
    }
    std::string at(const std::string& name, int line, int col) const {
        return path(name) + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    }
    std::optional<Config> load(const std::string& name = "gw.conf") {
        diags_ = Diagnostics();
        return load_config(path(name), dir_, diags_);
    }
    std::vector<std::string> errors() const {
        std::vector<std::string> out;
        for (const Diagnostic& d : diags_.all()) out.push_back(d.str());
        std::sort(out.begin(), out.end());
        return out;
    }
    void expect_errors(const std::string& text, std::vector<std::string> expected) {
        write("gw.conf", text);
        EXPECT_FALSE(load());
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(errors(), expected);
    }

    std::string dir_;
    Diagnostics diags_;
};

constexpr const char* kListener = "listeners:\n  - address: 127.0.0.1:8080\n";

TEST_F(RateLimitConfig, Values) {
    write("gw.conf", std::string(kListener) +
                         "rate_limit_zone_size: 1m\n"
                         "rate_limits:\n"
                         "  per-ip:     {key: ip, rate: 100/s, burst: 200, algorithm: token_bucket}\n"
                         "  per-user:   {key: header:X-User-Id, rate: 1000/m, algorithm: sliding_window}\n"
                         "  per-tenant: {key: header:x-tenant-id, rate: 100000/h, algorithm: fixed_window}\n"
                         "  mixed:\n"
                         "    key: ip+route+query:api_key\n"
                         "    rate: 5/d\n"
                         "    scope: local\n"
                         "    missing_key: limit\n"
                         "    status: 503\n"
                         "    headers: off\n"
                         "    dry_run: yes\n"
                         "  all: {key: global, rate: 10/s}\n"
                         "routes:\n"
                         "  - name: api\n"
                         "    match: {path_prefix: /api/}\n"
                         "    return: {}\n"
                         "    rate_limit: [per-tenant, per-user, per-ip]\n"
                         "  - {name: one, return: {}, rate_limit: mixed}\n"
                         "  - {name: none, return: {}}\n");
    std::optional<Config> c = load();
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(rl(*c).zone_size, 1u << 20);
    ASSERT_EQ(rl(*c).policies.size(), 5u);
    const RateLimitPolicy& ip = rl(*c).policies[0];
    EXPECT_EQ(ip.name, "per-ip");
    ASSERT_EQ(ip.key.size(), 1u);
    EXPECT_EQ(ip.key[0].kind, RateLimitKeyPart::Kind::Ip);
    EXPECT_EQ(ip.limit, 100u);
    EXPECT_EQ(ip.period, 1000);
    EXPECT_EQ(ip.burst, 200u);
    EXPECT_EQ(ip.algorithm, RateLimitPolicy::Algorithm::TokenBucket);
    EXPECT_EQ(ip.missing_key, RateLimitPolicy::MissingKey::Skip);
    EXPECT_EQ(ip.status, 429);
    EXPECT_TRUE(ip.headers);
    EXPECT_FALSE(ip.dry_run);
    const RateLimitPolicy& user = rl(*c).policies[1];
    EXPECT_EQ(user.key[0].kind, RateLimitKeyPart::Kind::Header);
    EXPECT_EQ(user.key[0].name, "x-user-id");
    EXPECT_EQ(user.period, 60000);
    EXPECT_EQ(user.algorithm, RateLimitPolicy::Algorithm::SlidingWindow);
    EXPECT_EQ(rl(*c).policies[2].period, 3600000);
    EXPECT_EQ(rl(*c).policies[2].limit, 100000u);
    const RateLimitPolicy& mixed = rl(*c).policies[3];
    ASSERT_EQ(mixed.key.size(), 3u);
    EXPECT_EQ(mixed.key[1].kind, RateLimitKeyPart::Kind::Route);
    EXPECT_EQ(mixed.key[2].kind, RateLimitKeyPart::Kind::Query);
    EXPECT_EQ(mixed.key[2].name, "api_key");
    EXPECT_EQ(mixed.period, 86400000);
    EXPECT_EQ(mixed.missing_key, RateLimitPolicy::MissingKey::Limit);
    EXPECT_EQ(mixed.status, 503);
    EXPECT_FALSE(mixed.headers);
    EXPECT_TRUE(mixed.dry_run);
    EXPECT_EQ(rl(*c).policies[4].key[0].kind, RateLimitKeyPart::Kind::Global);
    EXPECT_EQ(rl(*c).route(0), (std::vector<int>{2, 1, 0}));
    EXPECT_EQ(rl(*c).route(1), (std::vector<int>{3}));
    EXPECT_TRUE(rl(*c).route(2).empty());

    // -T writes it all back, and that loads to the same.
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("rate_limit_zone_size: 1m\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    key: \"ip+route+query:api_key\"\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    rate: \"100/s\"\n    algorithm: token_bucket\n    burst: 200\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    scope: local\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    rate_limit: [\"per-tenant\", \"per-user\", \"per-ip\"]\n"), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << dump;
    std::string dump2 = dump_config(*again);
    auto body = [](const std::string& s) { return s.substr(s.find("\nworker_processes:")); };
    EXPECT_EQ(body(dump2), body(dump));
}

TEST_F(RateLimitConfig, Defaults) {
    write("gw.conf", std::string(kListener) + "rate_limits:\n  p: {key: ip, rate: 10/m}\n");
    std::optional<Config> c = load();
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(rl(*c).zone_size, 16u << 20);
    EXPECT_EQ(rl(*c).policies[0].algorithm, RateLimitPolicy::Algorithm::TokenBucket);
    EXPECT_EQ(rl(*c).policies[0].burst, 0u);  // the bucket holds `rate`
    EXPECT_NE(dump_config(*c).find("    burst: 10\n"), std::string::npos);
    write("gw.conf", kListener);
    c = load();
    ASSERT_TRUE(c);
    EXPECT_TRUE(rl(*c).policies.empty());
    EXPECT_NE(dump_config(*c).find("rate_limits: {}\n"), std::string::npos);
}

TEST_F(RateLimitConfig, Errors) {
    expect_errors(std::string(kListener) +                                     // 1-2
                      "rate_limit_zone_size: 1k\n"                             // 3
                      "rate_limits:\n"                                         // 4
                      "  a: {key: ip, rate: 100/x}\n"                          // 5
                      "  b: {key: ip, rate: 0/s}\n"                            // 6
                      "  c: {key: ip, rate: \"100\"}\n"                        // 7
                      "  d: {key: cookie:sid, rate: 1/s}\n"                    // 8
                      "  e: {key: ip+ip, rate: 1/s}\n"                         // 9
                      "  f: {key: global+ip, rate: 1/s}\n"                     // 10
                      "  g: {key: \"header:bad name\", rate: 1/s}\n"           // 11
                      "  h: {rate: 1/s}\n"                                     // 12
                      "  i: {key: ip}\n"                                       // 13
                      "  j: {key: ip, rate: 1/s, scope: global}\n"             // 14
                      "  k: {key: ip, rate: 1/s, scope: cluster}\n"            // 15
                      "  l: {key: ip, rate: 1/s, algorithm: leaky}\n"          // 16
                      "  m: {key: ip, rate: 1/s, algorithm: fixed_window, burst: 5}\n"  // 17
                      "  n: {key: ip, rate: 2000000/s}\n"                      // 18
                      "  o: {key: ip, rate: 20000000/h, algorithm: sliding_window}\n"   // 19
                      "  p: {key: ip, rate: 1/d, burst: 1000}\n"               // 20
                      "  q: {key: ip, rate: 1/s, missing_key: allow, status: 200, redis: x}\n"  // 21
                      "  \"r s\": {key: ip, rate: 1/s}\n"                      // 22
                      "  t: {key: \"query:\", rate: 1/s, dry_run: maybe}\n"    // 23
                      "routes:\n"                                              // 24
                      "  - name: r1\n"                                         // 25
                      "    return: {}\n"                                       // 26
                      "    rate_limit: [a, per-ip, a]\n"                       // 27
                      "  - {name: r2, return: {}, rate_limt: a}\n"             // 28
                      "  - {name: r3, return: {}, rate_limit: []}\n",          // 29
                  {
                      at("gw.conf", 3, 23) + "rate_limit_zone_size: 1k is out of range (64k..4g)",
                      at("gw.conf", 5, 22) + "rate_limits.a.rate: bad rate \"100/x\" (expected N/s, N/m, N/h or N/d, as in 100/s)",
                      at("gw.conf", 6, 22) + "rate_limits.b.rate: \"0/s\": the number of requests is out of range (1..1000000000)",
                      at("gw.conf", 7, 22) + "rate_limits.c.rate: bad rate \"100\" (expected N/s, N/m, N/h or N/d, as in 100/s)",
                      at("gw.conf", 8, 12) + "rate_limits.d.key: bad key part \"cookie:sid\" (expected ip, route, global, "
                                             "header:NAME, query:NAME, consumer or claim:NAME, joined with '+')",
                      at("gw.conf", 9, 12) + "rate_limits.e.key: key part \"ip\" is listed twice",
                      at("gw.conf", 10, 12) + "rate_limits.f.key: global is one counter for every request: it cannot be combined",
                      at("gw.conf", 11, 12) + "rate_limits.g.key: bad header name \"bad name\" in key",
                      at("gw.conf", 12, 6) + "rate_limits.h: missing required key \"key\"",
                      at("gw.conf", 13, 6) + "rate_limits.i: missing required key \"rate\"",
                      at("gw.conf", 14, 34) + "rate_limits.j.scope: global needs a top-level redis: section (the Redis server "
                                              "that keeps the counters)",
                      at("gw.conf", 15, 34) + "rate_limits.k.scope: unknown value \"cluster\" (expected local or global)",
                      at("gw.conf", 16, 38) + "rate_limits.l.algorithm: unknown value \"leaky\" (expected token_bucket, "
                                              "sliding_window, fixed_window or concurrency)",
                      at("gw.conf", 17, 52) + "rate_limits.m.burst: only allowed with algorithm: token_bucket",
                      at("gw.conf", 18, 22) + "rate_limits.n.rate: \"2000000/s\" is too fast for token_bucket (at most 1000000/s)",
                      at("gw.conf", 19, 22) + "rate_limits.o.rate: \"20000000/h\": sliding_window counts at most 16777215 "
                                              "requests per window (use a shorter window, fixed_window or token_bucket)",
                      at("gw.conf", 20, 34) + "rate_limits.p.burst: the bucket would take more than a year to refill "
                                              "(lower burst or raise the rate)",
                      at("gw.conf", 21, 40) + "rate_limits.q.missing_key: unknown value \"allow\" (expected skip or limit)",
                      at("gw.conf", 21, 55) + "rate_limits.q.status: 200 is out of range (400..599)",
                      at("gw.conf", 21, 60) + "unknown key \"redis\"",
                      at("gw.conf", 22, 3) + "rate_limits: bad rate limit name \"r s\" (use letters, digits, '_', '.', '-')",
                      at("gw.conf", 23, 12) + "rate_limits.t.key: bad query parameter name \"\" in key",
                      at("gw.conf", 23, 42) + "rate_limits.t.dry_run: expected a boolean (true/false, on/off, yes/no), got \"maybe\"",
                      at("gw.conf", 27, 21) + "routes[0].rate_limit[1]: unknown rate limit \"per-ip\"",
                      at("gw.conf", 27, 29) + "routes[0].rate_limit[2]: rate limit \"a\" is already listed (at " +
                          path("gw.conf") + ":27:18)",
                      at("gw.conf", 28, 28) + "unknown key \"rate_limt\" (did you mean \"rate_limit\"?)",
                      at("gw.conf", 29, 40) + "routes[2].rate_limit: empty list (leave rate_limit out for no limit)",
                  });
}

TEST_F(RateLimitConfig, RedisAndScopeGlobal) {
    write("gw.conf", std::string(kListener) +
                         "redis: {address: 127.0.0.1:6379, timeout: 20ms, connect_timeout: 250ms, pool: 4, nodes: 3}\n"
                         "rate_limits:\n"
                         "  per-user: {key: header:x-user-id, rate: 1000/m, algorithm: sliding_window, scope: global}\n"
                         "  per-ip: {key: ip, rate: 10/s, scope: local}\n"
                         "routes:\n  - {name: api, return: {}, rate_limit: [per-user, per-ip]}\n");
    std::optional<Config> c = load();
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_TRUE(c->redis);
    EXPECT_EQ(c->redis->address, "127.0.0.1:6379");
    EXPECT_EQ(c->redis->sockaddr.ss_family, AF_INET);
    EXPECT_EQ(c->redis->timeout, 20);
    EXPECT_EQ(c->redis->connect_timeout, 250);
    EXPECT_EQ(c->redis->pool, 4u);
    EXPECT_EQ(c->redis->nodes, 3u);
    EXPECT_DOUBLE_EQ(c->redis->share(), 1.0 / 3);
    EXPECT_EQ(rl(*c).policies[0].scope, RateLimitPolicy::Scope::Global);
    EXPECT_EQ(rl(*c).policies[1].scope, RateLimitPolicy::Scope::Local);

    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("redis:\n  address: \"127.0.0.1:6379\"\n  timeout: 20ms\n  connect_timeout: 250ms\n"
                        "  pool: 4\n  nodes: 3\n  # fallback_share: 0.3333333333333333 (1/nodes)\n"),
              std::string::npos)
        << dump;
    EXPECT_NE(dump.find("    algorithm: sliding_window\n    scope: global\n"), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << dump;
    auto body = [](const std::string& s) { return s.substr(s.find("\nworker_processes:")); };
    EXPECT_EQ(body(dump_config(*again)), body(dump));

    // Defaults; a share instead of a node count; a unix socket.
    write("gw.conf", std::string(kListener) + "redis: {address: \"unix:/run/redis.sock\", fallback_share: 25%}\n");
    c = load();
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->redis->sockaddr.ss_family, AF_UNIX);
    EXPECT_EQ(c->redis->timeout, 50);
    EXPECT_EQ(c->redis->connect_timeout, 1000);
    EXPECT_EQ(c->redis->pool, 2u);
    EXPECT_EQ(c->redis->nodes, 1u);
    EXPECT_DOUBLE_EQ(c->redis->share(), 0.25);
    dump = dump_config(*c);
    EXPECT_NE(dump.find("  pool: 2\n  fallback_share: 0.25\n"), std::string::npos) << dump;
    write("dumped.conf", dump);
    EXPECT_TRUE(load("dumped.conf")) << ::testing::PrintToString(errors()) << dump;

    write("gw.conf", kListener);
    c = load();
    ASSERT_TRUE(c);
    EXPECT_FALSE(c->redis);
    EXPECT_NE(dump_config(*c).find("# redis: not set\n"), std::string::npos);
}

TEST_F(RateLimitConfig, FallbackLocalOrDeny) {
    write("gw.conf", std::string(kListener) +
                         "redis: {address: 127.0.0.1:6379}\n"
                         "rate_limits:\n"
                         "  login: {key: ip, rate: 10/m, scope: global, fallback: deny}\n"
                         "  user: {key: header:x-user, rate: 10/m, scope: global}\n"
                         "  near: {key: ip, rate: 10/m}\n"
                         "routes:\n  - {name: api, return: {}, rate_limit: [login, user, near]}\n");
    std::optional<Config> c = load();
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(rl(*c).policies[0].fallback, RateLimitPolicy::Fallback::Deny);
    EXPECT_EQ(rl(*c).policies[1].fallback, RateLimitPolicy::Fallback::Local);
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("    dry_run: false\n    fallback: deny\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    dry_run: false\n    fallback: local\n"), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << dump;
    EXPECT_EQ(rl(*again).policies[0].fallback, RateLimitPolicy::Fallback::Deny);

    expect_errors(std::string(kListener) +                                          // 1-2
                      "redis: {address: 127.0.0.1:6379}\n"                         // 3
                      "rate_limits:\n"                                             // 4
                      "  a: {key: ip, rate: 1/s, fallback: deny}\n"                // 5
                      "  b: {key: ip, rate: 1/s, scope: global, fallback: open}\n",  // 6
                  {
                      at("gw.conf", 5, 37) + "rate_limits.a.fallback: only for scope: global (a local policy "
                                             "never waits for Redis)",
                      at("gw.conf", 6, 52) + "rate_limits.b.fallback: unknown value \"open\" (expected local or deny)",
                  });
}

TEST_F(RateLimitConfig, RedisErrors) {
    expect_errors(std::string(kListener) +                                              // 1-2
                      "redis:\n"                                                        // 3
                      "  timeout: 0ms\n"                                                // 4
                      "  connect_timeout: 2m\n"                                         // 5
                      "  pool: 0\n"                                                     // 6
                      "  nodes: 2\n"                                                    // 7
                      "  fallback_share: 0.5\n"                                         // 8
                      "  sentinel: x\n",                                                // 9
                  {
                      at("gw.conf", 4, 3) + "redis: missing required key \"address\"",
                      at("gw.conf", 4, 12) + "redis.timeout: 0ms is out of range (1ms..1m)",
                      at("gw.conf", 5, 20) + "redis.connect_timeout: 2m is out of range (1ms..1m)",
                      at("gw.conf", 6, 9) + "redis.pool: 0 is out of range (1..64)",
                      at("gw.conf", 8, 19) + "redis.fallback_share: give nodes (the share is then 1/nodes) or "
                                             "fallback_share, not both",
                      at("gw.conf", 9, 3) + "unknown key \"sentinel\"",
                  });
    expect_errors(std::string(kListener) +
                      "redis: {address: 127.0.0.1, fallback_share: 0}\n",  // 3
                  {
                      at("gw.conf", 3, 18) + "redis.address: server address \"127.0.0.1\" has no port (expected "
                                             "IP:PORT, [IPv6]:PORT, HOST:PORT or unix:/PATH)",
                      at("gw.conf", 3, 45) + "redis.fallback_share: must be more than 0 (the part of each limit a "
                                             "node allows on its own)",
                  });
}

TEST_F(RateLimitConfig, UnknownPolicySuggestsTheNearestName) {
    expect_errors(std::string(kListener) +
                      "rate_limits:\n"
                      "  per-user: {key: header:x-user, rate: 10/m}\n"
                      "upstreams:\n"
                      "  app: {servers: [{address: 127.0.0.1:9001}]}\n"
                      "routes:\n"
                      "  - name: api\n"
                      "    upstream: app\n"
                      "    rate_limit: per-usr\n",
                  {at("gw.conf", 10, 17) + "routes[0].rate_limit: unknown rate limit \"per-usr\" (did you mean \"per-user\"?)"});
}

TEST_F(RateLimitConfig, PoliciesFromIncludes) {
    write("gw.conf", std::string("include: conf.d/*.conf\n") + kListener +
                         "rate_limits:\n  a: {key: ip, rate: 1/s}\n"
                         "routes:\n  - {name: r, return: {}, rate_limit: [b, a]}\n");
    write("conf.d/b.conf", "rate_limits:\n  b: {key: ip, rate: 2/s}\n");
    std::optional<Config> c = load();
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(rl(*c).policies.size(), 2u);
    EXPECT_EQ(rl(*c).route(0), (std::vector<int>{1, 0}));
    write("conf.d/c.conf", "rate_limits:\n  a: {key: ip, rate: 3/s}\n");
    EXPECT_FALSE(load());
    EXPECT_EQ(errors(), (std::vector<std::string>{at("conf.d/c.conf", 2, 3) + "duplicate rate limit \"a\" (first defined at " +
                                                   path("gw.conf") + ":5:3)"}));
}

}  // namespace
}  // namespace gw
