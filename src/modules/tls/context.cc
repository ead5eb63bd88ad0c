#include "modules/tls/context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <utility>

#include "modules/tls/metrics.h"

namespace gw::tls {

void SslCtxFree::operator()(SSL_CTX* c) const { SSL_CTX_free(c); }

namespace {

// TLS 1.2 when `ciphers:` is not given: forward secrecy and AEAD only. TLS 1.3 keeps OpenSSL's
// defaults (every TLS 1.3 suite is AEAD with forward secrecy).
constexpr const char* kDefaultCiphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
constexpr const char* kGroups = "X25519:P-256:P-384";
// A session cache entry, roughly (a session with a client certificate is larger): what turns
// session_cache's bytes into OpenSSL's per-process cache size, when no Resumption shares one.
constexpr uint64_t kSessionBytes = 1024;
// The longest name SNI can carry (RFC 6066: a DNS host name).
constexpr size_t kMaxServerName = 255;

// HTTP/1.1 is the only protocol offered until HTTP/2 (issue 17).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
    static constexpr std::string_view kHttp11 = "http/1.1", kH2 = "h2";
    // The server's preference (RFC 7301 3.2): h2 when the listener speaks it, then http/1.1.
    const bool http2 = arg && static_cast<const ListenerContexts*>(arg)->http2();
    const unsigned char* h11 = nullptr;
    for (unsigned int i = 0; i < inlen;) {
        unsigned int n = in[i];
        if (i + 1 + n > inlen) break;
        std::string_view name(reinterpret_cast<const char*>(in + i + 1), n);
        if (http2 && name == kH2) {
            *out = in + i + 1;
            *outlen = static_cast<unsigned char>(n);
            return SSL_TLSEXT_ERR_OK;
        }
        if (name == kHttp11 && !h11) h11 = in + i + 1;
        i += 1 + n;
    }
    if (h11) {
        *out = h11;
        *outlen = static_cast<unsigned char>(kHttp11.size());
        return SSL_TLSEXT_ERR_OK;
    }
    // The client speaks none of ours (say, h2 only, to a listener without http2): a fatal
    // no_application_protocol alert is better than answering HTTP/1.1 to a client that will
    // not read it.
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// The first host_name of a server_name extension's body (RFC 6066 3), or empty when it is
// malformed (OpenSSL checks the extension itself later and refuses a malformed one).
std::string_view first_host_name(const unsigned char* p, size_t len) {
    if (len < 2) return {};
    size_t list = (size_t{p[0]} << 8) | p[1];
    if (list + 2 != len) return {};
    for (size_t i = 2; i + 3 <= len;) {
        uint8_t type = p[i];
        size_t n = (size_t{p[i + 1]} << 8) | p[i + 2];
        if (i + 3 + n > len) return {};
        if (type == TLSEXT_NAMETYPE_host_name) return {reinterpret_cast<const char*>(p + i + 3), n};
        i += 3 + n;
    }
    return {};
}

// Runs first in the ClientHello's processing, before OpenSSL looks at a session id or a ticket:
// the context (and with it the session id context) is settled before resumption is decided.
int on_client_hello(SSL* ssl, int* /*alert*/, void* arg) {
    const auto* contexts = static_cast<const ListenerContexts*>(arg);
    const unsigned char* ext = nullptr;
    size_t len = 0;
    SSL_CTX* ctx = contexts->default_context();
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1) {
        std::string_view name = first_host_name(ext, len);
        if (!name.empty()) ctx = contexts->for_server_name(name);
    }
    if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
    return SSL_CLIENT_HELLO_SUCCESS;
}

// The context was chosen in on_client_hello; this only accepts the name, so that OpenSSL
// acknowledges it and keeps it with a TLS 1.2 session ($ssl_server_name of a resumed one).
int accept_server_name(SSL*, int* /*alert*/, void*) { return SSL_TLSEXT_ERR_OK; }

// client_auth optional: the handshake goes on whatever the client sends; the verification's
// result stays in SSL_get_verify_result, and only a verified certificate counts (a
// require_client_cert route, $ssl_client_*).
int accept_unverified(int /*preverify_ok*/, X509_STORE_CTX*) { return 1; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The session id context of one group: a digest of the listener, the group's certificates and
// the client-auth policy (its mode and CAs). Stable across reloads while they stay the same
// (phase 2 keeps sessions across reloads), distinct between groups, listeners and policies.
bool session_id_context(std::string_view listener_id, const std::vector<const Certificate*>& group,
                        const ClientAuth& auth, std::array<unsigned char, SSL_MAX_SID_CTX_LENGTH>& out) {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    if (!md) return false;
    bool ok = EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1;
    auto add = [&](const void* p, size_t n) { ok = ok && EVP_DigestUpdate(md, p, n) == 1; };
    auto add_cert = [&](X509* x) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        ok = ok && X509_digest(x, EVP_sha256(), d, &n) == 1;
        add(d, n);
    };
    static constexpr std::string_view kTag = "gatewayd tls session id context 1";
    add(kTag.data(), kTag.size() + 1);
    add(listener_id.data(), listener_id.size());
    add("", 1);
    for (const Certificate* c : group) add_cert(c->leaf.get());
    uint8_t mode = static_cast<uint8_t>(auth.mode);
    add(&mode, 1);
    if (auth.mode != ClientAuthMode::Off)
        for (const X509Ptr& ca : auth.ca_names) add_cert(ca.get());
    unsigned int n = 0;
    static_assert(SSL_MAX_SID_CTX_LENGTH == 32, "a SHA-256 digest fills the session id context");
    ok = ok && EVP_DigestFinal_ex(md, out.data(), &n) == 1 && n == out.size();
    EVP_MD_CTX_free(md);
    return ok;
}

// The ex_data slot of every context of a listener that names its Resumption.
int resumption_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// OpenSSL's defaults first (its cache and ticket keys, in this process), with `session_cache:
// off` and `session_tickets: off` honoured; then a Resumption (the worker's: a cache in shared
// memory, ticket keys from the master) replaces the storage on the session context, and every
// context of the listener names it, for the callbacks.
bool set_up_resumption(SSL_CTX* ctx, const ListenerTls& tls, bool session_ctx, Resumption* resumption,
                       std::string& error) {
    if (tls.session_cache_bytes == 0) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(std::max<uint64_t>(tls.session_cache_bytes / kSessionBytes, 64)));
    }
    if (!tls.session_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        // TLS 1.3 without stateless tickets sends stateful ones (a session id for the cache);
        // without a cache either, there is nothing to resume: send none.
        if (tls.session_cache_bytes == 0) SSL_CTX_set_num_tickets(ctx, 0);
    }
    if (!resumption) return true;
    if (resumption_index() < 0 || SSL_CTX_set_ex_data(ctx, resumption_index(), resumption) != 1) {
        error = "cannot attach the session storage: " + take_openssl_errors("out of memory");
        return false;
    }
    return !session_ctx || resumption->install(ctx, tls, error);
}

}  // namespace

