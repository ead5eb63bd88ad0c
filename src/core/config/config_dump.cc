// dump_config(): the effective config as YAML (`gatewayd -T`). Every key is written with its
// resolved value, defaults included, and the output loads back to the same config: strings are
// always double-quoted so that no value can change meaning (`on`, `#`, `*`) on the way back.
#include <charconv>
#include <cstdio>

#include "core/config/config.h"
#include "core/config/dump.h"
#include "core/module/module.h"

namespace gw {

namespace {

// Characters the YAML reader would not take back literally inside quotes: C1 controls (not
// printable), NEL, U+2028 and U+2029 (line breaks, folded), BOM and U+FFFE/U+FFFF.
// Returns the escape and the length of the UTF-8 sequence, or 0.
size_t unicode_escape(std::string_view s, std::string& escape) {
    auto byte = [&](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
    char buf[16];
    if (byte(0) == 0xc2 && byte(1) >= 0x80 && byte(1) <= 0x9f) {
        snprintf(buf, sizeof buf, "\\u%04x", byte(1));
        escape = buf;
        return 2;
    }
    unsigned cp = (byte(0) & 0x0fu) << 12 | (byte(1) & 0x3fu) << 6 | (byte(2) & 0x3fu);
    if ((byte(0) == 0xe2 || byte(0) == 0xef) && (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
                                                 cp == 0xfffe || cp == 0xffff)) {
        snprintf(buf, sizeof buf, "\\u%04x", cp);
        escape = buf;
        return 3;
    }
    return 0;
}

}  // namespace

namespace dump {

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        std::string escape;
        if (size_t n = unicode_escape(s.substr(i), escape)) {
            out += escape;
            i += n - 1;
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    char buf[8];
                    snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
                    out += buf;
                } else {
                    out += c;  // UTF-8 passes through: the loader accepted it as valid
                }
        }
    }
    out += '"';
    return out;
}

void line(std::string& out, int indent, std::string_view key, std::string_view value) {
    out.append(static_cast<size_t>(indent), ' ');
    out += key;
    out += ':';
    if (!value.empty()) {
        out += ' ';
        out += value;
    }
    out += '\n';
}

const char* boolean(bool b) { return b ? "true" : "false"; }

std::string ratio(double r) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, r);
    return ec == std::errc() ? std::string(buf, end) : std::to_string(r);
}

}  // namespace dump

