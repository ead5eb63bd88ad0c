// An upstream's `tls:` map (the tls module's read_upstream hook), read and checked by
// load_config() as `gatewayd -t` does, and the identity each server is verified against.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "core/config/dump.h"
#include "modules/tls/module.h"
#include "modules/tls/upstream_config.h"

namespace gw::tls {
namespace {

class UpstreamTlsConfigTest : public test::ConfigFixture {
  protected:
    static void SetUpTestSuite() { key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); }
    static void TearDownTestSuite() { EVP_PKEY_free(key_); }

    // A self-signed certificate valid from `from` to `until` seconds from now, and its key.
    void write_pair(const std::string& cert, const std::string& key, long from = -60, long until = 86400) {
        X509* x = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), from);
        X509_gmtime_adj(X509_getm_notAfter(x), until);
        X509_set_pubkey(x, key_);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("gw"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        ASSERT_GT(X509_sign(x, key_, EVP_sha256()), 0);
        write(cert, pem([&](BIO* b) { PEM_write_bio_X509(b, x); }));
        write(key, pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key_, nullptr, nullptr, 0, nullptr, nullptr); }));
        X509_free(x);
    }
    template <class F>
    static std::string pem(F write) {
        BIO* b = BIO_new(BIO_s_mem());
        write(b);
        char* data = nullptr;
        long n = BIO_get_mem_data(b, &data);
        std::string out(data, static_cast<size_t>(n));
        BIO_free(b);
        return out;
    }

    // One upstream `u` with the `tls:` map `tls` (on line 5, its keys from column 10) and the
    // server `server`; `extra` is more of the upstream's keys.
    static std::string conf(const std::string& tls, const std::string& server = "127.0.0.1:8443",
                            const std::string& extra = "") {
        return "listeners:\n"
               "  - address: 127.0.0.1:8080\n"
               "upstreams:\n"
               "  u:\n"
               "    tls: " +
               tls + "\n    servers: [{address: \"" + server + "\"}]\n" + extra +
               "routes:\n"
               "  - {name: r, match: {path_prefix: /}, upstream: u}\n";
    }

    std::optional<Config> load_text(const std::string& text) {
        write("gw.conf", text);
        diags_ = Diagnostics();
        return load_config(path("gw.conf"), dir_, diags_);
    }
    void expect_errors(const std::string& text, std::vector<std::string> expected) {
        EXPECT_FALSE(load_text(text));
        std::vector<std::string> got = errors();
        std::sort(got.begin(), got.end());
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(got, expected);
    }
    const UpstreamTls* upstream_tls(const Config& c, size_t i = 0) {
        const Settings* s = settings(c);
        return s ? s->upstream(i) : nullptr;
    }

    static EVP_PKEY* key_;
};

EVP_PKEY* UpstreamTlsConfigTest::key_ = nullptr;

