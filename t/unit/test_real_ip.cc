// real_ip: IP and CIDR parsing and matching, the X-Forwarded-For walk, and the `real_ip:` and
// listener `proxy_protocol` keys of gateway.conf.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "config_fixture.h"
#include "core/net/ip.h"
#include "http/parser.h"
#include "http/real_ip.h"

using namespace gw;
using namespace gw::net;

namespace {

IpAddress ip(const char* text) {
    IpAddress a;
    EXPECT_TRUE(parse_ip(text, a)) << text;
    return a;
}

Cidr cidr(const char* text) {
    Cidr c;
    std::string error;
    EXPECT_TRUE(parse_cidr(text, c, error)) << text << ": " << error;
    return c;
}

std::string cidr_error(const char* text) {
    Cidr c;
    std::string error;
    EXPECT_FALSE(parse_cidr(text, c, error)) << text;
    return error;
}

}  // namespace

TEST(NetIp, ParsesAndFormatsCanonically) {
    EXPECT_EQ(format_ip(ip("192.0.2.1")), "192.0.2.1");
    EXPECT_TRUE(ip("192.0.2.1").v4);
    EXPECT_EQ(format_ip(ip("2001:DB8:0:0:0:0:0:1")), "2001:db8::1");
    EXPECT_FALSE(ip("::1").v4);
    // A v4-mapped address is the IPv4 address (what a dual-stack socket reports).
    EXPECT_EQ(ip("::ffff:10.1.2.3"), ip("10.1.2.3"));
    EXPECT_EQ(format_ip(ip("::FFFF:10.1.2.3")), "10.1.2.3");

    IpAddress a;
    for (const char* bad : {"", "10.1", "010.0.0.1", "256.0.0.1", "1.2.3.4.5", "1.2.3.4 ", " 1.2.3.4",
                            "fe80::1%eth0", "[::1]", "::1::2", "example.com", "1.2.3.4/8", "0x7f.0.0.1",
                            "1111:2222:3333:4444:5555:6666:7777:8888:9999"}) {
        EXPECT_FALSE(parse_ip(bad, a)) << bad;
    }
    std::string embedded_nul("1.2.3.4\0junk", 12);
    EXPECT_FALSE(parse_ip(embedded_nul, a));
    EXPECT_FALSE(parse_ip(std::string(200, '1'), a));
}

TEST(NetIp, FromSockaddr) {
    sockaddr_storage ss{};
    auto& in6 = reinterpret_cast<sockaddr_in6&>(ss);
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
    IpAddress a;
    ASSERT_TRUE(ip_from_sockaddr(ss, a));
    EXPECT_EQ(a, ip("127.0.0.1"));
    ss.ss_family = AF_UNIX;
    EXPECT_FALSE(ip_from_sockaddr(ss, a));
}

TEST(NetCidr, Parses) {
    EXPECT_EQ(format_cidr(cidr("10.0.0.0/8")), "10.0.0.0/8");
    EXPECT_EQ(format_cidr(cidr("127.0.0.1")), "127.0.0.1/32");
    EXPECT_EQ(format_cidr(cidr("::1")), "::1/128");
    EXPECT_EQ(format_cidr(cidr("2001:db8::/32")), "2001:db8::/32");
    EXPECT_EQ(format_cidr(cidr("0.0.0.0/0")), "0.0.0.0/0");
    EXPECT_EQ(format_cidr(cidr("::/0")), "::/0");
    EXPECT_EQ(format_cidr(cidr("192.168.0.0/23")), "192.168.0.0/23");
    EXPECT_EQ(format_cidr(cidr("::ffff:10.0.0.0/8")), "10.0.0.0/8");  // mapped: the IPv4 network
}

