// Reading, checking and dumping `compress:` and a route's `compress:` key. Strict like the rest of
// the schema: an unknown coding, a level out of its range, a malformed media type - each at its
// FILE:LINE:COL.
#include "modules/compress/config.h"

#include <algorithm>

#include "core/config/config_sections.h"
#include "core/config/dump.h"
#include "core/config/schema.h"
#include "modules/compress/encoder.h"

namespace gw::compress {

using module::compress_module;
using schema::MapReader;
using yaml::Node;

namespace {

Settings& building(Config& c) { return module::loading_part<Settings>(c, compress_module); }

constexpr std::string_view kCodingNames[] = {"gzip", "br", "zstd"};
constexpr Coding kCodings[] = {Coding::Gzip, Coding::Br, Coding::Zstd};

void read_algorithms(MapReader& m, Policy& p) {
    const Node* node = m.key_node("algorithms");
    auto items = m.get_list("algorithms", true);
    if (!items) return;
    std::string path = m.path("algorithms");
    if (items->empty()) {
        schema::report(m.diags(), node ? node->mark : m.mark(), path, "empty list (say compress: off instead)");
        return;
    }
    p.algorithms.clear();
    for (size_t i = 0; i < items->size(); ++i) {
        const Node& n = *(*items)[i];
        std::string item_path = schema::index_path(path, i);
        auto c = schema::read_enum<Coding>(n, item_path, {{"gzip", Coding::Gzip}, {"br", Coding::Br}, {"zstd", Coding::Zstd}},
                                           m.diags());
        if (!c) continue;
        if (!available(*c)) {
            schema::report(m.diags(), n.mark, item_path, "this gatewayd was built --without-zstd (gzip and br remain)");
            continue;
        }
        if (std::find(p.algorithms.begin(), p.algorithms.end(), *c) != p.algorithms.end()) {
            schema::report(m.diags(), n.mark, item_path, "\"" + n.text + "\" is listed twice");
            continue;
        }
        p.algorithms.push_back(*c);
    }
}

void read_types(MapReader& m, Policy& p) {
    const Node* node = m.key_node("types");
    auto items = m.get_list("types", true);
    if (!items) return;
    std::string path = m.path("types");
    if (items->empty()) {
        schema::report(m.diags(), node ? node->mark : m.mark(), path, "empty list (say compress: off instead)");
        return;
    }
    p.types.clear();
    for (size_t i = 0; i < items->size(); ++i) {
        const Node& n = *(*items)[i];
        std::string item_path = schema::index_path(path, i);
        auto text = schema::read_string(n, item_path, m.diags());
        if (!text) continue;
        std::string t = config_detail::to_lower(*text);
        size_t slash = t.find('/');
        std::string_view type = std::string_view(t).substr(0, slash);
        std::string_view sub = slash == std::string::npos ? std::string_view() : std::string_view(t).substr(slash + 1);
        if (slash == std::string::npos || !config_detail::is_token(type) || (sub != "*" && !config_detail::is_token(sub)) || type == "*") {
            schema::report(m.diags(), n.mark, item_path,
                           "\"" + *text + "\" is not a media type (type/subtype, or type/* for all of a type's subtypes)");
            continue;
        }
        TypeRule r{std::string(sub == "*" ? type : std::string_view(t)), sub == "*"};
        bool twice = std::any_of(p.types.begin(), p.types.end(),
                                 [&](const TypeRule& o) { return o.type == r.type && o.any_subtype == r.any_subtype; });
        if (twice) {
            schema::report(m.diags(), n.mark, item_path, "\"" + *text + "\" is listed twice");
            continue;
        }
        p.types.push_back(std::move(r));
    }
}

void read_levels(MapReader& m, Policy& p) {
    auto levels = m.get_map("levels");
    if (!levels) return;
    levels->get_int("gzip", p.levels[static_cast<size_t>(Coding::Gzip)], {1, 9});
    levels->get_int("br", p.levels[static_cast<size_t>(Coding::Br)], {0, 11});
    levels->get_int("zstd", p.levels[static_cast<size_t>(Coding::Zstd)], {1, 19});
    levels->finish();
}

// The keys of a policy map, over `p` (which holds the defaults the map changes).
void read_policy(MapReader& m, Policy& p) {
    read_algorithms(m, p);
    m.get_size("min_length", p.min_length, {0, 1ull << 40});
    read_types(m, p);
    read_levels(m, p);
    m.get_bool("breach_guard", p.breach_guard);
    m.finish();
}

std::string algorithms_text(const Policy& p) {
    std::string s = "[";
    for (size_t i = 0; i < p.algorithms.size(); ++i) s += (i ? ", " : "") + std::string(coding_name(p.algorithms[i]));
    return s + "]";
}

void dump_policy(const Policy& p, int indent, std::string& out) {
    dump::line(out, indent, "algorithms", algorithms_text(p));
    dump::line(out, indent, "min_length", std::to_string(p.min_length));
    std::string types = "[";
    for (size_t i = 0; i < p.types.size(); ++i) types += (i ? ", " : "") + dump::quote(p.types[i].text());
    dump::line(out, indent, "types", types + "]");
    dump::line(out, indent, "levels", "");
    for (size_t i = 0; i < 3; ++i)
        dump::line(out, indent + 2, kCodingNames[i], std::to_string(p.level(kCodings[i])));
    dump::line(out, indent, "breach_guard", dump::boolean(p.breach_guard));
}

}  // namespace

Policy Policy::built_in() {
    Policy p;
    p.algorithms = {Coding::Br};
    if (available(Coding::Zstd)) p.algorithms.push_back(Coding::Zstd);
    p.algorithms.push_back(Coding::Gzip);
    p.types = {{"text", true}, {"application/json", false}, {"application/javascript", false}, {"image/svg+xml", false}};
    return p;
}

bool Policy::compresses_type(std::string_view ct) const {
    // The media type is what precedes any parameter, without the whitespace around it.
    size_t semi = ct.find(';');
    if (semi != std::string_view::npos) ct = ct.substr(0, semi);
    while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) ct.remove_suffix(1);
    while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) ct.remove_prefix(1);
    size_t slash = ct.find('/');
    if (slash == std::string_view::npos) return false;
    auto iequal = [](std::string_view a, std::string_view lower) {
        if (a.size() != lower.size()) return false;
        for (size_t i = 0; i < a.size(); ++i) {
            char c = a[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            if (c != lower[i]) return false;
        }
        return true;
    };
    for (const TypeRule& r : types)
        if (r.any_subtype ? iequal(ct.substr(0, slash), r.type) : iequal(ct, r.type)) return true;
    return false;
}

