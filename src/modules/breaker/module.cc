// The breaker module's descriptor (src/core/module/module.h). Circuit breakers are an upstream
// policy: `circuit_breaker:` is read by the core with the upstreams, and the proxy drives them.
// The module owns their shared-memory zone and the worker's table of them (worker.h).
#include "core/config/config.h"
#include "core/module/module.h"
#include "core/services/registry.h"
#include "modules/breaker/worker.h"

namespace gw::module {

namespace {

// Fixed size, asked for by every configuration, so that a reload always reuses it (with the
// breakers' state) and can add breakers at any time.
void zones(const Config&, std::vector<ZoneSpec>& out) {
    out.push_back({.name = "breaker", .size = breaker::kZoneSize, .version = breaker::kLayoutVersion});
}

std::unique_ptr<WorkerPart> make_worker(WorkerEnv& env) {
    bool used = false;
    for (const UpstreamConfig& u : env.config.upstreams) used |= u.circuit_breaker.has_value();
    shm::Zone* zone = env.zone("breaker");
    if (!used || !zone) return nullptr;  // without the zone, upstreams run without breakers
    auto part = std::make_unique<breaker::WorkerBreakers>(*zone);
    env.services.provide(part.get());
    return part;
}

}  // namespace

extern const Descriptor breaker_module = {
    .name = "breaker",
    .zones = zones,
    .make_worker = make_worker,
};

}  // namespace gw::module
