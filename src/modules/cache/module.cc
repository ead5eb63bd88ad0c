// The cache module: `cache:` zones (shared memory, kept across reloads and binary upgrades), a
// route's `cache:` policy, the admin endpoint /cache/ZONE. Listed after compress
// (src/modules/modules.list): response hooks run in reverse list order, so the cache stores the
// upstream's own bytes and what it answers with is compressed on the way out.
//
// Coalescing across workers: a worker whose fill ends tells the master (ask_master), which tells
// every worker (notify_workers); each wakes that key's waiters, which look again.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "core/services/registry.h"
#include "core/shm/zone.h"
#include "http/client/tls.h"
#include "http/transport.h"
#include "modules/cache/config.h"
#include "modules/cache/filter.h"
#include "modules/cache/purge.h"
#include "modules/cache/refresh.h"
#include "modules/cache/runtime.h"
#include "modules/cache/store.h"

namespace gw::cache {

namespace {

constexpr std::string_view kSections[] = {"cache"};

bool attach_zone(shm::Zone& zone, const module::ZoneSpec& spec) {
    if (Store::attach(zone)) return true;  // adopted with its objects (a binary upgrade)
    if (!Store::init(zone)) {
        LOG_EMERG("shared memory zone \"%s\" is too small for a cache", spec.name.c_str());
        return false;
    }
    return true;
}

// The names of every cache zone a configuration of this master asked for: on_worker_exit is
// told the exited worker's slot and given its zones by name, not its configuration.
std::set<std::string>& known_zones() {
    static std::set<std::string> names;
    return names;
}

void zones(const Config& config, std::vector<module::ZoneSpec>& out) {
    const Settings* s = settings(config);
    if (!s) return;
    for (const ZoneConfig& z : s->zones) known_zones().insert(z.shm_name());
    for (const ZoneConfig& z : s->zones)
        out.push_back({.name = z.shm_name(),
                       .size = z.size,
                       .version = kLayoutVersion,
                       .kept = "its objects",
                       .lost = "the cache starts empty",
                       .attach = attach_zone});
}

// A worker is gone: the pins it held (a SIGKILL in the middle of answering from an object) are
// dropped, so that those objects' memory can go back to the zone.
void on_worker_exit(int slot, const std::function<shm::Zone*(std::string_view name)>& zone) {
    for (const std::string& name : known_zones()) {
        shm::Zone* z = zone(name);
        std::unique_ptr<Store> st = z ? Store::attach(*z) : nullptr;
        if (!st) continue;
        if (size_t n = st->release_slot(slot))
            LOG_NOTICE("cache zone \"%s\": %zu pin%s of the exited worker (slot %d) dropped", name.c_str(), n,
                       n == 1 ? "" : "s", slot);
    }
}

// Relays a worker's "a fill of zone N ended" to every worker.
class Master final : public module::MasterPart {
  public:
    explicit Master(module::MasterEnv& env) : notify_(env.notify_workers) {}
    void configure(const std::shared_ptr<const Config>&) override {}
    void on_worker_request(uint16_t code) override {
        if (notify_) notify_(module::cache_module, code);
    }

