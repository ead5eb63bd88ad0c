// The health module's descriptor (src/core/module/module.h). Health checks are an upstream
// policy: `health_check:` is read by the core with the upstreams, and the proxy reads each
// server's health. The module owns their shared-memory zone, the active checks in the master
// (the Checker, health.h) and the worker's table of records, which the proxy finds in the
// worker's services.
#include "core/config/config.h"
#include "core/module/module.h"
#include "core/services/registry.h"
#include "modules/health/health.h"

namespace gw::module {

namespace {

// Fixed size, asked for by every configuration (as the breakers' zone), so that the health of
// every server survives reloads and binary upgrades.
void zones(const Config&, std::vector<ZoneSpec>& out) {
    out.push_back({.name = "health", .size = health::kZoneSize, .version = health::kLayoutVersion});
}

// The active checks, run by the master once per node (not by each worker).
class MasterChecks final : public MasterPart {
  public:
    // The tls module's maker is looked up at each configuration: its part is made after this
    // one (the module list's order), and every part is made before the first configuration.
    MasterChecks(MasterEnv& env, shm::Zone& zone)
        : checker_(env.loop, zone, env.metrics,
                   [services = &env.services] { return services->find<httpc::TlsClients>(); }) {
        // Only the master that serves the node probes (during a binary upgrade two run).
        checker_.set_owner_check(env.still_master);
    }
    void configure(const std::shared_ptr<const Config>& config) override { checker_.configure(config); }

  private:
    health::Checker checker_;
};

std::unique_ptr<MasterPart> make_master(MasterEnv& env) {
    shm::Zone* zone = env.zone("health");
    if (!zone) return nullptr;
    return std::make_unique<MasterChecks>(env, *zone);
}

// The records the proxy reads and updates (passive checks) for every upstream server.
class WorkerHealth final : public WorkerPart {
  public:
    explicit WorkerHealth(shm::Zone& zone) : table_(zone) {}
    health::Table& table() { return table_; }

  private:
    health::Table table_;
};

std::unique_ptr<WorkerPart> make_worker(WorkerEnv& env) {
    shm::Zone* zone = env.zone("health");
    if (env.config.upstreams.empty() || !zone) return nullptr;  // no proxy, no server to watch
    auto part = std::make_unique<WorkerHealth>(*zone);
    env.services.provide(&part->table());
    return part;
}

}  // namespace

extern const Descriptor health_module = {
    .name = "health",
    .zones = zones,
    .make_master = make_master,
    .make_worker = make_worker,
};

}  // namespace gw::module
