#include "modules/tls/vars.h"

#include <openssl/x509.h>

#include "modules/tls/stream_transport.h"
#include "modules/tls/transport.h"

namespace gw::tls {

namespace {

bool put(TextWriter& out, std::string_view v) {
    if (v.empty()) return false;
    out += v;
    return true;
}

template <Variable V>
bool get(const http::vars::Env& env, std::string_view, TextWriter& out) {
    const TlsTransport* t = env.stream ? tls_transport(*env.stream) : nullptr;
    return t && write_variable(V, *t, out);
}

// safe: printable ASCII without '"' or '\\' (OpenSSL's own names, hex, "r"/"."); clean: no CR,
// LF or NUL. The server name is the client's (OpenSSL refuses a NUL in it, nothing else), and a
// subject's RFC 2253 form escapes controls but may hold '"' and '\\': neither is marked, both
// are scanned.
constexpr http::vars::Definition kVariables[] = {
    {.name = "ssl_protocol", .get = get<Variable::Protocol>, .safe = true, .clean = true},
    {.name = "ssl_cipher", .get = get<Variable::Cipher>, .safe = true, .clean = true},
    {.name = "ssl_server_name", .get = get<Variable::ServerName>},
    {.name = "ssl_session_reused", .get = get<Variable::SessionReused>, .safe = true, .clean = true},
    {.name = "ssl_client_s_dn", .get = get<Variable::ClientSubject>},
    {.name = "ssl_client_fingerprint", .get = get<Variable::ClientFingerprint>, .safe = true, .clean = true},
    // Unreserved characters and %XX only.
    {.name = "ssl_client_escaped_cert", .get = get<Variable::ClientEscapedCert>, .safe = true, .clean = true},
    // OpenSSL's verification messages are constant ASCII texts; scanned all the same.
    {.name = "ssl_client_verify", .get = get<Variable::ClientVerify>, .clean = true},
};

}  // namespace

std::span<const http::vars::Definition> variables() { return kVariables; }

bool write_variable(Variable v, const TlsTransport& t, TextWriter& out) {
    switch (v) {
        case Variable::Protocol:
            return put(out, t.protocol());
        case Variable::Cipher:
            return put(out, t.cipher());
        case Variable::ServerName:
            return put(out, t.server_name());
        case Variable::SessionReused:
            if (t.protocol().empty()) return false;  // no handshake yet
            out.put(t.session_reused() ? 'r' : '.');
            return true;
        case Variable::ClientSubject:
            return put(out, t.verified_peer_subject());
        case Variable::ClientFingerprint: {
            char hex[40];
            if (!t.verified_peer_fingerprint(hex)) return false;
            out.append(hex, sizeof hex);
            return true;
        }
        case Variable::ClientEscapedCert:
            return put(out, t.verified_peer_escaped_pem());
        case Variable::ClientVerify: {
            // As nginx: NONE when no certificate was sent (or none was asked for), FAILED: with
            // the verification's reason when one was sent and did not verify (client_auth
            // optional lets such a client in).
            if (t.protocol().empty()) return false;  // no handshake yet
            long result = X509_V_OK;
            if (!t.peer_certificate(result)) {
                out += "NONE";
            } else if (result == X509_V_OK) {
                out += "SUCCESS";
            } else {
                out += "FAILED:";
                out += X509_verify_cert_error_string(result);
            }
            return true;
        }
    }
    return false;
}

}  // namespace gw::tls
