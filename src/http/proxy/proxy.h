// The reverse proxy of one worker and generation: upstream runtimes, the pool of upstream
// connection objects, and per-route proxy state (split selection, retry budget, metric cells).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "event/loop.h"
#include "http/buffer_pool.h"
#include "http/proxy/headers.h"
#include "http/proxy/upstream.h"
#include "http/upstream/split.h"

namespace gw::services {
class Registry;
}
namespace gw::breaker {
class WorkerBreakers;
}

namespace gw::http {
class ErrorPages;
}

namespace gw::http::proxy {

struct RouteProxyState {
    std::vector<int64_t> split_current;  // smooth weighted round robin over `split`
    upstream::KeyedSplit keyed_split;    // `split_by:` a request with the key
    // Retry budget: two 10-second windows (current and previous).
    event::Millis window_start = 0;
    uint64_t requests[2] = {0, 0};
    uint64_t retries[2] = {0, 0};
    metrics::Histogram* overhead = nullptr;
    std::vector<std::atomic<uint64_t>*> retries_total;  // by upstream index, resolved lazily
};

class Session;

class Proxy {
  public:
    // The error pages (the error_pages module), or null: intercept_errors replaces an
    // upstream's error response that has a page.
    const ErrorPages* error_pages() const { return error_pages_; }
    // `services`: where the breaker and health modules' parts of the worker are (the shared
    // breaker table for upstreams with circuit_breaker, the servers' health records); without
    // them, upstreams run with no breaker and no shared health.
    Proxy(const Config& config, event::Loop& loop, metrics::Store& metrics, uint64_t seed,
          const services::Registry* services = nullptr);
    ~Proxy();

    const Config& config() const { return config_; }
    event::Loop& loop() { return loop_; }
    IdGenerator& ids() { return ids_; }
    UpstreamRuntime& upstream(int index) { return upstreams_[index]; }
    size_t upstream_count() const { return upstreams_.size(); }
    RouteProxyState& route(int index) { return routes_[index]; }

    // The upstream a request of this route goes to (its `upstream`, or one of its `split`).
    // `split_key`: the hash of the request's `split_by` key; none (no split_by, or a request
    // without the key): weighted round robin.
    int choose_upstream(int route_index, std::optional<uint64_t> split_key = std::nullopt);

    // A pooled idle connection to `server`, or nullptr.
    UpstreamConn* acquire_idle(ServerRuntime& server);
    UpstreamConn* new_connection();
    // After a response: keep the connection for the next request, or close it.
    void release(UpstreamConn* c, bool reusable);
    // Called by UpstreamConn::close(): the object goes back to the free list.
    void recycle(UpstreamConn* c);
    void on_idle_event(UpstreamConn* c);  // a pooled connection became readable/closed

    bool retry_allowed(int route_index, double budget);
    void count_request(int route_index);
    void count_retry(int route_index, int upstream_index);
    std::atomic<uint64_t>* class_counter(int route_index, ServerRuntime& server, int status);
    void close_all();

    // Circuit breakers. A transition this worker made: logged and counted, and the breaker
    // watched so that it turns half-open on time even with no request.
    void breaker_transition(ServerRuntime& server, const breaker::Transition& t);
    // An open breaker seen: make sure a tick comes when its period is over (`wait` ms).
    void watch_breaker(event::Millis wait);
    // Applies the time-driven transitions and sets every gateway_circuit_state from the shared
    // state (before /metrics is rendered).
    void refresh_breakers();
    // Until the first server of `u` whose breaker is open may take requests again (ms, >= 0).
    event::Millis breaker_wait(const UpstreamRuntime& u) const;

    // The admin /status member "upstreams": every server's health and circuit state, appended
    // (",\"upstreams\":[...]") to the object being written (status.cc).
    void append_status(std::string& json);

    // Sessions and upstream read buffers are pooled, with a bounded number of spares kept: a
    // burst of concurrent requests does not leave its memory behind for good.
    Session* acquire_session();
    void release_session(Session* s);
    BufferPool& buffers() { return buffers_; }
    // One worker-wide buffer for tunnel reads, which go straight on to the client: an open
    // tunnel holds no read buffer of its own.
    char* scratch() { return scratch_.get(); }
    // Frees spare sessions and buffers unused since the last call (see SpareList::trim).
    size_t trim();

  private:
    const ErrorPages* error_pages_ = nullptr;
    void roll_window(RouteProxyState& r);
    void tick_breakers();

    const Config& config_;
    event::Loop& loop_;
    metrics::Store& metrics_;
    IdGenerator ids_;
    std::vector<UpstreamRuntime> upstreams_;
    std::vector<RouteProxyState> routes_;
    std::vector<std::unique_ptr<UpstreamConn>> conns_;  // every object ever made
    std::vector<UpstreamConn*> free_;
    SpareList<std::unique_ptr<Session>> free_sessions_;  // after conns_: destroyed first
    BufferPool buffers_{UpstreamConn::kBufferSize};
    std::unique_ptr<char[]> scratch_{new char[UpstreamConn::kBufferSize]};
    std::unordered_map<uint64_t, std::atomic<uint64_t>*> class_counters_;
    event::Timer breaker_timer_;  // the next open breaker's period ends
    breaker::WorkerBreakers* breakers_ = nullptr;  // refreshes our breaker gauges for /metrics
};

}  // namespace gw::http::proxy
