// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a load
// balancer sends before the client's bytes to say whose connection it is. Parsed from the start
// of the connection's input buffer, so it costs no extra read: the caller passes what it has
// and gets Incomplete until the whole header is there, however the bytes were split.
//
// Strict: v1 is one line of at most 107 bytes ending in CRLF with single spaces, addresses of
// the named family and ports 0..65535; v2 has the 12-byte signature, version 2, a known command,
// family and transport, an address block that fits the length, and well-formed TLVs (which are
// skipped). A v2 LOCAL command, v1 UNKNOWN, and v2 UNSPEC or UNIX addresses carry no client
// address: the socket's peer stands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/net/ip.h"

namespace gw::http::proxy_protocol {

constexpr size_t kMaxV1Length = 107;  // "PROXY TCP6 " + 2 full IPv6 + 2 ports + spaces + CRLF
constexpr size_t kV2FixedLength = 16; // signature, version/command, family, length

enum class Result : uint8_t { Complete, Incomplete, Error };

struct Header {
    size_t length = 0;        // bytes of the header, to skip before the client's data
    int version = 0;          // 1 or 2
    bool has_source = false;  // false: LOCAL, UNKNOWN, UNSPEC or UNIX; use the socket's peer
    net::IpAddress source;
    uint16_t source_port = 0;
};

// Parses the header at the start of `buf`. A v2 header longer than `max_length` (16 + its
// length field) is an Error as soon as its length field is read. On Error, `reason` is a short
// static text for the log.
Result parse(std::string_view buf, size_t max_length, Header& out, std::string_view& reason);

}  // namespace gw::http::proxy_protocol
