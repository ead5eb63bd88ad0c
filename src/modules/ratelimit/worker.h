// The ratelimit module's part of a worker: the Limiter of the generation's policies (made once
// when the worker starts, over the "ratelimit" zone) and the rate-limit filter of each route
// that names policies.
#pragma once

#include <memory>
#include <vector>

#include "core/module/module.h"
#include "modules/ratelimit/limiter.h"

namespace gw::ratelimit {

class WorkerLimits final : public module::WorkerPart {
  public:
    // nullptr when the configuration has no policy; env.failed (logged) when the zone cannot
    // hold the counters.
    static std::unique_ptr<module::WorkerPart> make(module::WorkerEnv& env);
    ~WorkerLimits() override;

    Limiter& limiter() { return *limiter_; }
    // The filter of a route with policies (made on first use, kept as long as this part), or
    // nullptr.
    http::Filter* route_filter(int route) override;

  private:
    explicit WorkerLimits(std::unique_ptr<Limiter> limiter);

    std::unique_ptr<Limiter> limiter_;
    std::vector<std::unique_ptr<http::Filter>> filters_;  // by route index
};

}  // namespace gw::ratelimit
