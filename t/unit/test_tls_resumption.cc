// Resumption through SharedResumption (resumption.h): two "workers" - two sets of a listener's
// contexts, each with its own SharedResumption over the same zones, as two worker processes
// have after fork - and an OpenSSL client, handshaking over memory BIOs. A session made on one
// resumes on the other, by the shared cache and by tickets under the master's keys; a ticket
// outlives one rotation, not two; and nothing resumes across certificate groups, client-auth
// policies or listeners.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/shm/zone.h"
#include "modules/tls/context.h"
#include "modules/tls/resumption.h"
#include "modules/tls/session_cache.h"
#include "modules/tls/ticket_keys.h"

namespace gw::tls {
namespace {

PkeyPtr ec_key() { return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

// A self-signed certificate for `name` (also its own CA, for the client-auth policies).
X509Ptr self_signed(EVP_PKEY* key, const std::string& name) {
    X509Ptr x(X509_new());
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
    X509_set_pubkey(x.get(), key);
    X509_NAME* n = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), n);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x.get(), x.get(), nullptr, nullptr, 0);
    std::string san = "DNS:" + name;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x.get(), key, EVP_sha256());
    return x;
}

struct Pki {
    PkeyPtr key = ec_key();
    X509Ptr a = self_signed(key.get(), "a.test");
    X509Ptr b = self_signed(key.get(), "b.test");
};
const Pki& pki() {
    static const Pki p;
    return p;
}

Certificate certificate(X509* leaf, const std::string& name) {
    Certificate c;
    c.cert_path = "test:" + name;
    X509_up_ref(leaf);
    c.leaf.reset(leaf);
    EVP_PKEY_up_ref(pki().key.get());
    c.key.reset(pki().key.get());
    c.key_type = EVP_PKEY_EC;
    c.names = {name};
    return c;
}

// a.test (the default) and b.test: two certificate groups on one listener.
ListenerTls two_names(bool cache, bool tickets) {
    ListenerTls tls;
    tls.certificates.push_back(certificate(pki().a.get(), "a.test"));
    tls.certificates.push_back(certificate(pki().b.get(), "b.test"));
    tls.session_cache_bytes = cache ? 1 << 20 : 0;
    tls.session_tickets = tickets;
    return tls;
}

void require_client_certs_from_a(ListenerTls& tls) {
    tls.client_auth.mode = ClientAuthMode::Optional;
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, pki().a.get());
    tls.client_auth.store = std::shared_ptr<X509_STORE>(store, X509_STORE_free);
    X509_up_ref(pki().a.get());
    tls.client_auth.ca_names.emplace_back(pki().a.get());
}

// A listener's shared state: what the master makes.
struct Zones {
    explicit Zones(const std::string& address) {
        sessions = shm::Zone::create("tls-sessions:" + address, 1 << 20, kSessionCacheLayoutVersion);
        tickets = shm::Zone::create("tls-tickets:" + address, kTicketZoneSize, kTicketZoneLayoutVersion);
        EXPECT_TRUE(sessions && tickets && SessionCache::lay_out(*sessions) && TicketKeyRing::lay_out(*tickets, 0));
    }
    std::unique_ptr<shm::Zone> sessions, tickets;
};

// One worker's view of a listener: its contexts and its SharedResumption over `zones`.
struct Worker {
    Worker(ListenerTls t, Zones& zones, const std::string& address = "127.0.0.1:443") : tls(std::move(t)) {
        resumption = std::make_unique<SharedResumption>(
            tls.session_cache_bytes ? SessionCache::attach(*zones.sessions) : nullptr,
            tls.session_tickets ? TicketKeyRing::attach(*zones.tickets) : nullptr);
        std::string error;
        EXPECT_TRUE(contexts.build(tls, address, resumption.get(), error)) << error;
    }
    ListenerTls tls;
    std::unique_ptr<SharedResumption> resumption;
    ListenerContexts contexts;
};

struct Result {
    bool ok = false;
    bool server_reused = false;
    bool client_reused = false;
    SSL_SESSION* session = nullptr;  // the client's, to resume with (the caller frees it)
};

