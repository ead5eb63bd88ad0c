// OCSP stapling fetched by the master (`ocsp_staple: {fetch: true, responder: http://...}`).
//
// For every certificate that asks (the listener's `ocsp_staple` is its first certificate's), the
// master asks the responder in the certificate's Authority Information Access (or `responder:`)
// for the certificate's status: GET of the base64 of the DER request, URL-encoded, after the
// responder's path (RFC 6960 Appendix A; responders are plain HTTP by design: the response is
// signed), through the core HTTP client on the master's loop. A response is checked as a file
// staple is (ocsp.h) and published to the workers in the staple zone (staple_zone.h); the
// workers' status callback (ocsp.h's OcspStaples) staples the zone's current one.
//
// When:
//   - at start, before the first workers fork, a first round with a short deadline
//     (kFirstRoundMs: start is never delayed more than that; a responder that does not answer
//     in time is asked again from the loop, and handshakes go out unstapled meanwhile);
//   - on a reload, for the certificates the zone has no valid response for (the zone is kept
//     across reloads and binary upgrades: a valid response is not fetched again);
//   - before a response's nextUpdate: at half its validity, plus up to a tenth of it at random
//     (so that many nodes do not ask at once);
//   - after a failure, again with back-off (1 s doubling to 5 min). The last good response
//     stays stapled until its nextUpdate (never after); a response that says the certificate
//     was revoked withdraws the staple.
// Failures are logged (a warning per certificate at most every 10 minutes, more at debug) and
// counted: gateway_tls_ocsp_fetches_total{listener,name,result} (result: ok, failed - no
// answer or not a 200 -, invalid - an answer that cannot be stapled -, revoked).
//
// Stapling is never fatal: a certificate without a responder (no AIA OCSP URL and no
// `responder:`) is a warning when the configuration is loaded, and nothing is stapled for it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/diagnostics.h"
#include "event/loop.h"
#include "modules/tls/config.h"
#include "modules/tls/responder_url.h"

namespace gw {
namespace httpc {
class Client;
}
namespace metrics {
class Store;
}
namespace shm {
class Zone;
}
}  // namespace gw

namespace gw::tls {

class StapleBoard;

// How long start may wait for the first responses.
inline constexpr event::Millis kFirstRoundMs = 2000;

// The certificate's OCSP responder from its Authority Information Access (the first http:// one),
// or empty.
std::string aia_responder(const X509* leaf);

// Settles where the certificate's response comes from (cert.ocsp_fetch.responder, else its AIA),
// and resolves the responder's name. Every problem is a warning at cert.ocsp_fetch.mark (`key`
// names the configuration key), and the certificate is then not fetched for.
void prepare_ocsp_fetch(Certificate& cert, const std::string& key, Diagnostics& diags);

// The request target of a GET for the status of `cert` (its issuer: the first certificate of
// its chain): the responder's path, '/', then the URL-encoded base64 of the DER OCSPRequest
// (SHA-1 CertID, no nonce: responses are cacheable, RFC 5019). False when it cannot be made.
bool ocsp_request_target(const Certificate& cert, std::string_view path, std::string& out);

// The master's fetcher, part of the tls module's MasterPart (master.h).
class OcspFetcher {
  public:
    OcspFetcher(event::Loop& loop, metrics::Store& metrics, std::function<shm::Zone*(std::string_view)> zone,
                std::function<bool()> still_master);
    ~OcspFetcher();
    OcspFetcher(const OcspFetcher&) = delete;
    OcspFetcher& operator=(const OcspFetcher&) = delete;

    // The certificates of `config` that fetch: the previous configuration's requests are
    // dropped; what the zone holds and is still valid is kept (and refreshed in time), the
    // rest is fetched now - within kFirstRoundMs, before returning, the first time.
    void configure(const std::shared_ptr<const Config>& config);

  private:
    struct Target;
    std::unique_ptr<StapleBoard> board() const;  // the staple zone's table, or nullptr
    void first_round(const std::vector<Target*>& todo);
    void on_timer();
    void arm();

    event::Loop& loop_;
    metrics::Store& metrics_;
    std::function<shm::Zone*(std::string_view)> zone_;
    std::function<bool()> still_master_;
    std::shared_ptr<const Config> config_;         // the certificates the targets point into
    std::unique_ptr<httpc::Client> http_;          // before the targets: they cancel on it
    std::vector<std::unique_ptr<Target>> targets_;
    event::Timer timer_;
    bool configured_ = false;
    // The first round's private loop, while it runs (its answers stop it when all are in).
    event::Loop* round_loop_ = nullptr;
    size_t round_pending_ = 0;
};

}  // namespace gw::tls
