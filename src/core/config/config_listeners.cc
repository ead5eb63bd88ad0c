// `listeners:` - the sockets the master opens.
#include <netinet/in.h>

#include <cstring>

#include "core/config/config_sections.h"
#include "core/module/module.h"

namespace gw::config_detail {

namespace {

using schema::MapReader;
using yaml::Node;

// Same family, address and port: "*:80", "80" and "0.0.0.0:80" are one socket.
bool same_address(const ListenerConfig& a, const ListenerConfig& b) {
    if (a.sockaddr.ss_family != b.sockaddr.ss_family) return false;
    if (a.sockaddr.ss_family == AF_INET) {
        const auto& x = reinterpret_cast<const sockaddr_in&>(a.sockaddr);
        const auto& y = reinterpret_cast<const sockaddr_in&>(b.sockaddr);
        return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a.sockaddr);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b.sockaddr);
    return x.sin6_port == y.sin6_port && memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
}

}  // namespace

void read_listeners(MapReader& top, Config& c) {
    Diagnostics& diags = top.diags();
    if (!top.require("listeners")) return;
    const Node* list = top.take("listeners");
    std::optional<std::vector<const Node*>> items = schema::read_list(*list, "listeners", false, diags);
    if (!items) return;
    if (items->empty()) {
        schema::report(diags, list->mark, "listeners", "at least one listener is required");
        return;
    }
    std::vector<Mark> address_marks;  // parallel to c.listeners, for "first at"
    for (size_t i = 0; i < items->size(); i++) {
        const Node& item = *(*items)[i];
        MapReader m(item, schema::index_path("listeners", i), diags);
        ListenerConfig l;
        l.mark = item.mark;
        bool address_ok = false;
        if (m.require("address")) {
            const Node& a = *m.take("address");
            if (auto text = schema::read_string(a, m.path("address"), diags)) {
                l.address = *text;
                address_ok = parse_listen_address(*text, l.sockaddr, l.socklen);
                if (!address_ok) {
                    l.socklen = 0;
                    diags.error(a.mark, "listener address \"" + *text +
                                            "\": expected IP:PORT, [IPv6]:PORT or PORT");
                }
            }
            if (address_ok) {
                for (size_t j = 0; j < c.listeners.size(); j++) {
                    if (c.listeners[j].socklen == 0 || !same_address(c.listeners[j], l)) continue;
                    diags.error(a.mark, "duplicate listener address \"" + l.address + "\" (first at " +
                                            address_marks[j].str() + ")");
                    break;
                }
            }
            address_marks.push_back(a.mark);
        } else {
            address_marks.push_back(item.mark);
        }
        m.get_bool("admin", l.admin);
        m.get_int("backlog", l.backlog, {1, 65535});
        m.get_bool("proxy_protocol", l.proxy_protocol);
        m.get_duration("proxy_protocol_timeout", l.proxy_protocol_timeout, {1, 3600 * 1000});
        m.get_enum("http2", l.http2,
                   {{"false", ListenerConfig::Http2::Off},
                    {"true", ListenerConfig::Http2::On},
                    {"prior_knowledge", ListenerConfig::Http2::PriorKnowledge}});
        module::read_listener(m, c, c.listeners.size());  // the modules' keys
        m.finish();
        c.listeners.push_back(std::move(l));
    }
}

}  // namespace gw::config_detail