TEST(NetCidr, Rejects) {
    EXPECT_EQ(cidr_error("10.0.0.1/8"), "\"10.0.0.1/8\" has host bits set (the network is 10.0.0.0/8)");
    EXPECT_EQ(cidr_error("192.168.1.0/23"),
              "\"192.168.1.0/23\" has host bits set (the network is 192.168.0.0/23)");
    EXPECT_EQ(cidr_error("1.2.3.4/33"), "prefix length 33 is out of range (0..32)");
    EXPECT_EQ(cidr_error("::/129"), "prefix length 129 is out of range (0..128)");
    EXPECT_EQ(cidr_error("10.0.0.0/"), "bad prefix length \"\" (expected 0..32)");
    EXPECT_EQ(cidr_error("10.0.0.0/08"), "bad prefix length \"08\" (expected 0..32)");
    EXPECT_EQ(cidr_error("10.0.0.0/-1"), "bad prefix length \"-1\" (expected 0..32)");
    EXPECT_EQ(cidr_error("10.0.0.0/8/8"), "bad prefix length \"8/8\" (expected 0..32)");
    EXPECT_EQ(cidr_error("10.0.0.0/99999999999"), "bad prefix length \"99999999999\" (expected 0..32)");
    EXPECT_EQ(cidr_error("/8"), "\"\" is not an IPv4 or IPv6 address");
    EXPECT_EQ(cidr_error("10.0.0/8"), "\"10.0.0\" is not an IPv4 or IPv6 address");
    EXPECT_EQ(cidr_error("localhost"), "\"localhost\" is not an IPv4 or IPv6 address");
}

TEST(NetCidr, Contains) {
    EXPECT_TRUE(contains(cidr("10.0.0.0/8"), ip("10.255.255.255")));
    EXPECT_FALSE(contains(cidr("10.0.0.0/8"), ip("11.0.0.0")));
    EXPECT_FALSE(contains(cidr("10.0.0.0/8"), ip("9.255.255.255")));
    // A prefix that ends inside a byte.
    EXPECT_TRUE(contains(cidr("192.168.0.0/23"), ip("192.168.1.200")));
    EXPECT_FALSE(contains(cidr("192.168.0.0/23"), ip("192.168.2.0")));
    EXPECT_TRUE(contains(cidr("172.16.0.0/12"), ip("172.31.0.1")));
    EXPECT_FALSE(contains(cidr("172.16.0.0/12"), ip("172.32.0.1")));
    EXPECT_TRUE(contains(cidr("0.0.0.0/0"), ip("203.0.113.7")));
    EXPECT_TRUE(contains(cidr("127.0.0.1"), ip("127.0.0.1")));
    EXPECT_FALSE(contains(cidr("127.0.0.1"), ip("127.0.0.2")));
    EXPECT_TRUE(contains(cidr("2001:db8::/33"), ip("2001:db8:7fff::1")));
    EXPECT_FALSE(contains(cidr("2001:db8::/33"), ip("2001:db8:8000::1")));
    EXPECT_TRUE(contains(cidr("::1/128"), ip("::1")));
    // Families never mix: ::/0 is every IPv6 address, not the IPv4 ones.
    EXPECT_FALSE(contains(cidr("::/0"), ip("10.0.0.1")));
    EXPECT_FALSE(contains(cidr("0.0.0.0/0"), ip("::1")));
    EXPECT_TRUE(contains(cidr("10.0.0.0/8"), ip("::ffff:10.0.0.1")));

    std::vector<Cidr> nets{cidr("10.0.0.0/8"), cidr("::1")};
    EXPECT_TRUE(contains(nets, ip("::1")));
    EXPECT_TRUE(contains(nets, ip("10.1.1.1")));
    EXPECT_FALSE(contains(nets, ip("127.0.0.1")));
    EXPECT_FALSE(contains(std::vector<Cidr>{}, ip("127.0.0.1")));
}

