#include "modules/tls/certs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>

#include "modules/tls/ocsp.h"

namespace gw::tls {

void X509Free::operator()(X509* x) const { X509_free(x); }
void PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
void X509StoreFree::operator()(X509_STORE* s) const { X509_STORE_free(s); }

namespace {

constexpr size_t kMaxPemFile = 1 << 20;   // a certificate chain or a CA bundle
constexpr size_t kMaxKeyFile = 64 << 10;
constexpr size_t kMaxPasswordFile = 4 << 10;
constexpr size_t kMaxOcspFile = 1 << 20;

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio(const std::string& data) {
    return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// The password callback of every PEM read: it never prompts on a terminal (OpenSSL's default
// would), and it records that a password was asked for.
struct Password {
    const std::string* text = nullptr;  // null: none configured
    bool asked = false;
};

int password_callback(char* buf, int size, int /*rwflag*/, void* arg) {
    auto* p = static_cast<Password*>(arg);
    if (!p) return -1;
    p->asked = true;
    if (!p->text || p->text->size() > static_cast<size_t>(size)) return -1;
    memcpy(buf, p->text->data(), p->text->size());
    return static_cast<int>(p->text->size());
}

// True when the last error is PEM's "no start line": the end of the file's PEM blocks.
bool at_end_of_pem() {
    unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

time_t to_time(const ASN1_TIME* t) {
    struct tm tm{};
    if (!t || !ASN1_TIME_to_tm(t, &tm)) return 0;
    return timegm(&tm);
}

std::string name_text(const X509_NAME* name) {
    char buf[256];
    if (!X509_NAME_oneline(name, buf, sizeof buf)) return "?";
    return buf;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// A name a client could send as SNI: printable ASCII, no spaces; lower-cased.
bool take_name(const unsigned char* data, int len, std::vector<std::string>& names) {
    if (!data || len <= 0 || len > 253) return false;
    std::string name;
    for (int i = 0; i < len; ++i) {
        unsigned char c = data[i];
        if (c <= 0x20 || c >= 0x7f) return false;
        name += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
    return true;
}

// The DNS subjectAltNames; the subject's CN when there are none.
std::vector<std::string> certificate_names(X509* leaf) {
    std::vector<std::string> names;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS)
            take_name(ASN1_STRING_get0_data(g->d.dNSName), ASN1_STRING_length(g->d.dNSName), names);
    }
    GENERAL_NAMES_free(sans);
    if (!names.empty()) return names;
    const X509_NAME* subject = X509_get_subject_name(leaf);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
        unsigned char* utf8 = nullptr;
        int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
        if (len > 0) take_name(utf8, len, names);
        OPENSSL_free(utf8);
    }
    return names;
}

// Reads the PEM certificates of `data`: at least one. False with `why`.
bool read_certificates(const std::string& data, std::vector<X509Ptr>& out, std::string& why) {
    BioPtr bio = memory_bio(data);
    Password none;
    ERR_clear_error();
    for (;;) {
        X509* x = PEM_read_bio_X509(bio.get(), nullptr, password_callback, &none);
        if (!x) break;
        out.emplace_back(x);
    }
    if (!out.empty() && at_end_of_pem()) {
        ERR_clear_error();
        return true;
    }
    why = out.empty() && at_end_of_pem() ? "no PEM certificate in it" : openssl_errors();
    ERR_clear_error();
    return false;
}

bool read_key(Certificate& cert, const CertificateKeys& at, Diagnostics& diags) {
    std::string password, data, why;
    if (!cert.password_file.empty()) {
        if (!read_small_file(cert.password_file, kMaxPasswordFile, password, why)) {
            diags.error(at.password_file, at.path + ".password_file: cannot read " + quoted(cert.password_file) +
                                              ": " + why);
            return false;
        }
        password.resize(std::min(password.find('\n'), password.size()));  // the first line
        if (!password.empty() && password.back() == '\r') password.pop_back();
    }
    bool ok = read_small_file(cert.key_path, kMaxKeyFile, data, why);
    if (!ok) {
        diags.error(at.key, at.path + ".key: cannot read " + quoted(cert.key_path) + ": " + why);
    } else {
        Password pw{cert.password_file.empty() ? nullptr : &password, false};
        BioPtr bio = memory_bio(data);
        ERR_clear_error();
        cert.key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, password_callback, &pw));
        if (!cert.key) {
            ok = false;
            std::string reason = openssl_errors();
            if (pw.asked && !pw.text)
                diags.error(at.key, at.path + ".key: " + quoted(cert.key_path) +
                                        " is encrypted: give its password in password_file");
            else if (pw.asked)
                diags.error(at.key, at.path + ".key: cannot decrypt " + quoted(cert.key_path) +
                                        ": bad password (password_file " + quoted(cert.password_file) + ")");
            else
                diags.error(at.key, at.path + ".key: no private key in " + quoted(cert.key_path) + ": " + reason);
        }
    }
    OPENSSL_cleanse(password.data(), password.size());
    OPENSSL_cleanse(data.data(), data.size());
    return ok;
}

void check_validity(const Certificate& cert, const CertificateKeys& at, time_t now, Diagnostics& diags) {
    std::string what = at.path + ".cert: " + quoted(cert.cert_path);
    if (cert.not_after <= now) {
        diags.error(at.cert, what + " expired on " + format_utc(cert.not_after));
    } else if (cert.not_after - now < kExpiryWarning) {
        time_t days = (cert.not_after - now) / 86400;
        diags.warning(at.cert, what + " expires on " + format_utc(cert.not_after) + ", in " + std::to_string(days) +
                                   (days == 1 ? " day" : " days"));
    }
    time_t not_before = to_time(X509_get0_notBefore(cert.leaf.get()));
    if (not_before > now)
        diags.warning(at.cert, what + " is not valid before " + format_utc(not_before) + " (is the clock right?)");
}

// Each certificate of the file must be issued by the next one: a leaf served without its
// intermediates (or with them in the wrong order) verifies in some clients and not in others.
void check_chain(const Certificate& cert, const CertificateKeys& at, Diagnostics& diags) {
    X509* child = cert.leaf.get();
    for (size_t i = 0; i < cert.chain.size(); ++i) {
        X509* parent = cert.chain[i].get();
        if (X509_check_issued(parent, child) != X509_V_OK) {
            diags.warning(at.cert, at.path + ".cert: " + quoted(cert.cert_path) + ": certificate " +
                                       std::to_string(i + 2) + " (" + name_text(X509_get_subject_name(parent)) +
                                       ") did not issue certificate " + std::to_string(i + 1) + " (issuer " +
                                       name_text(X509_get_issuer_name(child)) +
                                       "): the chain is incomplete or out of order (leaf first, then each issuer)");
            return;
        }
        child = parent;
    }
}

}  // namespace

