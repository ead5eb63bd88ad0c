#include "http/exchange.h"

#include <time.h>

#include <cstdio>
#include <cstring>

#include "core/config/config.h"
#include "core/log.h"
#include "core/text_format.h"
#include "http/admin.h"
#include "http/error_pages.h"
#include "http/grpc/grpc.h"
#include "http/grpc/routes.h"
#include "http/path.h"
#include "http/proxy/headers.h"
#include "http/response.h"
#include "http/server.h"
#include "http/stream.h"
#include "http/vars/vars.h"

namespace gw::http::exchange {

uint64_t micros_since(const struct timespec& start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec - start.tv_sec) * 1000000 + (now.tv_nsec - start.tv_nsec) / 1000;
}

bool normalize_path(Stream& s, const HttpConfig& http, std::string_view& why) {
    Request& req = s.request();
    std::string_view path = req.path;
    if (path.empty() || path[0] != '/') return true;  // "*" of OPTIONS, CONNECT's authority
    if (path_is_plain(path)) return true;
    std::string& buf = s.path_buf;
    switch (normalize_path_full(path, http.path, buf, why)) {
        case PathVerdict::Unchanged: return true;
        case PathVerdict::Normalized:
            if (buf != path) req.path = buf;
            return true;
        case PathVerdict::Invalid: break;
    }
    return false;
}

int special_method_status(const Stream& s) {
    const Request& req = s.request();
    const std::string_view m = req.method;
    if (m.size() == 7 && m == "OPTIONS" && req.path == "*") return 200;
    const bool trace = m == "TRACE", connect = m == "CONNECT";
    if (!trace && !connect) return 0;
    const RouteRuntime& route = const_cast<Stream&>(s).route();
    if (s.route_index() != Router::kNoRoute && (trace ? route.allows_trace : route.allows_connect)) return 0;
    return 405;
}

LocalAnswer local_answer(Server& server, Stream& s, bool admin) {
    static std::string headers, body;  // one worker thread; reused, so no allocation once grown
    LocalAnswer a;
    if (admin) {
        AdminResponse r;
        handle_admin(server, s.request(), r);
        headers = "content-type: ";
        headers += r.content_type;
        headers += "\r\ncache-control: no-store\r\n";
        headers += r.extra_headers;
        body = std::move(r.body);
        return {r.status, headers, body, true};
    }
    RouteRuntime& route = s.route();
    if (s.route_index() == Router::kNoRoute) {
        body = json_error_body(404, "no route matches the request");
        return {404, "content-type: application/json\r\n", body, false};
    }
    // A `return:` route.
    const ReturnAction& ret = *route.ret;
    if (!route.return_dynamic) return {ret.status, route.fixed_headers, route.return_body, true};
    vars::Env env;
    env.stream = &s;
    env.status = ret.status;
    headers = route.fixed_headers;
    if (!ret.location.empty()) {
        size_t start = headers.size();
        headers += "location: ";
        size_t value = headers.size();
        ret.location.render(env, headers, vars::Template::Escape::Header);
        if (headers.size() == value)
            headers.resize(start);  // nothing to redirect to: no field
        else
            headers += "\r\n";
    }
    body.clear();
    ret.body.render(env, body, vars::Template::Escape::Text);
    return {ret.status, headers, body, true};
}

namespace {

// A gRPC route's own error to a gRPC request: 200 with grpc-status and grpc-message, no body
// (gRPC's Trailers-Only response), the filters' fields (RateLimit-*, Retry-After) kept.
uint64_t append_grpc_error(Server& server, Stream& s, std::string& out, int status, std::string_view message,
                           bool keep_alive, std::string_view type) {
    size_t head_start = out.size();
    out += "HTTP/1.1 200 OK\r\nserver: gatewayd\r\ndate: ";
    out += server.date().get();
    out += "\r\ncontent-length: 0";
    out += keep_alive ? "\r\nconnection: keep-alive\r\n" : "\r\nconnection: close\r\n";
    out += "content-type: ";
    out += type;
    out += "\r\ngrpc-status: ";
    int code = static_cast<int>(grpc::status_for_http(status));
    append_number(out, static_cast<uint64_t>(code));
    out += "\r\ngrpc-message: ";
    grpc::append_message(message, out);
    out += "\r\n";
    out += s.response_head_lines(status);
    out += s.id_line();
    s.response_head_bytes = out.size() - head_start;
    if (GrpcRoutes* g = server.grpc_routes()) {
        char text[4];
        int n = snprintf(text, sizeof text, "%d", code);
        g->count_status(s.route_index(), {text, static_cast<size_t>(n)});
    }
    return 0;
}

// The message of the gateway's JSON error body ({"status":N,"error":"..."}), for grpc-message.
std::string_view error_message(std::string_view body, int status) {
    constexpr std::string_view kKey = "\"error\":\"";
    size_t at = body.find(kKey);
    if (at != std::string_view::npos) {
        size_t from = at + kKey.size(), to = body.find('"', from);
        if (to != std::string_view::npos) return body.substr(from, to - from);
    }
    return reason_phrase(status);
}

}  // namespace

