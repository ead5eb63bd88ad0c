// The auth module's Descriptor: the `auth:` section and a route's `auth:` list, their checks and
// dump, and the worker part that makes each route's filter. The core names no module: it reaches
// this one through the list (after access, before ratelimit: a refused request spends no rate
// limit, and a rate limit can key on the consumer auth found).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "core/log.h"
#include "modules/auth/api_keys.h"
#include "modules/auth/basic.h"
#include "core/services/registry.h"
#include "modules/auth/crypt_worker.h"
#include "modules/auth/external.h"
#include "modules/auth/config.h"
#include "modules/auth/filter.h"
#include "modules/auth/jwks_master.h"
#include "modules/auth/jwks_worker.h"
#include "modules/auth/jwks_zone.h"
#include "modules/auth/jwt_runtime.h"

namespace gw::auth {

namespace {

constexpr std::string_view kSections[] = {"auth"};

// What is configured but not built yet is refused, never accepted and left unenforced.
void check(Config& c, Diagnostics& diags) {
    if (!settings(c)) return;
    Settings* s = &module::loading_part<Settings>(c, module::auth_module);
    // The claims other modules key on (claim:NAME) are kept with every verified token.
    for (JwtProvider& p : s->jwt)
        for (const std::string& name : c.claims_in_use)
            if (std::find(p.wanted_claims.begin(), p.wanted_claims.end(), name) == p.wanted_claims.end())
                p.wanted_claims.push_back(name);
    for (size_t i = 0; i < s->routes.size() && i < c.routes.size(); ++i) {
        if (s->routes[i].empty()) continue;
        const RouteConfig& r = c.routes[i];
        // A forwarded claim's or copied header must not also be a route's own header operation.
        for (const ProviderRef& ref : s->routes[i]) {
            if (ref.kind == ProviderRef::Kind::External)
                for (const std::string& copied : s->external[ref.index].copy_headers)
                    for (const HeaderOp& h : r.request_headers.set)
                        if (h.name == copied)
                            diags.error(s->route_marks[i], "routes[" + std::to_string(i) + "].auth: provider \"" +
                                                               s->external[ref.index].name + "\" copies " + copied +
                                                               " from the authorizer, which request_headers also sets");
            if (ref.kind != ProviderRef::Kind::Jwt) continue;
            for (const auto& fc : s->jwt[ref.index].forward_claims)
                for (const HeaderOp& h : r.request_headers.set)
                    if (h.name == fc.second)
                        diags.error(s->route_marks[i], "routes[" + std::to_string(i) + "].auth: provider \"" +
                                                           s->jwt[ref.index].name + "\" forwards claim \"" + fc.first +
                                                           "\" as " + fc.second + ", which request_headers also sets");
        }
    }
}

size_t remote_sets(const Settings& s) {
    return static_cast<size_t>(std::count_if(s.jwt.begin(), s.jwt.end(), [](const JwtProvider& p) { return !p.jwks.url.empty(); }));
}

// The remote key sets (jwks: {url: ...}), published by the master (jwks_master.h).
void zones(const Config& c, std::vector<module::ZoneSpec>& out) {
    const Settings* s = settings(c);
    size_t n = s ? remote_sets(*s) : 0;
    if (n == 0) return;
    out.push_back({.name = std::string(kJwksZoneName),
                   .size = jwks_zone_size(n),
                   .version = kJwksLayoutVersion,
                   .kept = "its key sets",
                   .lost = "its key sets are fetched again"});
}

// Made once, when the master starts: idle until a configuration has a remote set.
std::unique_ptr<module::MasterPart> make_master(module::MasterEnv& env) { return std::make_unique<JwksMaster>(env); }

class Worker final : public module::WorkerPart {
  public:
    Worker(module::WorkerEnv& env, const Settings& settings) {
        const Config& config = env.config;
        for (const JwtProvider& p : settings.jwt) jwt_.push_back(std::make_unique<JwtRuntime>(p, reader_));
        if (shm::Zone* zone = remote_sets(settings) ? env.zone(kJwksZoneName) : nullptr) {
            table_ = std::make_unique<JwksTable>(*zone);
            auto ask = env.ask_master;
            for (size_t i = 0; i < settings.jwt.size(); ++i) {
                const JwtProvider& p = settings.jwt[i];
                if (p.jwks.url.empty()) continue;
                JwksRecord* rec = table_->record(p.name, p.jwks.url);
                if (!rec) continue;  // (the master logged that the zone is full)
                remote_.push_back(std::make_unique<RemoteKeys>(*jwt_[i], p.jwks, *table_, *rec, env.loop, [ask] {
                    if (ask) ask(module::auth_module, JwksMaster::kRefetch);
                }));
                jwt_[i]->set_remote(remote_.back().get());
            }
        }
        for (const ApiKeysProvider& p : settings.api_keys) api_keys_.push_back(std::make_unique<ApiKeysRuntime>(p));
        for (const BasicProvider& p : settings.basic) basic_.push_back(std::make_unique<BasicRuntime>(p, failures_));
        Runtimes rt;
        for (auto& j : jwt_) rt.jwt.push_back(j.get());
        for (auto& k : api_keys_) rt.api_keys.push_back(k.get());
        for (auto& b : basic_) rt.basic.push_back(b.get());
        if (uses(settings, ProviderRef::Kind::External)) {
            httpc::Client& http = env.services.http();
            httpc::TlsClients* tls_clients = env.services.find<httpc::TlsClients>();  // the tls module's
            for (const ExternalProvider& p : settings.external)
                external_.push_back(std::make_unique<ExternalRuntime>(p, http, tls_clients));
            for (auto& e : external_) rt.external.push_back(e.get());
        }
        if (uses(settings, ProviderRef::Kind::Basic)) {
            crypt_ = std::make_unique<CryptWorker>(env.loop, kCryptSlots);
            std::string error;
            if (!crypt_->start(error)) {
                LOG_ERROR("auth: basic authentication cannot run: %s", error.c_str());
                env.failed = true;
            }
            rt.crypt = crypt_.get();
        }
        metrics::Store& metrics = env.metrics;
        filters_.resize(config.routes.size());
        for (size_t i = 0; i < config.routes.size(); ++i)
            if (settings.route(i))
                filters_[i] = std::make_unique<AuthFilter>(config, settings, static_cast<int>(i), rt, metrics);
    }
    http::Filter* route_filter(int route) override {
        return route >= 0 && static_cast<size_t>(route) < filters_.size() ? filters_[static_cast<size_t>(route)].get()
                                                                          : nullptr;
    }
    void on_notify(uint16_t code) override {
        if (code == JwksMaster::kChanged)
            for (auto& r : remote_) r->refresh();
    }

