// The rate limits of one worker: the policies of its generation's configuration, compiled once
// when the worker starts, and the decision for a request on a route that names some of them.
//
// A route's policies all apply ("hierarchical": per tenant, per user, per IP): the request is
// rejected when any of them rejects it, and the answer reports the most restrictive one. A
// rejected request is counted by none of them: with several policies they are first checked
// without changing anything, and only when all allow is the request counted in each; if one of
// them has meanwhile been used up by a concurrent request, those already counted are refunded.
//
// The hot path does not allocate and makes no system call: the key is hashed as it is read from
// the request (a dry-run log line renders it into a stack buffer), the clock is the request's
// start time the server already took, and the counters are CAS updates in shared memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/shm/zone.h"
#include "http/parser.h"
#include "modules/ratelimit/table.h"
#include "modules/ratelimit/verdict.h"

namespace gw::ratelimit {

// A policy as the worker uses it.
struct Policy {
    const RateLimitPolicy* config = nullptr;
    Params params;
    std::string body;  // the JSON body of a rejection
    // gateway_ratelimit_decisions_total{policy, result}; nullptr when the metrics zone is full.
    std::atomic<uint64_t>* allowed = nullptr;
    std::atomic<uint64_t>* rejected = nullptr;
    std::atomic<uint64_t>* dry_run_rejected = nullptr;
};

struct RoutePolicies {
    std::string_view route;  // the route's name (the `route` key part, logs)
    std::vector<const Policy*> policies;
};

// What a key is made of, for one request.
struct RequestInfo {
    const http::Request* request = nullptr;
    std::string_view ip;     // the client's address, as text
};

class Limiter {
  public:
    // nullptr (logged) when the zone does not hold a usable table.
    static std::unique_ptr<Limiter> create(const Config& cfg, shm::Zone& zone, metrics::Store& metrics);

    // The policies of route `index` (into Config::routes), or nullptr when it names none.
    const RoutePolicies* route(size_t index) const {
        return index < routes_.size() && !routes_[index].policies.empty() ? &routes_[index] : nullptr;
    }

    // Decides for one request at `now_ns` (CLOCK_MONOTONIC) and counts it.
    void check(const RoutePolicies& route, const RequestInfo& info, uint64_t now_ns, Verdict& out);

    Table& table() { return *table_; }

    // The request's key for `policy`, hashed; false when a part is missing and the policy skips
    // such requests. `text` (optional, `cap` bytes) receives the key as text, cut if too long.
    static bool key(const Policy& policy, std::string_view route, const RequestInfo& info, uint64_t& hash,
                    char* text = nullptr, size_t cap = 0);

  private:
    Limiter() = default;

    std::unique_ptr<Table> table_;
    std::vector<Policy> policies_;        // parallel to Config::rate_limits
    std::vector<RoutePolicies> routes_;   // parallel to Config::routes
    std::atomic<uint64_t>* evictions_ = nullptr;
};

// The value of query parameter `name` in `query` (no percent-decoding); false when absent.
bool query_param(std::string_view query, std::string_view name, std::string_view& value);

}  // namespace gw::ratelimit
