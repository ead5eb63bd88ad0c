// The PROXY protocol parser (src/http/proxy_protocol.cc): v1 and v2 headers, split over reads,
// and hostile ones.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

#include "http/proxy_protocol.h"

using namespace gw;
using namespace gw::http::proxy_protocol;

namespace {

constexpr size_t kMax = 4096;
const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string be16(size_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }

// A v2 header: version/command byte, family/transport byte, then `body` with its length.
std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& body) {
    return kSig + static_cast<char>(ver_cmd) + static_cast<char>(fam) + be16(body.size()) + body;
}

std::string inet_block(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
    char s[4], d[4];
    inet_pton(AF_INET, src, s);
    inet_pton(AF_INET, dst, d);
    return std::string(s, 4) + std::string(d, 4) + be16(sport) + be16(dport);
}

std::string inet6_block(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
    char s[16], d[16];
    inet_pton(AF_INET6, src, s);
    inet_pton(AF_INET6, dst, d);
    return std::string(s, 16) + std::string(d, 16) + be16(sport) + be16(dport);
}

std::string tlv(uint8_t type, const std::string& value) { return static_cast<char>(type) + be16(value.size()) + value; }

struct Parsed {
    Result result;
    Header header;
    std::string reason;
};

Parsed run(const std::string& in, size_t max = kMax) {
    Parsed p;
    std::string_view reason;
    p.result = parse(in, max, p.header, reason);
    p.reason = std::string(reason);
    return p;
}

// Every proper prefix of a complete header is Incomplete: the header may come in any pieces.
void expect_prefixes_incomplete(const std::string& header) {
    for (size_t n = 0; n < header.size(); n++) {
        Parsed p = run(header.substr(0, n));
        EXPECT_EQ(p.result, Result::Incomplete) << "prefix of " << n << " bytes: " << p.reason;
    }
}

// Some prefix of a bad header is an Error, and none is Complete.
std::string expect_error(const std::string& in, size_t max = kMax) {
    Parsed p = run(in, max);
    EXPECT_EQ(p.result, Result::Error) << ::testing::PrintToString(in);
    for (size_t n = 0; n < in.size(); n++) EXPECT_NE(run(in.substr(0, n), max).result, Result::Complete);
    return p.reason;
}

std::string text(const net::IpAddress& a) { return net::format_ip(a); }

}  // namespace

TEST(ProxyProtocolV1, Tcp4) {
    std::string h = "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n";
    Parsed p = run(h + "GET / HTTP/1.1\r\n");
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_EQ(p.header.length, h.size());
    EXPECT_EQ(p.header.version, 1);
    EXPECT_TRUE(p.header.has_source);
    EXPECT_EQ(text(p.header.source), "203.0.113.7");
    EXPECT_EQ(p.header.source_port, 56324);
    expect_prefixes_incomplete(h);
}

