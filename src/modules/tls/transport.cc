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

TlsTransport::~TlsTransport() { SSL_free(ssl_); }

bool TlsTransport::attach(SSL_CTX* ctx, int fd) {
    ERR_clear_error();
    ssl_ = SSL_new(ctx);
    if (!ssl_ || SSL_set_fd(ssl_, fd) != 1) {
        LOG_ERROR("TLS: cannot make a connection: %s", take_openssl_errors("out of memory").c_str());
        SSL_free(ssl_);
        ssl_ = nullptr;
        return false;
    }
    SSL_set_accept_state(ssl_);
    SSL_set_app_data(ssl_, this);  // for the decrypt-ticket callback (metrics.cc)
    retry_bytes_ = 0;
    want_ = Want::Read;
    established_ = false;
    failed_ = false;
    protocol_error_ = false;
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
    // cache (and makes it not resumable): most HTTP clients just close. Keep it unless the
    // connection broke on a TLS protocol error.
    if (established_ && !protocol_error_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    // A new SSL per connection (SSL_new is about 1 us, SSL_clear 0.1 us: see the unit test's
    // TlsCost): nothing of a previous client can survive into the next connection.
    SSL_free(ssl_);
    ssl_ = nullptr;
}

int TlsTransport::handshake() {
    if (established_) return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        established_ = true;
        count_established();
        return 1;
    }
    int saved_errno = errno;
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) {
        want_ = Want::Read;
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        want_ = Want::Write;
        return 0;
    }
    failed_ = true;
    FailReason reason = classify_failure(ssl_, e, saved_errno);
    factory_.metrics().handshake_failed(protocol_label(ssl_), reason);
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
    if (established_ || failed_ || !ssl_) return;
    failed_ = true;
    factory_.metrics().handshake_failed(protocol_label(ssl_), FailReason::Timeout);
}

void TlsTransport::count_established() {
    if (!factory_.ktls_noted && factory_.contexts().tls().ktls) {
        factory_.ktls_noted = true;
        bool send = BIO_get_ktls_send(SSL_get_wbio(ssl_)) == 1, recv = BIO_get_ktls_recv(SSL_get_rbio(ssl_)) == 1;
        LOG_NOTICE("ktls: this worker's first TLS connection on the listener has kernel TLS for sending %s, "
                   "for receiving %s (%s)",
                   send ? "on" : "off", recv ? "on" : "off", SSL_get_cipher_name(ssl_));
    }
    ListenerMetrics& m = factory_.metrics();
    m.handshake_ok(protocol_label(ssl_));
    if (SSL_session_reused(ssl_) == 1) m.resumed(ticket_decrypted_ ? ResumeKind::Ticket : ResumeKind::Cache);
}

ssize_t TlsTransport::fail_io(int ssl_error, const char* what) {
    int saved_errno = errno;
    if (ssl_error == SSL_ERROR_SYSCALL) {
        failed_ = true;
        ERR_clear_error();
        errno = saved_errno != 0 && saved_errno != EAGAIN ? saved_errno : EPIPE;
        return -1;
    }
    failed_ = true;
    protocol_error_ = true;
    if (log::enabled(LogLevel::Debug)) {
        std::string why = take_openssl_errors("unknown error");
        LOG_DEBUG("TLS %s failed: %s", what, why.c_str());
    }
    ERR_clear_error();
    errno = EPROTO;
    return -1;
}

ssize_t TlsTransport::read(char* buf, size_t len) {
    ERR_clear_error();
    size_t n = 0;
    if (SSL_read_ex(ssl_, buf, len, &n) == 1) return static_cast<ssize_t>(n);
    int e = SSL_get_error(ssl_, 0);
    switch (e) {
        case SSL_ERROR_WANT_READ:
            want_ = Want::Read;
            errno = EAGAIN;
            return -1;
        case SSL_ERROR_WANT_WRITE:
            want_ = Want::Write;
            errno = EAGAIN;
            return -1;
        case SSL_ERROR_ZERO_RETURN:  // close_notify, or an EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
            return 0;
        default:
            return fail_io(e, "read");
    }
}

ssize_t TlsTransport::writev(const struct iovec* iov, int count) {
    int e = 0;
    ssize_t n = write_records(ssl_, iov, count, factory_.scratch(), retry_bytes_, e);
    if (n >= 0) return n;
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        want_ = e == SSL_ERROR_WANT_WRITE ? Want::Write : Want::Read;
        errno = EAGAIN;
        return -1;
    }
    return fail_io(e, "write");
}

bool TlsTransport::has_buffered_input() const {
    // Decrypted bytes not yet read, or record bytes read ahead from the socket.
    return ssl_ && SSL_has_pending(ssl_) == 1;
}

void TlsTransport::shutdown() {
    // One close_notify, not waiting for the client's: the socket is shut down or closed next.
    // Never after a fatal error (OpenSSL forbids it) or in the middle of a handshake.
    if (!ssl_ || failed_ || !established_) return;
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
}

std::string_view TlsTransport::protocol() const {
    return established_ ? std::string_view(SSL_get_version(ssl_)) : std::string_view();
}

std::string_view TlsTransport::cipher() const {
    if (!established_) return {};
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
    const char* name = c ? SSL_CIPHER_get_name(c) : nullptr;
    return name ? std::string_view(name) : std::string_view();
}

std::string_view TlsTransport::server_name() const {
    if (!ssl_) return {};
    const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    return name ? std::string_view(name) : std::string_view();
}

bool TlsTransport::session_reused() const { return established_ && SSL_session_reused(ssl_) == 1; }

X509* TlsTransport::verified_peer() const {
    if (!established_) return nullptr;
    X509* peer = SSL_get0_peer_certificate(ssl_);
    return peer && SSL_get_verify_result(ssl_) == X509_V_OK ? peer : nullptr;
}

bool TlsTransport::peer_certificate(long& verify_result) const {
    if (!established_ || !SSL_get0_peer_certificate(ssl_)) return false;
    verify_result = SSL_get_verify_result(ssl_);
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
