// The tls module's worker part: the SSL contexts and transport factories of every TLS listener
// (made in the worker, after fork), provided to the codec as http::Transports, and the route
// filters (require_client_cert, HSTS).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/module/module.h"
#include "http/transport.h"
#include "modules/tls/config.h"

namespace gw::tls {

class ListenerContexts;
class SharedResumption;
class StapleBoard;
class TlsTransportFactory;
class TlsFilter;
class UpstreamTlsClients;

// The Descriptor's `make_worker`: nullptr when the configuration has no TLS listener, no
// require_client_cert route and no upstream with tls:, or after setting env.failed.
std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env);

class TlsWorker final : public module::WorkerPart {
  public:
    // Builds the contexts of every TLS listener of `settings` and provides the transports
    // through `services`; on failure, logs why and sets env.failed (make_worker returns null).
    static std::unique_ptr<TlsWorker> make(module::WorkerEnv& env, const Settings& settings);
    ~TlsWorker() override;

    http::Filter* route_filter(int route) override;

    const http::Transports& transports() const { return transports_; }

  private:
    TlsWorker(module::WorkerEnv& env, const Settings& settings);
    bool build(const module::WorkerEnv& env, std::string& error);
    // The listener's shared session storage (its zones), or nullptr (OpenSSL's per-process).
    std::unique_ptr<SharedResumption> make_resumption(const module::WorkerEnv& env, size_t listener);

    const Config& config_;
    const Settings& settings_;
    metrics::Store& metrics_;
    services::Registry& services_;
    // The OCSP staples the master fetches (null: none); before the contexts, which read it.
    std::unique_ptr<StapleBoard> staples_;
    // By listener index; before the contexts, which use them until they are freed.
    std::vector<std::unique_ptr<SharedResumption>> resumptions_;
    std::vector<std::unique_ptr<ListenerContexts>> contexts_;       // by listener index
    std::vector<std::unique_ptr<TlsTransportFactory>> factories_;   // by listener index
    http::Transports transports_;
    std::vector<std::string> hsts_lines_;                           // by listener index
    std::vector<std::unique_ptr<TlsFilter>> filters_;               // [route + 1]
    std::unique_ptr<UpstreamTlsClients> upstreams_;                 // null: no upstream has tls:
};

}  // namespace gw::tls
