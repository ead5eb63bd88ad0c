// Reading and dumping `idempotency:` policies, `idempotency_zone_size`, and a route's
// `idempotency:` key. Strict like the rest of the schema (FILE:LINE:COL, did-you-mean).
#include "modules/idempotency/config.h"

#include <algorithm>

#include "core/config/config_sections.h"
#include "core/config/dump.h"
#include "core/config/schema.h"

namespace gw::idempotency {

using module::idempotency_module;
using schema::MapReader;
using yaml::Node;

namespace {

Settings& building(Config& c) { return module::loading_part<Settings>(c, idempotency_module); }

void read_policy(const yaml::MapEntry& e, MapReader& m, Settings& s, const Config& c) {
    Policy p;
    p.name = e.key.text;
    p.mark = e.key.mark;
    Diagnostics& diags = m.diags();
    config_detail::read_strings(m, "methods", p.methods, [&](const Node& n, const std::string& path, const std::string& text) {
        if (config_detail::is_method_name(text)) return true;
        schema::report(diags, n.mark, path, "\"" + text + "\" is not a method (methods are upper-case tokens)");
        return false;
    });
    if (const Node* v = m.take("header")) {
        auto text = schema::read_string(*v, m.path("header"), diags);
        if (text && !config_detail::is_token(*text))
            schema::report(diags, v->mark, m.path("header"), "\"" + *text + "\" is not a header name");
        else if (text)
            p.header = config_detail::to_lower(*text);
    }
    m.get_bool("required", p.required);
    m.get_duration("ttl", p.ttl, {1000, 365ll * 24 * 3600 * 1000});
    m.get_duration("lease", p.lease, {1000, 365ll * 24 * 3600 * 1000});
    if (p.lease > p.ttl) p.lease = p.ttl;  // a claim never outlives what it would store
    const Node* scope_node = m.key_node("scope");
    m.get_enum("scope", p.scope, {{"local", Policy::Scope::Local}, {"global", Policy::Scope::Global}});
    if (p.scope == Policy::Scope::Global && !c.redis)
        schema::report(diags, scope_node ? scope_node->mark : m.mark(), m.path("scope"),
                       "global needs a top-level redis: section (the Redis server that keeps the keys)");
    m.get_size("max_response", p.max_response, {0, 64ull << 20});
    std::vector<std::string> key_by;
    if (config_detail::read_strings(m, "key_by", key_by, [&](const Node& n, const std::string& path, const std::string& text) {
            if (text == "consumer" || text == "route") return true;
            std::string msg = "\"" + text + "\" is not a key part (consumer, route)";
            static const std::vector<std::string> kParts = {"consumer", "route"};
            std::string_view hint = schema::suggest(text, kParts);
            if (!hint.empty()) msg += " (did you mean \"" + std::string(hint) + "\"?)";
            schema::report(diags, n.mark, path, msg);
            return false;
        })) {
        p.by_consumer = std::find(key_by.begin(), key_by.end(), "consumer") != key_by.end();
        p.by_route = std::find(key_by.begin(), key_by.end(), "route") != key_by.end();
    }
    m.get_enum("fingerprint", p.fingerprint, {{"body", Policy::Fingerprint::Body}, {"none", Policy::Fingerprint::None}});
    m.get_enum("on_store_error", p.on_store_error,
               {{"reject", Policy::OnStoreError::Reject}, {"allow", Policy::OnStoreError::Allow}});
    m.get_bool("store_5xx", p.store_5xx);
    m.finish();
    s.policies.push_back(std::move(p));
}

std::string list_text(const std::vector<std::string>& items) {
    std::string s = "[";
    for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + dump::quote(items[i]);
    return s + "]";
}

}  // namespace

const Settings* settings(const Config& c) { return module::find_part<Settings>(c, idempotency_module); }

void read_sections(MapReader& top, Config& c) {
    bool has_size = top.key_node("idempotency_zone_size") != nullptr;
    if (!top.key_node("idempotency") && !has_size) return;
    Settings& s = building(c);
    top.get_size("idempotency_zone_size", s.zone_size, {256 * 1024, 4ull << 30});
    config_detail::for_each_named(top, "idempotency", "idempotency policy",
                                  [&](const yaml::MapEntry& e, MapReader& m) { read_policy(e, m, s, c); });
}

void read_route(MapReader& route, Config& c, size_t index) {
    const Node* v = route.take("idempotency");
    if (!v) return;
    std::string path = route.path("idempotency");
    auto name = schema::read_string(*v, path, route.diags());
    if (!name) return;
    Settings& s = building(c);
    std::vector<std::string> known;
    for (const Policy& p : s.policies) known.push_back(p.name);
    int found = config_detail::find_named(*name, known, "idempotency policy", *v, path, route.diags());
    if (found < 0) return;
    if (s.routes.size() <= index) s.routes.resize(index + 1, -1);
    s.routes[index] = found;
}

void dump(const Config& c, std::string& out) {
    const Settings* s = settings(c);
    if (!s || s->policies.empty()) return;
    dump::line(out, 0, "idempotency_zone_size", format_size(s->zone_size));
    dump::line(out, 0, "idempotency", "");
    for (const Policy& p : s->policies) {
        dump::line(out, 2, dump::quote(p.name), "");
        dump::line(out, 4, "methods", list_text(p.methods));
        dump::line(out, 4, "header", dump::quote(p.header));
        dump::line(out, 4, "required", dump::boolean(p.required));
        dump::line(out, 4, "ttl", format_duration(p.ttl));
        dump::line(out, 4, "lease", format_duration(p.lease));
        dump::line(out, 4, "scope", p.scope == Policy::Scope::Global ? "global" : "local");
        dump::line(out, 4, "max_response", format_size(p.max_response));
        std::vector<std::string> key_by;
        if (p.by_consumer) key_by.push_back("consumer");
        if (p.by_route) key_by.push_back("route");
        dump::line(out, 4, "key_by", list_text(key_by));
        dump::line(out, 4, "fingerprint", p.fingerprint == Policy::Fingerprint::Body ? "body" : "none");
        dump::line(out, 4, "on_store_error", p.on_store_error == Policy::OnStoreError::Reject ? "reject" : "allow");
        dump::line(out, 4, "store_5xx", dump::boolean(p.store_5xx));
    }
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings* s = settings(c);
    if (const Policy* p = s ? s->route(index) : nullptr) dump::line(out, indent, "idempotency", dump::quote(p->name));
}

}  // namespace gw::idempotency
