// An external authorizer in one worker (nginx's auth_request, Envoy's ext_authz): a GET to the
// provider's url through the worker's outbound HTTP client, carrying the request's method and
// URI (X-Original-Method, X-Original-URI) and its forward_headers; the request waits (the filter
// pauses) until the answer:
//   2xx        allowed: copy_headers from the answer go on the upstream request; the consumer
//              is the answer's X-Consumer field when it has a usable one, else the provider name;
//   401, 403   refused with that status (and the authorizer's WWW-Authenticate, if any);
//   otherwise  (another status, a timeout, a connection error) on_error decides: deny is a 503,
//              allow passes the request on without an identity.
// Decisions (allowed, 401, 403 - never errors) are kept for `cache` per worker, keyed by the
// values of forward_headers (a keyed SHA-256 of each header's presence and value, in order):
// requests that carry the same values share one decision, whatever their method or URI.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/client/client.h"
#include "http/client/tls.h"
#include "http/identity.h"
#include "modules/auth/basic.h"  // Digest
#include "modules/auth/config.h"

namespace gw::auth {

// The authorizer's decision: what the request gets, and its identity when allowed.
class Decision final : public http::Identity {
  public:
    enum class Kind : uint8_t { Allow, Deny };
    Kind kind = Kind::Deny;
    int status = 0;                  // the authorizer's (2xx, 401, 403)
    std::string consumer_name;       // allowed: X-Consumer, or the provider name
    std::string_view provider_name;  // the configuration's
    std::vector<std::pair<std::string_view, std::string>> copied;  // copy_headers found (names: config's)
    std::string www_authenticate;    // refused: the authorizer's challenge, if any

    std::string_view consumer() const override { return consumer_name; }
    std::string_view provider() const override { return provider_name; }
    std::string_view method() const override { return "external"; }
};

class ExternalRuntime {
  public:
    static constexpr size_t kCacheEntries = 4096;
    static constexpr size_t kMaxConsumer = 256;

    // `tls_clients`: the tls module's maker of TLS clients, for an https:// url (null without it).
    ExternalRuntime(const ExternalProvider& provider, httpc::Client& client, httpc::TlsClients* tls_clients);
    ~ExternalRuntime();
    const ExternalProvider& provider() const { return p_; }

    // The cache key of a request (its forward_headers' values).
    Digest key(const http::Request& req) const;
    // A decision kept within `cache` ms, or null.
    std::shared_ptr<const Decision> cached(const Digest& key, int64_t now_ms) const;
    void remember(const Digest& key, std::shared_ptr<const Decision> d, int64_t now_ms);

    // Asks the authorizer about `req`; the answer goes to `handler` (from the loop).
    httpc::Handle ask(const http::Request& req, httpc::Handler& handler);
    // The decision an answer makes, or null when on_error decides (an error, another status).
    std::shared_ptr<const Decision> decide(const httpc::Answer& a) const;

  private:
    struct Cached {
        std::shared_ptr<const Decision> decision;
        int64_t expires;
    };
    const ExternalProvider& p_;
    httpc::Client& client_;
    // https://: the TLS client to the authorizer (its requests are cancelled before it goes:
    // the filter's per-request state holds them, and streams end before the module's part).
    std::unique_ptr<http::UpstreamTransportFactory> tls_;
    std::array<unsigned char, 32> secret_{};
    std::unordered_map<Digest, Cached, DigestHash> cache_;
    std::vector<http::Header> headers_;  // the subrequest's extra fields (capacity kept)
};

}  // namespace gw::auth
