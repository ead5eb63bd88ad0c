// The CORS module: `cors:` policies and a route's `cors:` key, enforced by a filter per route that
// names a policy. Listed before auth (src/modules/modules.list): a preflight is answered before
// auth would ask it for the credentials it never carries.
#include <memory>
#include <vector>

#include "core/config/config.h"
#include "core/module/module.h"
#include "modules/cors/config.h"
#include "modules/cors/filter.h"

namespace gw::cors {

namespace {

constexpr std::string_view kSections[] = {"cors"};
constexpr module::MergeKey kMergeKeys[] = {{"cors", "CORS policy"}};

class Worker final : public module::WorkerPart {
  public:
    Worker(const Config& config, const Settings& settings) : filters_(config.routes.size()) {
        for (size_t i = 0; i < config.routes.size(); ++i)
            if (const Policy* p = settings.route(i)) filters_[i] = std::make_unique<CorsFilter>(*p);
    }
    http::Filter* route_filter(int route) override {
        return route >= 0 && static_cast<size_t>(route) < filters_.size() ? filters_[static_cast<size_t>(route)].get()
                                                                          : nullptr;
    }

  private:
    std::vector<std::unique_ptr<CorsFilter>> filters_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = settings(env.config);
    if (!s || s->routes.empty()) return nullptr;
    return std::make_unique<Worker>(env.config, *s);
}

}  // namespace

}  // namespace gw::cors

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor cors_module = {
    .name = "cors",
    .sections = gw::cors::kSections,
    .merge_keys = gw::cors::kMergeKeys,
    .read_sections = gw::cors::read_sections,
    .read_route = gw::cors::read_route,
    .check = gw::cors::check,
    .dump = gw::cors::dump,
    .dump_route = gw::cors::dump_route,
    .make_worker = gw::cors::make_worker,
};

}  // namespace gw::module
