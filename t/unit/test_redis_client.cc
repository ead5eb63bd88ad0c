// The Redis client against a real redis-server (started here on a free loopback port): commands
// and EVALSHA through our event loop, NOSCRIPT recovery, a stalled server (SIGSTOP) answered by
// timeouts that mark the client down at once, a killed and restarted server, reconnection; and
// what sharing it between modules needs: several state listeners, scripts added once connected.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/redis/client.h"
#include "redis_server.h"

using gw::event::Loop;
using gw::event::Timer;
using gw::redis::Client;
using gw::redis::Options;
using gw::redis::Result;
using gw::redis::Script;
using gw::redis::Waiter;

namespace {

using gw::redis_test::free_port;
using gw::redis_test::have_redis_server;
using gw::redis_test::RedisServer;
using gw::redis_test::run_until;

struct Collect : Waiter {
    std::vector<Result> results;
    std::vector<std::string> texts;  // reply as text: status/string/error text, integer
    void on_redis_reply(Result r, const redisReply* reply) override {
        results.push_back(r);
        std::string t;
        if (reply) {
            if (reply->type == REDIS_REPLY_INTEGER) t = std::to_string(reply->integer);
            else if (reply->str) t.assign(reply->str, reply->len);
        }
        texts.push_back(t);
    }
};

class RedisClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!have_redis_server()) GTEST_SKIP() << "redis-server is not installed (make test installs it)";
        port_ = free_port();
        server_ = std::make_unique<RedisServer>(port_);
        ASSERT_TRUE(server_->start()) << "cannot start redis-server on port " << port_;
    }
    Options options() {
        Options o;
        o.port = port_;
        o.command_timeout = 100;
        o.min_backoff = 20;
        o.max_backoff = 200;
        return o;
    }
    Loop loop_;
    uint16_t port_ = 0;
    std::unique_ptr<RedisServer> server_;
};

std::vector<std::string_view> args(std::initializer_list<std::string_view> a) { return a; }

}  // namespace

TEST_F(RedisClientTest, CommandsRunThroughOurLoop) {
    Client c(loop_, options());
    EXPECT_FALSE(c.up());
    Collect w;
    auto set = args({"SET", "k", "v"});
    EXPECT_EQ(c.submit(set, &w), nullptr) << "refused while not connected";
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000)) << c.last_error();
    ASSERT_NE(c.submit(set, &w), nullptr);
    auto get = args({"GET", "k"});
    ASSERT_NE(c.submit(get, &w), nullptr);
    auto incr = args({"INCRBY", "n", "41"});
    ASSERT_NE(c.submit(incr, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 3; }, 2000));
    EXPECT_EQ(w.texts, (std::vector<std::string>{"OK", "v", "41"}));
    EXPECT_EQ(c.connects(), 1u);
}

TEST_F(RedisClientTest, EvalShaReloadsTheScriptAfterNoscript) {
    Script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    EXPECT_EQ(script.sha1.size(), 40u);
    Options o = options();
    o.pool = 2;
    Client c(loop_, o);
    c.add_script(&script);
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000)) << c.last_error();
    Collect w;
    auto keys = args({"counter"});
    auto a5 = args({"5"});
    ASSERT_NE(c.eval(script, keys, a5, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 1; }, 2000));
    EXPECT_EQ(w.texts[0], "5");

    // Redis forgets every script (as after a restart without persistence).
    auto flush = args({"SCRIPT", "FLUSH"});
    ASSERT_NE(c.submit(flush, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 2; }, 2000));
    auto a7 = args({"7"});
    ASSERT_NE(c.eval(script, keys, a7, &w), nullptr);
    ASSERT_NE(c.eval(script, keys, a7, &w), nullptr);  // on the other pooled connection
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 4; }, 2000));
    EXPECT_EQ(w.results[2], Result::Ok);
    EXPECT_EQ(w.results[3], Result::Ok);
    // The two connections run in either order: the counter went 5 -> 12 -> 19 either way.
    std::vector<std::string> got = {w.texts[2], w.texts[3]};
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::string>{"12", "19"}))
        << "NOSCRIPT was answered by loading the script and repeating the call";
}

