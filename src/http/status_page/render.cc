// render_page(): the status page's HTML from a /status/live document, and the sections of the
// node and the proxy. Every value from the configuration or from requests (names, addresses,
// label values) goes through esc(); class names come from fixed lists only. The rows and cells
// carry data-k (the row's key) and data-f (the field) for the page's script, which fills the
// same cells from later documents (assets.cc).
#include <ctime>
#include <string_view>

#include "http/status_page/assets.h"
#include "http/status_page/html.h"
#include "http/status_page/page.h"
#include "http/status_page/sections.h"

namespace gw::http::status_page {

void node_section(std::string& o, const Json& d, const Families& fams) {
    o += "<header><h1>gatewayd <span class=\"version\">";
    esc(o, d["version"].str());
    o += "</span></h1>\n<p class=\"meta\">generation <b id=\"generation\">";
    esc(o, d["generation"].str());
    o += "</b> \xc2\xb7 uptime <b id=\"uptime\">";
    duration(o, d["uptime_seconds"].num());
    o += "</b> \xc2\xb7 master pid ";
    esc(o, d["master_pid"].str());
    o += " \xc2\xb7 <span id=\"live-state\" class=\"snapshot\">snapshot of ";
    time_t t = time_t(d["time_ms"].num() / 1000);
    tm utc{};
    gmtime_r(&t, &utc);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &utc);
    o += when;
    double all = 0, e5 = 0;
    if (const Json* f = family(fams, "gateway_http_requests_total"))
        for (const Json& s : (*f)["series"].items) {
            all += s["value"].num();
            if (s["labels"]["code"].str().starts_with("5")) e5 += s["value"].num();
        }
    o += "</span></p>\n<p class=\"totals\">requests <b id=\"total-requests\">";
    count(o, all);
    o += "</b> \xc2\xb7 <b id=\"total-rps\">\xe2\x80\x93</b> req/s \xc2\xb7 5xx <b id=\"total-5xx\">";
    ratio(o, e5, all);
    o += "</b> <span id=\"total-spark\" class=\"spark\"></span></p>\n"
         "<p class=\"note\" id=\"mode-note\">A snapshot: counts, ratios and latency percentiles since "
         "the start. With JavaScript on, the page refreshes every 2 s and shows rates, ratios and "
         "percentiles over the last interval, with sparklines of the last 5 minutes.</p></header>\n";
}

void workers_section(std::string& o, const Json& d) {
    section_head(o, "workers", "Workers");
    o += "<table><thead><tr><th>slot</th><th>pid</th><th>generation</th><th>state</th>"
         "<th class=\"n\">requests</th><th class=\"n\">connections</th></tr></thead><tbody>\n";
    for (const Json& w : d["workers"].items) {
        o += "<tr data-k=\"";
        esc(o, w["slot"].str());
        o += "\"><td>";
        esc(o, w["slot"].str());
        o += "</td>";
        cell(o, "pid", "");
        esc(o, w["pid"].str());
        o += "</td>";
        cell(o, "generation", "");
        esc(o, w["generation"].str());
        o += "</td>";
        cell(o, "state", "s");
        badge(o, w["state"].str());
        o += "</td>";
        cell(o, "requests");
        esc(o, w["requests"].str());
        o += "</td>";
        cell(o, "connections");
        esc(o, w["connections"].str());
        o += "</td></tr>\n";
    }
    if (d["workers"].items.empty()) o += "<tr><td colspan=\"6\">no workers</td></tr>\n";
    o += "</tbody></table></section>\n";
}

void listeners_section(std::string& o, const Json& d) {
    section_head(o, "listeners", "Listeners");
    o += "<table><thead><tr><th>address</th><th>tls</th><th>http2</th><th>admin</th>"
         "<th>proxy protocol</th></tr></thead><tbody>\n";
    for (const Json& l : d["listeners"].items) {
        o += "<tr><td>";
        esc(o, l["address"].str());
        o += "</td><td>";
        badge(o, l["tls"].boolean ? "yes" : "no");
        o += "</td><td>";
        esc(o, l["http2"].str());
        o += "</td><td>";
        badge(o, l["admin"].boolean ? "yes" : "no");
        o += "</td><td>";
        badge(o, l["proxy_protocol"].boolean ? "yes" : "no");
        o += "</td></tr>\n";
    }
    o += "</tbody></table></section>\n";
}

