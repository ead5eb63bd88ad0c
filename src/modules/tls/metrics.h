// The tls module's metrics (man/gateway.conf.5, TLS, Metrics): per listener, counted in the
// metrics zone, so every worker adds to the same series.
//
//   gateway_tls_handshakes_total{listener, result="ok|failed", protocol}
//   gateway_tls_resumed_total{listener, kind="cache|ticket"}
//   gateway_tls_handshake_errors_total{listener, reason}
//   gateway_tls_certificate_expiry_timestamp_seconds{listener, name}
//
// Every series of a listener is made when the worker starts (so a rate over a reason that never
// happened is 0, not absent); a handshake then costs one or two relaxed atomic adds through
// pointers chosen by array index: no string work, no lookup.
#pragma once

#include <openssl/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace gw::metrics {
class Store;
}

namespace gw::tls {

struct ListenerTls;

// A failed handshake's reason: a small fixed set (bounded label values). The raw OpenSSL reason
// goes to the info log line, never to a label.
enum class FailReason : uint8_t {
    Timeout,              // handshake_timeout passed
    Eof,                  // the client closed (or reset) the connection mid-handshake
    HttpRequest,          // plain HTTP on the TLS port
    ProtocolVersion,      // no protocol version in common (a TLS 1.0/1.1 client), or not TLS at all
    NoSharedCipher,       // no cipher, group or signature algorithm in common
    NoClientCertificate,  // client_auth require, and the client sent none
    UnknownCa,            // the client's certificate does not chain to client_auth's CAs
    BadCertificate,       // the client's certificate did not verify for another reason
    NoApplicationProtocol,  // ALPN without http/1.1
    PeerAlert,            // the client ended the handshake with an alert (it refused ours)
    Other,
};
inline constexpr size_t kFailReasons = static_cast<size_t>(FailReason::Other) + 1;

// The label value of a reason.
std::string_view reason_label(FailReason r);

// The protocol label: what the handshake settled, as far as it went.
enum class ProtocolLabel : uint8_t { Tls12, Tls13, Unknown };
inline constexpr size_t kProtocolLabels = 3;

enum class ResumeKind : uint8_t { Cache, Ticket };

// The counters of one listener (pointers into the metrics zone; null when the zone was full:
// then nothing is counted).
class ListenerMetrics {
  public:
    ListenerMetrics() = default;

    // Makes (or finds) every series of listener `listener` (its address), and sets the expiry
    // gauge of each certificate of `tls`.
    static ListenerMetrics make(metrics::Store& store, std::string_view listener, const ListenerTls& tls);

    void handshake_ok(ProtocolLabel p) { add(ok_[index(p)]); }
    void resumed(ResumeKind k) { add(resumed_[static_cast<size_t>(k)]); }
    void handshake_failed(ProtocolLabel p, FailReason r) {
        add(failed_[static_cast<size_t>(p)]);
        add(errors_[static_cast<size_t>(r)]);
    }

  private:
    static void add(std::atomic<uint64_t>* c) {
        if (c) c->fetch_add(1, std::memory_order_relaxed);
    }
    // ok has no "unknown" series: an established connection has its protocol.
    static size_t index(ProtocolLabel p) { return p == ProtocolLabel::Tls12 ? 0 : 1; }

    std::array<std::atomic<uint64_t>*, 2> ok_{};
    std::array<std::atomic<uint64_t>*, kProtocolLabels> failed_{};
    std::array<std::atomic<uint64_t>*, 2> resumed_{};
    std::array<std::atomic<uint64_t>*, kFailReasons> errors_{};
};

// The protocol `ssl` negotiated so far.
ProtocolLabel protocol_label(const SSL* ssl);

// Why a handshake failed, from SSL_get_error's `ssl_error`, the errno after the call, and
// OpenSSL's error queue (looked at, not emptied).
FailReason classify_failure(const SSL* ssl, int ssl_error, int saved_errno);

// Tells TlsTransport whether a resumed session came from a ticket (the decrypt-ticket callback
// saw one it could use) or from the session cache. Set on every context of a listener: OpenSSL
// calls the callback of the session context. Leaves OpenSSL's decisions as they are.
void observe_tickets(SSL_CTX* ctx);

}  // namespace gw::tls