TEST(ProxyProtocolV1, Tcp6AndLongest) {
    std::string h = "PROXY TCP6 2001:db8::7 2001:db8::1 0 65535\r\n";
    Parsed p = run(h);
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_EQ(text(p.header.source), "2001:db8::7");
    EXPECT_EQ(p.header.source_port, 0);

    // The longest possible line is exactly 107 bytes.
    std::string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    std::string longest = "PROXY UNKNOWN " + full + " " + full + " 65535 65535\r\n";
    ASSERT_EQ(longest.size(), kMaxV1Length);
    p = run(longest);
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_EQ(p.header.length, 107u);
    expect_prefixes_incomplete(longest);
    std::string longest_tcp6 = "PROXY TCP6 " + full + " " + full + " 65535 65535\r\n";
    p = run(longest_tcp6);
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_EQ(text(p.header.source), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

TEST(ProxyProtocolV1, UnknownKeepsThePeer) {
    for (std::string h : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "PROXY UNKNOWN whatever\r\n"}) {
        Parsed p = run(h + "GET");
        ASSERT_EQ(p.result, Result::Complete) << h;
        EXPECT_FALSE(p.header.has_source);
        EXPECT_EQ(p.header.length, h.size());
    }
}

TEST(ProxyProtocolV1, Hostile) {
    EXPECT_EQ(expect_error("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "no PROXY protocol header");
    EXPECT_EQ(expect_error("proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n"), "no PROXY protocol header");
    EXPECT_EQ(expect_error("PROXY  TCP4 1.2.3.4 1.2.3.5 1 2\r\n"),
              "PROXY v1 header with an unknown protocol (expected TCP4, TCP6 or UNKNOWN)");
    EXPECT_EQ(expect_error("PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n"),
              "PROXY v1 header with an unknown protocol (expected TCP4, TCP6 or UNKNOWN)");
    EXPECT_EQ(expect_error("PROXY UNKNOWNX\r\n"),
              "PROXY v1 header with an unknown protocol (expected TCP4, TCP6 or UNKNOWN)");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n"), "PROXY v1 header with missing or extra fields");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n"), "PROXY v1 header with missing or extra fields");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4  1.2.3.5 1 2\r\n"), "PROXY v1 header with missing or extra fields");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4 1.2.3.5 1 2 \r\n"), "PROXY v1 header with missing or extra fields");
    EXPECT_EQ(expect_error("PROXY TCP4 2001:db8::1 1.2.3.5 1 2\r\n"), "PROXY v1 header with a bad address");
    EXPECT_EQ(expect_error("PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n"), "PROXY v1 header with a bad address");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.256 1.2.3.5 1 2\r\n"), "PROXY v1 header with a bad address");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n"), "PROXY v1 header with a bad port");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4 1.2.3.5 -1 2\r\n"), "PROXY v1 header with a bad port");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4 1.2.3.5 1 0x2\r\n"), "PROXY v1 header with a bad port");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n"),
              "PROXY v1 header with a control or non-ASCII byte");  // bare LF
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\rX"), "PROXY v1 header with a CR not followed by LF");
    EXPECT_EQ(expect_error(std::string("PROXY TCP4 1.2.3.4\0 1.2.3.5 1 2\r\n", 34)),
              "PROXY v1 header with a control or non-ASCII byte");
    EXPECT_EQ(expect_error("PROXY TCP4 1.2.3.4\xc3\xa9 1.2.3.5 1 2\r\n"),
              "PROXY v1 header with a control or non-ASCII byte");
    // No CRLF within 107 bytes: an error as soon as the 107th byte is not it, however it comes.
    std::string endless = "PROXY UNKNOWN " + std::string(200, 'x');
    EXPECT_EQ(expect_error(endless), "PROXY v1 header longer than 107 bytes");
    EXPECT_EQ(run(endless.substr(0, 106)).result, Result::Incomplete);
    EXPECT_EQ(run(endless.substr(0, 107)).result, Result::Error);
    std::string too_long = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";  // 108 bytes
    ASSERT_EQ(too_long.size(), 108u);
    EXPECT_EQ(expect_error(too_long), "PROXY v1 header longer than 107 bytes");
}

TEST(ProxyProtocolV2, ProxyInet) {
    std::string h = v2(0x21, 0x11, inet_block("203.0.113.7", "192.0.2.1", 56324, 443));
    Parsed p = run(h + "GET / HTTP/1.1\r\n");
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_EQ(p.header.version, 2);
    EXPECT_EQ(p.header.length, 28u);
    EXPECT_TRUE(p.header.has_source);
    EXPECT_EQ(text(p.header.source), "203.0.113.7");
    EXPECT_EQ(p.header.source_port, 56324);
    expect_prefixes_incomplete(h);
}

TEST(ProxyProtocolV2, ProxyInet6WithTlvs) {
    std::string body = inet6_block("2001:db8::7", "2001:db8::1", 1, 2) + tlv(0x04, "") /* NOOP */ +
                       tlv(0x05, "unique-id") + tlv(0x20, std::string(300, 'z'));
    std::string h = v2(0x21, 0x21, body);
    Parsed p = run(h + "x");
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_EQ(p.header.length, 16 + body.size());
    EXPECT_EQ(text(p.header.source), "2001:db8::7");
    EXPECT_EQ(p.header.source_port, 1);
    expect_prefixes_incomplete(h);

    // A v4-mapped source is the IPv4 address.
    p = run(v2(0x21, 0x21, inet6_block("::ffff:198.51.100.9", "::1", 1, 2)));
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_EQ(text(p.header.source), "198.51.100.9");
}

