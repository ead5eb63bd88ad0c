// gateway.conf loading: YAML -> Config, every error with its exact place and message.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "config_fixture.h"

namespace gw {
namespace {
// A route's set/add fields as (name, value as written) pairs.
std::vector<std::pair<std::string, std::string>> pairs(const std::vector<gw::HeaderOp>& ops) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const gw::HeaderOp& h : ops) out.emplace_back(h.name, h.value.source());
    return out;
}
}  // namespace

namespace {

class ConfigTest : public test::ConfigFixture {};

constexpr const char* kListener = "listeners:\n  - address: 127.0.0.1:8080\n";

// --- unknown keys -------------------------------------------------------------------------------

TEST_F(ConfigTest, UnknownKeyWithSuggestion) {
    expect_errors(std::string(kListener) +
                      "daemon: off\n"
                      "worker_processes: 2\n"
                      "pid: run/gw.pid\n"
                      "\n"
                      "shutdown_timout: 5s\n",
                  {at("gw.conf", 7, 1) + "unknown key \"shutdown_timout\" (did you mean \"shutdown_timeout\"?)"});
}

TEST_F(ConfigTest, UnknownKeyWithoutSuggestion) {
    expect_errors(std::string(kListener) +
                      "daemon: off\n"
                      "worker_processes: 2\n"
                      "pid: run/gw.pid\n"
                      "\n"
                      "frobnicate: 5\n",
                  {at("gw.conf", 7, 1) + "unknown key \"frobnicate\""});
}

TEST_F(ConfigTest, UnknownKeyInNestedMaps) {
    expect_errors("listeners:\n"
                  "  - address: 8080\n"
                  "    backlg: 10\n"
                  "http:\n"
                  "  keepalive: 5s\n"
                  "routes:\n"
                  "  - name: r\n"
                  "    return: {status: 204}\n"
                  "    match: {path_prefx: /x}\n",
                  {at("gw.conf", 3, 5) + "unknown key \"backlg\" (did you mean \"backlog\"?)",
                   at("gw.conf", 5, 3) + "unknown key \"keepalive\"",
                   at("gw.conf", 9, 13) + "unknown key \"path_prefx\" (did you mean \"path_prefix\"?)"});
}

// --- types, ranges, scalars ----------------------------------------------------------------------

TEST_F(ConfigTest, WrongTypes) {
    expect_errors("listeners: 8080\n"
                  "http: [1, 2]\n"
                  "worker_connections: [1]\n"
                  "daemon: {a: 1}\n"
                  "routes: {name: x}\n"
                  "worker_processes: many\n"
                  "error_log: [a]\n",
                  {at("gw.conf", 1, 12) + "listeners: expected a sequence, got \"8080\"",
                   at("gw.conf", 2, 7) + "http: expected a map, got a sequence",
                   at("gw.conf", 3, 21) + "worker_connections: expected an integer, got a sequence",
                   at("gw.conf", 4, 9) + "daemon: expected a boolean, got a map",
                   at("gw.conf", 5, 9) + "routes: expected a sequence, got a map",
                   at("gw.conf", 6, 19) + "worker_processes: expected an integer or \"auto\", got \"many\"",
                   at("gw.conf", 7, 12) + "error_log: expected a path or a map, got a sequence"});
}

TEST_F(ConfigTest, QuotedIntegerIsAString) {
    expect_errors(std::string(kListener) + "worker_connections: \"100\"\n",
                  {at("gw.conf", 3, 21) +
                   "worker_connections: expected an integer, got the string \"100\" (remove the quotes)"});
}

TEST_F(ConfigTest, OutOfRange) {
    expect_errors("worker_processes: 2000\n"
                  "worker_connections: 8\n"
                  "shutdown_timeout: 2d\n"
                  "worker_ready_timeout: 50ms\n"
                  "listeners:\n"
                  "  - {address: 8080, backlog: 70000}\n"
                  "http:\n"
                  "  max_header_size: 2m\n"
                  "  max_headers: 0\n"
                  "  keepalive_requests: 99999999999999999999\n",
                  {at("gw.conf", 1, 19) + "worker_processes: 2000 is out of range (1..1024)",
                   at("gw.conf", 2, 21) + "worker_connections: 8 is out of range (16..1048576)",
                   at("gw.conf", 3, 19) + "shutdown_timeout: 2d is out of range (0..1d)",
                   at("gw.conf", 4, 23) + "worker_ready_timeout: 50ms is out of range (100ms..10m)",
                   at("gw.conf", 6, 30) + "listeners[0].backlog: 70000 is out of range (1..65535)",
                   at("gw.conf", 8, 20) + "http.max_header_size: 2m is out of range (1k..1m)",
                   at("gw.conf", 9, 16) + "http.max_headers: 0 is out of range (1..256)",
                   at("gw.conf", 10, 23) +
                       "http.keepalive_requests: 99999999999999999999 is out of range (1..1000000000)"});
}

TEST_F(ConfigTest, BadDurationAndSize) {
    expect_errors(std::string(kListener) +
                      "shutdown_timeout: 5\n"
                      "worker_ready_timeout: 5x\n"
                      "access_log: {path: a.log, buffer: 12q, flush: 1.5s}\n"
                      "http: {client_max_body_size: 99999999999999999999g}\n",
                  {at("gw.conf", 3, 19) + "shutdown_timeout: bad duration \"5\" (use a unit: ms, s, m, h, d)",
                   at("gw.conf", 4, 23) +
                       "worker_ready_timeout: bad duration \"5x\" (use a unit: ms, s, m, h, d)",
                   at("gw.conf", 5, 35) +
                       "access_log.buffer: bad size \"12q\" (a number of bytes, optionally with k, m or g)",
                   at("gw.conf", 5, 47) +
                       "access_log.flush: bad duration \"1.5s\" (use a unit: ms, s, m, h, d)",
                   at("gw.conf", 6, 30) +
                       "http.client_max_body_size: bad size \"99999999999999999999g\" (a number of bytes, "
                       "optionally with k, m or g)"});
}

TEST_F(ConfigTest, BadEnumsAndBools) {
    expect_errors(std::string(kListener) +
                      "daemon: maybe\n"
                      "error_log: {path: e.log, level: loud}\n"
                      "access_log: {path: a.log, format: xml}\n",
                  {at("gw.conf", 3, 9) + "daemon: expected a boolean (true/false, on/off, yes/no), got \"maybe\"",
                   at("gw.conf", 4, 33) + "error_log.level: unknown value \"loud\" (expected emerg, alert, "
                                          "crit, error, warn, notice, info or debug)",
                   at("gw.conf", 5, 35) + "access_log.format: unknown format \"xml\" (expected json, combined, or a template with $variables)"});
}

TEST_F(ConfigTest, BoolSpellings) {
    for (const char* t : {"true", "on", "yes", "\"on\"", "'yes'", "True"}) {
        write("gw.conf", std::string("daemon: ") + t + "\n" + kListener);
        std::optional<Config> c = load("gw.conf");
        ASSERT_TRUE(c) << t;
        EXPECT_TRUE(c->daemon) << t;
    }
    for (const char* t : {"false", "off", "no", "\"off\"", "NO"}) {
        write("gw.conf", std::string("daemon: ") + t + "\n" + kListener);
        std::optional<Config> c = load("gw.conf");
        ASSERT_TRUE(c) << t;
        EXPECT_FALSE(c->daemon) << t;
    }
}

TEST_F(ConfigTest, MaxUriSizeNotAboveMaxHeaderSize) {
    expect_errors(std::string(kListener) + "http:\n  max_header_size: 4k\n  max_uri_size: 8k\n",
                  {at("gw.conf", 5, 17) + "http.max_uri_size: 8k is larger than http.max_header_size (4k)"});
}

TEST_F(ConfigTest, UnknownUser) {
    expect_errors(std::string(kListener) + "user: no-such-user-gw\n",
                  {at("gw.conf", 3, 7) + "user: unknown user \"no-such-user-gw\""});
    expect_errors(std::string(kListener) + "user: root:no-such-group-gw\n",
                  {at("gw.conf", 3, 7) + "user: unknown group \"no-such-group-gw\""});
    write("gw.conf", std::string(kListener) + "user: root:root\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->user, "root");
    EXPECT_EQ(c->group, "root");
}

// --- listeners ----------------------------------------------------------------------------------

TEST_F(ConfigTest, ListenerErrors) {
    expect_errors("listeners:\n"
                  "  - address: localhost:80\n"
                  "  - address: \"*:80\"\n"
                  "  - address: 80\n"
                  "  - admin: true\n"
                  "  - 5\n",
                  {at("gw.conf", 2, 14) +
                       "listener address \"localhost:80\": expected IP:PORT, [IPv6]:PORT or PORT",
                   at("gw.conf", 4, 14) + "duplicate listener address \"80\" (first at " + path("gw.conf") +
                       ":3:14)",
                   at("gw.conf", 5, 5) + "listeners[3]: missing required key \"address\"",
                   at("gw.conf", 6, 5) + "listeners[4]: expected a map, got \"5\""});
    expect_errors("listeners: []\n", {at("gw.conf", 1, 12) + "listeners: at least one listener is required"});
    expect_errors("daemon: off\n", {at("gw.conf", 1, 1) + "missing required key \"listeners\""});
}

TEST_F(ConfigTest, AdminOnlyListenersAreEnough) {
    write("gw.conf", "listeners:\n  - {address: \"[::1]:9000\", admin: yes, backlog: 16}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->listeners.size(), 1u);
    EXPECT_TRUE(c->listeners[0].admin);
    EXPECT_EQ(c->listeners[0].backlog, 16);
    EXPECT_EQ(c->listeners[0].address, "[::1]:9000");
    EXPECT_EQ(c->listeners[0].socklen, sizeof(sockaddr_in6));
    EXPECT_EQ(c->listeners[0].mark.line, 2);
    EXPECT_EQ(c->listeners[0].mark.col, 5);
}

TEST(ConfigListenAddress, Parses) {
    struct Case {
        const char* text;
        int family;
        const char* ip;
        int port;
    };
    const Case cases[] = {
        {"127.0.0.1:8080", AF_INET, "127.0.0.1", 8080},
        {"0.0.0.0:1", AF_INET, "0.0.0.0", 1},
        {"*:80", AF_INET, "0.0.0.0", 80},
        {"443", AF_INET, "0.0.0.0", 443},
        {"65535", AF_INET, "0.0.0.0", 65535},
        {"[::1]:8080", AF_INET6, "::1", 8080},
        {"[::]:80", AF_INET6, "::", 80},
        {"[2001:db8::5]:9000", AF_INET6, "2001:db8::5", 9000},
    };
    for (const Case& c : cases) {
        sockaddr_storage ss{};
        socklen_t len = 0;
        ASSERT_TRUE(parse_listen_address(c.text, ss, len)) << c.text;
        ASSERT_EQ(ss.ss_family, c.family) << c.text;
        char buf[INET6_ADDRSTRLEN];
        if (c.family == AF_INET) {
            auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
            EXPECT_EQ(len, sizeof(sockaddr_in));
            EXPECT_EQ(ntohs(sin->sin_port), c.port) << c.text;
            EXPECT_STREQ(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf), c.ip) << c.text;
        } else {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
            EXPECT_EQ(len, sizeof(sockaddr_in6));
            EXPECT_EQ(ntohs(sin6->sin6_port), c.port) << c.text;
            EXPECT_STREQ(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf), c.ip) << c.text;
        }
    }
}

TEST(ConfigListenAddress, Rejects) {
    for (const char* bad : {"", "0", "65536", "localhost:80", "example.com:80", "1.2.3.4", "1.2.3.4:",
                            "1.2.3.4:0", "1.2.3.4:70000", "1.2.3:80", "::1:80", "[::1]", "[::1]80",
                            "[::1:80", "[localhost]:80", ":80", "*:", "*", "80a", "-80", "+80",
                            "1.2.3.4:8 0", "[::1]:080000"}) {
        sockaddr_storage ss{};
        socklen_t len = 0;
        EXPECT_FALSE(parse_listen_address(bad, ss, len)) << bad;
    }
}

// --- durations and sizes ------------------------------------------------------------------------

TEST(ConfigScalars, Durations) {
    const std::pair<const char*, Millis> good[] = {
        {"0", 0},         {"0ms", 0},           {"1ms", 1},      {"250ms", 250},
        {"5s", 5000},     {"1m", 60000},        {"2h", 7200000}, {"1d", 86400000},
        {"90s", 90000},   {"106751991167d", 106751991167 * 86400000LL},
    };
    for (const auto& [text, ms] : good) {
        EXPECT_EQ(parse_duration(text), std::optional<Millis>(ms)) << text;
    }
    for (const char* bad : {"", "5", "00", "s", "5S", "5 s", "1.5s", "-5s", "+5s", "5sec", "5ss", "1m30s",
                            "5us", "106751991168d", "99999999999999999999ms"}) {
        EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
    }
    EXPECT_EQ(format_duration(0), "0");
    EXPECT_EQ(format_duration(250), "250ms");
    EXPECT_EQ(format_duration(1500), "1500ms");
    EXPECT_EQ(format_duration(30000), "30s");
    EXPECT_EQ(format_duration(90000), "90s");
    EXPECT_EQ(format_duration(600000), "10m");
    EXPECT_EQ(format_duration(7200000), "2h");
    EXPECT_EQ(format_duration(86400000), "1d");
}

TEST(ConfigScalars, Sizes) {
    const std::pair<const char*, uint64_t> good[] = {
        {"0", 0},
        {"512", 512},
        {"64k", 65536},
        {"64K", 65536},
        {"16m", 16u << 20},
        {"16M", 16u << 20},
        {"1g", 1ull << 30},
        {"1G", 1ull << 30},
        {"18446744073709551615", UINT64_MAX},
        {"17179869183g", 17179869183ull << 30},
    };
    for (const auto& [text, bytes] : good) {
        EXPECT_EQ(parse_size(text), std::optional<uint64_t>(bytes)) << text;
    }
    for (const char* bad : {"", "k", "1t", "1kb", "1 k", "-1", "+1", "1.5m", "0x10", "18446744073709551616",
                            "17179869184g"}) {
        EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
    }
    EXPECT_EQ(format_size(0), "0");
    EXPECT_EQ(format_size(512), "512");
    EXPECT_EQ(format_size(1536), "1536");
    EXPECT_EQ(format_size(65536), "64k");
    EXPECT_EQ(format_size(16u << 20), "16m");
    EXPECT_EQ(format_size(1ull << 30), "1g");
}

// --- routes -------------------------------------------------------------------------------------

TEST_F(ConfigTest, DuplicateRouteNames) {
    expect_errors(std::string(kListener) +
                      "routes:\n"
                      "  - name: api\n"
                      "    return: {status: 204}\n"
                      "  - name: other\n"
                      "    return: {status: 204}\n"
                      "  - name: api\n"
                      "    return: {status: 204}\n",
                  {at("gw.conf", 8, 11) + "duplicate route name \"api\" (first defined at " + path("gw.conf") +
                   ":4:11)"});
}

TEST_F(ConfigTest, RouteErrors) {
    expect_errors(std::string(kListener) +
                      "routes:\n"
                      "  - name: a b\n"
                      "    return: {}\n"
                      "  - name: x\n"
                      "    match: {path: foo, path_prefix: /x, methods: [], host: \"a..b\"}\n"
                      "    return: {status: 99, headers: {Content-Length: 5, \"x y\": z, ok: \"a\\nb\"}}\n"
                      "  - name: noaction\n"
                      "    match: {methods: \"G(T\", host: \"api.*.com\"}\n"
                      "  - return: {}\n",
                  {at("gw.conf", 4, 11) + "routes[0].name: bad route name \"a b\" (use letters, digits, '_', '.', '-')",
                   at("gw.conf", 7, 19) +
                       "routes[1].match.path: \"foo\" must start with '/' and contain no spaces or control characters",
                   at("gw.conf", 7, 24) + "routes[1].match: path and path_prefix cannot be used together",
                   at("gw.conf", 7, 50) + "routes[1].match.methods: empty list (leave methods out to match any)",
                   at("gw.conf", 7, 60) + "routes[1].match.host: bad host \"a..b\" (expected a name, name:port or *.name)",
                   at("gw.conf", 8, 22) + "routes[1].return.status: 99 is out of range (100..599)",
                   at("gw.conf", 8, 36) + "routes[1].return.headers: \"content-length\" cannot be set: the server sets it",
                   at("gw.conf", 8, 55) + "routes[1].return.headers: bad header name \"x y\"",
                   at("gw.conf", 8, 69) + "routes[1].return.headers.ok: a header value cannot contain CR, LF or NUL",
                   at("gw.conf", 10, 22) +
                       "routes[2].match.methods: unknown method \"G(T\" (did you mean \"GET\"?); methods are "
                       "upper-case tokens",
                   at("gw.conf", 10, 35) +
                       "routes[2].match.host: bad host \"api.*.com\" (expected a name, name:port or *.name)",
                   at("gw.conf", 9, 5) + "route \"noaction\" has no action (return, upstream or split)",
                   at("gw.conf", 11, 5) + "routes[3]: missing required key \"name\""});
}

// Requests are routed by their normalised path, so a route path that is not normalised could
// never match: an error with the form it should have.
TEST_F(ConfigTest, RoutePathsMustBeNormalised) {
    expect_errors(std::string(kListener) +
                      "routes:\n"
                      "  - {name: a, match: {path_prefix: /raw//admin/}, return: {}}\n"
                      "  - {name: b, match: {path: /a/./b/%62}, return: {}}\n"
                      "  - {name: c, match: {path: /a/../..}, return: {}}\n"
                      "  - {name: d, match: {path_prefix: /ok/}, return: {}}\n",
                  {at("gw.conf", 4, 36) + "routes[0].match.path_prefix: \"/raw//admin/\" can never match: request "
                                          "paths are normalised before routing (did you mean \"/raw/admin/\"?)",
                   at("gw.conf", 5, 29) + "routes[1].match.path: \"/a/./b/%62\" can never match: request paths are "
                                          "normalised before routing (did you mean \"/a/b/b\"?)",
                   at("gw.conf", 6, 29) + "routes[2].match.path: \"/a/../..\" can never match: requests with such "
                                          "a path are refused (path climbs above the root)"});
    // With merge_slashes off, "//" is a path of its own.
    write("gw.conf", std::string(kListener) +
                         "http: {merge_slashes: false, escaped_slashes: reject}\n"
                         "routes:\n"
                         "  - {name: a, match: {path_prefix: /raw//admin/}, return: {}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c.has_value()) << ::testing::PrintToString(errors());
    EXPECT_FALSE(c->http.path.merge_slashes);
    EXPECT_EQ(c->http.path.escaped_slashes, http::EscapedSlashes::Reject);
}

// `methods:` names standard methods (RFC 9110, PATCH, WebDAV) or http.extra_methods, in upper
// case; anything else is an error at its file:line:col with the closest known name.
TEST_F(ConfigTest, MethodNames) {
    expect_errors(std::string(kListener) +
                      "http:\n"
                      "  extra_methods: [PURGE, purge2, GET]\n"
                      "routes:\n"
                      "  - name: a\n"
                      "    match: {methods: [DELET, get, PURGE, PURGEX, PROPFIND, REPORT]}\n"
                      "    return: {}\n",
                  {at("gw.conf", 4, 26) + "http.extra_methods[1]: \"purge2\" is not a method name "
                                          "(upper-case letters, '-' and '_')",
                   at("gw.conf", 7, 23) + "routes[0].match.methods[0]: unknown method \"DELET\" (did you mean "
                                          "\"DELETE\"?)",
                   at("gw.conf", 7, 30) + "routes[0].match.methods[1]: unknown method \"get\" (did you mean "
                                          "\"GET\"?); methods are upper-case tokens",
                   at("gw.conf", 7, 42) + "routes[0].match.methods[3]: unknown method \"PURGEX\" (did you mean "
                                          "\"PURGE\"?)",
                   at("gw.conf", 7, 60) + "routes[0].match.methods[5]: unknown method \"REPORT\"; list a custom "
                                          "method in http.extra_methods",
                   // only a warning: GET is standard already
                   at("gw.conf", 4, 34) + "warning: http.extra_methods[2]: GET is a standard method; no need to list it"});
}

TEST_F(ConfigTest, RouteValues) {
    write("gw.conf", std::string(kListener) +
                         "routes:\n"
                         "  - name: api.v1_x-y\n"
                         "    match:\n"
                         "      path_prefix: /api/\n"
                         "      methods: [GET, POST, GET]\n"
                         "      host: \"*.Example.COM:8443\"\n"
                         "    return:\n"
                         "      status: 418\n"
                         "      body: \"short and stout\\n\"\n"
                         "      headers:\n"
                         "        X-Tea: earl grey\n"
                         "        Cache-Control: no-store\n"
                         "  - name: all\n"
                         "    match: {path: /exact, methods: DELETE}\n"
                         "    return: {}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->routes.size(), 2u);
    const RouteConfig& r = c->routes[0];
    EXPECT_EQ(r.name, "api.v1_x-y");
    EXPECT_EQ(r.mark.line, 4);
    EXPECT_EQ(r.mark.col, 5);
    EXPECT_EQ(r.match.path_prefix, "/api/");
    EXPECT_EQ(r.match.methods, (std::vector<std::string>{"GET", "POST"}));
    EXPECT_EQ(r.match.host, "*.example.com:8443");
    ASSERT_TRUE(r.ret);
    EXPECT_EQ(r.ret->status, 418);
    EXPECT_EQ(r.ret->body.source(), "short and stout\n");
    using H = std::pair<std::string, std::string>;
    EXPECT_EQ(r.ret->headers, (std::vector<H>{{"x-tea", "earl grey"}, {"cache-control", "no-store"}}));
    const RouteConfig& all = c->routes[1];
    EXPECT_EQ(all.match.path, "/exact");
    EXPECT_EQ(all.match.methods, std::vector<std::string>{"DELETE"});
    ASSERT_TRUE(all.ret);
    EXPECT_EQ(all.ret->status, 200);
    EXPECT_EQ(all.ret->body.source(), "");
}

// --- upstreams ----------------------------------------------------------------------------------

// What getaddrinfo says about `host` here, for the expected "cannot resolve" message.
std::string resolve_error(const char* host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host, nullptr, &hints, &res);
    if (res) freeaddrinfo(res);
    return std::string("cannot resolve \"") + host + "\": " + gai_strerror(rc);
}

bool is_loopback(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) {
        return ntohl(reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr) >> 24 == 127;
    }
    return ss.ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
}

uint16_t port_of(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
    return 0;
}

TEST(ConfigUpstreamAddress, Parses) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    std::string error;
    char buf[INET6_ADDRSTRLEN];

