#include "core/net/ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace gw::net {

namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void set_v6(IpAddress& out, const uint8_t (&b)[16]) {
    if (memcmp(b, kMappedPrefix, sizeof kMappedPrefix) == 0) {
        out = {};
        out.v4 = true;
        memcpy(out.bytes, b + 12, 4);
        return;
    }
    out.v4 = false;
    memcpy(out.bytes, b, 16);
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

bool valid_port(std::string_view s) {
    unsigned port = 0;
    if (s.size() > 5 || !all_digits(s)) return false;
    std::from_chars(s.data(), s.data() + s.size(), port);
    return port <= 65535;
}

}  // namespace

bool parse_ip(std::string_view text, IpAddress& out) {
    char buf[kIpTextSize];
    if (text.empty() || text.size() >= sizeof buf || memchr(text.data(), '\0', text.size())) return false;
    memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (text.find(':') == std::string_view::npos) {
        IpAddress a;
        a.v4 = true;
        if (inet_pton(AF_INET, buf, a.bytes) != 1) return false;
        out = a;
        return true;
    }
    uint8_t b[16];
    if (inet_pton(AF_INET6, buf, b) != 1) return false;
    set_v6(out, b);
    return true;
}

bool ip_from_sockaddr(const sockaddr_storage& sa, IpAddress& out) {
    if (sa.ss_family == AF_INET) {
        out = {};
        out.v4 = true;
        memcpy(out.bytes, &reinterpret_cast<const sockaddr_in&>(sa).sin_addr, 4);
        return true;
    }
    if (sa.ss_family == AF_INET6) {
        uint8_t b[16];
        memcpy(b, &reinterpret_cast<const sockaddr_in6&>(sa).sin6_addr, 16);
        set_v6(out, b);
        return true;
    }
    return false;
}

size_t format_ip(const IpAddress& ip, char* out) {
    if (!inet_ntop(ip.v4 ? AF_INET : AF_INET6, ip.bytes, out, kIpTextSize)) out[0] = '\0';
    return strlen(out);
}

std::string format_ip(const IpAddress& ip) {
    char buf[kIpTextSize];
    return std::string(buf, format_ip(ip, buf));
}

bool parse_cidr(std::string_view text, Cidr& out, std::string& error) {
    size_t slash = text.find('/');
    std::string_view addr = text.substr(0, slash);
    Cidr c;
    if (!parse_ip(addr, c.net)) {
        error = "\"" + std::string(addr) + "\" is not an IPv4 or IPv6 address";
        return false;
    }
    unsigned max = c.net.v4 ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
        std::string_view p = text.substr(slash + 1);
        if (!all_digits(p) || p.size() > 3 || (p.size() > 1 && p[0] == '0')) {
            error = "bad prefix length \"" + std::string(p) + "\" (expected 0.." + std::to_string(max) + ")";
            return false;
        }
        std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (prefix > max) {
            error = "prefix length " + std::string(p) + " is out of range (0.." + std::to_string(max) + ")";
            return false;
        }
    }
    c.prefix = static_cast<uint8_t>(prefix);
    Cidr masked = c;
    size_t bytes = c.net.v4 ? 4 : 16;
    for (size_t i = 0; i < bytes; i++) {
        unsigned bits = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
        masked.net.bytes[i] &= static_cast<uint8_t>(0xff00u >> bits);
    }
    if (!(masked == c)) {
        error = "\"" + std::string(text) + "\" has host bits set (the network is " + format_cidr(masked) + ")";
        return false;
    }
    out = c;
    return true;
}

std::string format_cidr(const Cidr& c) { return format_ip(c.net) + "/" + std::to_string(c.prefix); }

bool contains(const Cidr& net, const IpAddress& ip) {
    if (net.net.v4 != ip.v4) return false;
    size_t whole = net.prefix / 8;
    if (memcmp(net.net.bytes, ip.bytes, whole) != 0) return false;
    unsigned rest = net.prefix % 8;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
    return (ip.bytes[whole] & mask) == net.net.bytes[whole];
}

bool contains(std::span<const Cidr> nets, const IpAddress& ip) {
    for (const Cidr& n : nets)
        if (contains(n, ip)) return true;
    return false;
}

bool parse_forwarded_element(std::string_view t, IpAddress& out) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.starts_with('[')) {
        size_t close = t.find(']');
        if (close == std::string_view::npos) return false;
        std::string_view rest = t.substr(close + 1);
        if (!rest.empty() && !(rest[0] == ':' && valid_port(rest.substr(1)))) return false;
        IpAddress a;
        std::string_view inner = t.substr(1, close - 1);
        if (inner.find(':') == std::string_view::npos || !parse_ip(inner, a)) return false;
        out = a;
        return true;
    }
    size_t colon = t.find(':');
    if (colon != std::string_view::npos && t.find(':', colon + 1) == std::string_view::npos) {
        // IPv4:port (one colon: an IPv6 address has at least two)
        IpAddress a;
        if (!valid_port(t.substr(colon + 1)) || !parse_ip(t.substr(0, colon), a) || !a.v4) return false;
        out = a;
        return true;
    }
    return parse_ip(t, out);
}

}  // namespace gw::net
