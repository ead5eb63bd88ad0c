// The real client address behind trusted proxies (`real_ip:`, nginx's realip module with
// real_ip_recursive on). Whether the socket's peer is trusted is decided once per connection;
// only then is a request's forwarding header read.
#pragma once

#include <span>
#include <string_view>

#include "core/net/ip.h"
#include "http/parser.h"

namespace gw::http::real_ip {

// The client address that the `header` lines of `req` give (X-Forwarded-For, or a header such
// as X-Real-IP, read the same way), starting from `peer`, which the caller found trusted.
// The lines form one comma-separated list in order; it is walked from the right, each element
// replacing the address, and the walk stops at the first address not in `trusted` - that is
// the client. When every element is trusted, the leftmost one is. An element that is not an
// address stops the walk and the last good address stands; empty elements are skipped.
net::IpAddress forwarded_client(const Request& req, std::string_view header,
                                std::span<const net::Cidr> trusted, const net::IpAddress& peer);

}  // namespace gw::http::real_ip