TEST_F(UpstreamTlsConfigTest, AnEmptyMapVerifiesWithTheSystemStore) {
    std::optional<Config> c = load_text(conf("{}"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const UpstreamTls* t = upstream_tls(*c);
    ASSERT_NE(t, nullptr);
    EXPECT_TRUE(t->verify);
    EXPECT_TRUE(t->ca_path.empty());
    EXPECT_EQ(t->ca, nullptr);
    EXPECT_TRUE(t->sni.empty());
    EXPECT_FALSE(t->client_certificate);
    EXPECT_EQ(t->protocols, kTls12 | kTls13);
    EXPECT_TRUE(t->session_reuse);
    EXPECT_TRUE(diags_.all().empty());
}

TEST_F(UpstreamTlsConfigTest, AnUpstreamWithoutTlsHasNone) {
    std::optional<Config> c = load_text(
        "listeners: [{address: 127.0.0.1:8080}]\n"
        "upstreams: {a: {servers: [{address: 127.0.0.1:1}]}, b: {servers: [{address: 127.0.0.1:2}], tls: {}}}\n"
        "routes: [{name: r, match: {path_prefix: /}, upstream: a}]\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(upstream_tls(*c, 0), nullptr);
    EXPECT_NE(upstream_tls(*c, 1), nullptr);
}

TEST_F(UpstreamTlsConfigTest, EveryKey) {
    write_pair("ca.pem", "ca.key");
    write_pair("client.pem", "client.key");
    std::optional<Config> c = load_text(
        conf("{verify: true, ca: ca.pem, sni: Internal.Example., cert: client.pem, key: client.key, "
             "protocols: [TLSv1.3], ciphersuites: TLS_AES_256_GCM_SHA384, session_reuse: false}"));
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const UpstreamTls* t = upstream_tls(*c);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->ca_path, path("ca.pem"));
    EXPECT_NE(t->ca, nullptr);
    EXPECT_EQ(t->sni, "Internal.Example");  // the final dot dropped
    ASSERT_TRUE(t->client_certificate);
    EXPECT_EQ(t->client_certificate->cert_path, path("client.pem"));
    EXPECT_NE(t->client_certificate->key, nullptr);
    EXPECT_EQ(t->protocols, kTls13);
    EXPECT_EQ(t->ciphersuites, "TLS_AES_256_GCM_SHA384");
    EXPECT_FALSE(t->session_reuse);

    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("    tls:\n"
                        "      verify: true\n"
                        "      ca: \"" + path("ca.pem") + "\"\n"
                        "      sni: \"Internal.Example\"\n"
                        "      cert: \"" + path("client.pem") + "\"\n"
                        "      key: \"" + path("client.key") + "\"\n"
                        "      protocols: [\"TLSv1.3\"]\n"
                        "      # ciphers: not set (OpenSSL's default)\n"
                        "      ciphersuites: \"TLS_AES_256_GCM_SHA384\"\n"
                        "      session_reuse: false\n"),
              std::string::npos)
        << dump;
}

TEST_F(UpstreamTlsConfigTest, VerifyFalseIsWarnedAbout) {
    std::optional<Config> c = load_text(conf("{verify: false}"));
    ASSERT_TRUE(c);
    ASSERT_EQ(diags_.all().size(), 1u);
    EXPECT_EQ(diags_.all()[0].str(), at("gw.conf", 5, 19) +
                                         "warning: upstreams.u.tls.verify: false: the servers' certificates are not "
                                         "checked, so anyone on the path to them can pose as them");
    EXPECT_FALSE(upstream_tls(*c)->verify);
}

TEST_F(UpstreamTlsConfigTest, UnknownKeysAreSuggested) {
    expect_errors(conf("{verfy: false}"),
                  {at("gw.conf", 5, 11) + "unknown key \"verfy\" (did you mean \"verify\"?)"});
}

TEST_F(UpstreamTlsConfigTest, SniMustBeAHostName) {
    expect_errors(conf("{sni: 10.0.0.1}"),
                  {at("gw.conf", 5, 16) + "upstreams.u.tls.sni: \"10.0.0.1\" is an IP address, which SNI cannot "
                                          "carry: leave sni out to check the server's address against the "
                                          "certificate's IP names"});
    expect_errors(conf("{sni: \"a b\"}"), {at("gw.conf", 5, 16) + "upstreams.u.tls.sni: \"a b\" is not a host name"});
    expect_errors(conf("{sni: \"[::1]\"}"),
                  {at("gw.conf", 5, 16) + "upstreams.u.tls.sni: \"[::1]\" is not a host name"});
}

TEST_F(UpstreamTlsConfigTest, ACertificateNeedsItsKeyAndTheOther) {
    write_pair("client.pem", "client.key");
    expect_errors(conf("{cert: client.pem}"), {at("gw.conf", 5, 10) + "upstreams.u.tls: missing required key \"key\""});
    expect_errors(conf("{key: client.key}"), {at("gw.conf", 5, 10) + "upstreams.u.tls: missing required key \"cert\""});
}

TEST_F(UpstreamTlsConfigTest, FilesAreLoadedWithTheListenersChecks) {
    write_pair("old.pem", "old.key", -7200, -3600);
    write("junk.pem", "not a certificate\n");
    std::optional<Config> c = load_text(conf("{ca: junk.pem, cert: old.pem, key: old.key}"));
    EXPECT_FALSE(c);
    std::vector<std::string> got = errors();
    ASSERT_EQ(got.size(), 2u) << ::testing::PrintToString(got);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got[0].rfind(at("gw.conf", 5, 15) + "upstreams.u.tls.ca: no CA certificate in \"" + path("junk.pem") +
                               "\"",
                           0),
              0u)
        << got[0];
    EXPECT_EQ(got[1].rfind(at("gw.conf", 5, 31) + "upstreams.u.tls.cert: \"" + path("old.pem") + "\" expired on ", 0),
              0u)
        << got[1];
}

TEST_F(UpstreamTlsConfigTest, AUnixSocketServerNeedsSni) {
    expect_errors(conf("{}", "unix:/run/app.sock"),
                  {at("gw.conf", 5, 10) + "upstreams.u.tls: server \"unix:/run/app.sock\" is a unix socket, which "
                                          "names no host to check its certificate against: give sni (the name in "
                                          "its certificate), or verify: false"});
    EXPECT_TRUE(load_text(conf("{sni: app.internal}", "unix:/run/app.sock")));
    EXPECT_TRUE(load_text(conf("{verify: false}", "unix:/run/app.sock")));
}

TEST_F(UpstreamTlsConfigTest, HealthChecksProbeOverTls) {
    EXPECT_TRUE(load_text(conf("{}", "127.0.0.1:8443", "    health_check: {path: /health}\n")));
}

TEST(UpstreamServerIdentity, FromSniOrTheAddress) {
    UpstreamTls t;
    ServerIdentity id = server_identity(t, "backend.internal:8443");
    EXPECT_EQ(id.name, "backend.internal");
    EXPECT_FALSE(id.is_ip);
    EXPECT_EQ(id.sni, "backend.internal");

    id = server_identity(t, "10.0.0.5:8443");
    EXPECT_EQ(id.name, "10.0.0.5");
    EXPECT_TRUE(id.is_ip);
    EXPECT_EQ(id.sni, "");  // never an IP literal as SNI

    id = server_identity(t, "[fe80::1%eth0]:443");
    EXPECT_EQ(id.name, "fe80::1");
    EXPECT_TRUE(id.is_ip);
    EXPECT_EQ(id.sni, "");

    id = server_identity(t, "unix:/run/app.sock");
    EXPECT_EQ(id.name, "");
    EXPECT_EQ(id.sni, "");

    t.sni = "internal.example";
    for (const char* address : {"10.0.0.5:8443", "unix:/run/app.sock", "other.example:1"}) {
        id = server_identity(t, address);
        EXPECT_EQ(id.name, "internal.example") << address;
        EXPECT_FALSE(id.is_ip);
        EXPECT_EQ(id.sni, "internal.example");
    }
}

}  // namespace
}  // namespace gw::tls
