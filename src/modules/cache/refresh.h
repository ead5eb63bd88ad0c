// stale-while-revalidate's background refresh: while a stale object is served, one request of
// its own goes to the route's upstream (through the core HTTP client, TLS with the upstream's
// own settings) with the object's validators: a 200 that may be stored replaces the object, a
// 304 refreshes its freshness, anything else leaves it (served stale until its window ends,
// then revalidated by a client's request). One refresh per object at a time (Store::claim_update).
//
// Not for every route: a route with `rewrite:` (its upstream target is the proxy's to make), or a
// request with credentials (a refresh sends none), is revalidated by the client's own request
// instead (EXPIRED).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.h"
#include "http/client/client.h"
#include "modules/cache/config.h"
#include "modules/cache/store.h"

namespace gw::http {
class Stream;
class UpstreamTransportFactory;
}  // namespace gw::http

namespace gw::cache {

class Runtime;

class BackgroundRefresh {
  public:
    BackgroundRefresh(const Config& config, Runtime& rt, httpc::Client& http,
                      std::vector<std::unique_ptr<http::UpstreamTransportFactory>> tls);
    ~BackgroundRefresh();
    // Whether `route`'s requests can be refreshed in the background (see above).
    bool can_refresh(int route, const http::Stream& s) const;
    // Starts the refresh of `stale` (its key `key`) for the request `s` of a route with `p`.
    void start(const RoutePolicy& p, const http::Stream& s, std::string_view key, const Store::Object& stale);

    struct Job;

  private:
    friend struct Job;
    void done(Job* j);
    const Config& config_;
    Runtime& rt_;
    httpc::Client& http_;
    std::vector<std::unique_ptr<http::UpstreamTransportFactory>> tls_;  // by upstream index
    std::vector<std::unique_ptr<Job>> jobs_;
    std::vector<std::unique_ptr<Job>> finished_;
    size_t next_server_ = 0;
};

}  // namespace gw::cache
