#include <gtest/gtest.h>

#include "http/router.h"

using gw::RouteConfig;
using gw::http::Router;

namespace {

RouteConfig route(std::string name, std::string host, std::string path, std::string prefix,
                  std::vector<std::string> methods = {}) {
    RouteConfig r;
    r.name = std::move(name);
    r.match.host = std::move(host);
    r.match.path = std::move(path);
    r.match.path_prefix = std::move(prefix);
    r.match.methods = std::move(methods);
    return r;
}

class RouterTest : public ::testing::Test {
  protected:
    std::string match(std::string_view method, std::string_view host, std::string_view path) {
        Router router(routes);
        int i = router.match(method, host, path);
        return i == Router::kNoRoute ? "-" : routes[i].name;
    }
    std::vector<RouteConfig> routes;
};

TEST_F(RouterTest, ExactBeatsPrefixAndCatchAll) {
    routes = {route("all", "", "", ""), route("api", "", "", "/api/"), route("exact", "", "/api/x", "")};
    EXPECT_EQ(match("GET", "h", "/api/x"), "exact");
    EXPECT_EQ(match("GET", "h", "/api/y"), "api");
    EXPECT_EQ(match("GET", "h", "/other"), "all");
}

TEST_F(RouterTest, LongestPrefixWinsRegardlessOfOrder) {
    routes = {route("short", "", "", "/a/"), route("long", "", "", "/a/b/"), route("mid", "", "", "/a/b")};
    EXPECT_EQ(match("GET", "h", "/a/b/c"), "long");
    EXPECT_EQ(match("GET", "h", "/a/bc"), "mid");
    EXPECT_EQ(match("GET", "h", "/a/x"), "short");
    EXPECT_EQ(match("GET", "h", "/b"), "-");
}

TEST_F(RouterTest, DeclarationOrderBreaksTies) {
    routes = {route("first", "", "/x", ""), route("second", "", "/x", "")};
    EXPECT_EQ(match("GET", "h", "/x"), "first");
}

TEST_F(RouterTest, MethodsFilterAndFallThrough) {
    routes = {route("post-only", "", "/x", "", {"POST"}), route("prefix", "", "", "/", {"GET", "HEAD"})};
    EXPECT_EQ(match("POST", "h", "/x"), "post-only");
    EXPECT_EQ(match("GET", "h", "/x"), "prefix");
    EXPECT_EQ(match("DELETE", "h", "/x"), "-");
}

TEST_F(RouterTest, HostTiers) {
    routes = {route("any", "", "", "/"), route("wild", "*.example.com", "", "/"),
              route("deeper", "*.api.example.com", "", "/"), route("exact", "www.example.com", "", "/")};
    EXPECT_EQ(match("GET", "www.example.com", "/"), "exact");
    EXPECT_EQ(match("GET", "WWW.Example.COM:8080", "/"), "exact");  // case and port ignored
    EXPECT_EQ(match("GET", "a.example.com", "/"), "wild");
    EXPECT_EQ(match("GET", "v1.api.example.com", "/"), "deeper");
    EXPECT_EQ(match("GET", "example.com", "/"), "any");  // *.example.com needs a label before it
    EXPECT_EQ(match("GET", "other.org", "/"), "any");
}

TEST_F(RouterTest, HostTierWithoutMatchFallsBackToNextTier) {
    routes = {route("host-exact", "a.example.com", "/only", ""), route("fallback", "", "", "/")};
    EXPECT_EQ(match("GET", "a.example.com", "/only"), "host-exact");
    EXPECT_EQ(match("GET", "a.example.com", "/else"), "fallback");
}

TEST_F(RouterTest, HostWithPortInRoute) {
    routes = {route("with-port", "a.example.com:8080", "", "/"), route("any", "", "", "/")};
    EXPECT_EQ(match("GET", "a.example.com:8080", "/"), "with-port");
    EXPECT_EQ(match("GET", "a.example.com:9090", "/"), "any");
}

TEST_F(RouterTest, GetAllowsHead) {
    routes = {route("get", "", "/x", "", {"GET"}), route("post", "", "/y", "", {"POST"})};
    EXPECT_EQ(match("HEAD", "h", "/x"), "get");
    EXPECT_EQ(match("HEAD", "h", "/y"), "-");
}

TEST_F(RouterTest, WildcardWithPortAndOverlongHost) {
    routes = {route("wild-port", "*.example.com:8443", "", "/"), route("any", "", "", "/")};
    EXPECT_EQ(match("GET", "a.example.com:8443", "/"), "wild-port");
    EXPECT_EQ(match("GET", "a.example.com", "/"), "any");
    EXPECT_EQ(match("GET", std::string(400, 'a') + ".example.com:8443", "/"), "any");
}

TEST_F(RouterTest, NoRoutes) { EXPECT_EQ(match("GET", "h", "/"), "-"); }

}  // namespace
