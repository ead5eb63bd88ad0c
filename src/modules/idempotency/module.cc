// The idempotency module: `idempotency:` policies, `idempotency_zone_size`, and a route's
// `idempotency:` key, enforced by a filter per route that names a policy. Its zone holds the
// keys of scope local (and the local-only claims of on_store_error: allow); the keys of scope
// global are in Redis (global.h).
#include <memory>
#include <vector>

#include "core/config/config.h"
#include "core/log.h"
#include "core/module/module.h"
#include "core/redis/client.h"
#include "core/services/registry.h"
#include "core/shm/zone.h"
#include "modules/idempotency/config.h"
#include "modules/idempotency/filter.h"
#include "modules/idempotency/global.h"
#include "modules/idempotency/table.h"

namespace gw::idempotency {

namespace {

constexpr std::string_view kSections[] = {"idempotency", "idempotency_zone_size"};
constexpr module::MergeKey kMergeKeys[] = {{"idempotency", "idempotency policy"}};

bool attach_zone(shm::Zone& zone, const module::ZoneSpec& spec) {
    std::unique_ptr<Table> table = Table::attach(zone);
    if (!table) {
        LOG_EMERG("shared memory zone \"idempotency\" cannot hold an idempotency table");
        return false;
    }
    LOG_NOTICE("idempotency: %llu keys in shared memory zone \"idempotency\" (%s)",
               static_cast<unsigned long long>(table->capacity()), format_size(spec.size).c_str());
    return true;
}

void zones(const Config& config, std::vector<module::ZoneSpec>& out) {
    const Settings* s = settings(config);
    if (!s || s->routes.empty()) return;
    out.push_back({.name = std::string(kZone),
                   .size = s->zone_size,
                   .version = kLayoutVersion,
                   .kept = "its keys",
                   .lost = "idempotency keys start over",
                   .attach = attach_zone});
}

// A worker is gone: its requests in flight will never complete their keys.
void on_worker_exit(int slot, const std::function<shm::Zone*(std::string_view name)>& zone) {
    shm::Zone* z = zone(kZone);
    std::unique_ptr<Table> table = z ? Table::attach(*z) : nullptr;
    if (!table) return;
    if (size_t n = table->release_owner(slot))
        LOG_NOTICE("idempotency: %zu key%s in flight of the exited worker (slot %d) released", n, n == 1 ? "" : "s",
                   slot);
}

class Worker final : public module::WorkerPart {
  public:
    Worker(const Config& config, const Settings& settings, module::WorkerEnv& env, std::unique_ptr<Table> table)
        : filters_(config.routes.size()) {
        rt_.table = std::move(table);
        rt_.slot = env.slot;
        rt_.loop = &env.loop;
        rt_.body_timeout_ms = config.http.client_body_timeout;
        if (settings.any_global()) {
            rt_.redis = env.services.redis();
            if (rt_.redis) {
                rt_.redis->add_script(&global::claim_script());
                rt_.redis->add_script(&global::finish_script());
            }
        }
        for (size_t i = 0; i < config.routes.size(); ++i)
            if (const Policy* p = settings.route(i))
                filters_[i] = std::make_unique<IdempotencyFilter>(*p, config.routes[i].name, rt_, &env.metrics);
    }
    http::Filter* route_filter(int route) override {
        return route >= 0 && static_cast<size_t>(route) < filters_.size() ? filters_[static_cast<size_t>(route)].get()
                                                                          : nullptr;
    }

  private:
    Runtime rt_;
    std::vector<std::unique_ptr<IdempotencyFilter>> filters_;  // after rt_: they go first
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = settings(env.config);
    if (!s || s->routes.empty()) return nullptr;
    shm::Zone* zone = env.zone(kZone);
    std::unique_ptr<Table> table = zone ? Table::attach(*zone) : nullptr;
    if (!table) {
        LOG_EMERG("idempotency keys cannot be kept: no usable shared memory zone \"idempotency\"");
        env.failed = true;
        return nullptr;
    }
    return std::make_unique<Worker>(env.config, *s, env, std::move(table));
}

}  // namespace

}  // namespace gw::idempotency

namespace gw::module {

extern const Descriptor idempotency_module = {
    .name = "idempotency",
    .sections = gw::idempotency::kSections,
    .merge_keys = gw::idempotency::kMergeKeys,
    .read_sections = gw::idempotency::read_sections,
    .read_route = gw::idempotency::read_route,
    .dump = gw::idempotency::dump,
    .dump_route = gw::idempotency::dump_route,
    .zones = gw::idempotency::zones,
    .make_worker = gw::idempotency::make_worker,
    .on_worker_exit = gw::idempotency::on_worker_exit,
};

}  // namespace gw::module
