// One SSL on a non-blocking socket, as both TLS transports drive it - the listeners' (server side,
// transport.h) and the upstreams' (client side, upstream_transport.h): the handshake step, reads
// and record-sized writes (record_writer.h) answering as read(2)/writev(2) do, what to wait for
// after EAGAIN, and the end of the connection. One call per event; OpenSSL's error queue is
// cleared before every call that reads it. What each side adds - its metrics, how it explains a
// failed handshake, the session it keeps - stays in its transport.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <string_view>

#include "http/transport.h"
#include "modules/tls/record_writer.h"

namespace gw::tls {

struct SslIo {
    using Want = http::Transport::Want;

    SSL* ssl = nullptr;
    size_t retry_bytes = 0;  // the record a WANT_WRITE left pending (record_writer.h)
    Want want = Want::Read;
    bool established = false;
    bool failed = false;
    bool protocol_error = false;  // failed on a TLS error (not a reset or an EOF)

    // Ready for a connection on `ssl` (which this takes), nothing of the last one kept.
    void reset(SSL* s, Want first);
    // Ends the connection: the SSL is freed. A session stays resumable unless the connection
    // broke on a TLS error (OpenSSL makes the session of a connection closed without
    // close_notify not resumable, and most peers just close).
    void release();

    // One SSL_do_handshake: 1 done (established), 0 waiting for `want`, -1 failed (`failed` set;
    // `ssl_error` and `saved_errno` say how, for the caller's account of it, with OpenSSL's
    // queue still holding the reason).
    int handshake_step(int& ssl_error, int& saved_errno);
    // As read(2) / writev(2): bytes (> 0); 0 from read at close_notify (or an EOF); -1 with errno
    // EAGAIN (see `want`), EPROTO (a TLS error, logged at debug with `who`) or the socket's.
    // (Inline: they run once per event on every TLS connection.)
    ssize_t read(char* buf, size_t len, const char* who) {
        ERR_clear_error();
        size_t n = 0;
        if (SSL_read_ex(ssl, buf, len, &n) == 1) return static_cast<ssize_t>(n);
        return read_failed(who);
    }
    ssize_t writev(const struct iovec* iov, int count, char* scratch, const char* who) {
        int e = 0;
        ssize_t n = write_records(ssl, iov, count, scratch, retry_bytes, e);
        return n >= 0 ? n : write_failed(e, who);
    }
    // Decrypted bytes not yet read, or record bytes read ahead from the socket.
    bool has_buffered_input() const { return ssl && SSL_has_pending(ssl) == 1; }
    // One close_notify, not waiting for the peer's; never after a fatal error or mid-handshake.
    void shutdown();

    std::string_view protocol() const;
    std::string_view cipher() const;
    bool session_reused() const;
    std::string_view alpn() const;  // the protocol ALPN settled, or empty

  private:
    ssize_t read_failed(const char* who);
    ssize_t write_failed(int ssl_error, const char* who);
    ssize_t fail_io(int ssl_error, const char* who);
};

}  // namespace gw::tls
