// Rate limits of scope global against a real redis-server (started here on a free loopback port):
// the Lua script's arithmetic, call by call, against the local algorithms of table.cc on the same
// times (the script takes an injected time for this); all or nothing over several policies; keys
// that expire when idle; and the worker's limiter: decisions that wait for Redis without
// blocking, the local fallback share while Redis is away or stalled, NOSCRIPT, cancellation.
#include <hiredis/hiredis.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filter_harness.h"
#include "modules/ratelimit/filter.h"

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/redis/client.h"
#include "core/services/registry.h"
#include "core/shm/zone.h"
#include "modules/ratelimit/global.h"
#include "modules/ratelimit/limiter.h"
#include "redis_server.h"

using gw::event::Loop;
using gw::ratelimit::Algorithm;
using gw::ratelimit::Decision;
using gw::ratelimit::Params;
using gw::redis::Client;
using gw::redis::Result;
using gw::redis_test::free_port;
using gw::redis_test::have_redis_server;
using gw::redis_test::RedisServer;
using gw::redis_test::run_until;

namespace gl = gw::ratelimit::global;

namespace {

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kT0us = 1700000000000000ull;  // about Nov 2023, in microseconds of Unix time

struct Reply : gw::redis::Waiter {
    bool done = false;
    Result result = Result::Down;
    std::vector<Decision> decisions;
    std::string text;  // a string, status or error reply
    long long integer = 0;
    size_t n = 0;
    Loop* loop = nullptr;  // stopped by the reply
    void on_redis_reply(Result r, const redisReply* reply) override {
        done = true;
        if (loop) loop->stop();
        result = r;
        decisions.assign(n, Decision{});
        if (reply && reply->str) text.assign(reply->str, reply->len);
        if (reply && reply->type == REDIS_REPLY_INTEGER) integer = reply->integer;
        if (n && !gl::parse_reply(reply, n, decisions.data())) decisions.clear();
    }
};

class RedisRateLimit : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!have_redis_server()) GTEST_SKIP() << "redis-server is not installed (make test installs it)";
        server_ = std::make_unique<RedisServer>(free_port());
        ASSERT_TRUE(server_->start()) << "cannot start redis-server";
        gw::redis::Options o;
        o.port = server_->port();
        o.command_timeout = 1000;
        client_ = std::make_unique<Client>(loop_, o);
        client_->add_script(&gl::script());
        client_->start();
        ASSERT_TRUE(run_until(loop_, [&] { return client_->up(); }, 3000)) << client_->last_error();
    }

    struct Item {
        std::string key;
        Params params;
        bool dry_run = false;
    };

    // One script call at `now_us`; its decisions (empty when the reply was not one).
    std::vector<Decision> call(const std::vector<Item>& items, uint64_t now_us) {
        call_.clear(now_us);
        for (const Item& it : items) {
            call_.key() = it.key;
            call_.add_policy(it.params, it.dry_run);
        }
        Reply r;
        r.n = items.size();
        r.loop = &loop_;
        if (!client_->eval(gl::script(), call_.keys(), call_.args(), &r)) return {};
        gw::event::Timer give_up([&] { loop_.stop(); });
        loop_.arm(give_up, 3000);
        loop_.run();
        EXPECT_TRUE(r.done);
        EXPECT_EQ(r.result, Result::Ok) << r.text;
        return r.decisions;
    }

    Reply command(std::vector<std::string_view> argv) {
        Reply r;
        EXPECT_NE(client_->submit(argv, &r), nullptr);
        EXPECT_TRUE(run_until(loop_, [&] { return r.done; }, 3000));
        return r;
    }

    // Drives one key through `steps` requests at random times, with the script and with the
    // local evaluate() side by side, and compares every decision.
    void compare(const Params& p, uint64_t mean_gap_us, int steps, uint32_t seed) {
        std::mt19937_64 rng(seed);
        std::string key = "gw:test:" + std::to_string(seed);
        uint64_t value = 0;  // the local algorithm's state
        uint64_t now_us = kT0us;
        int allowed = 0, rejected = 0;
        for (int i = 0; i < steps; ++i) {
            uint64_t r = rng() % 100;
            // Mostly bursts and short gaps, now and then a long one (up to two periods).
            uint64_t gap = r < 30 ? 0 : r < 99 ? rng() % (2 * mean_gap_us + 1) : rng() % (p.period_ns / 500);
            if (p.windowed()) gap -= gap % 1000;  // windows count in milliseconds in the script
            now_us += gap;
            uint64_t next = 0;
            Decision local = gw::ratelimit::evaluate(p, value, now_us * 1000, &next);
            std::vector<Decision> got = call({{key, p}}, now_us);
            ASSERT_EQ(got.size(), 1u) << "step " << i;
            const Decision& d = got[0];
            std::string where = "step " + std::to_string(i) + " at +" + std::to_string(now_us - kT0us) + " us";
            ASSERT_EQ(d.allowed, local.allowed) << where;
            EXPECT_EQ(d.remaining, local.remaining) << where;
            EXPECT_EQ(d.reset_ns, local.reset_ns) << where;
            if (p.algorithm == Algorithm::SlidingWindow && !d.allowed) {
                // In milliseconds in the script: the first whole millisecond that lets one through.
                EXPECT_GE(d.retry_after_ns + 1, local.retry_after_ns) << where;
                EXPECT_LE(d.retry_after_ns, local.retry_after_ns + kMs) << where;
            } else {
                EXPECT_EQ(d.retry_after_ns, local.retry_after_ns) << where;
            }
            if (local.allowed) value = next;
            (local.allowed ? allowed : rejected)++;
        }
        EXPECT_GT(allowed, steps / 10) << "a sequence that tests something";
        EXPECT_GT(rejected, steps / 40) << "a sequence that tests something";
    }

    Loop loop_;
    std::unique_ptr<RedisServer> server_;
    std::unique_ptr<Client> client_;
    gl::Call call_;
};

