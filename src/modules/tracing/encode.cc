// The OTLP/HTTP JSON encoding of a batch of spans (opentelemetry-proto's
// ExportTraceServiceRequest, in the protobuf JSON mapping OTLP/HTTP specifies: lowerCamelCase
// field names, trace and span ids as hex strings, 64-bit integers as decimal strings, enums as
// numbers).
#include <charconv>
#include <string>

#include "core/text_escape.h"
#include "modules/tracing/span.h"

namespace gw::tracing {

namespace {

void quoted(std::string& out, std::string_view s) {
    out += '"';
    append_json_escaped_text(out, s);
    out += '"';
}

void number(std::string& out, uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<size_t>(r.ptr - buf));
}

// Attributes: {"key":K,"value":{"stringValue":V}} / {"intValue":"N"}, comma-separated.
struct Attributes {
    std::string& out;
    bool first = true;
    void key(std::string_view k) {
        out += first ? "{\"key\":\"" : ",{\"key\":\"";
        first = false;
        out += k;  // (our own names: nothing to escape)
        out += "\",\"value\":{";
    }
    void str(std::string_view k, std::string_view v) {
        key(k);
        out += "\"stringValue\":";
        quoted(out, v);
        out += "}}";
    }
    void str_if(std::string_view k, std::string_view v) {
        if (!v.empty()) str(k, v);
    }
    void integer(std::string_view k, uint64_t v) {
        key(k);
        out += "\"intValue\":\"";
        number(out, v);
        out += "\"}}";
    }
};

// "host:port" or "[v6]:port" (a configured server address; unix:/path has no port).
void split_address(std::string_view a, std::string_view& host, std::string_view& port) {
    host = a;
    port = {};
    if (a.starts_with("unix:")) return;
    size_t colon = a.rfind(':');
    if (colon == std::string_view::npos || (a.front() == '[' && a.find(']') > colon)) return;
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
}

uint64_t to_int(std::string_view digits) {
    uint64_t v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return 0;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

void encode_span(const Span& s, std::string& out) {
    out += "{\"traceId\":\"";
    out.append(s.trace_id, 32);
    out += "\",\"spanId\":\"";
    out.append(s.span_id, 16);
    out += '"';
    if (s.has_parent) {
        out += ",\"parentSpanId\":\"";
        out.append(s.parent_id, 16);
        out += '"';
    }
    out += ",\"name\":";
    out += '"';
    append_json_escaped_text(out, s.method.view());
    if (s.kind == Span::kServer) {
        out += ' ';
        append_json_escaped_text(out, s.route);
    }
    out += '"';
    out += ",\"kind\":";
    out += s.kind == Span::kServer ? "2" : "3";
    out += ",\"startTimeUnixNano\":\"";
    number(out, s.start_ns);
    out += "\",\"endTimeUnixNano\":\"";
    number(out, s.end_ns < s.start_ns ? s.start_ns : s.end_ns);
    out += "\",\"attributes\":[";
    Attributes a{out};
    a.str("http.request.method", s.method.view());
    if (s.status) a.integer("http.response.status_code", static_cast<uint64_t>(s.status));
    std::string_view host, port;
    if (s.kind == Span::kServer) {
        a.str("http.route", s.route);
        a.str_if("url.path", s.path.view());
        a.str_if("url.scheme", s.scheme);
        a.str_if("network.protocol.version", s.protocol);
        a.str_if("client.address", s.client.view());
        a.str_if("server.address", s.host.view());
        a.str_if("user_agent.original", s.user_agent.view());
        a.str_if("gateway.consumer", s.consumer.view());
        a.str_if("gateway.upstream.address", s.upstream);
        a.integer("gateway.retries", s.retries);
        a.str_if("gateway.cache_status", s.cache_status);
        a.str_if("gateway.ratelimit", s.ratelimit);
        a.str_if("gateway.request_id", s.request_id.view());
    } else {
        split_address(s.upstream, host, port);
        a.str("server.address", host);
        if (!port.empty()) a.integer("server.port", to_int(port));
        a.str_if("error.type", s.error_message);
    }
    out += ']';
    if (s.error) {
        out += ",\"status\":{\"code\":2";
        if (!s.error_message.empty()) {
            out += ",\"message\":";
            quoted(out, s.error_message);
        }
        out += '}';
    }
    out += '}';
}

}  // namespace

void encode_spans(const SpanRing& ring, size_t n, std::string_view service_name, std::string& out) {
    out.clear();
    out += "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
    Attributes r{out};
    r.str("service.name", service_name);
    r.str("service.version", GW_VERSION);
    r.str("telemetry.sdk.name", "gatewayd");
    out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"gatewayd\",\"version\":";
    quoted(out, GW_VERSION);
    out += "},\"spans\":[";
    for (size_t i = 0; i < n && i < ring.size(); ++i) {
        if (i) out += ',';
        encode_span(ring.at(i), out);
    }
    out += "]}]}]}";
}

}  // namespace gw::tracing
