// Per-worker runtime of the upstreams of one generation: each server's keep-alive pool, its
// passive "down" mark or its circuit breaker, and its metric cells; and the upstream connections
// themselves.
//
// Upstream sockets are registered once, edge-triggered, for reading and writing: a pooled
// connection moves between requests without a single epoll_ctl call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/log_throttle.h"
#include "core/metrics/store.h"
#include "event/loop.h"
#include "http/proxy/queue.h"
#include "http/proxy/read_buffer.h"
#include "http/transport.h"
#include "http/upstream/balancer.h"
#include "modules/breaker/breaker.h"
#include "modules/health/health.h"

namespace gw::http::proxy {

class Session;
class H2Conn;
struct ServerRuntime;
class Proxy;

// Tls: the handshake with the server failed (its certificate did not verify, an alert...):
// nothing was sent, so it is retried and counted as a connect failure.
enum class ErrorKind : uint8_t { ConnectRefused, ConnectTimeout, Timeout, Reset, InvalidResponse, Tls, Count };
std::string_view error_kind_name(ErrorKind k);

class UpstreamConn final : public event::IoHandler {
  public:
    static constexpr size_t kBufferSize = ReadBuffer::kSize;

    explicit UpstreamConn(Proxy& proxy);
    ~UpstreamConn();
    void on_io(uint32_t events) override;

    // Starts a non-blocking connect; false with errno set when it failed at once.
    bool connect(ServerRuntime& server);
    void close();
    // Write readiness is watched only while a write waits for room (and while connecting): an
    // edge-triggered EPOLLOUT that stays registered wakes the worker after every request sent.
    void watch_write(bool on);
    // Opens the TLS transport of a connected socket to a server of an upstream with `tls:`;
    // false when it cannot be made (logged).
    bool open_tls();

    int fd = -1;
    ServerRuntime* server = nullptr;
    Session* owner = nullptr;     // while a request uses it
    H2Conn* h2 = nullptr;         // the HTTP/2 connection it carries (protocol: h2c | h2)
    uint32_t requests = 0;        // requests sent on this connection
    bool connected = false;
    bool idle = false;
    bool watching_write = false;
    ReadBuffer in;  // response bytes; its memory is held only while a request uses the connection
    // TLS to the server (an upstream with `tls:`), kept with the pooled connection; null on a
    // plain one. Opened once connected; reads and writes go through it.
    http::ClientTransport* transport = nullptr;
    event::Timer idle_timer;

  private:
    Proxy& proxy_;
};

struct ServerRuntime {
    const UpstreamServerConfig* config = nullptr;
    struct UpstreamRuntime* upstream = nullptr;
    int index = 0;
    std::string labels;            // upstream="u",server="addr"
    std::vector<UpstreamConn*> idle;  // most recently used last
    event::Millis down_until = 0;  // this worker skips the server until then (no breaker)
    // All workers; also read by the balancer, and the slots of max_conns (taken exactly).
    metrics::OwnedGauge active_requests;
    metrics::Histogram* response_time = nullptr;
    std::atomic<uint64_t>* errors[static_cast<int>(ErrorKind::Count)] = {};
    breaker::Breaker breaker;      // shared by all workers (upstreams with circuit_breaker)
    health::Record* health = nullptr;  // shared health state; null: none (zone full)
    std::atomic<int64_t>* circuit_state = nullptr;   // gateway_circuit_state
    std::atomic<uint64_t>* circuit_entered[3] = {};  // gateway_circuit_transitions_total, by State
    LogThrottle error_log;         // this worker's error lines about the server (a failed attempt)
    // protocol: h2c | h2 - this worker's HTTP/2 connections to the server (h2_conn.h).
    std::vector<std::unique_ptr<H2Conn>> h2;
    ServerRuntime();
    ~ServerRuntime();
    ServerRuntime(ServerRuntime&&) noexcept;
};

struct UpstreamRuntime {
    const UpstreamConfig* config = nullptr;
    std::vector<ServerRuntime> servers;
    std::unique_ptr<upstream::Balancer> balancer;
    http::UpstreamTransportFactory* tls = nullptr;  // `tls:` (the tls module); null: plain
    size_t idle_total = 0;
    metrics::OwnedGauge conns_active;  // all workers
    metrics::OwnedGauge conns_idle;
    // This worker's per-request warnings about the upstream, each written once per
    // logs.repeat_interval with a count (every server down, circuit open, no server).
    enum LogSite { kLogAllDown, kLogRouteToAll, kLogCircuitOpen, kLogNoServer, kLogBusy, kLogSites };
    LogThrottle log_throttles[kLogSites];
    // max_conns: the queue (none without `queue:`), and the requests it turned away
    // (gateway_upstream_queue_rejected_total, by reason: full, timeout).
    std::unique_ptr<UpstreamQueue> queue;
    std::atomic<uint64_t>* busy_rejected[2] = {};
};

}  // namespace gw::http::proxy
