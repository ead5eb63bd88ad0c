// Reading and dumping `cache:` and a route's `cache:` key, strictly (FILE:LINE:COL, did-you-mean).
#include "modules/cache/config.h"

#include <algorithm>

#include "core/config/config_sections.h"
#include "core/config/dump.h"
#include "core/config/schema.h"

namespace gw::cache {

using module::cache_module;
using schema::MapReader;
using yaml::Node;

namespace {

Settings& building(Config& c) { return module::loading_part<Settings>(c, cache_module); }

void read_zone(const yaml::MapEntry& e, MapReader& m, Settings& s) {
    ZoneConfig z;
    z.name = e.key.text;
    if (z.name.size() > 24)
        schema::report(m.diags(), e.key.mark, m.path(), "zone name \"" + z.name + "\" is longer than 24 characters");
    if (!m.key_node("size")) m.require("size");
    m.get_size("size", z.size, {1ull << 20, 1ull << 40});
    m.get_size("max_object", z.max_object, {1, 1ull << 32});
    if (z.size && z.max_object > z.size / 4 && m.key_node("max_object"))
        schema::report(m.diags(), m.key_node("max_object")->mark, m.path("max_object"),
                       "at most a quarter of the zone's size (" + format_size(z.size / 4) + ")");
    else if (z.size && z.max_object > z.size / 4)
        z.max_object = z.size / 4;
    m.finish();
    s.zones.push_back(std::move(z));
}

std::vector<KeyPart> default_key() {
    return {{KeyPart::Kind::Method, ""}, {KeyPart::Kind::Host, ""}, {KeyPart::Kind::Path, ""}, {KeyPart::Kind::Query, ""}};
}

void read_key(MapReader& m, RoutePolicy& p) {
    auto items = m.get_list("key", true);
    if (!items) return;
    std::string path = m.path("key");
    p.key.clear();
    for (size_t i = 0; i < items->size(); ++i) {
        const Node& n = *(*items)[i];
        std::string item_path = schema::index_path(path, i);
        auto text = schema::read_string(n, item_path, m.diags());
        if (!text) continue;
        KeyPart k{KeyPart::Kind::Method, ""};
        std::string_view t = *text;
        if (t == "method") k.kind = KeyPart::Kind::Method;
        else if (t == "host") k.kind = KeyPart::Kind::Host;
        else if (t == "path") k.kind = KeyPart::Kind::Path;
        else if (t == "query") k.kind = KeyPart::Kind::Query;
        else if (t == "consumer") k.kind = KeyPart::Kind::Consumer;
        else if (t.starts_with("header:") && config_detail::is_token(t.substr(7))) {
            k.kind = KeyPart::Kind::Header;
            k.name = config_detail::to_lower(std::string(t.substr(7)));
        } else if (t.starts_with("cookie:") && config_detail::is_token(t.substr(7))) {
            k.kind = KeyPart::Kind::Cookie;
            k.name = std::string(t.substr(7));
        } else {
            schema::report(m.diags(), n.mark, item_path,
                           "\"" + *text + "\" is not a key part (method, host, path, query, consumer, header:NAME, cookie:NAME)");
            continue;
        }
        p.key.push_back(std::move(k));
    }
    if (p.key.empty() && !items->empty()) p.key = default_key();
    if (items->empty()) schema::report(m.diags(), m.mark(), path, "empty list (leave the key out for the default)");
}

}  // namespace

std::string KeyPart::text() const {
    switch (kind) {
        case Kind::Method: return "method";
        case Kind::Host: return "host";
        case Kind::Path: return "path";
        case Kind::Query: return "query";
        case Kind::Consumer: return "consumer";
        case Kind::Header: return "header:" + name;
        case Kind::Cookie: return "cookie:" + name;
    }
    return "";
}

const Settings* settings(const Config& c) { return module::find_part<Settings>(c, cache_module); }

void read_sections(MapReader& top, Config& c) {
    auto m = top.get_map("cache");
    if (!m) return;
    Settings& s = building(c);
    if (const Node* zones = m->take("zones")) {
        std::string path = m->path("zones");
        if (schema::expect_map(*zones, path, m->diags())) {
            for (const yaml::MapEntry& e : zones->entries) {
                if (!config_detail::valid_name(e.key.text))
                    schema::report(m->diags(), e.key.mark, path,
                                   "bad cache zone name \"" + e.key.text + "\" (use letters, digits, '_', '.', '-')");
                MapReader zm(e.value, schema::join_path(path, e.key.text), m->diags());
                if (s.zones.size() == 16)  // (a fill's notice across workers names its zone in 4 bits)
                    schema::report(m->diags(), e.key.mark, path, "at most 16 cache zones");
                read_zone(e, zm, s);
            }
        }
    }
    if (const Node* v = m->take("status_header")) {
        std::string path = m->path("status_header");
        if (v->is_scalar() && (v->text == "off" || v->text == "false")) {
            s.status_header.clear();
        } else if (auto t = schema::read_string(*v, path, m->diags())) {
            if (!config_detail::is_token(*t)) schema::report(m->diags(), v->mark, path, "\"" + *t + "\" is not a header name (or off)");
            else s.status_header = config_detail::to_lower(*t);
        }
    }
    m->finish();
}

void read_route(MapReader& route, Config& c, size_t index) {
    const Node* v = route.take("cache");
    if (!v) return;
    std::string path = route.path("cache");
    if (!schema::expect_map(*v, path, route.diags())) return;
    Settings& s = building(c);
    MapReader m(*v, path, route.diags());
    RoutePolicy p;
    p.key = default_key();
    std::string zone;
    if (!m.key_node("zone")) m.require("zone");
    if (m.get_string("zone", zone)) {
        std::vector<std::string> known;
        for (const ZoneConfig& z : s.zones) known.push_back(z.name);
        int found = config_detail::find_named(zone, known, "cache zone", m.key_node("zone") ? *m.key_node("zone") : *v,
                                              m.path("zone"), route.diags());
        if (found >= 0) p.zone = static_cast<size_t>(found);
    }
    read_key(m, p);
    m.get_duration("default_ttl", p.default_ttl, {0, 365LL * 86400000});
    m.get_duration("stale_while_revalidate", p.swr, {0, 365LL * 86400000});
    m.get_duration("stale_if_error", p.sie, {0, 365LL * 86400000});
    m.get_duration("lock_timeout", p.lock_timeout, {1, 600000});
    if (auto items = m.get_list("methods", true)) {
        std::string mp = m.path("methods");
        bool get = false, head = false;
        for (size_t i = 0; i < items->size(); ++i) {
            const Node& n = *(*items)[i];
            auto t = schema::read_string(n, schema::index_path(mp, i), m.diags());
            if (!t) continue;
            if (*t == "GET") get = true;
            else if (*t == "HEAD") head = true;
            else
                schema::report(m.diags(), n.mark, schema::index_path(mp, i),
                               "\"" + *t + "\": only GET and HEAD are cached (HEAD from GET's objects)");
        }
        if (!get && !items->empty()) schema::report(m.diags(), (*items)[0]->mark, mp, "GET must be one of the methods");
        p.head = head;
    }
    m.finish();
    s.policies.push_back(std::move(p));
    if (s.routes.size() <= index) s.routes.resize(index + 1, -1);
    s.routes[index] = static_cast<int>(s.policies.size() - 1);
}

void dump(const Config& c, std::string& out) {
    const Settings* s = settings(c);
    if (!s || s->zones.empty()) return;
    dump::line(out, 0, "cache", "");
    dump::line(out, 2, "zones", "");
    for (const ZoneConfig& z : s->zones) {
        dump::line(out, 4, dump::quote(z.name), "");
        dump::line(out, 6, "size", format_size(z.size));
        dump::line(out, 6, "max_object", format_size(z.max_object));
    }
    dump::line(out, 2, "status_header", s->status_header.empty() ? "off" : dump::quote(s->status_header));
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings* s = settings(c);
    const RoutePolicy* p = s ? s->route(index) : nullptr;
    if (!p) return;
    dump::line(out, indent, "cache", "");
    dump::line(out, indent + 2, "zone", dump::quote(s->zones[p->zone].name));
    std::string key = "[";
    for (size_t i = 0; i < p->key.size(); ++i) key += (i ? ", " : "") + dump::quote(p->key[i].text());
    dump::line(out, indent + 2, "key", key + "]");
    dump::line(out, indent + 2, "default_ttl", format_duration(p->default_ttl));
    dump::line(out, indent + 2, "stale_while_revalidate", format_duration(p->swr));
    dump::line(out, indent + 2, "stale_if_error", format_duration(p->sie));
    dump::line(out, indent + 2, "lock_timeout", format_duration(p->lock_timeout));
    dump::line(out, indent + 2, "methods", p->head ? "[GET, HEAD]" : "[GET]");
}

}  // namespace gw::cache
