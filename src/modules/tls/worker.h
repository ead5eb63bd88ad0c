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
class TlsTransportFactory;
class TlsFilter;

// The Descriptor's `make_worker`: nullptr when the configuration has no TLS listener and no
// require_client_cert route, or after setting env.failed.
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
    bool build(std::string& error);

    const Config& config_;
    const Settings& settings_;
    metrics::Store& metrics_;
    services::Registry& services_;
    std::vector<std::unique_ptr<ListenerContexts>> contexts_;       // by listener index
    std::vector<std::unique_ptr<TlsTransportFactory>> factories_;   // by listener index
    http::Transports transports_;
    std::vector<std::string> hsts_lines_;                           // by listener index
    std::vector<std::unique_ptr<TlsFilter>> filters_;               // [route + 1]
};

}  // namespace gw::tls
