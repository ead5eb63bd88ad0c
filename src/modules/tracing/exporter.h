// A worker's span buffer and its exporter: spans wait in a bounded ring (SpanRing, made when the
// worker starts) and go to the collector in batches - when `batch` spans wait, and every `flush`
// - as OTLP/HTTP JSON POSTs through the worker's outbound HTTP client (services::Registry::http()).
//
// It never holds a request up: recording is a copy into the ring; a full ring drops the new
// spans (counted); at most one export is in flight; an export that fails (unreachable, timed
// out, not 2xx) drops its batch (counted) and backs off exponentially (0.5 s doubling up to 30 s),
// and while it backs off the batches that come due are dropped too (counted): nothing queues
// beyond the ring. A worker about to exit sends what is buffered if the collector answers
// within `timeout`.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/log_throttle.h"
#include "event/loop.h"
#include "http/client/client.h"
#include "modules/tracing/config.h"
#include "modules/tracing/span.h"

namespace gw {
struct LogsConfig;
namespace metrics {
class Store;
}
namespace services {
class Registry;
}
}  // namespace gw

namespace gw::http {
class UpstreamTransportFactory;
}

namespace gw::tracing {

class Exporter final : public httpc::Handler {
  public:
    Exporter(const TracingConfig& config, const LogsConfig& logs, event::Loop& loop, services::Registry& services,
             metrics::Store* metrics);
    ~Exporter();

    SpanRing& ring() { return ring_; }
    // Room for `n` spans of one request (a server span and its attempts'): false when there is
    // none - they are dropped, and counted.
    bool reserve(size_t n);
    // Spans were recorded: an export starts (from the loop) once a batch waits.
    void recorded();
    // The worker is about to exit: true when an export was started (or is in flight) whose end
    // stops the loop (at the latest after `timeout`).
    bool on_exit();

    void on_http_answer(httpc::Answer& answer) override;

    // For tests.
    bool in_flight() const { return in_flight_ != 0; }
    uint64_t backoff_ms() const { return backoff_ms_; }

    static constexpr int64_t kFirstBackoff = 500;
    static constexpr int64_t kMaxBackoff = 30000;

  private:
    void export_now(bool all);
    void count(std::atomic<uint64_t>* c, uint64_t n) {
        if (c) c->fetch_add(n, std::memory_order_relaxed);
    }

    const TracingConfig& config_;
    const LogsConfig& logs_;
    event::Loop& loop_;
    services::Registry& services_;
    httpc::Client& http_;
    std::unique_ptr<http::UpstreamTransportFactory> tls_;
    std::string tls_error_;  // why there is no TLS factory for an https:// endpoint
    bool tls_tried_ = false;  // the factory was asked for (at the first export)
    std::vector<http::Header> headers_;
    std::string log_endpoint_;  // the endpoint without its query (a token there stays out of logs)
    SpanRing ring_;
    std::string body_;
    httpc::Handle handle_;
    size_t in_flight_ = 0;  // spans of the export in flight (0: none)
    int64_t backoff_ms_ = 0;
    event::Millis retry_at_ = 0;  // backing off until then
    bool exiting_ = false;
    event::Timer flush_timer_, kick_timer_, exit_timer_;
    LogThrottle failed_log_;
    std::atomic<uint64_t>* exported_ = nullptr;
    std::atomic<uint64_t>* dropped_full_ = nullptr;
    std::atomic<uint64_t>* dropped_failed_ = nullptr;
    std::atomic<uint64_t>* exports_ok_ = nullptr;
    std::atomic<uint64_t>* exports_error_ = nullptr;
};

}  // namespace gw::tracing