  private:
    std::function<void(const module::Descriptor&, uint16_t)> notify_;
};

std::unique_ptr<module::MasterPart> make_master(module::MasterEnv& env) { return std::make_unique<Master>(env); }

const char* kRequestsHelp =
    "Requests of routes with a cache, by how the cache answered: HIT, MISS, EXPIRED, STALE, UPDATING, REVALIDATED, "
    "BYPASS.";

class Worker final : public module::WorkerPart {
  public:
    Worker(module::WorkerEnv& env, const Settings& settings, std::vector<std::unique_ptr<Store>> stores)
        : config_(env.config), settings_(settings), metrics_(env.metrics) {
        auto ask = env.ask_master;
        rt_ = std::make_unique<Runtime>(settings, std::move(stores), env.loop, [ask](uint16_t code) {
            if (ask) ask(module::cache_module, code);
        });
        Counters& c = rt_->counters();
        auto status = [&](const char* s) { return env.metrics.counter("gateway_cache_requests_total", std::string("cache_status=\"") + s + "\"", kRequestsHelp); };
        c.hit = status("HIT");
        c.miss = status("MISS");
        c.expired = status("EXPIRED");
        c.stale = status("STALE");
        c.updating = status("UPDATING");
        c.revalidated = status("REVALIDATED");
        c.bypass = status("BYPASS");
        c.coalesced = env.metrics.counter("gateway_cache_coalesced_total", "",
                                          "Requests that waited for another request's fill of the same key.");
        c.stored = env.metrics.counter("gateway_cache_stored_total", "", "Objects stored in the cache.");
        c.stored_bytes = env.metrics.counter("gateway_cache_stored_bytes_total", "", "Body bytes stored in the cache.");
        c.served_bytes = env.metrics.counter("gateway_cache_served_bytes_total", "", "Body bytes answered from the cache.");
        c.not_stored = env.metrics.counter("gateway_cache_not_stored_total", "",
                                           "Storable responses not stored: larger than max_object, or no room.");
        // Background refreshes go to the upstreams through the core HTTP client, over TLS with
        // an upstream's own settings.
        std::vector<std::unique_ptr<http::UpstreamTransportFactory>> tls(config_.upstreams.size());
        if (httpc::TlsClients* makers = env.services.find<httpc::TlsClients>()) {
            for (size_t i = 0; i < config_.upstreams.size(); ++i) {
                std::string error;
                tls[i] = makers->for_upstream(config_, i, error);
            }
        }
        refresh_ = std::make_unique<BackgroundRefresh>(config_, *rt_, env.services.http(), std::move(tls));
        filters_.resize(config_.routes.size());
        for (size_t i = 0; i < config_.routes.size(); ++i)
            if (const RoutePolicy* p = settings.route(i); p && rt_->store(p->zone))
                filters_[i] = std::make_unique<CacheFilter>(*p, *rt_, refresh_.get());
        for (const auto& l : config_.listeners)
            if (l.admin) purge_ = std::make_unique<PurgeFilter>(config_, *rt_);
        for (const ZoneConfig& z : settings.zones) {
            std::string label = "zone=\"" + metrics::escape_label_value(z.name) + "\"";
            zone_objects_.push_back(env.metrics.gauge("gateway_cache_objects", label, "Objects in the cache zone."));
            zone_bytes_.push_back(env.metrics.gauge("gateway_cache_bytes", label, "Bytes the cache zone's objects take."));
            zone_evictions_.push_back(env.metrics.counter("gateway_cache_evictions_total", label,
                                                          "Objects evicted (least recently used) to make room."));
        }
    }
    http::Filter* route_filter(int route) override {
        if (route == -1) return purge_.get();
        return route >= 0 && static_cast<size_t>(route) < filters_.size() ? filters_[static_cast<size_t>(route)].get()
                                                                          : nullptr;
    }
    void on_notify(uint16_t code) override { rt_->on_notice(code); }
    void refresh_metrics() override {
        for (size_t i = 0; i < settings_.zones.size(); ++i) {
            Store* st = rt_->store(i);
            if (!st) continue;
            Store::Stats s = st->stats();
            if (zone_objects_[i]) zone_objects_[i]->store(static_cast<int64_t>(s.objects), std::memory_order_relaxed);
            if (zone_bytes_[i]) zone_bytes_[i]->store(static_cast<int64_t>(s.bytes), std::memory_order_relaxed);
            if (zone_evictions_[i]) zone_evictions_[i]->store(s.evictions, std::memory_order_relaxed);
        }
    }
    void status(std::string& json) override {
        json += ",\"cache\":{";
        for (size_t i = 0; i < settings_.zones.size(); ++i) {
            Store* st = rt_->store(i);
            Store::Stats s = st ? st->stats() : Store::Stats{};
            if (i) json += ',';
            json += "\"" + metrics::escape_label_value(settings_.zones[i].name) + "\":{\"size\":" +
                    std::to_string(settings_.zones[i].size) + ",\"objects\":" + std::to_string(s.objects) +
                    ",\"bytes\":" + std::to_string(s.bytes) + ",\"evictions\":" + std::to_string(s.evictions) + "}";
        }
        json += "}";
    }

  private:
    const Config& config_;
    const Settings& settings_;
    metrics::Store& metrics_;
    std::unique_ptr<Runtime> rt_;
    std::unique_ptr<BackgroundRefresh> refresh_;
    std::vector<std::unique_ptr<CacheFilter>> filters_;
    std::unique_ptr<PurgeFilter> purge_;
    std::vector<std::atomic<int64_t>*> zone_objects_, zone_bytes_;
    std::vector<std::atomic<uint64_t>*> zone_evictions_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = settings(env.config);
    if (!s || s->zones.empty()) return nullptr;
    std::vector<std::unique_ptr<Store>> stores;
    for (const ZoneConfig& z : s->zones) {
        shm::Zone* zone = env.zone(z.shm_name());
        std::unique_ptr<Store> st = zone ? Store::attach(*zone, env.slot) : nullptr;
        if (!st) {
            LOG_ALERT("cache zone \"%s\" is not usable in this worker", z.name.c_str());
            env.failed = true;
            return nullptr;
        }
        stores.push_back(std::move(st));
    }
    return std::make_unique<Worker>(env, *s, std::move(stores));
}

}  // namespace

}  // namespace gw::cache

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor cache_module = {
    .name = "cache",
    .sections = gw::cache::kSections,
    .read_sections = gw::cache::read_sections,
    .read_route = gw::cache::read_route,
    .dump = gw::cache::dump,
    .dump_route = gw::cache::dump_route,
    .zones = gw::cache::zones,
    .make_master = gw::cache::make_master,
    .make_worker = gw::cache::make_worker,
    .on_worker_exit = gw::cache::on_worker_exit,
};

}  // namespace gw::module
