// The tls module's engine: contexts built from a gw::tls::ListenerTls filled by hand (the
// certificates made here with the OpenSSL API), TlsTransport on one end of a socketpair and an
// OpenSSL client on the other, both non-blocking and driven in this thread.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/services/registry.h"
#include "core/shm/zone.h"
#include "event/loop.h"
#include "core/text_writer.h"
#include "http/filter.h"
#include "modules/tls/context.h"
#include "modules/tls/filter.h"
#include "modules/tls/transport.h"
#include "modules/tls/vars.h"
#include "modules/tls/worker.h"
#include "filter_harness.h"

// Client options are written as designated initializers naming only what a test changes.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace gw::tls {
namespace {

using Clock = std::chrono::steady_clock;

// ---- certificates -------------------------------------------------------------------------

PkeyPtr make_key(bool rsa) {
    EVP_PKEY* k = rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    return PkeyPtr(k);
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    ASSERT_TRUE(ext) << value;
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// A certificate for `key`, with subject CN `cn` (O `org` when given), the DNS names `sans`,
// signed by `issuer`/`issuer_key` (self-signed when null).
X509Ptr make_cert(EVP_PKEY* key, const std::string& cn, const std::vector<std::string>& sans, X509* issuer,
                  EVP_PKEY* issuer_key, bool ca = false, const char* org = nullptr) {
    static long serial = 1;
    X509Ptr x(X509_new());
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 30L * 24 * 3600);
    X509_set_pubkey(x.get(), key);
    X509_NAME* name = X509_get_subject_name(x.get());
    if (org)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(org), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer ? issuer : x.get();
    if (ca) {
        add_ext(x.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x.get(), signer, NID_basic_constraints, "CA:FALSE");
    }
    if (!sans.empty()) {
        std::string alt;
        for (const std::string& s : sans) alt += (alt.empty() ? "DNS:" : ",DNS:") + s;
        add_ext(x.get(), signer, NID_subject_alt_name, alt.c_str());
    }
    EXPECT_GT(X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()), 0);
    return x;
}

X509Ptr up_ref(X509* x) {
    X509_up_ref(x);
    return X509Ptr(x);
}
PkeyPtr up_ref(EVP_PKEY* k) {
    EVP_PKEY_up_ref(k);
    return PkeyPtr(k);
}

// The keys and certificates of every test, made once (RSA key generation is slow).
struct Pki {
    PkeyPtr ca_key, ecdsa_key, rsa_key, client_key, other_ca_key;
    X509Ptr ca, other_ca;
    X509Ptr api, www_ecdsa, www_rsa, wild, client, stranger;

    Pki() {
        ca_key = make_key(false);
        ecdsa_key = make_key(false);
        rsa_key = make_key(true);
        client_key = make_key(false);
        other_ca_key = make_key(false);
        ca = make_cert(ca_key.get(), "Test CA", {}, nullptr, nullptr, true);
        other_ca = make_cert(other_ca_key.get(), "Other CA", {}, nullptr, nullptr, true);
        api = make_cert(ecdsa_key.get(), "api.example.com", {"api.example.com"}, ca.get(), ca_key.get());
        www_ecdsa = make_cert(ecdsa_key.get(), "www", {"www.example.com", "example.com"}, ca.get(), ca_key.get());
        www_rsa = make_cert(rsa_key.get(), "www", {"www.example.com", "example.com"}, ca.get(), ca_key.get());
        wild = make_cert(ecdsa_key.get(), "wild", {"*.example.com"}, ca.get(), ca_key.get());
        client = make_cert(client_key.get(), "client one", {}, ca.get(), ca_key.get(), false, "Test, Inc.");
        stranger = make_cert(client_key.get(), "stranger", {}, other_ca.get(), other_ca_key.get());
    }
};

const Pki& pki() {
    static const Pki p;
    return p;
}

Certificate certificate(const X509Ptr& leaf, EVP_PKEY* key, std::vector<std::string> names, const X509Ptr* chain = nullptr) {
    Certificate c;
    c.cert_path = "test:" + names.front();
    c.leaf = up_ref(leaf.get());
    c.key = up_ref(key);
    c.key_type = EVP_PKEY_get_base_id(key);
    c.names = std::move(names);
    if (chain) c.chain.push_back(up_ref(chain->get()));
    return c;
}

// api.example.com (the default), www (ECDSA and RSA), *.example.com.
ListenerTls sni_listener() {
    const Pki& p = pki();
    ListenerTls tls;
    tls.certificates.push_back(certificate(p.api, p.ecdsa_key.get(), {"api.example.com"}, &p.ca));
    tls.certificates.push_back(certificate(p.www_ecdsa, p.ecdsa_key.get(), {"www.example.com", "example.com"}));
    tls.certificates.push_back(certificate(p.www_rsa, p.rsa_key.get(), {"example.com", "WWW.example.com"}));
    tls.certificates.push_back(certificate(p.wild, p.ecdsa_key.get(), {"*.example.com"}));
    return tls;
}

void set_client_auth(ListenerTls& tls, ClientAuthMode mode) {
    const Pki& p = pki();
    tls.client_auth.mode = mode;
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, p.ca.get());
    tls.client_auth.store = std::shared_ptr<X509_STORE>(store, X509_STORE_free);
    tls.client_auth.ca_names.push_back(up_ref(p.ca.get()));
}

std::string cn_of(X509* x) {
    char buf[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof buf);
    return buf;
}

// ---- a connection: TlsTransport <-> an OpenSSL client over a socketpair ---------------------

struct ClientOptions {
    std::string sni;
    int min_version = 0;
    int max_version = 0;
    const char* sigalgs = nullptr;
    const char* alpn = "\x08http/1.1";
    bool send_certificate = false;
    bool stranger_certificate = false;
    SSL_SESSION* session = nullptr;  // to resume
    const char* ciphers = nullptr;   // TLS 1.2 list
    int security_level = -1;
};