Resumption* resumption_of(const SSL_CTX* ctx) {
    int index = resumption_index();
    return ctx && index >= 0 ? static_cast<Resumption*>(SSL_CTX_get_ex_data(ctx, index)) : nullptr;
}

Resumption* resumption_of(const SSL* ssl) { return ssl ? resumption_of(SSL_get_SSL_CTX(ssl)) : nullptr; }

std::string take_openssl_errors(std::string_view fallback) {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(e);
        char buf[256];
        if (!reason) {
            ERR_error_string_n(e, buf, sizeof buf);
            reason = buf;
        }
        if (out.find(reason) != std::string::npos) continue;  // the same reason at several levels
        if (!out.empty()) out += ": ";
        out += reason;
    }
    if (out.empty()) out = fallback;
    return out;
}

bool ListenerContexts::build(const ListenerTls& tls, std::string_view listener_id, Resumption* resumption,
                             std::string& error, const StapleBoard* fetched) {
    tls_ = &tls;
    contexts_.clear();
    exact_.clear();
    wildcard_.clear();
    staples_.build(tls, fetched);
    ERR_clear_error();
    if (tls.certificates.empty()) {
        error = "no certificate";
        return false;
    }
    if ((tls.protocols & (kTls12 | kTls13)) == 0) {
        error = "no protocol enabled";
        return false;
    }

    // Name groups, in the order of their first certificate: certificates with the same names
    // share a context. Within a group, one certificate per key type (the first): OpenSSL holds
    // one per type and a later one would replace it.
    std::vector<std::pair<std::vector<std::string>, std::vector<const Certificate*>>> groups;
    for (const Certificate& c : tls.certificates) {
        std::vector<std::string> names;
        for (const std::string& n : c.names) names.push_back(lower(n));
        std::sort(names.begin(), names.end());
        names.erase(std::unique(names.begin(), names.end()), names.end());
        auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& e) { return e.first == names; });
        if (g == groups.end()) {
            groups.emplace_back(std::move(names), std::vector<const Certificate*>{&c});
            continue;
        }
        int type = EVP_PKEY_get_base_id(c.key.get());
        bool taken = std::any_of(g->second.begin(), g->second.end(),
                                 [&](const Certificate* o) { return EVP_PKEY_get_base_id(o->key.get()) == type; });
        if (!taken) g->second.push_back(&c);
    }

    for (const auto& [names, certs] : groups) {
        if (!build_group(certs, listener_id, error)) {
            contexts_.clear();
            return false;
        }
        if (!set_up_resumption(contexts_.back().get(), tls, contexts_.size() == 1, resumption, error)) {
            contexts_.clear();
            return false;
        }
        auto index = static_cast<uint32_t>(contexts_.size() - 1);
        // A name two groups serve goes to the first (emplace keeps what is there).
        for (const std::string& n : names) {
            if (n.size() > 2 && n.starts_with("*."))
                wildcard_.emplace(n.substr(2), index);
            else if (!n.empty())
                exact_.emplace(n, index);
        }
    }
    return true;
}