// The mean gap between requests is a third of the time one request takes to come back, so that
// every sequence has both answers in numbers.
TEST_F(RedisRateLimit, TokenBucketMatchesTheLocalAlgorithm) {
    compare(Params::make("a", Algorithm::TokenBucket, 10, kSec, 5), 30000, 400, 1);
    compare(Params::make("b", Algorithm::TokenBucket, 100, 60 * kSec, 100), 200000, 400, 2);
    compare(Params::make("c", Algorithm::TokenBucket, 3, 3600 * kSec, 10), 400000000, 300, 3);
}

TEST_F(RedisRateLimit, FixedWindowMatchesTheLocalAlgorithm) {
    compare(Params::make("a", Algorithm::FixedWindow, 5, kSec, 0), 70000, 400, 4);
    compare(Params::make("b", Algorithm::FixedWindow, 100, 60 * kSec, 0), 200000, 400, 5);
    compare(Params::make("c", Algorithm::FixedWindow, 7, 86400 * kSec, 0), 4000000000, 300, 6);
}

TEST_F(RedisRateLimit, SlidingWindowMatchesTheLocalAlgorithm) {
    compare(Params::make("a", Algorithm::SlidingWindow, 5, kSec, 0), 70000, 400, 7);
    compare(Params::make("b", Algorithm::SlidingWindow, 10, 60 * kSec, 0), 2000000, 400, 8);
    compare(Params::make("c", Algorithm::SlidingWindow, 100, 3600 * kSec, 0), 12000000, 800, 9);
    // The largest counts a sliding window holds, over the longest period: the products of the
    // comparison stay exact in Lua's doubles.
    Params big = Params::make("d", Algorithm::SlidingWindow, 16777215, 86400 * kSec, 0);
    std::vector<Decision> d = call({{"gw:test:big", big}}, kT0us);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_TRUE(d[0].allowed);
    EXPECT_EQ(d[0].remaining, 16777214u);
}

