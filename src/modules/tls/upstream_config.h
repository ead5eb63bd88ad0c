// An upstream's `tls:` map: TLS from the gateway to the upstream's servers (man/gateway.conf.5,
// upstreams).
//
//   upstreams:
//     internal:
//       servers: [{address: 10.0.0.5:8443}]
//       tls:
//         verify: true                     # the default with tls: (false is warned about)
//         ca: /etc/gatewayd/tls/internal-ca.pem   # default: the system's trust store
//         sni: internal.example            # sent, and the name the certificate must carry
//         cert: /etc/gatewayd/tls/gw-client.pem   # a client certificate, when the servers ask
//         key: /etc/gatewayd/tls/gw-client.key
//         password_file: ...
//         protocols: [TLSv1.2, TLSv1.3]
//         ciphers: ...                     # TLS 1.2; ciphersuites: TLS 1.3
//         session_reuse: true
//
// Read with the listener's readers (config_read.h) and the same loading code for files
// (certs.h): a CA bundle or a client certificate that does not load fails the load at its key.
#pragma once

#include <string>
#include <string_view>

#include "core/config/schema.h"
#include "modules/tls/config.h"

namespace gw {
struct Config;
struct UpstreamConfig;
}  // namespace gw

namespace gw::tls {

// The `tls:` map `node` of an upstream, at `path` ("upstreams.internal.tls"); relative paths
// resolve against `prefix`. Problems go to `diags`; what could be read is returned all the same.
UpstreamTls read_upstream_tls(const schema::Node& node, const std::string& path, const std::string& prefix,
                              Diagnostics& diags);

// After everything was read: what the upstream's servers make impossible (a unix socket server
// gives no name to verify).
void check_upstream_tls(const UpstreamTls& tls, const UpstreamConfig& upstream, Diagnostics& diags);

// The `tls:` map with every key's effective value, at `indent` spaces.
void dump_upstream_tls(const UpstreamTls& tls, int indent, std::string& out);

// Who a server is, for the handshake: the name its certificate must carry (a DNS name, or an IP
// address checked against the certificate's IP subjectAltNames), and the SNI sent (never an IP
// literal). From `sni:` when given, else from the host of the server's address.
struct ServerIdentity {
    std::string name;  // empty: nothing to check against (a unix socket without sni:)
    bool is_ip = false;
    std::string sni;   // empty: no SNI is sent
};
ServerIdentity server_identity(const UpstreamTls& tls, std::string_view address);

}  // namespace gw::tls