bool ListenerContexts::build_group(const std::vector<const Certificate*>& group, std::string_view listener_id,
                                   std::string& error) {
    const Certificate& first = *group.front();
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
        error = "cannot make a TLS context: " + take_openssl_errors("out of memory");
        return false;
    }
    if (!apply_server_settings(ctx.get(), error) || !apply_client_auth(ctx.get(), error)) return false;
    staples_.install(ctx.get());  // OCSP stapling, when a certificate has a staple

    for (const Certificate* c : group) {
        STACK_OF(X509)* chain = sk_X509_new_null();
        bool ok = chain != nullptr;
        for (const X509Ptr& x : c->chain) ok = ok && sk_X509_push(chain, x.get()) > 0;
        // The chain is up-referenced by OpenSSL: the stack itself is ours to free.
        ok = ok && SSL_CTX_use_cert_and_key(ctx.get(), c->leaf.get(), c->key.get(), chain, 1) == 1;
        sk_X509_free(chain);
        if (!ok) {
            error = "certificate " + c->cert_path + ": " + take_openssl_errors("cannot be used");
            return false;
        }
    }

    std::array<unsigned char, SSL_MAX_SID_CTX_LENGTH> sid{};
    if (!session_id_context(listener_id, group, tls_->client_auth, sid) ||
        SSL_CTX_set_session_id_context(ctx.get(), sid.data(), static_cast<unsigned int>(sid.size())) != 1) {
        error = "certificate " + first.cert_path + ": cannot set the session id context: " +
                take_openssl_errors("digest failed");
        return false;
    }
    contexts_.push_back(std::move(ctx));
    return true;
}

