// Metric series kept in a shared-memory zone, so that every worker adds to the same counters and
// `/metrics`, served by any one worker, is one consistent view of the whole node.
//
// Series are created under the zone mutex (rarely: when a generation starts, or the first time a
// route answers with a new status) and then updated lock-free through the returned pointers, which
// stay valid for the life of the zone. Series are never removed: a Prometheus counter must not go
// backwards, even when a reload drops the route it counts.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/shm/zone.h"

namespace gw::metrics {

constexpr uint32_t kLayoutVersion = 1;
constexpr size_t kMaxBuckets = 16;

enum class Type : uint8_t { Counter, Gauge, Histogram };

// A histogram in shared memory: cumulative rendering is done at scrape time; observe() touches
// one bucket, the count and the sum.
struct Histogram {
    uint32_t bucket_count;                       // finite upper bounds; +Inf is implicit
    double bounds[kMaxBuckets];                  // seconds, ascending
    std::atomic<uint64_t> buckets[kMaxBuckets + 1];  // non-cumulative; last is +Inf
    std::atomic<uint64_t> count;
    std::atomic<uint64_t> sum_micros;            // sum of observations in microseconds

    void observe_micros(uint64_t micros);
};

class Store {
  public:
    // Attaches to `zone`, creating the store's root in it on first use (under the zone mutex).
    explicit Store(shm::Zone& zone);

    // Find-or-create. `labels` is the inside of the braces, already escaped, e.g.
    // `route="hello",code="200"`, or empty. `help` is used when the family is first created.
    // Return nullptr when the zone is full (the caller then just does not count).
    std::atomic<uint64_t>* counter(std::string_view name, std::string_view labels,
                                   std::string_view help);
    std::atomic<int64_t>* gauge(std::string_view name, std::string_view labels,
                                std::string_view help);
    Histogram* histogram(std::string_view name, std::string_view labels, std::string_view help,
                         std::span<const double> bounds_seconds);

    // Prometheus text exposition format 0.0.4: one HELP and TYPE line per family, then its
    // series in creation order. Appends to `out`.
    void render(std::string& out) const;

  private:
    shm::Zone& zone_;
};

// Escapes a label value for the exposition format (backslash, double quote, newline).
std::string escape_label_value(std::string_view value);

}  // namespace gw::metrics
