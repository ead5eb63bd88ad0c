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

}  // namespace gw::http::status_page
