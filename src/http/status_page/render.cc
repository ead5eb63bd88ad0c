// render_page(): the status page's HTML from a /status/live document. Every value from the
// configuration or from requests (names, addresses, label values) goes through
// append_html_escaped; class names come from fixed lists only. The rows and cells carry
// data-k (the row's key) and data-f (the field) for the page's script, which fills the same
// cells from later documents (assets.cc).
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <string_view>
#include <vector>

#include "core/text_escape.h"
#include "http/status_page/assets.h"
#include "http/status_page/json.h"
#include "http/status_page/page.h"

namespace gw::http::status_page {

namespace {

using Families = std::map<std::string_view, const Json*>;

void esc(std::string& o, std::string_view s) { append_html_escaped(o, s); }

void fmt(std::string& o, const char* f, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, f, v);
    o += buf;
}

void count(std::string& o, double v) { fmt(o, "%.0f", v); }

// 0.000123 -> "123 µs", 0.0123 -> "12.3 ms", 1.5 -> "1.50 s"; NaN (no observations) -> "–".
void seconds(std::string& o, double s) {
    if (std::isnan(s)) {
        o += "\xe2\x80\x93";
        return;
    }
    if (s < 0.001) fmt(o, "%.0f \xc2\xb5s", s * 1e6);
    else if (s < 1) fmt(o, s < 0.01 ? "%.2f ms" : s < 0.1 ? "%.1f ms" : "%.0f ms", s * 1e3);
    else fmt(o, "%.2f s", s);
}

void ratio(std::string& o, double part, double whole) {
    if (whole <= 0) {
        o += "\xe2\x80\x93";
        return;
    }
    fmt(o, "%.2f %%", 100.0 * part / whole);
}

void duration(std::string& o, double secs) {
    long long t = (long long)secs, d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, s = t % 60;
    char buf[64];
    if (d) snprintf(buf, sizeof buf, "%lldd %lldh %lldm", d, h, m);
    else if (h) snprintf(buf, sizeof buf, "%lldh %lldm %llds", h, m, s);
    else if (m) snprintf(buf, sizeof buf, "%lldm %llds", m, s);
    else snprintf(buf, sizeof buf, "%llds", s);
    o += buf;
}

// A badge: the class from a fixed list, the text escaped.
void badge(std::string& o, std::string_view value) {
    static constexpr std::string_view known[] = {"up", "down", "passive_down", "closed", "open", "half-open",
                                                 "ready", "starting", "draining", "yes", "no"};
    std::string_view cls = "other";
    for (std::string_view k : known)
        if (value == k) cls = k;
    o += "<span class=\"badge b-";
    o += cls;
    o += "\">";
    esc(o, value);
    o += "</span>";
}

const Json* family(const Families& fams, std::string_view name) {
    auto it = fams.find(name);
    return it == fams.end() ? nullptr : it->second;
}

// The sum of a counter or gauge family's series whose labels match all of `want`.
double sum(const Families& fams, std::string_view name,
           std::initializer_list<std::pair<std::string_view, std::string_view>> want) {
    const Json* f = family(fams, name);
    if (!f) return 0;
    double total = 0;
    for (const Json& s : (*f)["series"].items) {
        bool match = true;
        for (auto& [k, v] : want)
            if (s["labels"][k].str() != v) match = false;
        if (match) total += s["value"].num();
    }
    return total;
}

struct Hist {
    std::vector<double> le;    // finite bounds
    std::vector<double> cum;   // cumulative counts, le.size() + 1
    double total() const { return cum.empty() ? 0 : cum.back(); }
    // As Prometheus's histogram_quantile: linear within the bucket, the highest finite bound
    // for the +Inf bucket. NaN without observations.
    double quantile(double q) const {
        double n = total();
        if (n <= 0 || le.empty()) return NAN;
        double rank = q * n;
        size_t i = 0;
        while (i + 1 < cum.size() && cum[i] < rank) ++i;
        if (i >= le.size()) return le.back();
        double lo = i ? le[i - 1] : 0, prev = i ? cum[i - 1] : 0;
        double in = cum[i] - prev;
        return in > 0 ? lo + (le[i] - lo) * (rank - prev) / in : le[i];
    }
};

// The histograms of `name` whose label `key` is `value`, added bucket by bucket.
Hist histogram(const Families& fams, std::string_view name, std::string_view key, std::string_view value) {
    Hist h;
    const Json* f = family(fams, name);
    if (!f) return h;
    for (const Json& s : (*f)["series"].items) {
        if (s["labels"][key].str() != value) continue;
        const auto& le = s["le"].items;
        const auto& b = s["buckets"].items;
        if (b.size() != le.size() + 1) continue;
        if (h.cum.empty()) {
            for (const Json& x : le) h.le.push_back(x.num());
            h.cum.assign(b.size(), 0);
        }
        if (h.cum.size() != b.size()) continue;
        for (size_t i = 0; i < b.size(); ++i) h.cum[i] += b[i].num();
    }
    return h;
}

bool has_series(const Families& fams, std::string_view name) {
    const Json* f = family(fams, name);
    return f && !(*f)["series"].items.empty();
}

// A cell the page's script fills: data-f names the field; `cls` "n" right-aligns a number.
void cell(std::string& o, std::string_view field, std::string_view cls = "n") {
    o += "<td";
    if (!cls.empty()) {
        o += " class=\"";
        o += cls;
        o += '"';
    }
    o += " data-f=\"";
    o += field;  // a literal of this file
    o += "\">";
}

void section_head(std::string& o, std::string_view id, std::string_view title) {
    o += "<section id=\"";
    o += id;
    o += "\"><h2>";
    o += title;
    o += "</h2>\n";
}

void node(std::string& o, const Json& d, const Families& fams) {
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
    o += "</span></p>\n<p class=\"totals\">requests <b id=\"total-requests\">";
    count(o, sum(fams, "gateway_http_requests_total", {}));
    o += "</b> \xc2\xb7 <b id=\"total-rps\">\xe2\x80\x93</b> req/s \xc2\xb7 5xx <b id=\"total-5xx\">";
    double all = sum(fams, "gateway_http_requests_total", {}), e5 = 0;
    if (const Json* f = family(fams, "gateway_http_requests_total"))
        for (const Json& s : (*f)["series"].items)
            if (s["labels"]["code"].str().starts_with("5")) e5 += s["value"].num();
    ratio(o, e5, all);
    o += "</b> <span id=\"total-spark\" class=\"spark\"></span></p>\n"
         "<p class=\"note\" id=\"mode-note\">A snapshot: counts, ratios and latency percentiles since "
         "the start. With JavaScript on, the page refreshes every 2 s and shows rates, ratios and "
         "percentiles over the last interval, with sparklines of the last 5 minutes.</p></header>\n";
}

void workers(std::string& o, const Json& d) {
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

void listeners(std::string& o, const Json& d) {
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

// One route's row; `r` null: the requests no route matched (route="", answered 404).
void route_row(std::string& o, const Families& fams, std::string_view name, const Json* r) {
    double n = 0, c4 = 0, c5 = 0;
    if (const Json* req = family(fams, "gateway_http_requests_total"))
        for (const Json& s : (*req)["series"].items) {
            if (s["labels"]["route"].str() != name) continue;
            double v = s["value"].num();
            n += v;
            std::string_view code = s["labels"]["code"].str();
            if (code.starts_with("4")) c4 += v;
            if (code.starts_with("5")) c5 += v;
        }
    Hist h = histogram(fams, "gateway_http_request_duration_seconds", "route", name);
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
    cell(o, "requests");
    count(o, n);
    o += "</td>";
    cell(o, "rps");
    o += "\xe2\x80\x93</td>";
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

void routes(std::string& o, const Json& d, const Families& fams) {
    section_head(o, "routes", "Routes");
    o += "<table><thead><tr><th>route</th><th>target</th><th class=\"n\">requests</th>"
         "<th class=\"n\">req/s</th><th class=\"n\">4xx</th><th class=\"n\">5xx</th><th class=\"n\">p50</th>"
         "<th class=\"n\">p90</th><th class=\"n\">p99</th><th>trend</th></tr></thead><tbody>\n";
    for (const Json& r : d["routes"].items) route_row(o, fams, r["name"].str(), &r);
    // Requests no route matched are counted under route="" once there are some.
    bool unmatched = false;
    if (const Json* req = family(fams, "gateway_http_requests_total"))
        for (const Json& s : (*req)["series"].items) unmatched = unmatched || s["labels"]["route"].str().empty();
    if (unmatched) route_row(o, fams, "", nullptr);
    if (d["routes"].items.empty() && !unmatched) o += "<tr><td colspan=\"10\">no routes</td></tr>\n";
    o += "</tbody></table></section>\n";
}

void upstreams(std::string& o, const Json& d, const Families& fams) {
    if (d["upstreams"].items.empty()) return;
    section_head(o, "upstreams", "Upstream servers");
    o += "<table><thead><tr><th>upstream</th><th>server</th><th>health</th><th>breaker</th>"
         "<th class=\"n\">in flight</th><th class=\"n\">passive failures</th><th class=\"n\">requests</th>"
         "<th class=\"n\">req/s</th><th class=\"n\">errors</th><th>trend</th></tr></thead><tbody>\n";
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
            if (s["circuit"].is_null()) o += "\xe2\x80\x93";
            else badge(o, s["circuit"].str());
            o += "</td>";
            cell(o, "inflight");
            count(o, sum(fams, "gateway_upstream_active_requests", {{"upstream", un}, {"server", addr}}));
            o += "</td>";
            cell(o, "fails");
            if (s["passive_fails"].is_null()) o += "\xe2\x80\x93";
            else esc(o, s["passive_fails"].str());
            o += "</td>";
            cell(o, "requests");
            count(o, sum(fams, "gateway_upstream_requests_total", {{"upstream", un}, {"server", addr}}));
            o += "</td>";
            cell(o, "rps");
            o += "\xe2\x80\x93</td>";
            cell(o, "errors");
            count(o, sum(fams, "gateway_upstream_errors_total", {{"upstream", un}, {"server", addr}}));
            o += "</td>";
            cell(o, "spark", "spark");
            o += "</td></tr>\n";
        }
    }
    o += "</tbody></table></section>\n";
}

// The distinct values of label `key` in a family, in the order they first appear.
std::vector<std::string_view> label_values(const Families& fams, std::string_view name, std::string_view key) {
    std::vector<std::string_view> out;
    if (const Json* f = family(fams, name))
        for (const Json& s : (*f)["series"].items) {
            std::string_view v = s["labels"][key].str();
            bool seen = false;
            for (std::string_view x : out) seen = seen || x == v;
            if (!seen) out.push_back(v);
        }
    return out;
}

void ratelimits(std::string& o, const Families& fams) {
    const char* fam = "gateway_ratelimit_decisions_total";
    if (!has_series(fams, fam)) return;
    section_head(o, "ratelimits", "Rate limits");
    o += "<table><thead><tr><th>policy</th><th class=\"n\">allowed</th><th class=\"n\">rejected</th>"
         "<th class=\"n\">dry-run rejected</th><th class=\"n\">fallback</th><th class=\"n\">allowed/s</th>"
         "<th class=\"n\">rejected/s</th><th>trend</th></tr></thead><tbody>\n";
    for (std::string_view p : label_values(fams, fam, "policy")) {
        o += "<tr data-k=\"";
        esc(o, p);
        o += "\"><td class=\"name\">";
        esc(o, p);
        o += "</td>";
        cell(o, "allowed");
        count(o, sum(fams, fam, {{"policy", p}, {"result", "allowed"}}));
        o += "</td>";
        cell(o, "rejected");
        count(o, sum(fams, fam, {{"policy", p}, {"result", "rejected"}}));
        o += "</td>";
        cell(o, "dry");
        count(o, sum(fams, fam, {{"policy", p}, {"result", "dry_run_rejected"}}));
        o += "</td>";
        cell(o, "fallback");
        count(o, sum(fams, fam, {{"policy", p}, {"result", "fallback_allowed"}}) +
                     sum(fams, fam, {{"policy", p}, {"result", "fallback_rejected"}}) +
                     sum(fams, fam, {{"policy", p}, {"result", "fallback_dry_run_rejected"}}));
        o += "</td>";
        cell(o, "aps");
        o += "\xe2\x80\x93</td>";
        cell(o, "rps");
        o += "\xe2\x80\x93</td>";
        cell(o, "spark", "spark");
        o += "</td></tr>\n";
    }
    o += "</tbody></table></section>\n";
}

// A family as a table: one column per label, then the value. Rows keyed by the label values.
void family_table(std::string& o, const Families& fams, std::string_view name, std::string_view caption) {
    const Json* f = family(fams, name);
    if (!f || (*f)["series"].items.empty()) return;
    const auto& series = (*f)["series"].items;
    std::vector<std::string_view> keys;
    for (const Json& s : series)
        for (const auto& [k, v] : s["labels"].members) {
            bool seen = false;
            for (std::string_view x : keys) seen = seen || x == k;
            if (!seen) keys.push_back(k);
        }
    o += "<table class=\"family\" data-family=\"";
    esc(o, name);
    o += "\"><caption>";
    esc(o, caption);
    o += " <code>";
    esc(o, name);
    o += "</code></caption><thead><tr>";
    for (std::string_view k : keys) {
        o += "<th>";
        esc(o, k);
        o += "</th>";
    }
    o += "<th class=\"n\">value</th></tr></thead><tbody>\n";
    for (const Json& s : series) {
        std::string key;
        for (std::string_view k : keys) {
            key += s["labels"][k].str();
            key += '\x1f';
        }
        o += "<tr data-k=\"";
        esc(o, key);  // U+001F becomes U+FFFD in the attribute; the script builds the same key
        o += "\">";
        for (std::string_view k : keys) {
            o += "<td>";
            esc(o, s["labels"][k].str());
            o += "</td>";
        }
        cell(o, "value");
        count(o, s["value"].num());
        o += "</td></tr>\n";
    }
    o += "</tbody></table>\n";
}

void cache(std::string& o, const Json& d, const Families& fams) {
    const Json& zones = d["cache"];
    if (!zones.is_object() && !has_series(fams, "gateway_cache_requests_total")) return;
    section_head(o, "cache", "Cache");
    if (zones.is_object() && !zones.members.empty()) {
        o += "<table><thead><tr><th>zone</th><th class=\"n\">size</th><th class=\"n\">objects</th>"
             "<th class=\"n\">bytes</th><th class=\"n\">evictions</th></tr></thead><tbody>\n";
        for (const auto& [zone, z] : zones.members) {
            o += "<tr data-k=\"";
            esc(o, zone);
            o += "\"><td class=\"name\">";
            esc(o, zone);
            o += "</td><td class=\"n\">";
            esc(o, z["size"].str());
            o += "</td>";
            cell(o, "objects");
            esc(o, z["objects"].str());
            o += "</td>";
            cell(o, "bytes");
            esc(o, z["bytes"].str());
            o += "</td>";
            cell(o, "evictions");
            esc(o, z["evictions"].str());
            o += "</td></tr>\n";
        }
        o += "</tbody></table>\n";
    }
    family_table(o, fams, "gateway_cache_requests_total", "Requests by cache status (hits, misses, ...)");
    o += "</section>\n";
}

void tls(std::string& o, const Families& fams) {
    const char* hs = "gateway_tls_handshakes_total";
    const char* exp = "gateway_tls_certificate_expiry_timestamp_seconds";
    if (!has_series(fams, hs) && !has_series(fams, exp)) return;
    section_head(o, "tls", "TLS");
    if (has_series(fams, hs)) {
        o += "<table><thead><tr><th>listener</th><th class=\"n\">handshakes</th><th class=\"n\">failed</th>"
             "<th class=\"n\">resumed</th><th class=\"n\">resumption</th><th class=\"n\">errors</th></tr></thead><tbody>\n";
        for (std::string_view l : label_values(fams, hs, "listener")) {
            double ok = sum(fams, hs, {{"listener", l}, {"result", "ok"}});
            double failed = sum(fams, hs, {{"listener", l}, {"result", "failed"}});
            double resumed = sum(fams, "gateway_tls_resumed_total", {{"listener", l}});
            o += "<tr data-k=\"";
            esc(o, l);
            o += "\"><td class=\"name\">";
            esc(o, l);
            o += "</td>";
            cell(o, "ok");
            count(o, ok);
            o += "</td>";
            cell(o, "failed");
            count(o, failed);
            o += "</td>";
            cell(o, "resumed");
            count(o, resumed);
            o += "</td>";
            cell(o, "resumption");
            ratio(o, resumed, ok);
            o += "</td>";
            cell(o, "errors");
            count(o, sum(fams, "gateway_tls_handshake_errors_total", {{"listener", l}}));
            o += "</td></tr>\n";
        }
        o += "</tbody></table>\n";
    }
    if (const Json* f = family(fams, exp)) {
        o += "<table><thead><tr><th>listener</th><th>certificate</th><th>expires</th>"
             "<th class=\"n\">days left</th></tr></thead><tbody>\n";
        time_t now = time(nullptr);
        for (const Json& s : (*f)["series"].items) {
            o += "<tr><td>";
            esc(o, s["labels"]["listener"].str());
            o += "</td><td>";
            esc(o, s["labels"]["name"].str());
            o += "</td><td>";
            time_t t = time_t(s["value"].num());
            tm utc{};
            gmtime_r(&t, &utc);
            char when[32];
            strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &utc);
            o += when;
            double days = (double(t) - double(now)) / 86400;
            o += days < 14 ? "</td><td class=\"n warn\">" : "</td><td class=\"n\">";
            fmt(o, "%.0f", std::floor(days));
            o += "</td></tr>\n";
        }
        o += "</tbody></table>\n";
    }
    o += "</section>\n";
}

// The values of a /status member the page has no section for (what a module adds), flattened:
// one row per value, its path ("zone.objects", "list[2]") beside it. At most 200 rows.
void flatten(const Json& v, std::string& path, std::vector<std::pair<std::string, const Json*>>& rows) {
    if (rows.size() >= 200) return;
    if (v.is_object()) {
        for (const auto& [k, m] : v.members) {
            size_t n = path.size();
            if (!path.empty()) path += '.';
            path += k;
            flatten(m, path, rows);
            path.resize(n);
        }
    } else if (v.is_array()) {
        for (size_t i = 0; i < v.items.size(); ++i) {
            size_t n = path.size();
            path += '[' + std::to_string(i) + ']';
            flatten(v.items[i], path, rows);
            path.resize(n);
        }
    } else {
        rows.emplace_back(path, &v);
    }
}

void other_members(std::string& o, const Json& d) {
    static constexpr std::string_view shown[] = {"version",   "generation", "uptime_seconds", "master_pid",
                                                 "workers",   "upstreams",  "time_ms",        "listeners",
                                                 "routes",    "metrics",    "cache"};
    for (const auto& [name, v] : d.members) {
        bool known = false;
        for (std::string_view k : shown) known = known || name == k;
        if (known) continue;
        std::vector<std::pair<std::string, const Json*>> rows;
        std::string path;
        flatten(v, path, rows);
        o += "<section class=\"other\"><h2>";
        esc(o, name);
        o += "</h2>\n<table><tbody>\n";
        for (const auto& [p, value] : rows) {
            o += "<tr><td>";
            esc(o, p.empty() ? std::string_view(name) : std::string_view(p));
            o += "</td><td class=\"n\">";
            esc(o, value->is_null() ? std::string_view("null") : value->str());
            o += "</td></tr>\n";
        }
        o += "</tbody></table></section>\n";
    }
}

}  // namespace

