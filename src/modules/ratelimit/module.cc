// The ratelimit module's descriptor (src/core/module/module.h): its configuration (config.h),
// its shared-memory zone of counters, and its part of each worker (worker.h).
#include "core/log.h"
#include "core/shm/zone.h"
#include "modules/ratelimit/config.h"
#include "modules/ratelimit/leases.h"
#include "modules/ratelimit/table.h"
#include "modules/ratelimit/worker.h"

namespace gw::module {

namespace {

constexpr std::string_view kSections[] = {"rate_limit_zone_size", "rate_limits"};
constexpr MergeKey kMergeKeys[] = {{"rate_limits", "rate limit"}};

// A new zone (created, adopted, or resized): the table laid out in it, or checked.
bool attach_zone(shm::Zone& zone, const ZoneSpec& spec) {
    std::unique_ptr<ratelimit::Table> table = ratelimit::Table::attach(zone);
    if (!table) {
        LOG_EMERG("shared memory zone \"ratelimit\" cannot hold a rate limit table");
        return false;
    }
    LOG_NOTICE("rate limits: %llu entries in shared memory zone \"ratelimit\" (%s)",
               static_cast<unsigned long long>(table->capacity()), format_size(spec.size).c_str());
    return true;
}

bool attach_lease_zone(shm::Zone& zone, const ZoneSpec& spec);

// The counters, only for a configuration with policies: reused across reloads and from the
// previous binary when the size and layout match.
void zones(const Config& config, std::vector<ZoneSpec>& out) {
    const ratelimit::Settings& s = ratelimit::settings(config);
    if (s.policies.empty()) return;
    out.push_back({.name = "ratelimit",
                   .size = s.zone_size,
                   .version = ratelimit::kLayoutVersion,
                   .kept = "its counters",
                   .lost = "rate limit counters start over",
                   .attach = attach_zone});
    // Who holds the requests in flight that concurrency policies count (leases.h).
    if (uint64_t size = ratelimit::lease_zone_size(config))
        out.push_back({.name = std::string(ratelimit::kLeaseZone),
                       .size = size,
                       .version = ratelimit::kLeaseLayoutVersion,
                       .kept = "the requests in flight of its workers",
                       .lost = "its ledgers start empty",
                       .attach = attach_lease_zone});
}

bool attach_lease_zone(shm::Zone& zone, const ZoneSpec&) {
    if (ratelimit::attach_leases(zone)) return true;
    LOG_EMERG("shared memory zone \"%s\" cannot hold the concurrency leases", zone.name().c_str());
    return false;
}

// A worker is gone: the requests it had in flight no longer count against their keys.
void on_worker_exit(int slot, const std::function<shm::Zone*(std::string_view name)>& zone) {
    shm::Zone* leases = zone(ratelimit::kLeaseZone);
    if (!leases) return;
    shm::Zone* counters = zone("ratelimit");
    std::unique_ptr<ratelimit::Table> table = counters ? ratelimit::Table::attach(*counters) : nullptr;
    if (uint64_t n = ratelimit::settle(*leases, table.get(), slot))
        LOG_NOTICE("rate limits: %llu request%s in flight of the exited worker (slot %d) released",
                   static_cast<unsigned long long>(n), n == 1 ? "" : "s", slot);
}

}  // namespace

extern const Descriptor ratelimit_module = {
    .name = "ratelimit",
    .sections = kSections,
    .merge_keys = kMergeKeys,
    .read_sections = ratelimit::read_sections,
    .read_route = ratelimit::read_route,
    .dump = ratelimit::dump,
    .dump_route = ratelimit::dump_route,
    .zones = zones,
    .make_worker = ratelimit::WorkerLimits::make,
    .on_worker_exit = on_worker_exit,
};

}  // namespace gw::module
