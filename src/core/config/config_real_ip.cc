// `real_ip:` - the client's address behind load balancers: where it comes from, and whom to
// believe.
#include "core/config/config_sections.h"

namespace gw::config_detail {

void read_real_ip(schema::MapReader& top, Config& c) {
    std::optional<schema::MapReader> m = top.get_map("real_ip");
    if (!m || !m->valid()) return;
    Diagnostics& diags = top.diags();
    RealIpConfig r;
    r.mark = m->mark();
    bool ok = true;
    if (const yaml::Node* v = m->take("from")) {
        if (std::optional<std::string> text = schema::read_string(*v, m->path("from"), diags)) {
            std::string name = to_lower(*text);
            if (name == "proxy_protocol") {
                r.from = RealIpConfig::From::ProxyProtocol;
                bool any = false;
                for (const ListenerConfig& l : c.listeners) any |= l.proxy_protocol;
                if (!any) {
                    schema::report(diags, v->mark, m->path("from"),
                                   "proxy_protocol, but no listener has proxy_protocol: true");
                    ok = false;
                }
            } else if (is_token(name)) {
                r.header = name;
            } else {
                schema::report(diags, v->mark, m->path("from"),
                               "expected x-forwarded-for, proxy_protocol or a header name, got " +
                                   yaml::describe(*v));
                ok = false;
            }
        } else {
            ok = false;
        }
    }
    if (m->require("trusted")) {
        const yaml::Node* list = m->take("trusted");
        std::optional<std::vector<const yaml::Node*>> items =
            schema::read_list(*list, m->path("trusted"), true, diags);
        if (!items) {
            ok = false;
        } else if (items->empty()) {
            schema::report(diags, list->mark, m->path("trusted"),
                           "at least one trusted address or network is required");
            ok = false;
        }
        for (size_t i = 0; items && i < items->size(); i++) {
            std::optional<net::Cidr> cidr = schema::read_cidr(*(*items)[i], schema::index_path(m->path("trusted"), i), diags);
            if (cidr)
                r.trusted.push_back(*cidr);
            else
                ok = false;
        }
    } else {
        ok = false;
    }
    m->finish();
    if (ok) c.real_ip = std::move(r);
}

}  // namespace gw::config_detail
