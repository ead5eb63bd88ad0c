// The access-rules filter through the in-process harness (t/unit/filter_harness.h): the
// listener's rules, then the route's; unmatched requests and admin listeners (route -1); IPv6
// and IPv4-mapped clients; the 403 reply; gateway_access_denied_total; and that the filter
// keeps no per-request state and stops the chain when it refuses.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/shm/zone.h"
#include "filter_harness.h"
#include "http/filter.h"
#include "http/stream.h"
#include "modules/access/config.h"
#include "modules/access/filter.h"

namespace gw::access {
namespace {

using http::FilterChain;
using http::FilterStatus;
using test::FilterHarness;

net::Cidr cidr(const char* text) {
    net::Cidr c;
    std::string error;
    EXPECT_TRUE(net::parse_cidr(text, c, error)) << text << ": " << error;
    return c;
}

// Counts the requests that reach it: what runs after the access filter in a chain.
class CountFilter final : public http::Filter {
  public:
    CountFilter() : Filter(http::kHookRequest) {}
    FilterStatus on_request(http::Stream&, void*) override {
        ++seen;
        return FilterStatus::Continue;
    }
    int seen = 0;
};

// Two listeners (0: no rules; 1, "127.0.0.1:8081": 10.0.0.0/8 and 2001:db8::/32 only) and two
// routes ("open": no rules; "lan": 10.0.0.0/8 but not 10.1.0.0/16).
class AccessFilterTest : public ::testing::Test {
  protected:
    AccessFilterTest() {
        config_.listeners.resize(2);
        config_.listeners[0].address = "127.0.0.1:8080";
        config_.listeners[1].address = "127.0.0.1:8081";
        config_.routes.resize(2);
        config_.routes[0].name = "open";
        config_.routes[1].name = "lan";

        AccessRules listener;
        listener.allow = {cidr("10.0.0.0/8"), cidr("2001:db8::/32")};
        rules_.set_listener(1, listener);
        AccessRules lan;
        lan.allow = {cidr("10.0.0.0/8")};
        lan.deny = {cidr("10.1.0.0/16")};
        rules_.set_route(1, lan);

        zone_ = shm::Zone::create("metrics", 1 << 20, metrics::kLayoutVersion);
        store_ = std::make_unique<metrics::Store>(*zone_);
    }

    // The filter of route `route` alone in a chain (made once per route, as a worker does).
    const FilterChain& chain(int route) {
        auto& f = filters_[route + 1];
        auto& c = chains_[route + 1];
        if (!f) {
            f = std::make_unique<AccessFilter>(config_, rules_, route, *store_);
            c = std::make_unique<FilterChain>();
            EXPECT_TRUE(c->add(f.get()));
        }
        return *c;
    }

    // Runs a request from `client` on `listener` for `route`; the status it ended with (the
    // reply's, or 0 when the chain let it through).
    int status(const char* client, size_t listener, int route) {
        EXPECT_TRUE(h_.set_client(client)) << client;
        h_.set_listener(listener);
        h_.set_route(route);
        FilterStatus s = h_.run(chain(route));
        EXPECT_FALSE(h_.paused());
        int out = s == FilterStatus::Done ? h_.reply_status() : 0;
        EXPECT_EQ(s == FilterStatus::Continue, h_.reply_status() == 0) << "a reply exactly when it stops";
        h_.end();
        return out;
    }

    uint64_t denied(const std::string& route, const std::string& listener) {
        std::atomic<uint64_t>* c = store_->counter(
            "gateway_access_denied_total", "route=\"" + route + "\",listener=\"" + listener + "\"", "");
        return c ? c->load() : 0;
    }

