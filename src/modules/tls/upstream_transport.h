// TLS to upstream servers, in one worker: a client SSL_CTX per upstream with `tls:` (built after
// fork, as the listeners' contexts), and the client transports the proxy opens on its connected
// sockets (http::UpstreamTransportFactory, http/transport.h).
//
// Session reuse: the factory keeps the last session each server gave (OpenSSL's new-session
// callback: a TLS 1.2 session at the handshake's end, a TLS 1.3 ticket when it arrives) and
// offers it on the next connection to that server; a failed handshake drops it. Nothing is
// shared between workers.
//
// The transport is a second small class beside the listeners' TlsTransport (transport.h): the
// same one-call-per-event reads and record-sized writes, on the client side, with the reason of
// a failed handshake kept for the proxy's error log line (the verification's reason first).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "http/transport.h"
#include "modules/tls/record_writer.h"
#include "modules/tls/ssl_io.h"
#include "modules/tls/config.h"
#include "modules/tls/context.h"
#include "modules/tls/upstream_config.h"

namespace gw {
struct Config;
}

namespace gw::tls {

class UpstreamTlsFactory;

class UpstreamTlsTransport final : public http::ClientTransport {
  public:
    explicit UpstreamTlsTransport(UpstreamTlsFactory& factory) : factory_(factory) {}
    ~UpstreamTlsTransport() override;
    UpstreamTlsTransport(const UpstreamTlsTransport&) = delete;
    UpstreamTlsTransport& operator=(const UpstreamTlsTransport&) = delete;

    int handshake() override;
    // The codec's contract of TlsTransport::writev holds here too: after -1/EAGAIN or a short
    // count, the next call starts with the bytes not reported written (at least as many).
    ssize_t read(char* buf, size_t len) override;
    ssize_t writev(const struct iovec* iov, int count) override;
    Want want() const override { return io_.want; }
    bool has_buffered_input() const override;
    void shutdown() override;
    std::string_view protocol() const override;
    std::string_view cipher() const override;
    std::string_view server_name() const override;  // the SNI sent
    std::string_view alpn() const override;         // "h2" for an upstream with protocol: h2
    bool session_reused() const override;
    std::string_view failure() const override { return failure_; }

    SSL* ssl() const { return io_.ssl; }  // tests
    size_t server() const { return server_; }

  private:
    friend class UpstreamTlsFactory;
    bool attach(SSL_CTX* ctx, int fd, size_t server);
    void detach();
    void note_failure(int ssl_error, int saved_errno);

    UpstreamTlsFactory& factory_;
    SslIo io_;
    size_t server_ = 0;
    std::string failure_;  // kept with the pooled object
};

class UpstreamTlsFactory final : public http::UpstreamTransportFactory {
  public:
    // The context of upstream `upstream` (the `tls:` map `tls`), for its servers' identities;
    // null, with `error` set (OpenSSL's reason included), when it cannot be built.
    static std::unique_ptr<UpstreamTlsFactory> make(const UpstreamTls& tls, const UpstreamConfig& upstream,
                                                    std::string& error);
    // The same for servers known by their identities (index = server); `tls` outlives the factory.
    static std::unique_ptr<UpstreamTlsFactory> make(const UpstreamTls& tls, std::vector<ServerIdentity> identities,
                                                    std::string& error);
    ~UpstreamTlsFactory() override;

    http::ClientTransport* open(int fd, size_t server) override;
    void close(http::ClientTransport* t) override;

    const UpstreamTls& tls() const { return tls_; }
    const ServerIdentity& identity(size_t server) const { return identities_[server]; }
    SSL_CTX* context() const { return ctx_.get(); }
    // The session kept for `server`, or null (tests).
    SSL_SESSION* saved_session(size_t server) const { return server < sessions_.size() ? sessions_[server] : nullptr; }

    // OpenSSL's new-session callback of the context: the session goes to its server's slot.
    static int on_new_session(SSL* ssl, SSL_SESSION* session);

    static constexpr size_t kRecordBytes = tls::kRecordBytes;
    char* scratch() { return scratch_.get(); }

  private:
    friend class UpstreamTlsTransport;
    UpstreamTlsFactory(const UpstreamTls& tls, SslCtxPtr ctx, std::vector<ServerIdentity> identities);
    void keep_session(size_t server, SSL_SESSION* session);  // takes the reference
    void drop_session(size_t server);

    const UpstreamTls& tls_;
    SslCtxPtr ctx_;
    std::vector<ServerIdentity> identities_;  // by server index
    std::vector<SSL_SESSION*> sessions_;      // by server index; owned references
    std::unique_ptr<char[]> scratch_;
    std::vector<std::unique_ptr<UpstreamTlsTransport>> all_;
    std::vector<UpstreamTlsTransport*> free_;
};

// Every upstream's factory in one worker, provided as http::UpstreamTransports.
class UpstreamTlsClients {
  public:
    // Null when no upstream of `config` has `tls:`; false in `ok` (with `error`) on a failure.
    static std::unique_ptr<UpstreamTlsClients> make(const Config& config, const Settings& settings, bool& ok,
                                                     std::string& error);
    const http::UpstreamTransports& transports() const { return transports_; }

  private:
    std::vector<std::unique_ptr<UpstreamTlsFactory>> factories_;
    http::UpstreamTransports transports_;
};

}  // namespace gw::tls