// A handshake of a client (offering `session`, if any) with worker `w`, over a BIO pair.
Result handshake(Worker& w, const std::string& sni, int version, SSL_SESSION* session = nullptr,
                 bool client_takes_tickets = true) {
    Result r;
    SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
    if (!client_takes_tickets) SSL_CTX_set_options(cctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_min_proto_version(cctx, version);
    SSL_CTX_set_max_proto_version(cctx, version);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
    SSL* client = SSL_new(cctx);
    SSL* server = SSL_new(w.contexts.default_context());
    BIO *cb = nullptr, *sb = nullptr;
    BIO_new_bio_pair(&cb, 0, &sb, 0);
    SSL_set_bio(client, cb, cb);
    SSL_set_bio(server, sb, sb);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    SSL_set_tlsext_host_name(client, sni.c_str());
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_set_alpn_protos(client, alpn, sizeof alpn - 1);
    if (session) SSL_set_session(client, session);
    bool client_done = false, server_done = false;
    for (int i = 0; i < 100 && !(client_done && server_done); ++i) {
        if (!client_done) {
            int n = SSL_do_handshake(client);
            if (n == 1) client_done = true;
            else if (int e = SSL_get_error(client, n); e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) break;
        }
        if (!server_done) {
            int n = SSL_do_handshake(server);
            if (n == 1) server_done = true;
            else if (int e = SSL_get_error(server, n); e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) break;
        }
    }
    ERR_clear_error();
    if (client_done && server_done) {
        char b[16];
        size_t n;
        SSL_read_ex(client, b, sizeof b, &n);  // TLS 1.3: the tickets come after the handshake
        ERR_clear_error();
        r.ok = true;
        r.server_reused = SSL_session_reused(server);
        r.client_reused = SSL_session_reused(client);
        r.session = SSL_get1_session(client);
    }
    // As a browser leaves: no close_notify, the session stays resumable.
    SSL_set_shutdown(client, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(server, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);
    return r;
}

// A session made on `from`, offered to `to`: resumed there?
bool resumes_across(Worker& from, Worker& to, int version, const std::string& sni = "a.test",
                    const std::string& offer_sni = "", bool client_takes_tickets = true) {
    Result first = handshake(from, sni, version, nullptr, client_takes_tickets);
    EXPECT_TRUE(first.ok && first.session);
    if (!first.session) return false;
    EXPECT_FALSE(first.server_reused);
    Result second = handshake(to, offer_sni.empty() ? sni : offer_sni, version, first.session, client_takes_tickets);
    EXPECT_TRUE(second.ok);
    EXPECT_EQ(second.server_reused, second.client_reused);
    SSL_SESSION_free(first.session);
    SSL_SESSION_free(second.session);
    return second.server_reused;
}

constexpr int kVersions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

TEST(TlsSharedResumption, TheCacheServesEveryWorker) {
    Zones zones("127.0.0.1:443");
    Worker a(two_names(true, false), zones), b(two_names(true, false), zones);
    auto cache = SessionCache::attach(*zones.sessions);
    for (int v : kVersions) {  // TLS 1.3 without tickets: stateful tickets, in the cache too
        uint64_t hits = cache->stats().hits;
        EXPECT_TRUE(resumes_across(a, b, v)) << v;
        EXPECT_TRUE(resumes_across(b, a, v)) << v;
        EXPECT_EQ(cache->stats().hits, hits + 2) << v;
    }
}

TEST(TlsSharedResumption, TicketsServeEveryWorker) {
    Zones zones("127.0.0.1:443");
    Worker a(two_names(false, true), zones), b(two_names(false, true), zones);
    for (int v : kVersions) {
        EXPECT_TRUE(resumes_across(a, b, v)) << v;
        EXPECT_TRUE(resumes_across(b, a, v)) << v;
    }
    EXPECT_EQ(SessionCache::attach(*zones.sessions)->stats().stored, 0u) << "tickets alone: nothing cached";
}

TEST(TlsSharedResumption, TicketsAndCacheTogether) {
    Zones zones("127.0.0.1:443");
    Worker a(two_names(true, true), zones), b(two_names(true, true), zones);
    auto cache = SessionCache::attach(*zones.sessions);
    EXPECT_TRUE(resumes_across(a, b, TLS1_3_VERSION));
    EXPECT_EQ(cache->stats().stored, 0u) << "TLS 1.3 stateless tickets carry the session: not cached";
    EXPECT_TRUE(resumes_across(a, b, TLS1_2_VERSION));
    EXPECT_EQ(cache->stats().stored, 0u) << "a TLS 1.2 client that takes a ticket keeps its session";
    EXPECT_TRUE(resumes_across(a, b, TLS1_2_VERSION, "a.test", "", false));
    EXPECT_EQ(cache->stats().stored, 1u) << "a TLS 1.2 client without tickets resumes from the cache";
    EXPECT_EQ(cache->stats().hits, 1u);
}

// A ticket resumes after one rotation (its key is "previous": renewed under the current one),
// not after two.
TEST(TlsSharedResumption, ATicketOutlivesOneRotationNotTwo) {
    Zones zones("127.0.0.1:443");
    Worker a(two_names(false, true), zones), b(two_names(false, true), zones);
    auto ring = TicketKeyRing::attach(*zones.tickets);
    for (int v : kVersions) {
        Result first = handshake(a, "a.test", v);
        ASSERT_TRUE(first.session);
        TicketKey fresh;
        ASSERT_TRUE(make_ticket_key(fresh));
        ASSERT_TRUE(ring->rotate_if_due(ring->rotated_at_ms() + 1000, 1000, fresh));
        Result once = handshake(b, "a.test", v, first.session);
        EXPECT_TRUE(once.server_reused) << v << ": one rotation later";
        ASSERT_TRUE(once.session);
        size_t old_len = 0, new_len = 0;
        const unsigned char *old_ticket = nullptr, *new_ticket = nullptr;
        SSL_SESSION_get0_ticket(first.session, &old_ticket, &old_len);
        SSL_SESSION_get0_ticket(once.session, &new_ticket, &new_len);
        ASSERT_TRUE(new_len > 16 && old_len > 16);
        EXPECT_NE(std::string(reinterpret_cast<const char*>(old_ticket), 16),
                  std::string(reinterpret_cast<const char*>(new_ticket), 16))
            << v << ": renewed under another key name";

        ASSERT_TRUE(make_ticket_key(fresh));
        ASSERT_TRUE(ring->rotate_if_due(ring->rotated_at_ms() + 1000, 1000, fresh));
        Result twice = handshake(a, "a.test", v, first.session);
        EXPECT_TRUE(twice.ok);
        EXPECT_FALSE(twice.server_reused) << v << ": two rotations later, a full handshake";
        Result renewed = handshake(a, "a.test", v, once.session);
        EXPECT_TRUE(renewed.server_reused) << v << ": the renewed ticket is under the current key";
        for (SSL_SESSION* s : {first.session, once.session, twice.session, renewed.session}) SSL_SESSION_free(s);
    }
}

// A ticket under the ring's "next" key (a node of a cluster that rotated first) resumes.
TEST(TlsSharedResumption, ATicketUnderTheNextKeyResumes) {
    Zones early("127.0.0.1:443"), late("127.0.0.1:443");
    TicketKey k1, k2, k3, k4;
    ASSERT_TRUE(make_ticket_key(k1) && make_ticket_key(k2) && make_ticket_key(k3) && make_ticket_key(k4));
    TicketKeyRing::attach(*late.tickets)->replace(k2, k1, k3, 0);
    TicketKeyRing::attach(*early.tickets)->replace(k3, k2, k4, 0);
    Worker a(two_names(false, true), early), b(two_names(false, true), late);
    for (int v : kVersions) EXPECT_TRUE(resumes_across(a, b, v)) << v;
}

TEST(TlsSharedResumption, NeverAcrossCertificateGroups) {
    Zones zones("127.0.0.1:443");
    for (bool cache : {true, false}) {
        Worker a(two_names(cache, !cache), zones), b(two_names(cache, !cache), zones);
        for (int v : kVersions) {
            EXPECT_FALSE(resumes_across(a, b, v, "a.test", "b.test")) << v << (cache ? " cache" : " tickets");
            EXPECT_TRUE(resumes_across(a, b, v, "b.test", "b.test")) << v << (cache ? " cache" : " tickets");
        }
    }
}

// Same listener, same zones (a reload that changed the client-auth policy keeps them): the
// sessions of the other policy do not resume.
TEST(TlsSharedResumption, NeverAcrossClientAuthPolicies) {
    Zones zones("127.0.0.1:443");
    for (bool cache : {true, false}) {
        ListenerTls with_auth = two_names(cache, !cache);
        require_client_certs_from_a(with_auth);
        Worker open(two_names(cache, !cache), zones), authenticated(std::move(with_auth), zones);
        for (int v : kVersions) {
            EXPECT_FALSE(resumes_across(open, authenticated, v)) << v << (cache ? " cache" : " tickets");
            EXPECT_FALSE(resumes_across(authenticated, open, v)) << v << (cache ? " cache" : " tickets");
            EXPECT_TRUE(resumes_across(authenticated, authenticated, v)) << v << (cache ? " cache" : " tickets");
        }
    }
}

TEST(TlsSharedResumption, NeverAcrossListeners) {
    Zones one("127.0.0.1:443"), two("127.0.0.1:8443");
    for (bool cache : {true, false}) {
        Worker a(two_names(cache, !cache), one, "127.0.0.1:443"), b(two_names(cache, !cache), two, "127.0.0.1:8443");
        for (int v : kVersions) EXPECT_FALSE(resumes_across(a, b, v)) << v << (cache ? " cache" : " tickets");
    }
}

}  // namespace
}  // namespace gw::tls
