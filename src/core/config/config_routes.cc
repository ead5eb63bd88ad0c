// `routes:` - what to do with a request: a match (path, path regex, methods, host, headers, query)
// and exactly one action: a fixed response (`return`), or a proxy to one upstream (`upstream`) or
// to several by weight (`split`), with the proxy's options (path changes, timeouts, retries,
// header edits).
#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/config/config_sections.h"
#include "core/module/module.h"

namespace gw::config_detail {

namespace {

using schema::MapReader;
using yaml::Node;

constexpr int64_t kDay = 86400 * 1000;

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char upper_char(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// Where a node was written, to tell which of two keys of one map came later.
std::pair<int, int> position(const Node* n) { return {n->mark.line, n->mark.col}; }

// "a", "a and b", "a, b and c".
std::string join_words(const std::vector<std::string_view>& words) {
    std::string out;
    for (size_t i = 0; i < words.size(); i++) {
        if (i > 0) out += i + 1 == words.size() ? " and " : ", ";
        out += words[i];
    }
    return out;
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

bool valid_header_value(std::string_view v) {
    return v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// The value of header `name` under `path`: a string without CR, LF or NUL (they would split
// the header on the wire).
std::optional<std::string> read_header_value(const Node& node, std::string_view path,
                                             const std::string& name, Diagnostics& diags) {
    std::string value_path = schema::join_path(path, name);
    std::optional<std::string> value = schema::read_string(node, value_path, diags);
    if (value && !valid_header_value(*value)) {
        schema::report(diags, node.mark, value_path, "a header value cannot contain CR, LF or NUL");
        return std::nullopt;
    }
    return value;
}

// A path-valued key (`path`, `path_prefix`, `strip_prefix`): true when `out` was set.
// With `normal`, the path must also be in the form requests are normalised to before they are
// routed (src/http/path.h): a route for "/a//b" or "/a/%62" could never match.
bool read_path_key(MapReader& m, std::string_view key, std::string& out,
                   const http::PathOptions* normal = nullptr) {
    const Node* v = m.take(key);
    if (!v) return false;
    std::optional<std::string> s = schema::read_string(*v, m.path(key), m.diags());
    if (!s) return false;
    if (!valid_path(*s)) {
        schema::report(m.diags(), v->mark, m.path(key),
                       "\"" + *s + "\" must start with '/' and contain no spaces or control characters");
        return false;
    }
    if (normal) {
        std::string canonical;
        std::string_view why;
        http::PathVerdict verdict = http::normalize_path(*s, *normal, canonical, why);
        if (verdict == http::PathVerdict::Invalid) {
            schema::report(m.diags(), v->mark, m.path(key),
                           "\"" + *s + "\" can never match: requests with such a path are refused (" +
                               std::string(why) + ")");
            return false;
        }
        if (verdict == http::PathVerdict::Normalized) {
            schema::report(m.diags(), v->mark, m.path(key),
                           "\"" + *s + "\" can never match: request paths are normalised before routing "
                           "(did you mean \"" + canonical + "\"?)");
            return false;
        }
    }
    out = *s;
    return true;
}

// --- match ---------------------------------------------------------------------------------------

struct MatchInfo {
    bool has_regex = false;  // `path_regex` was given (valid or not)
    int captures = -1;       // its number of capture groups; -1 when it did not compile
};

// Compiled here to report a bad pattern at load time and to count its groups for `rewrite`; the
// router compiles it again (with JIT) for the generation that serves it.
void read_path_regex(MapReader& m, RouteMatch& match, MatchInfo& info) {
    const Node* v = m.take("path_regex");
    if (!v) return;
    info.has_regex = true;
    std::optional<std::string> s = schema::read_string(*v, m.path("path_regex"), m.diags());
    if (!s) return;
    if (s->empty()) {
        schema::report(m.diags(), v->mark, m.path("path_regex"),
                       "empty pattern (leave path_regex out to match any path)");
        return;
    }
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(s->data()), s->size(), 0, &code,
                                   &offset, nullptr);
    if (!re) {
        PCRE2_UCHAR message[256];
        if (pcre2_get_error_message(code, message, sizeof message) < 0) message[0] = 0;
        schema::report(m.diags(), v->mark, m.path(),
                       "invalid path_regex: " + std::string(reinterpret_cast<const char*>(message)) +
                           " at offset " + std::to_string(offset));
        return;
    }
    uint32_t count = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &count);
    pcre2_code_free(re);
    info.captures = static_cast<int>(count);
    match.path_regex = *s;
}

// A method a route may name: a standard one or one of http.extra_methods. Anything else is
// reported with the closest known name ("DELET" -> DELETE, "get" -> GET).
bool check_method(const std::string& name, const Node& item, const std::string& item_path, const Config& c,
                  Diagnostics& diags) {
    if (is_known_method(name) ||
        std::find(c.http.extra_methods.begin(), c.http.extra_methods.end(), name) != c.http.extra_methods.end())
        return true;
    std::vector<std::string> known = kKnownMethods;
    known.insert(known.end(), c.http.extra_methods.begin(), c.http.extra_methods.end());
    std::string upper = name;
    std::transform(upper.begin(), upper.end(), upper.begin(), upper_char);
    std::string_view hint = std::find(known.begin(), known.end(), upper) != known.end()
                                ? std::string_view(upper)
                                : schema::suggest(upper, known);
    std::string msg = "unknown method \"" + name + "\"";
    if (!hint.empty()) msg += " (did you mean \"" + std::string(hint) + "\"?)";
    if (!is_method_name(name))
        msg += "; methods are upper-case tokens";
    else if (hint.empty() || hint == upper)
        msg += "; list a custom method in http.extra_methods";
    schema::report(diags, item.mark, item_path, msg);
    return false;
}

void read_methods(MapReader& m, const Config& c, RouteMatch& match) {
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
        if (!check_method(*s, item, item_path, c, m.diags())) continue;
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
    std::transform(s->begin(), s->end(), s->begin(), lower_char);
    if (!valid_host(*s)) {
        schema::report(m.diags(), v->mark, m.path("host"),
                       "bad host \"" + *s + "\" (expected a name, name:port or *.name)");
        return;
    }
    match.host = *s;
}

// `headers:` (names lower-cased, so `X-A` and `x-a` are one name) or `query:` (names as written).
void read_match_pairs(MapReader& m, std::string_view key, bool headers,
                      std::vector<std::pair<std::string, std::string>>& out) {
    const Node* v = m.take(key);
    if (!v) return;
    Diagnostics& diags = m.diags();
    std::string path = m.path(key);
    if (!schema::expect_map(*v, path, diags)) return;
    std::map<std::string, Mark, std::less<>> seen;
    for (const yaml::MapEntry& e : v->entries) {
        std::string name = headers ? to_lower(e.key.text) : e.key.text;
        if (headers && !is_token(name)) {
            schema::report(diags, e.key.mark, path, "bad header name \"" + e.key.text + "\"");
            continue;
        }
        if (name.empty()) {
            schema::report(diags, e.key.mark, path, "empty parameter name");
            continue;
        }
        if (auto [it, inserted] = seen.emplace(name, e.key.mark); !inserted) {
            schema::report(diags, e.key.mark, path,
                           "duplicate header name \"" + name + "\" (first at " + it->second.str() + ")");
            continue;
        }
        std::string value_path = schema::join_path(path, name);
        std::optional<std::string> value = schema::read_string(e.value, value_path, diags);
        if (!value) continue;
        if (headers && !valid_header_value(*value)) {
            schema::report(diags, e.value.mark, value_path, "a header value cannot contain CR, LF or NUL");
            continue;
        }
        out.emplace_back(std::move(name), std::move(*value));
    }
}

// `listener:` one of the listeners' addresses, as written there (they are read before routes).
void read_match_listener(MapReader& m, const Config& c, RouteMatch& match) {
    const Node* v = m.take("listener");
    if (!v) return;
    std::optional<std::string> s = schema::read_string(*v, m.path("listener"), m.diags());
    if (!s) return;
    std::vector<std::string> addresses;
    for (size_t i = 0; i < c.listeners.size(); ++i) {
        if (c.listeners[i].address == *s) {
            match.listener = *s;
            match.listener_index = static_cast<int>(i);
            return;
        }
        addresses.push_back(c.listeners[i].address);
    }
    std::string msg = "no listener has the address \"" + *s + "\" (the address as written in listeners:";
    std::string_view near = schema::suggest(*s, addresses);
    msg += near.empty() ? ")" : "; did you mean \"" + std::string(near) + "\"?)";
    schema::report(m.diags(), v->mark, m.path("listener"), msg);
}

MatchInfo read_match(MapReader& m, const Config& c, RouteMatch& match) {
    MatchInfo info;
    read_match_listener(m, c, match);
    read_path_key(m, "path", match.path, &c.http.path);
    read_path_key(m, "path_prefix", match.path_prefix, &c.http.path);
    read_path_regex(m, match, info);
    // At most one way to match the path; reported at the key written last.
    std::vector<std::string_view> given;
    const Node* last = nullptr;
    for (std::string_view key : {"path", "path_prefix", "path_regex"}) {
        const Node* k = m.key_node(key);
        if (!k) continue;
        given.push_back(key);
        if (!last || position(k) > position(last)) last = k;
    }
    if (given.size() > 1) {
        schema::report(m.diags(), last->mark, m.path(), join_words(given) + " cannot be used together");
    }
    read_methods(m, c, match);
    read_host(m, match);
    read_match_pairs(m, "headers", true, match.headers);
    read_match_pairs(m, "query", false, match.query);
    m.finish();
    return info;
}

// --- return --------------------------------------------------------------------------------------

// Headers the server computes itself: a configured one would contradict the real framing.
bool reserved_header(std::string_view name) {
    return name == "content-length" || name == "transfer-encoding" || name == "connection";
}

void read_headers(const Node& v, std::string_view path, ReturnAction& ret, Diagnostics& diags) {
    if (!schema::expect_map(v, path, diags)) return;
    for (const yaml::MapEntry& e : v.entries) {
        std::string name = to_lower(e.key.text);
        if (!is_token(name)) {
            schema::report(diags, e.key.mark, path, "bad header name \"" + e.key.text + "\"");
            continue;
        }
        if (reserved_header(name)) {
            schema::report(diags, e.key.mark, path,
                           "\"" + name + "\" cannot be set: the server sets it");
            continue;
        }
        std::optional<std::string> value = read_header_value(e.value, path, name, diags);
        if (!value) continue;
        ret.headers.emplace_back(std::move(name), std::move(*value));
    }
}

// A text of `return:` with variables (`body`, `location`); false when absent or reported.
bool read_return_template(MapReader& m, std::string_view key, http::vars::Template& out) {
    const Node* v = m.take(key);
    if (!v) return false;
    std::optional<std::string> text = schema::read_string(*v, m.path(key), m.diags());
    if (!text) return false;
    if (key == "location" && !valid_header_value(*text)) {
        schema::report(m.diags(), v->mark, m.path(key), "a location cannot contain CR, LF or NUL");
        return false;
    }
    return http::vars::compile(*text, v->mark, m.path(key), m.diags(), out);
}

void read_return(MapReader& m, ReturnAction& ret) {
    m.get_int("status", ret.status, {100, 599});
    read_return_template(m, "body", ret.body);
    const Node* body = m.key_node("body");
    read_return_template(m, "location", ret.location);
    const Node* location = m.key_node("location");
    if (const Node* h = m.take("headers")) read_headers(*h, m.path("headers"), ret, m.diags());
    // A body a status cannot carry, and a redirect target on what is not a redirect, are
    // mistakes: the client would never see them.
    bool bodiless = ret.status < 200 || ret.status == 204 || ret.status == 304;
    if (body && bodiless && !ret.body.empty())
        m.diags().error(body->mark, m.path("body") + ": a " + std::to_string(ret.status) +
                                        " response has no body (remove `body:` or change `status:`)");
    if (location && (ret.status < 300 || ret.status > 399))
        m.diags().error(location->mark, m.path("location") + ": `location:` is for redirects (3xx), not status " +
                                            std::to_string(ret.status));
    if (location) {
        for (const auto& [name, value] : ret.headers)
            if (name == "location")
                m.diags().error(location->mark, m.path("location") + ": given twice (also in `headers:`)");
    }
    m.finish();
}

// --- upstream, split -----------------------------------------------------------------------------

// The index of the upstream `v` names; -1 (reported) when there is none.
int find_upstream(const Node& v, std::string_view path, const Config& c, std::string& name,
                  Diagnostics& diags) {
    std::optional<std::string> s = schema::read_string(v, path, diags);
    if (!s) return -1;
    name = *s;
    std::vector<std::string> names;
    for (size_t i = 0; i < c.upstreams.size(); i++) {
        if (c.upstreams[i].name == name) return static_cast<int>(i);
        names.push_back(c.upstreams[i].name);
    }
    std::string msg = "unknown upstream \"" + name + "\"";
    std::string_view hint = schema::suggest(name, names);
    if (!hint.empty()) msg += " (did you mean \"" + std::string(hint) + "\"?)";
    schema::report(diags, v.mark, path, msg);
    return -1;
}

// `split_by:` the request key (ip, path, header:NAME, cookie:NAME) that keeps a user on one side
// of a `split:`.
void read_split_by(MapReader& m, RouteConfig& r) {
    const Node* v = m.take("split_by");
    if (!v) return;
    if (!m.key_node("split")) {
        schema::report(m.diags(), m.key_node("split_by")->mark, m.path("split_by"), "only allowed with split");
        return;
    }
    size_t errors = m.diags().error_count();
    HashKey key;
    read_hash_key(*v, m.path("split_by"), key, m.diags());
    if (m.diags().error_count() == errors) r.split_by = std::move(key);
}

void read_split(MapReader& m, const Config& c, RouteConfig& r) {
    Diagnostics& diags = m.diags();
    read_split_by(m, r);
    const Node* v = m.take("split");
    if (!v) return;
    std::string path = m.path("split");
    std::optional<std::vector<const Node*>> items = schema::read_list(*v, path, false, diags);
    if (!items) return;
    if (items->empty()) {
        schema::report(diags, v->mark, path, "at least one upstream is required");
        return;
    }
    std::map<std::string, Mark, std::less<>> seen;  // upstream -> where it was first listed
    for (size_t i = 0; i < items->size(); i++) {
        const Node& item = *(*items)[i];
        MapReader t(item, schema::index_path(path, i), diags);
        SplitTarget target;
        target.mark = item.mark;
        if (t.require("upstream")) {
            const Node& u = *t.take("upstream");
            target.upstream_index = find_upstream(u, t.path("upstream"), c, target.upstream, diags);
            if (target.upstream_index >= 0) {
                if (auto [it, inserted] = seen.emplace(target.upstream, u.mark); !inserted) {
                    schema::report(diags, u.mark, t.path("upstream"),
                                   "upstream \"" + target.upstream + "\" is already listed (at " +
                                       it->second.str() + ")");
                }
            }
        }
        t.get_int("weight", target.weight, {1, 1000});
        t.finish();
        r.split.push_back(std::move(target));
    }
}

// --- proxy options -------------------------------------------------------------------------------

// `rewrite: /new/$1`: the new path. `$0`..`$9` are groups of path_regex, `$$` is a '$'.
void read_rewrite(MapReader& m, const MatchInfo& info, RouteConfig& r) {
    Diagnostics& diags = m.diags();
    const Node* v = m.take("rewrite");
    if (!v) return;
    std::string path = m.path("rewrite");
    std::optional<std::string> s = schema::read_string(*v, path, diags);
    if (!s) return;
    bool ok = true;
    if (!valid_path(*s) || s->find_first_of("?#") != std::string::npos) {
        schema::report(diags, v->mark, path,
                       "\"" + *s + "\" must start with '/' and contain no spaces, control characters, "
                       "'?' or '#'");
        ok = false;
    }
    if (!info.has_regex) {
        schema::report(diags, m.key_node("rewrite")->mark, path, "only allowed with match.path_regex");
        ok = false;
    }
    for (size_t i = 0; i < s->size(); i++) {
        if ((*s)[i] != '$') continue;
        char next = i + 1 < s->size() ? (*s)[i + 1] : '\0';
        if (next == '$') {
            i++;
            continue;
        }
        if (next < '0' || next > '9') {
            schema::report(diags, v->mark, path,
                           "'$' at offset " + std::to_string(i) +
                               " must be followed by a group number (0-9) or by '$' for a literal '$'");
            ok = false;
            continue;
        }
        int group = next - '0';
        i++;
        if (info.captures >= 0 && group > info.captures) {
            schema::report(diags, v->mark, path,
                           "$" + std::to_string(group) + " refers to a group path_regex does not have (it has " +
                               std::to_string(info.captures) + ")");
            ok = false;
        }
    }
    if (ok) r.rewrite = *s;
}

// Headers the proxy itself manages on each hop; editing them would break the framing or the
// connection handling.
bool proxy_managed(std::string_view name) {
    return name == "connection" || name == "keep-alive" || name == "te" ||
           name == "transfer-encoding" || name == "upgrade" || name == "proxy-connection" ||
           name == "content-length";
}

// A header value with variables (`X-Real-IP: $remote_addr`), compiled: false when reported.
bool read_header_template(const Node& node, std::string_view path, const std::string& name,
                          http::vars::Template& out, Diagnostics& diags) {
    std::optional<std::string> value = read_header_value(node, path, name, diags);
    if (!value) return false;
    return http::vars::compile(*value, node.mark, schema::join_path(path, name), diags, out);
}

void read_header_ops(MapReader& route, std::string_view key, bool request, HeaderOps& ops) {
    std::optional<MapReader> m = route.get_map(key);
    if (!m) return;
    Diagnostics& diags = m->diags();
    std::map<std::string, Mark, std::less<>> set_names;   // set and added names
    // `set:` replaces the message's fields of the name; `add:` appends another field.
    auto read_fields = [&](std::string_view op, std::vector<HeaderOp>& into) {
        const Node* fields = m->take(op);
        if (!fields) return;
        std::string path = m->path(op);
        if (!schema::expect_map(*fields, path, diags)) return;
        for (const yaml::MapEntry& e : fields->entries) {
            std::string name = to_lower(e.key.text);
            if (!is_token(name)) {
                schema::report(diags, e.key.mark, path, "bad header name \"" + e.key.text + "\"");
                continue;
            }
            if (proxy_managed(name)) {
                schema::report(diags, e.key.mark, path,
                               "\"" + name + "\" cannot be " + (op == "set" ? "set" : "added") + ": the proxy manages it");
                continue;
            }
            if (request && op == "add" && name == "host") {  // two Hosts: a 400, or worse, upstream
                schema::report(diags, e.key.mark, path, "\"host\" cannot be added: a request has one (set it instead)");
                continue;
            }
            if (auto [it, inserted] = set_names.emplace(name, e.key.mark); !inserted) {
                schema::report(diags, e.key.mark, path,
                               "header \"" + name + "\" is already set or added (at " + it->second.str() + ")");
                continue;
            }
            HeaderOp h;
            h.name = name;
            h.field_start = name + ": ";
            if (!read_header_template(e.value, path, name, h.value, diags)) continue;
            into.push_back(std::move(h));
        }
    };
    read_fields("set", ops.set);
    read_fields("add", ops.add);
    if (const Node* remove = m->take("remove")) {
        std::string path = m->path("remove");
        std::optional<std::vector<const Node*>> items = schema::read_list(*remove, path, true, diags);
        std::map<std::string, Mark, std::less<>> removed;
        for (size_t i = 0; items && i < items->size(); i++) {
            const Node& item = *(*items)[i];
            std::string item_path = remove->is_sequence() ? schema::index_path(path, i) : path;
            std::optional<std::string> s = schema::read_string(item, item_path, diags);
            if (!s) continue;
            std::string name = to_lower(*s);
            std::string problem;
            if (!is_token(name)) {
                problem = "bad header name \"" + *s + "\"";
            } else if (proxy_managed(name)) {
                problem = "\"" + name + "\" cannot be removed: the proxy manages it";
            } else if (request && name == "host") {
                problem = "\"host\" cannot be removed: a request needs one (set it instead)";
            } else if (auto it = set_names.find(name); it != set_names.end()) {
                problem = "\"" + name + "\" is both set or added (at " + it->second.str() + ") and removed";
            } else if (auto [it2, inserted] = removed.emplace(name, item.mark); !inserted) {
                problem = "\"" + name + "\" is listed twice (first at " + it2->second.str() + ")";
            }
            if (!problem.empty()) {
                schema::report(diags, item.mark, item_path, problem);
                continue;
            }
            ops.remove.push_back(std::move(name));
        }
    }
    ops.index();
    m->finish();
}

void read_timeouts(MapReader& route, RouteTimeouts& t) {
    std::optional<MapReader> m = route.get_map("timeout");
    if (!m) return;
    m->get_duration("connect", t.connect, {1, kDay});
    m->get_duration("read", t.read, {1, kDay});
    m->get_duration("send", t.send, {1, kDay});
    m->get_duration("tunnel", t.tunnel, {1, kDay});
    m->finish();
}

void read_retries(MapReader& route, RetryPolicy& p) {
    std::optional<MapReader> m = route.get_map("retries");
    if (!m) return;
    Diagnostics& diags = m->diags();
    m->get_int("attempts", p.attempts, {1, 10});
    if (const Node* on = m->take("on")) {
        std::string path = m->path("on");
        std::optional<std::vector<const Node*>> items = schema::read_list(*on, path, true, diags);
        if (items && items->empty()) {
            schema::report(diags, on->mark, path, "empty list (leave on out for [connect_failure])");
        } else if (items) {
            uint32_t flags = 0;
            bool ok = true;
            for (size_t i = 0; i < items->size(); i++) {
                std::string item_path = on->is_sequence() ? schema::index_path(path, i) : path;
                std::optional<RetryOn> flag = schema::read_enum<RetryOn>(
                    *(*items)[i], item_path,
                    {{"connect_failure", kRetryConnectFailure}, {"timeout", kRetryTimeout},
                     {"reset", kRetryReset}, {"502", kRetry502}, {"503", kRetry503},
                     {"504", kRetry504}, {"5xx", kRetry5xx}},
                    diags);
                if (flag) flags |= *flag;
                ok &= flag.has_value();
            }
            if (ok) p.on = flags;
        }
    }
    m->get_bool("non_idempotent", p.non_idempotent);
    if (const Node* b = m->take("budget")) {
        if (std::optional<double> r = schema::read_ratio(*b, m->path("budget"), diags)) p.budget = *r;
    }
    m->finish();
}

// The keys that configure the proxy; they mean nothing to a `return` route.
constexpr std::string_view kProxyKeys[] = {"strip_prefix", "rewrite",         "timeout",
                                           "retries",      "request_headers", "response_headers"};

void read_proxy_options(MapReader& m, const MatchInfo& info, RouteConfig& r) {
    read_path_key(m, "strip_prefix", r.strip_prefix);
    read_rewrite(m, info, r);
    const Node* strip = m.key_node("strip_prefix");
    const Node* rewrite = m.key_node("rewrite");
    if (strip && rewrite) {
        const Node* later = position(strip) > position(rewrite) ? strip : rewrite;
        schema::report(m.diags(), later->mark, m.path(),
                       "strip_prefix and rewrite cannot be used together (rewrite sets the whole path)");
    }
    read_timeouts(m, r.timeout);
    read_retries(m, r.retries);
    read_header_ops(m, "request_headers", true, r.request_headers);
    read_header_ops(m, "response_headers", false, r.response_headers);
}

// --- a route ------------------------------------------------------------------------------------

// Exactly one action: reports none (at the route) or several (at the second written). True when
// the one action is `return`, so that the proxy keys are not valid.
bool check_actions(const MapReader& m, const std::string& label) {
    std::vector<const Node*> actions;
    for (std::string_view key : {"return", "upstream", "split"}) {
        if (const Node* k = m.key_node(key)) actions.push_back(k);
    }
    std::sort(actions.begin(), actions.end(),
              [](const Node* a, const Node* b) { return position(a) < position(b); });
    if (actions.empty() && m.valid()) {
        m.diags().error(m.mark(), label + " has no action (return, upstream or split)");
    } else if (actions.size() > 1) {
        std::vector<std::string_view> words;
        for (const Node* k : actions) words.push_back(k->text);
        m.diags().error(actions[1]->mark, label + " has more than one action (" + join_words(words) + ")");
    }
    return actions.size() == 1 && actions[0]->text == "return";
}

}  // namespace

bool is_tchar(char c) {
    return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

std::string to_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), lower_char);
    return out;
}

