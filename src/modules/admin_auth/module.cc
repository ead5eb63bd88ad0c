// The admin_auth module: `admin_auth:`, enforced by a filter on route -1, the chain every request
// of an admin listener goes through (src/http/admin.cc answers after it). The core names no module.
#include <memory>

#include "core/config/config.h"
#include "core/module/module.h"
#include "modules/admin_auth/config.h"
#include "modules/admin_auth/filter.h"

namespace gw::admin_auth {

namespace {

constexpr std::string_view kSections[] = {"admin_auth"};

class Worker final : public module::WorkerPart {
  public:
    Worker(const Config& config, const Settings& settings, metrics::Store& metrics)
        : filter_(config, settings, metrics) {}
    http::Filter* route_filter(int route) override { return route == -1 ? &filter_ : nullptr; }

  private:
    AdminAuthFilter filter_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = settings(env.config);
    if (!s) return nullptr;
    return std::make_unique<Worker>(env.config, *s, env.metrics);
}

}  // namespace

}  // namespace gw::admin_auth

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor admin_auth_module = {
    .name = "admin_auth",
    .sections = gw::admin_auth::kSections,
    .read_sections = gw::admin_auth::read_sections,
    .check = gw::admin_auth::check,
    .dump = gw::admin_auth::dump,
    .make_worker = gw::admin_auth::make_worker,
};

}  // namespace gw::module