class Connection {
  public:
    Connection(TlsTransportFactory& factory, const ClientOptions& o, int sndbuf = 0) : factory_(factory) {
        int fds[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        server_fd = fds[0];
        client_fd = fds[1];
        if (sndbuf > 0) {
            for (int fd : fds) {
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
            }
        }
        server = static_cast<TlsTransport*>(factory.open(server_fd));
        EXPECT_TRUE(server);

        ctx = SSL_CTX_new(TLS_client_method());
        if (o.security_level >= 0) SSL_CTX_set_security_level(ctx, o.security_level);
        if (o.min_version) SSL_CTX_set_min_proto_version(ctx, o.min_version);
        if (o.max_version) SSL_CTX_set_max_proto_version(ctx, o.max_version);
        if (o.ciphers) SSL_CTX_set_cipher_list(ctx, o.ciphers);
        if (o.sigalgs) {
            EXPECT_EQ(SSL_CTX_set1_sigalgs_list(ctx, o.sigalgs), 1);
        }
        // No client cache: freeing the context would make its sessions not resumable.
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        client = SSL_new(ctx);
        SSL_set_fd(client, client_fd);
        SSL_set_connect_state(client);
        if (!o.sni.empty()) SSL_set_tlsext_host_name(client, o.sni.c_str());
        if (o.alpn)
            SSL_set_alpn_protos(client, reinterpret_cast<const unsigned char*>(o.alpn),
                                static_cast<unsigned int>(std::strlen(o.alpn)));
        if (o.send_certificate) {
            const Pki& p = pki();
            SSL_use_certificate(client, o.stranger_certificate ? p.stranger.get() : p.client.get());
            SSL_use_PrivateKey(client, p.client_key.get());
        }
        if (o.session) SSL_set_session(client, o.session);
    }
    ~Connection() {
        if (server) factory_.close(server);
        // As a browser does, without close_notify; OpenSSL would make the client's session not
        // resumable unless told the connection ended well.
        SSL_set_shutdown(client, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(client);
        SSL_CTX_free(ctx);
        close(server_fd);
        close(client_fd);
    }

    // Drives both ends until both finished the handshake (true) or one failed (false).
    bool handshake() {
        Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
        bool server_done = false, client_done = false;
        while (Clock::now() < deadline) {
            if (!server_done) {
                auto t0 = Clock::now();
                int r = server->handshake();
                server_time += Clock::now() - t0;
                if (r < 0) {
                    server_failed = true;
                    pump_client();  // let the client read the alert
                    return false;
                }
                server_done = r == 1;
            }
            if (!client_done) {
                int r = SSL_do_handshake(client);
                if (r == 1) {
                    client_done = true;
                } else {
                    int e = SSL_get_error(client, r);
                    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                        client_failed = true;
                        ERR_clear_error();
                        // the server sees the client's alert
                        for (int i = 0; i < 4 && !server_failed; ++i)
                            if (server->handshake() < 0) server_failed = true;
                        return false;
                    }
                }
            }
            if (server_done && client_done) {
                // TLS 1.3: the server's tickets come after the client's Finished; read them.
                pump_client();
                return true;
            }
        }
        ADD_FAILURE() << "handshake deadline";
        return false;
    }

    // Lets the client process what the server sent (session tickets) without application data.
    void pump_client() {
        char b[64];
        size_t n;
        ERR_clear_error();
        if (SSL_read_ex(client, b, sizeof b, &n) == 1) pending_client_data.append(b, n);
        ERR_clear_error();
    }

    std::string peer_cn() const {
        X509* x = SSL_get0_peer_certificate(client);
        return x ? cn_of(x) : "";
    }
    int peer_key_type() const {
        X509* x = SSL_get0_peer_certificate(client);
        return x ? EVP_PKEY_get_base_id(X509_get0_pubkey(x)) : 0;
    }

    TlsTransportFactory& factory_;
    int server_fd = -1, client_fd = -1;
    TlsTransport* server = nullptr;
    SSL_CTX* ctx = nullptr;
    SSL* client = nullptr;
    bool server_failed = false, client_failed = false;
    std::string pending_client_data;
    Clock::duration server_time{};  // in server->handshake()
};

// A listener's contexts and factory.
struct Listener {
    explicit Listener(ListenerTls t, std::string id = "127.0.0.1:8443") : tls(std::move(t)) {
        ok = contexts.build(tls, id, nullptr, error);
        EXPECT_TRUE(ok) << error;
        factory = std::make_unique<TlsTransportFactory>(contexts, 5000);
    }
    ListenerTls tls;
    ListenerContexts contexts;
    std::unique_ptr<TlsTransportFactory> factory;
    std::string error;
    bool ok = false;
};

std::string render(Variable v, const TlsTransport& t) {
    std::string out;
    {
        StringWriter w(out);
        if (!write_variable(v, t, w)) return "<none>";
    }
    return out;
}

// ---- handshakes ------------------------------------------------------------------------------

TEST(TlsTransport, HandshakeTls13) {
    Listener l(sni_listener());
    Connection c(*l.factory, {.sni = "api.example.com"});
    ASSERT_TRUE(c.handshake());
    EXPECT_EQ(c.server->protocol(), "TLSv1.3");
    EXPECT_TRUE(c.server->cipher().starts_with("TLS_")) << c.server->cipher();
    EXPECT_EQ(c.server->server_name(), "api.example.com");
    EXPECT_FALSE(c.server->session_reused());
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(c.client, &alpn, &alpn_len);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(alpn), alpn_len), "http/1.1");
    EXPECT_EQ(render(Variable::Protocol, *c.server), "TLSv1.3");
    EXPECT_EQ(render(Variable::SessionReused, *c.server), ".");
    EXPECT_EQ(render(Variable::ServerName, *c.server), "api.example.com");
    EXPECT_EQ(render(Variable::ClientFingerprint, *c.server), "<none>");
    EXPECT_EQ(ERR_peek_error(), 0u) << "the error queue is left empty";
}

TEST(TlsTransport, HandshakeTls12WithAnEcdheAeadCipher) {
    Listener l(sni_listener());
    Connection c(*l.factory, {.sni = "api.example.com", .max_version = TLS1_2_VERSION});
    ASSERT_TRUE(c.handshake());
    EXPECT_EQ(c.server->protocol(), "TLSv1.2");
    EXPECT_EQ(c.server->cipher(), "ECDHE-ECDSA-AES256-GCM-SHA384");
    EXPECT_EQ(render(Variable::Cipher, *c.server), "ECDHE-ECDSA-AES256-GCM-SHA384");
}

TEST(TlsTransport, DefaultTls12CiphersAreEcdheAeadOnly) {
    Listener l(sni_listener());
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(l.contexts.default_context());
    int tls12 = 0;
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
        if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any) continue;  // a TLS 1.3 suite
        ++tls12;
        EXPECT_EQ(SSL_CIPHER_get_kx_nid(c), NID_kx_ecdhe) << SSL_CIPHER_get_name(c);
        EXPECT_EQ(SSL_CIPHER_is_aead(c), 1) << SSL_CIPHER_get_name(c);
    }
    EXPECT_GE(tls12, 4);
}

TEST(TlsTransport, ATls11ClientFails) {
    Listener l(sni_listener());
    Connection c(*l.factory, {.min_version = TLS1_1_VERSION, .max_version = TLS1_1_VERSION,
                              .ciphers = "DEFAULT:@SECLEVEL=0", .security_level = 0});
    EXPECT_FALSE(c.handshake());
    EXPECT_TRUE(c.server_failed);
    EXPECT_EQ(c.server->protocol(), "");
    EXPECT_EQ(ERR_peek_error(), 0u) << "the error queue is left empty";
}

TEST(TlsTransport, Tls13OnlyRefusesATls12Client) {
    ListenerTls tls = sni_listener();
    tls.protocols = kTls13;
    Listener l(std::move(tls));
    Connection c(*l.factory, {.max_version = TLS1_2_VERSION});
    EXPECT_FALSE(c.handshake());
    EXPECT_TRUE(c.server_failed);
    // and a 1.3 client is served
    Connection d(*l.factory, {});
    EXPECT_TRUE(d.handshake());
}

TEST(TlsTransport, Tls12OnlyServesTls12) {
    ListenerTls tls = sni_listener();
    tls.protocols = kTls12;
    Listener l(std::move(tls));
    Connection c(*l.factory, {});
    ASSERT_TRUE(c.handshake());
    EXPECT_EQ(c.server->protocol(), "TLSv1.2");
}

