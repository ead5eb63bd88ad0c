// The master's key-set fetcher: once per node, each `jwks: {url: ...}` set is fetched through
// the core HTTP client on the master's loop, published to the workers through the "auth-jwks"
// zone (jwks_zone.h), and fetched again
//   - before `refresh` elapses: at 80-100% of it (jitter spreads the nodes of a fleet);
//   - after a failure, with back-off (1s, 2s, 4s ... up to a minute, and never later than the
//     refresh), keeping the last good set meanwhile (stale-if-error, logged and counted);
//   - when a worker met a token whose kid the set does not have: at most once per
//     `kid_miss_interval` per set for the whole node, and only one fetch at a time per set
//     (single-flight: every request waiting for it wakes when it is over).
// The last good set is written to `cache_file` (a temporary file renamed over it) and read from
// there at start, so that a restart while the identity provider is down still verifies tokens.
// An https:// set is fetched over TLS (the tls module's client, http/client/tls.h), verified
// against `ca:` or the system's trust store.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/module/module.h"
#include "modules/auth/config.h"

namespace gw::httpc {
class Client;
class TlsClients;
}

namespace gw::auth {

class JwksTable;

class JwksMaster final : public module::MasterPart {
  public:
    explicit JwksMaster(module::MasterEnv& env);
    ~JwksMaster() override;
    void configure(const std::shared_ptr<const Config>& config) override;
    void on_worker_request(uint16_t code) override;

    static constexpr uint16_t kRefetch = 1;   // worker -> master: see the records' refetch_wanted
    static constexpr uint16_t kChanged = 1;   // master -> worker: a record moved (version or answers)

  private:
    struct Fetcher;
    void notify();

    event::Loop& loop_;
    metrics::Store& metrics_;
    std::function<shm::Zone*(std::string_view)> zone_of_;
    std::function<bool()> still_master_;
    std::function<void(const module::Descriptor&, uint16_t)> notify_workers_;
    httpc::TlsClients* tls_clients_;  // the tls module's (null without it)
    std::unique_ptr<httpc::Client> http_;  // before the fetchers: they cancel their requests on it
    shm::Zone* zone_ = nullptr;
    std::unique_ptr<JwksTable> table_;
    std::vector<std::unique_ptr<Fetcher>> fetchers_;
};

}  // namespace gw::auth
