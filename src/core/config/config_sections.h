// Internal to the config loader: the pieces load_config() is made of, one file each; and the
// helpers modules' readers share with it (for_each_named, to_lower, ...).
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/schema.h"
#include "core/config/yaml.h"

namespace gw::config_detail {

// Parses the main file and, recursively, its `include:`s into one top-level map
// (config_include.cc). `files` receives the absolute path of every file read, in reading order.
// nullopt when the main file cannot be read or is not a map; errors in includes are reported
// and the rest is still returned.
std::optional<yaml::Node> load_tree(const std::string& path, std::vector<std::string>& files,
                                    Diagnostics& diags);

// `path` made absolute against the current directory, lexically normalized.
std::string absolute_path(std::string_view path);
// A relative `path` resolved against `prefix` (absolute, no trailing '/').
std::string resolve_path(std::string_view prefix, std::string_view path);

// The sections of the top-level map. Each takes its keys from `top` and fills its part of `c`;
// problems go to top.diags().
void read_process_keys(schema::MapReader& top, Config& c);  // config.cc
void read_logs(schema::MapReader& top, Config& c);          // config_logs.cc
void read_listeners(schema::MapReader& top, Config& c);     // config_listeners.cc
void read_http(schema::MapReader& top, Config& c);          // config_http.cc
void read_http2(schema::MapReader& top, Config& c);         // config_http.cc
void read_metrics(schema::MapReader& top, Config& c);       // config_metrics.cc
void read_upstreams(schema::MapReader& top, Config& c);     // config_upstreams.cc
void read_redis(schema::MapReader& top, Config& c);         // config_redis.cc
// Then the modules' sections (module::read_sections; the rate limits need `redis:`).
// After read_upstreams and the modules' sections: routes refer to upstreams and to what the
// modules define (rate limit policies) by name.
void read_routes(schema::MapReader& top, Config& c);        // config_routes.cc
// After read_listeners: `from: proxy_protocol` needs a listener that speaks it.
void read_real_ip(schema::MapReader& top, Config& c);       // config_real_ip.cc

// RFC 9110 token characters (header names, methods).
bool is_tchar(char c);
bool is_token(std::string_view s);  // non-empty, all tchar
// Request methods that `methods:` knows without http.extra_methods: RFC 9110's and PATCH, and
// WebDAV's (RFC 4918) PROPFIND PROPPATCH MKCOL COPY MOVE LOCK UNLOCK.
extern const std::vector<std::string> kKnownMethods;
bool is_known_method(std::string_view s);
bool is_method_name(std::string_view s);  // upper-case letters, '-' and '_', as the parser takes
std::string to_lower(std::string_view s);

// A request key (`hash_key:` of an upstream, `split_by:` of a route): `ip`, `path`,
// `header:NAME` or `cookie:NAME` (config_upstreams.cc).
void read_hash_key(const yaml::Node& v, std::string_view path, HashKey& key, Diagnostics& diags);

// A non-empty list of strings at `key` of `m`, each checked by `item(node, path, text)`, which
// reports and returns false for a bad one; a name listed twice is reported too. `out` is replaced
// only when every item is good. False when the key is absent or anything was bad.
template <class Item>
bool read_strings(schema::MapReader& m, std::string_view key, std::vector<std::string>& out, Item&& item) {
    const yaml::Node* v = m.take(key);
    if (!v) return false;
    std::string path = m.path(key);
    auto items = schema::read_list(*v, path, true, m.diags());
    if (!items) return false;
    if (items->empty()) {
        schema::report(m.diags(), v->mark, path, "empty list (leave the key out instead)");
        return false;
    }
    std::vector<std::string> got;
    bool ok = true;
    for (size_t i = 0; i < items->size(); ++i) {
        std::string item_path = v->is_sequence() ? schema::index_path(path, i) : path;
        auto text = schema::read_string(*(*items)[i], item_path, m.diags());
        if (!text || !item(*(*items)[i], item_path, *text)) {
            ok = false;
            continue;
        }
        if (std::find(got.begin(), got.end(), *text) != got.end()) {
            schema::report(m.diags(), (*items)[i]->mark, item_path, "\"" + *text + "\" is listed twice");
            ok = false;
            continue;
        }
        got.push_back(std::move(*text));
    }
    if (ok) out = std::move(got);
    return ok;
}

// Names of routes and upstreams appear in logs and metrics labels: [A-Za-z0-9_.-]+.
bool valid_name(std::string_view s);

// The index in `names` of `name`, the value of `node` at `path` naming one of them (`noun`: "CORS
// policy"); -1 after reporting "unknown NOUN" with a did-you-mean at the node (config_routes.cc).
int find_named(std::string_view name, const std::vector<std::string>& names, std::string_view noun,
               const yaml::Node& node, std::string_view path, Diagnostics& diags);

// A top-level map of named entries (`upstreams:`, `rate_limits:`): takes `key` from `top` and
// calls read(entry, reader) for each, where `reader` reads the entry's map at KEY.NAME. A bad
// name is reported ("bad WHAT name ...") but the entry is still read, so that what refers to
// it by name is not also reported.
template <class Read>
void for_each_named(schema::MapReader& top, std::string_view key, std::string_view what, Read&& read) {
    Diagnostics& diags = top.diags();
    const yaml::Node* map = top.take(key);
    if (!map || !schema::expect_map(*map, key, diags)) return;
    for (const yaml::MapEntry& e : map->entries) {
        if (!valid_name(e.key.text)) {
            schema::report(diags, e.key.mark, key,
                           "bad " + std::string(what) + " name \"" + e.key.text +
                               "\" (use letters, digits, '_', '.', '-')");
        }
        schema::MapReader m(e.value, schema::join_path(key, e.key.text), diags);
        read(e, m);
    }
}

}  // namespace gw::config_detail