TEST(TlsTransport, AClientWithoutHttp11InAlpnIsRefused) {
    Listener l(sni_listener());
    Connection c(*l.factory, {.alpn = "\x02h2"});
    EXPECT_FALSE(c.handshake());
    Connection d(*l.factory, {.alpn = nullptr});  // no ALPN at all: fine
    EXPECT_TRUE(d.handshake());
}

TEST(TlsTransport, BadCipherListsAreBuildErrors) {
    ListenerTls tls = sni_listener();
    tls.ciphers = "NOT-A-CIPHER";
    ListenerContexts contexts;
    std::string error;
    EXPECT_FALSE(contexts.build(tls, "x", nullptr, error));
    EXPECT_NE(error.find("ciphers \"NOT-A-CIPHER\""), std::string::npos) << error;
    EXPECT_EQ(ERR_peek_error(), 0u);

    ListenerTls none;
    EXPECT_FALSE(contexts.build(none, "x", nullptr, error));
    EXPECT_EQ(error, "no certificate");
}

// ---- SNI ------------------------------------------------------------------------------------

TEST(TlsSni, NameGroupsShareAContext) {
    Listener l(sni_listener());
    EXPECT_EQ(l.contexts.context_count(), 3u) << "api; www ECDSA+RSA; the wildcard";
}

TEST(TlsSni, ExactWildcardDefault) {
    Listener l(sni_listener());
    struct Case {
        const char* sni;
        const char* cn;
    } cases[] = {
        {"api.example.com", "api.example.com"},
        {"API.Example.COM", "api.example.com"},  // any case
        {"www.example.com", "www"},
        {"example.com", "www"},                   // not the wildcard: it covers one label
        {"foo.example.com", "wild"},
        {"Foo.EXAMPLE.com", "wild"},
        {"a.b.example.com", "api.example.com"},   // two labels: the default
        {"unknown.test", "api.example.com"},
        {"", "api.example.com"},                  // no SNI
    };
    for (const Case& k : cases) {
        Connection c(*l.factory, {.sni = k.sni});
        ASSERT_TRUE(c.handshake()) << k.sni;
        EXPECT_EQ(c.peer_cn(), k.cn) << k.sni;
        EXPECT_EQ(c.server->server_name(), k.sni) << "as the client sent it";
    }
}

TEST(TlsSni, LookupWithoutHandshake) {
    Listener l(sni_listener());
    SSL_CTX* def = l.contexts.default_context();
    EXPECT_EQ(l.contexts.for_server_name("nope"), def);
    EXPECT_NE(l.contexts.for_server_name("x.example.com"), def);
    EXPECT_EQ(l.contexts.for_server_name("x.example.com."), l.contexts.for_server_name("x.example.com"));
    EXPECT_EQ(l.contexts.for_server_name(".example.com"), def);
    EXPECT_EQ(l.contexts.for_server_name(std::string(300, 'a')), def);
    EXPECT_EQ(l.contexts.for_server_name("com"), def);
}

TEST(TlsSni, EcdsaOrRsaByWhatTheClientOffers) {
    Listener l(sni_listener());
    {
        Connection c(*l.factory, {.sni = "www.example.com"});
        ASSERT_TRUE(c.handshake());
        EXPECT_EQ(c.peer_key_type(), EVP_PKEY_EC);
    }
    {
        Connection c(*l.factory, {.sni = "www.example.com", .sigalgs = "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"});
        ASSERT_TRUE(c.handshake());
        EXPECT_EQ(c.peer_key_type(), EVP_PKEY_RSA);
        EXPECT_EQ(c.peer_cn(), "www");
    }
    {
        Connection c(*l.factory, {.sni = "www.example.com", .max_version = TLS1_2_VERSION,
                                  .sigalgs = "RSA+SHA256"});
        ASSERT_TRUE(c.handshake());
        EXPECT_EQ(c.peer_key_type(), EVP_PKEY_RSA);
        EXPECT_TRUE(c.server->cipher().starts_with("ECDHE-RSA-")) << c.server->cipher();
    }
    {
        // api has no RSA certificate: a client that takes only RSA fails there
        Connection c(*l.factory, {.sni = "api.example.com", .sigalgs = "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"});
        EXPECT_FALSE(c.handshake());
    }
}

TEST(TlsSni, TheChainIsSent) {
    Listener l(sni_listener());
    Connection c(*l.factory, {.sni = "api.example.com"});
    ASSERT_TRUE(c.handshake());
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(c.client);
    ASSERT_TRUE(chain);
    ASSERT_EQ(sk_X509_num(chain), 2);
    EXPECT_EQ(cn_of(sk_X509_value(chain, 1)), "Test CA");
}

// ---- reading and writing ----------------------------------------------------------------------

// Reads from the client whatever is there into `got`; false on an error.
bool client_read(SSL* ssl, std::string& got) {
    char buf[16384];
    for (;;) {
        size_t n = 0;
        ERR_clear_error();
        if (SSL_read_ex(ssl, buf, sizeof buf, &n) == 1) {
            got.append(buf, n);
            continue;
        }
        int e = SSL_get_error(ssl, 0);
        ERR_clear_error();
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }
}

TEST(TlsTransport, OneMegabyteEachWayWithPartialWrites) {
    Listener l(sni_listener());
    Connection c(*l.factory, {}, 4096);
    ASSERT_TRUE(c.handshake());

    std::string data(1 << 20, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131 + i / 7) & 0xff);

    // Server to client: the rest of the data each time in pieces of changing sizes (a retried
    // write must offer at least the record OpenSSL holds, however the caller cuts its pieces).
    size_t sent = 0;
    std::string got;
    int eagains = 0, calls = 0;
    unsigned seed = 7;
    Clock::time_point deadline = Clock::now() + std::chrono::seconds(20);
    while ((sent < data.size() || got.size() < data.size()) && Clock::now() < deadline) {
        if (sent < data.size()) {
            struct iovec iov[5];
            int count = 0;
            size_t at = sent;
            while (count < 5 && at < data.size()) {
                seed = seed * 1103515245 + 12345;
                size_t n = std::min<size_t>(data.size() - at, 1 + (seed >> 8) % 30000);
                if (count == 4) n = data.size() - at;
                iov[count].iov_base = data.data() + at;
                iov[count].iov_len = n;
                at += n;
                ++count;
            }
            ssize_t w = c.server->writev(iov, count);
            ++calls;
            if (w < 0) {
                ASSERT_EQ(errno, EAGAIN) << std::strerror(errno);
                EXPECT_EQ(c.server->want(), http::Transport::Want::Write);
                ++eagains;
            } else {
                sent += static_cast<size_t>(w);
            }
        }
        ASSERT_TRUE(client_read(c.client, got));
    }
    ASSERT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
    EXPECT_GT(eagains, 0) << "the small socket buffers made writes wait";
    std::printf("[ server->client 1 MB: %d writev calls, %d EAGAIN ]\n", calls, eagains);

    // Client to server, read into a small buffer.
    size_t csent = 0;
    std::string sgot;
    char buf[4096];
    deadline = Clock::now() + std::chrono::seconds(20);
    while ((csent < data.size() || sgot.size() < data.size()) && Clock::now() < deadline) {
        if (csent < data.size()) {
            size_t n = 0;
            ERR_clear_error();
            if (SSL_write_ex(c.client, data.data() + csent, data.size() - csent, &n) == 1) csent += n;
            ERR_clear_error();
        }
        for (;;) {
            ssize_t r = c.server->read(buf, sizeof buf);
            if (r > 0) {
                sgot.append(buf, static_cast<size_t>(r));
                continue;
            }
            ASSERT_LT(r, 0) << "no EOF";
            ASSERT_EQ(errno, EAGAIN);
            break;
        }
    }
    ASSERT_EQ(sgot.size(), data.size());
    EXPECT_TRUE(sgot == data);
}

