// The status page's sections for what the modules add: rate-limit policies, cache zones, TLS,
// HTTP/2 floods, gRPC statuses, and any /status member without a section of its own (a
// module's), flattened. Each is left out when there is nothing to show.
#include <cmath>
#include <ctime>
#include <string>
#include <vector>

#include "http/status_page/html.h"
#include "http/status_page/sections.h"

namespace gw::http::status_page {

namespace {

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

}  // namespace

void ratelimits_section(std::string& o, const Families& fams) {
    const char* fam = "gateway_ratelimit_decisions_total";
    if (!has_series(fams, fam)) return;
    section_head(o, "ratelimits", "Rate limits");
    o += "<table><thead><tr><th>policy</th><th class=\"n\">allowed</th><th class=\"n\">rejected</th>"
         "<th class=\"n\">dry-run rejected</th><th class=\"n\">fallback</th><th class=\"n\">allowed/s</th>"
         "<th class=\"n\">rejected/s</th><th>trend</th></tr></thead><tbody>\n";
    SumsBy by = sums_by(fams, fam, "policy", "result");
    for (std::string_view p : label_values(fams, fam, "policy")) {
        row_named(o, p);
        count_cell(o, "allowed", at(by, p, "allowed"));
        count_cell(o, "rejected", at(by, p, "rejected"));
        count_cell(o, "dry", at(by, p, "dry_run_rejected"));
        count_cell(o, "fallback", at(by, p, "fallback_allowed") + at(by, p, "fallback_rejected") +
                     at(by, p, "fallback_dry_run_rejected"));
        cell(o, "aps");
        o += kDash;
        o += "</td>";
        cell(o, "rps");
        o += kDash;
        o += "</td>";
        cell(o, "spark", "spark");
        o += "</td></tr>\n";
    }
    o += "</tbody></table></section>\n";
}

void cache_section(std::string& o, const Json& d, const Families& fams) {
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

void tls_section(std::string& o, const Families& fams) {
    const char* hs = "gateway_tls_handshakes_total";
    const char* exp = "gateway_tls_certificate_expiry_timestamp_seconds";
    if (!has_series(fams, hs) && !has_series(fams, exp)) return;
    section_head(o, "tls", "TLS");
    if (has_series(fams, hs)) {
        o += "<table><thead><tr><th>listener</th><th class=\"n\">handshakes</th><th class=\"n\">failed</th>"
             "<th class=\"n\">resumed</th><th class=\"n\">resumption</th><th class=\"n\">errors</th></tr></thead><tbody>\n";
        SumsBy handshakes = sums_by(fams, hs, "listener", "result");
        SumsBy resumptions = sums_by(fams, "gateway_tls_resumed_total", "listener");
        SumsBy errors = sums_by(fams, "gateway_tls_handshake_errors_total", "listener");
        for (std::string_view l : label_values(fams, hs, "listener")) {
            double ok = at(handshakes, l, "ok");
            double failed = at(handshakes, l, "failed");
            double resumed = at(resumptions, l);
            row_named(o, l);
            count_cell(o, "ok", ok);
            count_cell(o, "failed", failed);
            count_cell(o, "resumed", resumed);
            cell(o, "resumption");
            ratio(o, resumed, ok);
            o += "</td>";
            cell(o, "errors");
            count(o, at(errors, l));
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

void other_sections(std::string& o, const Json& d) {
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

void http2_section(std::string& o, const Families& fams) {
    if (!has_series(fams, "gateway_http2_floods_total")) return;
    section_head(o, "http2", "HTTP/2");
    family_table(o, fams, "gateway_http2_floods_total", "Connections closed for floods");
    o += "</section>\n";
}

void grpc_section(std::string& o, const Families& fams) {
    if (!has_series(fams, "gateway_grpc_responses_total")) return;
    section_head(o, "grpc", "gRPC");
    family_table(o, fams, "gateway_grpc_responses_total", "Responses by gRPC status");
    o += "</section>\n";
}

}  // namespace gw::http::status_page