    ASSERT_TRUE(parse_upstream_address("10.1.2.3:8080", ss, len, error)) << error;
    EXPECT_EQ(ss.ss_family, AF_INET);
    EXPECT_EQ(len, sizeof(sockaddr_in));
    EXPECT_EQ(port_of(ss), 8080);
    EXPECT_STREQ(inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in&>(ss).sin_addr, buf, sizeof buf), "10.1.2.3");

    ASSERT_TRUE(parse_upstream_address("[2001:db8::7]:65535", ss, len, error)) << error;
    EXPECT_EQ(ss.ss_family, AF_INET6);
    EXPECT_EQ(len, sizeof(sockaddr_in6));
    EXPECT_EQ(port_of(ss), 65535);
    EXPECT_STREQ(inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6&>(ss).sin6_addr, buf, sizeof buf),
                 "2001:db8::7");

    ASSERT_TRUE(parse_upstream_address("[fe80::1%lo]:80", ss, len, error)) << error;
    EXPECT_EQ(ss.ss_family, AF_INET6);
    EXPECT_NE(reinterpret_cast<sockaddr_in6&>(ss).sin6_scope_id, 0u);

    // A host name is resolved now; the first address is kept, with the port.
    ASSERT_TRUE(parse_upstream_address("localhost:80", ss, len, error)) << error;
    EXPECT_TRUE(ss.ss_family == AF_INET || ss.ss_family == AF_INET6) << ss.ss_family;
    EXPECT_EQ(len, ss.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    EXPECT_TRUE(is_loopback(ss));
    EXPECT_EQ(port_of(ss), 80);

    ASSERT_TRUE(parse_upstream_address("unix:/run/gw/api.sock", ss, len, error)) << error;
    EXPECT_EQ(ss.ss_family, AF_UNIX);
    EXPECT_STREQ(reinterpret_cast<sockaddr_un&>(ss).sun_path, "/run/gw/api.sock");
    EXPECT_EQ(len, offsetof(sockaddr_un, sun_path) + strlen("/run/gw/api.sock") + 1);

    // sun_path holds 108 bytes with the NUL: 107 is the longest path.
    std::string longest = "/" + std::string(106, 'a');
    ASSERT_TRUE(parse_upstream_address("unix:" + longest, ss, len, error)) << error;
    EXPECT_EQ(reinterpret_cast<sockaddr_un&>(ss).sun_path, longest);
    EXPECT_FALSE(parse_upstream_address("unix:" + longest + "a", ss, len, error));
    EXPECT_EQ(error, "server address \"unix:" + longest + "a\": the unix socket path is longer than 107 bytes");
}

