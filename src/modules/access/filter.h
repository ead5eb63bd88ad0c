// The access-rules filter: refuses a request whose client address its listener's or its
// route's `access:` rules do not let through, with 403 and the usual JSON error body.
//
// One filter per route and worker (and one for route -1: requests no route matched, and admin
// listeners), made only when that route or some listener has rules. It keeps no per-request
// state: the decision is a few CIDR compares on Stream::client_ip(), the address real_ip
// settled on (a trusted forwarding header's client, a PROXY header's source, or the peer).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/filter.h"
#include "modules/access/config.h"

namespace gw {
struct Config;
namespace metrics {
class Store;
}
}  // namespace gw

namespace gw::access {

class AccessFilter final : public http::Filter {
  public:
    // For route `route` of `config` (-1: no route, or an admin listener); `rules` is the
    // module's part of the same configuration. Denials are counted in `metrics`.
    AccessFilter(const Config& config, const AccessConfig& rules, int route, metrics::Store& metrics);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;

  private:
    void deny(http::Stream& s, const char* by);

    const Config& config_;
    const AccessConfig& rules_;
    const AccessRules* route_rules_;  // nullptr: its listener's rules only
    int route_;
    metrics::Store& metrics_;
    // gateway_access_denied_total{route,listener}, one cell per listener, found or made in the
    // zone at its first denial (as the request counters are at a status's first response).
    std::vector<std::atomic<uint64_t>*> denied_;
};

// A worker's access filters, one per route that needs one.
class RouteFilters {
  public:
    RouteFilters(const Config& config, const AccessConfig& rules, metrics::Store& metrics);

    // The filter of route `route` (-1: no route, admin listeners), made on the first call; nullptr
    // when neither the route nor any listener has rules (the route then pays nothing).
    AccessFilter* get(int route);

  private:
    const Config& config_;
    const AccessConfig& rules_;
    metrics::Store& metrics_;
    std::vector<std::unique_ptr<AccessFilter>> filters_;  // [route + 1]
};

}  // namespace gw::access
