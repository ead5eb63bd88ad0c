#include "modules/auth/filter.h"

#include <openssl/crypto.h>

#include <cstdio>
#include <ctime>
#include <new>

#include "core/base64.h"
#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "http/stream.h"
#include "modules/auth/api_keys.h"
#include "modules/auth/basic.h"
#include "modules/auth/crypt_worker.h"
#include "modules/auth/external.h"
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
    uint32_t retry_after = 0;             // a 429's Retry-After (basic auth's failure limit)
    // A paused request - a JWT whose kid is unknown waits for a refetched key set, a password for
    // the crypt thread, an external authorizer for its answer; answers go through the handle:
    bool paused = false;
    AuthFilter* self = nullptr;
    http::Stream* stream = nullptr;  // valid while paused: on_destroy cancels the wait first
    http::ResumeHandle handle;
    KidWaiter waiter;
    uint64_t ticket = 0;                      // CryptWorker's, until answered
    const http::Identity* who = nullptr;      // the user, when known
    Digest key{};                             // the good-check (basic) or decision (external) cache's key
    // An external authorizer's request in flight, and the decision the request holds (its identity).
    struct ExternalCall final : httpc::Handler {
        Ctx* ctx = nullptr;
        void on_http_answer(httpc::Answer& a) override { ctx->self->external_answered(*ctx, a); }
    } call;
    httpc::Handle request;
    std::shared_ptr<const Decision> decision;
};