TEST(NetIp, ForwardedElement) {
    IpAddress a;
    ASSERT_TRUE(parse_forwarded_element(" 203.0.113.7\t", a));
    EXPECT_EQ(a, ip("203.0.113.7"));
    ASSERT_TRUE(parse_forwarded_element("203.0.113.7:8080", a));
    EXPECT_EQ(a, ip("203.0.113.7"));
    ASSERT_TRUE(parse_forwarded_element("2001:db8::7", a));
    EXPECT_EQ(a, ip("2001:db8::7"));
    ASSERT_TRUE(parse_forwarded_element("[2001:db8::7]", a));
    EXPECT_EQ(a, ip("2001:db8::7"));
    ASSERT_TRUE(parse_forwarded_element("[2001:db8::7]:443", a));
    EXPECT_EQ(a, ip("2001:db8::7"));
    for (const char* bad : {"", "unknown", "_hidden", "203.0.113.7:", "203.0.113.7:99999", "203.0.113.7:8a",
                            "[2001:db8::7", "[2001:db8::7]x", "[2001:db8::7]:", "[1.2.3.4]", "2001:db8::7:80x",
                            "1.2.3.4 5.6.7.8", "for=1.2.3.4", "\"1.2.3.4\""}) {
        EXPECT_FALSE(parse_forwarded_element(bad, a)) << bad;
    }
}

// --- the walk -----------------------------------------------------------------------------------

namespace {

class Walk : public ::testing::Test {
  protected:
    // The client address for a request with these header lines from `peer`.
    std::string client(const std::string& lines, const char* peer = "10.0.0.1",
                       const char* header = "x-forwarded-for") {
        head_ = "GET / HTTP/1.1\r\nHost: h\r\n" + lines + "\r\n";
        gw::http::ParseError err;
        auto r = gw::http::parse_request_head(head_, gw::http::ParserLimits{}, *req_, err);
        EXPECT_EQ(r, gw::http::ParseResult::Complete) << err.reason;
        return format_ip(gw::http::real_ip::forwarded_client(*req_, header, trusted_, ip(peer)));
    }
    std::vector<Cidr> trusted_{cidr("10.0.0.0/8"), cidr("127.0.0.1"), cidr("2001:db8::/32")};
    std::string head_;
    std::unique_ptr<gw::http::Request> req_ = std::make_unique<gw::http::Request>();
};

}  // namespace

TEST_F(Walk, NoHeaderKeepsThePeer) {
    EXPECT_EQ(client(""), "10.0.0.1");
    EXPECT_EQ(client("X-Real-IP: 203.0.113.7\r\n"), "10.0.0.1");  // not the configured header
    EXPECT_EQ(client("X-Forwarded-For:\r\n"), "10.0.0.1");
    EXPECT_EQ(client("X-Forwarded-For: , ,\r\n"), "10.0.0.1");
}

TEST_F(Walk, RightToLeftPastTrustedAddresses) {
    EXPECT_EQ(client("X-Forwarded-For: 203.0.113.7\r\n"), "203.0.113.7");
    // The client may write anything on the left; only the first untrusted from the right counts.
    EXPECT_EQ(client("X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.0.0.5, 127.0.0.1\r\n"), "203.0.113.7");
    EXPECT_EQ(client("x-forwarded-for: 1.1.1.1,203.0.113.7 ,, 10.9.9.9\r\n"), "203.0.113.7");
    // All trusted: the leftmost one.
    EXPECT_EQ(client("X-Forwarded-For: 10.0.0.7, 10.0.0.5\r\n"), "10.0.0.7");
    EXPECT_EQ(client("X-Forwarded-For: 2001:db8::9, [2001:db9::1]:80, 10.0.0.2:5000\r\n"), "2001:db9::1");
    EXPECT_EQ(client("X-Forwarded-For: 2001:DB8:0::9\r\n"), "2001:db8::9");  // canonical text
    EXPECT_EQ(client("X-Forwarded-For: ::ffff:203.0.113.7\r\n", "::1"), "203.0.113.7");
}

TEST_F(Walk, SeveralHeaderLinesAreOneListInOrder) {
    EXPECT_EQ(client("X-Forwarded-For: 198.51.100.1, 10.0.0.3\r\nX-Other: x\r\n"
                     "X-Forwarded-For: 10.0.0.4\r\n"),
              "198.51.100.1");
    EXPECT_EQ(client("X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 198.51.100.2, 10.0.0.4\r\n"),
              "198.51.100.2");
    EXPECT_EQ(client("X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For:\r\nX-Forwarded-For: 10.0.0.4\r\n"),
              "198.51.100.1");
}

