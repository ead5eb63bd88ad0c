#include "http/proxy/headers.h"

#include "core/text_format.h"
#include "http/chars.h"

#include <cstring>

namespace gw::http::proxy {

namespace {

// Calls fn(token) for each comma-separated token of a header list value, trimmed.
template <typename Fn>
bool any_token(std::string_view list, Fn&& fn) {
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view t = list.substr(0, comma);
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (!t.empty() && fn(t)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

bool in_ops(const HeaderOps* ops, std::string_view name) {
    if (!ops || !(ops->replaced_lengths >> std::min<size_t>(name.size(), 63) & 1)) return false;
    for (const HeaderOp& h : ops->set)
        if (iequals(h.name, name)) return true;
    for (const std::string& n : ops->remove)
        if (iequals(n, name)) return true;
    return false;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

// One `set:`/`add:` field, its value rendered for this request. False, writing nothing, when the
// value renders empty: no field then (a variable without a value: nginx does the same).
bool append_field(StringWriter& out, const HeaderOp& h, const vars::Env* env) {
    static const vars::Env kNone;
    uint64_t start = out.size();
    out += h.field_start;
    uint64_t value = out.size();
    const vars::Template::Piece* only = h.value.single_variable();
    if (only && only->clean)  // the usual `X-Real-IP: $remote_addr`: the getter alone
        only->get(env ? *env : kNone, only->param, out);
    else
        h.value.render(env ? *env : kNone, out, vars::Template::Escape::Header);
    if (out.size() == value) {
        out.truncate(start);
        return false;
    }
    out += "\r\n";
    return true;
}

// The route's `set:` and `add:` fields; `skip`: a name written elsewhere (the request's Host).
void append_set_ops(std::string& out, const HeaderOps* ops, const vars::Env* env, std::string_view skip = {}) {
    if (!ops || (ops->set.empty() && ops->add.empty())) return;
    StringWriter w(out);
    for (const std::vector<HeaderOp>* fields : {&ops->set, &ops->add})
        for (const HeaderOp& h : *fields)
            if (h.name != skip) append_field(w, h, env);
}

bool names_one_of(std::string_view name, std::span<const std::string_view> names) {
    for (std::string_view n : names)
        if (n.size() == name.size() && iequals(n, name)) return true;
    return false;
}

// The one Host of an upstream request: the route's `set:` value when it renders one (a
// variable without a value must not leave the request without a Host), else the parsed
// request's, which prefers an absolute-form target's authority over the raw header, so the
// upstream sees the host the route was chosen by. HTTP/1.1 requires a Host: an HTTP/1.0
// request without one gets the upstream's name.
void append_host(std::string& out, const Request& req, const UpstreamRequestInput& in) {
    if (in.ops)
        for (const HeaderOp& h : in.ops->set) {
            if (h.name != "host") continue;
            StringWriter w(out);
            if (append_field(w, h, in.env)) return;
        }
    append_header(out, "host", req.host.empty() ? in.default_host : req.host);
}

}  // namespace

bool valid_traceparent(std::string_view v) {
    // version "00" - 32 hex trace-id (not all zero) - 16 hex parent-id (not all zero) - 2 hex flags
    if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
    auto hex = [](std::string_view s) {
        for (char c : s)
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
        return true;
    };
    auto zero = [](std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; };
    std::string_view version = v.substr(0, 2), trace = v.substr(3, 32), parent = v.substr(36, 16),
                     flags = v.substr(53, 2);
    return hex(version) && version != "ff" && hex(trace) && !zero(trace) && hex(parent) && !zero(parent) &&
           hex(flags);
}

std::string_view connection_listed_fields(std::string_view connection_value) {
    bool other = any_token(connection_value, [](std::string_view t) {
        switch (t.size()) {  // the options and fields that are hop-by-hop whatever Connection says
            case 2: return !iequals(t, "te");
            case 5: return !iequals(t, "close");
            case 7: return !iequals(t, "upgrade") && !iequals(t, "trailer");
            case 10: return !iequals(t, "keep-alive");
            case 17: return !iequals(t, "transfer-encoding");
            default: return true;
        }
    });
    return other ? connection_value : std::string_view();
}

bool is_hop_by_hop(std::string_view name, std::string_view connection_value) {
    switch (name.size()) {
        case 2: if (iequals(name, "te")) return true; break;
        case 7: if (iequals(name, "upgrade") || iequals(name, "trailer")) return true; break;
        case 10: if (iequals(name, "connection") || iequals(name, "keep-alive")) return true; break;
        case 17: if (iequals(name, "transfer-encoding")) return true; break;
        default: break;
    }
    if (name.size() > 6 && iequals(name.substr(0, 6), "proxy-")) return true;
    if (!connection_value.empty()) {
        if (name.size() == 14 && iequals(name, "content-length")) return false;  // framing stays
        return any_token(connection_value, [&](std::string_view t) { return iequals(t, name); });
    }
    return false;
}

void build_upstream_request(std::string& out, const Request& req, const UpstreamRequestInput& in) {
    out += req.method;
    out += ' ';
    out += in.target;
    out += " HTTP/1.1\r\n";
    append_host(out, req, in);
    std::string_view connection = connection_listed_fields(req.header("connection"));
    size_t xff_count = 0;
    for (size_t i = 0; i < req.header_count; ++i) {
        const Header& h = req.headers[i];
        if (h.name.size() == 4 && iequals(h.name, "host")) continue;
        if (is_hop_by_hop(h.name, connection)) continue;
        if (h.name.size() == 15 && iequals(h.name, "x-forwarded-for")) {
            ++xff_count;  // combined below
            continue;
        }
        if ((h.name.size() == 17 && iequals(h.name, "x-forwarded-proto")) ||
            (h.name.size() == 16 && iequals(h.name, "x-forwarded-host")) ||
            (h.name.size() == 12 && iequals(h.name, "x-request-id")) ||
            (h.name.size() == 11 && iequals(h.name, "traceparent")) ||
            (h.name.size() == 14 && iequals(h.name, "content-length")) ||
            (h.name.size() == 6 && iequals(h.name, "expect")) || in_ops(in.ops, h.name))
            continue;
        if (!in.filter_field_names.empty() && names_one_of(h.name, in.filter_field_names)) continue;
        append_header(out, h.name, h.value);
    }
    if (!in_ops(in.ops, "x-forwarded-for")) {
        out += "x-forwarded-for: ";
        // Several X-Forwarded-For fields are one list, in order (RFC 9110 §5.3).
        for (size_t i = 0; xff_count > 0 && i < req.header_count; ++i) {
            const Header& h = req.headers[i];
            if (h.name.size() != 15 || !iequals(h.name, "x-forwarded-for")) continue;
            --xff_count;
            if (h.value.empty()) continue;
            out += h.value;
            out += ", ";
        }
        out += in.client_ip;
        out += "\r\n";
    }
    if (!in_ops(in.ops, "x-forwarded-proto"))
        out += in.https ? std::string_view("x-forwarded-proto: https\r\n") : std::string_view("x-forwarded-proto: http\r\n");
    if (!in_ops(in.ops, "x-forwarded-host") && !req.host.empty()) append_header(out, "x-forwarded-host", req.host);
    if (!in_ops(in.ops, "x-request-id")) append_header(out, "x-request-id", in.request_id);
    if (!in_ops(in.ops, "traceparent")) append_header(out, "traceparent", in.traceparent);
    append_set_ops(out, in.ops, in.env, "host");  // (written first, and only once)
    if (!in.filter_lines.empty()) out += in.filter_lines;
    if (in.chunked_body) {
        out += "transfer-encoding: chunked\r\n";
    } else if (in.has_length) {
        out += "content-length: ";
        append_number(out, in.length);
        out += "\r\n";
    }
    if (in.upgrade) {
        append_header(out, "upgrade", req.header("upgrade"));
        out += "connection: upgrade\r\n";
    }
    out += "\r\n";
}

namespace {

// The upstream's status line, as HTTP/1.1 (the version we speak to the client).
void append_status_line(std::string& out, const Response& resp) {
    out += "HTTP/1.1 ";
    append_number(out, static_cast<uint64_t>(resp.status));
    out += ' ';
    out += resp.reason;
    out += "\r\n";
}

}  // namespace

namespace {

// Where a client response head goes: HTTP/1 bytes ...
struct Http1Head {
    std::string& out;
    void status(const Response& resp) { append_status_line(out, resp); }
    void field(std::string_view name, std::string_view value) { append_header(out, name, value); }
    void lines(std::string_view lines) { out += lines; }
    void set_ops(const HeaderOps* ops, const vars::Env* env) { append_set_ops(out, ops, env); }
};

// ... or fields, for a codec that takes them (HTTP/2).
struct SinkHead {
    ResponseFieldSink& sink;
    void status(const Response& resp) { sink.head_status(resp.status); }
    void field(std::string_view name, std::string_view value) { sink.head_field(name, value); }
    void lines(std::string_view lines) {
        if (!lines.empty()) sink.head_lines(lines);
    }
    void set_ops(const HeaderOps* ops, const vars::Env* env) {
        if (!ops || (ops->set.empty() && ops->add.empty())) return;
        thread_local std::string rendered;  // (reused: no allocation per response)
        rendered.clear();
        append_set_ops(rendered, ops, env);
        lines(rendered);
    }
};

// The status and the fields of the head for the client, without the framing and connection
// fields (those differ by protocol).
template <typename Head>
void write_client_head(Head& head, const Response& resp, const ClientResponseInput& in) {
    head.status(resp);
    std::string_view connection = connection_listed_fields(resp.connection);
    bool has_request_id = false;
    // The upstream's fields that the filters set themselves go.
    std::span<const std::string_view> replaced = in.filter_headers.empty() ? std::span<const std::string_view>() : in.filter_field_names;
    for (size_t i = 0; i < resp.header_count; ++i) {
        const Header& h = resp.headers[i];
        if (is_hop_by_hop(h.name, connection) || in_ops(in.ops, h.name)) continue;
        if (h.name.size() == 12 && iequals(h.name, "x-request-id")) has_request_id = true;
        if (!replaced.empty() && names_one_of(h.name, replaced)) continue;
        if (in.body_transformed && h.name.size() == 14 && iequals(h.name, "content-length")) continue;
        if (!in.replaced_field_names.empty() && names_one_of(h.name, in.replaced_field_names)) continue;
        head.field(h.name, h.value);
    }
    head.set_ops(in.ops, in.env);
    if (!has_request_id && !in.request_id.empty() && !in_ops(in.ops, "x-request-id"))
        head.field("x-request-id", in.request_id);
    head.lines(in.filter_headers);
}

}  // namespace

void build_client_response(std::string& out, const Response& resp, const ClientResponseInput& in) {
    Http1Head head{out};
    write_client_head(head, resp, in);
    if (in.upgrade) {
        append_header(out, "upgrade", resp.header("upgrade"));
        out += "connection: upgrade\r\n\r\n";
        return;
    }
    if (in.chunked) out += "transfer-encoding: chunked\r\n";
    out += in.keep_alive ? "connection: keep-alive\r\n\r\n" : "connection: close\r\n\r\n";
}

uint64_t build_client_response(ResponseFieldSink& sink, const Response& resp, const ClientResponseInput& in) {
    SinkHead head{sink};
    write_client_head(head, resp, in);
    return sink.head_end(in.chunked);
}

void build_interim_response(std::string& out, const Response& resp, const HeaderOps* ops, const vars::Env* env) {
    append_status_line(out, resp);
    std::string_view connection = connection_listed_fields(resp.connection);
    for (size_t i = 0; i < resp.header_count; ++i) {
        const Header& h = resp.headers[i];
        if (is_hop_by_hop(h.name, connection) || in_ops(ops, h.name)) continue;
        append_header(out, h.name, h.value);
    }
    append_set_ops(out, ops, env);
    out += "\r\n";
}

}  // namespace gw::http::proxy
