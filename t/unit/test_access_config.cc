// The access-rules module's configuration: reading `access:` maps (good ones, and every error
// at its FILE:LINE:COL), the allow/deny decision of one rule set, and the -T dump.
//
// These drive the module's reader on a parsed YAML map standing for a route, as the registry's
// route walker does.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/schema.h"
#include "core/config/yaml.h"
#include "modules/access/config.h"

namespace gw::access {
namespace {

net::IpAddress ip(const char* text) {
    net::IpAddress a;
    EXPECT_TRUE(net::parse_ip(text, a)) << text;
    return a;
}

// Reads `text` (a route's map) with read_rules, as "routes[0]" of file "gw.conf".
struct Read {
    std::optional<AccessRules> rules;
    std::vector<std::string> errors;
};

Read read(const std::string& text) {
    Read out;
    Diagnostics diags;
    std::optional<yaml::Node> root = yaml::parse(text, std::make_shared<const std::string>("gw.conf"), diags);
    EXPECT_TRUE(root.has_value()) << text;
    if (root) {
        schema::MapReader route(*root, "routes[0]", diags);
        route.take("name");  // a route's own key, read by the core
        AccessRules r;
        if (read_rules(route, r)) out.rules = std::move(r);
        route.finish();
    }
    for (const Diagnostic& d : diags.all()) out.errors.push_back(d.str());
    return out;
}

std::vector<std::string> errors(const std::string& text) {
    Read r = read(text);
    EXPECT_FALSE(r.rules.has_value()) << text;
    return r.errors;
}

std::string dump(const AccessRules& rules, int indent) {
    std::string out;
    dump_rules(rules, indent, out);
    return out;
}

TEST(AccessConfig, AbsentIsNoRules) {
    Read r = read("name: a\n");
    EXPECT_FALSE(r.rules.has_value());
    EXPECT_TRUE(r.errors.empty());
}

TEST(AccessConfig, ReadsBothListsBareAddressesAndSingleValues) {
    Read r = read("name: a\n"
                  "access:\n"
                  "  allow: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\", \"::1\"]\n"
                  "  deny: 10.1.0.0/16\n");
    ASSERT_TRUE(r.rules.has_value());
    EXPECT_TRUE(r.errors.empty());
    ASSERT_EQ(r.rules->allow.size(), 4u);
    EXPECT_EQ(net::format_cidr(r.rules->allow[1]), "192.0.2.7/32");  // a bare address is a host
    EXPECT_EQ(net::format_cidr(r.rules->allow[3]), "::1/128");
    ASSERT_EQ(r.rules->deny.size(), 1u);  // a lone value is a one-item list
    EXPECT_EQ(net::format_cidr(r.rules->deny[0]), "10.1.0.0/16");
}

TEST(AccessConfig, AllowOnlyRefusesTheRest) {
    Read r = read("access: {allow: [10.0.0.0/8]}\n");
    ASSERT_TRUE(r.rules.has_value());
    EXPECT_TRUE(r.rules->permits(ip("10.2.3.4")));
    EXPECT_FALSE(r.rules->permits(ip("192.0.2.1")));
    EXPECT_FALSE(r.rules->permits(ip("::1")));
}

TEST(AccessConfig, DenyOnlyLetsTheRestThrough) {
    Read r = read("access: {deny: [192.0.2.0/24, \"2001:db8::/32\"]}\n");
    ASSERT_TRUE(r.rules.has_value());
    EXPECT_FALSE(r.rules->permits(ip("192.0.2.200")));
    EXPECT_FALSE(r.rules->permits(ip("2001:db8::5")));
    EXPECT_TRUE(r.rules->permits(ip("192.0.3.1")));
    EXPECT_TRUE(r.rules->permits(ip("2001:db9::1")));
}

TEST(AccessConfig, DenyWinsOverAllow) {
    // In both lists (here, a host of the allowed network, and a network as a whole): refused,
    // whatever order the lists are written in.
    for (const char* text : {"access: {allow: [10.0.0.0/8, 172.16.0.0/12], deny: [10.1.2.3, 172.16.0.0/12]}\n",
                             "access: {deny: [10.1.2.3, 172.16.0.0/12], allow: [10.0.0.0/8, 172.16.0.0/12]}\n"}) {
        Read r = read(text);
        ASSERT_TRUE(r.rules.has_value()) << text;
        EXPECT_FALSE(r.rules->permits(ip("10.1.2.3"))) << text;
        EXPECT_FALSE(r.rules->permits(ip("172.16.9.9"))) << text;
        EXPECT_TRUE(r.rules->permits(ip("10.1.2.4"))) << text;
    }
}

TEST(AccessConfig, WarnsOfAnAllowThatDenyOverrides) {
    // nginx's "allow 10.1.2.3; deny 10.0.0.0/8;" lets 10.1.2.3 through (first match); here deny
    // wins, so the allow entry can never have an effect: loaded, with a warning.
    Read r = read("access:\n"
                  "  allow: [10.1.2.3, 10.0.0.0/8, 192.0.2.0/24, 172.16.0.0/12]\n"
                  "  deny: [10.0.0.0/8, 192.0.2.128/25, 172.16.0.0/12]\n");
    ASSERT_TRUE(r.rules.has_value());
    EXPECT_EQ(r.errors, (std::vector<std::string>{
                            "gw.conf:2:11: warning: routes[0].access.allow[0]: 10.1.2.3/32 is inside 10.0.0.0/8 of "
                            "deny, which wins: it is refused all the same",
                            "gw.conf:2:21: warning: routes[0].access.allow[1]: 10.0.0.0/8 is inside 10.0.0.0/8 of "
                            "deny, which wins: it is refused all the same",
                            "gw.conf:2:47: warning: routes[0].access.allow[3]: 172.16.0.0/12 is inside 172.16.0.0/12 "
                            "of deny, which wins: it is refused all the same",
                        }))
        << "a deny inside an allow (192.0.2.128/25) is a hole, not a mistake";
    EXPECT_FALSE(r.rules->permits(ip("10.1.2.3")));
}

TEST(AccessConfig, MappedIpv6MatchesIpv4Networks) {
    Read r = read("access: {allow: [127.0.0.0/8]}\n");
    ASSERT_TRUE(r.rules.has_value());
    // What a dual-stack socket reports for an IPv4 client.
    EXPECT_TRUE(r.rules->permits(ip("::ffff:127.0.0.1")));
    EXPECT_FALSE(r.rules->permits(ip("::ffff:128.0.0.1")));
}

TEST(AccessConfig, ZeroPrefixMatchesItsWholeFamily) {
    Read r = read("access: {deny: [0.0.0.0/0]}\n");
    ASSERT_TRUE(r.rules.has_value());
    EXPECT_FALSE(r.rules->permits(ip("203.0.113.9")));
    EXPECT_TRUE(r.rules->permits(ip("::1")));  // IPv6 is another family
}

TEST(AccessConfig, BadNetworks) {
    EXPECT_EQ(errors("access:\n"
                     "  allow: [10.0.0.0/8, 10.0.0.1/8, 10.0.0.0/33, example.com]\n"
                     "  deny: [\"2001:db8::/129\"]\n"),
              (std::vector<std::string>{
                  "gw.conf:2:23: routes[0].access.allow[1]: \"10.0.0.1/8\" has host bits set (the network is 10.0.0.0/8)",
                  "gw.conf:2:35: routes[0].access.allow[2]: prefix length 33 is out of range (0..32)",
                  "gw.conf:2:48: routes[0].access.allow[3]: \"example.com\" is not an IPv4 or IPv6 address",
                  "gw.conf:3:10: routes[0].access.deny[0]: prefix length 129 is out of range (0..128)",
              }));
}

TEST(AccessConfig, EmptyListsAndMaps) {
    EXPECT_EQ(errors("access: {allow: []}\n"),
              (std::vector<std::string>{
                  "gw.conf:1:17: routes[0].access.allow: at least one address or network is required"}));
    EXPECT_EQ(errors("access:\n  allow: [10.0.0.0/8]\n  deny: []\n"),
              (std::vector<std::string>{
                  "gw.conf:3:9: routes[0].access.deny: at least one address or network is required"}));
    EXPECT_EQ(errors("access: {}\n"),
              (std::vector<std::string>{"gw.conf:1:9: routes[0].access: at least one of allow or deny is required"}));
}

TEST(AccessConfig, WrongKinds) {
    EXPECT_EQ(errors("access: 10.0.0.0/8\n"),
              (std::vector<std::string>{"gw.conf:1:9: routes[0].access: expected a map, got \"10.0.0.0/8\""}));
    EXPECT_EQ(errors("access:\n"),
              (std::vector<std::string>{"gw.conf:1:8: routes[0].access: expected a map, got null"}));
    EXPECT_EQ(errors("access: {allow: {a: 1}}\n"),
              (std::vector<std::string>{"gw.conf:1:17: routes[0].access.allow: expected a sequence, got a map"}));
    EXPECT_EQ(errors("access: {deny: [[10.0.0.0/8]]}\n"),
              (std::vector<std::string>{"gw.conf:1:17: routes[0].access.deny[0]: expected a string, got a sequence"}));
}

TEST(AccessConfig, UnknownKeysWithSuggestions) {
    EXPECT_EQ(errors("access:\n  alow: [10.0.0.0/8]\n  deny: [10.1.0.0/16]\n"),
              (std::vector<std::string>{"gw.conf:2:3: unknown key \"alow\" (did you mean \"allow\"?)"}));
    // Nothing valid was read: the map's own error comes with the unknown key.
    EXPECT_EQ(errors("access:\n  denny: [10.0.0.0/8]\n"),
              (std::vector<std::string>{"gw.conf:2:3: routes[0].access: at least one of allow or deny is required",
                                        "gw.conf:2:3: unknown key \"denny\" (did you mean \"deny\"?)"}));
    EXPECT_EQ(errors("access:\n  allow: [10.0.0.0/8]\n  order: deny,allow\n"),
              (std::vector<std::string>{"gw.conf:3:3: unknown key \"order\""}));
}

TEST(AccessConfig, DumpLoadsBack) {
    Read r = read("access:\n  allow: [10.0.0.0/8, 192.0.2.7, \"::1\"]\n  deny: [10.1.0.0/16]\n");
    ASSERT_TRUE(r.rules.has_value());
    std::string text = dump(*r.rules, 4);
    EXPECT_EQ(text,
              "    access:\n"
              "      allow: [\"10.0.0.0/8\", \"192.0.2.7/32\", \"::1/128\"]\n"
              "      deny: [\"10.1.0.0/16\"]\n");
    // Back in, at the top of a route's map: the same rules.
    std::string unindented;
    for (size_t at = 0; at < text.size();) {
        size_t nl = text.find('\n', at);
        unindented += text.substr(at + 4, nl + 1 - at - 4);
        at = nl + 1;
    }
    Read again = read(unindented);
    ASSERT_TRUE(again.rules.has_value()) << unindented;
    EXPECT_EQ(again.rules->allow, r.rules->allow);
    EXPECT_EQ(again.rules->deny, r.rules->deny);

    // Only the lists given: `allow:` absent and `allow: []` do not mean the same.
    Read deny_only = read("access: {deny: [192.0.2.0/24]}\n");
    ASSERT_TRUE(deny_only.rules.has_value());
    EXPECT_EQ(dump(*deny_only.rules, 0), "access:\n  deny: [\"192.0.2.0/24\"]\n");
    EXPECT_EQ(dump(AccessRules{}, 0), "");
}

TEST(AccessConfig, RuleSetsByIndex) {
    AccessConfig c;
    EXPECT_EQ(c.route(0), nullptr);
    EXPECT_FALSE(c.any_listener_rules());
    AccessRules r;
    r.deny.push_back(net::Cidr{ip("192.0.2.1"), 32});
    c.set_route(3, r);
    c.set_listener(1, r);
    EXPECT_EQ(c.route(0), nullptr);  // the gap before it: no rules
    ASSERT_NE(c.route(3), nullptr);
    EXPECT_EQ(c.route(4), nullptr);
    EXPECT_EQ(c.listener(0), nullptr);
    EXPECT_NE(c.listener(1), nullptr);
    EXPECT_TRUE(c.any_listener_rules());
}

}  // namespace
}  // namespace gw::access