std::string openssl_errors() {
    std::string out;
    char buf[256];
    while (unsigned long e = ERR_get_error()) {
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    ERR_clear_error();
    return out.empty() ? "unknown reason" : out;
}

std::string format_utc(time_t t) {
    struct tm tm{};
    char buf[64];
    if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm)) return "?";
    return buf;
}

bool load_certificate(Certificate& cert, const CertificateKeys& at, time_t now, Diagnostics& diags) {
    std::string data, why;
    std::vector<X509Ptr> certs;
    if (!read_small_file(cert.cert_path, kMaxPemFile, data, why)) {
        diags.error(at.cert, at.path + ".cert: cannot read " + quoted(cert.cert_path) + ": " + why);
    } else if (!read_certificates(data, certs, why)) {
        diags.error(at.cert, at.path + ".cert: no certificate in " + quoted(cert.cert_path) + ": " + why);
    }
    bool key_ok = read_key(cert, at, diags);
    if (certs.empty()) return false;

    cert.leaf = std::move(certs.front());
    cert.chain.clear();
    for (size_t i = 1; i < certs.size(); ++i) cert.chain.push_back(std::move(certs[i]));
    cert.names = certificate_names(cert.leaf.get());
    cert.not_after = to_time(X509_get0_notAfter(cert.leaf.get()));
    size_t errors = diags.error_count();
    check_validity(cert, at, now, diags);
    check_chain(cert, at, diags);
    if (!key_ok) return false;

    cert.key_type = EVP_PKEY_get_base_id(cert.key.get());
    ERR_clear_error();
    if (X509_check_private_key(cert.leaf.get(), cert.key.get()) != 1) {
        diags.error(at.key, at.path + ".key: " + quoted(cert.key_path) + " does not match the certificate " +
                                quoted(cert.cert_path) + ": " + openssl_errors());
    }
    return diags.error_count() == errors;
}