TEST(ConfigUpstreamAddress, Rejects) {
    const std::string forms = "(expected IP:PORT, [IPv6]:PORT, HOST:PORT or unix:/PATH)";
    const std::pair<std::string, std::string> cases[] = {
        {"", "server address \"\" has no port " + forms},
        {"10.0.0.1", "server address \"10.0.0.1\" has no port " + forms},
        {"backend", "server address \"backend\" has no port " + forms},
        {"10.0.0.1:", "bad port \"\" in server address \"10.0.0.1:\" (1..65535)"},
        {"10.0.0.1:0", "bad port \"0\" in server address \"10.0.0.1:0\" (1..65535)"},
        {"10.0.0.1:65536", "bad port \"65536\" in server address \"10.0.0.1:65536\" (1..65535)"},
        {"10.0.0.1:+80", "bad port \"+80\" in server address \"10.0.0.1:+80\" (1..65535)"},
        {"10.0.0.1:http", "bad port \"http\" in server address \"10.0.0.1:http\" (1..65535)"},
        {":80", "bad server address \":80\" " + forms},
        {"::1:80", "bad server address \"::1:80\" (an IPv6 address needs brackets: [IPv6]:PORT)"},
        {"10.1:80", "bad IPv4 address in server address \"10.1:80\""},
        {"1.2.3.256:80", "bad IPv4 address in server address \"1.2.3.256:80\""},
        {"[::1]", "bad server address \"[::1]\" " + forms},
        {"[]:80", "bad server address \"[]:80\" " + forms},
        {"[::1]80", "bad server address \"[::1]80\" " + forms},
        {"[::1]:0", "bad port \"0\" in server address \"[::1]:0\" (1..65535)"},
        {"[10.0.0.1]:80", "bad IPv6 address in server address \"[10.0.0.1]:80\""},
        {"[localhost]:80", "bad IPv6 address in server address \"[localhost]:80\""},
        {"bad host:80", "bad server address \"bad host:80\" " + forms},
        {"a..b:80", "bad server address \"a..b:80\" " + forms},
        {"http://a:80", "bad server address \"http://a:80\" " + forms},
        {"unix:", "server address \"unix:\": the unix socket path must be absolute"},
        {"unix:run/x.sock", "server address \"unix:run/x.sock\": the unix socket path must be absolute"},
        {std::string("unix:/a\0b", 9),
         "server address \"" + std::string("unix:/a\0b", 9) + "\": the unix socket path contains a NUL byte"},
        {std::string("1.2.3.4\0x:80", 12),
         "bad server address \"" + std::string("1.2.3.4\0x:80", 12) + "\" " + forms},
        {"no-such-host.invalid:80", resolve_error("no-such-host.invalid")},
    };
    for (const auto& [text, message] : cases) {
        sockaddr_storage ss{};
        socklen_t len = 0;
        std::string error;
        EXPECT_FALSE(parse_upstream_address(text, ss, len, error)) << text;
        EXPECT_EQ(error, message) << text;
    }
}

