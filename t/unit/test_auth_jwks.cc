// Remote key sets (jwks: {url: ...}): the URL reader, the zone's records (a publication bumps
// the version, a reader gets the set whole), and a worker's side of a kid miss - one ask to the
// master per kid_miss_interval, the waiting requests woken by its answer or by their timeout.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/shm/zone.h"
#include "event/loop.h"
#include "modules/auth/config.h"
#include "modules/auth/jwks_url.h"
#include "modules/auth/jwks_worker.h"
#include "modules/auth/jwks_zone.h"
#include "modules/auth/jwt_runtime.h"

namespace gw::auth {
namespace {

// RFC 8037's example Ed25519 public key.
const std::string kSet = R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";

TEST(AuthJwksUrl, TakesAUrlApart) {
    FetchUrl u;
    std::string error;
    ASSERT_TRUE(parse_fetch_url("http://id.example.com/.well-known/jwks.json?v=1#top", u, error)) << error;
    EXPECT_FALSE(u.tls);
    EXPECT_EQ(u.host, "id.example.com");
    EXPECT_EQ(u.host_port, "id.example.com:80");
    EXPECT_EQ(u.target, "/.well-known/jwks.json?v=1");
    ASSERT_TRUE(parse_fetch_url("https://[::1]:8443", u, error)) << error;
    EXPECT_TRUE(u.tls);
    EXPECT_EQ(u.host, "[::1]:8443");
    EXPECT_EQ(u.host_port, "[::1]:8443");
    EXPECT_EQ(u.target, "/");
    ASSERT_TRUE(parse_fetch_url("http://127.0.0.1:9000?x", u, error)) << error;
    EXPECT_EQ(u.target, "/?x");
    EXPECT_EQ(u.host_port, "127.0.0.1:9000");
}

TEST(AuthJwksUrl, RefusesWhatCannotBeSentSafely) {
    FetchUrl u;
    std::string error;
    for (const char* bad : {"ftp://x/", "http://", "http:///x", "http://u:p@x/", "http://x:0/", "http://x:65536/",
                            "http://x:/", "http://x:8o/", "http://[::1/", "http://[::1]x/", "http://x/a b",
                            "http://x/a\r\nHost: y", "http://x/\x80"}) {
        error.clear();
        EXPECT_FALSE(parse_fetch_url(bad, u, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
        EXPECT_EQ(error.find("u:p"), std::string::npos) << "the URL's secrets are not repeated";
    }
}

class AuthJwksZone : public ::testing::Test {
  protected:
    void SetUp() override {
        zone_ = shm::Zone::create("auth-jwks-test", jwks_zone_size(1), kJwksLayoutVersion);
        ASSERT_TRUE(zone_);
        table_ = std::make_unique<JwksTable>(*zone_);
        rec_ = table_->record("remote", "http://127.0.0.1:1/jwks.json");
        ASSERT_NE(rec_, nullptr);
    }
    std::unique_ptr<shm::Zone> zone_;
    std::unique_ptr<JwksTable> table_;
    JwksRecord* rec_ = nullptr;
};

TEST_F(AuthJwksZone, PublicationsBumpTheVersion) {
    std::string json;
    uint64_t version = 7;
    EXPECT_FALSE(table_->read(*rec_, json, version));
    EXPECT_EQ(version, 0u);
    ASSERT_TRUE(table_->publish(*rec_, "{\"keys\":[]}"));
    ASSERT_TRUE(table_->read(*rec_, json, version));
    EXPECT_EQ(json, "{\"keys\":[]}");
    EXPECT_EQ(version, 1u);
    ASSERT_TRUE(table_->publish(*rec_, kSet));
    ASSERT_TRUE(table_->read(*rec_, json, version));
    EXPECT_EQ(json, kSet);
    EXPECT_EQ(version, 2u);
    EXPECT_EQ(table_->record("remote", "http://127.0.0.1:1/jwks.json"), rec_) << "found again by provider and URL";
    EXPECT_NE(table_->record("remote", "http://127.0.0.1:2/jwks.json"), rec_);
    // The old set's memory is given back: many publications fit in a zone for one provider.
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(table_->publish(*rec_, std::string(kMaxJwksBytes / 2, 'x')));
    EXPECT_FALSE(table_->publish(*rec_, std::string(4 * kMaxJwksBytes, 'x'))) << "what does not fit is refused";
    ASSERT_TRUE(table_->read(*rec_, json, version));
    EXPECT_EQ(json.size(), kMaxJwksBytes / 2) << "and the last good set stays";
}

// A worker's side: JwtRuntime + RemoteKeys on a real event loop, the master played by the test.
class AuthRemoteKeys : public AuthJwksZone {
  protected:
    void SetUp() override {
        AuthJwksZone::SetUp();
        provider_.name = "remote";
        provider_.jwks.url = "http://127.0.0.1:1/jwks.json";
        provider_.jwks.timeout = 40;
        provider_.jwks.kid_miss_interval = 80;
        runtime_ = std::make_unique<JwtRuntime>(provider_, reader_);
        remote_ = std::make_unique<RemoteKeys>(*runtime_, provider_.jwks, *table_, *rec_, loop_, [this] { ++asks_; });
    }
    // Runs the loop until `done` or 2 s.
    void run_until(const std::function<bool()>& done) {
        event::Timer guard([this] { loop_.stop(); });
        loop_.arm(guard, 2000);
        event::Timer poll;
        poll.set_callback([&] {
            if (done()) loop_.stop();
            else loop_.arm(poll, 1);
        });
        loop_.arm(poll, 0);
        loop_.run();
    }
    struct Waiter {
        KidWaiter node;
        int woken = 0;
        bool timed_out = false;
        Waiter() {
            node.owner = this;
            node.wake = [](KidWaiter& w, bool t) {
                auto* self = static_cast<Waiter*>(w.owner);
                ++self->woken;
                self->timed_out = t;
            };
        }
    };

    event::Loop loop_;
    JwtProvider provider_;
    jwt::Reader reader_;
    std::unique_ptr<JwtRuntime> runtime_;
    std::unique_ptr<RemoteKeys> remote_;
    int asks_ = 0;
};

TEST_F(AuthRemoteKeys, OneAskWakesEveryWaiterWithTheNewSet) {
    EXPECT_EQ(remote_->on_unknown_kid(), RemoteKeys::Miss::Wait);
    EXPECT_EQ(asks_, 1);
    EXPECT_EQ(rec_->refetch_wanted.load(), 1u) << "the master sees which set to fetch";
    Waiter a, b;
    remote_->wait(a.node);
    EXPECT_EQ(remote_->on_unknown_kid(), RemoteKeys::Miss::Wait) << "a second miss waits for the same answer";
    EXPECT_EQ(asks_, 1) << "... without asking again";
    remote_->wait(b.node);
    remote_->refresh();  // a notification for another set: nothing moved here
    EXPECT_EQ(a.woken + b.woken, 0);
    // The master publishes a set and answers.
    ASSERT_TRUE(table_->publish(*rec_, kSet));
    rec_->answers.fetch_add(1);
    remote_->refresh();
    EXPECT_EQ(a.woken, 1);
    EXPECT_EQ(b.woken, 1);
    EXPECT_FALSE(a.timed_out || b.timed_out);
    EXPECT_FALSE(a.node.linked() || b.node.linked());
    EXPECT_EQ(remote_->on_unknown_kid(), RemoteKeys::Miss::GiveUp) << "just refetched: the kid is not there";
    EXPECT_EQ(asks_, 1);
}

TEST_F(AuthRemoteKeys, AWaiterTimesOutAndTheNextIntervalAsksAgain) {
    EXPECT_EQ(remote_->on_unknown_kid(), RemoteKeys::Miss::Wait);
    Waiter a, gone;
    remote_->wait(a.node);
    remote_->wait(gone.node);
    gone.node.unlink();  // its client left (on_destroy)
    event::Millis t0 = event::monotonic_ms();
    run_until([&] { return a.woken > 0; });
    EXPECT_EQ(a.woken, 1);
    EXPECT_TRUE(a.timed_out);
    EXPECT_GE(event::monotonic_ms() - t0, 35);
    EXPECT_EQ(gone.woken, 0) << "a request that ended is never woken";
    // No answer came (the master was not serving): after the interval, ask again.
    run_until([&] { return event::monotonic_ms() - t0 > 90; });
    loop_.update_time();
    EXPECT_EQ(remote_->on_unknown_kid(), RemoteKeys::Miss::Wait);
    EXPECT_EQ(asks_, 2);
}

}  // namespace
}  // namespace gw::auth
