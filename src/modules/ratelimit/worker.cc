#include "modules/ratelimit/worker.h"

#include <algorithm>

#include "core/log.h"
#include "core/services/registry.h"
#include "modules/ratelimit/filter.h"

namespace gw::ratelimit {

std::unique_ptr<module::WorkerPart> WorkerLimits::make(module::WorkerEnv& env) {
    if (settings(env.config).policies.empty()) return nullptr;
    shm::Zone* zone = env.zone("ratelimit");
    // Policies of scope global use the worker's shared Redis client (asked for only then: a
    // configuration whose policies are all local connects to no Redis).
    const auto& policies = settings(env.config).policies;
    bool global = std::any_of(policies.begin(), policies.end(), [](const RateLimitPolicy& p) { return p.scope == RateLimitPolicy::Scope::Global; });
    redis::Client* shared = global ? env.services.redis() : nullptr;
    std::unique_ptr<Limiter> limiter =
        zone ? Limiter::create(env.config, *zone, env.metrics, &env.loop, shared) : nullptr;
    if (!limiter) {
        LOG_EMERG("the rate limits cannot be enforced: no usable shared memory zone \"ratelimit\"");
        env.failed = true;
        return nullptr;
    }
    // Concurrency policies: this worker's requests in flight are recorded where the master can
    // give them back if the worker dies (leases.h). The master settles a worker's ledger before
    // its slot is reused, so none should be left under ours; one that is (never seen) is only
    // freed: which counters it referred to is not known here.
    if (limiter->ledger() && env.slot >= 0) {
        shm::Zone* leases = env.zone(kLeaseZone);
        std::unique_ptr<Ledger> ledger;
        if (leases) {
            settle(*leases, nullptr, env.slot);
            ledger = Ledger::open(*leases, env.slot, limiter->ledger()->capacity());
        }
        if (ledger)
            limiter->set_ledger(std::move(ledger));
        else
            LOG_WARN("no room for this worker's concurrency leases in shared memory zone \"%.*s\": requests in "
                     "flight of this worker will not be released if it dies",
                     static_cast<int>(kLeaseZone.size()), kLeaseZone.data());
    }
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
    size_t i = static_cast<size_t>(route);
    if (filters_.size() <= i) filters_.resize(i + 1);
    if (!filters_[i]) filters_[i] = std::make_unique<RateLimitFilter>(*limiter_, *policies);
    return filters_[i].get();
}

}  // namespace gw::ratelimit