TEST(TlsTransport, SmallPiecesGoInOneRecord) {
    Listener l(sni_listener());
    Connection c(*l.factory, {});
    ASSERT_TRUE(c.handshake());
    std::string head = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", body = "hello";
    struct iovec iov[3] = {{head.data(), head.size()}, {nullptr, 0}, {body.data(), body.size()}};
    ASSERT_EQ(c.server->writev(iov, 3), static_cast<ssize_t>(head.size() + body.size()));
    // One record: the client's first read returns all of it.
    char buf[256];
    size_t n = 0;
    ASSERT_EQ(SSL_read_ex(c.client, buf, sizeof buf, &n), 1);
    EXPECT_EQ(std::string(buf, n), head + body);
}

TEST(TlsTransport, BufferedInputIsAnnounced) {
    Listener l(sni_listener());
    Connection c(*l.factory, {});
    ASSERT_TRUE(c.handshake());
    EXPECT_FALSE(c.server->has_buffered_input());

    // A 16 KB record read into a small buffer: the rest waits in OpenSSL, not in the socket.
    std::string big(16000, 'x');
    size_t n = 0;
    ASSERT_EQ(SSL_write_ex(c.client, big.data(), big.size(), &n), 1);
    char buf[100];
    ASSERT_EQ(c.server->read(buf, sizeof buf), 100);
    EXPECT_TRUE(c.server->has_buffered_input());
    std::string rest;
    char large[20000];
    while (rest.size() < big.size() - 100) {
        ssize_t r = c.server->read(large, sizeof large);
        ASSERT_GT(r, 0);
        rest.append(large, static_cast<size_t>(r));
    }
    EXPECT_FALSE(c.server->has_buffered_input());

    // Two records in one read(2) (read ahead): the second is announced after the first is read.
    ASSERT_EQ(SSL_write_ex(c.client, "first", 5, &n), 1);
    ASSERT_EQ(SSL_write_ex(c.client, "second", 6, &n), 1);
    ASSERT_EQ(c.server->read(large, sizeof large), 5);
    EXPECT_TRUE(c.server->has_buffered_input());
    ASSERT_EQ(c.server->read(large, sizeof large), 6);
    EXPECT_FALSE(c.server->has_buffered_input());
    EXPECT_EQ(c.server->read(large, sizeof large), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(c.server->want(), http::Transport::Want::Read);
}

TEST(TlsTransport, EndOfStream) {
    Listener l(sni_listener());
    {
        Connection c(*l.factory, {});
        ASSERT_TRUE(c.handshake());
        SSL_shutdown(c.client);  // close_notify
        char buf[16];
        EXPECT_EQ(c.server->read(buf, sizeof buf), 0);
        c.server->shutdown();
        EXPECT_EQ(ERR_peek_error(), 0u);
    }
    {
        Connection c(*l.factory, {});
        ASSERT_TRUE(c.handshake());
        ::shutdown(c.client_fd, SHUT_WR);  // an EOF without close_notify
        char buf[16];
        EXPECT_EQ(c.server->read(buf, sizeof buf), 0);
    }
    {
        Connection c(*l.factory, {});
        ASSERT_TRUE(c.handshake());
        c.server->shutdown();  // the client sees close_notify
        char buf[16];
        size_t n;
        EXPECT_EQ(SSL_read_ex(c.client, buf, sizeof buf, &n), 0);
        EXPECT_EQ(SSL_get_error(c.client, 0), SSL_ERROR_ZERO_RETURN);
        ERR_clear_error();
    }
}

TEST(TlsTransport, PlainHttpOnTheTlsPortFailsTheHandshake) {
    Listener l(sni_listener());
    Connection c(*l.factory, {});
    ASSERT_EQ(write(c.client_fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 27);
    EXPECT_EQ(c.server->handshake(), -1);
    EXPECT_EQ(ERR_peek_error(), 0u);
}

// ---- resumption -------------------------------------------------------------------------------

SSL_SESSION* first_session(TlsTransportFactory& f, ClientOptions o) {
    Connection c(f, o);
    EXPECT_TRUE(c.handshake());
    return SSL_get1_session(c.client);
}

bool resumes(TlsTransportFactory& f, ClientOptions o, SSL_SESSION* s) {
    o.session = s;
    Connection c(f, o);
    EXPECT_TRUE(c.handshake());
    EXPECT_EQ(c.server->server_name(), o.sni);
    if (c.server->session_reused()) {
        EXPECT_EQ(render(Variable::SessionReused, *c.server), "r");
    }
    return c.server->session_reused() && SSL_session_reused(c.client);
}

TEST(TlsResumption, TicketsAndCacheResumeOnTheSameName) {
    Listener l(sni_listener());
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        ClientOptions o{.sni = "api.example.com", .max_version = version};
        SSL_SESSION* s = first_session(*l.factory, o);
        ASSERT_TRUE(s);
        EXPECT_TRUE(SSL_SESSION_has_ticket(s));
        EXPECT_TRUE(resumes(*l.factory, o, s)) << version;
        SSL_SESSION_free(s);
    }
}

TEST(TlsResumption, NeverAcrossNameGroups) {
    Listener l(sni_listener());
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        SSL_SESSION* s = first_session(*l.factory, {.sni = "api.example.com", .max_version = version});
        ASSERT_TRUE(s);
        // The same ticket offered under another certificate's name: a full handshake there.
        EXPECT_FALSE(resumes(*l.factory, {.sni = "www.example.com", .max_version = version}, s)) << version;
        EXPECT_FALSE(resumes(*l.factory, {.sni = "foo.example.com", .max_version = version}, s)) << version;
        EXPECT_TRUE(resumes(*l.factory, {.sni = "api.example.com", .max_version = version}, s)) << version;
        SSL_SESSION_free(s);
    }
}

TEST(TlsResumption, SessionCacheWithoutTickets) {
    ListenerTls tls = sni_listener();
    tls.session_tickets = false;
    Listener l(std::move(tls));
    ClientOptions o{.max_version = TLS1_2_VERSION};
    SSL_SESSION* s = first_session(*l.factory, o);
    ASSERT_TRUE(s);
    EXPECT_FALSE(SSL_SESSION_has_ticket(s)) << "session_tickets: off sends no ticket";
    EXPECT_TRUE(resumes(*l.factory, o, s)) << "by session id, from the cache";
    SSL_SESSION_free(s);
}

