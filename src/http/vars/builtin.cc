// The built-in variables. Each getter writes its value (or returns false: not available).
#include <sys/time.h>
#include <time.h>

#include <cstring>

#include "core/config/config.h"
#include "core/text_time.h"
#include "http/chars.h"
#include "http/redact.h"
#include "http/server.h"
#include "http/stream.h"
#include "http/vars/vars.h"

namespace gw::http::vars {

namespace {

bool put(TextWriter& out, std::string_view v) {
    if (v.empty()) return false;
    out += v;
    return true;
}

const Request* request_of(const Env& env) {
    return env.stream && env.stream->request_storage ? &env.stream->request() : nullptr;
}

// ---- the client and the connection

bool remote_addr(const Env& env, std::string_view, TextWriter& out) {
    return env.stream && put(out, env.stream->client_address());
}

bool remote_port(const Env& env, std::string_view, TextWriter& out) {
    if (!env.stream || env.stream->client_port() == 0) return false;
    out.number(env.stream->client_port());
    return true;
}

bool scheme(const Env& env, std::string_view, TextWriter& out) {
    if (!env.stream) return false;
    bool tls = const_cast<Stream*>(env.stream)->io().transport() != nullptr;
    out += tls ? std::string_view("https") : std::string_view("http");
    return true;
}

bool server_protocol(const Env& env, std::string_view, TextWriter& out) {
    const Request* r = request_of(env);
    if (!r) return false;
    out += r->http2 ? std::string_view("HTTP/2.0") : r->version_minor == 0 ? std::string_view("HTTP/1.0") : std::string_view("HTTP/1.1");
    return true;
}

// ---- the request

// The host the request was made to, lower-cased and without a port (as nginx's $host).
bool host(const Env& env, std::string_view, TextWriter& out) {
    const Request* r = request_of(env);
    if (!r || r->host.empty()) return false;
    std::string_view h = r->host;
    if (h.front() == '[') {
        size_t close = h.find(']');
        if (close != std::string_view::npos) h = h.substr(0, close + 1);
    } else if (size_t colon = h.rfind(':'); colon != std::string_view::npos) {
        h = h.substr(0, colon);
    }
    for (char c : h) out += chars::ascii_lower(c);
    return !h.empty();
}

bool request_method(const Env& env, std::string_view, TextWriter& out) {
    const Request* r = request_of(env);
    return r && put(out, r->method);
}

// The target as the client sent it; in logs, secret query parameters redacted (a target
// without a query has none).
inline void write_target(const Env& env, const Request& r, TextWriter& out) {
    if (env.redact && !r.query.empty())
        append_redacted_target(out, r.target, *env.redact);
    else
        out += r.target;
}

bool request_uri(const Env& env, std::string_view, TextWriter& out) {
    const Request* r = request_of(env);
    if (!r || r->target.empty()) return false;
    write_target(env, *r, out);
    return true;
}

// "GET /path?q HTTP/1.1", as nginx's $request.
bool request_line(const Env& env, std::string_view, TextWriter& out) {
    const Request* r = request_of(env);
    if (!r) return false;
    out += r->method;
    out += ' ';
    write_target(env, *r, out);
    out += r->http2 ? std::string_view(" HTTP/2.0") : r->version_minor == 0 ? std::string_view(" HTTP/1.0") : std::string_view(" HTTP/1.1");
    return true;
}

// The normalised path (what routes matched), without the query.
bool uri(const Env& env, std::string_view, TextWriter& out) {
    const Request* r = request_of(env);
    return r && put(out, r->path);
}

bool args(const Env& env, std::string_view, TextWriter& out) {
    const Request* r = request_of(env);
    if (!r || r->query.empty()) return false;
    if (!env.redact) {
        out += r->query;
        return true;
    }
    append_redacted_query(out, r->query, *env.redact);
    return true;
}

// A parameter's value in a log: as in a logged target, a `;`-separated part that is a secret
// parameter ("1;token=abc", some frameworks split on ';') is redacted up to the next '&'.
void append_redacted_arg(TextWriter& out, std::string_view value, const LogsConfig& logs) {
    for (size_t semi = value.find(';'); semi != std::string_view::npos; semi = value.find(';', semi + 1)) {
        std::string_view part = value.substr(semi + 1);
        part = part.substr(0, part.find(';'));
        size_t eq = part.find('=');
        if (eq != std::string_view::npos && is_secret_query_param(part.substr(0, eq), logs)) {
            out += value.substr(0, semi + 1 + eq + 1);
            out += kRedacted;
            return;
        }
    }
    out += value;
}

// The raw value of query parameter `name` (the first one), as sent (not decoded).
bool arg(const Env& env, std::string_view name, TextWriter& out) {
    const Request* r = request_of(env);
    if (!r) return false;
    std::string_view q = r->query;
    while (!q.empty()) {
        size_t amp = q.find('&');
        std::string_view p = q.substr(0, amp);
        if (p.size() > name.size() && p.starts_with(name) && p[name.size()] == '=') {
            if (env.redact && is_secret_query_param(name, *env.redact)) {
                out += kRedacted;
                return true;
            }
            std::string_view value = p.substr(name.size() + 1);
            if (env.redact)
                append_redacted_arg(out, value, *env.redact);
            else
                out += value;
            return !value.empty();
        }
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return false;
}

// Every field of that name, in order, joined as nginx (1.23+) joins them: ", ", or "; " for
// Cookie. Empty fields add nothing.
bool http_header(const Env& env, std::string_view name, TextWriter& out) {
    const Request* r = request_of(env);
    if (!r) return false;
    auto put_value = [&](std::string_view v) {
        if (env.redact)
            append_redacted_header(out, name, v, *env.redact);
        else
            out += v;
    };
    if (name == "host") {
        if (r->host.empty()) return false;
        put_value(r->host);
        return true;
    }
    std::string_view separator = name == "cookie" ? std::string_view("; ") : std::string_view(", ");
    bool any = false;
    for (size_t i = 0; i < r->header_count; ++i) {
        const Header& h = r->headers[i];
        if (h.name.size() != name.size() || h.value.empty() || !chars::iequals(h.name, name)) continue;
        if (any) out += separator;
        put_value(h.value);
        any = true;
    }
    return any;
}

bool cookie(const Env& env, std::string_view name, TextWriter& out) {
    const Request* r = request_of(env);
    if (!r) return false;
    std::string_view v = r->cookie(name);
    if (v.empty()) return false;
    if (env.redact)
        append_redacted_header(out, "cookie", v, *env.redact);  // REDACTED when cookies are secret
    else
        out += v;
    return true;
}

bool request_id(const Env& env, std::string_view, TextWriter& out) {
    return env.stream && put(out, env.stream->request_id());
}

// Who auth says the request is (src/http/identity.h): a token's subject, a key's consumer.
bool consumer(const Env& env, std::string_view, TextWriter& out) {
    const Identity* who = env.stream ? env.stream->identity() : nullptr;
    return who && put(out, who->consumer());
}

bool route(const Env& env, std::string_view, TextWriter& out) {
    if (!env.stream) return false;
    return put(out, const_cast<Stream*>(env.stream)->route().name);
}

inline void append_seconds(TextWriter& out, uint64_t micros) { write_seconds_ms(out, micros); }

// An HTTP status: three digits.
inline void append_status(TextWriter& out, int status) {
    if (status < 100 || status > 999) {
        out.number(static_cast<uint64_t>(status < 0 ? 0 : status));
        return;
    }
    char* at = out.reserve(3);
    at[0] = static_cast<char>('0' + status / 100);
    at[1] = static_cast<char>('0' + status / 10 % 10);
    at[2] = static_cast<char>('0' + status % 10);
    out.commit(at + 3);
}

// ---- the response

bool status(const Env& env, std::string_view, TextWriter& out) {
    if (env.status <= 0) return false;
    append_status(out, env.status);
    return true;
}

bool bytes_sent(const Env& env, std::string_view, TextWriter& out) {
    if (!env.finished) return false;
    out.number(env.bytes_sent);
    return true;
}

bool body_bytes_sent(const Env& env, std::string_view, TextWriter& out) {
    if (!env.finished) return false;
    out.number(env.body_bytes);
    return true;
}

bool request_time(const Env& env, std::string_view, TextWriter& out) {
    if (env.request_time >= 0) {
        append_seconds(out, static_cast<uint64_t>(env.request_time * 1e6));
        return true;
    }
    if (!env.stream) return false;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t now_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000 + static_cast<uint64_t>(now.tv_nsec);
    uint64_t start = env.stream->start_ns();
    append_seconds(out, now_ns > start ? (now_ns - start) / 1000 : 0);
    return true;
}

const UpstreamTrace* trace_of(const Env& env) {
    if (!env.stream) return nullptr;
    const UpstreamTrace& t = const_cast<Stream*>(env.stream)->upstream_trace();
    return t.count ? &t : nullptr;
}

// The attempts as nginx lists them: "a, b" (", ..." beyond the ones kept).
template <typename Each>
bool list_attempts(const Env& env, TextWriter& out, Each each) {
    const UpstreamTrace* t = trace_of(env);
    if (!t) return false;
    size_t shown = std::min<size_t>(t->count, UpstreamTrace::kMax);
    for (size_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        each(t->attempts[i]);
    }
    if (t->count > UpstreamTrace::kMax) out += ", ...";
    return true;
}

bool upstream_addr(const Env& env, std::string_view, TextWriter& out) {
    return list_attempts(env, out, [&](const UpstreamTrace::Attempt& a) { out += a.addr; });
}

bool upstream_status(const Env& env, std::string_view, TextWriter& out) {
    return list_attempts(env, out, [&](const UpstreamTrace::Attempt& a) { append_status(out, a.status); });
}

bool upstream_response_time(const Env& env, std::string_view, TextWriter& out) {
    return list_attempts(env, out, [&](const UpstreamTrace::Attempt& a) { append_seconds(out, a.micros); });
}

// ---- time

bool time_iso8601(const Env&, std::string_view, TextWriter& out) {
    write_time_iso8601(out);
    return true;
}

bool time_local(const Env&, std::string_view, TextWriter& out) {
    write_time_local(out);
    return true;
}

bool msec(const Env&, std::string_view, TextWriter& out) {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    append_seconds(out, static_cast<uint64_t>(tv.tv_sec) * 1000000 + static_cast<uint64_t>(tv.tv_usec));
    return true;
}

bool generation(const Env& env, std::string_view, TextWriter& out) {
    if (!env.generation) return false;
    out.number(env.generation);
    return true;
}

// $http_x_user_id names the header "x-user-id".
std::string header_param(std::string_view rest) {
    std::string s;
    for (char c : rest) s += c == '_' ? '-' : chars::ascii_lower(c);
    return s;
}

// safe: the value is printable ASCII without '"' or '\\' whatever the request holds (addresses,
// numbers, times, names from the configuration), so a log line takes it without escaping.
// clean: no CR, LF or NUL - true of every built-in value (the parser refuses them in requests).
constexpr Definition kBuiltins[] = {
    {.name = "remote_addr", .get = remote_addr, .safe = true, .clean = true},
    {.name = "remote_port", .get = remote_port, .numeric = true, .safe = true, .clean = true},
    {.name = "scheme", .get = scheme, .safe = true, .clean = true},
    {.name = "server_protocol", .get = server_protocol, .safe = true, .clean = true},
    {.name = "host", .get = host, .clean = true},
    {.name = "request_method", .get = request_method, .clean = true},
    {.name = "request_uri", .get = request_uri, .clean = true},
    {.name = "request", .get = request_line, .clean = true},
    {.name = "uri", .get = uri, .clean = true},
    {.name = "args", .get = args, .clean = true},
    {.name = "arg_", .get = arg, .family = true, .clean = true},
    {.name = "http_", .get = http_header, .family = true, .clean = true, .param = header_param},
    {.name = "cookie_", .get = cookie, .family = true, .clean = true},
    {.name = "request_id", .get = request_id, .clean = true},
    {.name = "route", .get = route, .clean = true},
    // (A token's subject is the issuer's text: scanned in a log line, CR/LF dropped in a header.)
    {.name = "consumer", .get = consumer},
    {.name = "status", .get = status, .numeric = true, .safe = true, .clean = true},
    {.name = "bytes_sent", .get = bytes_sent, .numeric = true, .safe = true, .clean = true},
    {.name = "body_bytes_sent", .get = body_bytes_sent, .numeric = true, .safe = true, .clean = true},
    {.name = "request_time", .get = request_time, .numeric = true, .safe = true, .clean = true},
    {.name = "upstream_addr", .get = upstream_addr, .clean = true},
    {.name = "upstream_status", .get = upstream_status, .safe = true, .clean = true},
    {.name = "upstream_response_time", .get = upstream_response_time, .safe = true, .clean = true},
    {.name = "time_iso8601", .get = time_iso8601, .safe = true, .clean = true},
    {.name = "time_local", .get = time_local, .safe = true, .clean = true},
    {.name = "msec", .get = msec, .numeric = true, .safe = true, .clean = true},
    {.name = "generation", .get = generation, .numeric = true, .safe = true, .clean = true},
};

}  // namespace

std::span<const Definition> builtins() { return kBuiltins; }

}  // namespace gw::http::vars
