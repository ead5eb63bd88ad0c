// Reading, checking and dumping `cors:` policies and a route's `cors:` key. Strict like the rest of
// the schema: a bad origin, "*" with credentials, an unknown policy - each at its FILE:LINE:COL.
#include "modules/cors/config.h"

#include <algorithm>
#include <optional>

#include "core/config/config_sections.h"
#include "core/config/dump.h"
#include "core/config/schema.h"

namespace gw::cors {

using module::cors_module;
using schema::MapReader;
using yaml::Node;

namespace {

Settings& building(Config& c) { return module::loading_part<Settings>(c, cors_module); }

void read_policy(const yaml::MapEntry& e, MapReader& m, Settings& s) {
    Policy p;
    p.name = e.key.text;
    p.mark = e.key.mark;
    Diagnostics& diags = m.diags();
    std::vector<const Node*> origin_nodes;
    std::vector<std::string> origin_texts;
    if (!m.key_node("origins")) m.require("origins");
    config_detail::read_strings(m, "origins", origin_texts, [&](const Node& n, const std::string& path,
                                                                     const std::string& text) {
        std::string why;
        std::optional<OriginPattern> pattern = parse_pattern(text, why);
        if (!pattern) {
            schema::report(diags, n.mark, path, "\"" + text + "\": " + why);
            return false;
        }
        p.origins.push_back(std::move(*pattern));
        origin_nodes.push_back(&n);
        return true;
    });
    p.methods = {"GET", "HEAD", "POST"};
    config_detail::read_strings(m, "methods", p.methods, [&](const Node& n, const std::string& path, const std::string& text) {
        if (config_detail::is_method_name(text)) return true;
        schema::report(diags, n.mark, path, "\"" + text + "\" is not a method (methods are upper-case tokens)");
        return false;
    });
    auto header_name = [&](const Node& n, const std::string& path, std::string& text) {
        if (text == "*") {
            // The Fetch standard's wildcard means "any" only without credentials, and never for
            // Authorization: an explicit list says the same thing without those traps.
            schema::report(diags, n.mark, path, "\"*\" is not taken: list the header names");
            return false;
        }
        if (!config_detail::is_token(text)) {
            schema::report(diags, n.mark, path, "\"" + text + "\" is not a header name");
            return false;
        }
        text = config_detail::to_lower(text);
        return true;
    };
    config_detail::read_strings(m, "headers", p.headers, header_name);
    config_detail::read_strings(m, "expose_headers", p.expose_headers, header_name);
    m.get_bool("credentials", p.credentials);
    m.get_duration("max_age", p.max_age, {0, 86400000});
    if (p.max_age >= 0 && p.max_age % 1000 != 0)
        schema::report(diags, m.take("max_age")->mark, m.path("max_age"), "whole seconds (Access-Control-Max-Age counts seconds)");
    // "*" answers any site with Access-Control-Allow-Origin: * - which browsers refuse for
    // requests with credentials; echoing any origin with credentials instead would hand every
    // site the user's cookies. Neither is allowed.
    if (p.credentials)
        for (size_t i = 0; i < p.origins.size(); ++i)
            if (p.origins[i].kind == OriginPattern::Kind::Any)
                schema::report(diags, origin_nodes[i]->mark, m.path("origins"),
                               "\"*\" with credentials: true would let every site read responses with the user's "
                               "credentials; list the origins");
    m.finish();
    p.compile();
    s.policies.push_back(std::move(p));
}

std::string join(const std::vector<std::string>& items) {
    std::string s;
    for (const std::string& i : items) s += (s.empty() ? "" : ", ") + i;
    return s;
}

std::string list_text(const std::vector<std::string>& items) {
    std::string s = "[";
    for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + dump::quote(items[i]);
    return s + "]";
}

}  // namespace

void Policy::compile() {
    actual_lines.clear();
    preflight_lines.clear();
    if (credentials) actual_lines += "access-control-allow-credentials: true\r\n";
    if (!expose_headers.empty()) actual_lines += "access-control-expose-headers: " + join(expose_headers) + "\r\n";
    preflight_lines += "access-control-allow-methods: " + join(methods) + "\r\n";
    if (credentials) preflight_lines += "access-control-allow-credentials: true\r\n";
    if (max_age >= 0) preflight_lines += "access-control-max-age: " + std::to_string(max_age / 1000) + "\r\n";
}

const Settings* settings(const Config& c) { return module::find_part<Settings>(c, cors_module); }

void read_sections(MapReader& top, Config& c) {
    if (!top.key_node("cors")) return;
    Settings& s = building(c);
    config_detail::for_each_named(top, "cors", "CORS policy",
                                  [&](const yaml::MapEntry& e, MapReader& m) { read_policy(e, m, s); });
}

void read_route(MapReader& route, Config& c, size_t index) {
    const Node* v = route.take("cors");
    if (!v) return;
    std::string path = route.path("cors");
    auto name = schema::read_string(*v, path, route.diags());
    if (!name) return;
    Settings& s = building(c);
    std::vector<std::string> known;
    for (const Policy& p : s.policies) known.push_back(p.name);
    int found = config_detail::find_named(*name, known, "CORS policy", *v, path, route.diags());
    if (found < 0) return;
    if (s.routes.size() <= index) {
        s.routes.resize(index + 1, -1);
        s.route_marks.resize(index + 1);
    }
    s.routes[index] = found;
    s.route_marks[index] = v->mark;
}

void check(Config& c, Diagnostics& diags) {
    const Settings* s = settings(c);
    if (!s) return;
    for (size_t i = 0; i < s->routes.size() && i < c.routes.size(); ++i) {
        if (s->routes[i] < 0) continue;
        const std::vector<std::string>& methods = c.routes[i].match.methods;
        if (!methods.empty() && std::find(methods.begin(), methods.end(), "OPTIONS") == methods.end())
            diags.warning(s->route_marks[i], "routes[" + std::to_string(i) +
                                                 "].cors: match.methods leaves out OPTIONS, so preflights never "
                                                 "reach this route (add OPTIONS)");
    }
}

void dump(const Config& c, std::string& out) {
    const Settings* s = settings(c);
    if (!s || s->policies.empty()) return;
    dump::line(out, 0, "cors", "");
    for (const Policy& p : s->policies) {
        dump::line(out, 2, dump::quote(p.name), "");
        std::vector<std::string> origins;
        for (const OriginPattern& o : p.origins) origins.push_back(o.text());
        dump::line(out, 4, "origins", list_text(origins));
        dump::line(out, 4, "methods", list_text(p.methods));
        if (!p.headers.empty()) dump::line(out, 4, "headers", list_text(p.headers));
        if (!p.expose_headers.empty()) dump::line(out, 4, "expose_headers", list_text(p.expose_headers));
        dump::line(out, 4, "credentials", dump::boolean(p.credentials));
        if (p.max_age >= 0) dump::line(out, 4, "max_age", format_duration(p.max_age));
    }
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings* s = settings(c);
    if (const Policy* p = s ? s->route(index) : nullptr) dump::line(out, indent, "cors", dump::quote(p->name));
}

}  // namespace gw::cors