bool load_client_ca(ClientAuth& auth, const std::string& path, const Mark& ca_at, const Mark& crl_at, time_t now,
                    Diagnostics& diags) {
    std::string data, why;
    std::vector<X509Ptr> cas;
    if (!read_small_file(auth.ca_path, kMaxPemFile, data, why)) {
        diags.error(ca_at, path + ".ca: cannot read " + quoted(auth.ca_path) + ": " + why);
        return false;
    }
    if (!read_certificates(data, cas, why)) {
        diags.error(ca_at, path + ".ca: no CA certificate in " + quoted(auth.ca_path) + ": " + why);
        return false;
    }
    std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509StoreFree{});
    if (!store) {
        diags.error(ca_at, path + ".ca: " + openssl_errors());
        return false;
    }
    for (X509Ptr& ca : cas) {
        time_t not_after = to_time(X509_get0_notAfter(ca.get()));
        if (not_after <= now)
            diags.warning(ca_at, path + ".ca: " + quoted(auth.ca_path) + ": the CA certificate " +
                                     name_text(X509_get_subject_name(ca.get())) + " expired on " +
                                     format_utc(not_after) + " (no certificate it issued verifies)");
        X509_STORE_add_cert(store.get(), ca.get());  // takes its own reference
    }
    ERR_clear_error();  // X509_STORE_add_cert refuses a duplicate: not a problem
    auth.ca_names = std::move(cas);

    if (!auth.crl_path.empty()) {
        bool ok = read_small_file(auth.crl_path, kMaxPemFile, data, why);
        if (!ok) {
            diags.error(crl_at, path + ".crl: cannot read " + quoted(auth.crl_path) + ": " + why);
            return false;
        }
        BioPtr bio = memory_bio(data);
        int count = 0;
        ERR_clear_error();
        while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, password_callback, nullptr)) {
            ++count;
            time_t next = to_time(X509_CRL_get0_nextUpdate(crl));
            if (next && next <= now)
                diags.warning(crl_at, path + ".crl: " + quoted(auth.crl_path) + ": the CRL of " +
                                          name_text(X509_CRL_get_issuer(crl)) + " was due for an update on " +
                                          format_utc(next) + ": client certificates it covers are refused");
            X509_STORE_add_crl(store.get(), crl);
            X509_CRL_free(crl);
        }
        if (count == 0 || !at_end_of_pem()) {
            diags.error(crl_at, path + ".crl: no CRL in " + quoted(auth.crl_path) + ": " +
                                    (count == 0 && at_end_of_pem() ? "no PEM CRL in it" : openssl_errors()));
            ERR_clear_error();
            return false;
        }
        ERR_clear_error();
        // As nginx's ssl_crl: every certificate of a client's chain is checked against its
        // issuer's CRL.
        X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    auth.store = std::move(store);
    return true;
}

void load_ocsp_staple(const std::string& file, const Certificate& cert, const std::string& key, const Mark& at,
                      time_t now, Diagnostics& diags, std::string& out) {
    std::string data, why;
    std::string what = key + ": " + quoted(file);
    out.clear();
    if (!read_small_file(file, kMaxOcspFile, data, why)) {
        diags.warning(at, what + ": cannot read it (" + why + "): nothing is stapled");
        return;
    }
    std::string problem = ocsp_staple_problem(data, cert, now);
    if (!problem.empty()) {
        diags.warning(at, what + ": " + problem + ": nothing is stapled");
        return;
    }
    out = std::move(data);
}

}  // namespace gw::tls