uint64_t append_response(Server& server, Stream& s, std::string& out, int status, std::string_view fixed_headers,
                         std::string_view body, bool keep_alive, bool own_answer) {
    if (status >= 400) {
        GrpcRoutes* g = server.grpc_routes();
        if (g && g->is_grpc(s.route_index())) {
            std::string_view type = grpc_answer_type(s.request().header("content-type"));
            if (!type.empty()) return append_grpc_error(server, s, out, status, error_message(body, status), keep_alive, type);
        }
    }
    if (status >= 400 && !own_answer) {
        if (const ErrorPages* pages = server.error_pages()) {
            if (const ErrorPage* page = pages->find(s.route_index(), status)) {
                // The page replaces the body and its type; the other fields stay (Allow,
                // Retry-After, RateLimit-*). The gateway's error heads start with their type.
                static std::string headers, text;  // one worker thread: reused
                if (fixed_headers.starts_with("content-type:")) {
                    size_t eol = fixed_headers.find("\r\n");
                    fixed_headers.remove_prefix(eol == std::string_view::npos ? fixed_headers.size() : eol + 2);
                }
                headers = "content-type: ";
                headers += page->content_type;
                headers += "\r\n";
                headers += fixed_headers;
                vars::Env env;
                env.stream = &s;
                env.status = status;
                text.clear();
                page->body.render(env, text, vars::Template::Escape::Text);
                return append_response(server, s, out, status, headers, text, keep_alive, true);
            }
        }
    }
    bool head = s.request().method == "HEAD";
    bool bodiless_status = status < 200 || status == 204 || status == 304;
    size_t head_start = out.size();
    out += "HTTP/1.1 ";
    append_number(out, static_cast<uint64_t>(status));
    out += ' ';
    out += reason_phrase(status);
    out += "\r\nserver: gatewayd\r\ndate: ";
    out += server.date().get();
    if (!bodiless_status) {
        out += "\r\ncontent-length: ";
        append_number(out, body.size());
    }
    out += keep_alive ? "\r\nconnection: keep-alive\r\n" : "\r\nconnection: close\r\n";
    out += fixed_headers;
    out += s.response_head_lines(status);  // what filters add (RateLimit-*, ...)
    out += s.id_line();  // x-request-id and the head's end
    s.response_head_bytes = out.size() - head_start;
    bool send_body = !head && !bodiless_status;
    if (send_body) out += body;
    return send_body ? body.size() : 0;
}

uint64_t append_reply(Server& server, Stream& s, std::string& out, bool keep_alive) {
    char type[96];
    std::string_view ct = s.reply_content_type();
    size_t n = 0;
    if (!ct.empty() && ct.size() + 18 <= sizeof type) {
        memcpy(type, "content-type: ", 14);
        memcpy(type + 14, ct.data(), ct.size());
        memcpy(type + 14 + ct.size(), "\r\n", 2);
        n = 16 + ct.size();
    }
    if (!s.reply_header_lines().empty()) {
        // A reply with fields of its own (a replayed response): sent as it is, error pages too.
        static std::string lines;  // one worker thread: reused
        lines.assign(type, n);
        lines += s.reply_header_lines();
        return append_response(server, s, out, s.reply_status(), lines, s.reply_body(), keep_alive, true);
    }
    return append_response(server, s, out, s.reply_status(), {type, n}, s.reply_body(), keep_alive);
}