    Config config_;
    AccessConfig rules_;
    std::unique_ptr<shm::Zone> zone_;
    std::unique_ptr<metrics::Store> store_;
    std::unique_ptr<AccessFilter> filters_[3];  // [route + 1]
    std::unique_ptr<FilterChain> chains_[3];
    FilterHarness h_;
};

TEST_F(AccessFilterTest, OnRequestOnlyAndNoState) {
    AccessFilter f(config_, rules_, 1, *store_);
    EXPECT_EQ(f.hooks(), http::kHookRequest) << "no destroy, log or response hook to call";
    EXPECT_EQ(f.ctx_size(), 0) << "nothing in the stream's arena";
}

TEST_F(AccessFilterTest, RouteRules) {
    EXPECT_EQ(status("10.2.3.4", 0, 1), 0) << "in the allowed network";
    EXPECT_EQ(status("10.1.2.3", 0, 1), 403) << "in the allowed network and in deny: deny wins";
    EXPECT_EQ(status("192.0.2.1", 0, 1), 403) << "outside the allow list";
    EXPECT_EQ(status("2001:db8::1", 0, 1), 403) << "an IPv6 client, the route allows IPv4 only";
    EXPECT_EQ(status("::ffff:10.2.3.4", 0, 1), 0) << "IPv4-mapped: the IPv4 address";
    EXPECT_EQ(status("::ffff:10.1.0.1", 0, 1), 403);
}

TEST_F(AccessFilterTest, TheReply) {
    h_.set_client("192.0.2.1");
    h_.set_route(1);
    EXPECT_EQ(h_.run(chain(1)), FilterStatus::Done);
    EXPECT_EQ(h_.reply_status(), 403);
    EXPECT_EQ(h_.reply_content_type(), "application/json");
    EXPECT_EQ(h_.reply_body(), "{\"status\":403,\"error\":\"access denied\"}\n");
    EXPECT_EQ(h_.resumed(), 0) << "decided inline, never paused";
}

TEST_F(AccessFilterTest, ListenerRulesThenRouteRules) {
    EXPECT_EQ(status("192.0.2.1", 0, 0), 0) << "no rules on listener 0 nor on route open";
    EXPECT_EQ(status("192.0.2.1", 1, 0), 403) << "listener 1's rules hold on a route without rules";
    EXPECT_EQ(status("2001:db8::5", 1, 0), 0) << "... which allow this IPv6 network";
    EXPECT_EQ(status("10.1.2.3", 1, 0), 0) << "listener 1 allows 10/8, route open adds nothing";
    EXPECT_EQ(status("10.1.2.3", 1, 1), 403) << "the listener allows it, route lan denies it";
    EXPECT_EQ(status("2001:db8::5", 1, 1), 403) << "the listener allows it, route lan does not";
    EXPECT_EQ(status("10.2.3.4", 1, 1), 0) << "both allow it";
}

TEST_F(AccessFilterTest, NoRouteAndAdminRequests) {
    // Route -1: requests no route matched, and every request of an admin listener.
    EXPECT_EQ(status("192.0.2.1", 1, -1), 403) << "the listener's rules hold without a route";
    EXPECT_EQ(status("10.9.9.9", 1, -1), 0);
    EXPECT_EQ(status("192.0.2.1", 0, -1), 0) << "no listener rules: through (to the 404)";
}

TEST_F(AccessFilterTest, CountsDenialsByRouteAndListener) {
    status("192.0.2.1", 0, 1);
    status("10.1.0.9", 0, 1);
    status("192.0.2.1", 1, 1);
    status("192.0.2.1", 1, -1);
    status("10.2.3.4", 0, 1);  // allowed: not counted
    EXPECT_EQ(denied("lan", "127.0.0.1:8080"), 2u);
    EXPECT_EQ(denied("lan", "127.0.0.1:8081"), 1u);
    EXPECT_EQ(denied("", "127.0.0.1:8081"), 1u) << "no route: an empty route label";
    std::string text;
    store_->render(text);
    EXPECT_NE(text.find("# TYPE gateway_access_denied_total counter\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("route=\"open\""), std::string::npos) << "a pair with no denial has no series yet";
}

TEST_F(AccessFilterTest, ARefusalStopsTheChain) {
    AccessFilter access(config_, rules_, 1, *store_);
    CountFilter after;
    FilterChain c;
    ASSERT_TRUE(c.add(&access));
    ASSERT_TRUE(c.add(&after));

    h_.set_route(1);
    h_.set_client("10.2.3.4");
    EXPECT_EQ(h_.run(c), FilterStatus::Continue);
    EXPECT_EQ(after.seen, 1) << "allowed: the next filter runs";
    h_.set_client("192.0.2.1");
    EXPECT_EQ(h_.run(c), FilterStatus::Done);
    EXPECT_EQ(after.seen, 1) << "refused: the next filter never sees it";
    h_.end();
}

TEST_F(AccessFilterTest, WhichRoutesGetAFilter) {
    {
        RouteFilters filters(config_, rules_, *store_);  // listener 1 has rules: every route
        AccessFilter* none = filters.get(-1);
        EXPECT_NE(none, nullptr) << "no route / admin: the listeners' rules";
        EXPECT_NE(filters.get(0), nullptr) << "a route without rules of its own";
        EXPECT_NE(filters.get(1), nullptr);
        EXPECT_NE(filters.get(0), filters.get(1)) << "one filter per route";
        EXPECT_EQ(filters.get(-1), none) << "made once";
        EXPECT_EQ(filters.get(2), nullptr) << "no such route";
        EXPECT_EQ(filters.get(-2), nullptr);
    }
    AccessConfig routes_only;
    AccessRules r;
    r.deny = {cidr("192.0.2.0/24")};
    routes_only.set_route(1, r);
    RouteFilters filters(config_, routes_only, *store_);
    EXPECT_EQ(filters.get(-1), nullptr) << "no listener rules: unmatched and admin requests pay nothing";
    EXPECT_EQ(filters.get(0), nullptr) << "nor does a route without rules";
    ASSERT_NE(filters.get(1), nullptr);
    FilterChain c;
    ASSERT_TRUE(c.add(filters.get(1)));
    h_.set_route(1);
    h_.set_listener(1);  // its rules are not in this configuration
    h_.set_client("192.0.2.9");
    EXPECT_EQ(h_.run(c), FilterStatus::Done);
    h_.set_client("10.0.0.1");
    EXPECT_EQ(h_.run(c), FilterStatus::Continue);
    h_.end();
}

}  // namespace
}  // namespace gw::access
