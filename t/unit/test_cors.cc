// CORS: origin parsing and matching (exact, wildcard, "*", "null"), the preflight check, the
// configuration (every error at its FILE:LINE:COL, the -T dump loading back), and the filter
// through the filter harness: preflights answered or refused, actual requests' fields, Vary.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "filter_harness.h"
#include "modules/cors/config.h"
#include "modules/cors/filter.h"
#include "modules/cors/origin.h"

namespace gw::cors {
namespace {

OriginPattern pattern(const std::string& text) {
    std::string why;
    std::optional<OriginPattern> p = parse_pattern(text, why);
    EXPECT_TRUE(p.has_value()) << text << ": " << why;
    return p.value_or(OriginPattern{});
}

std::string pattern_error(const std::string& text) {
    std::string why;
    EXPECT_FALSE(parse_pattern(text, why).has_value()) << text;
    return why;
}

bool matches(const std::string& pat, const std::string& origin) {
    std::optional<Origin> o = parse_origin(origin);
    return o && pattern(pat).matches(*o);
}

TEST(CorsOrigin, Parse) {
    auto o = parse_origin("https://app.example.com:8443");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->scheme, "https");
    EXPECT_EQ(o->host, "app.example.com");
    EXPECT_EQ(o->port, 8443);
    EXPECT_EQ(parse_origin("https://a.example.com:443")->port, 0);  // the default port is no port
    EXPECT_EQ(parse_origin("http://a.example.com:80")->port, 0);
    EXPECT_EQ(parse_origin("http://a.example.com:443")->port, 443);
    EXPECT_TRUE(parse_origin("null")->null);
    EXPECT_EQ(parse_origin("http://[::1]:8080")->host, "[::1]");
    EXPECT_EQ(parse_origin("http://127.0.0.1")->host, "127.0.0.1");
    for (const char* bad : {"", "https://", "https:/a.com", "a.com", "https://a.com/", "https://a.com/x",
                            "https://u@a.com", "https://a.com:", "https://a.com:0", "https://a.com:65536",
                            "https://a.com:+80", "https://a..com", "https://.a.com", "https://a.com.",
                            "https://a.com, https://b.com", "https://a.com?x", "https://a com", "https://[::1",
                            "https://[zz]", "1http://a.com", "https://a.com:80:80", "Null", "null "})
        EXPECT_FALSE(parse_origin(bad).has_value()) << bad;
}

TEST(CorsOrigin, ExactMatch) {
    EXPECT_TRUE(matches("https://app.example.com", "https://app.example.com"));
    EXPECT_TRUE(matches("https://app.example.com", "https://APP.Example.com"));  // hosts: any case
    EXPECT_TRUE(matches("HTTPS://App.Example.COM", "https://app.example.com"));
    EXPECT_TRUE(matches("https://app.example.com:443", "https://app.example.com"));
    EXPECT_FALSE(matches("https://app.example.com", "http://app.example.com"));        // scheme
    EXPECT_FALSE(matches("https://app.example.com", "https://app.example.com:8443"));  // port
    EXPECT_FALSE(matches("https://app.example.com:8443", "https://app.example.com"));
    EXPECT_FALSE(matches("https://app.example.com", "https://app.example.com.evil.test"));
    EXPECT_FALSE(matches("https://app.example.com", "https://evilapp.example.com"));
    EXPECT_FALSE(matches("https://app.example.com", "https://example.com"));
    EXPECT_FALSE(matches("https://app.example.com", "null"));
}

TEST(CorsOrigin, WildcardMatch) {
    EXPECT_TRUE(matches("https://*.example.com", "https://a.example.com"));
    EXPECT_TRUE(matches("https://*.example.com", "https://a.b.example.com"));  // one or more labels
    EXPECT_TRUE(matches("https://*.example.com", "https://A.EXAMPLE.com"));
    EXPECT_FALSE(matches("https://*.example.com", "https://example.com"));  // never the bare domain
    EXPECT_FALSE(matches("https://*.example.com", "https://evilexample.com"));
    EXPECT_FALSE(matches("https://*.example.com", "https://a.example.com.evil.test"));
    EXPECT_FALSE(matches("https://*.example.com", "http://a.example.com"));
    EXPECT_FALSE(matches("https://*.example.com", "https://a.example.com:8443"));
    EXPECT_TRUE(matches("https://*.example.com:8443", "https://a.example.com:8443"));
    EXPECT_FALSE(matches("https://*.example.com", "null"));
    EXPECT_EQ(pattern("https://*.Example.com:8443").text(), "https://*.example.com:8443");
}

TEST(CorsOrigin, AnyAndNull) {
    EXPECT_TRUE(matches("*", "https://anything.test"));
    EXPECT_TRUE(matches("*", "http://10.0.0.1:8080"));
    EXPECT_FALSE(matches("*", "null"));  // "null" only when listed
    EXPECT_TRUE(matches("null", "null"));
    EXPECT_FALSE(matches("null", "https://a.test"));
    EXPECT_FALSE(matches("*", "not an origin"));
}

TEST(CorsOrigin, BadPatterns) {
    EXPECT_NE(pattern_error("https://app.example.com/").find("no path"), std::string::npos);
    EXPECT_NE(pattern_error("https://a*.example.com").find("wildcard"), std::string::npos);
    EXPECT_NE(pattern_error("https://*").find("wildcard"), std::string::npos);
    EXPECT_NE(pattern_error("https://*.com").find("two labels"), std::string::npos);
    EXPECT_NE(pattern_error("*.example.com").find("wildcard"), std::string::npos);
    EXPECT_NE(pattern_error("app.example.com").find("not an origin"), std::string::npos);
    EXPECT_NE(pattern_error("https://a.com:99999").find("not an origin"), std::string::npos);
    EXPECT_NE(pattern_error("NULL").find("not an origin"), std::string::npos);  // "null" is lower-case
}

Policy policy(std::vector<std::string> origins, bool credentials = false) {
    Policy p;
    p.name = "web";
    for (const std::string& o : origins) p.origins.push_back(pattern(o));
    p.methods = {"GET", "POST", "DELETE"};
    p.headers = {"authorization", "content-type"};
    p.expose_headers = {"x-request-id"};
    p.credentials = credentials;
    p.max_age = 600000;
    p.compile();
    return p;
}

TEST(CorsPreflight, MethodsAndHeaders) {
    Policy p = policy({"https://app.test"});
    EXPECT_TRUE(preflight_allowed(p, "DELETE", ""));
    EXPECT_TRUE(preflight_allowed(p, "POST", "content-type"));
    EXPECT_TRUE(preflight_allowed(p, "POST", "Authorization, content-type"));
    EXPECT_TRUE(preflight_allowed(p, "POST", " authorization ,, content-type "));
    EXPECT_FALSE(preflight_allowed(p, "PUT", ""));
    EXPECT_FALSE(preflight_allowed(p, "delete", ""));  // methods are case-sensitive
    EXPECT_FALSE(preflight_allowed(p, "POST", "content-type, x-secret"));
    EXPECT_FALSE(preflight_allowed(p, "POST", "content-type;x"));
}

// ---- the filter, through the harness.

struct FilterRun {
    http::FilterStatus status;
    int reply;
    std::string headers;
};

FilterRun run(const Policy& p, const std::string& head, int response_status = 200) {
    test::FilterHarness h;
    EXPECT_TRUE(h.set_request(head)) << head;
    CorsFilter f(p);
    http::FilterChain chain;
    EXPECT_TRUE(chain.add(&f));
    FilterRun r;
    r.status = h.run(chain);
    r.reply = h.reply_status();
    r.headers = h.response_headers(r.reply ? r.reply : response_status);
    return r;
}

TEST(CorsFilter, PreflightAllowed) {
    Policy p = policy({"https://app.test", "https://*.example.com"}, true);
    FilterRun r = run(p,
                      "OPTIONS /orders/1 HTTP/1.1\r\nHost: gw\r\nOrigin: https://x.example.com\r\n"
                      "Access-Control-Request-Method: DELETE\r\n"
                      "Access-Control-Request-Headers: authorization,content-type\r\n\r\n");
    EXPECT_EQ(r.status, http::FilterStatus::Done);
    EXPECT_EQ(r.reply, 204);
    EXPECT_EQ(r.headers,
              "vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n"
              "access-control-allow-origin: https://x.example.com\r\n"
              "access-control-allow-methods: GET, POST, DELETE\r\n"
              "access-control-allow-credentials: true\r\n"
              "access-control-max-age: 600\r\n"
              "access-control-allow-headers: authorization,content-type\r\n");
}

TEST(CorsFilter, PreflightRefused) {
    Policy p = policy({"https://app.test"});
    const char* refused[] = {
        // another origin
        "OPTIONS / HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.test\r\nAccess-Control-Request-Method: GET\r\n\r\n",
        // a method not listed
        "OPTIONS / HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.test\r\nAccess-Control-Request-Method: PUT\r\n\r\n",
        // a header not listed
        "OPTIONS / HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.test\r\nAccess-Control-Request-Method: GET\r\n"
        "Access-Control-Request-Headers: x-other\r\n\r\n",
        // two Origin fields
        "OPTIONS / HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.test\r\nOrigin: https://app.test\r\n"
        "Access-Control-Request-Method: GET\r\n\r\n",
    };
    for (const char* head : refused) {
        FilterRun r = run(p, head);
        EXPECT_EQ(r.reply, 403) << head;
        EXPECT_EQ(r.headers, "vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n")
            << head;
    }
}

TEST(CorsFilter, ActualRequests) {
    Policy p = policy({"https://app.test"}, true);
    FilterRun r = run(p, "GET / HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.test\r\n\r\n", 401);
    EXPECT_EQ(r.status, http::FilterStatus::Continue);
    EXPECT_EQ(r.headers,
              "vary: Origin\r\naccess-control-allow-origin: https://app.test\r\n"
              "access-control-allow-credentials: true\r\naccess-control-expose-headers: x-request-id\r\n");
    // Not allowed, no Origin, not an origin: Vary only.
    for (const char* head : {"GET / HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.test\r\n\r\n",
                             "GET / HTTP/1.1\r\nHost: gw\r\n\r\n",
                             "GET / HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.test/\r\n\r\n",
                             "GET / HTTP/1.1\r\nHost: gw\r\nOrigin: null\r\n\r\n"}) {
        FilterRun n = run(p, head);
        EXPECT_EQ(n.status, http::FilterStatus::Continue);
        EXPECT_EQ(n.headers, "vary: Origin\r\n") << head;
    }
    // An OPTIONS without Access-Control-Request-Method is not a preflight: it goes on.
    EXPECT_EQ(run(p, "OPTIONS / HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.test\r\n\r\n").status,
              http::FilterStatus::Continue);
}

TEST(CorsFilter, AnyOriginWithoutCredentials) {
    Policy p = policy({"*"});
    FilterRun r = run(p, "GET / HTTP/1.1\r\nHost: gw\r\nOrigin: https://who.ever\r\n\r\n");
    EXPECT_EQ(r.headers,
              "vary: Origin\r\naccess-control-allow-origin: *\r\naccess-control-expose-headers: x-request-id\r\n");
    FilterRun pre = run(p,
                        "OPTIONS / HTTP/1.1\r\nHost: gw\r\nOrigin: https://who.ever\r\n"
                        "Access-Control-Request-Method: GET\r\n\r\n");
    EXPECT_EQ(pre.reply, 204);
    EXPECT_NE(pre.headers.find("access-control-allow-origin: *\r\n"), std::string::npos);
}

// ---- the configuration.

class CorsConfig : public test::ConfigFixture {};

constexpr const char* kHead = "listeners:\n  - address: 127.0.0.1:8080\n";  // lines 1-2

TEST_F(CorsConfig, ReadAndDump) {
    write("gw.conf", std::string(kHead) +
                         "cors:\n"
                         "  web: {origins: [\"https://app.example.com\", \"https://*.example.com:8443\"],\n"
                         "        methods: [GET, POST], headers: [Authorization, content-type],\n"
                         "        expose_headers: [x-request-id], credentials: true, max_age: 10m}\n"
                         "  open: {origins: \"*\"}\n"
                         "routes:\n"
                         "  - {name: a, match: {path_prefix: /a/}, cors: web, return: {status: 204}}\n"
                         "  - {name: b, match: {path_prefix: /b/}, return: {status: 204}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const Settings* s = settings(*c);
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->policies.size(), 2u);
    const Policy& web = s->policies[0];
    EXPECT_EQ(web.headers, (std::vector<std::string>{"authorization", "content-type"}));
    EXPECT_EQ(web.max_age, 600000);
    EXPECT_EQ(s->policies[1].methods, (std::vector<std::string>{"GET", "HEAD", "POST"}));
    EXPECT_EQ(s->route(0), &web);
    EXPECT_EQ(s->route(1), nullptr);
    std::string dumped = dump_config(*c);
    EXPECT_NE(dumped.find("cors:\n  \"web\":\n    origins: [\"https://app.example.com\", \"https://*.example.com:8443\"]\n"),
              std::string::npos)
        << dumped;
    EXPECT_NE(dumped.find("    cors: \"web\"\n"), std::string::npos) << dumped;
    write("dumped.conf", dumped);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors());
    // The same, but for the comment naming the files read.
    auto body = [](const std::string& d) { return d.substr(d.find("\nworker_processes")); };
    EXPECT_EQ(body(dump_config(*again)), body(dumped));
}

