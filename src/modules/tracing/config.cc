// Reading, checking and dumping `tracing:` and a route's `tracing:` key. Strict like the rest of
// the schema: a bad endpoint URL, a ratio out of 0..1, an unknown key - each at FILE:LINE:COL.
#include "modules/tracing/config.h"

#include "core/config/config.h"
#include "core/config/config_sections.h"
#include "core/config/dump.h"
#include "core/config/schema.h"
#include "core/small_file.h"
#include "http/chars.h"

namespace gw::tracing {

using module::tracing_module;
using schema::MapReader;
using yaml::Node;

namespace {

TracingConfig& building(Config& c) { return module::loading_part<TracingConfig>(c, tracing_module); }

constexpr size_t kMaxCaFileBytes = 1 << 20;

// Header names the exporter sets itself (or the client does).
bool reserved_header(std::string_view name) {
    using http::chars::iequals;
    for (std::string_view r : {"host", "connection", "content-length", "content-type", "transfer-encoding", "te",
                               "upgrade", "expect"})
        if (iequals(name, r)) return true;
    return false;
}

void read_headers(MapReader& m, TracingConfig& t) {
    const Node* node = m.take("headers");
    if (!node || !schema::expect_map(*node, m.path("headers"), m.diags())) return;
    for (const yaml::MapEntry& e : node->entries) {
        std::string path = schema::join_path(m.path("headers"), e.key.text);
        auto v = schema::read_string(e.value, path, m.diags());
        if (!v) continue;
        if (!http::chars::is_token(e.key.text)) {
            schema::report(m.diags(), e.key.mark, path, "\"" + e.key.text + "\" is not a header name");
            continue;
        }
        if (reserved_header(e.key.text)) {
            schema::report(m.diags(), e.key.mark, path, "the exporter sets " + e.key.text + " itself");
            continue;
        }
        bool ok = true;
        for (char c : *v)
            if (!http::chars::is_text(c)) ok = false;
        if (!ok) {
            // (the value is a secret: not repeated in the message)
            schema::report(m.diags(), e.value.mark, path, "a header value may not hold control characters");
            continue;
        }
        t.headers.emplace_back(e.key.text, *v);
    }
}

void read_otlp(MapReader& m, TracingConfig& t, const Config& c) {
    Diagnostics& diags = m.diags();
    if (const Node* ep = m.take("endpoint")) {
        if (auto url = schema::read_string(*ep, m.path("endpoint"), diags)) {
            std::string error;
            t.endpoint.url = *url;
            if (!parse_endpoint(*url, t.endpoint, error) ||
                !parse_upstream_address(t.endpoint.host_port, t.address, t.address_len, error)) {
                schema::report(diags, ep->mark, m.path("endpoint"), error);
            } else if (t.endpoint.tls && !module::find("tls")) {
                schema::report(diags, ep->mark, m.path("endpoint"),
                               "https:// needs the tls module (gatewayd was built --without-tls)");
            }
        }
    } else {
        schema::report(diags, m.mark(), m.path(), "missing required key \"endpoint\"");
    }
    if (const Node* ca = m.key_node("ca")) {
        const Mark at = ca->mark;
        if (m.get_string("ca", t.ca_file)) {
            t.ca_file = config_detail::resolve_path(c.prefix, t.ca_file);
            std::string text, why;
            if (!t.endpoint.tls)
                schema::report(diags, at, m.path("ca"), "only with an https:// endpoint");
            else if (!read_small_file(t.ca_file, kMaxCaFileBytes, text, why))
                schema::report(diags, at, m.path("ca"), "cannot read \"" + t.ca_file + "\": " + why);
            else if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
                schema::report(diags, at, m.path("ca"), "\"" + t.ca_file + "\" holds no PEM certificate");
        }
    }
    m.get_duration("timeout", t.timeout, {10, 60000});
    m.get_int("batch", t.batch, {1, 100000});
    m.get_duration("flush", t.flush, {10, 3600 * 1000});
    read_headers(m, t);
    m.finish();
}

}  // namespace

const TracingConfig* find(const Config& c) {
    const TracingConfig* t = module::find_part<TracingConfig>(c, tracing_module);
    return t && t->enabled ? t : nullptr;
}

void read_sections(MapReader& top, Config& c) {
    auto m = top.get_map("tracing");
    if (!m) return;
    TracingConfig& t = building(c);
    t.enabled = true;
    if (auto otlp = m->get_map("otlp"))
        read_otlp(*otlp, t, c);
    else
        schema::report(m->diags(), m->mark(), m->path(), "missing required key \"otlp\"");
    if (const Node* s = m->take("sample"))
        if (auto r = schema::read_ratio(*s, m->path("sample"), m->diags())) t.sample = *r;
    if (const Node* n = m->take("service_name")) {
        if (auto v = schema::read_string(*n, m->path("service_name"), m->diags())) {
            if (v->empty())
                schema::report(m->diags(), n->mark, m->path("service_name"), "empty name");
            else
                t.service_name = *v;
        }
    }
    m->get_int("buffer", t.buffer, {1, 1000000});
    m->finish();
}

void read_route(MapReader& route, Config& c, size_t index) {
    const Node* v = route.take("tracing");
    if (!v) return;
    auto on = schema::read_bool(*v, route.path("tracing"), route.diags());
    if (!on || *on) return;  // `tracing: true` is the default
    TracingConfig& t = building(c);
    if (t.routes_off.size() <= index) t.routes_off.resize(index + 1, false);
    t.routes_off[index] = true;
}

void check(Config& c, Diagnostics&) {
    const TracingConfig* part = module::find_part<TracingConfig>(c, tracing_module);
    if (!part || !part->enabled) return;
    TracingConfig& t = building(c);
    if (t.buffer == 0) t.buffer = t.batch * 4;
}

void dump(const Config& c, std::string& out) {
    const TracingConfig* t = find(c);
    if (!t) return;
    dump::line(out, 0, "tracing", "");
    dump::line(out, 2, "otlp", "");
    dump::line(out, 4, "endpoint", dump::quote(t->endpoint.url));
    dump::line(out, 4, "timeout", format_duration(t->timeout));
    dump::line(out, 4, "batch", std::to_string(t->batch));
    dump::line(out, 4, "flush", format_duration(t->flush));
    if (!t->ca_file.empty()) dump::line(out, 4, "ca", dump::quote(t->ca_file));
    if (!t->headers.empty()) {
        // Values are secrets (a collector's token): never shown, so this dump does not load
        // back as it is; the names say what the file sets.
        dump::line(out, 4, "headers", "");
        for (const auto& [name, value] : t->headers) dump::line(out, 6, name, dump::quote("<redacted>"));
    }
    dump::line(out, 2, "sample", dump::ratio(t->sample));
    dump::line(out, 2, "service_name", dump::quote(t->service_name));
    dump::line(out, 2, "buffer", std::to_string(t->buffer));
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const TracingConfig* t = module::find_part<TracingConfig>(c, tracing_module);
    if (t && t->route_off(index)) dump::line(out, indent, "tracing", "false");
}

}  // namespace gw::tracing
