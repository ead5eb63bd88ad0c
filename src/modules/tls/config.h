// The tls module's configuration: a listener's `tls:` map and a route's `require_client_cert`
// (man/gateway.conf.5, TLS).
//
//   listeners:
//     - address: 0.0.0.0:443
//       tls:
//         certificates:                    # chosen by SNI (exact, then wildcard); the first is the default
//           - {cert: /etc/gatewayd/tls/api.pem, key: /etc/gatewayd/tls/api.key}
//           - {cert: www-ecdsa.pem, key: www-ecdsa.key}
//           - {cert: www-rsa.pem, key: www-rsa.key, password_file: www-rsa.pass, ocsp_staple: www-rsa.ocsp}
//         protocols: [TLSv1.2, TLSv1.3]
//         ciphers: ...                     # TLS 1.2 (OpenSSL list syntax); ciphersuites: TLS 1.3
//         session_cache: 10m               # or off
//         session_tickets: {rotate: 1h}    # or off; shared: redis
//         client_auth: {ca: clients-ca.pem, mode: optional, crl: clients.crl}
//         ocsp_staple: /var/lib/gatewayd/api.ocsp   # the first certificate's; or {fetch: true, responder: URL}
//         handshake_timeout: 10s
//         hsts: {max_age: 365d, include_subdomains: true, preload: false}
//         ktls: false
//
// Files are read, and certificates and keys parsed and checked, when the configuration is
// loaded (in the master, at start and on HUP, and by `gatewayd -t`): workers are forked with
// them and build their own SSL_CTX (one per worker, no lock shared between workers).
#pragma once

#include <openssl/types.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config/diagnostics.h"
#include "core/module/module.h"

namespace gw::tls {

struct X509Free {
    void operator()(X509* x) const;
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const;
};
struct X509StoreFree {
    void operator()(X509_STORE* s) const;
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// `ocsp_staple: {fetch: true, responder: http://...}`: the master fetches the certificate's OCSP
// response from its CA's responder (ocsp_fetch.h). Where from is settled when the configuration
// is loaded: the responder's name is resolved then, as upstream servers' are.
struct OcspFetch {
    bool requested = false;     // fetch: true was written
    bool enabled = false;       // requested, and a responder known and resolved: fetched
    std::string responder;      // `responder:` as written; empty: the certificate's AIA
    std::string url;            // the URL used (responder, or the AIA's)
    std::string host;           // the Host field
    std::string path;           // the URL's path; the encoded request goes after it
    sockaddr_storage address{};
    socklen_t address_len = 0;
    Mark mark;                  // the ocsp_staple map, for messages
};

// One `certificates:` entry, loaded: the leaf, the rest of its chain, and its key (decrypted
// with password_file when it is encrypted; never logged, never dumped).
struct Certificate {
    std::string cert_path;      // absolute (relative paths resolve against the prefix)
    std::string key_path;
    std::string password_file;  // empty: the key is not encrypted
    X509Ptr leaf;
    std::vector<X509Ptr> chain;  // intermediates, in file order
    PkeyPtr key;
    int key_type = 0;            // EVP_PKEY_RSA, EVP_PKEY_EC, EVP_PKEY_ED25519, ...
    // The names the certificate serves, lower-case: its DNS subjectAltNames (the subject's CN
    // when it has none); a wildcard as "*.example.com".
    std::vector<std::string> names;
    time_t not_after = 0;
    // The entry's own `ocsp_staple` (a DER OCSP response for this certificate), and its bytes when
    // they can be stapled (empty: none, or not usable: warned at load).
    std::string ocsp_staple_path;
    std::string ocsp_staple;
    OcspFetch ocsp_fetch;        // `ocsp_staple: {fetch: true}` (the entry's, or the listener's for the first)
    Mark mark;                   // the entry, for messages
};

enum class ClientAuthMode : uint8_t { Off, Optional, Require };

struct ClientAuth {
    ClientAuthMode mode = ClientAuthMode::Off;
    std::string ca_path;   // PEM bundle of the CAs client certificates must chain to
    std::string crl_path;  // optional PEM CRLs
    // The CAs (and CRLs) as loaded; the workers' contexts verify against it.
    std::shared_ptr<X509_STORE> store;
    std::vector<X509Ptr> ca_names;  // sent in the CertificateRequest (the CA subjects)
};

struct Hsts {
    uint64_t max_age_s = 0;  // 0: no Strict-Transport-Security header
    bool include_subdomains = false;
    bool preload = false;
};

// Bits of ListenerTls::protocols.
inline constexpr uint32_t kTls12 = 1u << 0;
inline constexpr uint32_t kTls13 = 1u << 1;

struct ListenerTls {
    std::vector<Certificate> certificates;  // at least one; the first is the default
    uint32_t protocols = kTls12 | kTls13;   // TLS 1.0/1.1 cannot be enabled
    std::string ciphers;                    // TLS 1.2 list; empty: the module's default
    std::string ciphersuites;               // TLS 1.3 list; empty: the module's default
    uint64_t session_cache_bytes = 10 * 1024 * 1024;  // shared by the workers; 0: off
    bool session_tickets = true;
    uint64_t ticket_rotate_ms = 3600 * 1000;
    bool tickets_shared_redis = false;      // session_tickets: {shared: redis}
    Mark tickets_shared_mark;               // where: `redis:` is read after listeners, checked later
    ClientAuth client_auth;
    // A DER OCSP response for the first certificate, read again on HUP (an entry's own
    // `ocsp_staple` takes precedence), and its bytes when they can be stapled (ocsp.h).
    std::string ocsp_staple_path;
    std::string ocsp_staple;
    // The listener's `ocsp_staple` was a {fetch: true} map: the first certificate's ocsp_fetch
    // came from it (said so in the dump).
    bool ocsp_fetch_listener = false;
    uint64_t handshake_timeout_ms = 10000;
    Hsts hsts;
    bool ktls = false;
    Mark mark;
};

// An upstream's `tls:` map: TLS to its servers (upstream_config.h reads it).
struct UpstreamTls {
    bool verify = true;                  // the server's certificate and name; off only when said
    std::string ca_path;                 // empty: the system's trust store
    std::shared_ptr<X509_STORE> ca;      // ca_path, loaded
    std::string sni;                     // sent and verified; empty: each server's address host
    std::optional<Certificate> client_certificate;  // cert, key, password_file
    uint32_t protocols = kTls12 | kTls13;
    std::string ciphers;                 // TLS 1.2; empty: OpenSSL's default list
    std::string ciphersuites;            // TLS 1.3; empty: OpenSSL's default
    bool session_reuse = true;           // resume the last session made with each server
    Mark mark;
};

struct Settings final : module::ConfigPart {
    std::vector<std::optional<ListenerTls>> listeners;  // by listener index; may be shorter
    std::vector<bool> require_client_cert;              // by route index; may be shorter
    std::vector<Mark> require_client_cert_marks;        // parallel to it, for the check
    std::vector<std::optional<UpstreamTls>> upstreams;  // by upstream index; may be shorter

    const ListenerTls* listener(size_t index) const {
        return index < listeners.size() && listeners[index] ? &*listeners[index] : nullptr;
    }
    const UpstreamTls* upstream(size_t index) const {
        return index < upstreams.size() && upstreams[index] ? &*upstreams[index] : nullptr;
    }
    bool requires_client_cert(size_t route) const {
        return route < require_client_cert.size() && require_client_cert[route];
    }
};

}  // namespace gw::tls