TEST_F(Walk, AMalformedElementStopsTheWalk) {
    // nginx: the last good address stands.
    EXPECT_EQ(client("X-Forwarded-For: 203.0.113.7, garbage, 10.0.0.5\r\n"), "10.0.0.5");
    EXPECT_EQ(client("X-Forwarded-For: 203.0.113.7, unknown\r\n"), "10.0.0.1");
    EXPECT_EQ(client("X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 10.0.0.5, 1.2.3\r\n"), "10.0.0.1");
    EXPECT_EQ(client("X-Forwarded-For: 203.0.113.7 10.0.0.5\r\n"), "10.0.0.1");
}

TEST_F(Walk, AnotherHeaderIsReadTheSameWay) {
    EXPECT_EQ(client("X-Real-IP: 203.0.113.9\r\nX-Forwarded-For: 203.0.113.7\r\n", "127.0.0.1", "x-real-ip"),
              "203.0.113.9");
    EXPECT_EQ(client("X-REAL-IP: 10.0.0.8\r\n", "127.0.0.1", "x-real-ip"), "10.0.0.8");
}

TEST_F(Walk, LongListsAreWalkedWithoutLimitProblems) {
    std::string list;
    for (int i = 0; i < 1000; i++) list += "10.0.0." + std::to_string(i % 250) + ", ";
    list += "10.0.0.1";
    EXPECT_EQ(client("X-Forwarded-For: 203.0.113.7, " + list + "\r\n"), "203.0.113.7");
}

// --- configuration ------------------------------------------------------------------------------

namespace {

// Loads a text as gw.conf (or `name`); at(LINE, COL) is the place of a diagnostic in it.
class RealIpConfigTest : public test::ConfigFixture {
  protected:
    std::optional<Config> load_text(const std::string& text, const std::string& name = "gw.conf") {
        write(name, text);
        return load(name);
    }
    std::string at(int line, int col) const { return ConfigFixture::at("gw.conf", line, col); }
};

constexpr const char* kListeners = "listeners:\n  - address: 127.0.0.1:8080\n";

}  // namespace