TEST_F(RedisRateLimit, AllOrNothingAcrossPolicies) {
    Params two = Params::make("two", Algorithm::FixedWindow, 2, 3600 * kSec, 0);
    Params ten = Params::make("ten", Algorithm::FixedWindow, 10, 3600 * kSec, 0);
    Params one = Params::make("one", Algorithm::FixedWindow, 1, 3600 * kSec, 0);
    for (int i = 0; i < 2; ++i) {
        std::vector<Decision> d = call({{"k:two", two}, {"k:ten", ten}}, kT0us);
        ASSERT_EQ(d.size(), 2u);
        EXPECT_TRUE(d[0].allowed && d[1].allowed);
        EXPECT_EQ(d[1].remaining, 9u - i);
    }
    std::vector<Decision> d = call({{"k:two", two}, {"k:ten", ten}}, kT0us);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_FALSE(d[0].allowed);
    EXPECT_TRUE(d[1].allowed) << "the other policy would allow it...";
    d = call({{"k:ten", ten}}, kT0us);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].remaining, 7u) << "...but did not count it: 10 - 2 - this one";

    // A dry-run policy that rejects does not stop the others from counting.
    call({{"k:one", one, true}}, kT0us);
    d = call({{"k:one", one, true}, {"k:ten", ten}}, kT0us);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_FALSE(d[0].allowed);
    EXPECT_TRUE(d[1].allowed);
    EXPECT_EQ(d[1].remaining, 6u);
}

TEST_F(RedisRateLimit, KeysExpireWhenTheirStateIsWorthNothing) {
    Params bucket = Params::make("b", Algorithm::TokenBucket, 10, 60 * kSec, 0);  // a token every 6 s
    Params fixed = Params::make("f", Algorithm::FixedWindow, 10, 60 * kSec, 0);
    Params sliding = Params::make("s", Algorithm::SlidingWindow, 10, 60 * kSec, 0);
    // Redis's own clock this time (no injected time), as the gateway calls it.
    for (int i = 0; i < 3; ++i) call({{"e:b", bucket}, {"e:f", fixed}, {"e:s", sliding}}, 0);
    long long b = command({"PTTL", "e:b"}).integer;
    long long f = command({"PTTL", "e:f"}).integer;
    long long s = command({"PTTL", "e:s"}).integer;
    EXPECT_GT(b, 17000);  // three tokens taken: full again in 18 s
    EXPECT_LE(b, 18000);
    EXPECT_GT(f, 0);  // the end of this minute
    EXPECT_LE(f, 60000);
    EXPECT_GT(s, 60000);  // the end of the next minute
    EXPECT_LE(s, 120000);
}

TEST(RateLimitRedisKeys, PrefixEscapingAndReplies) {
    EXPECT_EQ(gl::key_prefix("per-user", Params::make("per-user", Algorithm::SlidingWindow, 10, 60 * kSec, 0)),
              "gw:rl:per-user:sw/m:");
    EXPECT_EQ(gl::key_prefix("x", Params::make("x", Algorithm::TokenBucket, 10, kSec, 0)), "gw:rl:x:tb/s:");
    EXPECT_EQ(gl::key_prefix("x", Params::make("x", Algorithm::FixedWindow, 10, 86400 * kSec, 0)), "gw:rl:x:fw/d:");
    std::string out;
    gl::append_escaped(out, "a+b%c#d:e");
    EXPECT_EQ(out, "a%2Bb%25c%23d:e");

    gl::Call call;
    call.clear();
    call.key() = "k1";
    call.add_policy(Params::make("x", Algorithm::TokenBucket, 100, 60 * kSec, 20), false);
    call.key() = "k2";
    call.add_policy(Params::make("y", Algorithm::SlidingWindow, 5, 3600 * kSec, 0), true);
    auto keys = call.keys();
    auto args = call.args();
    EXPECT_EQ(std::vector<std::string_view>(keys.begin(), keys.end()), (std::vector<std::string_view>{"k1", "k2"}));
    EXPECT_EQ(std::vector<std::string_view>(args.begin(), args.end()),
              (std::vector<std::string_view>{"", "", "t", "20", "600000", "0", "s", "5", "3600000", "1"}));
    EXPECT_FALSE(gl::parse_reply(nullptr, 1, nullptr));
}

// --- the limiter of a worker, with Redis ----------------------------------------------------------

