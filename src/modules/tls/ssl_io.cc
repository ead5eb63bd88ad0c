#include "modules/tls/ssl_io.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <string>

#include "core/log.h"
#include "modules/tls/context.h"
#include "modules/tls/record_writer.h"

namespace gw::tls {

void SslIo::reset(SSL* s, Want first) {
    ssl = s;
    retry_bytes = 0;
    want = first;
    established = failed = protocol_error = false;
}

void SslIo::release() {
    if (ssl && established && !protocol_error) SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
    ssl = nullptr;
}

int SslIo::handshake_step(int& ssl_error, int& saved_errno) {
    if (established) return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
        established = true;
        return 1;
    }
    saved_errno = errno;
    ssl_error = SSL_get_error(ssl, r);
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
        want = ssl_error == SSL_ERROR_WANT_READ ? Want::Read : Want::Write;
        return 0;
    }
    failed = true;
    return -1;
}

ssize_t SslIo::fail_io(int ssl_error, const char* who) {
    int saved_errno = errno;
    failed = true;
    if (ssl_error == SSL_ERROR_SYSCALL) {
        ERR_clear_error();
        errno = saved_errno != 0 && saved_errno != EAGAIN ? saved_errno : EPIPE;
        return -1;
    }
    protocol_error = true;
    if (log::enabled(LogLevel::Debug)) LOG_DEBUG("%s: %s", who, take_openssl_errors("unknown error").c_str());
    ERR_clear_error();
    errno = EPROTO;
    return -1;
}

// SSL_read_ex said no: wait (EAGAIN), the end (0), or a failure.
ssize_t SslIo::read_failed(const char* who) {
    int e = SSL_get_error(ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        want = e == SSL_ERROR_WANT_READ ? Want::Read : Want::Write;
        errno = EAGAIN;
        return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify, or an EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
    return fail_io(e, who);
}

ssize_t SslIo::write_failed(int e, const char* who) {
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        want = e == SSL_ERROR_WANT_WRITE ? Want::Write : Want::Read;
        errno = EAGAIN;
        return -1;
    }
    return fail_io(e, who);
}

void SslIo::shutdown() {
    if (!ssl || failed || !established) return;
    ERR_clear_error();
    SSL_shutdown(ssl);
    ERR_clear_error();
}

std::string_view SslIo::protocol() const { return established ? std::string_view(SSL_get_version(ssl)) : std::string_view(); }

std::string_view SslIo::cipher() const {
    const SSL_CIPHER* c = established ? SSL_get_current_cipher(ssl) : nullptr;
    const char* name = c ? SSL_CIPHER_get_name(c) : nullptr;
    return name ? std::string_view(name) : std::string_view();
}

bool SslIo::session_reused() const { return established && SSL_session_reused(ssl) == 1; }

std::string_view SslIo::alpn() const {
    if (!ssl) return {};
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(ssl, &p, &n);
    return p ? std::string_view(reinterpret_cast<const char*>(p), n) : std::string_view();
}

}  // namespace gw::tls
