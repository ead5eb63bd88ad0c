// The tls module's Descriptor: the listener and route keys it reads, the check across them and
// their dump. The core names no module: it reaches this one through the list.
#include "modules/tls/module.h"

#include <string>

#include "core/config/config.h"
#include "core/config/dump.h"
#include "modules/tls/config_read.h"
#include "modules/tls/master.h"
#include "modules/tls/storage.h"
#include "modules/tls/upstream_config.h"

namespace gw::tls {

using module::tls_module;

const Settings* settings(const Config& c) { return module::find_part<Settings>(c, tls_module); }

namespace {

// The module's part of a configuration being read, made at the first key of the module met (so
// a configuration without TLS has none).
Settings& building(Config& c) { return module::loading_part<Settings>(c, tls_module); }

void read_listener(schema::MapReader& listener, Config& c, size_t index) {
    const schema::Node* node = listener.take("tls");
    if (!node) return;
    ListenerTls tls = read_listener_tls(*node, listener.path("tls"), c.prefix, listener.diags());
    Settings& s = building(c);
    if (s.listeners.size() <= index) s.listeners.resize(index + 1);
    s.listeners[index] = std::move(tls);
}

void read_route(schema::MapReader& route, Config& c, size_t index) {
    if (route.key_node("require_client_cert"))
        read_require_client_cert(route, index, building(c));
    else
        route.take("require_client_cert");  // known, for did-you-mean
}

void read_upstream(schema::MapReader& upstream, Config& c, size_t index) {
    const schema::Node* node = upstream.take("tls");
    if (!node) return;
    UpstreamTls tls = read_upstream_tls(*node, upstream.path("tls"), c.prefix, upstream.diags());
    Settings& s = building(c);
    if (s.upstreams.size() <= index) s.upstreams.resize(index + 1);
    s.upstreams[index] = std::move(tls);
}

void check(Config& c, Diagnostics& diags) {
    if (const Settings* s = settings(c)) check_settings(*s, c, diags);
    if (const Settings* s = settings(c))
        for (size_t i = 0; i < c.upstreams.size(); ++i)
            if (const UpstreamTls* t = s->upstream(i)) check_upstream_tls(*t, c.upstreams[i], diags);
}

void dump_listener(const Config& c, size_t index, int indent, std::string& out) {
    if (const Settings* s = settings(c))
        if (const ListenerTls* t = s->listener(index)) dump_listener_tls(*t, indent, out);
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    if (const Settings* s = settings(c))
        if (s->requires_client_cert(index)) dump::line(out, indent, "require_client_cert", "true");
}

void dump_upstream(const Config& c, size_t index, int indent, std::string& out) {
    if (const Settings* s = settings(c))
        if (const UpstreamTls* t = s->upstream(index)) dump_upstream_tls(*t, indent, out);
}

}  // namespace

}  // namespace gw::tls

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor tls_module = {
    .name = "tls",
    .read_listener = gw::tls::read_listener,
    .read_route = gw::tls::read_route,
    .read_upstream = gw::tls::read_upstream,
    .check = gw::tls::check,
    .dump_route = gw::tls::dump_route,
    .dump_listener = gw::tls::dump_listener,
    .dump_upstream = gw::tls::dump_upstream,
    .zones = gw::tls::tls_zones,
    .make_master = gw::tls::make_master,
    .variables = gw::tls::variables(),
    .make_worker = gw::tls::make_worker,
};

}  // namespace gw::module
