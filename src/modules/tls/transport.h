// The TLS transport: http::Transport over an SSL on the accepted socket, and the per-listener
// factory that pools them in a worker.
//
// One call per event: handshake() drives SSL_do_handshake, read() is one SSL_read_ex, writev()
// writes the pieces in TLS records (small pieces gathered into one record through the worker's
// scratch buffer, so a response head and a short body go out in one record and one write(2)).
// OpenSSL's error queue is cleared before every call that reads it and left empty after.
//
// The codec's side of writev(), stricter than writev(2): after -1/EAGAIN (or a short count), the
// next writev() must start with the bytes that were not reported written, at least as many of
// them as before (they may be cut into other pieces, and more may follow). OpenSSL holds an
// encrypted record of those bytes and sends it as it is; offering fewer fails the connection.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/transport.h"
#include "modules/tls/record_writer.h"
#include "modules/tls/ssl_io.h"
#include "modules/tls/metrics.h"

namespace gw::tls {

class ListenerContexts;
class TlsTransportFactory;

class TlsTransport final : public http::Transport {
  public:
    explicit TlsTransport(TlsTransportFactory& factory) : factory_(factory) {}
    ~TlsTransport() override;
    TlsTransport(const TlsTransport&) = delete;
    TlsTransport& operator=(const TlsTransport&) = delete;

    int handshake() override;
    std::string_view handshake_failure() const override { return failure_; }
    void handshake_timed_out() override;
    ssize_t read(char* buf, size_t len) override;
    ssize_t writev(const struct iovec* iov, int count) override;
    Want want() const override { return io_.want; }
    bool has_buffered_input() const override;
    void shutdown() override;
    std::string_view protocol() const override;
    std::string_view cipher() const override;
    std::string_view server_name() const override;
    bool session_reused() const override;
    std::string_view alpn() const override;

    // The client's certificate when it was verified against client_auth's CAs (in this
    // handshake, or in the one that made the resumed session), else null.
    X509* verified_peer() const;
    // Whether the client sent a certificate (in this handshake or the one that made the resumed
    // session), and the result of its verification (X509_V_OK: verified).
    bool peer_certificate(long& verify_result) const;
    // Its subject, RFC 2253 (as nginx's $ssl_client_s_dn); made once per connection. Empty
    // when there is no verified certificate.
    std::string_view verified_peer_subject() const;
    // The SHA-1 of its DER, lower-case hex (as nginx's $ssl_client_fingerprint) into `out`
    // (40 bytes); false when there is no verified certificate.
    bool verified_peer_fingerprint(char (&out)[40]) const;

    // The client's verified certificate, PEM, URL-escaped as nginx's $ssl_client_escaped_cert
    // (every byte but A-Z a-z 0-9 - . _ ~ as %XX); made once per connection. Empty when there
    // is no verified certificate.
    std::string_view verified_peer_escaped_pem() const;

    // The decrypt-ticket callback (metrics.cc) saw a ticket it could use in this handshake: a
    // resumption is then by ticket, not from the session cache.
    void note_ticket_decrypted() { ticket_decrypted_ = true; }

    SSL* ssl() const { return io_.ssl; }  // tests

  private:
    friend class TlsTransportFactory;
    bool attach(SSL_CTX* ctx, int fd);  // a new connection on socket `fd`
    void detach();                      // the connection is over: ready for the next one
    void count_established();
    bool established() const { return io_.established; }

    TlsTransportFactory& factory_;
    SslIo io_;
    bool ticket_decrypted_ = false;
    mutable bool subject_made_ = false;
    mutable bool pem_made_ = false;
    // Kept with the pooled object: no allocation once warm.
    mutable std::string subject_;
    mutable std::string escaped_pem_;
    std::string failure_;  // why the handshake failed, when info lines are logged
};

class TlsTransportFactory final : public http::TransportFactory {
  public:
    // `contexts` outlives the factory. `metrics`: the listener's counters (none: not counted).
    TlsTransportFactory(const ListenerContexts& contexts, uint64_t handshake_timeout_ms,
                        ListenerMetrics metrics = {});
    ~TlsTransportFactory() override;

    http::Transport* open(int fd) override;
    void close(http::Transport* t) override;
    uint64_t handshake_timeout_ms() const override { return handshake_timeout_ms_; }

    // Where writev() gathers small pieces into one record: one per worker and listener, used
    // within one call only.
    static constexpr size_t kRecordBytes = tls::kRecordBytes;
    char* scratch() { return scratch_.get(); }
    ListenerMetrics& metrics() { return metrics_; }
    const ListenerContexts& contexts() const { return contexts_; }
    // With `ktls: true`, the first handshake of the worker says whether the kernel took the
    // record layer over (a notice, once): where it cannot, OpenSSL keeps it, silently.
    bool ktls_noted = false;

  private:
    const ListenerContexts& contexts_;
    uint64_t handshake_timeout_ms_;
    ListenerMetrics metrics_;
    std::unique_ptr<char[]> scratch_;
    std::vector<std::unique_ptr<TlsTransport>> all_;  // every transport made (they live as long)
    std::vector<TlsTransport*> free_;
};

}  // namespace gw::tls
