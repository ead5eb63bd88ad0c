#include "modules/tls/transport.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "modules/tls/context.h"

namespace gw::tls {

namespace {

// OpenSSL's own words for a failed handshake (the info line; the metrics take the reason).
std::string raw_failure(int ssl_error, int saved_errno) {
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return "the client closed the connection";
    if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        if (saved_errno == 0) return "the client closed the connection";
        return std::strerror(saved_errno);
    }
    return take_openssl_errors("unknown error");
}

// URL-escaping as nginx's ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT): all but the unreserved
// characters of RFC 3986, upper-case hex.
void append_uri_component(std::string& out, std::string_view in) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
}

}  // namespace

// ---- TlsTransport

TlsTransport::~TlsTransport() { SSL_free(io_.ssl); }

bool TlsTransport::attach(SSL_CTX* ctx, int fd) {
    ERR_clear_error();
    io_.ssl = SSL_new(ctx);
    if (!io_.ssl || SSL_set_fd(io_.ssl, fd) != 1) {
        LOG_ERROR("TLS: cannot make a connection: %s", take_openssl_errors("out of memory").c_str());
        SSL_free(io_.ssl);
        io_.ssl = nullptr;
        return false;
    }
    SSL_set_accept_state(io_.ssl);
    SSL_set_app_data(io_.ssl, this);  // for the decrypt-ticket callback (metrics.cc)
    io_.reset(io_.ssl, Want::Read);
    ticket_decrypted_ = false;
    subject_made_ = false;
    pem_made_ = false;
    subject_.clear();
    escaped_pem_.clear();
    failure_.clear();
    return true;
}

void TlsTransport::detach() {
    // OpenSSL drops the session of a connection that did not exchange close_notify from the
    // cache: most HTTP clients just close (SslIo::release keeps it). A new SSL per connection
    // (SSL_new is about 1 us, SSL_clear 0.1 us: see the unit test's TlsCost): nothing of a
    // previous client can survive into the next connection.
    io_.release();
}

int TlsTransport::handshake() {
    int e = 0, saved_errno = 0;
    bool was_established = io_.established;
    int r = io_.handshake_step(e, saved_errno);
    if (r == 1) {
        if (!was_established) count_established();
        return 1;
    }
    if (r == 0) return 0;
    FailReason reason = classify_failure(io_.ssl, e, saved_errno);
    factory_.metrics().handshake_failed(protocol_label(io_.ssl), reason);
    // The codec logs it at info (a client's failure - a scanner, an old client, plain HTTP on
    // the TLS port - is not the server's error, and must not flood the log at the default
    // level): the text only when that line is written.
    if (log::enabled(LogLevel::Info)) {
        failure_ = reason_label(reason);
        failure_ += " (";
        failure_ += raw_failure(e, saved_errno);
        failure_ += ')';
    }
    ERR_clear_error();
    return -1;
}

void TlsTransport::handshake_timed_out() {
    if (io_.established || io_.failed || !io_.ssl) return;
    io_.failed = true;
    factory_.metrics().handshake_failed(protocol_label(io_.ssl), FailReason::Timeout);
}

void TlsTransport::count_established() {
    if (!factory_.ktls_noted && factory_.contexts().tls().ktls) {
        factory_.ktls_noted = true;
        bool send = BIO_get_ktls_send(SSL_get_wbio(io_.ssl)) == 1, recv = BIO_get_ktls_recv(SSL_get_rbio(io_.ssl)) == 1;
        LOG_NOTICE("ktls: this worker's first TLS connection on the listener has kernel TLS for sending %s, "
                   "for receiving %s (%s)",
                   send ? "on" : "off", recv ? "on" : "off", SSL_get_cipher_name(io_.ssl));
    }
    ListenerMetrics& m = factory_.metrics();
    m.handshake_ok(protocol_label(io_.ssl));
    if (SSL_session_reused(io_.ssl) == 1) m.resumed(ticket_decrypted_ ? ResumeKind::Ticket : ResumeKind::Cache);
}

ssize_t TlsTransport::read(char* buf, size_t len) { return io_.read(buf, len, "TLS read failed"); }