TEST_F(RedisClientTest, StalledServerTimesOutAndIsDownAtOnce) {
    Client c(loop_, options());
    bool last_state = false;
    int changes = 0;
    c.add_state_listener([](void* ctx, bool) { ++*static_cast<int*>(ctx); }, &changes);
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000));
    server_->pause();
    Collect w;
    auto ping = args({"PING"});
    gw::event::Millis t0 = loop_.update_time();
    ASSERT_NE(c.submit(ping, &w), nullptr);
    ASSERT_NE(c.submit(ping, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 2; }, 2000));
    gw::event::Millis took = loop_.update_time() - t0;
    EXPECT_EQ(w.results[0], Result::Timeout);
    EXPECT_EQ(w.results[1], Result::Down) << "the other command on the closed connection is answered at once";
    EXPECT_GE(took, 90);
    EXPECT_LT(took, 1000);
    EXPECT_FALSE(c.up()) << "known down: callers decide without waiting";
    EXPECT_EQ(c.submit(ping, &w), nullptr);
    EXPECT_EQ(c.timeouts(), 1u);

    server_->resume();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 3000)) << "reconnected with back-off";
    ASSERT_NE(c.submit(ping, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 3; }, 2000));
    EXPECT_EQ(w.texts[2], "PONG");
    EXPECT_EQ(changes, 3) << "up, down, up";
    (void)last_state;
}

TEST_F(RedisClientTest, OneTimeoutTakesTheWholePoolDown) {
    Options o = options();
    o.pool = 3;
    Client c(loop_, o);
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000));
    run_until(loop_, [] { return false; }, 100);  // all three connected
    server_->pause();
    Collect w;
    auto ping = args({"PING"});
    ASSERT_NE(c.submit(ping, &w), nullptr);
    ASSERT_NE(c.submit(ping, &w), nullptr);  // on the next connection
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 2; }, 2000));
    EXPECT_EQ(w.results[0], Result::Timeout);
    EXPECT_EQ(w.results[1], Result::Down) << "answered at once with the first timeout";
    EXPECT_FALSE(c.up()) << "Redis is as slow on the other connections: no request waits for another timeout";
    EXPECT_EQ(c.timeouts(), 1u);
    server_->resume();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 3000));
}

TEST_F(RedisClientTest, KilledServerThenRestarted) {
    Script script("return 1");
    Client c(loop_, options());
    c.add_script(&script);
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000));
    server_->stop();
    ASSERT_TRUE(run_until(loop_, [&] { return !c.up(); }, 2000)) << "the closed connection is noticed";
    Collect w;
    auto none = args({});
    EXPECT_EQ(c.eval(script, none, none, &w), nullptr);
    // Connection attempts are refused meanwhile, and retried with back-off.
    run_until(loop_, [] { return false; }, 150);
    EXPECT_FALSE(c.up());
    ASSERT_TRUE(server_->start());
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 3000)) << c.last_error();
    ASSERT_NE(c.eval(script, none, none, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 1; }, 2000));
    EXPECT_EQ(w.texts[0], "1");
    EXPECT_EQ(c.connects(), 2u);
}

TEST_F(RedisClientTest, CancelledWaiterIsNotCalled) {
    Client c(loop_, options());
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000));
    Collect gone, kept;
    auto ping = args({"PING"});
    Client::Pending* p = c.submit(ping, &gone);
    ASSERT_NE(p, nullptr);
    c.cancel(p);
    ASSERT_NE(c.submit(ping, &kept), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return kept.results.size() == 1; }, 2000));
    EXPECT_TRUE(gone.results.empty());
}

