// The access-rules module: `access:` in listeners and routes, enforced by a filter per route.
// Everything it needs from the core goes through its Descriptor: the core never names it.
#include <memory>
#include <string>
#include <utility>

#include "core/config/config.h"
#include "core/module/module.h"
#include "modules/access/config.h"
#include "modules/access/filter.h"

namespace gw::module {
extern const Descriptor access_module;
}

namespace gw::access {

using module::access_module;

namespace {

// The module's part of a configuration being read, made at the first `access:` met (so a
// configuration without one has none, and its workers make no filters).
AccessConfig& building(Config& c) { return module::loading_part<AccessConfig>(c, access_module); }

const AccessConfig* part(const Config& c) { return module::find_part<AccessConfig>(c, access_module); }

void read_listener(schema::MapReader& listener, Config& c, size_t index) {
    AccessRules rules;
    if (read_rules(listener, rules)) building(c).set_listener(index, std::move(rules));
}

void read_route(schema::MapReader& route, Config& c, size_t index) {
    AccessRules rules;
    if (read_rules(route, rules)) building(c).set_route(index, std::move(rules));
}

void dump_listener(const Config& c, size_t index, int indent, std::string& out) {
    if (const AccessConfig* a = part(c))
        if (const AccessRules* r = a->listener(index)) dump_rules(*r, indent, out);
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    if (const AccessConfig* a = part(c))
        if (const AccessRules* r = a->route(index)) dump_rules(*r, indent, out);
}

// A worker's side: its filters, made when the server builds each route's chain.
class Worker final : public module::WorkerPart {
  public:
    Worker(const Config& config, const AccessConfig& rules, metrics::Store& metrics)
        : filters_(config, rules, metrics) {}
    http::Filter* route_filter(int route) override { return filters_.get(route); }

  private:
    RouteFilters filters_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const AccessConfig* rules = part(env.config);
    if (!rules) return nullptr;
    return std::make_unique<Worker>(env.config, *rules, env.metrics);
}

}  // namespace

}  // namespace gw::access

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor access_module = {
    .name = "access",
    .sections = {},  // no top-level section: only listener and route keys
    .merge_keys = {},
    .read_listener = gw::access::read_listener,
    .read_route = gw::access::read_route,
    .dump_route = gw::access::dump_route,
    .dump_listener = gw::access::dump_listener,
    .make_worker = gw::access::make_worker,
};

}  // namespace gw::module