ssize_t TlsTransport::writev(const struct iovec* iov, int count) {
    return io_.writev(iov, count, factory_.scratch(), "TLS write failed");
}

bool TlsTransport::has_buffered_input() const { return io_.has_buffered_input(); }

void TlsTransport::shutdown() { io_.shutdown(); }

std::string_view TlsTransport::protocol() const { return io_.protocol(); }

std::string_view TlsTransport::cipher() const { return io_.cipher(); }

std::string_view TlsTransport::server_name() const {
    if (!io_.ssl) return {};
    const char* name = SSL_get_servername(io_.ssl, TLSEXT_NAMETYPE_host_name);
    return name ? std::string_view(name) : std::string_view();
}

bool TlsTransport::session_reused() const { return io_.session_reused(); }

std::string_view TlsTransport::alpn() const { return io_.alpn(); }

X509* TlsTransport::verified_peer() const {
    if (!io_.established) return nullptr;
    X509* peer = SSL_get0_peer_certificate(io_.ssl);
    return peer && SSL_get_verify_result(io_.ssl) == X509_V_OK ? peer : nullptr;
}

bool TlsTransport::peer_certificate(long& verify_result) const {
    if (!io_.established || !SSL_get0_peer_certificate(io_.ssl)) return false;
    verify_result = SSL_get_verify_result(io_.ssl);
    return true;
}

std::string_view TlsTransport::verified_peer_subject() const {
    if (subject_made_) return subject_;
    subject_made_ = true;
    X509* peer = verified_peer();
    if (!peer) return {};
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return {};
    if (X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
        char* p = nullptr;
        long n = BIO_get_mem_data(bio, &p);
        if (n > 0 && p) subject_.assign(p, static_cast<size_t>(n));
    }
    BIO_free(bio);
    ERR_clear_error();
    return subject_;
}

std::string_view TlsTransport::verified_peer_escaped_pem() const {
    if (pem_made_) return escaped_pem_;
    pem_made_ = true;
    X509* peer = verified_peer();
    if (!peer) return {};
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return {};
    if (PEM_write_bio_X509(bio, peer) == 1) {
        char* p = nullptr;
        long n = BIO_get_mem_data(bio, &p);
        if (n > 0 && p) append_uri_component(escaped_pem_, std::string_view(p, static_cast<size_t>(n)));
    }
    BIO_free(bio);
    ERR_clear_error();
    return escaped_pem_;
}

bool TlsTransport::verified_peer_fingerprint(char (&out)[40]) const {
    X509* peer = verified_peer();
    if (!peer) return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    // X509 keeps its SHA-1 from parsing: no digest is computed here.
    if (X509_digest(peer, EVP_sha1(), md, &n) != 1 || n != 20) {
        ERR_clear_error();
        return false;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned int k = 0; k < 20; ++k) {
        out[2 * k] = kHex[md[k] >> 4];
        out[2 * k + 1] = kHex[md[k] & 15];
    }
    return true;
}

// ---- TlsTransportFactory

TlsTransportFactory::TlsTransportFactory(const ListenerContexts& contexts, uint64_t handshake_timeout_ms,
                                         ListenerMetrics metrics)
    : contexts_(contexts),
      handshake_timeout_ms_(handshake_timeout_ms),
      metrics_(metrics),
      scratch_(std::make_unique<char[]>(kRecordBytes)) {}

TlsTransportFactory::~TlsTransportFactory() = default;

http::Transport* TlsTransportFactory::open(int fd) {
    TlsTransport* t;
    if (!free_.empty()) {
        t = free_.back();
        free_.pop_back();
    } else {
        all_.push_back(std::make_unique<TlsTransport>(*this));
        t = all_.back().get();
    }
    if (!t->attach(contexts_.default_context(), fd)) {
        free_.push_back(t);
        return nullptr;
    }
    return t;
}

void TlsTransportFactory::close(http::Transport* t) {
    if (!t) return;
    // Only this factory's transports come back here (static_cast: TlsTransport is the only
    // kind it makes).
    auto* tls = static_cast<TlsTransport*>(t);
    tls->detach();
    free_.push_back(tls);
}

}  // namespace gw::tls