TEST(ProxyProtocolV2, WithoutAClientAddress) {
    // LOCAL (a health check from the balancer itself): whatever follows is ignored.
    for (const std::string& h : {v2(0x20, 0x00, ""), v2(0x20, 0x11, inet_block("1.2.3.4", "1.2.3.5", 1, 2)),
                                 v2(0x20, 0x11, ""), v2(0x20, 0x21, tlv(1, "h2"))}) {
        Parsed p = run(h);
        ASSERT_EQ(p.result, Result::Complete) << p.reason;
        EXPECT_FALSE(p.header.has_source);
        EXPECT_EQ(p.header.length, h.size());
    }
    // PROXY with UNSPEC or UNIX addresses: the socket's peer stands.
    Parsed p = run(v2(0x21, 0x00, ""));
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_FALSE(p.header.has_source);
    p = run(v2(0x21, 0x31, std::string(216, '\0')));
    ASSERT_EQ(p.result, Result::Complete) << p.reason;
    EXPECT_FALSE(p.header.has_source);
}

TEST(ProxyProtocolV2, Hostile) {
    std::string block = inet_block("1.2.3.4", "1.2.3.5", 1, 2);
    EXPECT_EQ(expect_error(v2(0x11, 0x11, block)), "PROXY v2 header with a version other than 2");
    EXPECT_EQ(expect_error(v2(0x22, 0x11, block)), "PROXY v2 header with an unknown command");
    EXPECT_EQ(expect_error(v2(0x21, 0x41, block)), "PROXY v2 header with an unknown family or transport");
    EXPECT_EQ(expect_error(v2(0x21, 0x13, block)), "PROXY v2 header with an unknown family or transport");
    EXPECT_EQ(expect_error(v2(0x21, 0x12, block)), "PROXY v2 header for a transport other than a stream");
    EXPECT_EQ(expect_error(v2(0x21, 0x10, block)), "PROXY v2 header for a transport other than a stream");
    EXPECT_EQ(expect_error(v2(0x21, 0x11, block.substr(0, 11))), "PROXY v2 address block longer than the header");
    EXPECT_EQ(expect_error(v2(0x21, 0x21, block)), "PROXY v2 address block longer than the header");
    EXPECT_EQ(expect_error(v2(0x21, 0x31, block)), "PROXY v2 address block longer than the header");
    EXPECT_EQ(expect_error(v2(0x21, 0x11, block + "\x01")), "PROXY v2 header with a truncated TLV");
    EXPECT_EQ(expect_error(v2(0x21, 0x11, block + "\x01\x00")), "PROXY v2 header with a truncated TLV");
    EXPECT_EQ(expect_error(v2(0x21, 0x11, block + "\x01\x00\x05" + "abcd")), "PROXY v2 TLV longer than the header");
    EXPECT_EQ(expect_error(v2(0x21, 0x11, block + tlv(1, "ok") + "\x02\xff\xff")),
              "PROXY v2 TLV longer than the header");
    // Longer than the caller can hold: an error as soon as the length is known, not a wait.
    std::string big = v2(0x21, 0x11, block + tlv(0x20, std::string(5000, 'z')));
    EXPECT_EQ(run(big.substr(0, 16)).result, Result::Error);
    EXPECT_EQ(expect_error(big), "PROXY v2 header too long");
    EXPECT_EQ(run(big, big.size()).result, Result::Complete);
    EXPECT_EQ(run(big, big.size() - 1).result, Result::Error);
    // A damaged signature.
    std::string bad = v2(0x21, 0x11, block);
    bad[10] = 'X';
    EXPECT_EQ(expect_error(bad), "no PROXY protocol header");
    EXPECT_EQ(expect_error("\r\n\r\nGET / HTTP/1.1\r\n"), "no PROXY protocol header");
    EXPECT_EQ(expect_error(std::string("\r\n\r\n\0\r\nQUIT\r", 12)), "no PROXY protocol header");
}