namespace {

using dump::boolean;
using dump::quote;
using dump::ratio;

// A file name in a comment: one line, whatever it contains.
std::string comment_safe(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return out;
}

// Levels of indentation, two spaces each.
class Writer {
  public:
    void line(int indent, std::string_view key, std::string_view value) { dump::line(out_, indent * 2, key, value); }
    void raw(std::string_view text) { out_ += text; }
    std::string& out() { return out_; }  // for the modules' parts
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

std::string quoted_list(const std::vector<std::string>& items) {
    std::string list = "[";
    for (size_t i = 0; i < items.size(); i++) {
        if (i) list += ", ";
        list += quote(items[i]);
    }
    return list + "]";
}

void dump_logs(const Config& c, Writer& w) {
    w.line(0, "error_log", "");
    w.line(1, "path", quote(c.error_log.path));
    w.line(1, "level", log_level_name(c.error_log.level));

    w.line(0, "logs", "");
    w.line(1, "repeat_interval", format_duration(c.logs.repeat_interval));
    w.line(1, "redact", "");
    w.line(2, "query", quoted_list(c.logs.redact_query));
    w.line(2, "headers", quoted_list(c.logs.redact_headers));

    const AccessLogConfig& a = c.access_log;
    if (!a.enabled) {
        w.line(0, "access_log", "off");
        return;
    }
    w.line(0, "access_log", "");
    w.line(1, "path", quote(a.path));
    switch (a.format) {
        case AccessLogConfig::Format::Json: w.line(1, "format", "json"); break;
        case AccessLogConfig::Format::Combined: w.line(1, "format", "combined"); break;
        case AccessLogConfig::Format::Template: w.line(1, "format", quote(a.line.source())); break;
    }
    if (!a.fields.empty()) {
        w.line(1, "fields", "");
        for (const auto& [key, t] : a.fields) w.line(2, quote(key), quote(t.source()));
    }
    w.line(1, "buffer", format_size(a.buffer));
    w.line(1, "flush", format_duration(a.flush));
    w.line(1, "log_admin", boolean(a.log_admin));
}

void dump_metrics(const Config& c, Writer& w) {
    w.line(0, "metrics", "");
    w.line(1, "per_consumer", boolean(c.metrics.per_consumer));
    w.line(1, "max_consumers", std::to_string(c.metrics.max_consumers));
}

void dump_listeners(const Config& c, Writer& w) {
    w.line(0, "listeners", c.listeners.empty() ? "[]" : "");
    for (size_t i = 0; i < c.listeners.size(); ++i) {
        const ListenerConfig& l = c.listeners[i];
        w.raw("  - address: " + quote(l.address) + "\n");
        w.line(2, "admin", boolean(l.admin));
        w.line(2, "backlog", std::to_string(l.backlog));
        w.line(2, "proxy_protocol", boolean(l.proxy_protocol));
        w.line(2, "proxy_protocol_timeout", format_duration(l.proxy_protocol_timeout));
        w.line(2, "http2", l.http2 == ListenerConfig::Http2::On               ? "true"
                           : l.http2 == ListenerConfig::Http2::PriorKnowledge ? "prior_knowledge"
                                                                              : "false");
        module::dump_listener(c, i, 4, w.out());
    }
}

void dump_http(const HttpConfig& h, Writer& w) {
    w.line(0, "http", "");
    w.line(1, "max_header_size", format_size(h.max_header_size));
    w.line(1, "max_uri_size", format_size(h.max_uri_size));
    w.line(1, "max_headers", std::to_string(h.max_headers));
    w.line(1, "client_max_body_size", format_size(h.client_max_body_size));
    w.line(1, "client_header_timeout", format_duration(h.client_header_timeout));
    w.line(1, "client_body_timeout", format_duration(h.client_body_timeout));
    w.line(1, "send_timeout", format_duration(h.send_timeout));
    w.line(1, "keepalive_timeout", format_duration(h.keepalive_timeout));
    w.line(1, "keepalive_requests", std::to_string(h.keepalive_requests));
    w.line(1, "merge_slashes", boolean(h.path.merge_slashes));
    w.line(1, "escaped_slashes", h.path.escaped_slashes == http::EscapedSlashes::Reject   ? "reject"
                                 : h.path.escaped_slashes == http::EscapedSlashes::Decode ? "decode"
                                                                                           : "keep");
    std::string extra;
    for (const std::string& name : h.extra_methods) extra += (extra.empty() ? "" : ", ") + quote(name);
    w.line(1, "extra_methods", "[" + extra + "]");
}

void dump_http2(const Http2Config& h, Writer& w) {
    w.line(0, "http2", "");
    w.line(1, "max_concurrent_streams", std::to_string(h.max_concurrent_streams));
    w.line(1, "initial_window_size", format_size(h.initial_window_size));
    w.line(1, "max_header_list_size", format_size(h.max_header_list_size));
    w.line(1, "max_headers", std::to_string(h.max_headers));
    w.line(1, "max_resets_per_minute", std::to_string(h.max_resets_per_minute));
    w.line(1, "max_continuation_frames", std::to_string(h.max_continuation_frames));
    w.line(1, "idle_timeout", format_duration(h.idle_timeout));
}

const char* balance_name(UpstreamConfig::Balance b) {
    switch (b) {
        case UpstreamConfig::Balance::RoundRobin: return "round_robin";
        case UpstreamConfig::Balance::LeastConn: return "least_conn";
        case UpstreamConfig::Balance::RandomTwo: return "random_two";
        case UpstreamConfig::Balance::Hash: return "hash";
    }
    return "round_robin";
}

std::string hash_key_text(const HashKey& k) {
    switch (k.kind) {
        case HashKey::Kind::Ip: return "ip";
        case HashKey::Kind::Path: return "path";
        case HashKey::Kind::Header: return "header:" + k.name;
        case HashKey::Kind::Cookie: return "cookie:" + k.name;
    }
    return "ip";
}

void dump_circuit_breaker(const CircuitBreakerConfig& b, Writer& w) {
    static constexpr std::pair<BreakerFailure, const char*> kOn[] = {
        {kFailConnect, "connect_failure"}, {kFailTimeout, "timeout"}, {kFailReset, "reset"},
        {kFailInvalid, "invalid_response"}, {kFail502, "502"}, {kFail503, "503"}, {kFail504, "504"},
        {kFail5xx, "5xx"},
    };
    w.line(2, "circuit_breaker", "");
    w.line(3, "failure_ratio", ratio(b.failure_ratio));
    w.line(3, "min_requests", std::to_string(b.min_requests));
    w.line(3, "consecutive_failures", std::to_string(b.consecutive_failures));
    w.line(3, "window", format_duration(b.window));
    w.line(3, "open_for", format_duration(b.open_for));
    w.line(3, "max_open_for", format_duration(b.max_open_for));
    w.line(3, "half_open_probes", std::to_string(b.half_open_probes));
    w.line(3, "close_after", std::to_string(b.close_after));
    std::string on = "[";
    for (const auto& [flag, name] : kOn) {
        if (!(b.failure_on & flag)) continue;
        if (on.size() > 1) on += ", ";
        on += quote(name);
    }
    w.line(3, "failure_on", on + "]");
}

void dump_health_check(const HealthCheckConfig& h, Writer& w) {
    w.line(2, "health_check", "");
    w.line(3, "path", quote(h.path));
    if (!h.host.empty()) w.line(3, "host", quote(h.host));
    w.line(3, "interval", format_duration(h.interval));
    w.line(3, "timeout", format_duration(h.timeout));
    w.line(3, "jitter", format_duration(h.jitter));
    w.line(3, "fall", std::to_string(h.fall));
    w.line(3, "rise", std::to_string(h.rise));
    std::string expect = "[";
    for (const auto& [lo, hi] : h.expect) {
        if (expect.size() > 1) expect += ", ";
        expect += lo == hi ? std::to_string(lo) : quote(std::to_string(lo) + "-" + std::to_string(hi));
    }
    w.line(3, "expect", expect + "]");
}

void dump_upstreams(const Config& c, Writer& w) {
    w.line(0, "upstreams", c.upstreams.empty() ? "{}" : "");
    for (size_t i = 0; i < c.upstreams.size(); ++i) {
        const UpstreamConfig& u = c.upstreams[i];
        w.line(1, quote(u.name), "");
        w.line(2, "servers", "");
        for (const UpstreamServerConfig& s : u.servers) {
            w.raw("      - address: " + quote(s.address) + "\n");
            w.line(4, "weight", std::to_string(s.weight));
            w.line(4, "backup", boolean(s.backup));
            w.line(4, "max_conns", std::to_string(s.max_conns));
        }
        w.line(2, "balance", balance_name(u.balance));
        if (u.balance == UpstreamConfig::Balance::Hash) w.line(2, "hash_key", quote(hash_key_text(u.hash_key)));
        w.line(2, "keepalive", std::to_string(u.keepalive));
        w.line(2, "keepalive_timeout", format_duration(u.keepalive_timeout));
        w.line(2, "keepalive_requests", std::to_string(u.keepalive_requests));
        w.line(2, "connect_timeout", format_duration(u.connect_timeout));
        if (u.circuit_breaker) dump_circuit_breaker(*u.circuit_breaker, w);
        if (u.health_check) dump_health_check(*u.health_check, w);
        w.line(2, "max_fails", std::to_string(u.max_fails));
        w.line(2, "fail_timeout", format_duration(u.fail_timeout));
        w.line(2, "all_down", u.all_down == UpstreamConfig::AllDown::Reject ? "reject" : "route_to_all");
        w.line(2, "queue", "{size: " + std::to_string(u.queue.size) + ", timeout: " + format_duration(u.queue.timeout) + "}");
        w.line(2, "protocol", u.protocol == UpstreamConfig::Protocol::H2    ? "h2"
                              : u.protocol == UpstreamConfig::Protocol::H2c ? "h2c"
                                                                            : "http1");
        w.line(2, "max_streams_per_connection", std::to_string(u.max_streams_per_connection));
        module::dump_upstream(c, i, 4, w.out());  // the modules' keys (tls:)
    }
}

// A map of strings, `{}` when empty.
void dump_pairs(int indent, std::string_view key, const std::vector<std::pair<std::string, std::string>>& pairs,
                Writer& w) {
    w.line(indent, key, pairs.empty() ? "{}" : "");
    for (const auto& [name, value] : pairs) w.line(indent + 1, quote(name), quote(value));
}

void dump_fields(int indent, std::string_view key, const std::vector<HeaderOp>& fields, Writer& w) {
    w.line(indent, key, fields.empty() ? "{}" : "");
    for (const HeaderOp& h : fields) w.line(indent + 1, quote(h.name), quote(h.value.source()));
}

void dump_header_ops(std::string_view key, const HeaderOps& ops, Writer& w) {
    w.line(2, key, "");
    dump_fields(3, "set", ops.set, w);
    dump_fields(3, "add", ops.add, w);
    std::string list = "[";
    for (size_t i = 0; i < ops.remove.size(); i++) {
        if (i > 0) list += ", ";
        list += quote(ops.remove[i]);
    }
    w.line(3, "remove", list + "]");
}

void dump_retries(const RetryPolicy& p, Writer& w) {
    static constexpr std::pair<RetryOn, const char*> kOn[] = {
        {kRetryConnectFailure, "connect_failure"}, {kRetryTimeout, "timeout"}, {kRetryReset, "reset"},
        {kRetry502, "502"}, {kRetry503, "503"}, {kRetry504, "504"}, {kRetry5xx, "5xx"},
    };
    w.line(2, "retries", "");
    w.line(3, "attempts", std::to_string(p.attempts));
    std::string on = "[";
    for (const auto& [flag, name] : kOn) {
        if (!(p.on & flag)) continue;
        if (on.size() > 1) on += ", ";
        on += quote(name);
    }
    w.line(3, "on", on + "]");
    w.line(3, "non_idempotent", boolean(p.non_idempotent));
    w.line(3, "budget", ratio(p.budget));
}

void dump_redis(const Config& c, Writer& w) {
    if (!c.redis) {
        w.raw("# redis: not set\n");
        return;
    }
    const RedisConfig& r = *c.redis;
    w.line(0, "redis", "");
    w.line(1, "address", quote(r.address));
    w.line(1, "timeout", format_duration(r.timeout));
    w.line(1, "connect_timeout", format_duration(r.connect_timeout));
    w.line(1, "pool", std::to_string(r.pool));
    // One or the other: both would not load back.
    if (r.fallback_share > 0) {
        w.line(1, "fallback_share", ratio(r.fallback_share));
    } else {
        w.line(1, "nodes", std::to_string(r.nodes));
        w.raw("  # fallback_share: " + ratio(r.share()) + " (1/nodes)\n");
    }
}

void dump_route(const Config& c, size_t index, Writer& w) {
    const RouteConfig& r = c.routes[index];
    w.raw("  - name: " + quote(r.name) + "\n");
    const RouteMatch& m = r.match;
    // Empty fields mean "any" and have no YAML spelling but absence.
    if (!m.path.empty() || !m.path_prefix.empty() || !m.path_regex.empty() || !m.methods.empty() ||
        !m.host.empty() || !m.headers.empty() || !m.query.empty() || !m.listener.empty()) {
        w.line(2, "match", "");
        if (!m.listener.empty()) w.line(3, "listener", quote(m.listener));
        if (!m.path.empty()) w.line(3, "path", quote(m.path));
        if (!m.path_prefix.empty()) w.line(3, "path_prefix", quote(m.path_prefix));
        if (!m.path_regex.empty()) w.line(3, "path_regex", quote(m.path_regex));
        if (!m.methods.empty()) {
            std::string list = "[";
            for (size_t i = 0; i < m.methods.size(); i++) {
                if (i > 0) list += ", ";
                list += quote(m.methods[i]);
            }
            w.line(3, "methods", list + "]");
        }
        if (!m.host.empty()) w.line(3, "host", quote(m.host));
        if (!m.headers.empty()) dump_pairs(3, "headers", m.headers, w);
        if (!m.query.empty()) dump_pairs(3, "query", m.query, w);
    }
    if (r.client_max_body_size) w.line(2, "client_max_body_size", format_size(*r.client_max_body_size));
    if (r.ret) {
        w.line(2, "return", "");
        w.line(3, "status", std::to_string(r.ret->status));
        w.line(3, "body", quote(r.ret->body.source()));
        if (!r.ret->location.empty()) w.line(3, "location", quote(r.ret->location.source()));
        dump_pairs(3, "headers", r.ret->headers, w);
        module::dump_route(c, index, 4, w.out());
        return;
    }
    // A proxied route: the action, then every proxy option with its effective value.
    if (!r.split.empty()) {
        w.line(2, "split", "");
        for (const SplitTarget& t : r.split) {
            w.raw("      - upstream: " + quote(t.upstream) + "\n");
            w.line(4, "weight", std::to_string(t.weight));
        }
        if (r.split_by) w.line(2, "split_by", quote(hash_key_text(*r.split_by)));
    } else {
        w.line(2, "upstream", quote(r.upstream));
    }
    if (!r.strip_prefix.empty()) w.line(2, "strip_prefix", quote(r.strip_prefix));
    if (!r.rewrite.empty()) w.line(2, "rewrite", quote(r.rewrite));
    w.line(2, "timeout", "");
    if (r.timeout.connect) w.line(3, "connect", format_duration(r.timeout.connect));  // else the upstream's
    w.line(3, "read", format_duration(r.timeout.read));
    w.line(3, "send", format_duration(r.timeout.send));
    w.line(3, "tunnel", format_duration(r.timeout.tunnel));
    dump_retries(r.retries, w);
    dump_header_ops("request_headers", r.request_headers, w);
    dump_header_ops("response_headers", r.response_headers, w);
    module::dump_route(c, index, 4, w.out());
}

void dump_real_ip(const Config& c, Writer& w) {
    if (!c.real_ip) {
        w.raw("# real_ip: not set\n");
        return;
    }
    const RealIpConfig& r = *c.real_ip;
    w.line(0, "real_ip", "");
    w.line(1, "from", r.from == RealIpConfig::From::ProxyProtocol ? "proxy_protocol" : quote(r.header));
    std::string list = "[";
    for (size_t i = 0; i < r.trusted.size(); i++) {
        if (i > 0) list += ", ";
        list += quote(net::format_cidr(r.trusted[i]));
    }
    w.line(1, "trusted", list + "]");
}

}  // namespace

std::string dump_config(const Config& c) {
    Writer w;
    w.raw("# gatewayd: effective configuration\n# files read:\n");
    for (const std::string& f : c.files) w.raw("#   " + comment_safe(f) + "\n");

    if (c.worker_processes_auto) {
        w.line(0, "worker_processes", "auto  # " + std::to_string(c.worker_processes));
    } else {
        w.line(0, "worker_processes", std::to_string(c.worker_processes));
    }
    w.line(0, "worker_connections", std::to_string(c.worker_connections));
    if (c.user.empty()) w.raw("# user: not set\n");
    else w.line(0, "user", quote(c.group.empty() ? c.user : c.user + ":" + c.group));
    w.line(0, "pid", quote(c.pid_path));
    w.line(0, "daemon", boolean(c.daemon));
    w.line(0, "shutdown_timeout", format_duration(c.shutdown_timeout));
    w.line(0, "worker_ready_timeout", format_duration(c.worker_ready_timeout));
    w.line(0, "max_draining_generations", std::to_string(c.max_draining_generations));
    dump_logs(c, w);
    dump_listeners(c, w);
    dump_http(c.http, w);
    dump_http2(c.http2, w);
    dump_metrics(c, w);
    dump_upstreams(c, w);
    dump_redis(c, w);
    module::dump(c, w.out());  // the modules' sections (rate_limits, ...)
    w.line(0, "routes", c.routes.empty() ? "[]" : "");
    for (size_t i = 0; i < c.routes.size(); ++i) dump_route(c, i, w);
    dump_real_ip(c, w);
    return w.take();
}

}  // namespace gw
