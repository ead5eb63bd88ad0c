// IP addresses and CIDR networks, for trust decisions (real_ip): parsed once, matched with a
// few byte compares. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket
// reports for an IPv4 peer) is taken as the IPv4 address, so that it matches IPv4 networks.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace gw::net {

struct IpAddress {
    bool v4 = false;
    uint8_t bytes[16] = {};  // network order; an IPv4 address uses the first 4
    bool operator==(const IpAddress&) const = default;
};

// Room for the text of any address, with its NUL (INET6_ADDRSTRLEN).
constexpr size_t kIpTextSize = 46;

// A bare address: "192.0.2.1", "2001:db8::1" (no brackets, port or zone). Dotted quads only,
// in decimal without leading zeros (inet_pton), so "010.0.0.1" or "10.1" are not addresses.
bool parse_ip(std::string_view text, IpAddress& out);
// The address of an AF_INET or AF_INET6 socket address; false for any other family.
bool ip_from_sockaddr(const sockaddr_storage& sa, IpAddress& out);
// The canonical text ("2001:db8::1", lower case, zeros compressed) into `out` (kIpTextSize
// bytes), NUL-terminated; returns its length.
size_t format_ip(const IpAddress& ip, char* out);
std::string format_ip(const IpAddress& ip);

struct Cidr {
    IpAddress net;       // host bits are zero
    uint8_t prefix = 0;  // 0..32 or 0..128
    bool operator==(const Cidr&) const = default;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). A prefix longer than the
// family allows, or host bits set ("10.0.0.1/8"), is an error; `error` says why.
bool parse_cidr(std::string_view text, Cidr& out, std::string& error);
std::string format_cidr(const Cidr& c);
bool contains(const Cidr& net, const IpAddress& ip);
bool contains(std::span<const Cidr> nets, const IpAddress& ip);

// One element of a forwarding header (X-Forwarded-For), trimmed of SP and HTAB: a bare address,
// "[IPv6]", "[IPv6]:port" or "IPv4:port" (the port is dropped, as nginx does).
bool parse_forwarded_element(std::string_view text, IpAddress& out);

}  // namespace gw::net
