#include "modules/tls/upstream_transport.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "core/config/config.h"
#include "core/log.h"

namespace gw::tls {

namespace {

// Offered to every server: the proxy speaks HTTP/1.1 upstream, or HTTP/2 to an upstream with
// `protocol: h2` (then only "h2": the connection checks that the server chose it).
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};

SslCtxPtr build_context(const UpstreamTls& t, std::string& error) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        error = "cannot make a TLS context: " + take_openssl_errors("out of memory");
        return nullptr;
    }
    int min = (t.protocols & kTls12) ? TLS1_2_VERSION : TLS1_3_VERSION;
    int max = (t.protocols & kTls13) ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(ctx.get(), min) != 1 || SSL_CTX_set_max_proto_version(ctx.get(), max) != 1) {
        error = "cannot set the protocols: " + take_openssl_errors("unsupported");
        return nullptr;
    }
    // As on listeners: no compression, no renegotiation; an EOF without close_notify reads as
    // an EOF (the response's framing tells a truncated body, as on a plain connection).
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx.get(), 1);  // has_buffered_input() tells what stays in OpenSSL
    if (!t.ciphers.empty() && SSL_CTX_set_cipher_list(ctx.get(), t.ciphers.c_str()) != 1) {
        error = "ciphers \"" + t.ciphers + "\": " + take_openssl_errors("no usable cipher");
        return nullptr;
    }
    if (!t.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx.get(), t.ciphersuites.c_str()) != 1) {
        error = "ciphersuites \"" + t.ciphersuites + "\": " + take_openssl_errors("no usable suite");
        return nullptr;
    }
    if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpnHttp11, sizeof kAlpnHttp11) != 0) {  // 0 is success here
        error = "ALPN: " + take_openssl_errors("out of memory");
        return nullptr;
    }
    if (t.verify) {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
        bool ok = t.ca ? SSL_CTX_set1_cert_store(ctx.get(), t.ca.get()), true
                       : SSL_CTX_set_default_verify_paths(ctx.get()) == 1;
        if (!ok) {
            error = "cannot load the system's trust store: " + take_openssl_errors("unknown reason");
            return nullptr;
        }
    } else {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    }
    if (const std::optional<Certificate>& c = t.client_certificate) {
        STACK_OF(X509)* chain = sk_X509_new_null();
        bool ok = chain != nullptr;
        for (const X509Ptr& x : c->chain) ok = ok && sk_X509_push(chain, x.get()) > 0;
        ok = ok && SSL_CTX_use_cert_and_key(ctx.get(), c->leaf.get(), c->key.get(), chain, 1) == 1;
        sk_X509_free(chain);  // the certificates were up-referenced
        if (!ok) {
            error = "client certificate " + c->cert_path + ": " + take_openssl_errors("cannot be used");
            return nullptr;
        }
    }
    if (t.session_reuse) {
        // Sessions are kept by the factory (per server), not in OpenSSL's cache.
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx.get(), UpstreamTlsFactory::on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    }
    return ctx;
}

}  // namespace

// ---- UpstreamTlsTransport

UpstreamTlsTransport::~UpstreamTlsTransport() { SSL_free(io_.ssl); }

bool UpstreamTlsTransport::attach(SSL_CTX* ctx, int fd, size_t server) {
    ERR_clear_error();
    server_ = server;
    io_.reset(nullptr, Want::Write);
    failure_.clear();
    io_.ssl = SSL_new(ctx);
    bool ok = io_.ssl && SSL_set_fd(io_.ssl, fd) == 1;
    if (ok) {
        SSL_set_connect_state(io_.ssl);
        SSL_set_app_data(io_.ssl, this);  // for the new-session callback
        const ServerIdentity& id = factory_.identity(server);
        if (!id.sni.empty()) ok = SSL_set_tlsext_host_name(io_.ssl, id.sni.c_str()) == 1;
        if (ok && factory_.tls().verify && !id.name.empty()) {
            if (id.is_ip) {
                ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(io_.ssl), id.name.c_str()) == 1;
            } else {
                SSL_set_hostflags(io_.ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                ok = SSL_set1_host(io_.ssl, id.name.c_str()) == 1;
            }
        }
        if (ok)
            if (SSL_SESSION* saved = factory_.saved_session(server)) SSL_set_session(io_.ssl, saved);
    }
    if (!ok) {
        LOG_ERROR("TLS to upstream: cannot make a connection: %s", take_openssl_errors("out of memory").c_str());
        SSL_free(io_.ssl);
        io_.ssl = nullptr;
    }
    return ok;
}

void UpstreamTlsTransport::detach() { io_.release(); }

int UpstreamTlsTransport::handshake() {
    int e = 0, saved_errno = 0;
    int r = io_.handshake_step(e, saved_errno);
    if (r >= 0) return r;
    note_failure(e, saved_errno);
    // The session offered (if any) led here, or the server changed: the next connection
    // starts afresh.
    factory_.drop_session(server_);
    return -1;
}

void UpstreamTlsTransport::note_failure(int ssl_error, int saved_errno) {
    long verified = SSL_get_verify_result(io_.ssl);
    if (factory_.tls().verify && verified != X509_V_OK) {
        failure_ = "certificate verify failed: ";
        failure_ += X509_verify_cert_error_string(verified);
        if (verified == X509_V_ERR_HOSTNAME_MISMATCH || verified == X509_V_ERR_IP_ADDRESS_MISMATCH)
            failure_ += " (expected \"" + factory_.identity(server_).name + "\")";
    } else if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        failure_ = saved_errno ? std::strerror(saved_errno) : "the server closed the connection";
    } else {
        failure_ = take_openssl_errors("unknown error");
    }
    ERR_clear_error();
}

