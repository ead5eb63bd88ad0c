#include "http/real_ip.h"

#include "http/chars.h"

namespace gw::http::real_ip {

net::IpAddress forwarded_client(const Request& req, std::string_view header,
                                std::span<const net::Cidr> trusted, const net::IpAddress& peer) {
    net::IpAddress addr = peer;
    for (size_t i = req.header_count; i-- > 0;) {
        const Header& h = req.headers[i];
        if (h.name.size() != header.size() || !chars::iequals(h.name, header)) continue;
        std::string_view list = h.value;
        while (!list.empty()) {
            size_t comma = list.rfind(',');
            std::string_view element = comma == std::string_view::npos ? list : list.substr(comma + 1);
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
            if (element.find_first_not_of(" \t") == std::string_view::npos) continue;
            net::IpAddress next;
            if (!net::parse_forwarded_element(element, next)) return addr;
            addr = next;
            if (!net::contains(trusted, addr)) return addr;
        }
    }
    return addr;
}

}  // namespace gw::http::real_ip
