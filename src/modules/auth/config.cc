// `auth:` - the named providers of four kinds - and a route's `auth:` list; their checks and
// their `-T` dump. See config.h for the shape, man/gateway.conf.5 (AUTHENTICATION) for the keys.
#include "modules/auth/config.h"

#include <algorithm>
#include <set>

#include "core/config/config_sections.h"
#include "core/config/dump.h"
#include "core/module/module.h"
#include "core/small_file.h"
#include "modules/auth/files.h"

namespace gw::auth {

using config_detail::is_token;
using config_detail::resolve_path;
using config_detail::to_lower;
using schema::MapReader;
using yaml::Node;

const Settings* settings(const Config& c) { return module::find_part<Settings>(c, module::auth_module); }

namespace {

Settings& building(Config& c) { return module::loading_part<Settings>(c, module::auth_module); }

constexpr size_t kMaxSources = 8;
constexpr size_t kMaxProvidersPerRoute = 8;
constexpr uint64_t kMaxJwksFileBytes = 1 << 20;
constexpr uint64_t kMaxCaFileBytes = 4 << 20;  // a CA bundle (the system's is ~200 KB)

// `header:NAME`, `cookie:NAME`, `query:NAME`.
std::vector<Source> read_sources(MapReader& m, std::string_view key, Source fallback) {
    std::vector<Source> out;
    auto items = m.get_list(key, true);
    if (!items) {
        out.push_back(std::move(fallback));
        return out;
    }
    std::string path = m.path(key);
    if (items->empty() || items->size() > kMaxSources)
        schema::report(m.diags(), m.key_node(key)->mark, path,
                       "1 to " + std::to_string(kMaxSources) + " places to look in");
    for (size_t i = 0; i < items->size(); ++i) {
        const Node& item = *(*items)[i];
        std::string item_path = schema::index_path(path, i);
        auto text = schema::read_string(item, item_path, m.diags());
        if (!text) continue;
        Source s;
        std::string_view t = *text, name;
        if (t.starts_with("header:")) {
            s.kind = Source::Kind::Header;
            name = t.substr(7);
        } else if (t.starts_with("cookie:")) {
            s.kind = Source::Kind::Cookie;
            name = t.substr(7);
        } else if (t.starts_with("query:")) {
            s.kind = Source::Kind::Query;
            name = t.substr(6);
        } else {
            schema::report(m.diags(), item.mark, item_path,
                           "bad place \"" + *text + "\" (expected header:NAME, cookie:NAME or query:NAME)");
            continue;
        }
        bool ok = s.kind == Source::Kind::Header ? is_token(name)
                                                 : !name.empty() && name.find_first_of("&=;, \t#\"") == std::string_view::npos;
        if (!ok) {
            schema::report(m.diags(), item.mark, item_path, "bad name in \"" + *text + "\"");
            continue;
        }
        s.name = s.kind == Source::Kind::Header ? to_lower(name) : std::string(name);
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<std::string> read_strings(MapReader& m, std::string_view key) {
    std::vector<std::string> out;
    auto items = m.get_list(key, true);
    if (!items) return out;
    for (size_t i = 0; i < items->size(); ++i)
        if (auto s = schema::read_string(*(*items)[i], schema::index_path(m.path(key), i), m.diags())) out.push_back(*s);
    return out;
}

// Header names (lower-case): never the ones that frame or route the request.
std::vector<std::string> read_header_names(MapReader& m, std::string_view key) {
    std::vector<std::string> out;
    auto items = m.get_list(key, true);
    if (!items) return out;
    for (size_t i = 0; i < items->size(); ++i) {
        const Node& item = *(*items)[i];
        auto s = schema::read_string(item, schema::index_path(m.path(key), i), m.diags());
        if (!s) continue;
        std::string name = to_lower(*s);
        if (!is_token(name) || name == "host" || name == "content-length" || name == "transfer-encoding" ||
            name == "connection") {
            schema::report(m.diags(), item.mark, schema::index_path(m.path(key), i), "bad header name \"" + *s + "\"");
            continue;
        }
        out.push_back(std::move(name));
    }
    return out;
}

// A map of NAME: scalar pairs (forward_claims, require), in file order.
std::vector<std::pair<std::string, std::string>> read_pairs(MapReader& m, std::string_view key) {
    std::vector<std::pair<std::string, std::string>> out;
    const Node* node = m.take(key);
    if (!node || !schema::expect_map(*node, m.path(key), m.diags())) return out;
    for (const yaml::MapEntry& e : node->entries) {
        std::string path = schema::join_path(m.path(key), e.key.text);
        if (auto v = schema::read_string(e.value, path, m.diags())) out.emplace_back(e.key.text, *v);
    }
    return out;
}

// jwks: {url: ...} or {file: ...}; a file is read now, its usable keys appended to `keys`.
// `url` of map `m` (a key set's, an external authorizer's): http:// or https://, taken apart, its
// host resolved now (the loop never waits for a resolver); and `ca`, an https:// URL's CA file.
// An https:// URL needs the tls module: it is never fetched in clear instead.
void read_url(MapReader& m, const std::string& url, const std::string& prefix, FetchUrl& out, std::string& ca_file) {
    Diagnostics& diags = m.diags();
    std::string error;
    if (m.get_string("ca", ca_file)) ca_file = resolve_path(prefix, ca_file);
    if (!parse_fetch_url(url, out, error) || !parse_upstream_address(out.host_port, out.address, out.address_len, error)) {
        schema::report(diags, m.mark(), m.path("url"), error);
        return;
    }
    if (out.tls && !module::find("tls")) {
        schema::report(diags, m.mark(), m.path("url"),
                       "https:// needs the tls module (gatewayd was built --without-tls)");
        return;
    }
    if (ca_file.empty()) return;
    std::string text, why;
    if (!out.tls)
        schema::report(diags, m.mark(), m.path("ca"), "only with an https:// url");
    else if (!read_small_file(ca_file, kMaxCaFileBytes, text, why))
        schema::report(diags, m.mark(), m.path("ca"), "cannot read \"" + ca_file + "\": " + why);
    else if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        schema::report(diags, m.mark(), m.path("ca"), "\"" + ca_file + "\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
}

void read_jwks(MapReader& j, const Config& c, JwtProvider& p, std::vector<jwt::Key>& keys) {
    Diagnostics& diags = j.diags();
    j.get_string("url", p.jwks.url);
    j.get_string("file", p.jwks.file);
    j.get_duration("refresh", p.jwks.refresh, {1000, 7 * 86400 * 1000LL});
    j.get_duration("timeout", p.jwks.timeout, {10, 60000});
    j.get_duration("kid_miss_interval", p.jwks.kid_miss_interval, {1000, 3600 * 1000});
    if (j.get_string("cache_file", p.jwks.cache_file)) p.jwks.cache_file = resolve_path(c.prefix, p.jwks.cache_file);
    if (p.jwks.url.empty() == p.jwks.file.empty()) {
        schema::report(diags, j.mark(), j.path(), "give exactly one of url: and file:");
        return;
    }
    if (!p.jwks.url.empty()) {
        read_url(j, p.jwks.url, c.prefix, p.jwks.fetch, p.jwks.ca_file);
        return;
    }
    if (j.key_node("ca")) schema::report(diags, j.mark(), j.path("ca"), "only with an https:// url");
    if (!p.jwks.cache_file.empty())
        schema::report(diags, j.mark(), j.path("cache_file"), "only with url: (a file: set is its own cache)");
    p.jwks.file = resolve_path(c.prefix, p.jwks.file);
    std::string text, why, error;
    if (!read_small_file(p.jwks.file, kMaxJwksFileBytes, text, why)) {
        schema::report(diags, j.mark(), j.path("file"), "cannot read \"" + p.jwks.file + "\": " + why);
        return;
    }
    std::vector<std::string> notes;
    jwt::KeySetOptions options;
    options.allow_secrets = true;  // a local file may hold HMAC secrets
    size_t before = keys.size();
    if (!jwt::parse_jwks(text, options, keys, notes, error)) {
        schema::report(diags, j.mark(), j.path("file"), "\"" + p.jwks.file + "\": " + error);
        return;
    }
    for (const std::string& n : notes) diags.warning(j.mark(), j.path("file") + ": \"" + p.jwks.file + "\": " + n);
    if (keys.size() == before)
        schema::report(diags, j.mark(), j.path("file"), "\"" + p.jwks.file + "\" has no key that can verify a signature");
}

constexpr std::string_view kAlgList =
    "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384, HS512";

void read_algorithms(MapReader& m, JwtProvider& p) {
    if (!m.require("algorithms")) return;
    Diagnostics& diags = m.diags();
    auto items = schema::read_list(*m.take("algorithms"), m.path("algorithms"), true, diags);
    for (size_t i = 0; items && i < items->size(); ++i) {
        const Node& item = *(*items)[i];
        std::string path = schema::index_path(m.path("algorithms"), i);
        auto name = schema::read_string(item, path, diags);
        if (!name) continue;
        if (auto a = jwt::alg_from_name(*name)) {
            p.algorithms.add(*a);
        } else if (to_lower(*name) == "none") {
            schema::report(diags, item.mark, path, "\"none\" (an unsigned token) is never accepted");
        } else {
            schema::report(diags, item.mark, path,
                           "unknown algorithm \"" + *name + "\" (" + std::string(kAlgList) + ")");
        }
    }
}

void read_jwt(const yaml::MapEntry& e, MapReader& m, const Config& c, Settings& s) {
    Diagnostics& diags = m.diags();
    JwtProvider p;
    p.name = e.key.text;
    p.mark = e.key.mark;
    std::vector<jwt::Key> keys;
    m.get_string("issuer", p.policy.issuer);
    p.policy.audiences = read_strings(m, "audiences");
    int64_t skew = p.policy.clock_skew_s * 1000;
    if (m.get_duration("clock_skew", skew, {0, 600000})) p.policy.clock_skew_s = skew / 1000;
    int64_t lifetime = 0;
    if (m.get_duration("max_lifetime", lifetime, {1000, 366LL * 86400 * 1000})) p.policy.max_lifetime_s = lifetime / 1000;
    m.get_bool("require_exp", p.policy.require_exp);
    m.get_string("consumer_claim", p.consumer_claim);
    read_algorithms(m, p);
    if (auto j = m.get_map("jwks")) read_jwks(*j, c, p, keys);
    bool wants_hmac = false, wants_keys = false;
    for (int i = 0; i < jwt::kAlgCount; ++i) {
        auto a = static_cast<jwt::Alg>(i);
        if (p.algorithms.has(a)) (jwt::key_kind(a) == jwt::KeyKind::Hmac ? wants_hmac : wants_keys) = true;
    }
    if (m.get_string("secret_file", p.secret_file)) {
        p.secret_file = resolve_path(c.prefix, p.secret_file);
        if (!wants_hmac) {
            schema::report(diags, m.mark(), m.path("secret_file"), "only for the HS256, HS384 and HS512 algorithms");
        } else {
            // RFC 7518 §3.2: a key at least as long as the hash; the longest hash allowed decides.
            size_t minimum = p.algorithms.has(jwt::Alg::HS512) ? 64 : p.algorithms.has(jwt::Alg::HS384) ? 48 : 32;
            jwt::Key k;
            k.kind = jwt::KeyKind::Hmac;
            if (read_secret_file(p.secret_file, m.mark(), m.path("secret_file"), minimum, k.secret, diags))
                keys.push_back(std::move(k));
        }
    }
    if (wants_keys && p.jwks.url.empty() && p.jwks.file.empty())
        schema::report(diags, m.mark(), m.path(), "an RS, PS, ES or EdDSA algorithm needs jwks: {url: ...} or {file: ...}");
    if (wants_hmac && p.secret_file.empty() && p.jwks.file.empty())
        schema::report(diags, m.mark(), m.path(), "an HS algorithm needs secret_file: (or a jwks file: with \"oct\" keys)");
    p.from = read_sources(m, "from", Source{Source::Kind::Header, "authorization"});
    p.forward_claims = read_pairs(m, "forward_claims");
    for (auto& [claim, header] : p.forward_claims) {
        header = to_lower(header);
        if (!is_token(header) || header == "host" || header == "content-length" || header == "transfer-encoding" ||
            header == "connection")
            schema::report(diags, m.mark(), m.path("forward_claims") + "." + claim, "bad header name \"" + header + "\"");
    }
    p.require = read_pairs(m, "require");
    // The claims a request may ask for, each once.
    auto want = [&](const std::string& name) {
        if (std::find(p.wanted_claims.begin(), p.wanted_claims.end(), name) == p.wanted_claims.end())
            p.wanted_claims.push_back(name);
    };
    if (!p.consumer_claim.empty()) want(p.consumer_claim);
    for (const auto& fc : p.forward_claims) want(fc.first);
    for (const auto& r : p.require) want(r.first);
    p.static_keys = std::make_shared<const std::vector<jwt::Key>>(std::move(keys));
    s.jwt.push_back(std::move(p));
}

void read_api_keys(const yaml::MapEntry& e, MapReader& m, const Config& c, Settings& s) {
    ApiKeysProvider p;
    p.name = e.key.text;
    p.mark = e.key.mark;
    p.from = read_sources(m, "from", Source{Source::Kind::Header, "x-api-key"});
    if (m.require("keys_file") && m.get_string("keys_file", p.keys_file)) {
        p.keys_file = resolve_path(c.prefix, p.keys_file);
        read_keys_file(p.keys_file, m.mark(), m.path("keys_file"), p.digests, m.diags());
    }
    s.api_keys.push_back(std::move(p));
}

void read_basic(const yaml::MapEntry& e, MapReader& m, const Config& c, Settings& s) {
    BasicProvider p;
    p.name = e.key.text;
    p.mark = e.key.mark;
    p.realm = p.name;
    if (m.get_string("realm", p.realm) &&
        (p.realm.empty() || p.realm.size() > 128 ||
         std::any_of(p.realm.begin(), p.realm.end(), [](char ch) { return ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; })))
        schema::report(m.diags(), m.mark(), m.path("realm"), "1..128 characters, no quotes, backslashes or control characters");
    if (m.require("htpasswd") && m.get_string("htpasswd", p.htpasswd)) {
        p.htpasswd = resolve_path(c.prefix, p.htpasswd);
        read_htpasswd(p.htpasswd, m.mark(), m.path("htpasswd"), p.users, m.diags());
    }
    s.basic.push_back(std::move(p));
}

void read_external(const yaml::MapEntry& e, MapReader& m, const Config& c, Settings& s) {
    ExternalProvider p;
    p.name = e.key.text;
    p.mark = e.key.mark;
    if (m.require("url") && m.get_string("url", p.url)) read_url(m, p.url, c.prefix, p.fetch, p.ca_file);
    m.get_duration("timeout", p.timeout, {1, 60000});
    m.get_duration("cache", p.cache, {0, 3600 * 1000});
    p.forward_headers = read_header_names(m, "forward_headers");
    p.copy_headers = read_header_names(m, "copy_headers");
    m.get_enum("on_error", p.on_error,
               {{"deny", ExternalProvider::OnError::Deny}, {"allow", ExternalProvider::OnError::Allow}});
    s.external.push_back(std::move(p));
}

}  // namespace

void read_sections(MapReader& top, Config& c) {
    auto a = top.get_map("auth");
    if (!a) return;
    Settings& s = building(c);
    // Each kind's map of named providers, read at auth.KIND.NAME.
    auto each = [&](std::string_view kind, auto&& read) {
        const Node* map = a->take(kind);
        std::string path = a->path(kind);
        if (!map || !schema::expect_map(*map, path, a->diags())) return;
        for (const yaml::MapEntry& e : map->entries) {
            if (!config_detail::valid_name(e.key.text))
                schema::report(a->diags(), e.key.mark, path,
                               "bad provider name \"" + e.key.text + "\" (use letters, digits, '_', '.', '-')");
            MapReader m(e.value, schema::join_path(path, e.key.text), a->diags());
            read(e, m);
        }
    };
    each("jwt", [&](const yaml::MapEntry& e, MapReader& m) { read_jwt(e, m, c, s); });
    each("api_keys", [&](const yaml::MapEntry& e, MapReader& m) { read_api_keys(e, m, c, s); });
    each("basic", [&](const yaml::MapEntry& e, MapReader& m) { read_basic(e, m, c, s); });
    each("external", [&](const yaml::MapEntry& e, MapReader& m) { read_external(e, m, c, s); });
    // A route names providers, whatever their kind: a name is one provider.
    std::map<std::string, Mark, std::less<>> names;
    auto unique = [&](const std::string& name, const Mark& mark) {
        if (auto [it, inserted] = names.emplace(name, mark); !inserted)
            top.diags().error(mark, "auth: provider name \"" + name + "\" is already used (at " + it->second.str() + ")");
    };
    for (const JwtProvider& p : s.jwt) unique(p.name, p.mark);
    for (const ApiKeysProvider& p : s.api_keys) unique(p.name, p.mark);
    for (const BasicProvider& p : s.basic) unique(p.name, p.mark);
    for (const ExternalProvider& p : s.external) unique(p.name, p.mark);
}

void read_route(MapReader& route, Config& c, size_t index) {
    const Node* v = route.take("auth");
    if (!v) return;
    Diagnostics& diags = route.diags();
    std::string path = route.path("auth");
    auto items = schema::read_list(*v, path, true, diags);
    if (!items) return;
    if (items->empty() || items->size() > kMaxProvidersPerRoute) {
        schema::report(diags, v->mark, path, "1 to " + std::to_string(kMaxProvidersPerRoute) + " providers");
        return;
    }
    Settings& s = building(c);
    std::vector<ProviderRef> refs;
    std::vector<std::string> known;
    for (const auto& p : s.jwt) known.push_back(p.name);
    for (const auto& p : s.api_keys) known.push_back(p.name);
    for (const auto& p : s.basic) known.push_back(p.name);
    for (const auto& p : s.external) known.push_back(p.name);
    for (size_t i = 0; i < items->size(); ++i) {
        const Node& item = *(*items)[i];
        std::string item_path = v->is_sequence() ? schema::index_path(path, i) : path;
        auto name = schema::read_string(item, item_path, diags);
        if (!name) continue;
        auto find = [&](const auto& list, ProviderRef::Kind kind) -> bool {
            for (size_t k = 0; k < list.size(); ++k)
                if (list[k].name == *name) {
                    ProviderRef r{kind, static_cast<uint32_t>(k)};
                    bool dup = std::any_of(refs.begin(), refs.end(), [&](const ProviderRef& x) {
                        return x.kind == r.kind && x.index == r.index;
                    });
                    if (dup)
                        schema::report(diags, item.mark, item_path, "provider \"" + *name + "\" is listed twice");
                    else
                        refs.push_back(r);
                    return true;
                }
            return false;
        };
        if (find(s.jwt, ProviderRef::Kind::Jwt) || find(s.api_keys, ProviderRef::Kind::ApiKeys) ||
            find(s.basic, ProviderRef::Kind::Basic) || find(s.external, ProviderRef::Kind::External))
            continue;
        std::string msg = "unknown auth provider \"" + *name + "\"";
        std::string_view hint = schema::suggest(*name, known);
        if (!hint.empty()) msg += " (did you mean \"" + std::string(hint) + "\"?)";
        schema::report(diags, item.mark, item_path, msg);
    }
    if (s.routes.size() <= index) {
        s.routes.resize(index + 1);
        s.route_marks.resize(index + 1);
    }
    s.routes[index] = std::move(refs);
    s.route_marks[index] = v->mark;
}

namespace {

std::string source_text(const Source& src) {
    switch (src.kind) {
        case Source::Kind::Header: return "header:" + src.name;
        case Source::Kind::Cookie: return "cookie:" + src.name;
        case Source::Kind::Query: return "query:" + src.name;
    }
    return "";
}

std::string list_text(const std::vector<std::string>& items) {
    std::string s = "[";
    for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + dump::quote(items[i]);
    return s + "]";
}

std::string sources_text(const std::vector<Source>& from) {
    std::vector<std::string> items;
    for (const Source& src : from) items.push_back(source_text(src));
    return list_text(items);
}

void dump_pairs(std::string& out, int indent, std::string_view key,
                const std::vector<std::pair<std::string, std::string>>& pairs) {
    if (pairs.empty()) return;
    dump::line(out, indent, key, "");
    for (const auto& [k, v] : pairs) dump::line(out, indent + 2, dump::quote(k), dump::quote(v));
}

}  // namespace

void dump(const Config& c, std::string& out) {
    const Settings* s = settings(c);
    if (!s || (s->jwt.empty() && s->api_keys.empty() && s->basic.empty() && s->external.empty())) return;
    dump::line(out, 0, "auth", "");
    if (!s->jwt.empty()) dump::line(out, 2, "jwt", "");
    for (const JwtProvider& p : s->jwt) {
        dump::line(out, 4, dump::quote(p.name), "");
        if (!p.policy.issuer.empty()) dump::line(out, 6, "issuer", dump::quote(p.policy.issuer));
        if (!p.policy.audiences.empty()) dump::line(out, 6, "audiences", list_text(p.policy.audiences));
        std::vector<std::string> algs;
        for (int i = 0; i < jwt::kAlgCount; ++i)
            if (p.algorithms.has(static_cast<jwt::Alg>(i))) algs.emplace_back(jwt::alg_name(static_cast<jwt::Alg>(i)));
        dump::line(out, 6, "algorithms", list_text(algs));
        if (!p.jwks.url.empty() || !p.jwks.file.empty()) {
            dump::line(out, 6, "jwks", "");
            if (!p.jwks.url.empty()) {
                dump::line(out, 8, "url", dump::quote(p.jwks.url));
                dump::line(out, 8, "refresh", format_duration(p.jwks.refresh));
                dump::line(out, 8, "timeout", format_duration(p.jwks.timeout));
                dump::line(out, 8, "kid_miss_interval", format_duration(p.jwks.kid_miss_interval));
                if (!p.jwks.cache_file.empty()) dump::line(out, 8, "cache_file", dump::quote(p.jwks.cache_file));
                if (!p.jwks.ca_file.empty()) dump::line(out, 8, "ca", dump::quote(p.jwks.ca_file));
            } else {
                dump::line(out, 8, "file", dump::quote(p.jwks.file));
            }
        }
        if (!p.secret_file.empty()) dump::line(out, 6, "secret_file", dump::quote(p.secret_file));
        dump::line(out, 6, "clock_skew", format_duration(p.policy.clock_skew_s * 1000));
        if (p.policy.max_lifetime_s) dump::line(out, 6, "max_lifetime", format_duration(p.policy.max_lifetime_s * 1000));
        dump::line(out, 6, "require_exp", dump::boolean(p.policy.require_exp));
        dump::line(out, 6, "from", sources_text(p.from));
        dump_pairs(out, 6, "forward_claims", p.forward_claims);
        dump_pairs(out, 6, "require", p.require);
        dump::line(out, 6, "consumer_claim", dump::quote(p.consumer_claim));
    }
    if (!s->api_keys.empty()) dump::line(out, 2, "api_keys", "");
    for (const ApiKeysProvider& p : s->api_keys) {
        dump::line(out, 4, dump::quote(p.name), "");
        dump::line(out, 6, "from", sources_text(p.from));
        dump::line(out, 6, "keys_file", dump::quote(p.keys_file));
    }
    if (!s->basic.empty()) dump::line(out, 2, "basic", "");
    for (const BasicProvider& p : s->basic) {
        dump::line(out, 4, dump::quote(p.name), "");
        dump::line(out, 6, "htpasswd", dump::quote(p.htpasswd));
        dump::line(out, 6, "realm", dump::quote(p.realm));
    }
    if (!s->external.empty()) dump::line(out, 2, "external", "");
    for (const ExternalProvider& p : s->external) {
        dump::line(out, 4, dump::quote(p.name), "");
        dump::line(out, 6, "url", dump::quote(p.url));
        if (!p.ca_file.empty()) dump::line(out, 6, "ca", dump::quote(p.ca_file));
        dump::line(out, 6, "timeout", format_duration(p.timeout));
        dump::line(out, 6, "cache", format_duration(p.cache));
        if (!p.forward_headers.empty()) dump::line(out, 6, "forward_headers", list_text(p.forward_headers));
        if (!p.copy_headers.empty()) dump::line(out, 6, "copy_headers", list_text(p.copy_headers));
        dump::line(out, 6, "on_error", p.on_error == ExternalProvider::OnError::Deny ? "deny" : "allow");
    }
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings* s = settings(c);
    const std::vector<ProviderRef>* refs = s ? s->route(index) : nullptr;
    if (!refs) return;
    std::vector<std::string> names;
    for (const ProviderRef& r : *refs) {
        switch (r.kind) {
            case ProviderRef::Kind::Jwt: names.push_back(s->jwt[r.index].name); break;
            case ProviderRef::Kind::ApiKeys: names.push_back(s->api_keys[r.index].name); break;
            case ProviderRef::Kind::Basic: names.push_back(s->basic[r.index].name); break;
            case ProviderRef::Kind::External: names.push_back(s->external[r.index].name); break;
        }
    }
    dump::line(out, indent, "auth", list_text(names));
}

}  // namespace gw::auth