class GlobalLimiterTest : public RedisRateLimit {
  protected:
    void SetUp() override {
        RedisRateLimit::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        char tmpl[] = "/tmp/gw-rl-redis-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        metrics_zone_ = gw::shm::Zone::create("metrics", 1 << 20, gw::metrics::kLayoutVersion);
        rl_zone_ = gw::shm::Zone::create("ratelimit", 1 << 20, gw::ratelimit::kLayoutVersion);
        ASSERT_TRUE(metrics_zone_ && rl_zone_);
        metrics_ = std::make_unique<gw::metrics::Store>(*metrics_zone_);
    }
    void TearDown() override {
        limiter_.reset();
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    // `shared`: the limiter uses the worker's shared client (services::Registry::redis()),
    // already connected for another module before the limiter comes.
    void load(const std::string& redis, const std::string& rest, bool shared = false) {
        std::ofstream(dir_ + "/gw.conf") << "listeners:\n  - address: 127.0.0.1:8080\n"
                                         << "redis: {address: 127.0.0.1:" << server_->port() << ", " << redis << "}\n"
                                         << rest;
        gw::Diagnostics diags;
        auto c = gw::load_config(dir_ + "/gw.conf", dir_, diags);
        ASSERT_TRUE(c) << (diags.all().empty() ? "" : diags.all()[0].str());
        config_ = std::make_unique<gw::Config>(std::move(*c));
        gw::redis::Client* client = nullptr;
        if (shared) {
            services_ = std::make_unique<gw::services::Registry>(loop_, *config_);
            client = services_->redis();
            ASSERT_TRUE(run_until(loop_, [&] { return client->up(); }, 3000));
        }
        limiter_ = gw::ratelimit::Limiter::create(*config_, *rl_zone_, *metrics_, &loop_, client);
        ASSERT_TRUE(limiter_);
        ASSERT_TRUE(limiter_->redis());
        ASSERT_TRUE(run_until(loop_, [&] { return limiter_->redis()->up(); }, 3000));
    }

    static void on_decided(void* self) { ++static_cast<GlobalLimiterTest*>(self)->called_; }

    struct Outcome {
        bool waited = false;   // check() returned false: Redis decided
        bool decided = false;  // a verdict is there (at once, or once called back)
        gw::ratelimit::Verdict v;
    };

    // A request with header x-user: `user` on route `route`, decided to the end.
    Outcome check(size_t route, const std::string& user) {
        user_ = user;
        req_.header_count = 1;
        req_.headers[0] = {"x-user", user_};
        gw::ratelimit::RequestInfo info;
        info.request = &req_;
        info.ip = "10.0.0.1";
        Outcome o;
        int before = called_;
        gw::ratelimit::Check* pending = nullptr;
        bool now = limiter_->check(*limiter_->route(route), info, 1000 * kSec, o.v, {&GlobalLimiterTest::on_decided, this}, &pending);
        o.waited = !now;
        EXPECT_EQ(now, pending == nullptr);
        if (now) {
            o.decided = true;
        } else {
            o.decided = run_until(loop_, [&] { return called_ > before; }, 3000);
            EXPECT_EQ(called_, before + 1);
        }
        return o;
    }

    uint64_t metric(const std::string& series) {
        std::string out;
        metrics_->render(out);
        size_t at = out.find("\n" + series + " ");
        return at == std::string::npos ? 0 : std::stoull(out.substr(at + series.size() + 2));
    }
    uint64_t decisions(const std::string& policy, const std::string& result) {
        return metric("gateway_ratelimit_decisions_total{policy=\"" + policy + "\",result=\"" + result + "\"}");
    }

    std::string dir_;
    std::unique_ptr<gw::shm::Zone> metrics_zone_, rl_zone_;
    std::unique_ptr<gw::metrics::Store> metrics_;
    std::unique_ptr<gw::Config> config_;
    std::unique_ptr<gw::services::Registry> services_;  // outlives the limiter, as in a worker
    std::unique_ptr<gw::ratelimit::Limiter> limiter_;
    gw::http::Request req_;
    std::string user_;
    int called_ = 0;
};

constexpr const char* kPolicies =
    "rate_limits:\n"
    "  g: {key: header:x-user, rate: 6/h, algorithm: fixed_window, scope: global}\n"
    "  l: {key: ip, rate: 100/h}\n"
    "routes:\n"
    "  - {name: both, return: {}, rate_limit: [g, l]}\n"
    "  - {name: local, return: {}, rate_limit: l}\n";

TEST_F(GlobalLimiterTest, RedisDecidesAndAGlobalRejectionCountsNothingLocally) {
    load("timeout: 1s, nodes: 3", kPolicies);
    EXPECT_EQ(metric("gateway_redis_up"), 1u);
    for (int i = 0; i < 6; ++i) {
        Outcome o = check(0, "ann");
        EXPECT_TRUE(o.waited && o.decided);
        EXPECT_FALSE(o.v.rejected) << i;
        EXPECT_EQ(o.v.limit, 6u) << "the most restrictive: the global one";
        EXPECT_EQ(o.v.remaining, 5u - i);
    }
    for (int i = 0; i < 3; ++i) {
        Outcome o = check(0, "ann");
        EXPECT_TRUE(o.waited && o.v.rejected);
        EXPECT_EQ(o.v.status, 429);
        EXPECT_GE(o.v.retry_after_s, 1u);
    }
    EXPECT_EQ(decisions("g", "allowed"), 6u);
    EXPECT_EQ(decisions("g", "rejected"), 3u);
    EXPECT_EQ(decisions("l", "allowed"), 6u);
    Outcome o = check(1, "ann");
    EXPECT_FALSE(o.waited) << "a route with only local policies never waits";
    EXPECT_EQ(o.v.remaining, 100u - 6 - 1) << "the 3 rejected by redis were given back to the local policy";
    std::string key = "gw:rl:g:fw/h:ann";
    EXPECT_EQ(command({"EXISTS", key}).integer, 1);

    // Redis forgets the script (SCRIPT FLUSH): the next call loads it again, still decided by Redis.
    command({"SCRIPT", "FLUSH"});
    o = check(0, "bob");
    EXPECT_TRUE(o.waited && !o.v.rejected);
    EXPECT_EQ(decisions("g", "allowed"), 7u);
    EXPECT_EQ(decisions("g", "fallback_allowed"), 0u);
}

// The worker's shared client (services::Registry): the limiter adds its script to a client that
// is connected already, is counted in gateway_redis_up at once, hears Redis come and go beside the
// client's other users, and leaves the client open when it goes.
TEST_F(GlobalLimiterTest, OnTheWorkersSharedClient) {
    load("timeout: 1s", kPolicies, true);
    gw::redis::Client* shared = services_->redis();
    EXPECT_EQ(limiter_->redis(), shared) << "no client of its own";
    EXPECT_EQ(metric("gateway_redis_up"), 1u);
    int other_changes = 0;
    auto count = [](void* n, bool) { ++*static_cast<int*>(n); };
    gw::redis::Client::StateCallback other = count;
    shared->add_state_listener(other, &other_changes);
    Outcome o = check(0, "dan");
    EXPECT_TRUE(o.waited && o.decided && !o.v.rejected) << "decided by redis, with the script added late";
    EXPECT_EQ(decisions("g", "allowed"), 1u);

    server_->stop();
    ASSERT_TRUE(run_until(loop_, [&] { return !shared->up(); }, 2000));
    EXPECT_EQ(metric("gateway_redis_up"), 0u);
    EXPECT_FALSE(check(0, "dan").waited) << "decided locally meanwhile";
    ASSERT_TRUE(server_->start());
    ASSERT_TRUE(run_until(loop_, [&] { return shared->up(); }, 5000));
    EXPECT_EQ(metric("gateway_redis_up"), 1u);
    EXPECT_EQ(other_changes, 2) << "the other user heard both changes";
    EXPECT_TRUE(check(0, "dan").waited) << "the script is loaded again on the new connection";

    limiter_.reset();
    EXPECT_EQ(metric("gateway_redis_up"), 0u) << "this worker's count goes with the limiter";
    EXPECT_TRUE(shared->up()) << "the shared client stays open for its other users";
    EXPECT_EQ(other_changes, 2);
    shared->remove_state_listener(other, &other_changes);
}

TEST_F(GlobalLimiterTest, LocalRejectionCostsNoRoundTrip) {
    load("", "rate_limits:\n"
             "  g: {key: header:x-user, rate: 100/h, scope: global}\n"
             "  l: {key: ip, rate: 2/h}\n"
             "routes:\n  - {name: both, return: {}, rate_limit: [g, l]}\n");
    EXPECT_TRUE(check(0, "ann").waited);
    EXPECT_TRUE(check(0, "ann").waited);
    Outcome o = check(0, "ann");
    EXPECT_FALSE(o.waited);
    EXPECT_TRUE(o.v.rejected);
    EXPECT_EQ(decisions("g", "allowed"), 2u);
    EXPECT_EQ(decisions("g", "rejected"), 0u);
    EXPECT_EQ(decisions("l", "rejected"), 1u);
}

TEST_F(GlobalLimiterTest, FallbackShareWhileRedisIsDownThenBack) {
    load("timeout: 1s, nodes: 3", kPolicies);
    server_->stop();
    ASSERT_TRUE(run_until(loop_, [&] { return !limiter_->redis()->up(); }, 2000));
    EXPECT_EQ(metric("gateway_redis_up"), 0u);
    // 6/h shared by 3 nodes: 2 for this node alone, decided at once.
    for (int i = 0; i < 3; ++i) {
        Outcome o = check(0, "carl");
        EXPECT_FALSE(o.waited);
        EXPECT_EQ(o.v.rejected, i == 2) << i;
        EXPECT_EQ(o.v.limit, 2u) << "the node's share";
    }
    EXPECT_EQ(decisions("g", "fallback_allowed"), 2u);
    EXPECT_EQ(decisions("g", "fallback_rejected"), 1u);
    EXPECT_EQ(decisions("g", "allowed"), 0u);
    EXPECT_EQ(decisions("l", "allowed"), 2u) << "the fallback rejection gave the local count back";

    ASSERT_TRUE(server_->start());  // a new, empty redis on the same port
    ASSERT_TRUE(run_until(loop_, [&] { return limiter_->redis()->up(); }, 5000)) << "reconnected with back-off";
    EXPECT_EQ(metric("gateway_redis_up"), 1u);
    for (int i = 0; i < 7; ++i) {
        Outcome o = check(0, "carl");
        EXPECT_TRUE(o.waited);
        EXPECT_EQ(o.v.rejected, i == 6) << i;
    }
    EXPECT_EQ(decisions("g", "allowed"), 6u);
    EXPECT_EQ(decisions("g", "fallback_allowed"), 2u);
}

TEST_F(GlobalLimiterTest, StalledRedisTimesOutIntoTheFallbackThenDecidesAtOnce) {
    load("timeout: 100ms, pool: 3, fallback_share: 50%", kPolicies);
    server_->pause();
    gw::event::Millis t0 = loop_.update_time();
    Outcome o = check(0, "dan");
    gw::event::Millis took = loop_.update_time() - t0;
    EXPECT_TRUE(o.waited && o.decided);
    EXPECT_FALSE(o.v.rejected);
    EXPECT_GE(took, 90);
    EXPECT_LT(took, 1000);
    EXPECT_EQ(decisions("g", "fallback_allowed"), 1u);
    EXPECT_FALSE(limiter_->redis()->up()) << "a timeout marks the client down";
    for (int i = 0; i < 3; ++i) {
        o = check(0, "dan");
        EXPECT_FALSE(o.waited) << "known down: decided at once";
        EXPECT_EQ(o.v.rejected, i == 2) << "3 of 6/h is this node's share";
    }
    EXPECT_EQ(decisions("g", "fallback_allowed"), 3u);
    EXPECT_EQ(decisions("g", "fallback_rejected"), 1u);
    server_->resume();
}

// A call that runs in Redis after its deadline (the gateway has stopped waiting and decided
// locally) counts nothing and says so.
TEST_F(RedisRateLimit, ACallPastItsDeadlineCountsNothing) {
    Params p = Params::make("late", Algorithm::FixedWindow, 10, 3600 * kSec, 0);
    for (int64_t deadline : {int64_t{1}, client_->deadline_us()}) {
        call_.clear(0, deadline);
        call_.key() = "late:k";
        call_.add_policy(p, false);
        Reply r;
        r.loop = &loop_;
        ASSERT_NE(client_->eval(gl::script(), call_.keys(), call_.args(), &r), nullptr);
        ASSERT_TRUE(run_until(loop_, [&] { return r.done; }, 3000));
        ASSERT_EQ(r.result, Result::Ok) << r.text;
        if (deadline == 1) {
            EXPECT_EQ(r.integer, -1) << "past the deadline: refused";
            EXPECT_EQ(command({"EXISTS", "late:k"}).integer, 0) << "and nothing counted";
        } else {
            EXPECT_EQ(r.integer, 0) << "in time: an array of decisions";
            EXPECT_EQ(command({"EXISTS", "late:k"}).integer, 1) << "counted";
        }
    }
}

TEST_F(GlobalLimiterTest, FallbackDenyAnswers503WhileRedisIsAway) {
    load("timeout: 1s, nodes: 2",
         "rate_limits:\n"
         "  g: {key: header:x-user, rate: 6/h, scope: global, fallback: deny}\n"
         "  s: {key: header:x-user, rate: 6/h, scope: global}\n"
         "  l: {key: ip, rate: 100/h}\n"
         "  dd: {key: header:x-user, rate: 6/h, scope: global, fallback: deny, dry_run: true}\n"
         "  s2: {key: header:x-user, rate: 6/h, scope: global}\n"
         "routes:\n"
         "  - {name: deny, return: {}, rate_limit: [l, s, g]}\n"
         "  - {name: local, return: {}, rate_limit: l}\n"
         "  - {name: dry, return: {}, rate_limit: [dd, s2]}\n");
    Outcome o = check(0, "fay");
    EXPECT_TRUE(o.waited && !o.v.rejected) << "decided by redis while it is there";
    server_->stop();
    ASSERT_TRUE(run_until(loop_, [&] { return !limiter_->redis()->up(); }, 2000));
    for (int i = 0; i < 3; ++i) {
        o = check(0, "fay");
        EXPECT_FALSE(o.waited);
        EXPECT_TRUE(o.v.rejected);
        EXPECT_EQ(o.v.status, 503) << "fail closed: the limit cannot be checked";
        EXPECT_EQ(o.v.retry_after_s, 1u);
        EXPECT_EQ(o.v.body, "{\"status\":503,\"error\":\"rate limit unavailable\"}\n");
    }
    EXPECT_EQ(decisions("g", "fallback_rejected"), 3u);
    EXPECT_EQ(decisions("s", "fallback_allowed"), 0u) << "a denied request counts in no other policy";
    EXPECT_EQ(check(1, "fay").v.remaining, 100u - 1 - 1) << "nor in the local one: only the first request counted";
    // A dry run of fallback: deny only says what it would have done.
    o = check(2, "gus");
    EXPECT_FALSE(o.v.rejected);
    EXPECT_EQ(o.v.limit, 3u) << "s2's share (nodes: 2) decided it";
    EXPECT_EQ(decisions("dd", "fallback_dry_run_rejected"), 1u);
    EXPECT_EQ(decisions("s2", "fallback_allowed"), 1u);
}

TEST_F(GlobalLimiterTest, CancelledCheckIsNotCalledBackAndGivesTheLocalCountBack) {
    load("timeout: 1s", kPolicies);
    user_ = "eve";
    req_.header_count = 1;
    req_.headers[0] = {"x-user", user_};
    gw::ratelimit::RequestInfo info;
    info.request = &req_;
    info.ip = "10.0.0.1";
    gw::ratelimit::Verdict v;
    gw::ratelimit::Check* pending = nullptr;
    ASSERT_FALSE(limiter_->check(*limiter_->route(0), info, 1000 * kSec, v, {&GlobalLimiterTest::on_decided, this}, &pending));
    ASSERT_NE(pending, nullptr);
    limiter_->cancel(pending);
    run_until(loop_, [] { return false; }, 100);
    EXPECT_EQ(called_, 0);
    Outcome o = check(1, "eve");
    EXPECT_EQ(o.v.remaining, 99u) << "the cancelled request's local count was given back";
    EXPECT_EQ(decisions("g", "allowed"), 0u);
}

}  // namespace

