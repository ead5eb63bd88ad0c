// `upstreams:` - the named groups of backend servers that `upstream:` and `split:` routes proxy to.
// Server addresses are resolved here, once per load: a name that does not resolve fails the
// load (or the reload) instead of every request later.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>

#include "core/config/config_sections.h"
#include "core/module/module.h"

namespace gw {

namespace {

constexpr std::string_view kAddressForms = "IP:PORT, [IPv6]:PORT, HOST:PORT or unix:/PATH";

bool parse_port(std::string_view text, uint16_t& port) {
    if (text.empty() || text.size() > 5 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    unsigned value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value < 1 || value > 65535) return false;
    port = static_cast<uint16_t>(value);
    return true;
}

// RFC 1123 names, plus '_' (common in internal names); a final dot is allowed.
bool valid_hostname(std::string_view h) {
    if (h.ends_with('.')) h.remove_suffix(1);
    if (h.empty() || h.size() > 253) return false;
    size_t start = 0;
    for (;;) {
        size_t dot = h.find('.', start);
        std::string_view label = h.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || label.size() > 63 ||
            !std::all_of(label.begin(), label.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_';
            })) {
            return false;
        }
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

bool parse_unix(std::string_view path, std::string_view text, sockaddr_storage& out, socklen_t& len,
                std::string& error) {
    sockaddr_un sun{};
    if (!path.starts_with('/')) {
        error = "server address \"" + std::string(text) + "\": the unix socket path must be absolute";
        return false;
    }
    if (path.find('\0') != std::string_view::npos) {
        error = "server address \"" + std::string(text) + "\": the unix socket path contains a NUL byte";
        return false;
    }
    if (path.size() >= sizeof sun.sun_path) {
        error = "server address \"" + std::string(text) + "\": the unix socket path is longer than " +
                std::to_string(sizeof sun.sun_path - 1) + " bytes";
        return false;
    }
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path.data(), path.size());
    out = {};
    memcpy(&out, &sun, sizeof sun);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return true;
}

// getaddrinfo for one host; the first result, with `port`.
bool resolve(const std::string& host, int family, int flags, uint16_t port, sockaddr_storage& out,
             socklen_t& len, std::string& error) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
        std::string why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
        if (rc == 0) why = "no address";
        error = "cannot resolve \"" + host + "\": " + why;
        return false;
    }
    out = {};
    memcpy(&out, res->ai_addr, std::min<size_t>(res->ai_addrlen, sizeof out));
    len = static_cast<socklen_t>(std::min<size_t>(res->ai_addrlen, sizeof out));
    freeaddrinfo(res);
    if (out.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in&>(out).sin_port = htons(port);
    } else if (out.ss_family == AF_INET6) {
        reinterpret_cast<sockaddr_in6&>(out).sin6_port = htons(port);
    } else {
        error = "cannot resolve \"" + host + "\": not an IP address";
        return false;
    }
    return true;
}

}  // namespace

bool parse_upstream_address(std::string_view text, sockaddr_storage& out, socklen_t& len,
                            std::string& error) {
    const std::string quoted = "\"" + std::string(text) + "\"";
    if (text.starts_with("unix:")) return parse_unix(text.substr(5), text, out, len, error);

    if (text.find('\0') != std::string_view::npos) {  // the C resolvers would stop at it
        error = "bad server address " + quoted + " (expected " + std::string(kAddressForms) + ")";
        return false;
    }
    std::string host;
    std::string_view port_text;
    bool bracketed = text.starts_with('[');
    if (bracketed) {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close == 1 || text.substr(close + 1, 1) != ":") {
            error = "bad server address " + quoted + " (expected " + std::string(kAddressForms) + ")";
            return false;
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            error = "server address " + quoted + " has no port (expected " + std::string(kAddressForms) + ")";
            return false;
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    uint16_t port = 0;
    if (!parse_port(port_text, port)) {
        error = "bad port \"" + std::string(port_text) + "\" in server address " + quoted + " (1..65535)";
        return false;
    }
    if (bracketed) {
        // Numeric only; getaddrinfo (unlike inet_pton) also takes a scope: [fe80::1%eth0].
        if (!resolve(host, AF_INET6, AI_NUMERICHOST, port, out, len, error)) {
            error = "bad IPv6 address in server address " + quoted;
            return false;
        }
        return true;
    }
    if (host.find(':') != std::string::npos) {
        bool v6 = host.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos;
        error = "bad server address " + quoted + " (" +
                (v6 ? "an IPv6 address needs brackets: [IPv6]:PORT" : "expected " + std::string(kAddressForms)) +
                ")";
        return false;
    }
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        out = {};
        auto* sin = reinterpret_cast<sockaddr_in*>(&out);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr = v4;
        len = sizeof(sockaddr_in);
        return true;
    }
    // Only digits and dots, yet not a dotted quad: getaddrinfo would read "10.1" as 10.0.0.1.
    if (!host.empty() && host.find_first_not_of("0123456789.") == std::string::npos) {
        error = "bad IPv4 address in server address " + quoted;
        return false;
    }
    if (!valid_hostname(host)) {
        error = "bad server address " + quoted + " (expected " + std::string(kAddressForms) + ")";
        return false;
    }
    return resolve(host, AF_UNSPEC, 0, port, out, len, error);
}