const Settings* settings(const Config& c) { return module::find_part<Settings>(c, compress_module); }

void read_sections(MapReader& top, Config& c) {
    auto m = top.get_map("compress");
    if (!m) return;
    Settings& s = building(c);
    if (auto d = m->get_map("default")) {
        s.has_default = true;
        read_policy(*d, s.default_policy);
    }
    // At least one encoder's worth (a gzip stream holds ~270 KiB).
    m->get_size("max_memory", s.max_memory, {1ull << 20, 1ull << 40});
    m->finish();
}

void read_route(MapReader& route, Config& c, size_t index) {
    const Node* v = route.take("compress");
    if (!v) return;
    std::string path = route.path("compress");
    Settings& s = building(c);
    if (s.routes.size() <= index) s.routes.resize(index + 1, nullptr);
    // (a route that names no `compress:` gets the default, if any, in check())
    if (s.explicit_routes.size() <= index) s.explicit_routes.resize(index + 1, false);
    s.explicit_routes[index] = true;
    if (v->is_map()) {
        MapReader m(*v, path, route.diags());
        s.policies.push_back(s.default_policy);
        read_policy(m, s.policies.back());
        s.routes[index] = &s.policies.back();
        return;
    }
    auto on = schema::read_bool(*v, path, route.diags());
    if (!on) return;
    s.routes[index] = *on ? &s.default_policy : nullptr;
}

void check(Config& c, Diagnostics&) {
    if (!settings(c)) return;
    Settings& s = building(c);
    if (!s.has_default) return;
    s.routes.resize(c.routes.size(), nullptr);
    s.explicit_routes.resize(c.routes.size(), false);
    for (size_t i = 0; i < c.routes.size(); ++i)
        if (!s.explicit_routes[i]) s.routes[i] = &s.default_policy;
}

void dump(const Config& c, std::string& out) {
    const Settings* s = settings(c);
    if (!s || (!s->has_default && s->max_memory == Settings().max_memory)) return;
    dump::line(out, 0, "compress", "");
    if (s->has_default) {
        dump::line(out, 2, "default", "");
        dump_policy(s->default_policy, 4, out);
    }
    dump::line(out, 2, "max_memory", std::to_string(s->max_memory));
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings* s = settings(c);
    if (!s || index >= s->explicit_routes.size() || !s->explicit_routes[index]) return;
    const Policy* p = s->route(index);
    if (!p) {
        dump::line(out, indent, "compress", "off");
        return;
    }
    dump::line(out, indent, "compress", "");
    dump_policy(*p, indent + 2, out);
}

}  // namespace gw::compress