TEST(TlsResumption, NoCacheNoTicketsNoResumption) {
    ListenerTls tls = sni_listener();
    tls.session_tickets = false;
    tls.session_cache_bytes = 0;
    Listener l(std::move(tls));
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        ClientOptions o{.max_version = version};
        SSL_SESSION* s = first_session(*l.factory, o);
        ASSERT_TRUE(s);
        EXPECT_FALSE(SSL_SESSION_has_ticket(s)) << version;
        EXPECT_FALSE(resumes(*l.factory, o, s)) << version;
        SSL_SESSION_free(s);
    }
}

TEST(TlsResumption, TicketsWithoutCache) {
    ListenerTls tls = sni_listener();
    tls.session_cache_bytes = 0;
    Listener l(std::move(tls));
    ClientOptions o{.max_version = TLS1_2_VERSION};
    SSL_SESSION* s = first_session(*l.factory, o);
    ASSERT_TRUE(s);
    EXPECT_TRUE(SSL_SESSION_has_ticket(s));
    EXPECT_TRUE(resumes(*l.factory, o, s));
    SSL_SESSION_free(s);
}

// The session id context of a handshake's session (what phase 2's shared cache and ticket keys
// rely on to keep resumption within a certificate and a client-auth policy).
std::string session_context(Listener& l, ClientOptions o) {
    Connection c(*l.factory, o);
    EXPECT_TRUE(c.handshake());
    unsigned int n = 0;
    const unsigned char* p = SSL_SESSION_get0_id_context(SSL_get_session(c.server->ssl()), &n);
    return std::string(reinterpret_cast<const char*>(p), n);
}

TEST(TlsResumption, SessionIdContextsByListenerGroupAndPolicy) {
    Listener a(sni_listener());
    Listener again(sni_listener());  // a reload with the same configuration
    Listener other(sni_listener(), "127.0.0.1:9443");
    ListenerTls with_auth = sni_listener();
    set_client_auth(with_auth, ClientAuthMode::Optional);
    Listener auth(std::move(with_auth));

    std::string api = session_context(a, {.sni = "api.example.com"});
    EXPECT_EQ(api.size(), 32u);
    EXPECT_EQ(api, session_context(again, {.sni = "api.example.com"}));
    EXPECT_EQ(session_context(a, {.sni = "example.com"}), session_context(a, {.sni = "www.example.com"}));
    EXPECT_NE(api, session_context(a, {.sni = "www.example.com"}));
    EXPECT_NE(api, session_context(other, {.sni = "api.example.com"}));
    EXPECT_NE(api, session_context(auth, {.sni = "api.example.com"}));
}

// A phase 2 Resumption is installed on the listener's session context only.
TEST(TlsResumption, AResumptionIsInstalledOnTheDefaultContext) {
    struct Recorder final : Resumption {
        bool install(SSL_CTX* ctx, const ListenerTls&, std::string&) override {
            installed.push_back(ctx);
            return true;
        }
        std::vector<SSL_CTX*> installed;
    } recorder;
    ListenerTls tls = sni_listener();
    ListenerContexts contexts;
    std::string error;
    ASSERT_TRUE(contexts.build(tls, "x", &recorder, error)) << error;
    ASSERT_EQ(recorder.installed.size(), 1u);
    EXPECT_EQ(recorder.installed[0], contexts.default_context());

    struct Failing final : Resumption {
        bool install(SSL_CTX*, const ListenerTls&, std::string& e) override {
            e = "no zone";
            return false;
        }
    } failing;
    EXPECT_FALSE(contexts.build(tls, "x", &failing, error));
    EXPECT_EQ(error, "no zone");
}

// ---- client certificates ----------------------------------------------------------------------

std::string sha1_hex(X509* x) {
    unsigned char md[20];
    unsigned int n = 0;
    X509_digest(x, EVP_sha1(), md, &n);
    char hex[41];
    for (unsigned i = 0; i < 20; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return hex;
}

TEST(TlsClientAuth, RequireWithoutACertificateFails) {
    ListenerTls tls = sni_listener();
    set_client_auth(tls, ClientAuthMode::Require);
    Listener l(std::move(tls));
    Connection c(*l.factory, {});
    EXPECT_FALSE(c.handshake());
    EXPECT_TRUE(c.server_failed);
}

TEST(TlsClientAuth, RequireWithACertificateFromTheCa) {
    ListenerTls tls = sni_listener();
    set_client_auth(tls, ClientAuthMode::Require);
    Listener l(std::move(tls));
    Connection c(*l.factory, {.send_certificate = true});
    ASSERT_TRUE(c.handshake());
    // The server named its CA in the request.
    STACK_OF(X509_NAME)* names = SSL_get_client_CA_list(c.client);
    ASSERT_EQ(sk_X509_NAME_num(names), 1);
    ASSERT_TRUE(c.server->verified_peer());
    EXPECT_EQ(render(Variable::ClientFingerprint, *c.server), sha1_hex(pki().client.get()));
    EXPECT_EQ(render(Variable::ClientSubject, *c.server), "CN=client one,O=Test\\, Inc.");
    EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsClientAuth, RequireWithACertificateFromAnotherCaFails) {
    ListenerTls tls = sni_listener();
    set_client_auth(tls, ClientAuthMode::Require);
    Listener l(std::move(tls));
    Connection c(*l.factory, {.send_certificate = true, .stranger_certificate = true});
    EXPECT_FALSE(c.handshake());
    EXPECT_TRUE(c.server_failed);
}

TEST(TlsClientAuth, OptionalCountsOnlyAVerifiedCertificate) {
    ListenerTls tls = sni_listener();
    set_client_auth(tls, ClientAuthMode::Optional);
    Listener l(std::move(tls));
    {
        Connection c(*l.factory, {});
        ASSERT_TRUE(c.handshake());
        EXPECT_FALSE(c.server->verified_peer());
        EXPECT_EQ(render(Variable::ClientSubject, *c.server), "<none>");
    }
    {
        Connection c(*l.factory, {.send_certificate = true, .stranger_certificate = true});
        ASSERT_TRUE(c.handshake()) << "optional: an unverified certificate finishes the handshake";
        EXPECT_FALSE(c.server->verified_peer());
        EXPECT_EQ(render(Variable::ClientFingerprint, *c.server), "<none>");
    }
    {
        Connection c(*l.factory, {.send_certificate = true});
        ASSERT_TRUE(c.handshake());
        EXPECT_TRUE(c.server->verified_peer());
    }
}

// `crl:` (loaded into the store by the configuration): a revoked client certificate fails.
TEST(TlsClientAuth, ARevokedCertificateFails) {
    const Pki& p = pki();
    auto make_crl = [&](bool revoke_client) {
        X509_CRL* crl = X509_CRL_new();
        X509_CRL_set_version(crl, 1);
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(p.ca.get()));
        ASN1_TIME* now = X509_gmtime_adj(nullptr, -60);
        ASN1_TIME* next = X509_gmtime_adj(nullptr, 3600);
        X509_CRL_set1_lastUpdate(crl, now);
        X509_CRL_set1_nextUpdate(crl, next);
        if (revoke_client) {
            X509_REVOKED* r = X509_REVOKED_new();
            X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(p.client.get()));
            X509_REVOKED_set_revocationDate(r, now);
            X509_CRL_add0_revoked(crl, r);
        }
        ASN1_TIME_free(now);
        ASN1_TIME_free(next);
        EXPECT_GT(X509_CRL_sign(crl, p.ca_key.get(), EVP_sha256()), 0);
        return crl;
    };
    for (bool revoked : {false, true}) {
        ListenerTls tls = sni_listener();
        set_client_auth(tls, ClientAuthMode::Require);
        tls.client_auth.crl_path = "test.crl";
        X509_CRL* crl = make_crl(revoked);
        X509_STORE_add_crl(tls.client_auth.store.get(), crl);
        X509_CRL_free(crl);
        Listener l(std::move(tls));
        Connection c(*l.factory, {.send_certificate = true});
        EXPECT_EQ(c.handshake(), !revoked) << revoked;
    }
}