TEST_F(RedisClientTest, UnreachableServerIsDownWithoutBlocking) {
    server_->stop();
    Options o = options();
    o.connect_timeout = 100;
    Client c(loop_, o);
    c.start();
    run_until(loop_, [] { return false; }, 300);
    EXPECT_FALSE(c.up());
    EXPECT_FALSE(c.last_error().empty());
}

namespace {

struct Changes {
    int ups = 0, downs = 0;
    static void on(void* ctx, bool up) { (up ? static_cast<Changes*>(ctx)->ups : static_cast<Changes*>(ctx)->downs)++; }
};

}  // namespace

// A server that accepts connections but does not answer (stopped: the kernel still completes the
// handshakes): the reconnections are not taken for a recovery, since the first commands of a
// connection have the timeout too. Once it answers, the client is up again.
TEST_F(RedisClientTest, ConnectionThatDoesNotAnswerIsNotUp) {
    Script script("return 1");
    Client c(loop_, options());
    c.add_script(&script);
    Changes ch;
    c.add_state_listener(&Changes::on, &ch);
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000));
    server_->pause();
    Collect w;
    auto ping = args({"PING"});
    ASSERT_NE(c.submit(ping, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 1; }, 2000));
    EXPECT_EQ(w.results[0], Result::Timeout);
    uint64_t connects = c.connects();
    bool ever_up = run_until(loop_, [&] { return c.up(); }, 700);
    EXPECT_FALSE(ever_up) << "a connection whose SCRIPT LOAD and TIME go unanswered is not ready";
    EXPECT_GT(c.connects(), connects) << "it kept trying in the background";
    EXPECT_EQ(ch.ups, 1);
    EXPECT_EQ(ch.downs, 1);
    server_->resume();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 3000)) << c.last_error();
    EXPECT_EQ(ch.ups, 2);
    ASSERT_NE(c.submit(ping, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 2; }, 2000));
    EXPECT_EQ(w.texts[1], "PONG");
}

// The deadline of a command sent now, on Redis's clock: about TIME + the command timeout.
TEST_F(RedisClientTest, DeadlineIsOnRedisClock) {
    Client c(loop_, options());
    EXPECT_EQ(c.deadline_us(), 0) << "unknown before a connection has read TIME";
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000));
    Collect w;
    auto time = args({"TIME"});
    loop_.update_time();
    int64_t deadline = c.deadline_us();
    redisContext* rc = redisConnect("127.0.0.1", port_);
    ASSERT_TRUE(rc && !rc->err);
    auto* reply = static_cast<redisReply*>(redisCommand(rc, "TIME"));
    ASSERT_TRUE(reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2);
    int64_t redis_now = std::stoll(reply->element[0]->str) * 1000000 + std::stoll(reply->element[1]->str);
    freeReplyObject(reply);
    redisFree(rc);
    int64_t ahead = deadline - redis_now;
    EXPECT_GT(ahead, 100000 - 50000) << "the 100 ms timeout, less the probe's round trip at most";
    EXPECT_LE(ahead, 100000);
}

// A Redis that answers the first commands of a new connection and then times out again is not
// retried at the shortest interval each time: the back-off starts afresh only after the client
// has stayed up for max_backoff.
TEST_F(RedisClientTest, BackOffStartsAfreshOnlyAfterStayingUp) {
    Options o = options();
    o.min_backoff = 100;
    o.max_backoff = 800;
    Client c(loop_, o);
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000));
    Collect w;
    auto ping = args({"PING"});
    // Times out; `stalled_ms` later, the first reconnection attempt.
    auto time_out_then_reconnect = [&]() -> gw::event::Millis {
        server_->pause();
        size_t n = w.results.size();
        EXPECT_NE(c.submit(ping, &w), nullptr);
        EXPECT_TRUE(run_until(loop_, [&] { return w.results.size() == n + 1; }, 2000));
        EXPECT_FALSE(c.up());
        gw::event::Millis t0 = loop_.update_time();
        uint64_t connects = c.connects();
        EXPECT_TRUE(run_until(loop_, [&] { return c.connects() > connects; }, 3000));  // the kernel accepts
        gw::event::Millis took = loop_.update_time() - t0;
        server_->resume();
        EXPECT_TRUE(run_until(loop_, [&] { return c.up(); }, 3000));
        return took;
    };
    gw::event::Millis first = time_out_then_reconnect();
    gw::event::Millis second = time_out_then_reconnect();  // up only briefly in between
    EXPECT_GE(first, 90);
    EXPECT_LT(first, 190) << "the shortest back-off";
    EXPECT_GE(second, 190) << "doubled: the reconnection in between did not reset it";
    run_until(loop_, [] { return false; }, 900);  // up for longer than max_backoff
    gw::event::Millis third = time_out_then_reconnect();
    EXPECT_LT(third, 190) << "afresh after staying up";
}

