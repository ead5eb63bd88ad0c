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

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "modules/tls/config.h"

namespace gw::tls {

// Why `der` cannot be stapled for `cert` at time `now` ("the response's status is ..."); empty
// when it can. The certificate's issuer must be the first certificate of its chain.
std::string ocsp_staple_problem(std::string_view der, const Certificate& cert, time_t now);

// The staples of one listener's certificates, by leaf; the status callback of its contexts.
class OcspStaples {
  public:
    // Takes the staple of each certificate of `tls` that has one (the listener's `ocsp_staple`
    // is the first certificate's). `tls` outlives this.
    void build(const ListenerTls& tls);
    bool empty() const { return entries_.empty(); }
    // Sets the status callback on `ctx` when there is anything to staple.
    void install(SSL_CTX* ctx) const;

    // The staple for the certificate whose leaf is `leaf`; empty when none.
    std::string_view find(const X509* leaf) const;

  private:
    struct Entry {
        const X509* leaf;
        std::string_view der;
    };
    std::vector<Entry> entries_;
};

// The staple a certificate of `tls` sends: its own `ocsp_staple`, or for the first certificate
// the listener's.
const std::string& staple_of(const ListenerTls& tls, size_t certificate);

}  // namespace gw::tls