TEST(TlsClientAuth, AResumedSessionKeepsItsVerifiedCertificate) {
    ListenerTls tls = sni_listener();
    set_client_auth(tls, ClientAuthMode::Require);
    Listener l(std::move(tls));
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        ClientOptions o{.max_version = version, .send_certificate = true};
        SSL_SESSION* s = first_session(*l.factory, o);
        o.session = s;
        Connection c(*l.factory, o);
        ASSERT_TRUE(c.handshake());
        EXPECT_TRUE(c.server->session_reused()) << version;
        EXPECT_TRUE(c.server->verified_peer()) << version;
        EXPECT_EQ(render(Variable::ClientFingerprint, *c.server), sha1_hex(pki().client.get()));
        SSL_SESSION_free(s);
    }
}

// ---- variables, filter --------------------------------------------------------------------------

TEST(TlsVariables, Definitions) {
    std::vector<std::string> names;
    for (const http::vars::Definition& d : variables()) {
        names.emplace_back(d.name);
        EXPECT_TRUE(d.get);
        EXPECT_FALSE(d.family);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"ssl_protocol", "ssl_cipher", "ssl_server_name", "ssl_session_reused",
                                               "ssl_client_s_dn", "ssl_client_fingerprint", "ssl_client_escaped_cert",
                                               "ssl_client_verify"}));
    // The client's own text is neither safe nor clean: it is escaped and scanned.
    EXPECT_FALSE(variables()[2].safe);
    EXPECT_FALSE(variables()[2].clean);
    EXPECT_FALSE(variables()[4].safe);
    EXPECT_TRUE(variables()[5].safe);
}

TEST(TlsVariables, NothingOnAPlainConnection) {
    test::FilterHarness h;
    http::vars::Env env{.stream = &h.stream()};
    h.stream().begin(&h.io(), 0);
    std::string out;
    {
        StringWriter w(out);
        for (const http::vars::Definition& d : variables()) EXPECT_FALSE(d.get(env, {}, w)) << d.name;
    }
    EXPECT_EQ(out, "");
    h.stream().end();
}

TEST(TlsFilter, HstsLine) {
    EXPECT_EQ(hsts_line({}), "");
    EXPECT_EQ(hsts_line({.max_age_s = 31536000}), "strict-transport-security: max-age=31536000\r\n");
    EXPECT_EQ(hsts_line({.max_age_s = 60, .include_subdomains = true, .preload = true}),
              "strict-transport-security: max-age=60; includeSubDomains; preload\r\n");
}

TEST(TlsFilter, RequireClientCertWithoutATlsConnectionIs403) {
    Config config;
    config.routes.resize(1);
    config.routes[0].name = "admin-api";
    std::vector<std::string> hsts = {hsts_line({.max_age_s = 600}), ""};
    TlsFilter filter(config, 0, true, hsts);
    http::FilterChain chain;
    ASSERT_TRUE(chain.add(&filter));
    test::FilterHarness h;
    EXPECT_EQ(h.run(chain), http::FilterStatus::Done);
    EXPECT_EQ(h.reply_status(), 403);
    EXPECT_NE(h.reply_body().find("client certificate required"), std::string::npos) << h.reply_body();
}

TEST(TlsFilter, HstsOnTheListenersThatHaveIt) {
    Config config;
    config.routes.resize(1);
    config.routes[0].name = "r";
    std::vector<std::string> hsts = {hsts_line({.max_age_s = 600}), ""};
    TlsFilter filter(config, 0, false, hsts);
    EXPECT_EQ(filter.hooks(), http::kHookResponseHead) << "no request hook without require_client_cert";
    http::FilterChain chain;
    ASSERT_TRUE(chain.add(&filter));
    test::FilterHarness h;
    h.set_listener(0);
    EXPECT_EQ(h.run(chain), http::FilterStatus::Continue);
    EXPECT_EQ(h.response_headers(200), "strict-transport-security: max-age=600\r\n");
    h.set_listener(1);
    EXPECT_EQ(h.run(chain), http::FilterStatus::Continue);
    EXPECT_EQ(h.response_headers(200), "");
}

// ---- the worker part -------------------------------------------------------------------------

class TlsWorkerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        zone_ = shm::Zone::create("metrics", 1 << 20, metrics::kLayoutVersion);
        ASSERT_TRUE(zone_);
        metrics_ = std::make_unique<metrics::Store>(*zone_);
        for (const char* a : {"127.0.0.1:8443", "127.0.0.1:8080", "127.0.0.1:9443"}) {
            config_.listeners.emplace_back();
            config_.listeners.back().address = a;
        }
        config_.routes.resize(2);
        config_.routes[0].name = "public";
        config_.routes[1].name = "admin-api";
        settings_.listeners.resize(3);
        settings_.listeners[0].emplace(sni_listener());
        ListenerTls with_auth = sni_listener();
        set_client_auth(with_auth, ClientAuthMode::Require);
        with_auth.handshake_timeout_ms = 3000;
        settings_.listeners[2].emplace(std::move(with_auth));
        settings_.require_client_cert = {false, true};
        services_ = std::make_unique<services::Registry>(loop_, config_);
    }
    std::unique_ptr<TlsWorker> make() {
        module::WorkerEnv env{.config = config_, .generation = 1, .loop = loop_, .metrics = *metrics_,
                              .services = *services_, .zone = [](std::string_view) { return nullptr; }};
        auto w = TlsWorker::make(env, settings_);
        failed_ = env.failed;
        return w;
    }

    event::Loop loop_;
    std::unique_ptr<shm::Zone> zone_;
    std::unique_ptr<metrics::Store> metrics_;
    Config config_;
    Settings settings_;
    std::unique_ptr<services::Registry> services_;
    bool failed_ = false;
};

