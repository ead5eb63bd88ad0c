// The cells of gateway_http_requests_total for authenticated requests when the metric is
// labelled by consumer (`metrics.per_consumer`). One table per worker, keyed by consumer name,
// then by (route, status): the first request of a (consumer, route, status) creates the series
// (an allocation and the zone mutex), every later one is two hash lookups on a string_view and
// an integer - no string is built per request.
//
// Cardinality is bounded per worker: once `max_consumers` distinct names have been labelled,
// new names are counted as consumer="~other" (and one warning is logged, naming the cap).
// Requests without an identity are not counted here: the route's own cells carry consumer="".
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/metrics/store.h"

namespace gw::http {

class ConsumerCounts {
  public:
    static constexpr std::string_view kMetric = "gateway_http_requests_total";
    static constexpr std::string_view kOther = "~other";

    ConsumerCounts(metrics::Store& store, uint32_t max_consumers, std::string_view help)
        : store_(store), max_consumers_(max_consumers), help_(help) {}

    // The counter of `consumer` (non-empty) for a response of `status` (100..599) on the route
    // `route_name`, which `route_key` identifies in this worker. nullptr when the metrics zone
    // was full when the series was to be created: that (consumer, route, status) is then not
    // counted by this worker (and the zone is not asked again on every request).
    std::atomic<uint64_t>* cell(uint32_t route_key, std::string_view route_name, int status,
                                std::string_view consumer);

    size_t labelled() const { return by_name_.size(); }  // distinct names with a label of their own
    bool capped() const { return capped_; }              // a consumer went to "~other"

  private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct Consumer {
        std::string label;  // `,consumer="..."`, escaped
        std::unordered_map<uint32_t, std::atomic<uint64_t>*> cells;  // route_key << 10 | status
    };

    std::atomic<uint64_t>* find_or_create(Consumer& c, uint32_t route_key, std::string_view route_name,
                                          int status);

    metrics::Store& store_;
    uint32_t max_consumers_;
    std::string_view help_;
    std::unordered_map<std::string, Consumer, Hash, std::equal_to<>> by_name_;
    Consumer other_{",consumer=\"~other\"", {}};
    bool capped_ = false;
};

}  // namespace gw::http