// The filter of a route with a global policy pauses while Redis decides, and resumes (or
// answers) when it has; a stream ended while it waits cancels the call and hears nothing.
TEST_F(GlobalLimiterTest, AsAFilterPausesWhileRedisDecides) {
    load("pool: 1", kPolicies);  // one connection: replies come in the order of the calls
    gw::ratelimit::RateLimitFilter filter(*limiter_, *limiter_->route(0));
    gw::http::FilterChain chain;
    ASSERT_TRUE(chain.add(&filter));
    gw::test::FilterHarness h;
    ASSERT_TRUE(h.set_request("GET / HTTP/1.1\r\nHost: x\r\nX-User: zed\r\n\r\n"));
    for (int i = 0; i < 6; ++i) {
        ASSERT_EQ(h.run(chain), gw::http::FilterStatus::Pause) << i;
        ASSERT_TRUE(run_until(loop_, [&] { return h.resumed() == i + 1; }, 3000)) << i;
        EXPECT_EQ(h.reply_status(), 0) << i;
    }
    ASSERT_EQ(h.run(chain), gw::http::FilterStatus::Pause);
    ASSERT_TRUE(run_until(loop_, [&] { return h.resumed() == 7; }, 3000));
    EXPECT_EQ(h.reply_status(), 429) << "the seventh of 6/h";
    EXPECT_NE(h.response_headers(429).find("retry-after: "), std::string::npos);

    ASSERT_EQ(h.run(chain), gw::http::FilterStatus::Pause);
    h.end();  // the client leaves while Redis decides
    // The next call's answer comes after the cancelled one's (one connection).
    ASSERT_TRUE(h.set_request("GET / HTTP/1.1\r\nHost: x\r\nX-User: amy\r\n\r\n"));
    ASSERT_EQ(h.run(chain), gw::http::FilterStatus::Pause);
    ASSERT_TRUE(run_until(loop_, [&] { return h.resumed() >= 8; }, 3000));
    EXPECT_EQ(h.resumed(), 8) << "a cancelled decision calls nobody back";
    EXPECT_EQ(h.reply_status(), 0);
}