namespace config_detail {

namespace {

using schema::MapReader;
using yaml::Node;

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kDay = 86400 * 1000;

void read_server(const Node& item, std::string path, UpstreamServerConfig& s, Diagnostics& diags) {
    MapReader m(item, std::move(path), diags);
    s.mark = item.mark;
    if (m.require("address")) {
        const Node& a = *m.take("address");
        if (auto text = schema::read_string(a, m.path("address"), diags)) {
            s.address = *text;
            std::string error;
            if (!parse_upstream_address(*text, s.sockaddr, s.socklen, error)) {
                s.socklen = 0;
                schema::report(diags, a.mark, m.path("address"), error);
            }
        }
    }
    m.get_int("weight", s.weight, {1, 1000});
    m.get_bool("backup", s.backup);
    m.get_int("max_conns", s.max_conns, {0, 1000000});
    m.finish();
}

void read_servers(MapReader& m, UpstreamConfig& u) {
    Diagnostics& diags = m.diags();
    if (!m.require("servers")) return;
    const Node* list = m.take("servers");
    std::string path = m.path("servers");
    std::optional<std::vector<const Node*>> items = schema::read_list(*list, path, false, diags);
    if (!items) return;
    if (items->empty()) {
        schema::report(diags, list->mark, path, "at least one server is required");
        return;
    }
    for (size_t i = 0; i < items->size(); i++) {
        UpstreamServerConfig s;
        read_server(*(*items)[i], schema::index_path(path, i), s, diags);
        u.servers.push_back(std::move(s));
    }
}

}  // namespace

// `ip`, `path`, `header:NAME` or `cookie:NAME`.
void read_hash_key(const Node& v, std::string_view path, HashKey& key, Diagnostics& diags) {
    std::optional<std::string> s = schema::read_string(v, path, diags);
    if (!s) return;
    if (*s == "ip") {
        key = {HashKey::Kind::Ip, ""};
        return;
    }
    if (*s == "path") {
        key = {HashKey::Kind::Path, ""};
        return;
    }
    size_t colon = s->find(':');
    std::string kind = s->substr(0, colon);
    std::string name = colon == std::string::npos ? "" : s->substr(colon + 1);
    if ((kind == "header" || kind == "cookie") && colon != std::string::npos) {
        if (!is_token(name)) {
            schema::report(diags, v.mark, path, "bad " + kind + " name \"" + name + "\"");
            return;
        }
        if (kind == "header") key = {HashKey::Kind::Header, to_lower(name)};
        else key = {HashKey::Kind::Cookie, name};  // cookie names are case-sensitive
        return;
    }
    schema::report(diags, v.mark, path,
                   "unknown value " + yaml::describe(v) + " (expected ip, path, header:NAME or cookie:NAME)");
}

namespace {

void read_balance(MapReader& m, UpstreamConfig& u) {
    Diagnostics& diags = m.diags();
    const Node* balance = m.take("balance");
    bool balance_ok = false;
    if (balance) {
        std::optional<UpstreamConfig::Balance> b = schema::read_enum<UpstreamConfig::Balance>(
            *balance, m.path("balance"),
            {{"round_robin", UpstreamConfig::Balance::RoundRobin},
             {"least_conn", UpstreamConfig::Balance::LeastConn},
             {"random_two", UpstreamConfig::Balance::RandomTwo},
             {"hash", UpstreamConfig::Balance::Hash}},
            diags);
        if (b) u.balance = *b;
        balance_ok = b.has_value();
    }
    const Node* key = m.take("hash_key");
    if (u.balance == UpstreamConfig::Balance::Hash) {
        if (key) read_hash_key(*key, m.path("hash_key"), u.hash_key, diags);
        else schema::report(diags, balance->mark, m.path("balance"),
                            "hash needs a hash_key (ip, path, header:NAME or cookie:NAME)");
    } else if (key && (balance_ok || !balance)) {  // after a bad balance, the intent is unknown
        schema::report(diags, m.key_node("hash_key")->mark, m.path("hash_key"),
                       "only allowed with balance: hash");
    }
}

// `circuit_breaker:` - a map, every key optional (`circuit_breaker: {}` takes the defaults).
void read_circuit_breaker(MapReader& upstream, UpstreamConfig& u) {
    std::optional<MapReader> m = upstream.get_map("circuit_breaker");
    if (!m) return;
    Diagnostics& diags = m->diags();
    CircuitBreakerConfig b;
    if (const Node* r = m->take("failure_ratio")) {
        if (std::optional<double> v = schema::read_ratio(*r, m->path("failure_ratio"), diags)) b.failure_ratio = *v;
    }
    m->get_int("min_requests", b.min_requests, {1, 1000000});
    m->get_int("consecutive_failures", b.consecutive_failures, {0, 10000});
    m->get_duration("window", b.window, {1000, 3600 * 1000});
    m->get_duration("open_for", b.open_for, {1, kDay});
    bool max_given = m->get_duration("max_open_for", b.max_open_for, {1, kDay});
    if (!max_given) b.max_open_for = std::max(b.max_open_for, b.open_for);
    m->get_int("half_open_probes", b.half_open_probes, {1, 1000});
    bool close_given = m->get_int("close_after", b.close_after, {1, 1000});
    if (!close_given) b.close_after = std::min(b.close_after, b.half_open_probes);
    if (const Node* on = m->take("failure_on")) {
        std::string path = m->path("failure_on");
        std::optional<std::vector<const Node*>> items = schema::read_list(*on, path, true, diags);
        if (items && items->empty()) {
            schema::report(diags, on->mark, path, "empty list (leave failure_on out for [connect_failure, timeout, 5xx])");
        } else if (items) {
            uint32_t flags = 0;
            bool ok = true;
            for (size_t i = 0; i < items->size(); i++) {
                std::string item_path = on->is_sequence() ? schema::index_path(path, i) : path;
                std::optional<BreakerFailure> flag = schema::read_enum<BreakerFailure>(
                    *(*items)[i], item_path,
                    {{"connect_failure", kFailConnect}, {"timeout", kFailTimeout}, {"reset", kFailReset},
                     {"invalid_response", kFailInvalid}, {"502", kFail502}, {"503", kFail503},
                     {"504", kFail504}, {"5xx", kFail5xx}},
                    diags);
                if (flag) flags |= *flag;
                ok &= flag.has_value();
            }
            if (ok) b.failure_on = flags;
        }
    }
    // Rules that cannot work together: reported at the key that makes them so.
    if (max_given && b.max_open_for < b.open_for) {
        schema::report(diags, m->take("max_open_for")->mark, m->path("max_open_for"),
                       format_duration(b.max_open_for) + " is less than open_for (" +
                           format_duration(b.open_for) + ")");
    }
    if (close_given && b.close_after > b.half_open_probes) {
        schema::report(diags, m->take("close_after")->mark, m->path("close_after"),
                       std::to_string(b.close_after) + " is more than half_open_probes (" +
                           std::to_string(b.half_open_probes) + "): the breaker could never close");
    }
    if (b.failure_ratio == 0 && b.consecutive_failures == 0) {
        schema::report(diags, m->mark(), m->path(),
                       "failure_ratio and consecutive_failures are both 0: the breaker could never open");
    }
    m->finish();
    u.circuit_breaker = b;
}

// One `expect` item: a status (200) or an inclusive range ("200-399").
std::optional<std::pair<int, int>> read_status_range(const Node& n, const std::string& path, Diagnostics& diags) {
    std::string_view t = n.text;
    auto number = [](std::string_view s, int& out) {
        if (s.size() != 3) return false;
        out = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        return out >= 100 && out <= 599;
    };
    int lo = 0, hi = 0;
    size_t dash = t.find('-');
    bool ok = n.is_scalar() && (dash == std::string_view::npos ? number(t, lo) && (hi = lo, true)
                                                               : number(t.substr(0, dash), lo) && number(t.substr(dash + 1), hi) && lo <= hi);
    if (!ok) {
        schema::report(diags, n.mark, path, "expected a status (200) or a range (200-399) of statuses 100..599");
        return std::nullopt;
    }
    return std::make_pair(lo, hi);
}

// `health_check:` - a map, every key optional.
void read_health_check(MapReader& upstream, UpstreamConfig& u) {
    std::optional<MapReader> m = upstream.get_map("health_check");
    if (!m) return;
    Diagnostics& diags = m->diags();
    HealthCheckConfig h;
    if (m->get_string("path", h.path) && (h.path.empty() || h.path[0] != '/' ||
                                          h.path.find_first_of(" \r\n\t") != std::string::npos))
        schema::report(diags, m->take("path")->mark, m->path("path"), "expected a path starting with '/', without spaces");
    if (m->get_string("host", h.host) && h.host.find_first_of(" \r\n\t") != std::string::npos)
        schema::report(diags, m->take("host")->mark, m->path("host"), "a host name cannot contain spaces");
    m->get_duration("interval", h.interval, {100, kDay});
    m->get_duration("timeout", h.timeout, {10, 10 * kMinute});
    m->get_duration("jitter", h.jitter, {0, kDay});
    m->get_int("fall", h.fall, {1, 1000});
    m->get_int("rise", h.rise, {1, 1000});
    if (const Node* e = m->take("expect")) {
        std::string path = m->path("expect");
        std::optional<std::vector<const Node*>> items = schema::read_list(*e, path, true, diags);
        if (items && !items->empty()) {
            std::vector<std::pair<int, int>> ranges;
            bool ok = true;
            for (size_t i = 0; i < items->size(); i++) {
                auto r = read_status_range(*(*items)[i], e->is_sequence() ? schema::index_path(path, i) : path, diags);
                if (r) ranges.push_back(*r);
                ok &= r.has_value();
            }
            if (ok) h.expect = std::move(ranges);
        } else if (items) {
            schema::report(diags, e->mark, path, "empty list (leave expect out for [200-399])");
        }
    }
    if (h.timeout >= h.interval)
        schema::report(diags, m->mark(), m->path(), "timeout (" + format_duration(h.timeout) +
                                                        ") must be shorter than interval (" + format_duration(h.interval) + ")");
    m->finish();
    u.health_check = h;
}

// `queue: {size, timeout}` - only with a max_conns on some server: without a limit nothing
// would ever wait, and a queue that cannot work is a mistake worth a failed load.
void read_queue(MapReader& upstream, UpstreamConfig& u) {
    std::optional<MapReader> m = upstream.get_map("queue");
    if (!m) return;
    m->get_int("size", u.queue.size, {0, 100000});
    m->get_duration("timeout", u.queue.timeout, {1, kMinute});
    if (u.queue.size > 0 && !u.has_max_conns())
        schema::report(m->diags(), m->mark(), m->path(),
                       "a queue needs max_conns on at least one server (nothing would ever wait in it)");
    m->finish();
}

}  // namespace

void read_upstreams(MapReader& top, Config& c) {
    for_each_named(top, "upstreams", "upstream", [&](const yaml::MapEntry& e, MapReader& m) {
        UpstreamConfig u;
        u.name = e.key.text;
        u.mark = e.key.mark;
        read_servers(m, u);
        read_balance(m, u);
        m.get_int("keepalive", u.keepalive, {0, 100000});
        m.get_duration("keepalive_timeout", u.keepalive_timeout, {1, kDay});
        m.get_int("keepalive_requests", u.keepalive_requests, {1, 1000000000});
        m.get_duration("connect_timeout", u.connect_timeout, {1, 10 * kMinute});
        read_circuit_breaker(m, u);
        read_health_check(m, u);
        m.get_int("max_fails", u.max_fails, {0, 1000});
        m.get_duration("fail_timeout", u.fail_timeout, {1, kDay});
        m.get_enum("all_down", u.all_down,
                   {{"route_to_all", UpstreamConfig::AllDown::RouteToAll}, {"reject", UpstreamConfig::AllDown::Reject}});
        read_queue(m, u);
        m.get_enum("protocol", u.protocol,
                   {{"http1", UpstreamConfig::Protocol::Http1},
                    {"h2", UpstreamConfig::Protocol::H2},
                    {"h2c", UpstreamConfig::Protocol::H2c}});
        m.get_int("max_streams_per_connection", u.max_streams_per_connection, {1, 100000});
        module::read_upstream(m, c, c.upstreams.size());  // the modules' keys (tls:)
        if (u.protocol == UpstreamConfig::Protocol::H2 && !m.key_node("tls")) {
            const schema::Node* p = m.key_node("protocol");
            schema::report(m.diags(), p ? p->mark : m.mark(), m.path("protocol"),
                           "h2 is HTTP/2 over TLS: the upstream needs tls: (or protocol: h2c, without TLS)");
        }
        m.finish();
        // Kept even when something above was wrong, so that routes naming it are not also
        // reported as naming an unknown upstream.
        c.upstreams.push_back(std::move(u));
    });
}

}  // namespace config_detail

}  // namespace gw