TEST_F(RealIpConfigTest, DefaultsAndValues) {
    std::optional<Config> c = load_text(kListeners);
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_FALSE(c->real_ip);
    EXPECT_FALSE(c->listeners[0].proxy_protocol);
    EXPECT_EQ(c->listeners[0].proxy_protocol_timeout, 5000);

    c = load_text(std::string(kListeners) + "real_ip:\n  trusted: 10.0.0.0/8\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_TRUE(c->real_ip);
    EXPECT_EQ(c->real_ip->from, RealIpConfig::From::Header);
    EXPECT_EQ(c->real_ip->header, "x-forwarded-for");
    ASSERT_EQ(c->real_ip->trusted.size(), 1u);
    EXPECT_EQ(format_cidr(c->real_ip->trusted[0]), "10.0.0.0/8");

    c = load_text(std::string(kListeners) +
             "real_ip:\n  from: X-Real-IP\n  trusted: [10.0.0.0/8, 192.168.0.0/16, \"::1/128\", 127.0.0.1]\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->real_ip->header, "x-real-ip");
    EXPECT_EQ(c->real_ip->trusted.size(), 4u);

    c = load_text("listeners:\n"
             "  - {address: 127.0.0.1:8080, proxy_protocol: true, proxy_protocol_timeout: 250ms}\n"
             "  - address: 127.0.0.1:8081\n"
             "real_ip: {from: proxy_protocol, trusted: [\"::1\", 127.0.0.0/8]}\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(c->real_ip->from, RealIpConfig::From::ProxyProtocol);
    EXPECT_TRUE(c->listeners[0].proxy_protocol);
    EXPECT_EQ(c->listeners[0].proxy_protocol_timeout, 250);
    EXPECT_FALSE(c->listeners[1].proxy_protocol);
}

TEST_F(RealIpConfigTest, Errors) {
    EXPECT_FALSE(load_text(std::string(kListeners) +  // line 3
                      "real_ip:\n"
                      "  from: \"x forwarded\"\n"
                      "  trusted: [10.0.0.1/8, 1.2.3.4/33, localhost, \"fe80::1%eth0\", [a]]\n"
                      "  recursive: on\n"));
    EXPECT_EQ(errors(), (std::vector<std::string>{
                            at(4, 9) + "real_ip.from: expected x-forwarded-for, proxy_protocol or a header "
                                       "name, got \"x forwarded\"",
                            at(5, 13) + "real_ip.trusted[0]: \"10.0.0.1/8\" has host bits set (the network is "
                                        "10.0.0.0/8)",
                            at(5, 25) + "real_ip.trusted[1]: prefix length 33 is out of range (0..32)",
                            at(5, 37) + "real_ip.trusted[2]: \"localhost\" is not an IPv4 or IPv6 address",
                            at(5, 48) + "real_ip.trusted[3]: \"fe80::1%eth0\" is not an IPv4 or IPv6 address",
                            at(5, 64) + "real_ip.trusted[4]: expected a string, got a sequence",
                            at(6, 3) + "unknown key \"recursive\"",
                        }));

    EXPECT_FALSE(load_text(std::string(kListeners) + "real_ip: {from: x-forwarded-for}\n"));
    EXPECT_EQ(errors(), std::vector<std::string>{at(3, 10) + "real_ip: missing required key \"trusted\""});
    EXPECT_FALSE(load_text(std::string(kListeners) + "real_ip: {trusted: []}\n"));
    EXPECT_EQ(errors(), std::vector<std::string>{
                            at(3, 20) + "real_ip.trusted: at least one trusted address or network is required"});
    EXPECT_FALSE(load_text(std::string(kListeners) + "real_ip: [10.0.0.0/8]\n"));
    EXPECT_EQ(errors(), std::vector<std::string>{at(3, 10) + "real_ip: expected a map, got a sequence"});
    EXPECT_FALSE(load_text(std::string(kListeners) + "real_ip: {from: proxy_protocol, trusted: 127.0.0.1}\n"));
    EXPECT_EQ(errors(), std::vector<std::string>{
                            at(3, 17) + "real_ip.from: proxy_protocol, but no listener has proxy_protocol: true"});
    EXPECT_FALSE(load_text("listeners:\n  - {address: 127.0.0.1:8080, proxy_protocol: 1, proxy_protocol_timeout: 0}\n"));
    EXPECT_EQ(errors(),
              (std::vector<std::string>{
                  at(2, 47) + "listeners[0].proxy_protocol: expected a boolean (true/false, on/off, yes/no), got \"1\"",
                  at(2, 74) + "listeners[0].proxy_protocol_timeout: 0 is out of range (1ms..1h)"}));
}

TEST_F(RealIpConfigTest, DumpLoadsBack) {
    std::optional<Config> c = load_text("listeners:\n"
                                   "  - {address: 127.0.0.1:8080, proxy_protocol: on, proxy_protocol_timeout: 2s}\n"
                                   "real_ip: {from: proxy_protocol, trusted: [\"::1\", 10.0.0.0/8]}\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("    proxy_protocol: true\n    proxy_protocol_timeout: 2s\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("real_ip:\n  from: proxy_protocol\n  trusted: [\"::1/128\", \"10.0.0.0/8\"]\n"),
              std::string::npos)
        << dump;
    std::optional<Config> again = load_text(dump, "dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << dump;
    EXPECT_EQ(dump_config(*again).substr(dump_config(*again).find("\nworker_processes")),
              dump.substr(dump.find("\nworker_processes")));
    EXPECT_EQ(again->real_ip->trusted, c->real_ip->trusted);

    c = load_text(std::string(kListeners) + "real_ip: {from: X-Real-IP, trusted: 10.0.0.0/8}\n");
    ASSERT_TRUE(c);
    dump = dump_config(*c);
    EXPECT_NE(dump.find("  from: \"x-real-ip\"\n"), std::string::npos) << dump;
    again = load_text(dump, "dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << dump;
    EXPECT_EQ(again->real_ip->header, "x-real-ip");
    EXPECT_NE(dump_config(*load_text(kListeners)).find("# real_ip: not set\n"), std::string::npos);
}
