// The compress module: `compress:` (a default policy and the per-worker memory bound) and a
// route's `compress:` key, applied by a filter per route that compresses. Listed before the
// modules that keep responses (src/modules/modules.list): response hooks run in reverse list
// order, so they keep the body as the upstream sent it, and compression is the last thing done.
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "modules/compress/config.h"
#include "modules/compress/filter.h"
#include "modules/compress/pool.h"

namespace gw::compress {

namespace {

constexpr std::string_view kSections[] = {"compress"};

class Worker final : public module::WorkerPart {
  public:
    Worker(const Config& config, const Settings& settings, metrics::Store& metrics)
        : pool_(settings.max_memory), filters_(config.routes.size()) {
        for (Coding c : {Coding::Gzip, Coding::Br, Coding::Zstd}) {
            if (!available(c)) continue;
            size_t i = static_cast<size_t>(c);
            std::string label = "coding=\"" + std::string(coding_name(c)) + "\"";
            stats_.responses[i] = metrics.counter("gateway_compress_responses_total", label,
                                                  "Responses compressed, by content coding.");
            stats_.bytes_in[i] = metrics.counter("gateway_compress_input_bytes_total", label,
                                                 "Response body bytes before compression, by content coding.");
            stats_.bytes_out[i] = metrics.counter("gateway_compress_output_bytes_total", label,
                                                  "Response body bytes after compression, by content coding.");
        }
        const char* skipped_help =
            "Responses the client would have taken compressed that were sent as they are: memory (the "
            "worker's compression memory was at compress.max_memory), breach (breach_guard: a response "
            "setting a cookie to a request with credentials).";
        stats_.skipped_memory = metrics.counter("gateway_compress_skipped_total", "reason=\"memory\"", skipped_help);
        stats_.skipped_breach = metrics.counter("gateway_compress_skipped_total", "reason=\"breach\"", skipped_help);
        stats_.failed = metrics.counter("gateway_compress_failures_total", "",
                                        "Responses whose compression failed in the middle (the library ran out of "
                                        "memory): their body was cut short.");
        memory_ = metrics.owned_gauge("gateway_compress_memory_bytes", "",
                                      "Bytes the compression libraries hold, in every worker (bounded per worker "
                                      "by compress.max_memory).");
        for (size_t i = 0; i < config.routes.size(); ++i)
            if (const Policy* p = settings.route(i)) filters_[i] = std::make_unique<CompressFilter>(*p, pool_, stats_);
    }
    ~Worker() override { memory_.add(-static_cast<int64_t>(reported_)); }

    http::Filter* route_filter(int route) override {
        return route >= 0 && static_cast<size_t>(route) < filters_.size() ? filters_[static_cast<size_t>(route)].get()
                                                                          : nullptr;
    }
    void refresh_metrics() override {
        size_t now = pool_.memory();
        memory_.add(static_cast<int64_t>(now) - static_cast<int64_t>(reported_));
        reported_ = now;
    }

  private:
    Pool pool_;
    Stats stats_;
    metrics::OwnedGauge memory_;
    size_t reported_ = 0;
    std::vector<std::unique_ptr<CompressFilter>> filters_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = settings(env.config);
    if (!s) return nullptr;
    bool any = false;
    for (size_t i = 0; i < env.config.routes.size(); ++i) any = any || s->route(i);
    if (!any) return nullptr;
    return std::make_unique<Worker>(env.config, *s, env.metrics);
}

}  // namespace

}  // namespace gw::compress

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor compress_module = {
    .name = "compress",
    .sections = gw::compress::kSections,
    .read_sections = gw::compress::read_sections,
    .read_route = gw::compress::read_route,
    .check = gw::compress::check,
    .dump = gw::compress::dump,
    .dump_route = gw::compress::dump_route,
    .make_worker = gw::compress::make_worker,
};

}  // namespace gw::module
