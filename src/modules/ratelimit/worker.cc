#include "modules/ratelimit/worker.h"

#include "core/log.h"
#include "core/services/registry.h"
#include "http/filter.h"
// The filter comes with the request pipeline (issue 12); until then the codec asks the Limiter
// itself (found in the worker's services).
#if __has_include("modules/ratelimit/filter.h")
#include "modules/ratelimit/filter.h"
#define GW_RATELIMIT_FILTER 1
#endif

namespace gw::ratelimit {

std::unique_ptr<module::WorkerPart> WorkerLimits::make(module::WorkerEnv& env) {
    if (settings(env.config).policies.empty()) return nullptr;
    shm::Zone* zone = env.zone("ratelimit");
    std::unique_ptr<Limiter> limiter = zone ? Limiter::create(env.config, *zone, env.metrics, &env.loop) : nullptr;
    if (!limiter) {
        LOG_EMERG("the rate limits cannot be enforced: no usable shared memory zone \"ratelimit\"");
        env.failed = true;
        return nullptr;
    }
    env.services.provide(limiter.get());
    return std::unique_ptr<module::WorkerPart>(new WorkerLimits(std::move(limiter)));
}

WorkerLimits::WorkerLimits(std::unique_ptr<Limiter> limiter) : limiter_(std::move(limiter)) {}

// Here, where http::Filter is complete. The filters (declared after it) go before the limiter
// they refer to.
WorkerLimits::~WorkerLimits() = default;

http::Filter* WorkerLimits::route_filter(int route) {
    if (route < 0) return nullptr;  // no route: no policy
    const RoutePolicies* policies = limiter_->route(static_cast<size_t>(route));
    if (!policies) return nullptr;
#ifdef GW_RATELIMIT_FILTER
    size_t i = static_cast<size_t>(route);
    if (filters_.size() <= i) filters_.resize(i + 1);
    if (!filters_[i]) filters_[i] = std::make_unique<RateLimitFilter>(*limiter_, *policies);
    return filters_[i].get();
#else
    return nullptr;
#endif
}

}  // namespace gw::ratelimit
