// admin_auth: the bearer check (scheme in any case, the exact token only), the filter on route -1
// through the filter harness (admin listeners only, health open unless protected, 403 for an
// address outside allow before any token check, 401 with a challenge), and the configuration's
// errors at FILE:LINE:COL without the token's bytes.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "core/metrics/store.h"
#include "core/shm/zone.h"
#include "filter_harness.h"
#include "modules/admin_auth/config.h"
#include "modules/admin_auth/filter.h"

namespace gw::admin_auth {
namespace {

const std::string kToken = "0123456789abcdefghijklmnopqrstuvwxyzABCD";

TEST(AdminAuthBearer, OnlyTheToken) {
    auto d = digest(kToken);
    EXPECT_TRUE(bearer_matches("Bearer " + kToken, d));
    EXPECT_TRUE(bearer_matches("bearer " + kToken, d));
    EXPECT_TRUE(bearer_matches("BEARER  " + kToken, d));
    EXPECT_FALSE(bearer_matches(kToken, d));
    EXPECT_FALSE(bearer_matches("Basic " + kToken, d));
    EXPECT_FALSE(bearer_matches("Bearer " + kToken.substr(1), d));
    EXPECT_FALSE(bearer_matches("Bearer " + kToken + "x", d));
    EXPECT_FALSE(bearer_matches("Bearer ", d));
    EXPECT_FALSE(bearer_matches("Bearer", d));
    EXPECT_FALSE(bearer_matches("", d));
}

class AdminAuthFilterTest : public test::ConfigFixture {
  protected:
    // A configuration with an ordinary listener (0) and an admin one (1).
    std::optional<Config> config(const std::string& admin_auth) {
        write("admin.token", kToken + "\n");
        write("gw.conf", "listeners:\n  - address: 127.0.0.1:8080\n  - {address: 127.0.0.1:9901, admin: true}\n" +
                             admin_auth);
        return load("gw.conf", dir_);
    }

    struct Out {
        int status;
        std::string headers;
    };
    Out run(const Config& c, size_t listener, const std::string& head, const char* client = "127.0.0.1") {
        const Settings* s = settings(c);
        EXPECT_NE(s, nullptr);
        if (!store_) {
            zone_ = shm::Zone::create("metrics", 1 << 20, metrics::kLayoutVersion);
            store_ = std::make_unique<metrics::Store>(*zone_);
        }
        AdminAuthFilter f(c, *s, *store_);
        http::FilterChain chain;
        EXPECT_TRUE(chain.add(&f));
        test::FilterHarness h;
        EXPECT_TRUE(h.set_request(head));
        h.set_client(client);
        h.set_listener(listener);
        h.set_route(-1);
        h.run(chain);
        Out o{h.reply_status(), h.response_headers(h.reply_status() ? h.reply_status() : 200)};
        h.end();
        return o;
    }

    std::unique_ptr<shm::Zone> zone_;
    std::unique_ptr<metrics::Store> store_;
};

TEST_F(AdminAuthFilterTest, Decisions) {
    auto c = config("admin_auth: {token_file: admin.token, allow: [127.0.0.0/8]}\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const std::string with = "Authorization: Bearer " + kToken + "\r\n";
    EXPECT_EQ(run(*c, 0, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n").status, 0);  // not an admin listener
    EXPECT_EQ(run(*c, 1, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status, 0);
    EXPECT_EQ(run(*c, 1, "GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1").status, 0);
    Out o = run(*c, 1, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(o.status, 401);
    EXPECT_EQ(o.headers, "www-authenticate: Bearer realm=\"admin\"\r\n");
    EXPECT_EQ(run(*c, 1, "GET /status HTTP/1.1\r\nHost: x\r\n" + with + "\r\n").status, 0);
    EXPECT_EQ(run(*c, 1, "GET /status HTTP/1.1\r\nHost: x\r\n" + with + with + "\r\n").status, 401);
    o = run(*c, 1, "GET /metrics HTTP/1.1\r\nHost: x\r\n" + with + "\r\n", "192.0.2.1");
    EXPECT_EQ(o.status, 403);
    EXPECT_EQ(o.headers, "");
}

TEST_F(AdminAuthFilterTest, ProtectHealth) {
    auto c = config("admin_auth: {token_file: admin.token, protect_health: true}\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(run(*c, 1, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1").status, 401);
    EXPECT_EQ(run(*c, 1, "GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken + "\r\n\r\n",
                  "192.0.2.1")
                  .status,
              0);
}

TEST_F(AdminAuthFilterTest, ConfigErrors) {
    write("short.token", "tiny-secret\n");
    write("bad.token", "0123456789abcdefghij klmnopqrstuvwxyzABCD\n");
    // The files by absolute path (the fixture's prefix is elsewhere): the columns after it move.
    const int shift = static_cast<int>(path("short.token").size() - std::string("short.token").size());
    expect_errors("listeners:\n  - {address: 127.0.0.1:9901, admin: true}\n"  // 1-2
                  "admin_auth: {token_file: " + path("short.token") + ", allow: [], colour: red}\n",  // 3
                  {at("gw.conf", 3, 26) + "admin_auth.token_file: the token in \"" + path("short.token") +
                       "\" is 11 bytes; at least 32 are required",
                   at("gw.conf", 3, 46 + shift) + "admin_auth.allow: at least one address or network (leave allow out for any)",
                   at("gw.conf", 3, 50 + shift) + "unknown key \"colour\""});
    expect_errors("listeners:\n  - {address: 127.0.0.1:9901, admin: true}\n"
                  "admin_auth: {token_file: " + path("bad.token") + "}\n",
                  {at("gw.conf", 3, 26) + "admin_auth.token_file: the token in \"" + path("bad.token") +
                       "\" has bytes a header field cannot carry (use visible ASCII)"});
    for (const std::string& e : errors()) EXPECT_EQ(e.find("klmnop"), std::string::npos) << e;
}

}  // namespace
}  // namespace gw::admin_auth
