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
    ssize_t read(char* buf, size_t len) override;
    ssize_t writev(const struct iovec* iov, int count) override;
    Want want() const override { return want_; }
    bool has_buffered_input() const override;
    void shutdown() override;
    std::string_view protocol() const override;
    std::string_view cipher() const override;
    std::string_view server_name() const override;
    bool session_reused() const override;

    // The client's certificate when it was verified against client_auth's CAs (in this
    // handshake, or in the one that made the resumed session), else null.
    X509* verified_peer() const;
    // Its subject, RFC 2253 (as nginx's $ssl_client_s_dn); made once per connection. Empty
    // when there is no verified certificate.
    std::string_view verified_peer_subject() const;
    // The SHA-1 of its DER, lower-case hex (as nginx's $ssl_client_fingerprint) into `out`
    // (40 bytes); false when there is no verified certificate.
    bool verified_peer_fingerprint(char (&out)[40]) const;

    SSL* ssl() const { return ssl_; }  // tests

  private:
    friend class TlsTransportFactory;
    bool attach(SSL_CTX* ctx, int fd);  // a new connection on socket `fd`
    void detach();                      // the connection is over: ready for the next one
    ssize_t fail_io(int ssl_error, const char* what);
    bool established() const { return established_; }

    TlsTransportFactory& factory_;
    SSL* ssl_ = nullptr;
    // A write that OpenSSL could not finish (WANT_WRITE) must be retried with exactly the bytes
    // of the record it made: how many, 0 when none is pending.
    size_t retry_bytes_ = 0;
    Want want_ = Want::Read;
    bool established_ = false;
    bool failed_ = false;          // a fatal error: no close_notify may follow
    bool protocol_error_ = false;  // a TLS error (not a reset): the session is not kept
    mutable bool subject_made_ = false;
    mutable std::string subject_;  // kept with the pooled object: no allocation once warm
};

class TlsTransportFactory final : public http::TransportFactory {
  public:
    // `contexts` outlives the factory.
    TlsTransportFactory(const ListenerContexts& contexts, uint64_t handshake_timeout_ms);
    ~TlsTransportFactory() override;

    http::Transport* open(int fd) override;
    void close(http::Transport* t) override;
    uint64_t handshake_timeout_ms() const override { return handshake_timeout_ms_; }

    // Where writev() gathers small pieces into one record: one per worker and listener, used
    // within one call only.
    static constexpr size_t kRecordBytes = 16384;
    char* scratch() { return scratch_.get(); }

  private:
    const ListenerContexts& contexts_;
    uint64_t handshake_timeout_ms_;
    std::unique_ptr<char[]> scratch_;
    std::vector<std::unique_ptr<TlsTransport>> all_;  // every transport made (they live as long)
    std::vector<TlsTransport*> free_;
};

}  // namespace gw::tls