// Several modules share one client: each hears every up/down change, and one that removes itself
// (here from inside its own call) hears no more; the client's own closing is reported to nobody.
TEST_F(RedisClientTest, EveryStateListenerHearsTheChanges) {
    struct Leaving {
        Client* client = nullptr;
        int calls = 0;
        static void on(void* ctx, bool) {
            auto* self = static_cast<Leaving*>(ctx);
            ++self->calls;
            self->client->remove_state_listener(&Leaving::on, self);
        }
    };
    auto c = std::make_unique<Client>(loop_, options());
    Changes a, b;
    Leaving leaving{c.get()};
    c->add_state_listener(&Changes::on, &a);
    c->add_state_listener(&Leaving::on, &leaving);
    c->add_state_listener(&Changes::on, &b);
    c->start();
    ASSERT_TRUE(run_until(loop_, [&] { return c->up(); }, 2000));
    EXPECT_EQ(a.ups, 1);
    EXPECT_EQ(b.ups, 1) << "the listener after one that removed itself is still called";
    EXPECT_EQ(leaving.calls, 1);
    server_->stop();
    ASSERT_TRUE(run_until(loop_, [&] { return !c->up(); }, 2000));
    EXPECT_EQ(a.downs, 1);
    EXPECT_EQ(b.downs, 1);
    EXPECT_EQ(leaving.calls, 1) << "removed: not called again";
    c->remove_state_listener(&Changes::on, &b);
    ASSERT_TRUE(server_->start());
    ASSERT_TRUE(run_until(loop_, [&] { return c->up(); }, 3000)) << c->last_error();
    EXPECT_EQ(a.ups, 2);
    EXPECT_EQ(b.ups, 1);
    c.reset();
    EXPECT_EQ(a.downs, 1) << "closing the client is not a loss of Redis";
}

// A module that starts using a client already connected adds its script then: it is loaded at
// once on the open connection, ahead of the module's first EVALSHA (no NOSCRIPT round trip).
TEST_F(RedisClientTest, ScriptAddedAfterStartIsLoadedOnOpenConnections) {
    Client c(loop_, options());
    c.start();
    ASSERT_TRUE(run_until(loop_, [&] { return c.up(); }, 2000));
    Script script("return 'late'");
    c.add_script(&script);
    struct Exists : Waiter {
        int answer = -1;  // SCRIPT EXISTS: an array of one integer
        void on_redis_reply(Result r, const redisReply* reply) override {
            answer = r == Result::Ok && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1
                         ? static_cast<int>(reply->element[0]->integer)
                         : -2;
        }
    } exists;
    auto ask = args({"SCRIPT", "EXISTS", script.sha1});
    ASSERT_NE(c.submit(ask, &exists), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return exists.answer != -1; }, 2000));
    EXPECT_EQ(exists.answer, 1) << "loaded before the next command on that connection";
    Collect w;
    auto none = args({});
    ASSERT_NE(c.eval(script, none, none, &w), nullptr);
    ASSERT_TRUE(run_until(loop_, [&] { return w.results.size() == 1; }, 2000));
    EXPECT_EQ(w.texts[0], "late");
}
