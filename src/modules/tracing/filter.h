// The tracing filter: head sampling of each request, and its spans - one SERVER span per
// sampled request and a CLIENT span per upstream attempt (the proxy records each attempt's span
// id, sent upstream in traceparent, and times: UpstreamTrace::Attempt) - copied into the
// worker's span ring when the response is complete.
//
// An unsampled request costs a look for the traceparent header and a PRNG draw. A sampled
// one sets the stream's TraceContext (http/trace_context.h) in the filter's state, which the
// proxy reads for the traceparent it sends and the codec calls when the response is complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "http/filter.h"
#include "http/request_id.h"
#include "http/trace_context.h"
#include "modules/tracing/config.h"
#include "modules/tracing/exporter.h"
#include "modules/tracing/parse.h"

namespace gw::tracing {

// Head sampling with a worker's own PRNG (splitmix64): no syscall, no lock.
class Sampler {
  public:
    Sampler(double ratio, uint64_t seed);
    bool sample() {
        if (always_) return true;
        return next() < threshold_;
    }
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

  private:
    uint64_t state_;
    uint64_t threshold_ = 0;  // sampled when next() < threshold_ (0: never)
    bool always_ = false;
};

// What a worker's tracing filters share: the sampler, the ids, the exporter and its ring.
class Recorder {
  public:
    Recorder(const TracingConfig& config, Exporter& exporter, uint64_t seed)
        : config_(config), exporter_(exporter), sampler_(config.sample, seed), ids_(seed ^ 0x5bd1e995u) {}
    Sampler& sampler() { return sampler_; }
    http::IdGenerator& ids() { return ids_; }
    Exporter& exporter() { return exporter_; }

  private:
    const TracingConfig& config_;
    Exporter& exporter_;
    Sampler sampler_;
    http::IdGenerator ids_;
};

class TracingFilter final : public http::Filter {
  public:
    TracingFilter(Recorder& recorder, std::string_view route_name);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;

    struct Ctx {
        http::TraceContext trace;  // first: finish() finds the Ctx from it
        TracingFilter* self;
        char parent_id[16];
        bool has_parent;
        bool done;      // the spans were recorded (or dropped)
        bool https;
    };

  private:
    static void finish(http::TraceContext& t, http::Stream& s, int status, uint64_t body_bytes);
    static void finish_unsampled(http::TraceContext&, http::Stream&, int, uint64_t) {}
    static void ended(http::TraceContext& t, http::Stream& s);
    void record(Ctx& c, http::Stream& s, int status, bool aborted);

    Recorder& recorder_;
    std::string_view route_;
};

}  // namespace gw::tracing
