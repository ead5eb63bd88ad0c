#include "http/status_page/figures.h"

#include <cmath>

namespace gw::http::status_page {

Families families(const Json& doc) {
    Families fams;
    for (const Json& f : doc["metrics"].items) fams.emplace(f["name"].str(), &f);
    return fams;
}

const Json* family(const Families& fams, std::string_view name) {
    auto it = fams.find(name);
    return it == fams.end() ? nullptr : it->second;
}

double Hist::quantile(double q) const {
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

bool has_series(const Families& fams, std::string_view name) {
    const Json* f = family(fams, name);
    return f && !(*f)["series"].items.empty();
}

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

SumsBy sums_by(const Families& fams, std::string_view name, std::string_view k1, std::string_view k2) {
    SumsBy out;
    if (const Json* f = family(fams, name))
        for (const Json& s : (*f)["series"].items) {
            const Json& l = s["labels"];
            out[{l[k1].str(), k2.empty() ? std::string_view() : l[k2].str()}] += s["value"].num();
        }
    return out;
}

double at(const SumsBy& sums, std::string_view v1, std::string_view v2) {
    auto it = sums.find({v1, v2});
    return it == sums.end() ? 0 : it->second;
}

std::map<std::string_view, RouteCounts> route_counts(const Families& fams) {
    std::map<std::string_view, RouteCounts> out;
    if (const Json* f = family(fams, "gateway_http_requests_total"))
        for (const Json& s : (*f)["series"].items) {
            RouteCounts& c = out[s["labels"]["route"].str()];
            double v = s["value"].num();
            std::string_view code = s["labels"]["code"].str();
            c.all += v;
            if (code.starts_with("4")) c.c4xx += v;
            if (code.starts_with("5")) c.c5xx += v;
        }
    return out;
}

std::map<std::string_view, Hist> histograms_by(const Families& fams, std::string_view name, std::string_view key) {
    std::map<std::string_view, Hist> out;
    const Json* f = family(fams, name);
    if (!f) return out;
    for (const Json& s : (*f)["series"].items) {
        const auto& le = s["le"].items;
        const auto& b = s["buckets"].items;
        if (b.size() != le.size() + 1) continue;
        Hist& h = out[s["labels"][key].str()];
        if (h.cum.empty()) {
            for (const Json& x : le) h.le.push_back(x.num());
            h.cum.assign(b.size(), 0);
        }
        if (h.cum.size() != b.size()) continue;  // other bounds: not added up
        for (size_t i = 0; i < b.size(); ++i) h.cum[i] += b[i].num();
    }
    return out;
}

}  // namespace gw::http::status_page