void render_page(const Json& d, std::string& o) {
    Families fams;
    for (const Json& f : d["metrics"].items) fams.emplace(f["name"].str(), &f);

    o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>gatewayd status</title>\n<style>";
    o += page_style();
    o += "</style>\n</head>\n<body>\n";
    node(o, d, fams);
    o += "<main>\n";
    workers(o, d);
    listeners(o, d);
    routes(o, d, fams);
    upstreams(o, d, fams);
    ratelimits(o, fams);
    cache(o, d, fams);
    tls(o, fams);
    if (has_series(fams, "gateway_http2_floods_total")) {
        section_head(o, "http2", "HTTP/2");
        family_table(o, fams, "gateway_http2_floods_total", "Connections closed for floods");
        o += "</section>\n";
    }
    if (has_series(fams, "gateway_grpc_responses_total")) {
        section_head(o, "grpc", "gRPC");
        family_table(o, fams, "gateway_grpc_responses_total", "Responses by gRPC status");
        o += "</section>\n";
    }
    other_members(o, d);
    o += "</main>\n<footer><a href=\"/status/live\">/status/live</a> \xc2\xb7 <a href=\"/status\">/status</a> "
         "\xc2\xb7 <a href=\"/metrics\">/metrics</a></footer>\n<script>";
    o += page_script();
    o += "</script>\n</body>\n</html>\n";
}

}  // namespace gw::http::status_page
