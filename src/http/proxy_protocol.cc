#include "http/proxy_protocol.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace gw::http::proxy_protocol {

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

// v2 address block sizes: two addresses and two ports.
constexpr size_t kInetBlock = 4 + 4 + 2 + 2;
constexpr size_t kInet6Block = 16 + 16 + 2 + 2;
constexpr size_t kUnixBlock = 108 + 108;

Result fail(std::string_view& reason, std::string_view why) {
    reason = why;
    return Result::Error;
}

bool parse_port(std::string_view s, uint16_t& out) {
    if (s.empty() || s.size() > 5) return false;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 65535) return false;
    out = static_cast<uint16_t>(v);
    return true;
}

// The next field of a v1 line up to a single space (or the end when `last`).
bool next_field(std::string_view& line, bool last, std::string_view& field) {
    size_t sp = line.find(' ');
    if (last) {
        if (sp != std::string_view::npos) return false;
        field = line;
        line = {};
        return !field.empty();
    }
    if (sp == std::string_view::npos || sp == 0) return false;
    field = line.substr(0, sp);
    line.remove_prefix(sp + 1);
    return true;
}

Result parse_v1(std::string_view buf, Header& out, std::string_view& reason) {
    size_t end = 0;
    for (;; ++end) {
        if (end == kMaxV1Length) return fail(reason, "PROXY v1 header longer than 107 bytes");
        if (end == buf.size()) return Result::Incomplete;
        unsigned char c = static_cast<unsigned char>(buf[end]);
        if (c == '\r') break;
        if (c < 0x20 || c > 0x7e) return fail(reason, "PROXY v1 header with a control or non-ASCII byte");
    }
    if (end + 1 == kMaxV1Length) return fail(reason, "PROXY v1 header longer than 107 bytes");
    if (end + 1 == buf.size()) return Result::Incomplete;
    if (buf[end + 1] != '\n') return fail(reason, "PROXY v1 header with a CR not followed by LF");

    std::string_view line = buf.substr(kV1Prefix.size(), end - kV1Prefix.size());
    out = Header{};
    out.length = end + 2;
    out.version = 1;
    if (line.starts_with("UNKNOWN") && (line.size() == 7 || line[7] == ' ')) return Result::Complete;

    std::string_view proto, src, dst, sport, dport;
    if (!next_field(line, false, proto) || (proto != "TCP4" && proto != "TCP6"))
        return fail(reason, "PROXY v1 header with an unknown protocol (expected TCP4, TCP6 or UNKNOWN)");
    if (!next_field(line, false, src) || !next_field(line, false, dst) || !next_field(line, false, sport) ||
        !next_field(line, true, dport))
        return fail(reason, "PROXY v1 header with missing or extra fields");
    bool v6 = proto == "TCP6";
    // The family is the one named: an IPv6 text has a colon, an IPv4 one has none.
    auto family_ok = [v6](std::string_view a) { return (a.find(':') != std::string_view::npos) == v6; };
    net::IpAddress s, d;
    if (!family_ok(src) || !family_ok(dst) || !net::parse_ip(src, s) || !net::parse_ip(dst, d))
        return fail(reason, "PROXY v1 header with a bad address");
    uint16_t dp;
    if (!parse_port(sport, out.source_port) || !parse_port(dport, dp))
        return fail(reason, "PROXY v1 header with a bad port");
    out.has_source = true;
    out.source = s;
    return Result::Complete;
}