AuthFilter::AuthFilter(const Config& config, const Settings& settings, int route, const Runtimes& runtimes,
                       metrics::Store& metrics)
    : http::Filter(http::kHookRequest | http::kHookResponseHead | http::kHookDestroy, sizeof(Ctx), alignof(Ctx)),
      config_(config),
      settings_(settings),
      route_(route),
      runtimes_(runtimes) {
    // The route's filters share FilterChain::kArenaSize (512) bytes per request: JWT kid waits
    // and basic/external checks keep their state here (one back-pointer, one handle for all).
    static_assert(sizeof(Ctx) <= 272, "the auth filter's per-request state grew");
    if (const std::vector<ProviderRef>* refs = settings.route(static_cast<size_t>(route))) providers_ = *refs;
    std::string_view route_name = config.routes[static_cast<size_t>(route)].name;
    for (const ProviderRef& r : providers_) {
        std::string_view name = provider_name(settings, r);
        names_.emplace_back(name);
        all_names_ += (all_names_.empty() ? "" : ", ") + std::string(name);
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
            case ProviderRef::Kind::External:
                for (const std::string& h : settings.external[r.index].copy_headers) forwarded_.push_back(h);
                break;
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

// `why` goes to the client (in the error's text) and the log; `detail`, to the log only.
http::FilterStatus AuthFilter::deny(http::Stream& s, Ctx& c, int status, size_t provider, std::string_view why,
                                    std::string_view detail) {
    c.status = status;
    c.provider = static_cast<uint8_t>(provider);
    // No provider applied (no credentials): the log names the route's list.
    bool one = provider < names_.size();
    std::string_view name = one ? std::string_view(names_[provider]) : std::string_view(all_names_);
    LOG_INFO("client %s: request refused by auth (route \"%s\", %s \"%.*s\"): %.*s%s%.*s", s.client_address().data(),
             config_.routes[static_cast<size_t>(route_)].name.c_str(), one ? "provider" : "providers",
             static_cast<int>(name.size()), name.data(), static_cast<int>(why.size()), why.data(),
             detail.empty() ? "" : " ", static_cast<int>(detail.size()), detail.data());
    std::string message = status == 403   ? "forbidden"
                          : status == 400 ? "bad request"
                          : status == 429 ? "too many requests"
                          : status == 503 ? "service unavailable"
                                          : "unauthorized";
    if (!why.empty()) message += std::string(": ") + std::string(why);
    if (c.paused)
        c.handle.respond_error(status, message);
    else
        s.reply_error(status, message);
    return http::FilterStatus::Done;
}

void AuthFilter::deny_later(Ctx& c, int status, std::string_view why, std::string_view detail) {
    c.paused = true;  // the answer goes through the handle
    deny(*c.stream, c, status, c.provider, why, detail);
}

// Basic credentials: refused at once when the client is over its failure limit or sends
// something that is not base64("user:password"); accepted at once from the good-check cache;
// otherwise checked on the crypt thread while the request waits.
http::FilterStatus AuthFilter::check_basic(http::Stream& s, Ctx& c, size_t i, std::string_view credential) {
    BasicRuntime& rt = *runtimes_.basic[providers_[i].index];
    int64_t now = event::monotonic_ms();
    if (int64_t wait = rt.failures().blocked_for(s.client_address(), now)) {
        c.retry_after = static_cast<uint32_t>((wait + 999) / 1000);
        count(i, Result::Invalid);
        return deny(s, c, 429, i, "too many failed basic-auth attempts from this address");
    }
    thread_local std::string decoded;
    decoded.clear();
    std::string_view user, password;
    struct Wipe {
        std::string& s;
        ~Wipe() {
            if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
        }
    } wipe{decoded};
    if (!base64_decode(credential, decoded) || !BasicRuntime::split(decoded, user, password) ||
        password.size() > CryptWorker::kMaxPassword) {
        rt.failures().failed(s.client_address(), now);
        count(i, Result::Invalid);
        return deny(s, c, 401, i, "malformed basic credentials");
    }
    c.key = rt.key(user, password);
    if (const http::Identity* who = rt.cached(c.key, now)) {
        s.set_identity(who);
        count(i, Result::Ok);
        return http::FilterStatus::Continue;
    }
    const std::string& hash = rt.hash_for(user, c.who);
    c.self = this;
    c.stream = &s;
    c.provider = static_cast<uint8_t>(i);
    c.handle = s.pause_handle();
    c.ticket = runtimes_.crypt ? runtimes_.crypt->submit(hash, password, &AuthFilter::basic_checked, &c) : 0;
    if (!c.ticket) return deny(s, c, 503, i, "too many password checks in progress");
    return http::FilterStatus::Pause;
}

// The authorizer decides: from the decision cache at once, or paused until its answer.
http::FilterStatus AuthFilter::check_external(http::Stream& s, Ctx& c, size_t i) {
    ExternalRuntime& rt = *runtimes_.external[providers_[i].index];
    if (rt.provider().cache > 0) {
        c.key = rt.key(s.request());
        if (auto d = rt.cached(c.key, event::monotonic_ms())) {
            int status = apply(s, c, i, std::move(d));
            return status ? deny(s, c, status, i, "refused by the authorizer") : http::FilterStatus::Continue;
        }
    }
    c.self = this;
    c.stream = &s;
    c.provider = static_cast<uint8_t>(i);
    c.handle = s.pause_handle();
    c.call.ctx = &c;
    c.request = rt.ask(s.request(), c.call);
    return http::FilterStatus::Pause;
}

int AuthFilter::apply(http::Stream& s, Ctx& c, size_t i, std::shared_ptr<const Decision> d) {
    c.decision = std::move(d);
    if (c.decision->kind == Decision::Kind::Deny) {
        count(i, c.decision->status == 403 ? Result::Forbidden : Result::Invalid);
        return c.decision->status;
    }
    s.set_identity(c.decision.get());
    for (const auto& [name, value] : c.decision->copied) s.add_request_header(name, value);
    count(i, Result::Ok);
    return 0;
}

void AuthFilter::external_answered(Ctx& c, const httpc::Answer& a) {
    ExternalRuntime& rt = *runtimes_.external[providers_[c.provider].index];
    std::shared_ptr<const Decision> d = rt.decide(a);
    if (!d) {
        // An error or an unexpected status: on_error decides (and nothing is cached).
        // The client learns that the authorizer failed; the log also why ("Connection refused",
        // the certificate's verification).
        char why[64], detail[224] = "";
        if (a.error != httpc::Error::None) {
            snprintf(why, sizeof why, "the authorizer failed (%.*s)", static_cast<int>(error_name(a.error).size()),
                     error_name(a.error).data());
            snprintf(detail, sizeof detail, "(%.*s)", static_cast<int>(std::min<size_t>(a.reason.size(), 200)),
                     a.reason.data());
        } else {
            snprintf(why, sizeof why, "the authorizer answered %d", a.status);
        }
        if (rt.provider().on_error == ExternalProvider::OnError::Allow) {
            LOG_INFO("client %s: %s %s; on_error: allow (route \"%s\", provider \"%s\")", c.stream->client_address().data(),
                     why, detail, config_.routes[static_cast<size_t>(route_)].name.c_str(), rt.provider().name.c_str());
            count(c.provider, Result::Ok);
            c.handle.resume();
            return;
        }
        count(c.provider, Result::Invalid);
        deny_later(c, 503, why, detail);
        return;
    }
    if (rt.provider().cache > 0) rt.remember(c.key, d, event::monotonic_ms());
    int status = apply(*c.stream, c, c.provider, std::move(d));
    if (status)
        deny_later(c, status, "refused by the authorizer");
    else
        c.handle.resume();
}

void AuthFilter::basic_checked(void* ctx, bool ok) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    c.ticket = 0;
    AuthFilter& f = *c.self;
    BasicRuntime& rt = *f.runtimes_.basic[f.providers_[c.provider].index];
    int64_t now = event::monotonic_ms();
    if (ok && c.who) {  // an unknown user was checked against the dummy: refused whatever it said
        rt.remember(c.key, c.who, now);
        c.stream->set_identity(c.who);
        f.count(c.provider, Result::Ok);
        c.handle.resume();
        return;
    }
    rt.failures().failed(c.stream->client_address(), now);
    f.count(c.provider, Result::Invalid);
    f.deny_later(c, 401, "wrong user name or password");
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
            case ProviderRef::Kind::Basic: {
                // Basic credentials come in the Authorization field only (RFC 7617).
                static const Source kAuthorization[] = {{Source::Kind::Header, "authorization"}};
                Found f = find_credential(req, kAuthorization, Scheme::Basic, scratch, credential);
                if (f == Found::None) continue;
                if (f == Found::Ambiguous) {
                    count(i, Result::Invalid);
                    return deny(s, c, 400, i, "more than one Authorization field");
                }
                return check_basic(s, c, i, credential);
            }
            case ProviderRef::Kind::External:
                return check_external(s, c, i);  // no credential of its own: it always decides
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
        c.self = this;
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
    AuthFilter& self = *c.self;
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
    if (c.status == 429) {
        char seconds[16];
        int n = snprintf(seconds, sizeof seconds, "%u", c.retry_after);
        head.add("retry-after", std::string_view(seconds, static_cast<size_t>(n)));
        return;
    }
    if (c.status == 503) return;
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
        case ProviderRef::Kind::External:
            if (!c.decision || c.decision->www_authenticate.empty()) return;
            value = c.decision->www_authenticate;
            break;
    }
    head.add("www-authenticate", value);
}

void AuthFilter::on_destroy(http::Stream&, void* ctx) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    c.waiter.unlink();  // the client left while the request waited for a key set
    if (c.pinned) TokenCache::unpin(c.pinned);
    if (c.ticket && runtimes_.crypt) runtimes_.crypt->cancel(c.ticket);
    c.~Ctx();
}

}  // namespace gw::auth