TEST_F(ConfigTest, UpstreamDefaults) {
    write("gw.conf", std::string(kListener) +
                         "upstreams:\n"
                         "  api:\n"
                         "    servers:\n"
                         "      - address: 127.0.0.1:9001\n"
                         "routes:\n"
                         "  - name: r\n"
                         "    upstream: api\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->upstreams.size(), 1u);
    const UpstreamConfig& u = c->upstreams[0];
    EXPECT_EQ(u.name, "api");
    EXPECT_EQ(u.mark.line, 4);
    EXPECT_EQ(u.mark.col, 3);
    EXPECT_EQ(u.balance, UpstreamConfig::Balance::RoundRobin);
    EXPECT_EQ(u.hash_key.kind, HashKey::Kind::Ip);
    EXPECT_EQ(u.keepalive, 32u);
    EXPECT_EQ(u.keepalive_timeout, 60000);
    EXPECT_EQ(u.keepalive_requests, 1000u);
    EXPECT_EQ(u.connect_timeout, 1000);
    ASSERT_EQ(u.servers.size(), 1u);
    EXPECT_EQ(u.servers[0].address, "127.0.0.1:9001");
    EXPECT_EQ(u.servers[0].weight, 1u);
    EXPECT_FALSE(u.servers[0].backup);
    EXPECT_EQ(u.servers[0].socklen, sizeof(sockaddr_in));
    EXPECT_EQ(port_of(u.servers[0].sockaddr), 9001);
    EXPECT_EQ(u.servers[0].mark.line, 6);
    EXPECT_EQ(u.servers[0].mark.col, 9);

    ASSERT_EQ(c->routes.size(), 1u);
    const RouteConfig& r = c->routes[0];
    EXPECT_FALSE(r.ret);
    EXPECT_EQ(r.upstream, "api");
    EXPECT_EQ(r.upstream_index, 0);
    EXPECT_TRUE(r.split.empty());
    EXPECT_EQ(r.strip_prefix, "");
    EXPECT_EQ(r.rewrite, "");
    EXPECT_EQ(r.match.path_regex, "");
    EXPECT_TRUE(r.match.headers.empty());
    EXPECT_TRUE(r.match.query.empty());
    EXPECT_EQ(r.timeout.read, 60000);
    EXPECT_EQ(r.timeout.send, 60000);
    EXPECT_EQ(r.timeout.tunnel, 3600000);
    EXPECT_EQ(r.retries.attempts, 1u);
    EXPECT_EQ(r.retries.on, static_cast<uint32_t>(kRetryConnectFailure));
    EXPECT_FALSE(r.retries.non_idempotent);
    EXPECT_EQ(r.retries.budget, 0.2);
    EXPECT_TRUE(r.request_headers.empty());
    EXPECT_TRUE(r.response_headers.empty());
}

TEST_F(ConfigTest, UpstreamValues) {
    write("gw.conf", std::string(kListener) +
                         "upstreams:\n"
                         "  api.v1_x-y:\n"
                         "    servers:\n"
                         "      - address: 127.0.0.1:9001\n"
                         "      - {address: \"[::1]:9002\", weight: 1000, backup: yes}\n"
                         "      - address: localhost:80\n"
                         "      - address: unix:/run/gw/api.sock\n"
                         "        weight: 7\n"
                         "    balance: hash\n"
                         "    hash_key: header:X-User\n"
                         "    keepalive: 0\n"
                         "    keepalive_timeout: 90s\n"
                         "    keepalive_requests: 1000000000\n"
                         "    connect_timeout: 10m\n"
                         "  c: {servers: [{address: 10.0.0.1:1}], balance: hash, hash_key: \"cookie:Session\"}\n"
                         "  p: {servers: [{address: 10.0.0.1:1}], balance: hash, hash_key: path}\n"
                         "  i: {servers: [{address: 10.0.0.1:1}], balance: hash, hash_key: ip, keepalive: 100000}\n"
                         "  l: {servers: [{address: 10.0.0.1:1}], balance: least_conn, connect_timeout: 1ms}\n"
                         "  r2: {servers: [{address: 10.0.0.1:1}], balance: random_two, keepalive_timeout: 1d}\n"
                         "  rr: {servers: [{address: 10.0.0.1:1}], balance: round_robin}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->upstreams.size(), 7u);
    const UpstreamConfig& u = c->upstreams[0];
    EXPECT_EQ(u.name, "api.v1_x-y");
    ASSERT_EQ(u.servers.size(), 4u);
    EXPECT_EQ(u.servers[1].address, "[::1]:9002");
    EXPECT_EQ(u.servers[1].sockaddr.ss_family, AF_INET6);
    EXPECT_EQ(port_of(u.servers[1].sockaddr), 9002);
    EXPECT_EQ(u.servers[1].weight, 1000u);
    EXPECT_TRUE(u.servers[1].backup);
    EXPECT_TRUE(is_loopback(u.servers[2].sockaddr));
    EXPECT_EQ(port_of(u.servers[2].sockaddr), 80);
    EXPECT_EQ(u.servers[3].sockaddr.ss_family, AF_UNIX);
    EXPECT_STREQ(reinterpret_cast<const sockaddr_un&>(u.servers[3].sockaddr).sun_path, "/run/gw/api.sock");
    EXPECT_EQ(u.servers[3].weight, 7u);
    EXPECT_EQ(u.balance, UpstreamConfig::Balance::Hash);
    EXPECT_EQ(u.hash_key.kind, HashKey::Kind::Header);
    EXPECT_EQ(u.hash_key.name, "x-user");
    EXPECT_EQ(u.keepalive, 0u);
    EXPECT_EQ(u.keepalive_timeout, 90000);
    EXPECT_EQ(u.keepalive_requests, 1000000000u);
    EXPECT_EQ(u.connect_timeout, 600000);
    EXPECT_EQ(c->upstreams[1].hash_key.kind, HashKey::Kind::Cookie);
    EXPECT_EQ(c->upstreams[1].hash_key.name, "Session");  // cookie names keep their case
    EXPECT_EQ(c->upstreams[2].hash_key.kind, HashKey::Kind::Path);
    EXPECT_EQ(c->upstreams[3].hash_key.kind, HashKey::Kind::Ip);
    EXPECT_EQ(c->upstreams[3].keepalive, 100000u);
    EXPECT_EQ(c->upstreams[4].balance, UpstreamConfig::Balance::LeastConn);
    EXPECT_EQ(c->upstreams[4].connect_timeout, 1);
    EXPECT_EQ(c->upstreams[5].balance, UpstreamConfig::Balance::RandomTwo);
    EXPECT_EQ(c->upstreams[5].keepalive_timeout, 86400000);
    EXPECT_EQ(c->upstreams[6].balance, UpstreamConfig::Balance::RoundRobin);
}

TEST_F(ConfigTest, UpstreamErrors) {
    expect_errors(std::string(kListener) +
                      "upstreams:\n"
                      "  \"bad name\":\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "  empty:\n"
                      "    servers: []\n"
                      "  none:\n"
                      "    balance: hash\n"
                      "  extra:\n"
                      "    servers:\n"
                      "      - {address: 127.0.0.1:1, weight: 0, backup: maybe, port: 1}\n"
                      "      - address: 127.0.0.1\n"
                      "      - address: 127.0.0.1:0\n"
                      "      - address: \"::1:80\"\n"
                      "      - address: unix:run/x.sock\n"
                      "      - address: no-such-host.invalid:80\n"
                      "      - address: 10.1:80\n"
                      "      - address: \"[::g]:80\"\n"
                      "      - address: \"bad host!:80\"\n"
                      "    balance: fastest\n"
                      "    hash_key: ip\n"
                      "    keepalive: 100001\n"
                      "    keepalive_timeout: 0\n"
                      "    keepalive_requests: 0\n"
                      "    connect_timeout: 11m\n"
                      "  rr:\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "    hash_key: ip\n"
                      "  h:\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "    balance: hash\n"
                      "    hash_key: \"header:bad name\"\n"
                      "  h2:\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "    balance: hash\n"
                      "    hash_key: url\n"
                      "  list: [1]\n"
                      "  k: {servers: 1.2.3.4:80, keepalve: 1}\n",
                  {at("gw.conf", 4, 3) + "upstreams: bad upstream name \"bad name\" (use letters, digits, '_', '.', '-')",
                   at("gw.conf", 7, 14) + "upstreams.empty.servers: at least one server is required",
                   at("gw.conf", 9, 5) + "upstreams.none: missing required key \"servers\"",
                   at("gw.conf", 9, 14) +
                       "upstreams.none.balance: hash needs a hash_key (ip, path, header:NAME or cookie:NAME)",
                   at("gw.conf", 12, 40) + "upstreams.extra.servers[0].weight: 0 is out of range (1..1000)",
                   at("gw.conf", 12, 51) +
                       "upstreams.extra.servers[0].backup: expected a boolean (true/false, on/off, yes/no), got \"maybe\"",
                   at("gw.conf", 12, 58) + "unknown key \"port\"",
                   at("gw.conf", 13, 18) +
                       "upstreams.extra.servers[1].address: server address \"127.0.0.1\" has no port (expected "
                       "IP:PORT, [IPv6]:PORT, HOST:PORT or unix:/PATH)",
                   at("gw.conf", 14, 18) +
                       "upstreams.extra.servers[2].address: bad port \"0\" in server address \"127.0.0.1:0\" (1..65535)",
                   at("gw.conf", 15, 18) + "upstreams.extra.servers[3].address: bad server address \"::1:80\" (an "
                                           "IPv6 address needs brackets: [IPv6]:PORT)",
                   at("gw.conf", 16, 18) + "upstreams.extra.servers[4].address: server address \"unix:run/x.sock\": "
                                           "the unix socket path must be absolute",
                   at("gw.conf", 17, 18) + "upstreams.extra.servers[5].address: " +
                       resolve_error("no-such-host.invalid"),
                   at("gw.conf", 18, 18) +
                       "upstreams.extra.servers[6].address: bad IPv4 address in server address \"10.1:80\"",
                   at("gw.conf", 19, 18) +
                       "upstreams.extra.servers[7].address: bad IPv6 address in server address \"[::g]:80\"",
                   at("gw.conf", 20, 18) + "upstreams.extra.servers[8].address: bad server address \"bad host!:80\" "
                                           "(expected IP:PORT, [IPv6]:PORT, HOST:PORT or unix:/PATH)",
                   at("gw.conf", 21, 14) + "upstreams.extra.balance: unknown value \"fastest\" (expected "
                                           "round_robin, least_conn, random_two or hash)",
                   at("gw.conf", 23, 16) + "upstreams.extra.keepalive: 100001 is out of range (0..100000)",
                   at("gw.conf", 24, 24) + "upstreams.extra.keepalive_timeout: 0 is out of range (1ms..1d)",
                   at("gw.conf", 25, 25) + "upstreams.extra.keepalive_requests: 0 is out of range (1..1000000000)",
                   at("gw.conf", 26, 22) + "upstreams.extra.connect_timeout: 11m is out of range (1ms..10m)",
                   at("gw.conf", 29, 5) + "upstreams.rr.hash_key: only allowed with balance: hash",
                   at("gw.conf", 33, 15) + "upstreams.h.hash_key: bad header name \"bad name\"",
                   at("gw.conf", 37, 15) + "upstreams.h2.hash_key: unknown value \"url\" (expected ip, path, "
                                           "header:NAME or cookie:NAME)",
                   at("gw.conf", 38, 9) + "upstreams.list: expected a map, got a sequence",
                   at("gw.conf", 39, 16) + "upstreams.k.servers: expected a sequence, got \"1.2.3.4:80\"",
                   at("gw.conf", 39, 28) + "unknown key \"keepalve\" (did you mean \"keepalive\"?)"});
    expect_errors(std::string(kListener) + "upstreams: [a]\n",
                  {at("gw.conf", 3, 12) + "upstreams: expected a map, got a sequence"});
}

// --- circuit breakers ---------------------------------------------------------------------------

TEST_F(ConfigTest, CircuitBreakerDefaultsAndValues) {
    write("gw.conf", std::string(kListener) +
                         "upstreams:\n"
                         "  none: {servers: [{address: 127.0.0.1:9001}]}\n"
                         "  defaults:\n"
                         "    servers: [{address: 127.0.0.1:9001}]\n"
                         "    circuit_breaker: {}\n"
                         "  all:\n"
                         "    servers: [{address: 127.0.0.1:9001}, {address: 127.0.0.1:9002}]\n"
                         "    circuit_breaker:\n"
                         "      failure_ratio: 25%\n"
                         "      min_requests: 100\n"
                         "      consecutive_failures: 0\n"
                         "      window: 1m\n"
                         "      open_for: 2s\n"
                         "      max_open_for: 1h\n"
                         "      half_open_probes: 3\n"
                         "      close_after: 3\n"
                         "      failure_on: [reset, 503, invalid_response]\n"
                         "  long:\n"
                         "    servers: [{address: 127.0.0.1:9001}]\n"
                         "    circuit_breaker: {open_for: 10m, half_open_probes: 2, failure_on: 5xx}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->upstreams.size(), 4u);
    EXPECT_FALSE(c->upstreams[0].circuit_breaker);

    ASSERT_TRUE(c->upstreams[1].circuit_breaker);
    const CircuitBreakerConfig& d = *c->upstreams[1].circuit_breaker;
    EXPECT_EQ(d.failure_ratio, 0.5);
    EXPECT_EQ(d.min_requests, 20u);
    EXPECT_EQ(d.consecutive_failures, 10u);
    EXPECT_EQ(d.window, 10000);
    EXPECT_EQ(d.open_for, 30000);
    EXPECT_EQ(d.max_open_for, 300000);
    EXPECT_EQ(d.half_open_probes, 10u);
    EXPECT_EQ(d.close_after, 5u);
    EXPECT_EQ(d.failure_on, static_cast<uint32_t>(kFailConnect | kFailTimeout | kFail5xx));

    ASSERT_TRUE(c->upstreams[2].circuit_breaker);
    const CircuitBreakerConfig& a = *c->upstreams[2].circuit_breaker;
    EXPECT_EQ(a.failure_ratio, 0.25);
    EXPECT_EQ(a.min_requests, 100u);
    EXPECT_EQ(a.consecutive_failures, 0u);
    EXPECT_EQ(a.window, 60000);
    EXPECT_EQ(a.open_for, 2000);
    EXPECT_EQ(a.max_open_for, 3600000);
    EXPECT_EQ(a.half_open_probes, 3u);
    EXPECT_EQ(a.close_after, 3u);
    EXPECT_EQ(a.failure_on, static_cast<uint32_t>(kFailReset | kFail503 | kFailInvalid));

    // Defaults that follow other keys: max_open_for is at least open_for, close_after at most
    // half_open_probes.
    const CircuitBreakerConfig& l = *c->upstreams[3].circuit_breaker;
    EXPECT_EQ(l.max_open_for, 600000);
    EXPECT_EQ(l.close_after, 2u);
    EXPECT_EQ(l.failure_on, static_cast<uint32_t>(kFail5xx));

    // -T writes every key, and what it writes loads back the same.
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("    circuit_breaker:\n"
                        "      failure_ratio: 0.25\n"
                        "      min_requests: 100\n"
                        "      consecutive_failures: 0\n"
                        "      window: 1m\n"
                        "      open_for: 2s\n"
                        "      max_open_for: 1h\n"
                        "      half_open_probes: 3\n"
                        "      close_after: 3\n"
                        "      failure_on: [\"reset\", \"invalid_response\", \"503\"]\n"),
              std::string::npos)
        << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_EQ(dump_config(*again).substr(dump_config(*again).find("\nworker_processes:")),
              dump.substr(dump.find("\nworker_processes:")));
    EXPECT_FALSE(again->upstreams[0].circuit_breaker);
    EXPECT_EQ(again->upstreams[2].circuit_breaker->failure_on, a.failure_on);
}

TEST_F(ConfigTest, CircuitBreakerErrors) {
    expect_errors(std::string(kListener) +
                      "upstreams:\n"
                      "  a:\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "    circuit_breaker:\n"
                      "      failure_ratio: 1.5\n"
                      "      min_requests: 0\n"
                      "      consecutive_failures: 10001\n"
                      "      window: 500ms\n"
                      "      open_for: 0\n"
                      "      half_open_probes: 1001\n"
                      "      close_after: 0\n"
                      "      failure_on: [connect_failure, 404]\n"
                      "      falure_ratio: 0.5\n"
                      "  b:\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "    circuit_breaker: {open_for: 1m, max_open_for: 30s, half_open_probes: 2, close_after: 3}\n"
                      "  c:\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "    circuit_breaker: {failure_ratio: 0, consecutive_failures: 0, failure_on: []}\n"
                      "  d:\n"
                      "    servers: [{address: 127.0.0.1:1}]\n"
                      "    circuit_breaker: on\n",
                  {at("gw.conf", 7, 22) + "upstreams.a.circuit_breaker.failure_ratio: 1.5 is out of range (0..1, or 0%..100%)",
                   at("gw.conf", 8, 21) + "upstreams.a.circuit_breaker.min_requests: 0 is out of range (1..1000000)",
                   at("gw.conf", 9, 29) +
                       "upstreams.a.circuit_breaker.consecutive_failures: 10001 is out of range (0..10000)",
                   at("gw.conf", 10, 15) + "upstreams.a.circuit_breaker.window: 500ms is out of range (1s..1h)",
                   at("gw.conf", 11, 17) + "upstreams.a.circuit_breaker.open_for: 0 is out of range (1ms..1d)",
                   at("gw.conf", 12, 25) +
                       "upstreams.a.circuit_breaker.half_open_probes: 1001 is out of range (1..1000)",
                   at("gw.conf", 13, 20) + "upstreams.a.circuit_breaker.close_after: 0 is out of range (1..1000)",
                   at("gw.conf", 14, 37) +
                       "upstreams.a.circuit_breaker.failure_on[1]: unknown value \"404\" (expected connect_failure, "
                       "timeout, reset, invalid_response, 502, 503, 504 or 5xx)",
                   at("gw.conf", 15, 7) + "unknown key \"falure_ratio\" (did you mean \"failure_ratio\"?)",
                   at("gw.conf", 18, 51) + "upstreams.b.circuit_breaker.max_open_for: 30s is less than open_for (1m)",
                   at("gw.conf", 18, 90) +
                       "upstreams.b.circuit_breaker.close_after: 3 is more than half_open_probes (2): the breaker "
                       "could never close",
                   at("gw.conf", 21, 22) + "upstreams.c.circuit_breaker: failure_ratio and consecutive_failures are "
                                           "both 0: the breaker could never open",
                   at("gw.conf", 21, 78) +
                       "upstreams.c.circuit_breaker.failure_on: empty list (leave failure_on out for "
                       "[connect_failure, timeout, 5xx])",
                   at("gw.conf", 24, 22) + "upstreams.d.circuit_breaker: expected a map, got \"on\""});
}

TEST_F(ConfigTest, UpstreamsFromIncludes) {
    write("gw.conf",
          "include: conf.d/*.conf\n"
          "listeners:\n"
          "  - address: 8080\n"
          "upstreams:\n"
          "  a: {servers: [{address: 127.0.0.1:1}]}\n"
          "routes:\n"
          "  - {name: ra, upstream: b}\n");
    write("conf.d/b.conf",
          "upstreams:\n"
          "  b: {servers: [{address: 127.0.0.1:2}]}\n"
          "routes:\n"
          "  - {name: rb, upstream: a}\n");
    write("conf.d/c.conf", "upstreams:\n  c: {servers: [{address: 127.0.0.1:3}]}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->upstreams.size(), 3u);
    EXPECT_EQ(c->upstreams[0].name, "a");
    EXPECT_EQ(c->upstreams[1].name, "b");
    EXPECT_EQ(*c->upstreams[1].mark.file, path("conf.d/b.conf"));
    EXPECT_EQ(c->upstreams[2].name, "c");
    ASSERT_EQ(c->routes.size(), 2u);
    EXPECT_EQ(c->routes[0].upstream_index, 1);  // a route may name an upstream of a later file
    EXPECT_EQ(c->routes[1].upstream_index, 0);

    write("conf.d/c.conf", "upstreams:\n  c: {servers: [{address: 127.0.0.1:3}]}\n  a: {servers: [{address: 127.0.0.1:4}]}\n");
    write("conf.d/d.conf", "upstreams: [x]\n");
    EXPECT_FALSE(load("gw.conf"));
    std::vector<std::string> got = errors();
    std::sort(got.begin(), got.end());
    std::vector<std::string> expected = {
        at("conf.d/c.conf", 3, 3) + "duplicate upstream \"a\" (first defined at " + path("gw.conf") + ":5:3)",
        at("conf.d/d.conf", 1, 12) + "upstreams: expected a map, got a sequence",
    };
    EXPECT_EQ(got, expected);
}

// --- proxied routes -----------------------------------------------------------------------------

TEST_F(ConfigTest, ProxyRouteValues) {
    write("gw.conf", std::string(kListener) +
                         "upstreams:\n"
                         "  api: {servers: [{address: 127.0.0.1:9001}]}\n"
                         "  blue: {servers: [{address: 127.0.0.1:9002}]}\n"
                         "  green: {servers: [{address: 127.0.0.1:9003}]}\n"
                         "routes:\n"
                         "  - name: api\n"
                         "    match:\n"
                         "      path_regex: '^/api/(v\\d)/(.*)$'\n"
                         "      methods: GET\n"
                         "      headers: {X-Canary: \"yes\", accept: \"\"}\n"
                         "      query: {Debug: \"1\", q: x y}\n"
                         "    upstream: api\n"
                         "    rewrite: '/$2/$1/$$0/$0'\n"
                         "    timeout: {read: 5s, send: 6s, tunnel: 1d}\n"
                         "    retries:\n"
                         "      attempts: 10\n"
                         "      on: [502, 5xx, reset, timeout, connect_failure, 503, 504]\n"
                         "      non_idempotent: yes\n"
                         "      budget: 12.5%\n"
                         "    request_headers:\n"
                         "      set: {X-Forwarded-Proto: https, Host: internal.example}\n"
                         "      remove: [X-Debug, cookie]\n"
                         "    response_headers:\n"
                         "      remove: Server\n"
                         "  - name: canary\n"
                         "    match: {path_prefix: /web/}\n"
                         "    split:\n"
                         "      - {upstream: blue, weight: 90}\n"
                         "      - upstream: green\n"
                         "    strip_prefix: /web\n"
                         "    retries: {on: 5xx, attempts: 2, budget: 0}\n"
                         "    response_headers: {set: {X-Color: split}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->routes.size(), 2u);
    using H = std::pair<std::string, std::string>;
    const RouteConfig& r = c->routes[0];
    EXPECT_EQ(r.match.path_regex, "^/api/(v\\d)/(.*)$");
    EXPECT_EQ(r.match.methods, std::vector<std::string>{"GET"});
    EXPECT_EQ(r.match.headers, (std::vector<H>{{"x-canary", "yes"}, {"accept", ""}}));
    EXPECT_EQ(r.match.query, (std::vector<H>{{"Debug", "1"}, {"q", "x y"}}));
    EXPECT_EQ(r.upstream, "api");
    EXPECT_EQ(r.upstream_index, 0);
    EXPECT_EQ(r.rewrite, "/$2/$1/$$0/$0");
    EXPECT_EQ(r.timeout.read, 5000);
    EXPECT_EQ(r.timeout.send, 6000);
    EXPECT_EQ(r.timeout.tunnel, 86400000);
    EXPECT_EQ(r.retries.attempts, 10u);
    EXPECT_EQ(r.retries.on, static_cast<uint32_t>(kRetryConnectFailure | kRetryTimeout | kRetryReset | kRetry502 |
                                                  kRetry503 | kRetry504 | kRetry5xx));
    EXPECT_TRUE(r.retries.non_idempotent);
    EXPECT_EQ(r.retries.budget, 0.125);
    EXPECT_EQ(pairs(r.request_headers.set), (std::vector<H>{{"x-forwarded-proto", "https"}, {"host", "internal.example"}}));
    EXPECT_EQ(r.request_headers.remove, (std::vector<std::string>{"x-debug", "cookie"}));
    EXPECT_TRUE(r.response_headers.set.empty());
    EXPECT_EQ(r.response_headers.remove, std::vector<std::string>{"server"});

    const RouteConfig& s = c->routes[1];
    EXPECT_EQ(s.upstream, "");
    EXPECT_EQ(s.upstream_index, -1);
    ASSERT_EQ(s.split.size(), 2u);
    EXPECT_EQ(s.split[0].upstream, "blue");
    EXPECT_EQ(s.split[0].upstream_index, 1);
    EXPECT_EQ(s.split[0].weight, 90u);
    EXPECT_EQ(s.split[0].mark.line, 30);
    EXPECT_EQ(s.split[0].mark.col, 9);
    EXPECT_EQ(s.split[1].upstream, "green");
    EXPECT_EQ(s.split[1].upstream_index, 2);
    EXPECT_EQ(s.split[1].weight, 1u);
    EXPECT_EQ(s.strip_prefix, "/web");
    EXPECT_EQ(s.rewrite, "");
    EXPECT_EQ(s.retries.on, static_cast<uint32_t>(kRetry5xx));
    EXPECT_EQ(s.retries.attempts, 2u);
    EXPECT_EQ(s.retries.budget, 0.0);
    EXPECT_EQ(pairs(s.response_headers.set), (std::vector<H>{{"x-color", "split"}}));
}

TEST_F(ConfigTest, RetryBudgetSpellings) {
    const std::pair<const char*, double> good[] = {
        {"0", 0.0},   {"0.0", 0.0},  {"1", 1.0},       {"1.0", 1.0},     {"0.2", 0.2},     {"20%", 0.2},
        {"\"20%\"", 0.2}, {"100%", 1.0}, {"0%", 0.0}, {"5%", 0.05},    {"0.05", 0.05},   {"12.5%", 0.125},
        {"0.5%", 0.005}, {"33.3%", 0.333}, {"00.25", 0.25}, {"100.00%", 1.0},
    };
    for (const auto& [text, value] : good) {
        write("gw.conf", std::string(kListener) +
                             "upstreams: {u: {servers: [{address: 127.0.0.1:1}]}}\n"
                             "routes:\n  - {name: r, upstream: u, retries: {budget: " + text + "}}\n");
        std::optional<Config> c = load("gw.conf");
        ASSERT_TRUE(c) << text << ::testing::PrintToString(errors());
        EXPECT_EQ(c->routes[0].retries.budget, value) << text;
    }
    const std::pair<const char*, const char*> bad[] = {
        {"1.5", "1.5 is out of range (0..1, or 0%..100%)"},
        {"101%", "101% is out of range (0..1, or 0%..100%)"},
        {"2", "2 is out of range (0..1, or 0%..100%)"},
        {".5", "bad ratio \".5\" (write a share as 0.2 or 20%)"},
        {"1.", "bad ratio \"1.\" (write a share as 0.2 or 20%)"},
        {"-0.1", "bad ratio \"-0.1\" (write a share as 0.2 or 20%)"},
        {"1e-1", "bad ratio \"1e-1\" (write a share as 0.2 or 20%)"},
        {"20 %", "bad ratio \"20 %\" (write a share as 0.2 or 20%)"},
        {"\"%\"", "bad ratio \"%\" (write a share as 0.2 or 20%)"},
        {"nan", "bad ratio \"nan\" (write a share as 0.2 or 20%)"},
        {"[0.2]", "expected a ratio (0.2 or 20%), got a sequence"},
    };
    for (const auto& [text, message] : bad) {
        expect_errors(std::string(kListener) +
                          "upstreams: {u: {servers: [{address: 127.0.0.1:1}]}}\n"
                          "routes:\n  - {name: r, upstream: u, retries: {budget: " + text + "}}\n",
                      {at("gw.conf", 5, 46) + "routes[0].retries.budget: " + message});
    }
}

TEST_F(ConfigTest, ProxyRouteErrors) {
    expect_errors(std::string(kListener) +
                      "upstreams:\n"
                      "  api: {servers: [{address: 127.0.0.1:9001}]}\n"
                      "  web: {servers: [{address: 127.0.0.1:9002}]}\n"
                      "routes:\n"
                      "  - name: unknown\n"
                      "    upstream: apu\n"
                      "  - name: none\n"
                      "    match: {path: /x}\n"
                      "  - name: two\n"
                      "    return: {}\n"
                      "    upstream: api\n"
                      "  - name: three\n"
                      "    split: [{upstream: web}]\n"
                      "    upstream: api\n"
                      "    return: {status: 204}\n"
                      "  - name: ret\n"
                      "    return: {}\n"
                      "    strip_prefix: /x\n"
                      "    timeout: {read: 1s}\n"
                      "  - name: split\n"
                      "    split:\n"
                      "      - {upstream: web, weight: 0}\n"
                      "      - {upstream: wep}\n"
                      "      - {weight: 2}\n"
                      "      - upstream: web\n"
                      "  - name: emptysplit\n"
                      "    split: []\n"
                      "  - name: rw\n"
                      "    upstream: api\n"
                      "    rewrite: /x/$1\n"
                      "  - name: rw2\n"
                      "    match: {path_regex: '^/a/(\\d+)$'}\n"
                      "    upstream: api\n"
                      "    rewrite: '/b/$2/$x$$/$'\n"
                      "  - name: rw3\n"
                      "    match: {path_regex: '^/(a'}\n"
                      "    upstream: api\n"
                      "    rewrite: '/q?x'\n"
                      "    strip_prefix: nope\n"
                      "  - name: m\n"
                      "    match: {path: /a, path_prefix: /b, path_regex: /c}\n"
                      "    upstream: api\n"
                      "  - name: mh\n"
                      "    match:\n"
                      "      headers: {X-A: \"1\", x-a: \"2\", \"b c\": d, e: \"x\\ny\"}\n"
                      "      query: {\"\": x, ok: [1]}\n"
                      "    upstream: api\n"
                      "  - name: opts\n"
                      "    upstream: api\n"
                      "    timeout: {read: 0, tunnel: 2d}\n"
                      "    retries: {attempts: 11, on: [timeout, 500], budget: 1.5, non_idempotent: sure}\n"
                      "    request_headers:\n"
                      "      set: {Connection: close, Host: example.com, x-a: \"a\\rb\"}\n"
                      "      remove: [te, host, X-Gone, x-gone, 1 2]\n"
                      "    response_headers:\n"
                      "      set: {content-length: \"5\", x-b: ok}\n"
                      "      remove: X-B\n"
                      "  - name: more\n"
                      "    upstream: [api]\n"
                      "    retries: {on: [], atempts: 2}\n"
                      "    request_headers: {set: [a], remove: {a: b}, append: {}}\n"
                      "    timeout: {idle: 1s}\n"
                      "    match: {path_regex: ''}\n",
                  {at("gw.conf", 8, 15) + "routes[0].upstream: unknown upstream \"apu\" (did you mean \"api\"?)",
                   at("gw.conf", 9, 5) + "route \"none\" has no action (return, upstream or split)",
                   at("gw.conf", 13, 5) + "route \"two\" has more than one action (return and upstream)",
                   at("gw.conf", 16, 5) + "route \"three\" has more than one action (split, upstream and return)",
                   at("gw.conf", 20, 5) + "routes[4].strip_prefix: only allowed with upstream or split, not with return",
                   at("gw.conf", 21, 5) + "routes[4].timeout: only allowed with upstream or split, not with return",
                   at("gw.conf", 24, 33) + "routes[5].split[0].weight: 0 is out of range (1..1000)",
                   at("gw.conf", 25, 20) + "routes[5].split[1].upstream: unknown upstream \"wep\" (did you mean \"web\"?)",
                   at("gw.conf", 26, 9) + "routes[5].split[2]: missing required key \"upstream\"",
                   at("gw.conf", 27, 19) + "routes[5].split[3].upstream: upstream \"web\" is already listed (at " +
                       path("gw.conf") + ":24:20)",
                   at("gw.conf", 29, 12) + "routes[6].split: at least one upstream is required",
                   at("gw.conf", 32, 5) + "routes[7].rewrite: only allowed with match.path_regex",
                   at("gw.conf", 36, 14) + "routes[8].rewrite: $2 refers to a group path_regex does not have (it has 1)",
                   at("gw.conf", 36, 14) + "routes[8].rewrite: '$' at offset 6 must be followed by a group number "
                                           "(0-9) or by '$' for a literal '$'",
                   at("gw.conf", 36, 14) + "routes[8].rewrite: '$' at offset 11 must be followed by a group number "
                                           "(0-9) or by '$' for a literal '$'",
                   at("gw.conf", 38, 25) + "routes[9].match: invalid path_regex: missing closing parenthesis at offset 4",
                   at("gw.conf", 40, 14) + "routes[9].rewrite: \"/q?x\" must start with '/' and contain no spaces, "
                                           "control characters, '?' or '#'",
                   at("gw.conf", 41, 19) + "routes[9].strip_prefix: \"nope\" must start with '/' and contain no spaces "
                                           "or control characters",
                   at("gw.conf", 41, 5) + "routes[9]: strip_prefix and rewrite cannot be used together (rewrite sets "
                                          "the whole path)",
                   at("gw.conf", 43, 40) + "routes[10].match: path, path_prefix and path_regex cannot be used together",
                   at("gw.conf", 47, 27) + "routes[11].match.headers: duplicate header name \"x-a\" (first at " +
                       path("gw.conf") + ":47:17)",
                   at("gw.conf", 47, 37) + "routes[11].match.headers: bad header name \"b c\"",
                   at("gw.conf", 47, 50) + "routes[11].match.headers.e: a header value cannot contain CR, LF or NUL",
                   at("gw.conf", 48, 15) + "routes[11].match.query: empty parameter name",
                   at("gw.conf", 48, 26) + "routes[11].match.query.ok: expected a string, got a sequence",
                   at("gw.conf", 52, 21) + "routes[12].timeout.read: 0 is out of range (1ms..1d)",
                   at("gw.conf", 52, 32) + "routes[12].timeout.tunnel: 2d is out of range (1ms..1d)",
                   at("gw.conf", 53, 25) + "routes[12].retries.attempts: 11 is out of range (1..10)",
                   at("gw.conf", 53, 43) + "routes[12].retries.on[1]: unknown value \"500\" (expected connect_failure, "
                                           "timeout, reset, 502, 503, 504 or 5xx)",
                   at("gw.conf", 53, 57) + "routes[12].retries.budget: 1.5 is out of range (0..1, or 0%..100%)",
                   at("gw.conf", 53, 78) + "routes[12].retries.non_idempotent: expected a boolean (true/false, on/off, "
                                           "yes/no), got \"sure\"",
                   at("gw.conf", 55, 13) + "routes[12].request_headers.set: \"connection\" cannot be set: the proxy "
                                           "manages it",
                   at("gw.conf", 55, 56) + "routes[12].request_headers.set.x-a: a header value cannot contain CR, LF or NUL",
                   at("gw.conf", 56, 16) + "routes[12].request_headers.remove[0]: \"te\" cannot be removed: the proxy "
                                           "manages it",
                   at("gw.conf", 56, 20) + "routes[12].request_headers.remove[1]: \"host\" cannot be removed: a request "
                                           "needs one (set it instead)",
                   at("gw.conf", 56, 34) + "routes[12].request_headers.remove[3]: \"x-gone\" is listed twice (first at " +
                       path("gw.conf") + ":56:26)",
                   at("gw.conf", 56, 42) + "routes[12].request_headers.remove[4]: bad header name \"1 2\"",
                   at("gw.conf", 58, 13) + "routes[12].response_headers.set: \"content-length\" cannot be set: the proxy "
                                           "manages it",
                   at("gw.conf", 59, 15) + "routes[12].response_headers.remove: \"x-b\" is both set or added (at " +
                       path("gw.conf") + ":58:34) and removed",
                   at("gw.conf", 61, 15) + "routes[13].upstream: expected a string, got a sequence",
                   at("gw.conf", 62, 19) + "routes[13].retries.on: empty list (leave on out for [connect_failure])",
                   at("gw.conf", 62, 23) + "unknown key \"atempts\" (did you mean \"attempts\"?)",
                   at("gw.conf", 63, 28) + "routes[13].request_headers.set: expected a map, got a sequence",
                   at("gw.conf", 63, 41) + "routes[13].request_headers.remove: expected a sequence, got a map",
                   at("gw.conf", 63, 49) + "unknown key \"append\"",
                   at("gw.conf", 64, 15) + "unknown key \"idle\"",
                   at("gw.conf", 65, 25) +
                       "routes[13].match.path_regex: empty pattern (leave path_regex out to match any path)"});
    // Two of the three ways to match a path, reported at the later key.
    expect_errors(std::string(kListener) +
                      "upstreams: {api: {servers: [{address: 127.0.0.1:9001}]}}\n"
                      "routes:\n"
                      "  - name: a\n"
                      "    upstream: api\n"
                      "    match:\n"
                      "      path_regex: ^/a\n"
                      "      path_prefix: /a\n"
                      "  - {name: b, upstream: api, match: {path_regex: ^/b, path: /b}}\n",
                  {at("gw.conf", 9, 7) + "routes[0].match: path_prefix and path_regex cannot be used together",
                   at("gw.conf", 10, 55) + "routes[1].match: path and path_regex cannot be used together"});
}

// --- YAML level ---------------------------------------------------------------------------------

TEST_F(ConfigTest, DuplicateKeys) {
    expect_errors(std::string(kListener) +
                      "daemon: on\n"
                      "http:\n"
                      "  max_headers: 10\n"
                      "  max_headers: 20\n"
                      "daemon: off\n",
                  {at("gw.conf", 6, 3) + "duplicate key \"max_headers\" (first at " + path("gw.conf") + ":5:3)",
                   at("gw.conf", 7, 1) + "duplicate key \"daemon\" (first at " + path("gw.conf") + ":3:1)"});
}

TEST_F(ConfigTest, YamlSyntaxError) {
    expect_errors("listeners:\n"
                  "  - address: 8080\n"
                  "daemon: off\n"
                  "  pid: x\n",
                  {at("gw.conf", 4, 6) + "mapping values are not allowed in this context"});
    expect_errors("listeners: [{address: 8080}\n"
                  "daemon: off\n",
                  {at("gw.conf", 2, 1) +
                   "did not find expected ',' or ']' (while parsing a flow sequence at 1:12)"});
}

TEST_F(ConfigTest, YamlFeatures) {
    // Aliases are copies; !!str makes a string of anything; one document only; core tags only.
    write("gw.conf",
          "listeners:\n"
          "  - &l {address: 8080, backlog: 64}\n"
          "routes:\n"
          "  - {name: a, return: &r {status: 200, body: !!str on}}\n"
          "  - {name: b, return: *r}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->routes.size(), 2u);
    EXPECT_EQ(c->routes[1].ret->status, 200);
    EXPECT_EQ(c->routes[1].ret->body.source(), "on");

    expect_errors(std::string(kListener) + "daemon: *nope\npid: !custom x\n---\na: 1\n",
                  {at("gw.conf", 3, 9) + "unknown anchor \"nope\"",
                   at("gw.conf", 4, 6) + "unsupported tag \"!custom\"",
                   at("gw.conf", 5, 1) + "only one YAML document is allowed in a file",
                   // the Null left by the unknown anchor is then not a boolean
                   at("gw.conf", 3, 9) + "daemon: expected a boolean, got null"});
}

TEST_F(ConfigTest, AliasBombIsStopped) {
    std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char c = 'b'; c <= 'h'; c++) {
        text += std::string(1, c) + ": &" + c + " [";
        for (int i = 0; i < 10; i++) text += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
        text += "]\n";
    }
    write("gw.conf", text + kListener);
    EXPECT_FALSE(load("gw.conf"));
    bool found = false;
    for (const std::string& e : errors()) found |= e.find("aliases expand to too many nodes") != std::string::npos;
    EXPECT_TRUE(found) << ::testing::PrintToString(errors());
}

TEST_F(ConfigTest, SeveralErrorsAllReported) {
    expect_errors("worker_processes: 0\n"
                  "worker_conections: 100\n"
                  "daemon: maybe\n"
                  "shutdown_timeout: 5\n"
                  "listeners:\n"
                  "  - address: 1.2.3.4\n"
                  "routes:\n"
                  "  - name: r\n",
                  {at("gw.conf", 1, 19) + "worker_processes: 0 is out of range (1..1024)",
                   at("gw.conf", 2, 1) + "unknown key \"worker_conections\" (did you mean \"worker_connections\"?)",
                   at("gw.conf", 3, 9) + "daemon: expected a boolean (true/false, on/off, yes/no), got \"maybe\"",
                   at("gw.conf", 4, 19) + "shutdown_timeout: bad duration \"5\" (use a unit: ms, s, m, h, d)",
                   at("gw.conf", 6, 14) + "listener address \"1.2.3.4\": expected IP:PORT, [IPv6]:PORT or PORT",
                   at("gw.conf", 8, 5) + "route \"r\" has no action (return, upstream or split)"});
}

TEST_F(ConfigTest, MissingMainFile) {
    EXPECT_FALSE(load("nope.conf"));
    EXPECT_EQ(errors(), std::vector<std::string>{path("nope.conf") + ": cannot read: No such file or directory"});
}

// --- include ------------------------------------------------------------------------------------

TEST_F(ConfigTest, IncludeGlobOrderAndFiles) {
    write("gw.conf",
          "include: [\"conf.d/*.conf\", sub/one.conf, \"empty.d/*.conf\"]\n"
          "listeners:\n"
          "  - address: 8080\n"
          "routes:\n"
          "  - {name: main, return: {}}\n");
    // Written out of order: glob results are sorted.
    write("conf.d/b.conf", "routes:\n  - {name: b, return: {}}\n");
    write("conf.d/a.conf", "listeners:\n  - address: 8081\nroutes:\n  - {name: a, return: {}}\ndaemon: off\n");
    write("conf.d/ignored.txt", "this: is not included\n");
    write("sub/one.conf", "include: two.conf\nroutes:\n  - {name: one, return: {}}\n");
    write("sub/two.conf", "# only a comment\nroutes:\n  - {name: two, return: {}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    std::vector<std::string> names;
    for (const RouteConfig& r : c->routes) names.push_back(r.name);
    EXPECT_EQ(names, (std::vector<std::string>{"main", "a", "b", "one", "two"}));
    ASSERT_EQ(c->listeners.size(), 2u);
    EXPECT_EQ(c->listeners[1].address, "8081");
    EXPECT_EQ(*c->listeners[1].mark.file, path("conf.d/a.conf"));
    EXPECT_FALSE(c->daemon);
    EXPECT_EQ(c->files, (std::vector<std::string>{path("gw.conf"), path("conf.d/a.conf"), path("conf.d/b.conf"),
                                                  path("sub/one.conf"), path("sub/two.conf")}));
}

TEST_F(ConfigTest, ErrorInIncludedFileNamesThatFile) {
    write("gw.conf", "include: conf.d/*.conf\nlisteners:\n  - address: 8080\ndaemon: on\n");
    write("conf.d/a.conf", "routes:\n  - name: a\n    return: {status: 1000}\n");
    write("conf.d/b.conf", "\ndaemon: off\nlisteners:\n  - address: 8080\n");
    EXPECT_FALSE(load("gw.conf"));
    std::vector<std::string> got = errors();
    std::sort(got.begin(), got.end());
    std::vector<std::string> expected = {
        at("conf.d/a.conf", 3, 22) + "routes[0].return.status: 1000 is out of range (100..599)",
        at("conf.d/b.conf", 2, 1) + "duplicate key \"daemon\" (first at " + path("gw.conf") + ":4:1)",
        at("conf.d/b.conf", 4, 14) + "duplicate listener address \"8080\" (first at " + path("gw.conf") + ":3:14)",
    };
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(got, expected);
}

TEST_F(ConfigTest, IncludeCycle) {
    write("gw.conf", "include: a.conf\nlisteners:\n  - address: 8080\n");
    write("a.conf", "include: [b.conf]\n");
    write("b.conf", "include: gw.conf\n");
    EXPECT_FALSE(load("gw.conf"));
    EXPECT_EQ(errors(), std::vector<std::string>{at("b.conf", 1, 10) + "include cycle: " + path("gw.conf") +
                                                 " -> " + path("a.conf") + " -> " + path("b.conf") + " -> " +
                                                 path("gw.conf")});
}

TEST_F(ConfigTest, IncludeDepthLimit) {
    write("gw.conf", "include: d1.conf\nlisteners:\n  - address: 8080\n");
    for (int i = 1; i <= 9; i++) {
        write("d" + std::to_string(i) + ".conf", "include: d" + std::to_string(i + 1) + ".conf\n");
    }
    write("d10.conf", "daemon: off\n");
    EXPECT_FALSE(load("gw.conf"));
    EXPECT_EQ(errors(), std::vector<std::string>{at("d8.conf", 1, 10) +
                                                 "includes nested too deeply (more than 8 levels)"});
}

TEST_F(ConfigTest, IncludeMissingLiteralIsAnError) {
    expect_errors("listeners:\n  - address: 8080\ninclude:\n  - \"none/*.conf\"\n  - missing.conf\n",
                  {at("gw.conf", 5, 5) + "cannot read \"" + path("missing.conf") +
                   "\": No such file or directory"});
    expect_errors("listeners:\n  - address: 8080\ninclude: {a: b}\nincludes: x\n",
                  {at("gw.conf", 3, 10) + "include: expected a sequence, got a map",
                   at("gw.conf", 4, 1) + "unknown key \"includes\" (did you mean \"include\"?)"});
}

TEST_F(ConfigTest, IncludedFileMustBeAMap) {
    write("gw.conf", "include: x.conf\nlisteners:\n  - address: 8080\n");
    write("x.conf", "- 1\n");
    EXPECT_FALSE(load("gw.conf"));
    EXPECT_EQ(errors(), std::vector<std::string>{at("x.conf", 1, 1) +
                                                 "expected a map of top-level keys, got a sequence"});
}

// --- defaults, paths, dump ----------------------------------------------------------------------

TEST_F(ConfigTest, Defaults) {
    write("gw.conf", kListener);
    std::optional<Config> c = load("gw.conf", "/srv/gw/");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->file, path("gw.conf"));
    EXPECT_EQ(c->prefix, "/srv/gw");
    EXPECT_EQ(c->files, std::vector<std::string>{path("gw.conf")});
    EXPECT_EQ(c->worker_processes, 1);
    EXPECT_FALSE(c->worker_processes_auto);
    EXPECT_EQ(c->worker_connections, 4096u);
    EXPECT_EQ(c->user, "");
    EXPECT_EQ(c->group, "");
    EXPECT_EQ(c->pid_path, "/srv/gw/logs/gatewayd.pid");
    EXPECT_EQ(c->error_log.path, "/srv/gw/logs/error.log");
    EXPECT_EQ(c->error_log.level, LogLevel::Notice);
    EXPECT_TRUE(c->daemon);
    EXPECT_EQ(c->shutdown_timeout, 30000);
    EXPECT_EQ(c->worker_ready_timeout, 10000);
    ASSERT_EQ(c->listeners.size(), 1u);
    EXPECT_FALSE(c->listeners[0].admin);
    EXPECT_EQ(c->listeners[0].backlog, 511);
    EXPECT_FALSE(c->access_log.enabled);
    HttpConfig d;
    EXPECT_EQ(c->http.max_header_size, d.max_header_size);
    EXPECT_EQ(c->http.max_uri_size, d.max_uri_size);
    EXPECT_EQ(c->http.max_headers, d.max_headers);
    EXPECT_EQ(c->http.client_max_body_size, d.client_max_body_size);
    EXPECT_EQ(c->http.keepalive_timeout, d.keepalive_timeout);
    EXPECT_EQ(c->http.keepalive_requests, d.keepalive_requests);
    EXPECT_TRUE(c->routes.empty());
    EXPECT_TRUE(diags_.all().empty());
}

TEST_F(ConfigTest, WorkerProcessesAuto) {
    write("gw.conf", std::string(kListener) + "worker_processes: auto\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->worker_processes_auto);
    EXPECT_GE(c->worker_processes, 1);
    EXPECT_EQ(c->worker_processes, std::clamp<int>(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)), 1, 1024));
}

TEST_F(ConfigTest, PathsResolveAgainstPrefix) {
    write("gw.conf", std::string(kListener) +
                         "pid: run/gw.pid\n"
                         "error_log: {path: ./logs/../err.log, level: debug}\n"
                         "access_log: logs/access.log\n");
    std::optional<Config> c = load("gw.conf", "/opt/gw");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->pid_path, "/opt/gw/run/gw.pid");
    EXPECT_EQ(c->error_log.path, "/opt/gw/err.log");
    EXPECT_EQ(c->error_log.level, LogLevel::Debug);
    EXPECT_TRUE(c->access_log.enabled);
    EXPECT_EQ(c->access_log.path, "/opt/gw/logs/access.log");
    EXPECT_EQ(c->access_log.format, AccessLogConfig::Format::Json);

    write("gw.conf", std::string(kListener) +
                         "pid: /var/run/gw.pid\n"
                         "error_log: stderr\n"
                         "access_log: {path: /var/log/a.log, format: combined, buffer: 0, flush: 250ms}\n");
    c = load("gw.conf", "/opt/gw");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->pid_path, "/var/run/gw.pid");
    EXPECT_EQ(c->error_log.path, "stderr");
    EXPECT_EQ(c->access_log.path, "/var/log/a.log");
    EXPECT_EQ(c->access_log.format, AccessLogConfig::Format::Combined);
    EXPECT_EQ(c->access_log.buffer, 0u);
    EXPECT_EQ(c->access_log.flush, 250);

    // `off` unquoted disables; quoted it is a file name.
    write("gw.conf", std::string(kListener) + "access_log: off\n");
    c = load("gw.conf", "/opt/gw");
    ASSERT_TRUE(c);
    EXPECT_FALSE(c->access_log.enabled);
    write("gw.conf", std::string(kListener) + "access_log: \"off\"\n");
    c = load("gw.conf", "/opt/gw");
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->access_log.enabled);
    EXPECT_EQ(c->access_log.path, "/opt/gw/off");
}

