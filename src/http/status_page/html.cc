#include "http/status_page/html.h"

#include <cmath>
#include <cstdio>

#include "core/text_escape.h"

namespace gw::http::status_page {

void esc(std::string& o, std::string_view s) { append_html_escaped(o, s); }

void fmt(std::string& o, const char* f, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, f, v);
    o += buf;
}

void count(std::string& o, double v) { fmt(o, "%.0f", v); }

void seconds(std::string& o, double s) {
    if (std::isnan(s)) {
        o += kDash;
        return;
    }
    if (s < 0.001) fmt(o, "%.0f \xc2\xb5s", s * 1e6);
    else if (s < 1) fmt(o, s < 0.01 ? "%.2f ms" : s < 0.1 ? "%.1f ms" : "%.0f ms", s * 1e3);
    else fmt(o, "%.2f s", s);
}

void ratio(std::string& o, double part, double whole) {
    if (whole <= 0) {
        o += kDash;
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

void cell(std::string& o, std::string_view field, std::string_view cls) {
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

void row_named(std::string& o, std::string_view key) {
    o += "<tr data-k=\"";
    esc(o, key);
    o += "\"><td class=\"name\">";
    esc(o, key);
    o += "</td>";
}

void count_cell(std::string& o, std::string_view field, double v) {
    cell(o, field);
    count(o, v);
    o += "</td>";
}

void section_head(std::string& o, std::string_view id, std::string_view title) {
    o += "<section id=\"";
    o += id;
    o += "\"><h2>";
    o += title;
    o += "</h2>\n";
}

}  // namespace gw::http::status_page
