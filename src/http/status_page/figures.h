// Reading figures out of a /status/live document's metric families: series summed by labels,
// histograms added up and their quantiles (the page's script does the same in JavaScript, on
// the difference of two documents).
#pragma once

#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "http/status_page/json.h"

namespace gw::http::status_page {

// The document's metric families by name (pointers into the document).
using Families = std::map<std::string_view, const Json*>;
Families families(const Json& doc);

// The family `name`, or null.
const Json* family(const Families& fams, std::string_view name);
// It exists and has at least one series.
bool has_series(const Families& fams, std::string_view name);

// The distinct values of label `key` in a family, in the order they first appear.
std::vector<std::string_view> label_values(const Families& fams, std::string_view name, std::string_view key);

struct Hist {
    std::vector<double> le;   // finite bounds
    std::vector<double> cum;  // cumulative counts, le.size() + 1 (the +Inf one last)
    double total() const { return cum.empty() ? 0 : cum.back(); }
    // As Prometheus's histogram_quantile: linear within the bucket (from 0 for the first), the
    // highest finite bound for the +Inf bucket. NaN without observations.
    double quantile(double q) const;
};

// One pass over a family: its series summed by the values of labels `k1` and `k2` (`k2` empty:
// by `k1` alone, the second of the pair ""). Each section reads its rows from one of these, so
// a page costs a pass per family, not one per row.
using SumsBy = std::map<std::pair<std::string_view, std::string_view>, double>;
SumsBy sums_by(const Families& fams, std::string_view name, std::string_view k1, std::string_view k2 = {});
double at(const SumsBy& sums, std::string_view v1, std::string_view v2 = {});

// The requests of each route (gateway_http_requests_total by route), all and by class.
struct RouteCounts {
    double all = 0, c4xx = 0, c5xx = 0;
};
std::map<std::string_view, RouteCounts> route_counts(const Families& fams);

// The histograms of family `name` by the value of label `key`, each added up over the other
// labels.
std::map<std::string_view, Hist> histograms_by(const Families& fams, std::string_view name, std::string_view key);

}  // namespace gw::http::status_page