TEST_F(TlsWorkerTest, ProvidesATransportFactoryPerTlsListener) {
    {
        std::unique_ptr<TlsWorker> w = make();
        ASSERT_TRUE(w);
        EXPECT_FALSE(failed_);
        const http::Transports* t = services_->find<http::Transports>();
        ASSERT_EQ(t, &w->transports());
        ASSERT_TRUE(t->find(0));
        EXPECT_FALSE(t->find(1)) << "a plain listener";
        ASSERT_TRUE(t->find(2));
        EXPECT_FALSE(t->find(3));
        EXPECT_EQ(t->find(2)->handshake_timeout_ms(), 3000u);

        // The factory serves handshakes.
        Connection c(*static_cast<TlsTransportFactory*>(t->find(0)), {.sni = "www.example.com"});
        ASSERT_TRUE(c.handshake());
        EXPECT_EQ(c.peer_cn(), "www");
    }
    EXPECT_FALSE(services_->find<http::Transports>()) << "withdrawn with the worker part";
}

TEST_F(TlsWorkerTest, RouteFilters) {
    std::unique_ptr<TlsWorker> w = make();
    ASSERT_TRUE(w);
    EXPECT_FALSE(w->route_filter(-1)) << "no HSTS, no client certificate to require";
    EXPECT_FALSE(w->route_filter(0));
    http::Filter* admin = w->route_filter(1);
    ASSERT_TRUE(admin);
    EXPECT_EQ(admin->hooks(), http::kHookRequest);
    EXPECT_EQ(w->route_filter(1), admin) << "made once";
    EXPECT_FALSE(w->route_filter(2));

    settings_.listeners[0]->hsts.max_age_s = 600;
    w.reset();
    w = make();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->route_filter(-1));
    EXPECT_EQ(w->route_filter(0)->hooks(), http::kHookResponseHead);
    EXPECT_EQ(w->route_filter(1)->hooks(), http::kHookRequest | http::kHookResponseHead);
}

TEST_F(TlsWorkerTest, AContextThatCannotBeBuiltStopsTheWorker) {
    settings_.listeners[2]->ciphersuites = "TLS_NOT_A_SUITE";
    std::unique_ptr<TlsWorker> w = make();
    EXPECT_FALSE(w);
    EXPECT_TRUE(failed_);
    EXPECT_FALSE(services_->find<http::Transports>());
    EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsWorkerTest, NothingWithoutTls) {
    Settings none;
    settings_ = std::move(none);
    EXPECT_FALSE(make());
    EXPECT_FALSE(failed_);
}

// ---- the client certificate upstream ----------------------------------------------------------

std::string pem_of(X509* x) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    std::string out(p, static_cast<size_t>(n));
    BIO_free(b);
    return out;
}

std::string url_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

TEST(TlsVariables, ClientVerifyAndEscapedCert) {
    ListenerTls tls = sni_listener();
    set_client_auth(tls, ClientAuthMode::Optional);
    Listener l(std::move(tls));
    {
        Connection c(*l.factory, {.send_certificate = true});
        ASSERT_TRUE(c.handshake());
        EXPECT_EQ(render(Variable::ClientVerify, *c.server), "SUCCESS");
        std::string escaped = render(Variable::ClientEscapedCert, *c.server);
        EXPECT_EQ(escaped.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"),
                  std::string::npos)
            << escaped;
        EXPECT_EQ(escaped.rfind("-----BEGIN%20CERTIFICATE-----%0A", 0), 0u) << escaped;
        EXPECT_EQ(url_decode(escaped), pem_of(pki().client.get()));
        EXPECT_EQ(render(Variable::ClientEscapedCert, *c.server), escaped) << "made once, the same";
    }
    {
        Connection c(*l.factory, {.send_certificate = true, .stranger_certificate = true});
        ASSERT_TRUE(c.handshake());
        // The client sends its leaf alone; its issuer is not one of client_auth's CAs.
        EXPECT_EQ(render(Variable::ClientVerify, *c.server), "FAILED:unable to verify the first certificate");
        EXPECT_EQ(render(Variable::ClientEscapedCert, *c.server), "<none>") << "only a verified certificate";
    }
    {
        Connection c(*l.factory, {});
        ASSERT_TRUE(c.handshake());
        EXPECT_EQ(render(Variable::ClientVerify, *c.server), "NONE");
        EXPECT_EQ(render(Variable::ClientEscapedCert, *c.server), "<none>");
    }
    Listener plain(sni_listener());  // no client_auth: nothing is asked for
    Connection c(*plain.factory, {});
    ASSERT_TRUE(c.handshake());
    EXPECT_EQ(render(Variable::ClientVerify, *c.server), "NONE");
}

// ---- metrics ----------------------------------------------------------------------------------

// A listener whose factory counts into a metrics zone of its own.
struct MeteredListener {
    explicit MeteredListener(ListenerTls t) : tls(std::move(t)) {
        zone = shm::Zone::create("metrics", 1 << 20, metrics::kLayoutVersion);
        store = std::make_unique<metrics::Store>(*zone);
        EXPECT_TRUE(contexts.build(tls, kId, nullptr, error)) << error;
        factory = std::make_unique<TlsTransportFactory>(contexts, 5000, ListenerMetrics::make(*store, kId, tls));
    }
    uint64_t counter(std::string_view name, const std::string& labels) {
        std::atomic<uint64_t>* c = store->counter(name, "listener=\"127.0.0.1:8443\"," + labels, "");
        return c ? c->load() : ~0ull;
    }
    uint64_t ok(const char* protocol) {
        return counter("gateway_tls_handshakes_total", std::string("result=\"ok\",protocol=\"") + protocol + "\"");
    }
    uint64_t failed(const char* protocol) {
        return counter("gateway_tls_handshakes_total", std::string("result=\"failed\",protocol=\"") + protocol + "\"");
    }
    uint64_t reason(const char* r) {
        return counter("gateway_tls_handshake_errors_total", std::string("reason=\"") + r + "\"");
    }
    uint64_t resumed(const char* kind) {
        return counter("gateway_tls_resumed_total", std::string("kind=\"") + kind + "\"");
    }

    static constexpr const char* kId = "127.0.0.1:8443";
    ListenerTls tls;
    std::unique_ptr<shm::Zone> zone;
    std::unique_ptr<metrics::Store> store;
    ListenerContexts contexts;
    std::unique_ptr<TlsTransportFactory> factory;
    std::string error;
};

TEST(TlsMetrics, EverySeriesIsMadeAtStart) {
    ListenerTls tls = sni_listener();
    // www's RSA certificate first names www.example.com too, and expires before the ECDSA one.
    tls.certificates[2].names = {"www.example.com", "example.com"};
    for (size_t i = 0; i < tls.certificates.size(); ++i) tls.certificates[i].not_after = 2000000000 + 1000 * (4 - i);
    MeteredListener l(std::move(tls));
    std::string text;
    l.store->render(text);
    for (const char* r : {"timeout", "eof", "http_request", "protocol_version", "no_shared_cipher",
                          "no_client_certificate", "unknown_ca", "bad_certificate", "no_application_protocol",
                          "peer_alert", "other"})
        EXPECT_NE(text.find(std::string("gateway_tls_handshake_errors_total{listener=\"127.0.0.1:8443\",reason=\"") + r +
                            "\"} 0\n"),
                  std::string::npos)
            << r;
    EXPECT_NE(text.find("# TYPE gateway_tls_certificate_expiry_timestamp_seconds gauge\n"), std::string::npos);
    // Four certificates, three first names: www's ECDSA and RSA certificates share one series.
    size_t expiry_series = 0;
    for (size_t at = 0; (at = text.find("gateway_tls_certificate_expiry_timestamp_seconds{", at)) != std::string::npos; ++at)
        ++expiry_series;
    EXPECT_EQ(expiry_series, 3u) << text;
    auto expiry = [&](const char* name) {
        std::atomic<int64_t>* g = l.store->gauge("gateway_tls_certificate_expiry_timestamp_seconds",
                                                 std::string("listener=\"127.0.0.1:8443\",name=\"") + name + "\"", "");
        return g ? g->load() : -1;
    };
    EXPECT_EQ(expiry("api.example.com"), 2000004000);
    EXPECT_EQ(expiry("www.example.com"), 2000002000) << "the earlier of the two";
    EXPECT_EQ(expiry("*.example.com"), 2000001000);
}

