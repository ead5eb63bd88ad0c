// Reading figures out of a /status/live document's metric families: sums of series by labels,
// histograms added up and their quantiles (the page's script does the same in JavaScript, on
// the difference of two documents).
#pragma once

#include <initializer_list>
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

// The sum of a counter or gauge family's series whose labels match all of `want`.
double sum(const Families& fams, std::string_view name,
           std::initializer_list<std::pair<std::string_view, std::string_view>> want);

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

// The histograms of family `name` whose label `key` is `value`, added bucket by bucket.
Hist histogram(const Families& fams, std::string_view name, std::string_view key, std::string_view value);

}  // namespace gw::http::status_page