ssize_t UpstreamTlsTransport::read(char* buf, size_t len) { return io_.read(buf, len, "TLS to upstream"); }

ssize_t UpstreamTlsTransport::writev(const struct iovec* iov, int count) {
    return io_.writev(iov, count, factory_.scratch(), "TLS to upstream");
}

bool UpstreamTlsTransport::has_buffered_input() const { return io_.has_buffered_input(); }

void UpstreamTlsTransport::shutdown() { io_.shutdown(); }

std::string_view UpstreamTlsTransport::protocol() const { return io_.protocol(); }

std::string_view UpstreamTlsTransport::cipher() const { return io_.cipher(); }

std::string_view UpstreamTlsTransport::alpn() const { return io_.alpn(); }

std::string_view UpstreamTlsTransport::server_name() const { return factory_.identity(server_).sni; }

bool UpstreamTlsTransport::session_reused() const { return io_.session_reused(); }

// ---- UpstreamTlsFactory

std::unique_ptr<UpstreamTlsFactory> UpstreamTlsFactory::make(const UpstreamTls& tls, const UpstreamConfig& upstream,
                                                             std::string& error) {
    std::vector<ServerIdentity> ids;
    for (const UpstreamServerConfig& s : upstream.servers) ids.push_back(server_identity(tls, s.address));
    std::unique_ptr<UpstreamTlsFactory> f = make(tls, std::move(ids), error);
    if (f && upstream.protocol == UpstreamConfig::Protocol::H2 &&
        SSL_CTX_set_alpn_protos(f->ctx_.get(), kAlpnH2, sizeof kAlpnH2) != 0) {
        error = "ALPN: " + take_openssl_errors("out of memory");
        return nullptr;
    }
    return f;
}

std::unique_ptr<UpstreamTlsFactory> UpstreamTlsFactory::make(const UpstreamTls& tls, std::vector<ServerIdentity> identities,
                                                             std::string& error) {
    SslCtxPtr ctx = build_context(tls, error);
    if (!ctx) return nullptr;
    return std::unique_ptr<UpstreamTlsFactory>(new UpstreamTlsFactory(tls, std::move(ctx), std::move(identities)));
}

UpstreamTlsFactory::UpstreamTlsFactory(const UpstreamTls& tls, SslCtxPtr ctx, std::vector<ServerIdentity> identities)
    : tls_(tls),
      ctx_(std::move(ctx)),
      identities_(std::move(identities)),
      sessions_(identities_.size(), nullptr),
      scratch_(std::make_unique<char[]>(kRecordBytes)) {}

UpstreamTlsFactory::~UpstreamTlsFactory() {
    for (SSL_SESSION* s : sessions_) SSL_SESSION_free(s);
}

int UpstreamTlsFactory::on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* t = static_cast<UpstreamTlsTransport*>(SSL_get_app_data(ssl));
    if (!t || !SSL_SESSION_is_resumable(session)) return 0;
    t->factory_.keep_session(t->server_, session);
    return 1;  // the reference is ours
}

void UpstreamTlsFactory::keep_session(size_t server, SSL_SESSION* session) {
    if (server >= sessions_.size()) {
        SSL_SESSION_free(session);
        return;
    }
    SSL_SESSION_free(sessions_[server]);
    sessions_[server] = session;
}

void UpstreamTlsFactory::drop_session(size_t server) {
    if (server >= sessions_.size()) return;
    SSL_SESSION_free(sessions_[server]);
    sessions_[server] = nullptr;
}

http::ClientTransport* UpstreamTlsFactory::open(int fd, size_t server) {
    if (server >= identities_.size()) return nullptr;
    UpstreamTlsTransport* t;
    if (!free_.empty()) {
        t = free_.back();
        free_.pop_back();
    } else {
        all_.push_back(std::make_unique<UpstreamTlsTransport>(*this));
        t = all_.back().get();
    }
    if (!t->attach(ctx_.get(), fd, server)) {
        free_.push_back(t);
        return nullptr;
    }
    return t;
}

void UpstreamTlsFactory::close(http::ClientTransport* t) {
    if (!t) return;
    auto* tls = static_cast<UpstreamTlsTransport*>(t);  // the only kind this factory makes
    tls->detach();
    free_.push_back(tls);
}

// ---- UpstreamTlsClients

std::unique_ptr<UpstreamTlsClients> UpstreamTlsClients::make(const Config& config, const Settings& settings, bool& ok,
                                                             std::string& error) {
    ok = true;
    std::unique_ptr<UpstreamTlsClients> clients;
    for (size_t i = 0; i < config.upstreams.size(); ++i) {
        const UpstreamTls* tls = settings.upstream(i);
        if (!tls) continue;
        if (!clients) {
            clients.reset(new UpstreamTlsClients);
            clients->factories_.resize(config.upstreams.size());
            clients->transports_.by_upstream.assign(config.upstreams.size(), nullptr);
        }
        std::string why;
        std::unique_ptr<UpstreamTlsFactory> f = UpstreamTlsFactory::make(*tls, config.upstreams[i], why);
        if (!f) {
            error = "upstream \"" + config.upstreams[i].name + "\"" + (tls->mark.file ? " (" + tls->mark.str() + ")" : "") +
                    ": " + why;
            ok = false;
            return nullptr;
        }
        clients->transports_.by_upstream[i] = f.get();
        clients->factories_[i] = std::move(f);
    }
    return clients;
}

}  // namespace gw::tls