bool ListenerContexts::apply_server_settings(SSL_CTX* ctx, std::string& error) const {
    const ListenerTls& tls = *tls_;
    int min = (tls.protocols & kTls12) ? TLS1_2_VERSION : TLS1_3_VERSION;
    int max = (tls.protocols & kTls13) ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1 || SSL_CTX_set_max_proto_version(ctx, max) != 1) {
        error = "cannot set the protocols: " + take_openssl_errors("unsupported");
        return false;
    }
    // Compression (CRIME) and renegotiation never; the server's cipher order; an EOF without
    // close_notify reads as an EOF (HTTP/1 requests carry their own length: a truncation is seen
    // by the codec); ChaCha20 first for a client that prefers it (no AES instructions).
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_PRIORITIZE_CHACHA);
    // Kernel TLS: OpenSSL hands the keys to the kernel after the handshake where the kernel
    // (its "tls" module) and the cipher allow it, and keeps the record layer itself elsewhere.
    if (tls.ktls) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    // Buffers go back while a connection is idle; a write may stop after a record (the
    // transport's accounting), and a retried write may come from a moved buffer.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // One read(2) per event instead of two per record (header, then body): what is read ahead
    // stays in OpenSSL's buffer, and the transport says so (has_buffered_input).
    SSL_CTX_set_read_ahead(ctx, 1);

    const char* ciphers = tls.ciphers.empty() ? kDefaultCiphers : tls.ciphers.c_str();
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        error = "ciphers \"" + std::string(ciphers) + "\": " + take_openssl_errors("no usable cipher");
        return false;
    }
    if (!tls.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, tls.ciphersuites.c_str()) != 1) {
        error = "ciphersuites \"" + tls.ciphersuites + "\": " + take_openssl_errors("no usable suite");
        return false;
    }
    if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
        error = std::string("groups ") + kGroups + ": " + take_openssl_errors("unsupported");
        return false;
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, const_cast<ListenerContexts*>(this));
    // On every context: OpenSSL calls the callback of the context the connection is on, and a
    // pooled connection object may still be on the one a previous client's SNI chose.
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, const_cast<ListenerContexts*>(this));
    SSL_CTX_set_tlsext_servername_callback(ctx, accept_server_name);
    observe_tickets(ctx);  // resumed by ticket or from the cache (metrics)
    return true;
}

bool ListenerContexts::apply_client_auth(SSL_CTX* ctx, std::string& error) const {
    const ClientAuth& auth = tls_->client_auth;
    if (auth.mode == ClientAuthMode::Off) return true;
    if (!auth.store) {
        error = "client_auth: no CA loaded";
        return false;
    }
    SSL_CTX_set1_cert_store(ctx, auth.store.get());  // shared with the other contexts (up-referenced)
    // With `crl:`, the CRLs loaded into the store are checked for every certificate of the
    // client's chain (as nginx's ssl_crl): a CA without a CRL then fails the verification.
    if (!auth.crl_path.empty())
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    // The CA names in the CertificateRequest, so a client with several certificates picks one.
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    if (!names) {
        error = "client_auth: out of memory";
        return false;
    }
    for (const X509Ptr& ca : auth.ca_names) {
        X509_NAME* n = X509_NAME_dup(X509_get_subject_name(ca.get()));
        if (!n || sk_X509_NAME_push(names, n) <= 0) {
            X509_NAME_free(n);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            error = "client_auth: out of memory";
            return false;
        }
    }
    SSL_CTX_set_client_CA_list(ctx, names);  // takes them
    if (auth.mode == ClientAuthMode::Require)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_unverified);
    return true;
}

SSL_CTX* ListenerContexts::for_server_name(std::string_view name) const {
    SSL_CTX* fallback = default_context();
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // an absolute name
    if (name.empty() || name.size() > kMaxServerName) return fallback;
    char buf[kMaxServerName];
    for (size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        buf[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    std::string_view key(buf, name.size());
    if (auto e = exact_.find(key); e != exact_.end()) return contexts_[e->second].get();
    // A wildcard covers one label: "a.example.com" looks up "example.com", "a.b.example.com"
    // looks up "b.example.com" (no match), and "example.com" looks up "com".
    if (size_t dot = key.find('.'); dot != std::string_view::npos && dot > 0 && dot + 1 < key.size())
        if (auto w = wildcard_.find(key.substr(dot + 1)); w != wildcard_.end()) return contexts_[w->second].get();
    return fallback;
}

}  // namespace gw::tls
