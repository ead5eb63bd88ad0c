#include "modules/tls/worker.h"

#include <algorithm>

#include "core/config/config.h"
#include "core/log.h"
#include "core/services/registry.h"
#include "modules/tls/context.h"
#include "modules/tls/filter.h"
#include "modules/tls/metrics.h"
#include "modules/tls/transport.h"

namespace gw::tls {

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    // Found by name: the Descriptor (module.cc) refers to this function.
    const module::Descriptor* self = module::find("tls");
    const Settings* settings = self ? module::find_part<Settings>(env.config, *self) : nullptr;
    if (!settings) return nullptr;
    return TlsWorker::make(env, *settings);
}

std::unique_ptr<TlsWorker> TlsWorker::make(module::WorkerEnv& env, const Settings& settings) {
    bool any_listener = std::any_of(settings.listeners.begin(), settings.listeners.end(),
                                    [](const std::optional<ListenerTls>& l) { return l.has_value(); });
    bool any_route = std::find(settings.require_client_cert.begin(), settings.require_client_cert.end(), true) !=
                     settings.require_client_cert.end();
    if (!any_listener && !any_route) return nullptr;
    std::unique_ptr<TlsWorker> w(new TlsWorker(env, settings));
    std::string error;
    if (!w->build(error)) {
        LOG_EMERG("TLS: %s", error.c_str());
        env.failed = true;
        return nullptr;
    }
    env.services.provide<http::Transports>(&w->transports_);
    return w;
}

TlsWorker::TlsWorker(module::WorkerEnv& env, const Settings& settings)
    : config_(env.config), settings_(settings), metrics_(env.metrics), services_(env.services) {}

TlsWorker::~TlsWorker() {
    // The codec's connections are gone before the modules' parts: nothing uses the factories.
    if (services_.find<http::Transports>() == &transports_) services_.provide<http::Transports>(nullptr);
}

bool TlsWorker::build(std::string& error) {
    size_t n = config_.listeners.size();
    contexts_.resize(n);
    factories_.resize(n);
    transports_.by_listener.assign(n, nullptr);
    hsts_lines_.assign(n, std::string());
    for (size_t i = 0; i < n; ++i) {
        const ListenerTls* tls = settings_.listener(i);
        if (!tls) continue;
        const std::string& address = config_.listeners[i].address;
        auto contexts = std::make_unique<ListenerContexts>();
        std::string why;
        if (!contexts->build(*tls, address, nullptr, why)) {
            error = "listener " + address + (tls->mark.file ? " (" + tls->mark.str() + ")" : "") + ": " + why;
            return false;
        }
        factories_[i] = std::make_unique<TlsTransportFactory>(*contexts, tls->handshake_timeout_ms,
                                                              ListenerMetrics::make(metrics_, address, *tls));
        transports_.by_listener[i] = factories_[i].get();
        contexts_[i] = std::move(contexts);
        hsts_lines_[i] = hsts_line(tls->hsts);
    }
    filters_.resize(config_.routes.size() + 1);
    return true;
}

http::Filter* TlsWorker::route_filter(int route) {
    if (route < -1 || static_cast<size_t>(route + 1) >= filters_.size()) return nullptr;
    bool require = route >= 0 && settings_.requires_client_cert(static_cast<size_t>(route));
    bool hsts = std::any_of(hsts_lines_.begin(), hsts_lines_.end(), [](const std::string& l) { return !l.empty(); });
    if (!require && !hsts) return nullptr;
    std::unique_ptr<TlsFilter>& f = filters_[static_cast<size_t>(route + 1)];
    if (!f) f = std::make_unique<TlsFilter>(config_, route, require, hsts_lines_);
    return f.get();
}

}  // namespace gw::tls
