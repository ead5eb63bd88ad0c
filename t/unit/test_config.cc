// gateway.conf loading: YAML -> Config, every error with its exact place and message.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"

namespace gw {
namespace {

// Each test gets its own temporary directory; files are written there and loaded by absolute path,
// so diagnostics read "<dir>/<name>:LINE:COL: message".
class ConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gw-config-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    void write(const std::string& name, const std::string& text) {
        std::filesystem::path p = path(name);
        std::error_code ec;
        std::filesystem::create_directories(p.parent_path(), ec);
        std::ofstream out(p, std::ios::binary);
        out << text;
        ASSERT_TRUE(out.good()) << name;
    }

    // "<dir>/<name>:LINE:COL: "
    std::string at(const std::string& name, int line, int col) const {
        return path(name) + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    }

    std::optional<Config> load(const std::string& name, const std::string& prefix = "/srv/gw") {
        diags_ = Diagnostics();
        return load_config(path(name), prefix, diags_);
    }

    std::vector<std::string> errors() const {
        std::vector<std::string> out;
        for (const Diagnostic& d : diags_.all()) out.push_back(d.str());
        return out;
    }

    // Loads `text` as gw.conf, expecting failure with exactly `expected` (in any order).
    void expect_errors(const std::string& text, std::vector<std::string> expected) {
        write("gw.conf", text);
        std::optional<Config> c = load("gw.conf");
        EXPECT_FALSE(c.has_value());
        std::vector<std::string> got = errors();
        std::sort(got.begin(), got.end());
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(got, expected);
    }

    std::string dir_;
    Diagnostics diags_;
};

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
                   at("gw.conf", 5, 35) + "access_log.format: unknown value \"xml\" (expected json or combined)"});
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
                   at("gw.conf", 10, 22) + "routes[2].match.methods: bad method \"G(T\"",
                   at("gw.conf", 10, 35) +
                       "routes[2].match.host: bad host \"api.*.com\" (expected a name, name:port or *.name)",
                   at("gw.conf", 9, 5) + "route \"noaction\" has no action (return)",
                   at("gw.conf", 11, 5) + "routes[3]: missing required key \"name\""});
}

TEST_F(ConfigTest, RouteValues) {
    write("gw.conf", std::string(kListener) +
                         "routes:\n"
                         "  - name: api.v1_x-y\n"
                         "    match:\n"
                         "      path_prefix: /api/\n"
                         "      methods: [get, Post, GET]\n"
                         "      host: \"*.Example.COM:8443\"\n"
                         "    return:\n"
                         "      status: 418\n"
                         "      body: \"short and stout\\n\"\n"
                         "      headers:\n"
                         "        X-Tea: earl grey\n"
                         "        Cache-Control: no-store\n"
                         "  - name: all\n"
                         "    match: {path: /exact, methods: delete}\n"
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
    EXPECT_EQ(r.ret->body, "short and stout\n");
    using H = std::pair<std::string, std::string>;
    EXPECT_EQ(r.ret->headers, (std::vector<H>{{"x-tea", "earl grey"}, {"cache-control", "no-store"}}));
    const RouteConfig& all = c->routes[1];
    EXPECT_EQ(all.match.path, "/exact");
    EXPECT_EQ(all.match.methods, std::vector<std::string>{"DELETE"});
    ASSERT_TRUE(all.ret);
    EXPECT_EQ(all.ret->status, 200);
    EXPECT_EQ(all.ret->body, "");
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
          "  - {name: a, return: &r {status: 204, body: !!str on}}\n"
          "  - {name: b, return: *r}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(c->routes.size(), 2u);
    EXPECT_EQ(c->routes[1].ret->status, 204);
    EXPECT_EQ(c->routes[1].ret->body, "on");

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
                   at("gw.conf", 8, 5) + "route \"r\" has no action (return)"});
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
          "routes:\n"
          "  - name: r1\n"
          "    match: {path_prefix: \"/a%20b\\\"c\", methods: [GET, head], host: \"*.example.com\"}\n"
          "    return:\n"
          "      status: 302\n"
          "      body: \"line1\\nline2\\ttab \\\\ # not a comment: on\"\n"
          "      headers: {Location: \"https://example.com/#x\", \"X-#\": \"'q'\"}\n");
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

    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf", "/elsewhere");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    // Everything but the list of files read must be the same.
    std::string dump2 = dump_config(*again);
    auto body = [](const std::string& s) { return s.substr(s.find("\nworker_processes:")); };
    EXPECT_EQ(body(dump2), body(dump));
    EXPECT_EQ(again->routes.size(), 2u);
    EXPECT_EQ(again->routes[0].ret->body, "line1\nline2\ttab \\ # not a comment: on");
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
    ASSERT_EQ(c->routes.at(0).ret->body, body);
    std::string dump = dump_config(*c);
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_EQ(again->routes.at(0).ret->body, body);
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

}  // namespace
}  // namespace gw