TEST_F(CorsConfig, Errors) {
    expect_errors(std::string(kHead) +                                                   // 1-2
                      "cors:\n"                                                          // 3
                      "  a: {origins: [\"https://a.test/\"], methods: [get]}\n"          // 4
                      "  b: {origins: [\"*\"], credentials: true}\n"                     // 5
                      "  c: {methods: [GET]}\n"                                          // 6
                      "  d: {origins: [\"https://*.test\"], headers: [\"bad name\"]}\n"  // 7
                      "  e: {origins: [], max_age: 1500ms, colour: red, expose_headers: [\"*\"]}\n"  // 8
                      "routes:\n"                                                        // 9
                      "  - {name: r, match: {path_prefix: /}, cors: aa, return: {status: 204}}\n",  // 10
                  {
                      at("gw.conf", 4, 17) + "cors.a.origins[0]: \"https://a.test/\": an origin has no path: "
                                             "\"https://a.test\", not \"https://a.test/\"",
                      at("gw.conf", 4, 47) + "cors.a.methods[0]: \"get\" is not a method (methods are upper-case tokens)",
                      at("gw.conf", 5, 17) + "cors.b.origins: \"*\" with credentials: true would let every site read "
                                             "responses with the user's credentials; list the origins",
                      at("gw.conf", 6, 6) + "cors.c: missing required key \"origins\"",
                      at("gw.conf", 7, 17) + "cors.d.origins[0]: \"https://*.test\": a wildcard needs a domain of two "
                                             "labels or more after \"*.\" (\"https://*.example.com\")",
                      at("gw.conf", 7, 46) + "cors.d.headers[0]: \"bad name\" is not a header name",
                      at("gw.conf", 8, 16) + "cors.e.origins: empty list (leave the key out instead)",
                      at("gw.conf", 8, 29) + "cors.e.max_age: whole seconds (Access-Control-Max-Age counts seconds)",
                      at("gw.conf", 8, 37) + "unknown key \"colour\"",
                      at("gw.conf", 8, 67) + "cors.e.expose_headers[0]: \"*\" is not taken: list the header names",
                      at("gw.conf", 10, 46) + "routes[0].cors: unknown CORS policy \"aa\" (did you mean \"a\"?)",
                  });
}

TEST_F(CorsConfig, MethodsWithoutOptionsWarn) {
    write("gw.conf", std::string(kHead) +                                                         // 1-2
                         "cors:\n  web: {origins: [\"https://app.test\"]}\n"                     // 3-4
                         "routes:\n"                                                              // 5
                         "  - {name: a, match: {path: /a, methods: [GET]}, cors: web, return: {status: 204}}\n"  // 6
                         "  - {name: b, match: {path: /b, methods: [GET, OPTIONS]}, cors: web, return: {status: 204}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(errors(), (std::vector<std::string>{at("gw.conf", 6, 56) + "warning: " +
                                                  "routes[0].cors: match.methods leaves out OPTIONS, so preflights "
                                                  "never reach this route (add OPTIONS)"}));
}

}  // namespace
}  // namespace gw::cors
