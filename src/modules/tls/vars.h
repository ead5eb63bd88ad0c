// The tls module's variables ($ssl_*): what the handshake settled, and the verified client
// certificate. On a plain listener's connection none is available ("-" in logs, empty in
// header values).
#pragma once

#include <cstdint>
#include <span>

#include "core/text_writer.h"
#include "http/vars/vars.h"

namespace gw::tls {

class TlsTransport;

// The Descriptor's `variables`.
std::span<const http::vars::Definition> variables();

enum class Variable : uint8_t {
    Protocol,           // $ssl_protocol: "TLSv1.3"
    Cipher,             // $ssl_cipher: "TLS_AES_128_GCM_SHA256"
    ServerName,         // $ssl_server_name: the SNI the client sent
    SessionReused,      // $ssl_session_reused: "r" when resumed, else "."
    ClientSubject,      // $ssl_client_s_dn: RFC 2253
    ClientFingerprint,  // $ssl_client_fingerprint: SHA-1 of the DER, lower-case hex
    ClientEscapedCert,  // $ssl_client_escaped_cert: the PEM, URL-escaped (for a header upstream)
    ClientVerify,       // $ssl_client_verify: SUCCESS, NONE or FAILED:reason (as nginx)
};

// Writes the value of `v` for connection `t`; false (nothing written) when it has none.
bool write_variable(Variable v, const TlsTransport& t, TextWriter& out);

}  // namespace gw::tls
