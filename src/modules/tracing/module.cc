// The tracing module: `tracing:` (OTLP/HTTP export, head sampling) and a route's `tracing:
// false`. A worker records a server span per sampled request and a client span per upstream
// attempt (filter.h), buffers them and exports them in batches (exporter.h). Everything it
// needs from the core goes through its Descriptor, the stream's TraceContext
// (http/trace_context.h) and WorkerPart::on_exit (the last export when the worker exits).
#include <time.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/module/module.h"
#include "modules/tracing/config.h"
#include "modules/tracing/exporter.h"
#include "modules/tracing/filter.h"

namespace gw::tracing {

namespace {

constexpr std::string_view kSections[] = {"tracing"};

uint64_t seed() {
    timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (static_cast<uint64_t>(t.tv_nsec) << 20) ^ static_cast<uint64_t>(t.tv_sec) ^
           (static_cast<uint64_t>(getpid()) << 40) ^ 0x7472616365ull;
}

class Worker final : public module::WorkerPart {
  public:
    Worker(module::WorkerEnv& env, const TracingConfig& t)
        : exporter_(t, env.config.logs, env.loop, env.services, &env.metrics),
          recorder_(t, exporter_, seed()),
          filters_(env.config.routes.size()) {
        for (size_t i = 0; i < env.config.routes.size(); ++i)
            if (!t.route_off(i)) filters_[i] = std::make_unique<TracingFilter>(recorder_, env.config.routes[i].name);
    }

    // Requests no route matched, and admin listeners (-1), are not traced.
    http::Filter* route_filter(int route) override {
        return route >= 0 && static_cast<size_t>(route) < filters_.size() ? filters_[static_cast<size_t>(route)].get()
                                                                          : nullptr;
    }
    bool on_exit() override { return exporter_.on_exit(); }

  private:
    Exporter exporter_;
    Recorder recorder_;
    std::vector<std::unique_ptr<TracingFilter>> filters_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const TracingConfig* t = find(env.config);
    if (!t) return nullptr;
    return std::make_unique<Worker>(env, *t);
}

}  // namespace

}  // namespace gw::tracing

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor tracing_module = {
    .name = "tracing",
    .sections = gw::tracing::kSections,
    .merge_keys = {},
    .read_sections = gw::tracing::read_sections,
    .read_route = gw::tracing::read_route,
    .check = gw::tracing::check,
    .dump = gw::tracing::dump,
    .dump_route = gw::tracing::dump_route,
    .make_worker = gw::tracing::make_worker,
};

}  // namespace gw::module