TEST(TlsMetrics, HandshakesByResultProtocolAndReason) {
    ListenerTls tls = sni_listener();
    set_client_auth(tls, ClientAuthMode::Require);
    MeteredListener l(std::move(tls));
    {
        Connection c(*l.factory, {.send_certificate = true});
        ASSERT_TRUE(c.handshake());
    }
    {
        Connection c(*l.factory, {.max_version = TLS1_2_VERSION, .send_certificate = true});
        ASSERT_TRUE(c.handshake());
    }
    EXPECT_EQ(l.ok("TLSv1.3"), 1u);
    EXPECT_EQ(l.ok("TLSv1.2"), 1u);
    {
        Connection c(*l.factory, {.min_version = TLS1_1_VERSION, .max_version = TLS1_1_VERSION,
                                  .ciphers = "DEFAULT:@SECLEVEL=0", .security_level = 0});
        EXPECT_FALSE(c.handshake());
    }
    EXPECT_EQ(l.reason("protocol_version"), 1u);
    EXPECT_EQ(l.failed("unknown"), 1u) << "no version was settled";
    {
        Connection c(*l.factory, {});
        EXPECT_FALSE(c.handshake());
    }
    EXPECT_EQ(l.reason("no_client_certificate"), 1u);
    EXPECT_EQ(l.failed("TLSv1.3"), 1u);
    {
        Connection c(*l.factory, {.send_certificate = true, .stranger_certificate = true});
        EXPECT_FALSE(c.handshake());
    }
    EXPECT_EQ(l.reason("unknown_ca"), 1u);
    {
        Connection c(*l.factory, {.alpn = "\x02h2"});
        EXPECT_FALSE(c.handshake());
    }
    EXPECT_EQ(l.reason("no_application_protocol"), 1u);
    {
        Connection c(*l.factory, {});
        ASSERT_EQ(write(c.client_fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
        EXPECT_EQ(c.server->handshake(), -1);
    }
    EXPECT_EQ(l.reason("http_request"), 1u);
    {
        Connection c(*l.factory, {});
        EXPECT_EQ(c.server->handshake(), 0) << "waiting for the ClientHello";
        c.server->handshake_timed_out();
        c.server->handshake_timed_out();  // once
    }
    EXPECT_EQ(l.reason("timeout"), 1u);
    {
        Connection c(*l.factory, {});
        EXPECT_EQ(c.server->handshake(), 0);
        close(c.client_fd);
        c.client_fd = -1;
        EXPECT_EQ(c.server->handshake(), -1);
    }
    EXPECT_EQ(l.reason("eof"), 1u);
    EXPECT_EQ(l.reason("other"), 0u);
    EXPECT_EQ(l.ok("TLSv1.3") + l.ok("TLSv1.2"), 2u) << "no failure counted as ok";
    EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsMetrics, ResumedByTicketOrFromTheCache) {
    MeteredListener tickets(sni_listener());
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        ClientOptions o{.sni = "api.example.com", .max_version = version};
        SSL_SESSION* s = first_session(*tickets.factory, o);
        ASSERT_TRUE(s);
        EXPECT_TRUE(resumes(*tickets.factory, o, s)) << version;
        SSL_SESSION_free(s);
    }
    EXPECT_EQ(tickets.resumed("ticket"), 2u);
    EXPECT_EQ(tickets.resumed("cache"), 0u);

    ListenerTls tls = sni_listener();
    tls.session_tickets = false;
    MeteredListener cache(std::move(tls));
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        ClientOptions o{.sni = "api.example.com", .max_version = version};
        SSL_SESSION* s = first_session(*cache.factory, o);
        ASSERT_TRUE(s);
        EXPECT_TRUE(resumes(*cache.factory, o, s)) << version;
        SSL_SESSION_free(s);
    }
    EXPECT_EQ(cache.resumed("cache"), 2u);
    EXPECT_EQ(cache.resumed("ticket"), 0u);
    EXPECT_EQ(cache.ok("TLSv1.3"), 2u) << "a resumed handshake is an ok one too";
}

// ---- cost -------------------------------------------------------------------------------------

// Rough figures for the reply (not asserted: the machine is shared): a full TLS 1.3 handshake
// with an ECDSA P-256 certificate, both ends in this thread; a resumed one; and what a new SSL
// per connection costs against SSL_clear of a used one.
TEST(TlsCost, Handshakes) {
    Listener l(sni_listener());
    constexpr int kRounds = 200;
    using Micros = std::chrono::duration<double, std::micro>;
    Clock::duration server{};
    auto t0 = Clock::now();
    for (int i = 0; i < kRounds; ++i) {
        Connection c(*l.factory, {.sni = "api.example.com"});
        ASSERT_TRUE(c.handshake());
        server += c.server_time;
    }
    double full = Micros(Clock::now() - t0).count() / kRounds;
    double full_server = Micros(server).count() / kRounds;
    SSL_SESSION* s = first_session(*l.factory, {.sni = "api.example.com"});
    server = {};
    t0 = Clock::now();
    for (int i = 0; i < kRounds; ++i) {
        Connection c(*l.factory, {.sni = "api.example.com", .session = s});
        ASSERT_TRUE(c.handshake());
        server += c.server_time;
    }
    double resumed = Micros(Clock::now() - t0).count() / kRounds;
    double resumed_server = Micros(server).count() / kRounds;
    SSL_SESSION_free(s);

    SSL_CTX* ctx = l.contexts.default_context();
    constexpr int kObjects = 20000;
    t0 = Clock::now();
    for (int i = 0; i < kObjects; ++i) SSL_free(SSL_new(ctx));
    auto fresh = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / kObjects;
    SSL* reused = SSL_new(ctx);
    SSL_set_accept_state(reused);
    t0 = Clock::now();
    for (int i = 0; i < kObjects; ++i) {
        SSL_set_SSL_CTX(reused, ctx);
        SSL_clear(reused);
    }
    auto cleared = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / kObjects;
    SSL_free(reused);
    std::printf("[ TLS 1.3, ECDSA P-256, X25519: full handshake %.0f us (server side %.0f us), resumed %.0f us"
                " (server %.0f us); SSL_new+SSL_free %.0f ns, SSL_clear %.0f ns ]\n",
                full, full_server, resumed, resumed_server, fresh, cleared);
}

}  // namespace
}  // namespace gw::tls