int find_named(std::string_view name, const std::vector<std::string>& names, std::string_view noun,
               const yaml::Node& node, std::string_view path, Diagnostics& diags) {
    for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return static_cast<int>(i);
    std::string msg = "unknown " + std::string(noun) + " \"" + std::string(name) + "\"";
    std::string_view hint = schema::suggest(name, names);
    if (!hint.empty()) msg += " (did you mean \"" + std::string(hint) + "\"?)";
    schema::report(diags, node.mark, path, msg);
    return -1;
}

bool valid_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
               return is_alnum(c) || c == '_' || c == '.' || c == '-';
           });
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
        std::string label = path;  // how the action errors name the route
        if (m.require("name")) {
            const Node& v = *m.take("name");
            if (auto name = schema::read_string(v, m.path("name"), diags)) {
                r.name = *name;
                label = "route \"" + r.name + "\"";
                if (!valid_name(r.name)) {
                    schema::report(diags, v.mark, m.path("name"),
                                   "bad route name \"" + r.name + "\" (use letters, digits, '_', '.', '-')");
                } else if (auto [it, inserted] = names.emplace(r.name, v.mark); !inserted) {
                    diags.error(v.mark, "duplicate route name \"" + r.name + "\" (first defined at " +
                                            it->second.str() + ")");
                }
            }
        }
        MatchInfo info;
        if (std::optional<MapReader> match = m.get_map("match")) info = read_match(*match, c, r.match);

        bool return_only = check_actions(m, label);
        if (std::optional<MapReader> ret = m.get_map("return")) {
            r.ret.emplace();
            read_return(*ret, *r.ret);
        }
        if (const Node* u = m.take("upstream")) {
            r.upstream_index = find_upstream(*u, m.path("upstream"), c, r.upstream, diags);
        }
        read_split(m, c, r);
        if (return_only) {
            for (std::string_view key : kProxyKeys) {
                if (!m.take(key)) continue;
                schema::report(diags, m.key_node(key)->mark, m.path(key),
                               "only allowed with upstream or split, not with return");
            }
        } else {
            read_proxy_options(m, info, r);
        }
        uint64_t body_size = 0;  // as http.client_max_body_size: 0 = unlimited
        if (m.get_size("client_max_body_size", body_size, {0, std::numeric_limits<uint64_t>::max()}))
            r.client_max_body_size = body_size;
        module::read_route(m, c, c.routes.size());  // the modules' keys (rate_limit, ...)
        m.finish();
        c.routes.push_back(std::move(r));
    }
}

}  // namespace gw::config_detail

namespace gw {

void HeaderOps::index() {
    replaced_lengths = 0;
    auto mark = [&](std::string_view name) { replaced_lengths |= uint64_t{1} << std::min<size_t>(name.size(), 63); };
    for (const HeaderOp& h : set) mark(h.name);
    for (const std::string& n : remove) mark(n);
}

}  // namespace gw
