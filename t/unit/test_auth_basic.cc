// Basic auth's parts without sockets: the crypt thread (real libxcrypt checks, answered on the
// loop, cancelled, bounded), the failure limit by client address, the credentials split and the
// good-check cache.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "event/loop.h"
#include "modules/auth/basic.h"
#include "modules/auth/crypt_worker.h"
#include "redis_server.h"  // run_until

using gw::auth::BasicProvider;
using gw::auth::BasicRuntime;
using gw::auth::CryptWorker;
using gw::auth::FailureLimiter;
using gw::redis_test::run_until;

namespace {

// "secret" as bcrypt (cost 5: fast enough for a unit test) and "s3cret" as sha512-crypt.
const std::string kBcrypt = "$2b$05$ZS/1O./fVtNS4pN0TUgt.uuq.s6T9P9JwmjNu4lKG9JSEgsJswE.u";
const std::string kSha512 =
    "$6$Mv.OZimkDu/pM/f.$U0XSCtqSc/uW3xMeG8dFmJQs/lBkblxFKmpb87iIgsEI8g51aitvqgcgJWAaUqlMwVMSCczB4q3fsAFRuum63.";

struct Outcome {
    int calls = 0;
    bool ok = false;
    static void done(void* self, bool ok) {
        auto* o = static_cast<Outcome*>(self);
        ++o->calls;
        o->ok = ok;
    }
};

TEST(AuthCryptWorker, ChecksOnItsThreadAndAnswersOnTheLoop) {
    gw::event::Loop loop;
    CryptWorker crypt(loop, 8);
    std::string error;
    ASSERT_TRUE(crypt.start(error)) << error;
    Outcome good, bad, sha, sha_bad;
    EXPECT_NE(crypt.submit(kBcrypt, "secret", &Outcome::done, &good), 0u);
    EXPECT_NE(crypt.submit(kBcrypt, "Secret", &Outcome::done, &bad), 0u);
    EXPECT_NE(crypt.submit(kSha512, "s3cret", &Outcome::done, &sha), 0u);
    EXPECT_NE(crypt.submit(kSha512, "s3cret ", &Outcome::done, &sha_bad), 0u);
    EXPECT_EQ(good.calls, 0);  // never from inside submit()
    ASSERT_TRUE(run_until(loop, [&] { return crypt.queued() == 0; }, 5000));
    EXPECT_EQ(good.calls, 1);
    EXPECT_TRUE(good.ok);
    EXPECT_EQ(bad.calls, 1);
    EXPECT_FALSE(bad.ok);
    EXPECT_TRUE(sha.ok);
    EXPECT_FALSE(sha_bad.ok);
}

TEST(AuthCryptWorker, AJunkHashNeverMatches) {
    gw::event::Loop loop;
    CryptWorker crypt(loop, 4);
    std::string error;
    ASSERT_TRUE(crypt.start(error)) << error;
    const std::string empty, junk = "*0";
    Outcome a, b;
    crypt.submit(empty, "", &Outcome::done, &a);
    crypt.submit(junk, "*0", &Outcome::done, &b);
    ASSERT_TRUE(run_until(loop, [&] { return crypt.queued() == 0; }, 5000));
    EXPECT_EQ(a.calls, 1);
    EXPECT_FALSE(a.ok);
    EXPECT_EQ(b.calls, 1);
    EXPECT_FALSE(b.ok);
}

TEST(AuthCryptWorker, CancelledChecksAreNeverAnsweredAndSlotsAreBounded) {
    gw::event::Loop loop;
    CryptWorker crypt(loop, 2);
    std::string error;
    ASSERT_TRUE(crypt.start(error)) << error;
    Outcome a, b, c;
    uint64_t ta = crypt.submit(kBcrypt, "secret", &Outcome::done, &a);
    uint64_t tb = crypt.submit(kBcrypt, "secret", &Outcome::done, &b);
    EXPECT_NE(ta, 0u);
    EXPECT_NE(tb, 0u);
    EXPECT_EQ(crypt.submit(kBcrypt, "secret", &Outcome::done, &c), 0u);  // full
    crypt.cancel(ta);
    ASSERT_TRUE(run_until(loop, [&] { return crypt.queued() == 0; }, 5000));
    EXPECT_EQ(a.calls, 0);
    EXPECT_EQ(b.calls, 1);
    crypt.cancel(ta);  // stale: harmless
    // The slots are free again.
    EXPECT_NE(crypt.submit(kBcrypt, "secret", &Outcome::done, &c), 0u);
    EXPECT_EQ(crypt.submit(kBcrypt, std::string(CryptWorker::kMaxPassword + 1, 'x'), &Outcome::done, &c), 0u);
    ASSERT_TRUE(run_until(loop, [&] { return c.calls == 1; }, 5000));
    EXPECT_TRUE(c.ok);
}

TEST(AuthCryptWorker, AnAnswerMayQueueTheNextCheck) {
    gw::event::Loop loop;
    CryptWorker crypt(loop, 1);
    std::string error;
    ASSERT_TRUE(crypt.start(error)) << error;
    struct Chain {
        CryptWorker* crypt;
        int calls = 0;
        static void done(void* self, bool) {
            auto* ch = static_cast<Chain*>(self);
            if (++ch->calls < 3) {
                EXPECT_NE(ch->crypt->submit(kSha512, "s3cret", &Chain::done, ch), 0u);
            }
        }
    } chain{&crypt};
    ASSERT_NE(crypt.submit(kSha512, "s3cret", &Chain::done, &chain), 0u);
    ASSERT_TRUE(run_until(loop, [&] { return chain.calls == 3; }, 5000));
}

TEST(AuthFailureLimiter, BlocksAfterTheLimitPerAddressThenForgets) {
    FailureLimiter f;
    int64_t t = 1'000'000;
    for (uint32_t i = 0; i + 1 < FailureLimiter::kMaxFailures; ++i) f.failed("192.0.2.1", t + i);
    EXPECT_EQ(f.blocked_for("192.0.2.1", t + 100), 0);
    f.failed("192.0.2.1", t + 100);
    EXPECT_EQ(f.blocked_for("192.0.2.1", t + 100), FailureLimiter::kBlockMs);
    EXPECT_EQ(f.blocked_for("192.0.2.2", t + 100), 0);  // another client is not blocked
    EXPECT_EQ(f.blocked_for("192.0.2.1", t + 100 + FailureLimiter::kBlockMs), 0);
}

TEST(AuthFailureLimiter, FailuresOutsideTheWindowDoNotAddUp) {
    FailureLimiter f;
    int64_t t = 0;
    for (int round = 0; round < 5; ++round) {
        for (uint32_t i = 0; i + 1 < FailureLimiter::kMaxFailures; ++i) f.failed("::1", t);
        t += FailureLimiter::kWindowMs;
    }
    EXPECT_EQ(f.blocked_for("::1", t), 0);
}

TEST(AuthFailureLimiter, StaysBounded) {
    FailureLimiter f;
    for (size_t i = 0; i < FailureLimiter::kMaxClients + 100; ++i) f.failed("10.0.0." + std::to_string(i), 0);
    EXPECT_LE(f.size(), FailureLimiter::kMaxClients);
}

TEST(AuthBasic, SplitsAtTheFirstColon) {
    std::string_view user, password;
    ASSERT_TRUE(BasicRuntime::split("alice:pa:ss", user, password));
    EXPECT_EQ(user, "alice");
    EXPECT_EQ(password, "pa:ss");
    ASSERT_TRUE(BasicRuntime::split("bob:", user, password));
    EXPECT_EQ(password, "");
    EXPECT_FALSE(BasicRuntime::split(":x", user, password));
    EXPECT_FALSE(BasicRuntime::split("nocolon", user, password));
}

TEST(AuthBasic, KnownAndUnknownUsersAndTheCache) {
    BasicProvider p;
    p.name = "ops";
    p.users = {{"alice", kBcrypt}, {"bob", kSha512}};
    FailureLimiter f;
    BasicRuntime rt(p, f);
    const gw::http::Identity* who = nullptr;
    EXPECT_EQ(&rt.hash_for("bob", who), &p.users["bob"]);
    ASSERT_NE(who, nullptr);
    EXPECT_EQ(who->consumer(), "bob");
    EXPECT_EQ(who->provider(), "ops");
    EXPECT_EQ(who->method(), "basic");
    // An unknown user gets a real hash of the file (the same work), and no identity.
    EXPECT_EQ(rt.hash_for("mallory", who), kBcrypt);
    EXPECT_EQ(who, nullptr);

    auto k1 = rt.key("ab", "c"), k2 = rt.key("a", "bc");
    EXPECT_NE(k1, k2);
    EXPECT_EQ(rt.key("ab", "c"), k1);
    rt.hash_for("alice", who);
    EXPECT_EQ(rt.cached(k1, 0), nullptr);
    rt.remember(k1, who, 1000);
    EXPECT_EQ(rt.cached(k1, 1000 + BasicRuntime::kCacheMs - 1), who);
    EXPECT_EQ(rt.cached(k1, 1000 + BasicRuntime::kCacheMs), nullptr);  // expired
    EXPECT_EQ(rt.cached(k2, 1000), nullptr);
    // Bounded.
    for (size_t i = 0; i < BasicRuntime::kCacheEntries + 10; ++i) rt.remember(rt.key("u", std::to_string(i)), who, 2000);
    // (no size accessor needed: remember() keeps at most kCacheEntries; the last one is there)
    EXPECT_EQ(rt.cached(rt.key("u", std::to_string(BasicRuntime::kCacheEntries + 9)), 2000), who);
}

}  // namespace
