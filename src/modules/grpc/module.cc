// The grpc module: a route's `grpc: true`. On such a route the gateway's own errors reach gRPC
// clients as gRPC statuses (200 + grpc-status, written by the core: src/http/grpc/routes.h),
// a request's grpc-timeout caps the proxy's timeouts (the deadline ends the call with
// DEADLINE_EXCEEDED instead of the route's longer timeout), and every gRPC response is counted
// by its grpc-status in gateway_grpc_responses_total{route, grpc_status}.
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/dump.h"
#include "core/config/schema.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "core/services/registry.h"
#include "event/loop.h"
#include "http/filter.h"
#include "http/grpc/grpc.h"
#include "http/grpc/routes.h"
#include "http/stream.h"

namespace gw::module {
extern const Descriptor grpc_module;
}

namespace gw::grpc_routes {

using module::grpc_module;

namespace {

struct Settings : module::ConfigPart {
    std::vector<bool> routes;  // by route index: `grpc: true`
    bool any = false;
};

Settings& building(Config& c) { return module::loading_part<Settings>(c, grpc_module); }
const Settings* part(const Config& c) { return module::find_part<Settings>(c, grpc_module); }

void read_route(schema::MapReader& route, Config& c, size_t index) {
    bool on = false;
    if (!route.get_bool("grpc", on) || !on) return;
    Settings& s = building(c);
    if (s.routes.size() <= index) s.routes.resize(index + 1, false);
    s.routes[index] = true;
    s.any = true;
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings* s = part(c);
    if (s && index < s->routes.size() && s->routes[index]) dump::line(out, indent, "grpc", "true");
}

constexpr size_t kStatuses = 17;  // 0 OK .. 16 UNAUTHENTICATED; others are counted as "other"

// The request's grpc-timeout becomes the stream's upstream deadline; a trailers-only response
// from the upstream (grpc-status in its head) is counted here (trailers: by the HTTP/2 codec).
class Filter final : public http::Filter {
  public:
    Filter(event::Loop& loop, http::GrpcRoutes& routes, int route)
        : http::Filter(http::kHookRequest | http::kHookResponseHead), loop_(loop), routes_(routes), route_(route) {}

    http::FilterStatus on_request(http::Stream& s, void*) override {
        const http::Request& req = s.request();
        if (!http::is_grpc_content_type(req.header("content-type"))) return http::FilterStatus::Continue;
        uint64_t ms = 0;
        // An invalid value is ignored (the call has no deadline of its own), as gRPC's Java
        // implementation does; the upstream sees it and may refuse it.
        if (http::grpc::parse_timeout(req.header("grpc-timeout"), ms)) s.set_upstream_deadline(loop_.now() + ms);
        return http::FilterStatus::Continue;
    }

    void on_response_head(http::Stream& s, void*, http::ResponseHead& head) override {
        if (!head.upstream()) return;  // the gateway's own answers are counted where written
        std::string_view status = head.upstream_header("grpc-status");
        if (!status.empty() && is_grpc_content_type_of(s)) routes_.count_status(route_, status);
    }

  private:
    static bool is_grpc_content_type_of(http::Stream& s) {
        return http::is_grpc_content_type(s.request().header("content-type"));
    }
    event::Loop& loop_;
    http::GrpcRoutes& routes_;
    int route_;
};

class Worker final : public module::WorkerPart, public http::GrpcRoutes {
  public:
    Worker(const Config& config, const Settings& s, event::Loop& loop, metrics::Store& metrics,
           services::Registry& services)
        : config_(config), settings_(s), metrics_(metrics), services_(services) {
        cells_.resize(config.routes.size());
        for (size_t i = 0; i < config.routes.size(); ++i)
            if (is_grpc(static_cast<int>(i))) filters_.push_back(std::make_unique<Filter>(loop, *this, static_cast<int>(i)));
            else filters_.push_back(nullptr);
        services_.provide<http::GrpcRoutes>(this);
    }
    ~Worker() override { services_.provide<http::GrpcRoutes>(nullptr); }

    http::Filter* route_filter(int route) override {
        return route >= 0 && static_cast<size_t>(route) < filters_.size() ? filters_[route].get() : nullptr;
    }

    bool is_grpc(int route) const override {
        return route >= 0 && static_cast<size_t>(route) < settings_.routes.size() && settings_.routes[route];
    }

    void count_status(int route, std::string_view grpc_status) override {
        if (!is_grpc(route)) return;
        size_t code = kStatuses;  // "other"
        if (!grpc_status.empty() && grpc_status.size() <= 2) {
            size_t n = 0;
            bool digits = true;
            for (char c : grpc_status) {
                digits &= c >= '0' && c <= '9';
                n = n * 10 + static_cast<size_t>(c - '0');
            }
            if (digits && n < kStatuses) code = n;
        }
        std::atomic<uint64_t>*& cell = cells_[route][code];
        if (!cell) {
            std::string labels = "route=\"" + metrics::escape_label_value(config_.routes[route].name) + "\",grpc_status=\"" +
                                 (code == kStatuses ? std::string("other") : std::to_string(code)) + "\"";
            cell = metrics_.counter("gateway_grpc_responses_total", labels,
                                    "gRPC responses of grpc: true routes, by route and grpc-status.");
            if (!cell) return;
        }
        cell->fetch_add(1, std::memory_order_relaxed);
    }

  private:
    const Config& config_;
    const Settings& settings_;
    metrics::Store& metrics_;
    services::Registry& services_;
    std::vector<std::unique_ptr<Filter>> filters_;
    std::vector<std::array<std::atomic<uint64_t>*, kStatuses + 1>> cells_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = part(env.config);
    if (!s || !s->any) return nullptr;
    return std::make_unique<Worker>(env.config, *s, env.loop, env.metrics, env.services);
}

}  // namespace

}  // namespace gw::grpc_routes

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor grpc_module = {
    .name = "grpc",
    .read_route = gw::grpc_routes::read_route,
    .dump_route = gw::grpc_routes::dump_route,
    .make_worker = gw::grpc_routes::make_worker,
};

}  // namespace gw::module