TEST_F(ConfigTest, RelativeFileAndPrefixUseTheCurrentDirectory) {
    write("gw.conf", kListener);
    char old[4096];
    ASSERT_NE(getcwd(old, sizeof old), nullptr);
    ASSERT_EQ(chdir(dir_.c_str()), 0);
    Diagnostics d;
    std::optional<Config> c = load_config("./gw.conf", "p/", d);
    std::string cwd = std::filesystem::current_path().string();
    ASSERT_EQ(chdir(old), 0);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->file, cwd + "/gw.conf");
    EXPECT_EQ(c->prefix, cwd + "/p");
    EXPECT_EQ(c->pid_path, cwd + "/p/logs/gatewayd.pid");
}

TEST_F(ConfigTest, DumpRoundTrip) {
    write("gw.conf",
          "include: extra/*.conf\n"
          "worker_processes: 3\n"
          "worker_connections: 1024\n"
          "user: root\n"
          "pid: run/gw.pid\n"
          "daemon: no\n"
          "shutdown_timeout: 90s\n"
          "worker_ready_timeout: 1500ms\n"
          "error_log: {path: stderr, level: warn}\n"
          "listeners:\n"
          "  - address: \"*:8080\"\n"
          "  - {address: \"[::1]:9090\", admin: true, backlog: 128}\n"
          "access_log: {path: logs/a.log, format: combined, buffer: 1000, flush: 2m}\n"
          "http:\n"
          "  max_header_size: 32k\n"
          "  max_uri_size: 4k\n"
          "  max_headers: 50\n"
          "  client_max_body_size: 0\n"
          "  keepalive_timeout: 0\n"
          "  keepalive_requests: 7\n"
          "  extra_methods: [PURGE]\n"
          "upstreams:\n"
          "  api:\n"
          "    servers:\n"
          "      - {address: 127.0.0.1:9001, weight: 3}\n"
          "      - {address: \"[::1]:9002\", backup: on}\n"
          "      - address: unix:/run/gw/api.sock\n"
          "    balance: hash\n"
          "    hash_key: header:X-User\n"
          "    keepalive: 0\n"
          "    keepalive_timeout: 90s\n"
          "    connect_timeout: 250ms\n"
          "  web.2: {servers: [{address: localhost:8081}], balance: least_conn, keepalive_requests: 10}\n"
          "  c: {servers: [{address: 10.0.0.1:80}], balance: hash, hash_key: \"cookie:S#id\"}\n"
          "routes:\n"
          "  - name: r1\n"
          "    match: {path_prefix: \"/a%20b\\\"c\", methods: [GET, HEAD, PURGE], host: \"*.example.com\"}\n"
          "    return:\n"
          "      status: 302\n"
          "      body: \"line1\\nline2\\ttab \\\\ # not a comment: on\"\n"
          "      headers: {Location: \"https://example.com/#x\", \"X-#\": \"'q'\"}\n"
          "  - name: proxied\n"
          "    match:\n"
          "      path_regex: '^/x/(\\d+)\"#(?:a|b)$'\n"
          "      headers: {X-A: \"1\", accept: \"\"}\n"
          "      query: {\"a b\": \"c:d\", on: \"#\"}\n"
          "    upstream: api\n"
          "    rewrite: '/y/$1/$$'\n"
          "    timeout: {read: 5s, tunnel: 2h}\n"
          "    retries: {attempts: 3, on: [5xx, reset], non_idempotent: true, budget: 12.5%}\n"
          "    request_headers: {set: {Host: example.com, x-q: \"'on'\"}, remove: [cookie]}\n"
          "    response_headers: {remove: server}\n"
          "  - name: canary\n"
          "    split: [{upstream: api, weight: 9}, {upstream: web.2}]\n"
          "    strip_prefix: /canary\n");
    write("extra/more.conf", "routes:\n  - {name: r2, match: {path: /exact}, return: {}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    std::string dump = dump_config(*c);
    EXPECT_EQ(dump.rfind("# ", 0), 0u) << dump;
    EXPECT_NE(dump.find("#   " + path("gw.conf") + "\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("#   " + path("extra/more.conf") + "\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("worker_ready_timeout: 1500ms\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("shutdown_timeout: 90s\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("max_header_size: 32k\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("buffer: 1000\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("send_timeout: 1m\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("extra_methods: [\"PURGE\"]\n"), std::string::npos) << dump;

    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf", "/elsewhere");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    // Everything but the list of files read must be the same.
    std::string dump2 = dump_config(*again);
    auto body = [](const std::string& s) { return s.substr(s.find("\nworker_processes:")); };
    EXPECT_EQ(body(dump2), body(dump));
    EXPECT_NE(dump.find("budget: 0.125\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("hash_key: \"header:x-user\"\n"), std::string::npos) << dump;
    ASSERT_EQ(again->routes.size(), 4u);
    EXPECT_EQ(again->routes[0].ret->body.source(), "line1\nline2\ttab \\ # not a comment: on");
    ASSERT_EQ(again->upstreams.size(), 3u);
    EXPECT_EQ(again->upstreams[0].servers.size(), 3u);
    EXPECT_EQ(again->upstreams[0].servers[2].sockaddr.ss_family, AF_UNIX);
    EXPECT_TRUE(again->upstreams[0].servers[1].backup);
    EXPECT_EQ(again->upstreams[2].hash_key.name, "S#id");
    const RouteConfig& p = again->routes[1];
    EXPECT_EQ(p.match.path_regex, "^/x/(\\d+)\"#(?:a|b)$");
    EXPECT_EQ(p.match.query, c->routes[1].match.query);
    EXPECT_EQ(p.upstream_index, 0);
    EXPECT_EQ(p.rewrite, "/y/$1/$$");
    EXPECT_EQ(p.retries.on, static_cast<uint32_t>(kRetry5xx | kRetryReset));
    EXPECT_EQ(p.retries.budget, 0.125);
    EXPECT_EQ(pairs(p.request_headers.set), pairs(c->routes[1].request_headers.set));
    EXPECT_EQ(again->routes[2].split.size(), 2u);
    EXPECT_EQ(again->routes[2].split[1].upstream_index, 1);
    EXPECT_EQ(again->routes[2].strip_prefix, "/canary");
    EXPECT_EQ(again->routes[0].match.path_prefix, "/a%20b\"c");
    EXPECT_EQ(again->access_log.path, c->access_log.path);
    EXPECT_EQ(again->pid_path, c->pid_path);
    EXPECT_EQ(again->user, "root");
}

TEST_F(ConfigTest, DumpEscapesWhatYamlWouldNotReadBack) {
    // Control characters, C1 controls, NEL, U+2028/2029 and BOM only survive escaped.
    write("gw.conf", std::string(kListener) +
                         "routes:\n  - name: u\n    return: {body: \"\\x01\\x7f\\u0080\\N\\L\\P\\uFEFF\\u00e9\\u4e2d\\r\"}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const std::string body = "\x01\x7f\xc2\x80\xc2\x85\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf\xc3\xa9\xe4\xb8\xad\r";
    ASSERT_EQ(c->routes.at(0).ret->body.source(), body);
    std::string dump = dump_config(*c);
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_EQ(again->routes.at(0).ret->body.source(), body);
}

TEST_F(ConfigTest, DumpRoundTripAuto) {
    write("gw.conf", std::string(kListener) + "worker_processes: auto\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c);
    std::string dump = dump_config(*c);
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_TRUE(again->worker_processes_auto);
    EXPECT_FALSE(again->access_log.enabled);
    EXPECT_TRUE(again->routes.empty());
}

// --- health checks ------------------------------------------------------------------------------

TEST_F(ConfigTest, HealthCheckDefaultsValuesAndDump) {
    write("gw.conf", std::string(kListener) +
                         "upstreams:\n"
                         "  none: {servers: [{address: 127.0.0.1:9001}]}\n"
                         "  defaults:\n"
                         "    servers: [{address: 127.0.0.1:9001}]\n"
                         "    health_check: {}\n"
                         "  all:\n"
                         "    servers: [{address: 127.0.0.1:9001}]\n"
                         "    health_check: {path: /healthz, host: svc.internal, interval: 5s, timeout: 500ms,\n"
                         "                   jitter: 1s, fall: 4, rise: 3, expect: [204, 200-299]}\n"
                         "    max_fails: 0\n"
                         "    fail_timeout: 30s\n"
                         "    all_down: reject\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_FALSE(c->upstreams[0].health_check);
    EXPECT_EQ(c->upstreams[0].max_fails, 1u);
    EXPECT_EQ(c->upstreams[0].fail_timeout, 10000);
    EXPECT_EQ(c->upstreams[0].all_down, UpstreamConfig::AllDown::RouteToAll);
    ASSERT_TRUE(c->upstreams[1].health_check);
    const HealthCheckConfig& d = *c->upstreams[1].health_check;
    EXPECT_EQ(d.path, "/");
    EXPECT_EQ(d.interval, 10000);
    EXPECT_EQ(d.timeout, 1000);
    EXPECT_EQ(d.fall, 3u);
    EXPECT_EQ(d.rise, 2u);
    EXPECT_EQ(d.expect, (std::vector<std::pair<int, int>>{{200, 399}}));
    const HealthCheckConfig& a = *c->upstreams[2].health_check;
    EXPECT_EQ(a.path, "/healthz");
    EXPECT_EQ(a.host, "svc.internal");
    EXPECT_EQ(a.interval, 5000);
    EXPECT_EQ(a.timeout, 500);
    EXPECT_EQ(a.jitter, 1000);
    EXPECT_EQ(a.fall, 4u);
    EXPECT_EQ(a.rise, 3u);
    EXPECT_EQ(a.expect, (std::vector<std::pair<int, int>>{{204, 204}, {200, 299}}));
    EXPECT_EQ(c->upstreams[2].max_fails, 0u);
    EXPECT_EQ(c->upstreams[2].fail_timeout, 30000);
    EXPECT_EQ(c->upstreams[2].all_down, UpstreamConfig::AllDown::Reject);

    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("    health_check:\n"
                        "      path: \"/healthz\"\n"
                        "      host: \"svc.internal\"\n"
                        "      interval: 5s\n"
                        "      timeout: 500ms\n"
                        "      jitter: 1s\n"
                        "      fall: 4\n"
                        "      rise: 3\n"
                        "      expect: [204, \"200-299\"]\n"
                        "    max_fails: 0\n"
                        "    fail_timeout: 30s\n"
                        "    all_down: reject\n"),
              std::string::npos)
        << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_EQ(dump_config(*again).substr(dump_config(*again).find("\nworker_processes:")),
              dump.substr(dump.find("\nworker_processes:")));
}

TEST_F(ConfigTest, HealthCheckErrors) {
    write("gw.conf", std::string(kListener) +
                         "upstreams:\n"
                         "  a:\n"
                         "    servers: [{address: 127.0.0.1:1}]\n"
                         "    health_check: {path: healthz, interval: 1s, timeout: 1s, fall: 0, expect: [600, 300-200, ok]}\n"
                         "    all_down: maybe\n"
                         "  b:\n"
                         "    servers: [{address: 127.0.0.1:1}]\n"
                         "    health_check: {pth: /x}\n");
    EXPECT_FALSE(load("gw.conf"));
    std::string all;
    for (const std::string& e : errors()) all += e + "\n";
    for (const char* want : {"gw.conf:6:26: upstreams.a.health_check.path", "upstreams.a.health_check.path: expected a path starting with '/'",
                             "upstreams.a.health_check: timeout (1s) must be shorter than interval (1s)",
                             "upstreams.a.health_check.fall: 0 is out of range",
                             "upstreams.a.health_check.expect[0]: expected a status",
                             "upstreams.a.health_check.expect[1]: expected a status",
                             "upstreams.a.health_check.expect[2]: expected a status",
                             "gw.conf:7:15: upstreams.a.all_down: unknown value \"maybe\"",
                             "gw.conf:10:20: unknown key \"pth\" (did you mean \"path\"?)"})
        EXPECT_NE(all.find(want), std::string::npos) << want << " in " << all;
}

// --- logs: redaction, repeated warnings, log_admin ----------------------------------------------

TEST_F(ConfigTest, LogsRedactAddsToTheDefaultsAndDumps) {
    write("gw.conf", std::string(kListener) +
                         "access_log: {path: a.log, log_admin: true}\n"
                         "logs:\n"
                         "  repeat_interval: 1s\n"
                         "  redact: {query: [Ticket, token], headers: X-Api-Key}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_TRUE(c->access_log.log_admin);
    EXPECT_EQ(c->logs.repeat_interval, 1000);
    const auto& q = c->logs.redact_query;
    EXPECT_NE(std::find(q.begin(), q.end(), "ticket"), q.end());        // lower-cased, added
    EXPECT_NE(std::find(q.begin(), q.end(), "client_secret"), q.end()); // defaults kept
    EXPECT_EQ(std::count(q.begin(), q.end(), "token"), 1);             // no duplicate
    const auto& h = c->logs.redact_headers;
    EXPECT_NE(std::find(h.begin(), h.end(), "x-api-key"), h.end());
    EXPECT_NE(std::find(h.begin(), h.end(), "authorization"), h.end());

    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("logs:\n  repeat_interval: 1s\n  redact:\n    query: [\"token\", "), std::string::npos) << dump;
    EXPECT_NE(dump.find("    headers: [\"authorization\", \"proxy-authorization\", \"cookie\", \"set-cookie\", "
                        "\"x-api-key\"]\n"),
              std::string::npos)
        << dump;
    EXPECT_NE(dump.find("  log_admin: true\n"), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_EQ(again->logs.redact_query, c->logs.redact_query);
    EXPECT_EQ(again->logs.redact_headers, c->logs.redact_headers);
}

TEST_F(ConfigTest, LogsDefaults) {
    write("gw.conf", kListener);
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_FALSE(c->access_log.log_admin);
    EXPECT_EQ(c->logs.repeat_interval, 5000);
    EXPECT_EQ(c->logs.redact_query.size(), 18u);
}

TEST_F(ConfigTest, LogsBadValues) {
    expect_errors(std::string(kListener) +
                      "logs:\n"
                      "  repeat_interval: 2h\n"
                      "  redact: {query: [\"\"], headers: [\"bad name\"], body: [x]}\n"
                      "  colour: red\n"
                      "access_log: {path: a.log, log_admin: maybe}\n",
                  {at("gw.conf", 4, 20) + "logs.repeat_interval: 2h is out of range (0..1h)",
                   at("gw.conf", 5, 20) + "logs.redact.query[0]: bad parameter name \"\" (1 to 128 printable "
                                          "characters, as decoded)",
                   at("gw.conf", 5, 35) + "logs.redact.headers[0]: bad header name \"bad name\"",
                   at("gw.conf", 5, 48) + "unknown key \"body\"",
                   at("gw.conf", 6, 3) + "unknown key \"colour\"",
                   at("gw.conf", 7, 38) + "access_log.log_admin: expected a boolean (true/false, on/off, yes/no), "
                                          "got \"maybe\""});
}

// --- metrics: the consumer label ----------------------------------------------------------------

TEST_F(ConfigTest, MetricsDefaults) {
    write("gw.conf", kListener);
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_FALSE(c->metrics.per_consumer);
    EXPECT_EQ(c->metrics.max_consumers, 100u);
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("\nmetrics:\n  per_consumer: false\n  max_consumers: 100\n"), std::string::npos) << dump;
}

TEST_F(ConfigTest, MetricsPerConsumerReadsAndDumps) {
    write("gw.conf", std::string(kListener) +
                         "metrics:\n"
                         "  per_consumer: true\n"
                         "  max_consumers: 10000\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_TRUE(c->metrics.per_consumer);
    EXPECT_EQ(c->metrics.max_consumers, 10000u);
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("\nmetrics:\n  per_consumer: true\n  max_consumers: 10000\n"), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_TRUE(again->metrics.per_consumer);
    EXPECT_EQ(again->metrics.max_consumers, 10000u);
}

TEST_F(ConfigTest, MetricsBadValues) {
    expect_errors(std::string(kListener) +
                      "metrics:\n"
                      "  per_consumer: sometimes\n"
                      "  max_consumers: 0\n"
                      "  max_consumer: 5\n",
                  {at("gw.conf", 4, 17) + "metrics.per_consumer: expected a boolean (true/false, on/off, yes/no), "
                                          "got \"sometimes\"",
                   at("gw.conf", 5, 18) + "metrics.max_consumers: 0 is out of range (1..10000)",
                   at("gw.conf", 6, 3) + "unknown key \"max_consumer\" (did you mean \"max_consumers\"?)"});
    expect_errors(std::string(kListener) + "metrics:\n  max_consumers: 10001\n",
                  {at("gw.conf", 4, 18) + "metrics.max_consumers: 10001 is out of range (1..10000)"});
    expect_errors(std::string(kListener) + "metrics: on\n",
                  {at("gw.conf", 3, 10) + "metrics: expected a map, got \"on\""});
    expect_errors(std::string(kListener) + "metric:\n  per_consumer: true\n",
                  {at("gw.conf", 3, 1) + "unknown key \"metric\" (did you mean \"metrics\"?)"});
}

}  // namespace
TEST_F(ConfigTest, RouteMatchByListener) {
    write("gw.conf",
          "listeners:\n"
          "  - address: 127.0.0.1:8080\n"
          "  - address: 127.0.0.1:8443\n"
          "routes:\n"
          "  - name: r\n"
          "    match: {listener: 127.0.0.1:8443, path_prefix: /}\n"
          "    return: {status: 204}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c.has_value()) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->routes[0].match.listener_index, 1);
    expect_errors("listeners:\n"
                  "  - address: 127.0.0.1:8080\n"
                  "routes:\n"
                  "  - name: r\n"
                  "    match: {listener: 127.0.0.1:8081}\n"
                  "    return: {status: 204}\n",
                  {at("gw.conf", 5, 23) + "routes[0].match.listener: no listener has the address \"127.0.0.1:8081\" "
                                          "(the address as written in listeners:; did you mean \"127.0.0.1:8080\"?)"});
}

}  // namespace gw
