// The auth filter of one route: its providers tried in the route's order. The first provider
// whose credential the request carries decides - a good credential makes the request its
// consumer's (http::Identity on the Stream, claims forwarded as configured), a bad one is a 401
// (a failed `require:` a 403) - and a request that carries none of them gets a 401 with a
// challenge for each (RFC 9110 §11.6.1, RFC 6750 §3). Tokens and keys never reach a log line.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/filter.h"
#include "modules/auth/config.h"

namespace gw {
struct Config;
namespace httpc {
struct Answer;
}
namespace metrics {
class Store;
}
}  // namespace gw

namespace gw::auth {

class JwtRuntime;
class ApiKeysRuntime;
struct KidWaiter;
class BasicRuntime;
class CryptWorker;
class Decision;
class ExternalRuntime;

// What the filter's providers are in this worker, by ProviderRef (the worker part owns them).
struct Runtimes {
    std::vector<JwtRuntime*> jwt;
    std::vector<ApiKeysRuntime*> api_keys;
    std::vector<BasicRuntime*> basic;
    CryptWorker* crypt = nullptr;  // the worker's password-check thread (when a route has basic)
    std::vector<ExternalRuntime*> external;
};

class AuthFilter final : public http::Filter {
  public:
    AuthFilter(const Config& config, const Settings& settings, int route, const Runtimes& runtimes,
               metrics::Store& metrics);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;
    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override;
    void on_destroy(http::Stream& s, void* ctx) override;
    std::span<const std::string_view> request_field_names() const override { return forwarded_; }

  private:
    struct Ctx;
    enum class Result : uint8_t { Ok, Missing, Invalid, Forbidden };

    http::FilterStatus deny(http::Stream& s, Ctx& c, int status, size_t provider, std::string_view why,
                            std::string_view detail = {});
    // The JWT provider at position `i` decides (its credential is there); may pause the request
    // until a refetched key set comes when the token's kid is unknown and `may_wait`.
    http::FilterStatus check_jwt(http::Stream& s, Ctx& c, size_t i, std::string_view credential, bool may_wait);
    static void kid_wake(KidWaiter& w, bool timed_out);
    // deny() for a paused request: answered through its ResumeHandle.
    void deny_later(Ctx& c, int status, std::string_view why, std::string_view detail = {});
    http::FilterStatus check_basic(http::Stream& s, Ctx& c, size_t provider, std::string_view credential);
    static void basic_checked(void* ctx, bool ok);  // CryptWorker's answer, on the loop
    http::FilterStatus check_external(http::Stream& s, Ctx& c, size_t provider);
    // The authorizer's decision applied: 0 (allowed: identity and copied fields set) or the
    // status to refuse with.
    int apply(http::Stream& s, Ctx& c, size_t provider, std::shared_ptr<const Decision> d);
    void external_answered(Ctx& c, const httpc::Answer& a);
    void count(size_t provider, Result r);

    const Config& config_;
    const Settings& settings_;
    int route_;
    std::vector<ProviderRef> providers_;
    Runtimes runtimes_;
    std::vector<std::string_view> forwarded_;  // headers its JWT and external providers set
    std::string challenges_;                   // "Bearer realm=\"main\", Basic realm=\"ops\""
    std::vector<std::string> names_;           // by position in providers_
    std::string all_names_;                    // "main, partners": for a request none applied to
    // gateway_auth_requests_total{route,provider,result}: [provider][result]
    std::vector<std::array<std::atomic<uint64_t>*, 4>> counters_;
};

}  // namespace gw::auth