Sent append_stored(Server& server, Stream& s, std::string& out, bool& keep_alive) {
    static Response resp;  // one worker thread: reused (a Response holds a large field array)
    static std::string filtered;
    RouteRuntime& route = s.route();
    const Request& req = s.request();
    bool head_request = req.method == "HEAD";
    if (!split_own_response_head(s.stored_head(), head_request, resp)) {
        LOG_ERROR("a stored response of route \"%s\" is not a head the gateway wrote; answered 500", route.name.c_str());
        keep_alive = false;
        uint64_t n = append_response(server, s, out, 500, "content-type: application/json\r\n",
                                     json_error_body(500, "stored response unreadable"), false, true);
        return {500, n};
    }
    int status = resp.status;
    std::string_view lines = s.response_head_lines(status, &resp);
    bool http10 = req.version_minor == 0;
    bool has_body = resp.body != ResponseBody::None;
    bool transform = has_body && s.body_transformed();
    if (transform && http10) keep_alive = false;  // its end is the connection's
    proxy::ClientResponseInput in;
    in.client_http10 = http10;
    in.chunked = transform && !http10;
    in.body_transformed = transform;
    in.keep_alive = keep_alive;
    in.request_id = s.request_id();
    const Config& config = *server.ctx().config;
    int ri = s.route_index();
    in.ops = ri >= 0 && static_cast<size_t>(ri) < config.routes.size() ? &config.routes[static_cast<size_t>(ri)].response_headers
                                                                        : nullptr;
    vars::Env env;
    env.stream = &s;
    env.status = status;
    in.env = &env;
    in.filter_headers = lines;
    in.filter_field_names = s.response_field_names();
    in.replaced_field_names = s.replaced_fields();
    size_t head_start = out.size();
    proxy::build_client_response(out, resp, in);
    s.response_head_bytes = out.size() - head_start;
    uint64_t sent = 0;
    if (has_body) {
        if (transform) {
            s.filter_body(s.stored_body(), true, filtered);
            if (in.chunked) {
                if (!filtered.empty()) {
                    char size[24];
                    int n = snprintf(size, sizeof size, "%zx\r\n", filtered.size());
                    out.append(size, static_cast<size_t>(n));
                    out += filtered;
                    out += "\r\n";
                }
                out += "0\r\n\r\n";
            } else {
                out += filtered;
            }
            sent = filtered.size();
        } else {
            if (s.has_body_filters()) s.observe_body(s.stored_body(), true);
            out += s.stored_body();
            sent = s.stored_body().size();
        }
    }
    return {status, sent};
}

std::atomic<uint64_t>* log_exchange(Server& server, Stream& s, const ListenerConfig& listener, RouteRuntime& route,
                                    int status, uint64_t body_bytes, uint64_t micros) {
    WorkerContext& ctx = server.ctx();
    if (TraceContext* t = s.trace()) t->finish(*t, s, status, body_bytes);
    // Admin listeners (scrapes, probes) are logged only when asked for.
    if (ctx.access_log->enabled() && (!listener.admin || ctx.config->access_log.log_admin)) {
        const Request& req = s.request();
        AccessLogEntry e;
        e.remote_addr = s.client_address();
        e.method = req.method;
        e.uri = req.target;
        e.version_minor = req.version_minor;
        e.http2 = req.http2;
        e.status = status;
        e.body_bytes_sent = body_bytes;
        e.bytes_sent = s.response_head_bytes + body_bytes;
        e.request_time = static_cast<double>(micros) / 1e6;
        e.route = route.name;
        e.host = req.host;
        if (ctx.access_log->builtin_fields()) {  // (a template reads what it names itself)
            e.user_agent = req.header("user-agent");
            e.referer = req.header("referer");
        }
        e.generation = ctx.generation;
        e.request_id = s.request_id();
        e.upstream = &s.upstream_trace();
        e.stream = &s;
        s.run_log_filters(e);
        ctx.access_log->write(e);
    }
    // The counter is found while the stream still holds its identity (the consumer label, with
    // metrics.per_consumer: the identity belongs to a filter's state, which ends with the stream).
    return listener.admin ? nullptr : server.response_cell(route, status, s.identity());
}

}  // namespace gw::http::exchange
