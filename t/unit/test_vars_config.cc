// Variables in the configuration: header set/add/remove of routes, `return:` bodies and
// locations, access log templates and JSON fields; their errors (FILE:LINE:COL), and `-T`
// printing them in a form that loads again.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config_fixture.h"
#include "core/config/config.h"

namespace gw {
namespace {

class VarsConfigTest : public test::ConfigFixture {};

constexpr const char* kHead =
    "listeners:\n"
    "  - address: 127.0.0.1:8080\n"
    "upstreams:\n"
    "  api: {servers: [{address: 127.0.0.1:9001}]}\n";

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs pairs(const std::vector<HeaderOp>& ops) {
    Pairs out;
    for (const HeaderOp& h : ops) out.emplace_back(h.name, h.value.source());
    return out;
}

// A dump without its "#   FILE" lines (the files read differ between a config and its dump).
std::string without_files_read(const std::string& dump) {
    std::string out;
    size_t at = 0;
    while (at < dump.size()) {
        size_t nl = dump.find('\n', at);
        size_t end = nl == std::string::npos ? dump.size() : nl + 1;
        std::string_view line(dump.data() + at, end - at);
        if (!line.starts_with("#   ")) out += line;
        at = end;
    }
    return out;
}

// ---- request_headers / response_headers

TEST_F(VarsConfigTest, HeaderOpsWithVariables) {
    write("gw.conf", std::string(kHead) +
                         "routes:\n"
                         "  - name: api\n"
                         "    upstream: api\n"
                         "    request_headers:\n"
                         "      set: {X-Real-IP: $remote_addr, X-Trace: '${request_id}-t', X-Fixed: 'a $$ b'}\n"
                         "      add: {X-Added: 'from $host', Accept: '*/*'}\n"
                         "      remove: [X-Debug]\n"
                         "    response_headers:\n"
                         "      set: {X-Upstream-Status: $upstream_status}\n"
                         "      add: {X-Status: $status}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const RouteConfig& r = c->routes.at(0);
    EXPECT_EQ(pairs(r.request_headers.set),
              (Pairs{{"x-real-ip", "$remote_addr"}, {"x-trace", "${request_id}-t"}, {"x-fixed", "a $$ b"}}));
    EXPECT_FALSE(r.request_headers.set[0].value.constant());
    EXPECT_TRUE(r.request_headers.set[2].value.constant());
    EXPECT_EQ(pairs(r.request_headers.add), (Pairs{{"x-added", "from $host"}, {"accept", "*/*"}}));
    EXPECT_EQ(r.request_headers.remove, std::vector<std::string>{"x-debug"});
    EXPECT_EQ(pairs(r.response_headers.set), (Pairs{{"x-upstream-status", "$upstream_status"}}));
    EXPECT_EQ(pairs(r.response_headers.add), (Pairs{{"x-status", "$status"}}));
}

TEST_F(VarsConfigTest, HeaderOpsErrors) {
    expect_errors(std::string(kHead) +
                      "routes:\n"
                      "  - name: api\n"
                      "    upstream: api\n"
                      "    request_headers:\n"
                      "      set: {X-Real-IP: $remote_adr, X-A: 'x ${host'}\n"
                      "      add: {X-Real-IP: $host, Content-Length: '1', X-B: 'cost 5$'}\n"
                      "      remove: [X-A]\n",
                  {at("gw.conf", 9, 24) + "routes[0].request_headers.set.x-real-ip: unknown variable \"$remote_adr\" "
                                          "(did you mean \"$remote_addr\"?)",
                   at("gw.conf", 9, 42) + "routes[0].request_headers.set.x-a: unterminated \"${\" in \"x ${host\"",
                   at("gw.conf", 10, 13) + "routes[0].request_headers.add: header \"x-real-ip\" is already set or added "
                                           "(at " + path("gw.conf") + ":9:13)",
                   at("gw.conf", 10, 31) + "routes[0].request_headers.add: \"content-length\" cannot be added: the "
                                           "proxy manages it",
                   at("gw.conf", 10, 57) + "routes[0].request_headers.add.x-b: a '$' must start a variable name "
                                           "(write \"$$\" for a '$') in \"cost 5$\"",
                   at("gw.conf", 11, 16) + "routes[0].request_headers.remove[0]: \"x-a\" is both set or added (at " +
                       path("gw.conf") + ":9:37) and removed"});
}

TEST_F(VarsConfigTest, HostCannotBeAddedToARequest) {
    // Two Hosts upstream: a 400 at best, two hops disagreeing on the host at worst.
    expect_errors(std::string(kHead) +
                      "routes:\n"
                      "  - name: api\n"
                      "    upstream: api\n"
                      "    request_headers: {add: {Host: a.example}}\n",
                  {at("gw.conf", 8, 29) + "routes[0].request_headers.add: \"host\" cannot be added: a request has "
                                          "one (set it instead)"});
    write("gw.conf", std::string(kHead) +
                         "routes:\n"
                         "  - name: api\n"
                         "    upstream: api\n"
                         "    request_headers: {set: {Host: $http_x_host}}\n"
                         "    response_headers: {add: {Host: x}}\n");
    EXPECT_TRUE(load("gw.conf")) << ::testing::PrintToString(errors());
}

// ---- return

TEST_F(VarsConfigTest, ReturnWithLocationAndBody) {
    write("gw.conf", std::string(kHead) +
                         "routes:\n"
                         "  - name: tls\n"
                         "    return: {status: 308, location: 'https://$host$request_uri'}\n"
                         "  - name: hello\n"
                         "    return: {status: 200, body: 'hello $remote_addr, $$5\\n'}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const ReturnAction& tls = *c->routes.at(0).ret;
    EXPECT_EQ(tls.status, 308);
    EXPECT_EQ(tls.location.source(), "https://$host$request_uri");
    EXPECT_FALSE(tls.location.constant());
    EXPECT_TRUE(tls.body.empty());
    const ReturnAction& hello = *c->routes.at(1).ret;
    EXPECT_EQ(hello.body.source(), "hello $remote_addr, $$5\\n");
    EXPECT_TRUE(hello.location.empty());
}

TEST_F(VarsConfigTest, ReturnErrors) {
    expect_errors(std::string(kHead) +
                      "routes:\n"
                      "  - name: a\n"
                      "    return: {status: 200, location: /x}\n"
                      "  - name: b\n"
                      "    return: {status: 204, body: gone}\n"
                      "  - name: c\n"
                      "    return: {status: 304, body: x}\n"
                      "  - name: d\n"
                      "    return: {status: 301, location: /x, headers: {Location: /y}}\n"
                      "  - name: e\n"
                      "    return: {status: 302, location: '$uri?$varible', body: '$reqest'}\n"
                      "  - name: f\n"
                      "    return: {status: 302, location: \"/a\\r\\nX: y\"}\n",
                  {at("gw.conf", 7, 27) + "routes[0].return.location: `location:` is for redirects (3xx), not status 200",
                   at("gw.conf", 9, 27) + "routes[1].return.body: a 204 response has no body (remove `body:` or change "
                                          "`status:`)",
                   at("gw.conf", 11, 27) + "routes[2].return.body: a 304 response has no body (remove `body:` or change "
                                           "`status:`)",
                   at("gw.conf", 13, 27) + "routes[3].return.location: given twice (also in `headers:`)",
                   at("gw.conf", 15, 37) + "routes[4].return.location: unknown variable \"$varible\"",
                   at("gw.conf", 15, 60) + "routes[4].return.body: unknown variable \"$reqest\" (did you mean "
                                           "\"$request\"?)",
                   at("gw.conf", 17, 37) + "routes[5].return.location: a location cannot contain CR, LF or NUL"});
}

TEST_F(VarsConfigTest, ReturnEmptyBodyOn204IsFine) {
    write("gw.conf", std::string(kHead) +
                         "routes:\n"
                         "  - {name: a, return: {status: 204}}\n"
                         "  - {name: b, return: {status: 204, body: ''}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
}

// ---- access_log

TEST_F(VarsConfigTest, AccessLogTemplate) {
    write("gw.conf", std::string(kHead) +
                         "access_log:\n"
                         "  path: a.log\n"
                         "  format: '$remote_addr \"$request\" $status $body_bytes_sent $request_id $upstream_status'\n"
                         "routes:\n"
                         "  - {name: a, return: {status: 200}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->access_log.format, AccessLogConfig::Format::Template);
    EXPECT_EQ(c->access_log.line.source(),
              "$remote_addr \"$request\" $status $body_bytes_sent $request_id $upstream_status");
    EXPECT_TRUE(c->access_log.fields.empty());
}

TEST_F(VarsConfigTest, AccessLogFields) {
    write("gw.conf", std::string(kHead) +
                         "access_log:\n"
                         "  path: a.log\n"
                         "  format: json\n"
                         "  fields: {client: $remote_addr, st: $status, uri: $request_uri, ua: $http_user_agent, "
                         "lit: 'v=${status}!'}\n"
                         "routes:\n"
                         "  - {name: a, return: {status: 200}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const AccessLogConfig& a = c->access_log;
    EXPECT_EQ(a.format, AccessLogConfig::Format::Json);
    ASSERT_EQ(a.fields.size(), 5u);
    std::vector<std::string> keys;
    for (const auto& [k, t] : a.fields) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"client", "st", "uri", "ua", "lit"}));  // in file order
    ASSERT_NE(a.fields[1].second.single_variable(), nullptr);
    EXPECT_TRUE(a.fields[1].second.single_variable()->numeric);
    EXPECT_EQ(a.fields[4].second.single_variable(), nullptr);
}

TEST_F(VarsConfigTest, AccessLogFieldsWithoutFormatAreJson) {
    write("gw.conf", std::string(kHead) + "access_log: {path: a.log, fields: {c: $remote_addr}}\n" +
                         "routes:\n  - {name: a, return: {status: 200}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->access_log.format, AccessLogConfig::Format::Json);
    EXPECT_EQ(c->access_log.fields.size(), 1u);
}

TEST_F(VarsConfigTest, AccessLogErrors) {
    const std::string routes = "routes:\n  - {name: a, return: {status: 200}}\n";
    expect_errors(std::string(kHead) + "access_log: {path: a.log, format: '$remote_adr $status'}\n" + routes,
                  {at("gw.conf", 5, 35) + "access_log.format: unknown variable \"$remote_adr\" (did you mean "
                                          "\"$remote_addr\"?)"});
    expect_errors(std::string(kHead) + "access_log: {path: a.log, format: \"$status\\n$uri\"}\n" + routes,
                  {at("gw.conf", 5, 35) + "access_log.format: a line template cannot contain a line break"});
    expect_errors(std::string(kHead) + "access_log: {path: a.log, format: combined, fields: {a: $status}}\n" + routes,
                  {at("gw.conf", 5, 53) + "access_log.fields: only for `format: json`"});
    expect_errors(std::string(kHead) + "access_log: {path: a.log, format: '$status', fields: {a: $status}}\n" + routes,
                  {at("gw.conf", 5, 54) + "access_log.fields: only for `format: json`"});
    expect_errors(std::string(kHead) + "access_log: {path: a.log, fields: {a: $stats, b: 'x ${uri'}}\n" + routes,
                  {at("gw.conf", 5, 39) + "access_log.fields.a: unknown variable \"$stats\" (did you mean \"$status\"?)",
                   at("gw.conf", 5, 50) + "access_log.fields.b: unterminated \"${\" in \"x ${uri\""});
    expect_errors(std::string(kHead) + "access_log: {path: a.log, fields: {}}\n" + routes,
                  {at("gw.conf", 5, 35) + "access_log.fields: at least one field is required"});
    expect_errors(std::string(kHead) + "access_log: {path: a.log, fields: [a]}\n" + routes,
                  {at("gw.conf", 5, 35) + "access_log.fields: expected a map, got a sequence"});
    expect_errors(std::string(kHead) + "access_log: {path: a.log, format: 'no variables'}\n" + routes,
                  {at("gw.conf", 5, 35) + "access_log.format: unknown format \"no variables\" (expected json, "
                                          "combined, or a template with $variables)"});
}

// ---- -T prints them, and what it prints loads again

TEST_F(VarsConfigTest, DumpRoundTrip) {
    write("gw.conf", std::string(kHead) +
                         "access_log:\n"
                         "  path: a.log\n"
                         "  format: '$remote_addr \"$request\" $$ ${status}x'\n"
                         "routes:\n"
                         "  - name: api\n"
                         "    upstream: api\n"
                         "    request_headers:\n"
                         "      set: {X-Real-IP: $remote_addr, X-Cost: '5 $$'}\n"
                         "      add: {X-Via: 'gw ${request_id}'}\n"
                         "      remove: [X-Debug]\n"
                         "    response_headers:\n"
                         "      add: {X-Up: $upstream_status}\n"
                         "  - name: tls\n"
                         "    return: {status: 308, location: 'https://$host$request_uri'}\n"
                         "  - name: body\n"
                         "    return: {status: 200, body: \"hi $remote_addr\\n# not a comment: $$\"}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("format: \"$remote_addr \\\"$request\\\" $$ ${status}x\"\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("\"x-real-ip\": \"$remote_addr\""), std::string::npos) << dump;
    EXPECT_NE(dump.find("add:"), std::string::npos) << dump;
    EXPECT_NE(dump.find("location: \"https://$host$request_uri\""), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    EXPECT_EQ(again->access_log.format, AccessLogConfig::Format::Template);
    EXPECT_EQ(again->access_log.line.source(), c->access_log.line.source());
    const RouteConfig& r = again->routes.at(0);
    EXPECT_EQ(pairs(r.request_headers.set), pairs(c->routes[0].request_headers.set));
    EXPECT_EQ(pairs(r.request_headers.add), (Pairs{{"x-via", "gw ${request_id}"}}));
    EXPECT_EQ(pairs(r.response_headers.add), (Pairs{{"x-up", "$upstream_status"}}));
    EXPECT_TRUE(r.response_headers.set.empty());
    EXPECT_EQ(again->routes.at(1).ret->status, 308);
    EXPECT_EQ(again->routes.at(1).ret->location.source(), "https://$host$request_uri");
    EXPECT_EQ(again->routes.at(2).ret->body.source(), "hi $remote_addr\n# not a comment: $$");
    EXPECT_TRUE(again->routes.at(2).ret->location.empty());
    // And the dump of the dump is the same text (but for the file it read).
    EXPECT_EQ(without_files_read(dump_config(*again)), without_files_read(dump));
}

TEST_F(VarsConfigTest, DumpRoundTripFields) {
    write("gw.conf", std::string(kHead) +
                         "access_log:\n"
                         "  path: a.log\n"
                         "  fields: {client: $remote_addr, st: $status, \"odd key\": 'a \"q\" $uri'}\n"
                         "routes:\n  - {name: a, return: {status: 200}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("fields:"), std::string::npos) << dump;
    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    ASSERT_EQ(again->access_log.fields.size(), 3u);
    EXPECT_EQ(again->access_log.fields[0].first, "client");
    EXPECT_EQ(again->access_log.fields[2].first, "odd key");
    EXPECT_EQ(again->access_log.fields[2].second.source(), "a \"q\" $uri");
    EXPECT_EQ(without_files_read(dump_config(*again)), without_files_read(dump));
}

}  // namespace
}  // namespace gw