  private:
    // Password checks queued at once per worker; more are answered 503.
    static constexpr size_t kCryptSlots = 256;

    static bool uses(const Settings& s, ProviderRef::Kind kind) {
        for (const auto& refs : s.routes)
            for (const ProviderRef& r : refs)
                if (r.kind == kind) return true;
        return false;
    }

    jwt::Reader reader_;
    std::vector<std::unique_ptr<JwtRuntime>> jwt_;
    std::vector<std::unique_ptr<ApiKeysRuntime>> api_keys_;
    FailureLimiter failures_;  // basic auth's, by client address, for all its providers
    std::vector<std::unique_ptr<BasicRuntime>> basic_;
    std::vector<std::unique_ptr<ExternalRuntime>> external_;
    std::unique_ptr<CryptWorker> crypt_;  // destroyed (its thread joined) before the hashes its jobs read
    std::vector<std::unique_ptr<AuthFilter>> filters_;
    std::unique_ptr<JwksTable> table_;
    std::vector<std::unique_ptr<RemoteKeys>> remote_;  // after filters_: gone first (none waits then)
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = settings(env.config);
    if (!s || s->routes.empty()) return nullptr;
    return std::make_unique<Worker>(env, *s);
}

}  // namespace

}  // namespace gw::auth

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor auth_module = {
    .name = "auth",
    .sections = gw::auth::kSections,
    .read_sections = gw::auth::read_sections,
    .read_route = gw::auth::read_route,
    .check = gw::auth::check,
    .dump = gw::auth::dump,
    .dump_route = gw::auth::dump_route,
    .zones = gw::auth::zones,
    .make_master = gw::auth::make_master,
    .make_worker = gw::auth::make_worker,
};

}  // namespace gw::module
