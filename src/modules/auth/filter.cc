#include "modules/auth/filter.h"

#include <ctime>
#include <new>

#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "http/stream.h"
#include "modules/auth/api_keys.h"
#include "modules/auth/credentials.h"
#include "modules/auth/jwks_worker.h"
#include "modules/auth/jwt_runtime.h"

namespace gw::auth {

namespace {

constexpr const char* kHelp = "Requests checked by auth providers, by route, provider and result "
                              "(ok, missing: no credential, invalid: 401, forbidden: 403).";
constexpr const char* kResults[] = {"ok", "missing", "invalid", "forbidden"};

std::string_view provider_name(const Settings& s, const ProviderRef& r) {
    switch (r.kind) {
        case ProviderRef::Kind::Jwt: return s.jwt[r.index].name;
        case ProviderRef::Kind::ApiKeys: return s.api_keys[r.index].name;
        case ProviderRef::Kind::Basic: return s.basic[r.index].name;
        case ProviderRef::Kind::External: return s.external[r.index].name;
    }
    return "";
}

}  // namespace

// The request's state in the Stream's arena.
struct AuthFilter::Ctx {
    TokenCache::Entry* pinned = nullptr;  // the JWT identity the request uses
    int status = 0;                       // 400/401/403 given by this filter (for the challenge)
    uint8_t provider = 0;                 // which provider decided
    jwt::Failure failure = jwt::Failure::None;
    // While waiting for a refetched key set (a JWT whose kid is unknown):
    bool paused = false;                  // answers go through the handle
    KidWaiter waiter;
    http::ResumeHandle handle;
    http::Stream* stream = nullptr;
    AuthFilter* filter = nullptr;
};

AuthFilter::AuthFilter(const Config& config, const Settings& settings, int route, const Runtimes& runtimes,
                       metrics::Store& metrics)
    : http::Filter(http::kHookRequest | http::kHookResponseHead | http::kHookDestroy, sizeof(Ctx), alignof(Ctx)),
      config_(config),
      settings_(settings),
      route_(route),
      runtimes_(runtimes) {
    if (const std::vector<ProviderRef>* refs = settings.route(static_cast<size_t>(route))) providers_ = *refs;
    std::string_view route_name = config.routes[static_cast<size_t>(route)].name;
    for (const ProviderRef& r : providers_) {
        std::string_view name = provider_name(settings, r);
        names_.emplace_back(name);
        std::string challenge;
        switch (r.kind) {
            case ProviderRef::Kind::Jwt:
                challenge = "Bearer realm=\"" + std::string(name) + "\"";
                for (const auto& fc : settings.jwt[r.index].forward_claims) forwarded_.push_back(fc.second);
                break;
            case ProviderRef::Kind::Basic:
                challenge = "Basic realm=\"" + settings.basic[r.index].realm + "\", charset=\"UTF-8\"";
                break;
            case ProviderRef::Kind::ApiKeys: challenge = "ApiKey realm=\"" + std::string(name) + "\""; break;
            case ProviderRef::Kind::External: break;
        }
        if (!challenge.empty()) challenges_ += (challenges_.empty() ? "" : ", ") + challenge;
        std::array<std::atomic<uint64_t>*, 4> cells{};
        for (size_t k = 0; k < 4; ++k) {
            std::string labels = "route=\"" + metrics::escape_label_value(route_name) + "\",provider=\"" +
                                 metrics::escape_label_value(name) + "\",result=\"" + kResults[k] + "\"";
            cells[k] = metrics.counter("gateway_auth_requests_total", labels, kHelp);
        }
        counters_.push_back(cells);
    }
}

void AuthFilter::count(size_t provider, Result r) {
    if (provider < counters_.size())
        if (auto* c = counters_[provider][static_cast<size_t>(r)]) c->fetch_add(1, std::memory_order_relaxed);
}

http::FilterStatus AuthFilter::deny(http::Stream& s, Ctx& c, int status, size_t provider, std::string_view why) {
    c.status = status;
    c.provider = static_cast<uint8_t>(provider);
    std::string_view name = provider < names_.size() ? std::string_view(names_[provider]) : "";
    LOG_INFO("client %s: request refused by auth (route \"%s\", provider \"%.*s\"): %.*s", s.client_address().data(),
             config_.routes[static_cast<size_t>(route_)].name.c_str(), static_cast<int>(name.size()), name.data(),
             static_cast<int>(why.size()), why.data());
    std::string message = status == 403 ? "forbidden" : status == 400 ? "bad request" : "unauthorized";
    if (!why.empty()) message += std::string(": ") + std::string(why);
    if (c.paused)
        c.handle.respond_error(status, message);
    else
        s.reply_error(status, message);
    return http::FilterStatus::Done;
}

http::FilterStatus AuthFilter::on_request(http::Stream& s, void* ctx) {
    Ctx& c = *new (ctx) Ctx();
    const http::Request& req = s.request();
    thread_local std::string scratch;
    for (size_t i = 0; i < providers_.size(); ++i) {
        const ProviderRef& r = providers_[i];
        std::string_view credential;
        switch (r.kind) {
            case ProviderRef::Kind::Jwt: {
                JwtRuntime& jwt = *runtimes_.jwt[r.index];
                Found f = find_credential(req, jwt.provider().from, Scheme::Bearer, scratch, credential);
                if (f == Found::None) continue;
                if (f == Found::Ambiguous) {
                    count(i, Result::Invalid);
                    return deny(s, c, 400, i, "more than one Authorization field");
                }
                return check_jwt(s, c, i, credential, true);
            }
            case ProviderRef::Kind::ApiKeys: {
                ApiKeysRuntime& keys = *runtimes_.api_keys[r.index];
                Found f = find_credential(req, keys.provider().from, Scheme::None, scratch, credential);
                if (f == Found::None) continue;
                const http::Identity* who = f == Found::Yes ? keys.check(credential) : nullptr;
                if (!who) {
                    count(i, Result::Invalid);
                    return deny(s, c, 401, i, "unknown API key");
                }
                s.set_identity(who);
                count(i, Result::Ok);
                return http::FilterStatus::Continue;
            }
            case ProviderRef::Kind::Basic:
            case ProviderRef::Kind::External:
                continue;  // (refused at load until built: see check())
        }
    }
    for (size_t i = 0; i < providers_.size(); ++i) count(i, Result::Missing);
    return deny(s, c, 401, providers_.size(), "no credentials");
}

http::FilterStatus AuthFilter::check_jwt(http::Stream& s, Ctx& c, size_t i, std::string_view credential,
                                         bool may_wait) {
    JwtRuntime& jwt = *runtimes_.jwt[providers_[i].index];
    int64_t now = static_cast<int64_t>(time(nullptr));
    jwt::Failure why = jwt::Failure::None;
    TokenCache::Entry* e = jwt.check(credential, now, why);
    // An unknown kid: the provider may have rotated its keys - wait for a refetch (not inline:
    // the master fetches; this worker goes on serving).
    if (!e && why == jwt::Failure::UnknownKey && may_wait && jwt.remote() &&
        jwt.remote()->on_unknown_kid() == RemoteKeys::Miss::Wait) {
        c.stream = &s;
        c.filter = this;
        c.provider = static_cast<uint8_t>(i);
        c.handle = s.pause_handle();
        c.paused = true;
        c.waiter.owner = &c;
        c.waiter.wake = &AuthFilter::kid_wake;
        jwt.remote()->wait(c.waiter);
        return http::FilterStatus::Pause;
    }
    if (!e) {
        c.failure = why;
        count(i, Result::Invalid);
        return deny(s, c, 401, i, jwt::failure_text(why));
    }
    if (!jwt.meets_requirements(*e)) {
        c.failure = jwt::Failure::ClaimRequirement;
        count(i, Result::Forbidden);
        return deny(s, c, 403, i, jwt::failure_text(jwt::Failure::ClaimRequirement));
    }
    TokenCache::pin(e);
    c.pinned = e;
    s.set_identity(e);
    const JwtProvider& p = jwt.provider();
    for (const auto& [claim, header] : p.forward_claims) {
        std::string_view v = e->claim(claim);
        if (!v.empty()) s.add_request_header(header, v);
    }
    count(i, Result::Ok);
    return http::FilterStatus::Continue;
}

void AuthFilter::kid_wake(KidWaiter& w, bool timed_out) {
    Ctx& c = *static_cast<Ctx*>(w.owner);
    if (c.handle.stale()) return;
    AuthFilter& self = *c.filter;
    if (timed_out) {
        c.failure = jwt::Failure::UnknownKey;
        self.count(c.provider, Result::Invalid);
        self.deny(*c.stream, c, 401, c.provider, jwt::failure_text(jwt::Failure::UnknownKey));
        return;
    }
    // The credential again (it may have been decoded into scratch space since).
    thread_local std::string scratch;
    std::string_view credential;
    find_credential(c.stream->request(), self.runtimes_.jwt[self.providers_[c.provider].index]->provider().from,
                    Scheme::Bearer, scratch, credential);
    if (self.check_jwt(*c.stream, c, c.provider, credential, false) == http::FilterStatus::Continue) c.handle.resume();
}

void AuthFilter::on_response_head(http::Stream&, void* ctx, http::ResponseHead& head) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    if (c.status == 0 || head.status() != c.status) return;
    if (c.provider >= providers_.size()) {  // nothing applied: every challenge
        if (!challenges_.empty()) head.add("www-authenticate", challenges_);
        return;
    }
    const ProviderRef& r = providers_[c.provider];
    std::string value;
    switch (r.kind) {
        case ProviderRef::Kind::Jwt:
            value = "Bearer realm=\"" + names_[c.provider] + "\"";
            if (c.status == 400)
                value += ", error=\"invalid_request\"";
            else if (c.status == 403)
                value += ", error=\"insufficient_scope\"";
            else
                value += ", error=\"invalid_token\", error_description=\"" +
                         std::string(jwt::failure_text(c.failure)) + "\"";
            break;
        case ProviderRef::Kind::ApiKeys: value = "ApiKey realm=\"" + names_[c.provider] + "\""; break;
        case ProviderRef::Kind::Basic:
            value = "Basic realm=\"" + settings_.basic[r.index].realm + "\", charset=\"UTF-8\"";
            break;
        case ProviderRef::Kind::External: return;
    }
    head.add("www-authenticate", value);
}

void AuthFilter::on_destroy(http::Stream&, void* ctx) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    c.waiter.unlink();  // the client left while the request waited for a key set
    if (c.pinned) TokenCache::unpin(c.pinned);
    c.~Ctx();
}

}  // namespace gw::auth