// A concurrency policy beside a global one: a request Redis rejects, or whose client leaves
// while Redis decides, gives back the request in flight it was counted as; one the concurrency
// limit rejects costs no round trip.
TEST_F(GlobalLimiterTest, ConcurrencyBesideAGlobalPolicy) {
    load("timeout: 1s",
         "rate_limits:\n"
         "  c: {key: ip, algorithm: concurrency, limit: 1}\n"
         "  g: {key: header:x-user, rate: 1/h, algorithm: fixed_window, scope: global}\n"
         "routes:\n"
         "  - {name: both, return: {}, rate_limit: [c, g]}\n");
    Outcome ann = check(0, "ann");
    ASSERT_TRUE(ann.waited && ann.decided);
    EXPECT_FALSE(ann.v.rejected);
    EXPECT_EQ(ann.v.lease_count, 1u) << "ann's request is in flight";
    Outcome bob = check(0, "bob");
    EXPECT_FALSE(bob.waited) << "the concurrency limit rejects at once";
    EXPECT_TRUE(bob.v.rejected);
    EXPECT_EQ(bob.v.retry_after_s, 0u);
    limiter_->release(ann.v);  // ann's request ends

    Outcome again = check(0, "ann");  // the global limit rejects this one
    EXPECT_TRUE(again.waited && again.v.rejected);
    EXPECT_EQ(again.v.lease_count, 0u);
    bob = check(0, "bob");
    EXPECT_TRUE(bob.waited);
    EXPECT_FALSE(bob.v.rejected) << "the request Redis rejected gave its place back";
    limiter_->release(bob.v);

    // The client leaves while Redis decides.
    user_ = "cid";
    req_.header_count = 1;
    req_.headers[0] = {"x-user", user_};
    gw::ratelimit::RequestInfo info;
    info.request = &req_;
    info.ip = "10.0.0.1";
    gw::ratelimit::Verdict v;
    gw::ratelimit::Check* pending = nullptr;
    ASSERT_FALSE(limiter_->check(*limiter_->route(0), info, 1000 * kSec, v, {&GlobalLimiterTest::on_decided, this}, &pending));
    limiter_->cancel(pending);
    Outcome dan = check(0, "dan");
    EXPECT_TRUE(dan.waited);
    EXPECT_FALSE(dan.v.rejected) << "the cancelled request gave its place back";
    limiter_->release(dan.v);
}
