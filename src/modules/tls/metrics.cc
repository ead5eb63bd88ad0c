#include "modules/tls/metrics.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <map>
#include <string>

#include "core/metrics/store.h"
#include "modules/tls/config.h"
#include "modules/tls/transport.h"

namespace gw::tls {

namespace {

constexpr std::string_view kReasonLabels[kFailReasons] = {
    "timeout",        "eof",           "http_request", "protocol_version",        "no_shared_cipher",
    "no_client_certificate", "unknown_ca", "bad_certificate", "no_application_protocol", "peer_alert",
    "other",
};

constexpr std::string_view kHandshakesHelp = "TLS handshakes, by result and protocol.";
constexpr std::string_view kResumedHelp = "TLS handshakes that resumed a session, from the session cache or a ticket.";
constexpr std::string_view kErrorsHelp = "Failed TLS handshakes, by reason.";
constexpr std::string_view kExpiryHelp =
    "The notAfter of a listener's certificate for a name (the earliest, when several serve it), as a Unix time.";

// The client's certificate did not verify: is it its issuer we do not know, or something else
// (expired, revoked, a bad signature)?
FailReason verify_failure(const SSL* ssl) {
    switch (SSL_get_verify_result(ssl)) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return FailReason::UnknownCa;
        default:
            return FailReason::BadCertificate;
    }
}

// A decrypted ticket, and what OpenSSL would have done without a callback (SSL_CTX_set_session_
// ticket_cb(3)): use a good ticket (renewing it when OpenSSL says so), ignore any other.
SSL_TICKET_RETURN on_ticket(SSL* ssl, SSL_SESSION*, const unsigned char*, size_t, SSL_TICKET_STATUS status, void*) {
    bool good = status == SSL_TICKET_SUCCESS || status == SSL_TICKET_SUCCESS_RENEW;
    if (good)
        if (auto* t = static_cast<TlsTransport*>(SSL_get_app_data(ssl))) t->note_ticket_decrypted();
    switch (status) {
        case SSL_TICKET_SUCCESS:
            return SSL_TICKET_RETURN_USE;
        case SSL_TICKET_SUCCESS_RENEW:
            return SSL_TICKET_RETURN_USE_RENEW;
        case SSL_TICKET_EMPTY:
        case SSL_TICKET_NO_DECRYPT:
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        default:
            return SSL_TICKET_RETURN_IGNORE;
    }
}

}  // namespace

std::string_view reason_label(FailReason r) { return kReasonLabels[static_cast<size_t>(r)]; }

ListenerMetrics ListenerMetrics::make(metrics::Store& store, std::string_view listener, const ListenerTls& tls) {
    ListenerMetrics m;
    std::string l = "listener=\"" + metrics::escape_label_value(listener) + "\"";
    constexpr std::string_view kProtocols[kProtocolLabels] = {"TLSv1.2", "TLSv1.3", "unknown"};
    for (size_t p = 0; p < 2; ++p)
        m.ok_[p] = store.counter("gateway_tls_handshakes_total",
                                 l + ",result=\"ok\",protocol=\"" + std::string(kProtocols[p]) + "\"", kHandshakesHelp);
    for (size_t p = 0; p < kProtocolLabels; ++p)
        m.failed_[p] = store.counter("gateway_tls_handshakes_total",
                                     l + ",result=\"failed\",protocol=\"" + std::string(kProtocols[p]) + "\"",
                                     kHandshakesHelp);
    m.resumed_[static_cast<size_t>(ResumeKind::Cache)] =
        store.counter("gateway_tls_resumed_total", l + ",kind=\"cache\"", kResumedHelp);
    m.resumed_[static_cast<size_t>(ResumeKind::Ticket)] =
        store.counter("gateway_tls_resumed_total", l + ",kind=\"ticket\"", kResumedHelp);
    for (size_t r = 0; r < kFailReasons; ++r)
        m.errors_[r] = store.counter("gateway_tls_handshake_errors_total",
                                     l + ",reason=\"" + std::string(kReasonLabels[r]) + "\"", kErrorsHelp);

    // One series per name: the earliest notAfter of the certificates whose first name it is (an
    // ECDSA and an RSA certificate for one name: the one that expires first is the one to renew).
    std::map<std::string, time_t> expiry;
    for (const Certificate& c : tls.certificates) {
        if (!c.leaf) continue;
        std::string name = c.names.empty() ? c.cert_path : c.names.front();
        auto [it, fresh] = expiry.emplace(name, c.not_after);
        if (!fresh) it->second = std::min(it->second, c.not_after);
    }
    for (const auto& [name, not_after] : expiry)
        if (std::atomic<int64_t>* g = store.gauge("gateway_tls_certificate_expiry_timestamp_seconds",
                                                  l + ",name=\"" + metrics::escape_label_value(name) + "\"",
                                                  kExpiryHelp))
            g->store(static_cast<int64_t>(not_after), std::memory_order_relaxed);
    return m;
}

ProtocolLabel protocol_label(const SSL* ssl) {
    switch (SSL_version(ssl)) {
        case TLS1_3_VERSION:
            return ProtocolLabel::Tls13;
        case TLS1_2_VERSION:
            return ProtocolLabel::Tls12;
        default:
            return ProtocolLabel::Unknown;
    }
}

FailReason classify_failure(const SSL* ssl, int ssl_error, int saved_errno) {
    unsigned long e = ERR_peek_error();
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return FailReason::Eof;
    if (ssl_error == SSL_ERROR_SYSCALL && e == 0)
        return saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE ? FailReason::Eof
                                                                                     : FailReason::Other;
    if (e == 0 || ERR_GET_LIB(e) != ERR_LIB_SSL) return FailReason::Other;
    int reason = ERR_GET_REASON(e);
    switch (reason) {
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            return FailReason::Eof;
        case SSL_R_HTTP_REQUEST:
        case SSL_R_HTTPS_PROXY_REQUEST:
            return FailReason::HttpRequest;
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_UNKNOWN_PROTOCOL:
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_WRONG_SSL_VERSION:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_RECORD_LENGTH_MISMATCH:
            return FailReason::ProtocolVersion;
        case SSL_R_NO_SHARED_CIPHER:
        case SSL_R_NO_SHARED_GROUPS:
        case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
            return FailReason::NoSharedCipher;
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
            return FailReason::NoClientCertificate;
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            return verify_failure(ssl);
        case SSL_R_NO_APPLICATION_PROTOCOL:
            return FailReason::NoApplicationProtocol;
        default:
            // An alert the client sent: OpenSSL's reason is SSL_AD_REASON_OFFSET + the alert.
            if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) return FailReason::PeerAlert;
            return FailReason::Other;
    }
}

void observe_tickets(SSL_CTX* ctx) { SSL_CTX_set_session_ticket_cb(ctx, nullptr, on_ticket, nullptr); }

}  // namespace gw::tls
