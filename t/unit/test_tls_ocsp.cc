// OCSP stapling from a file (src/modules/tls/ocsp.h): which responses can be stapled for a
// certificate, with responses made here through OpenSSL's API (so times can be set at will:
// past their next update, not valid yet), and which staple each certificate of a listener sends.
// Fetched staples (ocsp_fetch.h, staple_zone.h): the responder URL, the GET request, the shared
// table the master publishes to and what a worker staples from it.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <string>

#include "core/shm/zone.h"
#include "modules/tls/ocsp.h"
#include "modules/tls/ocsp_fetch.h"
#include "modules/tls/staple_zone.h"

namespace gw::tls {
namespace {

constexpr long kDay = 86400;

PkeyPtr make_key() { return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

void add_ext(X509* x, X509* issuer, int nid, const char* value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    ASSERT_TRUE(ext) << value;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, issued by `issuer` (self-signed when null); `ext`: an
// extendedKeyUsage, or "CA" for a CA.
X509Ptr make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, const char* ext = nullptr) {
    static long serial = 100;
    X509Ptr x(X509_new());
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -kDay);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 30 * kDay);
    X509_set_pubkey(x.get(), key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x.get()));
    X509* signer = issuer ? issuer : x.get();
    if (ext && std::string(ext) == "CA") {
        add_ext(x.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else if (ext) {
        add_ext(x.get(), signer, NID_ext_key_usage, ext);
    }
    EXPECT_GT(X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()), 0);
    return x;
}

X509Ptr up_ref(X509* x) {
    X509_up_ref(x);
    return X509Ptr(x);
}

struct Pki {
    PkeyPtr ca_key = make_key(), leaf_key = make_key(), responder_key = make_key(), rogue_key = make_key();
    X509Ptr ca = make_cert(ca_key.get(), "CA", nullptr, nullptr, "CA");
    X509Ptr leaf = make_cert(leaf_key.get(), "leaf.example", ca.get(), ca_key.get());
    X509Ptr other = make_cert(leaf_key.get(), "other.example", ca.get(), ca_key.get());
    X509Ptr responder = make_cert(responder_key.get(), "Responder", ca.get(), ca_key.get(), "OCSPSigning");
    // Issued by the CA, but not for OCSP: it may not speak for the CA.
    X509Ptr rogue = make_cert(rogue_key.get(), "Rogue", ca.get(), ca_key.get(), "serverAuth");
};

const Pki& pki() {
    static const Pki p;
    return p;
}

Certificate certificate(const X509Ptr& leaf, bool with_issuer = true) {
    Certificate c;
    c.cert_path = "test.pem";
    c.leaf = up_ref(leaf.get());
    if (with_issuer) c.chain.push_back(up_ref(pki().ca.get()));
    return c;
}

struct Response {
    X509* about = nullptr;  // default: the leaf
    int status = V_OCSP_CERTSTATUS_GOOD;
    long this_update = -60;  // seconds from now
    long next_update = 7 * kDay;
    X509* signer = nullptr;  // default: the responder
    EVP_PKEY* signer_key = nullptr;
    const EVP_MD* id_digest = nullptr;  // default: SHA-1
    int response_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
};

std::string der(const Response& r) {
    const Pki& p = pki();
    OCSP_RESPONSE* resp = nullptr;
    if (r.response_status == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        OCSP_BASICRESP* basic = OCSP_BASICRESP_new();
        OCSP_CERTID* id = OCSP_cert_to_id(r.id_digest ? r.id_digest : EVP_sha1(), r.about ? r.about : p.leaf.get(),
                                          p.ca.get());
        ASN1_TIME* this_update = X509_gmtime_adj(nullptr, r.this_update);
        ASN1_TIME* next_update = X509_gmtime_adj(nullptr, r.next_update);
        ASN1_TIME* revoked = r.status == V_OCSP_CERTSTATUS_REVOKED ? X509_gmtime_adj(nullptr, -kDay) : nullptr;
        EXPECT_TRUE(OCSP_basic_add1_status(basic, id, r.status, OCSP_REVOKED_STATUS_KEYCOMPROMISE, revoked,
                                           this_update, next_update));
        EXPECT_EQ(OCSP_basic_sign(basic, r.signer ? r.signer : p.responder.get(),
                                  r.signer_key ? r.signer_key : p.responder_key.get(), EVP_sha256(), nullptr, 0),
                  1);
        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
        OCSP_CERTID_free(id);
        ASN1_TIME_free(this_update);
        ASN1_TIME_free(next_update);
        ASN1_TIME_free(revoked);
        OCSP_BASICRESP_free(basic);
    } else {
        resp = OCSP_response_create(r.response_status, nullptr);
    }
    unsigned char* out = nullptr;
    int n = i2d_OCSP_RESPONSE(resp, &out);
    std::string bytes(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    OPENSSL_free(out);
    OCSP_RESPONSE_free(resp);
    return bytes;
}

// The problem ocsp_staple_problem() finds, cut to its first words.
std::string problem(const std::string& der_bytes, const Certificate& c, time_t now = time(nullptr)) {
    std::string p = ocsp_staple_problem(der_bytes, c, now);
    EXPECT_EQ(ERR_peek_error(), 0u) << "the error queue is left empty";
    return p;
}

TEST(TlsOcsp, AGoodResponseCanBeStapled) {
    Certificate c = certificate(pki().leaf);
    EXPECT_EQ(problem(der({}), c), "") << "signed by a delegated responder";
    EXPECT_EQ(problem(der({.signer = pki().ca.get(), .signer_key = pki().ca_key.get()}), c), "") << "by the CA";
    EXPECT_EQ(problem(der({.id_digest = EVP_sha256()}), c), "") << "a CertID made with SHA-256";
    EXPECT_EQ(problem(der({.this_update = 120}), c), "") << "a responder a little ahead of our clock";
}

TEST(TlsOcsp, OutsideItsValidity) {
    Certificate c = certificate(pki().leaf);
    std::string d = der({.next_update = kDay});
    EXPECT_EQ(problem(d, c, time(nullptr) + kDay / 2), "");
    EXPECT_EQ(problem(d, c, time(nullptr) + kDay + 60).rfind("the OCSP response was due for an update on ", 0), 0u)
        << problem(d, c, time(nullptr) + kDay + 60);
    EXPECT_EQ(problem(der({.this_update = 3600}), c).rfind("the OCSP response is not valid before ", 0), 0u);
}

TEST(TlsOcsp, WhatCannotBeStapled) {
    const Pki& p = pki();
    Certificate c = certificate(p.leaf);
    EXPECT_EQ(problem(der({.status = V_OCSP_CERTSTATUS_REVOKED}), c).rfind(
                  "the OCSP response says the certificate was revoked on ", 0),
              0u);
    EXPECT_EQ(problem(der({.status = V_OCSP_CERTSTATUS_UNKNOWN}), c),
              "the OCSP response says the certificate's status is unknown");
    EXPECT_EQ(problem(der({.response_status = OCSP_RESPONSE_STATUS_TRYLATER}), c),
              "the OCSP response's status is trylater");
    EXPECT_EQ(problem(der({.about = p.other.get()}), c).rfind("the OCSP response is not for the certificate \"test.pem\" (serial ", 0),
              0u);
    EXPECT_EQ(problem(der({.signer = p.rogue.get(), .signer_key = p.rogue_key.get()}), c).rfind(
                  "the OCSP response is not signed by the certificate's issuer or a responder it delegated to (", 0),
              0u);
    EXPECT_EQ(problem(der({}), certificate(p.leaf, false)).rfind("the certificate's file has no issuer certificate", 0),
              0u);
    EXPECT_EQ(problem(der({}) + "x", c), "not a DER OCSP response (bytes after its end)");
    EXPECT_EQ(problem("junk", c).rfind("not a DER OCSP response (", 0), 0u);
    EXPECT_EQ(problem("", c).rfind("not a DER OCSP response (", 0), 0u);
}

TEST(TlsOcsp, WhichStapleEachCertificateSends) {
    const Pki& p = pki();
    ListenerTls tls;
    tls.certificates.push_back(certificate(p.leaf));
    tls.certificates.push_back(certificate(p.other));
    tls.ocsp_staple = "listener's";
    OcspStaples staples;
    staples.build(tls);
    EXPECT_EQ(staples.find(p.leaf.get(), time(nullptr)), "listener's") << "the listener's staple is the first certificate's";
    EXPECT_EQ(staples.find(p.other.get(), time(nullptr)), "");
    EXPECT_EQ(staples.find(p.ca.get(), time(nullptr)), "");

    tls.certificates[1].ocsp_staple_path = "other.ocsp";
    tls.certificates[1].ocsp_staple = "other's";
    staples.build(tls);
    EXPECT_EQ(staples.find(p.other.get(), time(nullptr)), "other's");

    tls.certificates[0].ocsp_staple_path = "leaf.ocsp";  // its own, unusable: empty
    staples.build(tls);
    EXPECT_EQ(staples.find(p.leaf.get(), time(nullptr)), "") << "an entry's own staple takes precedence, even an unusable one";
    EXPECT_EQ(staple_of(tls, 1), "other's");

    ListenerTls none;
    none.certificates.push_back(certificate(p.leaf));
    staples.build(none);
    EXPECT_TRUE(staples.empty());
}


TEST(TlsOcsp, AVerdictSaysRevokedApart) {
    Certificate c = certificate(pki().leaf);
    OcspCheck good = check_ocsp_response(der({.next_update = kDay}), c, time(nullptr));
    EXPECT_EQ(good.verdict, OcspVerdict::Good);
    EXPECT_NEAR(static_cast<double>(good.next_update - good.this_update), kDay + 60, 2);
    EXPECT_EQ(check_ocsp_response(der({.status = V_OCSP_CERTSTATUS_REVOKED}), c, time(nullptr)).verdict,
              OcspVerdict::Revoked);
    // A revocation from a responder that may not speak for the CA is not believed.
    EXPECT_EQ(check_ocsp_response(der({.status = V_OCSP_CERTSTATUS_REVOKED, .signer = pki().rogue.get(),
                                       .signer_key = pki().rogue_key.get()}),
                                  c, time(nullptr))
                  .verdict,
              OcspVerdict::Unusable);
    EXPECT_EQ(check_ocsp_response("junk", c, time(nullptr)).verdict, OcspVerdict::Unusable);
    ERR_clear_error();
}

TEST(TlsOcspFetch, ResponderUrls) {
    ResponderUrl u;
    std::string error;
    ASSERT_TRUE(parse_responder_url("http://ocsp.example.com", u, error)) << error;
    EXPECT_EQ(u.host_port, "ocsp.example.com:80");
    EXPECT_EQ(u.host_field, "ocsp.example.com");
    EXPECT_EQ(u.path, "/");
    ASSERT_TRUE(parse_responder_url("HTTP://127.0.0.1:8080/ocsp/", u, error)) << error;
    EXPECT_EQ(u.host_port, "127.0.0.1:8080");
    EXPECT_EQ(u.host_field, "127.0.0.1:8080");
    EXPECT_EQ(u.path, "/ocsp/");
    ASSERT_TRUE(parse_responder_url("http://[::1]:81/r", u, error)) << error;
    EXPECT_EQ(u.host_port, "[::1]:81");
    EXPECT_EQ(u.path, "/r");
    for (const char* bad : {"https://ocsp.example.com/", "ftp://h/", "http://", "http:///x", "http://user@h/",
                            "http://h:/", "http://h:0/", "http://h:99999/", "http://h:8x/", "http://h/a?b",
                            "http://h/a#b", "http://h/a b", "http://[::1/", "http://[]/", "http://[::1]x/",
                            "http://h\r\n/", "ocsp.example.com"}) {
        error.clear();
        EXPECT_FALSE(parse_responder_url(bad, u, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
    EXPECT_FALSE(parse_responder_url("https://h/", u, error));
    EXPECT_NE(error.find("plain HTTP"), std::string::npos) << error;
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

TEST(TlsOcspFetch, TheGetRequestNamesTheCertificate) {
    const Pki& p = pki();
    Certificate c = certificate(p.leaf);
    std::string target;
    ASSERT_TRUE(ocsp_request_target(c, "/ocsp", target));
    ASSERT_EQ(target.rfind("/ocsp/", 0), 0u) << target;
    std::string encoded = target.substr(6);
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos) << "base64's own characters are percent-encoded";
    std::string b64 = url_decode(encoded);
    std::string bytes(b64.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    ASSERT_GT(n, 0);
    while (!b64.empty() && b64.back() == '=') --n, b64.pop_back();  // DecodeBlock counts the padding
    const auto* q = reinterpret_cast<const unsigned char*>(bytes.data());
    OCSP_REQUEST* req = d2i_OCSP_REQUEST(nullptr, &q, n);
    ASSERT_TRUE(req);
    ASSERT_EQ(OCSP_request_onereq_count(req), 1);
    OCSP_CERTID* want = OCSP_cert_to_id(EVP_sha1(), p.leaf.get(), p.ca.get());
    EXPECT_EQ(OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0)), want), 0);
    OCSP_CERTID_free(want);
    OCSP_REQUEST_free(req);

    ASSERT_TRUE(ocsp_request_target(c, "/", target));
    EXPECT_EQ(target.rfind("/", 0), 0u);
    EXPECT_NE(target[1], '/');
    EXPECT_FALSE(ocsp_request_target(certificate(p.leaf, false), "/", target)) << "no issuer: no request";
}

struct ZoneFixture {
    std::unique_ptr<shm::Zone> zone = shm::Zone::create("test-ocsp", staple_zone_spec().size, kStapleZoneLayoutVersion);
    std::unique_ptr<StapleBoard> board;
    ZoneFixture() {
        EXPECT_TRUE(zone);
        EXPECT_TRUE(StapleBoard::lay_out(*zone));
        EXPECT_TRUE(StapleBoard::lay_out(*zone)) << "a zone laid out already (adopted) is kept";
        board = StapleBoard::attach(*zone);
        EXPECT_TRUE(board);
    }
};

CertKey key_of(int n) {
    CertKey k{};
    k[0] = static_cast<unsigned char>(n);
    k[31] = 1;
    return k;
}

TEST(TlsOcspFetch, TheStapleTable) {
    ZoneFixture f;
    StapleBoard& b = *f.board;
    time_t now = time(nullptr);
    EXPECT_EQ(b.find(key_of(1)), -1);
    ASSERT_TRUE(b.publish(key_of(1), "first", now - 60, now + kDay, now));
    int slot = b.find(key_of(1));
    ASSERT_GE(slot, 0);
    StapleCopy copy;
    copy.der.reserve(kMaxStapleBytes);
    ASSERT_TRUE(b.read(slot, copy));
    EXPECT_EQ(copy.der, "first");
    EXPECT_EQ(copy.next_update, now + kDay);
    EXPECT_EQ(copy.key, key_of(1));
    uint64_t seq = copy.sequence;
    EXPECT_EQ(b.sequence(slot), seq) << "nothing new: one load says so";
    ASSERT_TRUE(b.publish(key_of(1), "second, longer", now, now + kDay, now));
    EXPECT_EQ(b.find(key_of(1)), slot) << "a certificate keeps its slot";
    EXPECT_NE(b.sequence(slot), seq);
    ASSERT_TRUE(b.read(slot, copy));
    EXPECT_EQ(copy.der, "second, longer");
    EXPECT_FALSE(b.publish(key_of(2), std::string(kMaxStapleBytes + 1, 'x'), now, now + kDay, now)) << "too large";
    EXPECT_FALSE(b.publish(key_of(2), "", now, now + kDay, now));

    StapleCopy held;
    EXPECT_TRUE(b.get(key_of(1), held));
    EXPECT_EQ(held.der, "second, longer");
    b.withdraw(key_of(1));
    EXPECT_FALSE(b.get(key_of(1), held)) << "withdrawn: nothing held";
    ASSERT_TRUE(b.read(slot, copy));
    EXPECT_TRUE(copy.der.empty());

    // Full: a new certificate takes the slot whose response expired longest ago; with none
    // expired there is no room.
    for (int i = 2; i < 1 + static_cast<int>(kStapleSlots); ++i)
        ASSERT_TRUE(b.publish(key_of(i), "live", now, now + kDay, now)) << i;
    ASSERT_TRUE(b.publish(key_of(1), "live again", now, now + kDay, now));
    EXPECT_FALSE(b.publish(key_of(100), "new", now, now + kDay, now)) << "every slot holds a live response";
    ASSERT_TRUE(b.publish(key_of(5), "expiring", now - 2 * kDay, now - kDay, now));
    ASSERT_TRUE(b.publish(key_of(6), "expired earlier", now - 3 * kDay, now - 2 * kDay, now));
    ASSERT_TRUE(b.publish(key_of(100), "new", now, now + kDay, now));
    EXPECT_EQ(b.find(key_of(6)), -1) << "the one expired longest ago went";
    EXPECT_GE(b.find(key_of(5)), 0);
    EXPECT_EQ(b.publications(), 2u + (kStapleSlots - 1) + 1u + 3u);
}

TEST(TlsOcspFetch, AWorkerStaplesWhatTheMasterPublished) {
    const Pki& p = pki();
    ZoneFixture f;
    ListenerTls tls;
    tls.certificates.push_back(certificate(p.leaf));
    tls.certificates.push_back(certificate(p.other));
    tls.certificates[0].ocsp_fetch.enabled = true;
    tls.certificates[1].ocsp_staple_path = "other.ocsp";
    tls.certificates[1].ocsp_staple = "other's file";
    OcspStaples staples;
    staples.build(tls, f.board.get());
    EXPECT_FALSE(staples.empty());
    time_t now = time(nullptr);
    EXPECT_EQ(staples.find(p.leaf.get(), now), "") << "nothing published yet: no staple";
    EXPECT_EQ(staples.find(p.other.get(), now), "other's file");

    CertKey key;
    ASSERT_TRUE(cert_key(p.leaf.get(), key));
    ASSERT_TRUE(f.board->publish(key, "response 1", now - 60, now + kDay, now));
    EXPECT_EQ(staples.find(p.leaf.get(), now), "response 1") << "published after the worker started: found";
    ASSERT_TRUE(f.board->publish(key, "response 2", now, now + 2 * kDay, now));
    EXPECT_EQ(staples.find(p.leaf.get(), now), "response 2") << "a new response replaces the worker's copy";
    EXPECT_EQ(staples.find(p.leaf.get(), now + 2 * kDay), "") << "never stapled at or past its nextUpdate";
    f.board->withdraw(key);
    EXPECT_EQ(staples.find(p.leaf.get(), now), "") << "withdrawn (revoked)";

    OcspStaples without_zone;
    without_zone.build(tls, nullptr);
    EXPECT_EQ(without_zone.find(p.leaf.get(), now), "");
}

}  // namespace
}  // namespace gw::tls
