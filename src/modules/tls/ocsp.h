// OCSP stapling from a file (`ocsp_staple:`): the check of a response when the configuration is
// loaded, and the staple sent in handshakes that ask for one.
//
// Stapling is optional and never fatal: a response that cannot be used (not a successful OCSP
// response, not for the certificate, not signed by its issuer or a responder it delegated to,
// outside its validity, revoked) is a warning at load, and handshakes go on without a staple.
// The file is read again on every reload (a HUP): refreshing it is the operator's job (or a
// cron's `openssl ocsp ... -respout`), as nginx's ssl_stapling_file.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "modules/tls/config.h"
#include "modules/tls/staple_zone.h"

namespace gw::tls {

// What a response says about a certificate, once checked.
enum class OcspVerdict : uint8_t {
    Good,      // can be stapled
    Revoked,   // a valid response (for the certificate, signed by its issuer) that says revoked
    Unusable,  // anything else: not a response, not for it, badly signed, unknown, out of date
};

struct OcspCheck {
    OcspVerdict verdict = OcspVerdict::Unusable;
    std::string problem;     // empty when Good
    time_t this_update = 0;  // when the response was made (valid responses)
    time_t next_update = 0;  // 0: the response has none (newer information is always available)
};

// Checks `der` for `cert` at time `now`: a successful OCSP response, for this certificate, signed
// by its issuer or a responder it delegated to, good, within its validity. The certificate's
// issuer must be the first certificate of its chain.
OcspCheck check_ocsp_response(std::string_view der, const Certificate& cert, time_t now);

// Why `der` cannot be stapled for `cert` at time `now` ("the response's status is ..."); empty
// when it can (check_ocsp_response's problem).
std::string ocsp_staple_problem(std::string_view der, const Certificate& cert, time_t now);

// The staples of one listener's certificates, by leaf; the status callback of its contexts. A
// certificate's staple is its file's (read at load), or for one that fetches, the response the
// master last published in the staple zone (staple_zone.h): this worker keeps a copy, taken
// again only when the master published a new one, and never staples it past its nextUpdate.
class OcspStaples {
  public:
    // Takes the staple of each certificate of `tls` that has one (the listener's `ocsp_staple`
    // is the first certificate's). `tls` and `fetched` (may be null: nothing fetched is
    // stapled) outlive this.
    void build(const ListenerTls& tls, const StapleBoard* fetched = nullptr);
    bool empty() const { return entries_.empty(); }
    // Sets the status callback on `ctx` when there is anything to staple.
    void install(SSL_CTX* ctx) const;

    // The staple for the certificate whose leaf is `leaf` at time `now`; empty when none. What
    // it returns is valid until the next call.
    std::string_view find(const X509* leaf, time_t now) const;

  private:
    // A fetched staple: this worker's copy of the certificate's slot.
    struct Fetched {
        CertKey key{};
        int slot = -1;  // found in the zone (-1: not yet: the master publishes it later)
        StapleCopy copy;
    };
    struct Entry {
        const X509* leaf;
        std::string_view der;  // a file's
        int fetched;           // index into fetched_, or -1
    };
    std::string_view current(Fetched& f, time_t now) const;

    std::vector<Entry> entries_;
    const StapleBoard* board_ = nullptr;
    mutable std::vector<Fetched> fetched_;  // refreshed from the zone in the status callback
};

// The staple a certificate of `tls` sends: its own `ocsp_staple`, or for the first certificate
// the listener's.
const std::string& staple_of(const ListenerTls& tls, size_t certificate);

}  // namespace gw::tls
