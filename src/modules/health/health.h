// Server health, shared by every process of the node through the shared-memory zone "health":
// one record per (upstream name, server address), so that a reload or a binary upgrade keeps it.
//
// Active checks (`health_check:`) run in the master process, once per node, whatever the number
// of workers: the master outlives workers and reloads, and only the master that serves the node
// (the one named on the status board; during a binary upgrade, the new one once it is ready)
// probes. A server goes down after `fall` consecutive failed probes and up after `rise`
// consecutive good ones; every probe result bumps the record's observation number.
//
// Passive checks run in every worker: `max_fails` connection failures or timeouts within
// `fail_timeout` take a server out for `fail_timeout`, for all workers.
//
// Workers read a record with two relaxed loads when choosing a server.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/shm/keyed_records.h"
#include "core/shm/zone.h"
#include "event/loop.h"

namespace gw::httpc {
class Client;
class TlsClients;
}
namespace gw::http {
class UpstreamTransportFactory;
}

namespace gw::health {

constexpr uint32_t kLayoutVersion = 1;
constexpr uint64_t kZoneSize = 1ull << 20;  // about 8000 servers

struct Record {
    shm::KeyedHeader id;                 // (upstream, server) in the zone's table
    // Active checks (written by the probing master only).
    std::atomic<uint32_t> down;          // 1: taken out by active checks
    std::atomic<uint32_t> successes;     // consecutive good probes
    std::atomic<uint32_t> failures;      // consecutive failed probes
    std::atomic<int32_t> last_status;    // HTTP status of the last probe; 0: no answer
    std::atomic<uint64_t> observation;   // probe results recorded so far
    std::atomic<int64_t> changed_unix;   // last up/down change (wall clock, for /status)
    // Passive checks (any worker; CLOCK_MONOTONIC milliseconds, the same in every process).
    std::atomic<int64_t> fails_since;    // start of the current fail_timeout window
    std::atomic<uint32_t> fails;         // failures in that window
    std::atomic<int64_t> down_until;     // taken out until then
};

// The records of a zone, found by (upstream, server address).
class Table {
  public:
    explicit Table(shm::Zone& zone);
    // nullptr when the zone is full. Takes the zone mutex.
    Record* find_or_create(std::string_view upstream, std::string_view server);

  private:
    shm::KeyedIndex index_;
};

// Whether a worker may send requests to the server now.
inline bool usable(const Record* r, int64_t now_ms) {
    return !r || (r->down.load(std::memory_order_relaxed) == 0 &&
                  r->down_until.load(std::memory_order_relaxed) <= now_ms);
}
inline bool actively_down(const Record* r) { return r && r->down.load(std::memory_order_relaxed) != 0; }
inline bool passively_down(const Record* r, int64_t now_ms) {
    return r && r->down_until.load(std::memory_order_relaxed) > now_ms;
}

// A passive failure (connect failure or timeout). Returns true when it is the one that took the
// server out. Counting is approximate under races between workers (a failure may land in a
// window that another worker is just restarting); the outcome - out after about max_fails
// failures - holds.
bool passive_failure(Record* r, int64_t now_ms, uint32_t max_fails, int64_t fail_timeout);

// The outcome of one probe, applied with fall/rise. Returns +1 when the server came up, -1 when
// it went down, 0 otherwise. Called by the probing master only.
int record_probe(Record* r, bool good, int status, uint32_t fall, uint32_t rise, int64_t now_unix);

// The active checker, in the master: one probe loop per server of every upstream with a
// `health_check:`. Probes are GETs through the outbound HTTP client (http/client), one
// connection each, judged on the status alone: the body is not read. An upstream with `tls:` is
// probed over TLS as the proxy reaches it (the tls module's client context for the upstream:
// http/client/tls.h): a server whose certificate does not verify fails its probes.
class Checker {
  public:
    // `tls`: the tls module's maker of TLS clients, asked for each configuration (null without
    // the tls module: the configuration then has no `tls:` upstream).
    Checker(event::Loop& loop, shm::Zone& zone, metrics::Store& metrics, std::function<httpc::TlsClients*()> tls = {});
    ~Checker();
    // (Re)starts the probes for `config`; records are kept by (upstream, address).
    void configure(std::shared_ptr<const Config> config);
    // Probes run only while this says so: the master that serves the node (during a binary
    // upgrade two masters run; only one probes).
    void set_owner_check(std::function<bool()> is_owner) { is_owner_ = std::move(is_owner); }

  private:
    struct Probe;
    event::Loop& loop_;
    std::unique_ptr<httpc::Client> http_;  // before the probes: they cancel their requests on it
    Table table_;
    metrics::Store& metrics_;
    std::shared_ptr<const Config> config_;
    std::function<httpc::TlsClients*()> tls_clients_;
    // By upstream index: the TLS client of an upstream with `tls:` (refers to config_), and why
    // there is none when it could not be made (its probes then fail, never go in clear).
    std::vector<std::unique_ptr<http::UpstreamTransportFactory>> tls_;
    std::vector<std::string> tls_errors_;
    std::vector<std::unique_ptr<Probe>> probes_;  // last: they go before what they use
    std::function<bool()> is_owner_;
};

}  // namespace gw::health
