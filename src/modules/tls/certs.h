// Loading what a listener's `tls:` names from disk, when the configuration is loaded (so that
// `gatewayd -t` checks it all): certificate chains and their keys, the CAs (and CRLs) client
// certificates are verified against, and an OCSP response to staple. Problems are reported at
// the configuration key that names the file, with OpenSSL's reason; a key or a password is
// never part of a message.
#pragma once

#include "core/small_file.h"

#include <ctime>
#include <string>

#include "core/config/diagnostics.h"
#include "modules/tls/config.h"

namespace gw::tls {

// A certificate whose not_after is closer than this to the load is warned about.
inline constexpr time_t kExpiryWarning = 14 * 86400;

// OpenSSL's error queue of this thread as text ("reason; reason"), emptied; "unknown reason"
// when the queue is empty.
std::string openssl_errors();


// "2031-01-02 03:04:05 UTC"
std::string format_utc(time_t t);

// Where one `certificates:` entry's keys were written, for messages.
struct CertificateKeys {
    std::string path;  // "listeners[0].tls.certificates[1]"
    Mark cert, key, password_file;
};

// Loads cert.cert_path (the leaf, then its intermediates), cert.key_path (decrypted with the
// first line of cert.password_file when set) and fills the rest of `cert`. Errors: a file that
// cannot be read or parsed, a bad password, a key that does not match the certificate, an
// expired certificate. Warnings: one expiring within kExpiryWarning or not valid yet,
// intermediates that do not chain the leaf. False when there was an error.
bool load_certificate(Certificate& cert, const CertificateKeys& at, time_t now, Diagnostics& diags);

// Loads auth.ca_path (at least one certificate) and auth.crl_path (when set) into auth.store and
// auth.ca_names. A CRL past its next update is warned about: with CRL checks on, every client
// certificate its CA issued would be refused. False when there was an error.
bool load_client_ca(ClientAuth& auth, const std::string& path, const Mark& ca_at, const Mark& crl_at, time_t now,
                    Diagnostics& diags);

// Reads the OCSP response `file` into `out` when it can be stapled for `cert` (ocsp.h).
// Stapling is optional: a file that cannot be read or used is a warning at `at` (`key` names
// the configuration key), and `out` stays empty.
void load_ocsp_staple(const std::string& file, const Certificate& cert, const std::string& key, const Mark& at,
                      time_t now, Diagnostics& diags, std::string& out);

}  // namespace gw::tls
