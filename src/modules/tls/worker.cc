#include "modules/tls/worker.h"

#include <algorithm>

#include "core/config/config.h"
#include "core/log.h"
#include "core/services/registry.h"
#include "modules/tls/context.h"
#include "modules/tls/filter.h"
#include "modules/tls/metrics.h"
#include "modules/tls/resumption.h"
#include "modules/tls/staple_zone.h"
#include "modules/tls/storage.h"
#include "modules/tls/transport.h"
#include "modules/tls/upstream_transport.h"
#include "modules/tls/tls_clients.h"

namespace gw::tls {

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    env.services.provide<httpc::TlsClients>(&tls_clients());  // for https:// external authorizers
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
    bool any_upstream = std::any_of(settings.upstreams.begin(), settings.upstreams.end(),
                                    [](const std::optional<UpstreamTls>& u) { return u.has_value(); });
    if (!any_listener && !any_route && !any_upstream) return nullptr;
    std::unique_ptr<TlsWorker> w(new TlsWorker(env, settings));
    std::string error;
    if (!w->build(env, error)) {
        LOG_EMERG("TLS: %s", error.c_str());
        env.failed = true;
        return nullptr;
    }
    env.services.provide<http::Transports>(&w->transports_);
    if (w->upstreams_) env.services.provide<const http::UpstreamTransports>(&w->upstreams_->transports());
    return w;
}

TlsWorker::TlsWorker(module::WorkerEnv& env, const Settings& settings)
    : config_(env.config), settings_(settings), metrics_(env.metrics), services_(env.services) {}

TlsWorker::~TlsWorker() {
    // The codec's connections are gone before the modules' parts: nothing uses the factories.
    if (services_.find<http::Transports>() == &transports_) services_.provide<http::Transports>(nullptr);
    if (upstreams_ && services_.find<const http::UpstreamTransports>() == &upstreams_->transports())
        services_.provide<const http::UpstreamTransports>(nullptr);
}

bool TlsWorker::build(const module::WorkerEnv& env, std::string& error) {
    size_t n = config_.listeners.size();
    resumptions_.resize(n);
    contexts_.resize(n);
    factories_.resize(n);
    transports_.by_listener.assign(n, nullptr);
    hsts_lines_.assign(n, std::string());
    if (shm::Zone* zone = env.zone(staple_zone_name())) staples_ = StapleBoard::attach(*zone);
    for (size_t i = 0; i < n; ++i) {
        const ListenerTls* tls = settings_.listener(i);
        if (!tls) continue;
        const std::string& address = config_.listeners[i].address;
        auto contexts = std::make_unique<ListenerContexts>();
        std::string why;
        resumptions_[i] = make_resumption(env, i);
        contexts->set_http2(config_.listeners[i].http2 != ListenerConfig::Http2::Off);
        if (!contexts->build(*tls, address, resumptions_[i].get(), why, staples_.get())) {
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
    bool ok = true;
    upstreams_ = UpstreamTlsClients::make(config_, settings_, ok, error);
    return ok;
}

std::unique_ptr<SharedResumption> TlsWorker::make_resumption(const module::WorkerEnv& env, size_t i) {
    const ListenerTls& tls = *settings_.listener(i);
    const std::string& address = config_.listeners[i].address;
    std::unique_ptr<SessionCache> cache;
    std::unique_ptr<TicketKeyRing> ring;
    if (tls.session_cache_bytes) {
        shm::Zone* zone = env.zone(session_zone_name(address));
        if (zone) cache = SessionCache::attach(*zone);
        if (!cache) LOG_WARN("TLS listener %s: no shared session cache; this worker keeps its own", address.c_str());
    }
    if (tls.session_tickets) {
        shm::Zone* zone = env.zone(ticket_zone_name(address));
        if (zone) ring = TicketKeyRing::attach(*zone);
        if (!ring) LOG_WARN("TLS listener %s: no shared ticket keys; this worker makes its own", address.c_str());
    }
    if (!cache && !ring) return nullptr;
    return std::make_unique<SharedResumption>(std::move(cache), std::move(ring));
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
