// The tls module's configuration: a listener's `tls:` map and a route's `require_client_cert`,
// read and checked by load_config() as `gatewayd -t` does, with certificates and keys made here
// with OpenSSL (RSA and ECDSA, expired, expiring, encrypted, chained) and written to the test's
// directory.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "modules/tls/module.h"

namespace gw::tls {
namespace {

struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
struct CertFree {
    void operator()(X509* x) const { X509_free(x); }
};
using Cert = std::unique_ptr<X509, CertFree>;

struct CertSpec {
    std::string cn;
    std::vector<std::string> dns = {};  // subjectAltName DNS entries; none: no extension
    long valid_from = -86400;      // seconds from now
    long valid_until = 90 * 86400;
    bool ca = false;
};

void add_ext(X509* x, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    ASSERT_NE(ext, nullptr) << value;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

// A certificate for `key`, signed by `issuer` with `issuer_key` (self-signed when null).
Cert make_cert(const CertSpec& s, EVP_PKEY* key, X509* issuer = nullptr, EVP_PKEY* issuer_key = nullptr) {
    static long serial = 1;
    Cert x(X509_new());
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), s.valid_from);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), s.valid_until);
    X509_set_pubkey(x.get(), key);
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(s.cn.c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer ? issuer : x.get();
    if (s.ca) {
        add_ext(x.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (!s.dns.empty()) {
        std::string sans;
        for (const std::string& d : s.dns) sans += (sans.empty() ? "DNS:" : ",DNS:") + d;
        add_ext(x.get(), signer, NID_subject_alt_name, sans);
    }
    EXPECT_GT(X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()), 0);
    return x;
}

class TlsConfigTest : public test::ConfigFixture {
  protected:
    // The diagnostics but the warning of a kernel without TLS offload (`ktls: true` on this
    // machine or not: the kernel decides).
    std::vector<std::string> errors_but_ktls() const {
        std::vector<std::string> out;
        for (const std::string& e : errors())
            if (e.find("tls.ktls: this kernel has no TLS offload") == std::string::npos) out.push_back(e);
        return out;
    }
    static void SetUpTestSuite() {
        ec_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        ec2_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        rsa_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    }
    static void TearDownTestSuite() {
        EVP_PKEY_free(ec_);
        EVP_PKEY_free(ec2_);
        EVP_PKEY_free(rsa_);
    }

    void write_pem(const std::string& name, const std::vector<X509*>& certs) {
        std::string pem;
        for (X509* x : certs) {
            BIO* b = BIO_new(BIO_s_mem());
            PEM_write_bio_X509(b, x);
            char* data = nullptr;
            long n = BIO_get_mem_data(b, &data);
            pem.append(data, static_cast<size_t>(n));
            BIO_free(b);
        }
        write(name, pem);
    }
    // The key in PKCS#8 PEM; encrypted with AES-256 when `password` is not empty.
    void write_key(const std::string& name, EVP_PKEY* key, const std::string& password = "") {
        BIO* b = BIO_new(BIO_s_mem());
        if (password.empty())
            PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
        else
            PEM_write_bio_PKCS8PrivateKey(b, key, EVP_aes_256_cbc(), password.c_str(),
                                          static_cast<int>(password.size()), nullptr, nullptr);
        char* data = nullptr;
        long n = BIO_get_mem_data(b, &data);
        write(name, std::string(data, static_cast<size_t>(n)));
        BIO_free(b);
    }
    // api.pem / api.key: ECDSA, api.example and *.Api.Example.
    void write_api_pair() {
        Cert c = make_cert({.cn = "api.example", .dns = {"api.example", "*.Api.Example"}}, ec_);
        write_pem("api.pem", {c.get()});
        write_key("api.key", ec_);
    }

    // A configuration with one TLS listener whose `tls:` map is `tls` (lines indented by six
    // spaces: the map starts on line 4), a route, and `extra` after it.
    static std::string conf(const std::string& tls, const std::string& extra = "") {
        return "listeners:\n"
               "  - address: 127.0.0.1:8443\n"
               "    tls:\n" +
               tls +
               "routes:\n"
               "  - name: r\n"
               "    match: {path_prefix: /}\n"
               "    return: {status: 200}\n" +
               extra;
    }

    // As ConfigFixture::expect_errors, with the test's directory as the prefix.
    void expect_errors(const std::string& text, std::vector<std::string> expected) {
        EXPECT_FALSE(load_conf(text));
        std::vector<std::string> got = errors();
        std::sort(got.begin(), got.end());
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(got, expected);
    }

    std::optional<Config> load_conf(const std::string& text) {
        write("gw.conf", text);
        return load("gw.conf", dir_);
    }
    std::vector<std::string> warnings() const {
        std::vector<std::string> out;
        for (const Diagnostic& d : diags_.all())
            if (d.severity == Diagnostic::Severity::Warning) out.push_back(d.str());
        return out;
    }
    static const ListenerTls* listener_tls(const Config& c, size_t i = 0) {
        const Settings* s = settings(c);
        return s ? s->listener(i) : nullptr;
    }

    static EVP_PKEY* ec_;
    static EVP_PKEY* ec2_;
    static EVP_PKEY* rsa_;
};

EVP_PKEY* TlsConfigTest::ec_ = nullptr;
EVP_PKEY* TlsConfigTest::ec2_ = nullptr;
EVP_PKEY* TlsConfigTest::rsa_ = nullptr;

TEST_F(TlsConfigTest, RsaAndEcdsaPairsLoadWithTheirNames) {
    write_api_pair();
    Cert www = make_cert({.cn = "WWW.Example"}, rsa_);  // no subjectAltName: the CN
    write_pem("tls/www.pem", {www.get()});
    write_key("tls/www.key", rsa_);
    std::optional<Config> c = load_conf(conf("      certificates:\n"
                                             "        - {cert: api.pem, key: api.key}\n"
                                             "        - {cert: tls/www.pem, key: tls/www.key}\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(errors(), std::vector<std::string>{});
    const ListenerTls* t = listener_tls(*c);
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->certificates.size(), 2u);
    const Certificate& api = t->certificates[0];
    EXPECT_EQ(api.cert_path, path("api.pem")) << "relative paths resolve against the prefix";
    EXPECT_EQ(api.key_type, EVP_PKEY_EC);
    EXPECT_EQ(api.names, (std::vector<std::string>{"api.example", "*.api.example"}));
    EXPECT_TRUE(api.leaf && api.key);
    EXPECT_TRUE(api.chain.empty());
    time_t now = time(nullptr);
    EXPECT_GT(api.not_after, now + 89 * 86400);
    EXPECT_LT(api.not_after, now + 91 * 86400);
    const Certificate& w = t->certificates[1];
    EXPECT_EQ(w.key_type, EVP_PKEY_RSA);
    EXPECT_EQ(w.names, std::vector<std::string>{"www.example"}) << "the CN, lower-cased, without subjectAltName";

    // The defaults.
    EXPECT_EQ(t->protocols, kTls12 | kTls13);
    EXPECT_EQ(t->ciphers, "");
    EXPECT_EQ(t->session_cache_bytes, 10u << 20);
    EXPECT_TRUE(t->session_tickets);
    EXPECT_EQ(t->ticket_rotate_ms, 3600u * 1000);
    EXPECT_EQ(t->client_auth.mode, ClientAuthMode::Off);
    EXPECT_EQ(t->handshake_timeout_ms, 10000u);
    EXPECT_EQ(t->hsts.max_age_s, 0u);
    EXPECT_FALSE(t->ktls);
    EXPECT_EQ(listener_tls(*c, 1), nullptr);
}

TEST_F(TlsConfigTest, KeyOfAnotherCertificateIsRefused) {
    Cert c = make_cert({.cn = "a.example", .dns = {"a.example"}}, ec_);
    write_pem("a.pem", {c.get()});
    write_key("other.key", ec2_);
    write("gw.conf", conf("      certificates:\n"
                          "        - cert: a.pem\n"
                          "          key: other.key\n"));
    EXPECT_FALSE(load("gw.conf", dir_));
    ASSERT_EQ(errors().size(), 1u) << ::testing::PrintToString(errors());
    EXPECT_EQ(errors()[0].rfind(at("gw.conf", 6, 16) + "listeners[0].tls.certificates[0].key: \"" + path("other.key") +
                                    "\" does not match the certificate \"" + path("a.pem") + "\": ",
                                0),
              0u)
        << errors()[0];
}

TEST_F(TlsConfigTest, ExpiredCertificateIsAnError) {
    Cert c = make_cert({.cn = "old.example", .valid_from = -100 * 86400, .valid_until = -86400}, ec_);
    write_pem("old.pem", {c.get()});
    write_key("old.key", ec_);
    std::optional<Config> loaded = load_conf(conf("      certificates: [{cert: old.pem, key: old.key}]\n"));
    EXPECT_FALSE(loaded);
    ASSERT_EQ(errors().size(), 1u) << ::testing::PrintToString(errors());
    EXPECT_EQ(errors()[0].rfind(at("gw.conf", 4, 29) + "listeners[0].tls.certificates[0].cert: \"" + path("old.pem") +
                                    "\" expired on ",
                                0),
              0u)
        << errors()[0];
}

TEST_F(TlsConfigTest, CertificateExpiringWithinTwoWeeksIsAWarning) {
    Cert c = make_cert({.cn = "soon.example", .valid_until = 5 * 86400 + 3600}, ec_);
    write_pem("soon.pem", {c.get()});
    write_key("soon.key", ec_);
    std::optional<Config> loaded = load_conf(conf("      certificates: [{cert: soon.pem, key: soon.key}]\n"));
    ASSERT_TRUE(loaded) << ::testing::PrintToString(errors());
    ASSERT_EQ(warnings().size(), 1u) << ::testing::PrintToString(errors());
    std::string w = warnings()[0];
    EXPECT_EQ(w.rfind(at("gw.conf", 4, 29) + "warning: listeners[0].tls.certificates[0].cert: \"" + path("soon.pem") +
                          "\" expires on ",
                      0),
              0u)
        << w;
    EXPECT_NE(w.find(", in 5 days"), std::string::npos) << w;
}

TEST_F(TlsConfigTest, EncryptedKeyNeedsTheRightPassword) {
    Cert c = make_cert({.cn = "enc.example"}, rsa_);
    write_pem("enc.pem", {c.get()});
    write_key("enc.key", rsa_, "s3cret-Pass");
    write("right.pass", "s3cret-Pass\nthe rest of the file is not the password\n");
    write("wrong.pass", "s3cret-Pasz\n");
    std::string tls = "      certificates:\n"
                      "        - {cert: enc.pem, key: enc.key, password_file: right.pass}\n";
    std::optional<Config> ok = load_conf(conf(tls));
    ASSERT_TRUE(ok) << ::testing::PrintToString(errors());
    EXPECT_EQ(listener_tls(*ok)->certificates[0].password_file, path("right.pass"));
    EXPECT_EQ(listener_tls(*ok)->certificates[0].key_type, EVP_PKEY_RSA);

    expect_errors(conf("      certificates:\n"
                       "        - {cert: enc.pem, key: enc.key, password_file: wrong.pass}\n"),
                  {at("gw.conf", 5, 32) + "listeners[0].tls.certificates[0].key: cannot decrypt \"" + path("enc.key") +
                   "\": bad password (password_file \"" + path("wrong.pass") + "\")"});
    for (const std::string& e : errors()) EXPECT_EQ(e.find("s3cret"), std::string::npos) << e;

    expect_errors(conf("      certificates: [{cert: enc.pem, key: enc.key}]\n"),
                  {at("gw.conf", 4, 43) + "listeners[0].tls.certificates[0].key: \"" + path("enc.key") +
                   "\" is encrypted: give its password in password_file"});
    expect_errors(conf("      certificates: [{cert: enc.pem, key: enc.key, password_file: none.pass}]\n"),
                  {at("gw.conf", 4, 67) + "listeners[0].tls.certificates[0].password_file: cannot read \"" +
                   path("none.pass") + "\": No such file or directory"});
}

TEST_F(TlsConfigTest, ChainThatDoesNotChainTheLeafIsAWarning) {
    Cert root = make_cert({.cn = "Test Root", .ca = true}, rsa_);
    Cert inter = make_cert({.cn = "Test Intermediate", .ca = true}, ec2_, root.get(), rsa_);
    Cert leaf = make_cert({.cn = "chain.example", .dns = {"chain.example"}}, ec_, inter.get(), ec2_);
    write_pem("good.pem", {leaf.get(), inter.get()});
    write_pem("reversed.pem", {leaf.get(), root.get(), inter.get()});
    write_key("leaf.key", ec_);
    std::optional<Config> c = load_conf(conf("      certificates: [{cert: good.pem, key: leaf.key}]\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(errors(), std::vector<std::string>{});
    EXPECT_EQ(listener_tls(*c)->certificates[0].chain.size(), 1u);

    c = load_conf(conf("      certificates: [{cert: reversed.pem, key: leaf.key}]\n"));
    ASSERT_TRUE(c) << "an incomplete chain is served, with a warning";
    ASSERT_EQ(warnings().size(), 1u) << ::testing::PrintToString(errors());
    EXPECT_EQ(warnings()[0], at("gw.conf", 4, 29) + "warning: listeners[0].tls.certificates[0].cert: \"" +
                                 path("reversed.pem") +
                                 "\": certificate 2 (/CN=Test Root) did not issue certificate 1 (issuer "
                                 "/CN=Test Intermediate): the chain is incomplete or out of order (leaf first, "
                                 "then each issuer)");
}

TEST_F(TlsConfigTest, BadFilesAreErrorsWithTheirReason) {
    write("notpem.pem", "hello\n");
    write_api_pair();
    expect_errors(conf("      certificates:\n"
                       "        - {cert: missing.pem, key: api.key}\n"
                       "        - {cert: notpem.pem, key: api.key}\n"),
                  {at("gw.conf", 5, 18) + "listeners[0].tls.certificates[0].cert: cannot read \"" +
                       path("missing.pem") + "\": No such file or directory",
                   at("gw.conf", 6, 18) + "listeners[0].tls.certificates[1].cert: no certificate in \"" +
                       path("notpem.pem") + "\": no PEM certificate in it"});
    EXPECT_FALSE(load_conf(conf("      certificates:\n"
                                "        - {cert: api.pem, key: notpem.pem}\n")));
    ASSERT_EQ(errors().size(), 1u) << ::testing::PrintToString(errors());
    // Then OpenSSL's reason, whose words depend on its version.
    EXPECT_EQ(errors()[0].rfind(at("gw.conf", 5, 32) + "listeners[0].tls.certificates[0].key: no private key in \"" +
                                    path("notpem.pem") + "\": error:",
                                0),
              0u)
        << errors()[0];
}

TEST_F(TlsConfigTest, UnsafeAndUnknownProtocolsAreRefused) {
    write_api_pair();
    std::string certs = "      certificates: [{cert: api.pem, key: api.key}]\n";
    expect_errors(conf(certs + "      protocols: [TLSv1.1]\n"),
                  {at("gw.conf", 5, 19) + "listeners[0].tls.protocols: TLSv1.1 is unsafe and is never offered (use "
                                          "TLSv1.2, TLSv1.3)"});
    expect_errors(conf(certs + "      protocols: [TLSv1.3, SSLv3, TLSv1.4]\n"),
                  {at("gw.conf", 5, 28) + "listeners[0].tls.protocols: SSLv3 is unsafe and is never offered (use "
                                          "TLSv1.2, TLSv1.3)",
                   at("gw.conf", 5, 35) + "listeners[0].tls.protocols: unknown value \"TLSv1.4\" (expected "
                                          "TLSv1.2 or TLSv1.3)"});
    std::optional<Config> c = load_conf(conf(certs + "      protocols: TLSv1.3\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(listener_tls(*c)->protocols, kTls13);
}

TEST_F(TlsConfigTest, CipherListsAreTriedAtLoad) {
    write_api_pair();
    std::string certs = "      certificates: [{cert: api.pem, key: api.key}]\n";
    expect_errors(conf(certs + "      ciphers: NOPE-CIPHER:ALSO-NOT\n"),
                  {at("gw.conf", 5, 16) + "listeners[0].tls.ciphers: \"NOPE-CIPHER:ALSO-NOT\" selects no TLS 1.2 "
                                          "cipher (see openssl-ciphers(1) for the syntax)"});
    expect_errors(conf(certs + "      ciphersuites: TLS_NOPE\n"),
                  {at("gw.conf", 5, 21) + "listeners[0].tls.ciphersuites: \"TLS_NOPE\" selects no TLS 1.3 cipher "
                                          "suite (e.g. TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256)"});
    expect_errors(conf(certs + "      ciphers: aNULL\n"),
                  {at("gw.conf", 5, 16) + "listeners[0].tls.ciphers: \"aNULL\" selects ADH-AES256-GCM-SHA384, "
                                          "without authentication or encryption (add !aNULL:!eNULL)"});

    // A name that selects nothing in a list that selects something: a warning (a typo, most often).
    std::optional<Config> c = load_conf(conf(certs + "      ciphers: 'ECDHE+AESGCM:ECDHE-RSA-AES128-GMC-SHA256:!aNULL'\n"
                                                     "      ciphersuites: TLS_AES_128_GCM_SHA256\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(warnings().size(), 1u) << ::testing::PrintToString(errors());
    EXPECT_EQ(warnings()[0].rfind(at("gw.conf", 5, 16) + "warning: listeners[0].tls.ciphers: "
                                                         "\"ECDHE-RSA-AES128-GMC-SHA256\" matches no cipher of this "
                                                         "OpenSSL (",
                                  0),
              0u)
        << warnings()[0];
    EXPECT_EQ(listener_tls(*c)->ciphers, "ECDHE+AESGCM:ECDHE-RSA-AES128-GMC-SHA256:!aNULL");
    EXPECT_EQ(listener_tls(*c)->ciphersuites, "TLS_AES_128_GCM_SHA256");
}

TEST_F(TlsConfigTest, ClientAuthNeedsItsCa) {
    write_api_pair();
    Cert ca = make_cert({.cn = "Clients CA", .ca = true}, rsa_);
    write_pem("clients-ca.pem", {ca.get()});
    std::string certs = "      certificates: [{cert: api.pem, key: api.key}]\n";
    expect_errors(conf(certs + "      client_auth: {mode: optional}\n"),
                  {at("gw.conf", 5, 20) + "listeners[0].tls.client_auth: missing required key \"ca\""});
    expect_errors(conf(certs + "      client_auth: {ca: clients-ca.pem, mode: sometimes}\n"),
                  {at("gw.conf", 5, 47) + "listeners[0].tls.client_auth.mode: unknown value \"sometimes\" (expected "
                                          "require, optional or off)"});
    std::optional<Config> off = load_conf(conf(certs + "      client_auth: {mode: off}\n"));
    ASSERT_TRUE(off) << "mode off needs no CA: " << ::testing::PrintToString(errors());

    std::optional<Config> c = load_conf(conf(certs + "      client_auth: {ca: clients-ca.pem}\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const ClientAuth& a = listener_tls(*c)->client_auth;
    EXPECT_EQ(a.mode, ClientAuthMode::Require) << "a client_auth map requires certificates unless it says otherwise";
    EXPECT_EQ(a.ca_path, path("clients-ca.pem"));
    EXPECT_TRUE(a.store);
    EXPECT_EQ(a.ca_names.size(), 1u);

    write("empty.crl", "");
    expect_errors(conf(certs + "      client_auth: {ca: clients-ca.pem, crl: empty.crl}\n"),
                  {at("gw.conf", 5, 46) + "listeners[0].tls.client_auth.crl: no CRL in \"" + path("empty.crl") +
                   "\": no PEM CRL in it"});
}

TEST_F(TlsConfigTest, SharedTicketKeysNeedRedis) {
    write_api_pair();
    std::string tls = "      certificates: [{cert: api.pem, key: api.key}]\n"
                      "      session_tickets: {rotate: 30m, shared: redis}\n";
    expect_errors(conf(tls), {at("gw.conf", 5, 46) + "listeners[0].tls.session_tickets.shared: redis needs a "
                                                     "top-level redis: section (the Redis server that shares the "
                                                     "ticket keys)"});
    std::optional<Config> c = load_conf(conf(tls, "redis: {address: 127.0.0.1:6379}\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_TRUE(listener_tls(*c)->tickets_shared_redis);
    EXPECT_EQ(listener_tls(*c)->ticket_rotate_ms, 30u * 60 * 1000);

    c = load_conf(conf("      certificates: [{cert: api.pem, key: api.key}]\n"
                       "      session_tickets: off\n"
                       "      session_cache: off\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_FALSE(listener_tls(*c)->session_tickets);
    EXPECT_EQ(listener_tls(*c)->session_cache_bytes, 0u);
}

TEST_F(TlsConfigTest, RequireClientCertNeedsAListenerThatAsksForOne) {
    write_api_pair();
    Cert ca = make_cert({.cn = "Clients CA", .ca = true}, rsa_);
    write_pem("clients-ca.pem", {ca.get()});
    std::string route = "  - name: admin\n"
                        "    match: {path_prefix: /internal/}\n"
                        "    require_client_cert: true\n"
                        "    return: {status: 200}\n";
    std::string certs = "      certificates: [{cert: api.pem, key: api.key}]\n";
    expect_errors(conf(certs, route),
                  {at("gw.conf", 11, 26) + "routes[1].require_client_cert: no listener asks for client certificates "
                                          "(tls.client_auth), so no request could pass"});
    expect_errors(conf(certs + "      client_auth: {ca: clients-ca.pem, mode: off}\n", route),
                  {at("gw.conf", 12, 26) + "routes[1].require_client_cert: no listener asks for client certificates "
                                          "(tls.client_auth), so no request could pass"});
    std::optional<Config> c = load_conf(conf(certs + "      client_auth: {ca: clients-ca.pem, mode: optional}\n", route));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_FALSE(settings(*c)->requires_client_cert(0));
    EXPECT_TRUE(settings(*c)->requires_client_cert(1));
}

TEST_F(TlsConfigTest, KeysAreStrict) {
    write_api_pair();
    expect_errors(conf("      certificates: [{cert: api.pem, key: api.key, pasword_file: x}]\n"
                       "      protocol: [TLSv1.3]\n"
                       "      handshake_timeout: 10m\n"
                       "      hsts: {max_age: 1500ms}\n"
                       "      session_cache: 1k\n"),
                  {at("gw.conf", 4, 52) + "unknown key \"pasword_file\" (did you mean \"password_file\"?)",
                   at("gw.conf", 5, 7) + "unknown key \"protocol\" (did you mean \"protocols\"?)",
                   at("gw.conf", 6, 26) + "listeners[0].tls.handshake_timeout: 10m is out of range (1s..5m)",
                   at("gw.conf", 7, 23) + "listeners[0].tls.hsts.max_age: whole seconds only",
                   at("gw.conf", 8, 22) + "listeners[0].tls.session_cache: 1k is out of range (64k..1g)"});
    expect_errors(conf("      certificates: []\n"),
                  {at("gw.conf", 4, 21) + "listeners[0].tls.certificates: at least one certificate is required"});
    expect_errors(conf("      protocols: [TLSv1.2]\n"),
                  {at("gw.conf", 4, 7) + "listeners[0].tls: missing required key \"certificates\""});
}

TEST_F(TlsConfigTest, OcspStapleThatCannotBeUsedIsOnlyAWarning) {
    write_api_pair();
    write("api.ocsp", "not DER at all");
    std::optional<Config> c = load_conf(conf("      certificates: [{cert: api.pem, key: api.key}]\n"
                                             "      ocsp_staple: api.ocsp\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(warnings().size(), 1u);
    EXPECT_EQ(warnings()[0].rfind(at("gw.conf", 5, 20) + "warning: listeners[0].tls.ocsp_staple: \"" +
                                      path("api.ocsp") + "\": not a DER OCSP response (",
                                  0),
              0u)
        << warnings()[0];
    EXPECT_EQ(listener_tls(*c)->ocsp_staple_path, path("api.ocsp"));
    EXPECT_EQ(listener_tls(*c)->ocsp_staple, "");

    c = load_conf(conf("      certificates: [{cert: api.pem, key: api.key}]\n"
                       "      ocsp_staple: missing.ocsp\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(warnings().size(), 1u);
    EXPECT_EQ(warnings()[0], at("gw.conf", 5, 20) + "warning: listeners[0].tls.ocsp_staple: \"" +
                                 path("missing.ocsp") + "\": cannot read it (No such file or directory): nothing is "
                                                        "stapled");
}

TEST_F(TlsConfigTest, OcspFetchNeedsAResponderAndIsNeverFatal) {
    write_api_pair();  // self-signed: no issuer after it
    std::optional<Config> c = load_conf(conf("      certificates: [{cert: api.pem, key: api.key}]\n"
                                             "      ocsp_staple: {fetch: true}\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(warnings().size(), 1u);
    EXPECT_EQ(warnings()[0], at("gw.conf", 5, 20) + "warning: listeners[0].tls.ocsp_staple: \"" + path("api.pem") +
                                 "\" has no issuer certificate after it (the request names the issuer): nothing is "
                                 "stapled");
    EXPECT_FALSE(listener_tls(*c)->certificates[0].ocsp_fetch.enabled);

    // Issued by a CA (after it in the file), without an AIA: a responder is needed.
    Cert ca = make_cert({.cn = "CA", .ca = true}, rsa_);
    Cert leaf = make_cert({.cn = "leaf.example", .dns = {"leaf.example"}}, ec_, ca.get(), rsa_);
    write_pem("leaf.pem", {leaf.get(), ca.get()});
    write_key("leaf.key", ec_);
    c = load_conf(conf("      certificates: [{cert: leaf.pem, key: api.key, ocsp_staple: {fetch: true}}]\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(warnings().size(), 1u);
    EXPECT_EQ(warnings()[0], at("gw.conf", 4, 66) + "warning: listeners[0].tls.certificates[0].ocsp_staple: \"" +
                                 path("leaf.pem") +
                                 "\" names no OCSP responder (Authority Information Access) and no responder: is "
                                 "given: nothing is stapled");

    c = load_conf(conf("      certificates: [{cert: leaf.pem, key: leaf.key}]\n"
                       "      ocsp_staple: {fetch: true, responder: \"http://127.0.0.1:8080/ocsp\"}\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_TRUE(warnings().empty()) << ::testing::PrintToString(warnings());
    const OcspFetch& f = listener_tls(*c)->certificates[0].ocsp_fetch;
    EXPECT_TRUE(f.enabled);
    EXPECT_EQ(f.url, "http://127.0.0.1:8080/ocsp");
    EXPECT_EQ(f.host, "127.0.0.1:8080");
    EXPECT_EQ(f.path, "/ocsp");
    EXPECT_GT(f.address_len, 0u);
    EXPECT_TRUE(listener_tls(*c)->ocsp_fetch_listener);

    // A malformed responder is an error (the operator wrote it); one without fetch a warning.
    expect_errors(conf("      certificates: [{cert: leaf.pem, key: leaf.key}]\n"
                       "      ocsp_staple: {fetch: true, responder: \"https://ocsp.example/\"}\n"),
                  {at("gw.conf", 5, 45) + "listeners[0].tls.ocsp_staple.responder: \"https://ocsp.example/\": an "
                                          "https:// responder (OCSP responders are plain HTTP: their responses are "
                                          "signed)"});
    c = load_conf(conf("      certificates: [{cert: leaf.pem, key: leaf.key}]\n"
                       "      ocsp_staple: {responder: \"http://ocsp.example/\"}\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    ASSERT_EQ(warnings().size(), 1u);
    EXPECT_EQ(warnings()[0], at("gw.conf", 5, 32) + "warning: listeners[0].tls.ocsp_staple.responder: without fetch: "
                                                    "true it has no effect");
    expect_errors(conf("      certificates: [{cert: api.pem, key: api.key}]\n"
                       "      ocsp_staple: {fech: true}\n"),
                  {at("gw.conf", 5, 21) + "unknown key \"fech\" (did you mean \"fetch\"?)"});
}

TEST_F(TlsConfigTest, DumpWritesEveryKeyAndLoadsAgain) {
    write_api_pair();
    Cert enc = make_cert({.cn = "www.example", .dns = {"www.example"}}, rsa_);
    write_pem("www.pem", {enc.get()});
    write_key("www.key", rsa_, "pw-in-file");
    write("www.pass", "pw-in-file\n");
    Cert ca = make_cert({.cn = "Clients CA", .ca = true}, rsa_);
    write_pem("clients-ca.pem", {ca.get()});
    std::optional<Config> c =
        load_conf(conf("      certificates:\n"
                       "        - {cert: api.pem, key: api.key}\n"
                       "        - {cert: www.pem, key: www.key, password_file: www.pass}\n"
                       "      protocols: [TLSv1.3, TLSv1.2]\n"
                       "      ciphers: 'ECDHE+AESGCM:!aNULL'\n"
                       "      ciphersuites: TLS_AES_256_GCM_SHA384\n"
                       "      session_cache: 20m\n"
                       "      session_tickets: {rotate: 2h, shared: redis}\n"
                       "      client_auth: {ca: clients-ca.pem, mode: optional}\n"
                       "      handshake_timeout: 15s\n"
                       "      hsts: {max_age: 365d, include_subdomains: true, preload: true}\n"
                       "      ktls: true\n",
                       "  - name: admin\n"
                       "    match: {path_prefix: /internal/}\n"
                       "    require_client_cert: true\n"
                       "    return: {status: 200}\n"
                       "redis: {address: 127.0.0.1:6379}\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(errors_but_ktls(), std::vector<std::string>{});
    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("    tls:\n"
                        "      certificates:\n"
                        "        - cert: \"" + path("api.pem") + "\"\n"
                        "          key: \"" + path("api.key") + "\"\n"
                        "        - cert: \"" + path("www.pem") + "\"\n"
                        "          key: \"" + path("www.key") + "\"\n"
                        "          password_file: \"" + path("www.pass") + "\"\n"
                        "      protocols: [\"TLSv1.2\", \"TLSv1.3\"]\n"
                        "      ciphers: \"ECDHE+AESGCM:!aNULL\"\n"
                        "      ciphersuites: \"TLS_AES_256_GCM_SHA384\"\n"
                        "      session_cache: 20m\n"
                        "      session_tickets:\n"
                        "        rotate: 2h\n"
                        "        shared: \"redis\"\n"
                        "      client_auth:\n"
                        "        mode: \"optional\"\n"
                        "        ca: \"" + path("clients-ca.pem") + "\"\n"
                        "      # ocsp_staple: not set\n"
                        "      handshake_timeout: 15s\n"
                        "      hsts:\n"
                        "        max_age: 365d\n"
                        "        include_subdomains: true\n"
                        "        preload: true\n"
                        "      ktls: true\n"),
              std::string::npos)
        << dump;
    EXPECT_NE(dump.find("    require_client_cert: true\n"), std::string::npos) << dump;
    EXPECT_EQ(dump.find("pw-in-file"), std::string::npos) << "no secret in -T";
    EXPECT_EQ(dump.find("PRIVATE KEY"), std::string::npos) << "no secret in -T";

    write("dumped.conf", dump);
    std::optional<Config> again = load("dumped.conf", dir_);
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    std::string dump2 = dump_config(*again);
    EXPECT_EQ(dump2.substr(dump2.find("\nworker_processes:")), dump.substr(dump.find("\nworker_processes:")));

    // The defaults are written too, and load back the same.
    c = load_conf(conf("      certificates: [{cert: api.pem, key: api.key}]\n"
                       "      session_tickets: off\n"
                       "      session_cache: off\n"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    dump = dump_config(*c);
    EXPECT_NE(dump.find("      protocols: [\"TLSv1.2\", \"TLSv1.3\"]\n"
                        "      # ciphers: not set\n"
                        "      # ciphersuites: not set\n"
                        "      session_cache: off\n"
                        "      session_tickets: off\n"
                        "      # client_auth: not set\n"
                        "      # ocsp_staple: not set\n"
                        "      handshake_timeout: 10s\n"
                        "      hsts:\n"
                        "        max_age: 0\n"
                        "        include_subdomains: false\n"
                        "        preload: false\n"
                        "      ktls: false\n"),
              std::string::npos)
        << dump;
    write("dumped.conf", dump);
    again = load("dumped.conf", dir_);
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << "\n" << dump;
    dump2 = dump_config(*again);
    EXPECT_EQ(dump2.substr(dump2.find("\nworker_processes:")), dump.substr(dump.find("\nworker_processes:")));
}

}  // namespace
}  // namespace gw::tls