Result parse_v2(std::string_view buf, size_t max_length, Header& out, std::string_view& reason) {
    if (buf.size() < kV2FixedLength) return Result::Incomplete;
    auto byte = [&](size_t i) { return static_cast<uint8_t>(buf[i]); };
    uint8_t ver_cmd = byte(12), fam = byte(13);
    size_t len = static_cast<size_t>(byte(14)) << 8 | byte(15);
    if ((ver_cmd >> 4) != 2) return fail(reason, "PROXY v2 header with a version other than 2");
    uint8_t command = ver_cmd & 0x0f;
    if (command > 1) return fail(reason, "PROXY v2 header with an unknown command");
    uint8_t family = fam >> 4, transport = fam & 0x0f;
    if (family > 3 || transport > 2) return fail(reason, "PROXY v2 header with an unknown family or transport");
    if (kV2FixedLength + len > max_length) return fail(reason, "PROXY v2 header too long");
    if (buf.size() < kV2FixedLength + len) return Result::Incomplete;

    std::string_view body = buf.substr(kV2FixedLength, len);
    out = Header{};
    out.length = kV2FixedLength + len;
    out.version = 2;
    size_t block = 0;
    if (command == 1) {  // PROXY; LOCAL (0) ignores the address information entirely
        switch (family) {
            case 1: block = kInetBlock; break;
            case 2: block = kInet6Block; break;
            case 3: block = kUnixBlock; break;
            default: block = 0; break;  // UNSPEC
        }
        if (len < block) return fail(reason, "PROXY v2 address block longer than the header");
        if ((family == 1 || family == 2) && transport != 1)
            return fail(reason, "PROXY v2 header for a transport other than a stream");
    } else if (family == 1 || family == 2 || family == 3) {
        block = family == 1 ? kInetBlock : family == 2 ? kInet6Block : kUnixBlock;
        if (len < block) block = len;  // a LOCAL header may omit what it would ignore anyway
    }
    // The TLVs after the addresses: each type (1), length (2), value; skipped, but they must
    // fill the rest exactly.
    for (std::string_view tlv = body.substr(block); !tlv.empty();) {
        if (tlv.size() < 3) return fail(reason, "PROXY v2 header with a truncated TLV");
        size_t n = static_cast<size_t>(static_cast<uint8_t>(tlv[1])) << 8 | static_cast<uint8_t>(tlv[2]);
        if (tlv.size() - 3 < n) return fail(reason, "PROXY v2 TLV longer than the header");
        tlv.remove_prefix(3 + n);
    }
    if (command != 1 || (family != 1 && family != 2)) return Result::Complete;

    // Source address, destination address, source port: 4 or 16 bytes each, then 2.
    const auto* p = reinterpret_cast<const uint8_t*>(body.data());
    const size_t addr_len = family == 1 ? 4 : 16;
    sockaddr_storage sa{};
    if (family == 1) {
        auto& in = reinterpret_cast<sockaddr_in&>(sa);
        in.sin_family = AF_INET;
        memcpy(&in.sin_addr, p, addr_len);
    } else {
        auto& in6 = reinterpret_cast<sockaddr_in6&>(sa);
        in6.sin6_family = AF_INET6;
        memcpy(&in6.sin6_addr, p, addr_len);
    }
    net::ip_from_sockaddr(sa, out.source);
    out.source_port = static_cast<uint16_t>(p[2 * addr_len] << 8 | p[2 * addr_len + 1]);
    out.has_source = true;
    return Result::Complete;
}

}  // namespace

Result parse(std::string_view buf, size_t max_length, Header& out, std::string_view& reason) {
    // Decide the version from as many bytes as there are: a prefix of either start is
    // Incomplete, anything else an Error at once (a client that speaks HTTP straight away).
    size_t n = std::min(buf.size(), kV2Signature.size());
    if (n > 0 && buf[0] == '\r') {
        if (buf.substr(0, n) != kV2Signature.substr(0, n)) return fail(reason, "no PROXY protocol header");
        if (buf.size() < kV2Signature.size()) return Result::Incomplete;
        return parse_v2(buf, max_length, out, reason);
    }
    n = std::min(buf.size(), kV1Prefix.size());
    if (buf.substr(0, n) != kV1Prefix.substr(0, n)) return fail(reason, "no PROXY protocol header");
    if (buf.size() < kV1Prefix.size()) return Result::Incomplete;
    return parse_v1(buf, out, reason);
}

}  // namespace gw::http::proxy_protocol