namespace {

// One route's row; `r` null: the requests no route matched (route="", answered 404).
void route_row(std::string& o, std::string_view name, const Json* r, const RouteCounts& c, const Hist& h) {
    double n = c.all, c4 = c.c4xx, c5 = c.c5xx;
    o += "<tr data-k=\"";
    esc(o, name);
    o += "\"><td class=\"name\">";
    if (!r) {
        o += "<em>no route</em></td><td>404";
    } else {
        esc(o, name);
        o += "</td><td>";
        const Json& route = *r;
        if (!route["upstream"].is_null()) {
            esc(o, route["upstream"].str());
        } else if (route["split"].is_array()) {
            o += "split: ";
            bool first = true;
            for (const Json& u : route["split"].items) {
                if (!first) o += ", ";
                first = false;
                esc(o, u.str());
            }
        } else if (!route["return"].is_null()) {
            o += "return ";
            esc(o, route["return"].str());
        }
    }
    o += "</td>";
    count_cell(o, "requests", n);
    cell(o, "rps");
    o += kDash;
    o += "</td>";
    cell(o, "e4");
    ratio(o, c4, n);
    o += "</td>";
    cell(o, "e5");
    ratio(o, c5, n);
    o += "</td>";
    cell(o, "p50");
    seconds(o, h.quantile(0.5));
    o += "</td>";
    cell(o, "p90");
    seconds(o, h.quantile(0.9));
    o += "</td>";
    cell(o, "p99");
    seconds(o, h.quantile(0.99));
    o += "</td>";
    cell(o, "spark", "spark");
    o += "</td></tr>\n";
}

}  // namespace

void routes_section(std::string& o, const Json& d, const Families& fams) {
    section_head(o, "routes", "Routes");
    o += "<table><thead><tr><th>route</th><th>target</th><th class=\"n\">requests</th>"
         "<th class=\"n\">req/s</th><th class=\"n\">4xx</th><th class=\"n\">5xx</th><th class=\"n\">p50</th>"
         "<th class=\"n\">p90</th><th class=\"n\">p99</th><th>trend</th></tr></thead><tbody>\n";
    auto counts = route_counts(fams);
    auto hists = histograms_by(fams, "gateway_http_request_duration_seconds", "route");
    auto row = [&](std::string_view name, const Json* r) {
        auto c = counts.find(name);
        auto h = hists.find(name);
        route_row(o, name, r, c == counts.end() ? RouteCounts{} : c->second, h == hists.end() ? Hist{} : h->second);
    };
    for (const Json& r : d["routes"].items) row(r["name"].str(), &r);
    // Requests no route matched are counted under route="" once there are some.
    bool unmatched = counts.contains("");
    if (unmatched) row("", nullptr);
    if (d["routes"].items.empty() && !unmatched) o += "<tr><td colspan=\"10\">no routes</td></tr>\n";
    o += "</tbody></table></section>\n";
}

void upstreams_section(std::string& o, const Json& d, const Families& fams) {
    if (d["upstreams"].items.empty()) return;
    section_head(o, "upstreams", "Upstream servers");
    o += "<table><thead><tr><th>upstream</th><th>server</th><th>health</th><th>breaker</th>"
         "<th class=\"n\">in flight</th><th class=\"n\">passive failures</th><th class=\"n\">requests</th>"
         "<th class=\"n\">req/s</th><th class=\"n\">errors</th><th>trend</th></tr></thead><tbody>\n";
    SumsBy active = sums_by(fams, "gateway_upstream_active_requests", "upstream", "server");
    SumsBy requests = sums_by(fams, "gateway_upstream_requests_total", "upstream", "server");
    SumsBy errors = sums_by(fams, "gateway_upstream_errors_total", "upstream", "server");
    for (const Json& u : d["upstreams"].items) {
        std::string_view un = u["name"].str();
        for (const Json& s : u["servers"].items) {
            std::string_view addr = s["address"].str();
            o += "<tr data-k=\"";
            esc(o, un);
            o += ' ';
            esc(o, addr);
            o += "\"><td class=\"name\">";
            esc(o, un);
            o += "</td><td>";
            esc(o, addr);
            o += "</td>";
            cell(o, "health", "s");
            badge(o, s["health"].str());
            o += "</td>";
            cell(o, "circuit", "s");
            if (s["circuit"].is_null()) o += kDash;
            else badge(o, s["circuit"].str());
            o += "</td>";
            count_cell(o, "inflight", at(active, un, addr));
            cell(o, "fails");
            if (s["passive_fails"].is_null()) o += kDash;
            else esc(o, s["passive_fails"].str());
            o += "</td>";
            count_cell(o, "requests", at(requests, un, addr));
            cell(o, "rps");
            o += kDash;
            o += "</td>";
            count_cell(o, "errors", at(errors, un, addr));
            cell(o, "spark", "spark");
            o += "</td></tr>\n";
        }
    }
    o += "</tbody></table></section>\n";
}

void render_page(const Json& d, std::string& o) {
    Families fams = families(d);

    o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>gatewayd status</title>\n<style>";
    o += page_style();
    o += "</style>\n</head>\n<body>\n";
    node_section(o, d, fams);
    o += "<main>\n";
    workers_section(o, d);
    listeners_section(o, d);
    routes_section(o, d, fams);
    upstreams_section(o, d, fams);
    ratelimits_section(o, fams);
    cache_section(o, d, fams);
    tls_section(o, fams);
    http2_section(o, fams);
    grpc_section(o, fams);
    other_sections(o, d);
    o += "</main>\n<footer><a href=\"/status/live\">/status/live</a> \xc2\xb7 <a href=\"/status\">/status</a> "
         "\xc2\xb7 <a href=\"/metrics\">/metrics</a></footer>\n<script>";
    o += page_script();
    o += "</script>\n</body>\n</html>\n";
}

}  // namespace gw::http::status_page
