// `routes:` - what to do with a request: a match (path, methods, host) and an action.
#include <algorithm>
#include <charconv>
#include <map>

#include "core/config/config_sections.h"

namespace gw::config_detail {

namespace {

using schema::MapReader;
using yaml::Node;

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char to_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// Names appear in logs and metrics labels: keep them to a safe alphabet.
bool valid_route_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
               return is_alnum(c) || c == '_' || c == '.' || c == '-';
           });
}

// "api.example.com", "api.example.com:8080", "*.example.com" (lower-cased already).
bool valid_host(std::string_view h) {
    size_t colon = h.rfind(':');
    if (colon != std::string_view::npos) {
        std::string_view port = h.substr(colon + 1);
        unsigned n = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
        if (port.empty() || ec != std::errc() || end != port.data() + port.size() || n < 1 ||
            n > 65535) {
            return false;
        }
        h = h.substr(0, colon);
    }
    if (h.starts_with("*.")) h.remove_prefix(2);  // a wildcard only as the whole first label
    if (h.empty()) return false;
    size_t start = 0;
    for (;;) {
        size_t dot = h.find('.', start);
        std::string_view label = h.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || !std::all_of(label.begin(), label.end(),
                                          [](char c) { return is_alnum(c) || c == '-'; })) {
            return false;
        }
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

bool valid_path(std::string_view p) {
    return p.starts_with('/') && std::none_of(p.begin(), p.end(), [](char c) {
               return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
           });
}

void read_match_path(MapReader& m, std::string_view key, std::string& out) {
    const Node* v = m.take(key);
    if (!v) return;
    std::optional<std::string> s = schema::read_string(*v, m.path(key), m.diags());
    if (!s) return;
    if (!valid_path(*s)) {
        schema::report(m.diags(), v->mark, m.path(key),
                       "\"" + *s + "\" must start with '/' and contain no spaces or control characters");
        return;
    }
    out = *s;
}

void read_methods(MapReader& m, RouteMatch& match) {
    const Node* v = m.take("methods");
    if (!v) return;
    std::string path = m.path("methods");
    std::optional<std::vector<const Node*>> items = schema::read_list(*v, path, true, m.diags());
    if (!items) return;
    if (items->empty()) {
        schema::report(m.diags(), v->mark, path, "empty list (leave methods out to match any)");
        return;
    }
    for (size_t i = 0; i < items->size(); i++) {
        const Node& item = *(*items)[i];
        std::string item_path = v->is_sequence() ? schema::index_path(path, i) : path;
        std::optional<std::string> s = schema::read_string(item, item_path, m.diags());
        if (!s) continue;
        if (!is_token(*s)) {
            schema::report(m.diags(), item.mark, item_path, "bad method \"" + *s + "\"");
            continue;
        }
        std::transform(s->begin(), s->end(), s->begin(), to_upper);
        if (std::find(match.methods.begin(), match.methods.end(), *s) == match.methods.end()) {
            match.methods.push_back(*s);
        }
    }
}

void read_host(MapReader& m, RouteMatch& match) {
    const Node* v = m.take("host");
    if (!v) return;
    std::optional<std::string> s = schema::read_string(*v, m.path("host"), m.diags());
    if (!s) return;
    std::transform(s->begin(), s->end(), s->begin(), to_lower);
    if (!valid_host(*s)) {
        schema::report(m.diags(), v->mark, m.path("host"),
                       "bad host \"" + *s + "\" (expected a name, name:port or *.name)");
        return;
    }
    match.host = *s;
}

void read_match(MapReader& m, RouteMatch& match) {
    read_match_path(m, "path", match.path);
    read_match_path(m, "path_prefix", match.path_prefix);
    const Node* path_key = m.key_node("path");
    const Node* prefix_key = m.key_node("path_prefix");
    if (path_key && prefix_key) {
        auto pos = [](const Node* n) { return std::pair(n->mark.line, n->mark.col); };
        const Node* later = pos(path_key) > pos(prefix_key) ? path_key : prefix_key;
        schema::report(m.diags(), later->mark, m.path(),
                       "path and path_prefix cannot be used together");
    }
    read_methods(m, match);
    read_host(m, match);
    m.finish();
}

// Headers the server computes itself: a configured one would contradict the real framing.
bool reserved_header(std::string_view name) {
    return name == "content-length" || name == "transfer-encoding" || name == "connection";
}

void read_headers(const Node& v, std::string_view path, ReturnAction& ret, Diagnostics& diags) {
    if (!schema::expect_map(v, path, diags)) return;
    for (const yaml::MapEntry& e : v.entries) {
        std::string name = e.key.text;
        std::transform(name.begin(), name.end(), name.begin(), to_lower);
        if (!is_token(name)) {
            schema::report(diags, e.key.mark, path, "bad header name \"" + e.key.text + "\"");
            continue;
        }
        if (reserved_header(name)) {
            schema::report(diags, e.key.mark, path,
                           "\"" + name + "\" cannot be set: the server sets it");
            continue;
        }
        std::string value_path = schema::join_path(path, name);
        std::optional<std::string> value = schema::read_string(e.value, value_path, diags);
        if (!value) continue;
        if (value->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            schema::report(diags, e.value.mark, value_path,
                           "a header value cannot contain CR, LF or NUL");
            continue;
        }
        ret.headers.emplace_back(std::move(name), std::move(*value));
    }
}

void read_return(MapReader& m, ReturnAction& ret) {
    m.get_int("status", ret.status, {100, 599});
    m.get_string("body", ret.body);
    if (const Node* h = m.take("headers")) read_headers(*h, m.path("headers"), ret, m.diags());
    m.finish();
}

}  // namespace

bool is_tchar(char c) {
    return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void read_routes(MapReader& top, Config& c) {
    Diagnostics& diags = top.diags();
    const Node* list = top.take("routes");
    if (!list) return;
    std::optional<std::vector<const Node*>> items = schema::read_list(*list, "routes", false, diags);
    if (!items) return;
    std::map<std::string, Mark, std::less<>> names;  // name -> where it was first defined
    for (size_t i = 0; i < items->size(); i++) {
        const Node& item = *(*items)[i];
        std::string path = schema::index_path("routes", i);
        MapReader m(item, path, diags);
        RouteConfig r;
        r.mark = item.mark;
        std::string label = path;  // how "has no action" names the route
        if (m.require("name")) {
            const Node& v = *m.take("name");
            if (auto name = schema::read_string(v, m.path("name"), diags)) {
                r.name = *name;
                label = "route \"" + r.name + "\"";
                if (!valid_route_name(r.name)) {
                    schema::report(diags, v.mark, m.path("name"),
                                   "bad route name \"" + r.name + "\" (use letters, digits, '_', '.', '-')");
                } else if (auto [it, inserted] = names.emplace(r.name, v.mark); !inserted) {
                    diags.error(v.mark, "duplicate route name \"" + r.name + "\" (first defined at " +
                                            it->second.str() + ")");
                }
            }
        }
        if (std::optional<MapReader> match = m.get_map("match")) read_match(*match, r.match);
        if (std::optional<MapReader> ret = m.get_map("return")) {
            r.ret.emplace();
            read_return(*ret, *r.ret);
        } else if (m.valid()) {
            diags.error(item.mark, label + " has no action (return)");
        }
        m.finish();
        c.routes.push_back(std::move(r));
    }
}

}  // namespace gw::config_detail
