#include "modules/tls/ocsp.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <memory>

#include "modules/tls/certs.h"
#include "modules/tls/staple_zone.h"

namespace gw::tls {

namespace {

// Clocks differ: a response made a moment ago by a responder a little ahead of us is good.
constexpr time_t kClockSkew = 300;

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using ResponsePtr = std::unique_ptr<OCSP_RESPONSE, Deleter<OCSP_RESPONSE, OCSP_RESPONSE_free>>;
using BasicPtr = std::unique_ptr<OCSP_BASICRESP, Deleter<OCSP_BASICRESP, OCSP_BASICRESP_free>>;
using CertIdPtr = std::unique_ptr<OCSP_CERTID, Deleter<OCSP_CERTID, OCSP_CERTID_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;

time_t to_time(const ASN1_GENERALIZEDTIME* t) {
    struct tm tm{};
    if (!t || !ASN1_TIME_to_tm(t, &tm)) return 0;
    return timegm(&tm);
}

std::string serial_text(X509* x) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
    char* hex = bn ? BN_bn2hex(bn) : nullptr;
    std::string out = hex ? hex : "?";
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

// The single response about `leaf` (issued by `issuer`), whatever digest its CertID uses.
bool find_status(OCSP_BASICRESP* basic, X509* leaf, X509* issuer, int& status, int& reason, ASN1_GENERALIZEDTIME*& rev,
                 ASN1_GENERALIZEDTIME*& this_update, ASN1_GENERALIZEDTIME*& next_update) {
    for (const EVP_MD* md : {EVP_sha1(), EVP_sha256(), EVP_sha384(), EVP_sha512()}) {
        CertIdPtr id(OCSP_cert_to_id(md, leaf, issuer));
        if (id && OCSP_resp_find_status(basic, id.get(), &status, &reason, &rev, &this_update, &next_update) == 1)
            return true;
    }
    return false;
}

// Signed by the issuer, or by a responder certificate the issuer signed for OCSP (RFC 6960
// 4.2.2.2), checked as a client would: the issuer is the trust anchor here.
bool signed_by_issuer(OCSP_BASICRESP* basic, const Certificate& cert, X509* issuer) {
    StorePtr store(X509_STORE_new());
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    bool ok = store && untrusted && X509_STORE_add_cert(store.get(), issuer) == 1;
    if (ok) {
        // The issuer may be an intermediate: it is the anchor, its own chain does not matter.
        X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
        for (const X509Ptr& c : cert.chain) ok = ok && sk_X509_push(untrusted, c.get()) > 0;
    }
    ok = ok && OCSP_basic_verify(basic, untrusted, store.get(), 0) == 1;
    sk_X509_free(untrusted);
    return ok;
}

// SSL_CTX_set_tlsext_status_cb: called (server side) only when the client asked for a status,
// after the certificate was chosen. OpenSSL frees what it is given: a copy per handshake.
int staple_status(SSL* ssl, void* arg) {
    const auto* staples = static_cast<const OcspStaples*>(arg);
    std::string_view der = staples->find(SSL_get_certificate(ssl), time(nullptr));
    if (der.empty()) return SSL_TLSEXT_ERR_NOACK;
    auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der.size()));
    if (!copy) return SSL_TLSEXT_ERR_NOACK;
    std::memcpy(copy, der.data(), der.size());
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size())) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

OcspCheck check_ocsp_response(std::string_view der, const Certificate& cert, time_t now) {
    OcspCheck out;
    auto unusable = [&out](std::string why) {
        out.problem = std::move(why);
        return out;
    };
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ERR_clear_error();
    ResponsePtr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
    if (!resp) return unusable("not a DER OCSP response (" + openssl_errors() + ")");
    if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
        return unusable("not a DER OCSP response (bytes after its end)");
    int status = OCSP_response_status(resp.get());
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        return unusable(std::string("the OCSP response's status is ") + OCSP_response_status_str(status));
    BasicPtr basic(OCSP_response_get1_basic(resp.get()));
    if (!basic) return unusable("the OCSP response has no basic response (" + openssl_errors() + ")");
    if (!cert.leaf) return unusable("the certificate did not load");
    if (cert.chain.empty())
        return unusable(
            "the certificate's file has no issuer certificate after it, so the response cannot be checked "
            "(clients need it too)");
    X509* issuer = cert.chain.front().get();

    int cert_status = 0, reason = 0;
    ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
    if (!find_status(basic.get(), cert.leaf.get(), issuer, cert_status, reason, revoked_at, this_update, next_update)) {
        ERR_clear_error();
        return unusable("the OCSP response is not for the certificate \"" + cert.cert_path + "\" (serial " +
                        serial_text(cert.leaf.get()) + ")");
    }
    if (!signed_by_issuer(basic.get(), cert, issuer))
        return unusable("the OCSP response is not signed by the certificate's issuer or a responder it delegated to (" +
                        openssl_errors() + ")");
    ERR_clear_error();
    out.this_update = to_time(this_update);
    out.next_update = next_update ? to_time(next_update) : 0;
    if (cert_status == V_OCSP_CERTSTATUS_REVOKED) {
        out.verdict = OcspVerdict::Revoked;
        out.problem = "the OCSP response says the certificate was revoked on " + format_utc(to_time(revoked_at)) +
                      " (" + OCSP_crl_reason_str(reason) + ")";
        return out;
    }
    if (cert_status != V_OCSP_CERTSTATUS_GOOD) return unusable("the OCSP response says the certificate's status is unknown");
    if (out.this_update > now + kClockSkew)
        return unusable("the OCSP response is not valid before " + format_utc(out.this_update) + " (is the clock right?)");
    if (next_update && out.next_update <= now)
        return unusable("the OCSP response was due for an update on " + format_utc(out.next_update) +
                        " (refresh the file, then reload)");
    out.verdict = OcspVerdict::Good;
    return out;
}

std::string ocsp_staple_problem(std::string_view der, const Certificate& cert, time_t now) {
    return check_ocsp_response(der, cert, now).problem;
}

void OcspStaples::build(const ListenerTls& tls, const StapleBoard* fetched) {
    entries_.clear();
    fetched_.clear();
    board_ = fetched;
    for (size_t i = 0; i < tls.certificates.size(); ++i) {
        const Certificate& c = tls.certificates[i];
        if (!c.leaf) continue;
        const std::string& der = staple_of(tls, i);
        if (!der.empty()) {
            entries_.push_back({c.leaf.get(), der, -1});
        } else if (c.ocsp_fetch.enabled && board_) {
            Fetched f;
            if (!cert_key(c.leaf.get(), f.key)) continue;
            f.copy.der.reserve(kMaxStapleBytes);  // no allocation in a handshake
            entries_.push_back({c.leaf.get(), {}, static_cast<int>(fetched_.size())});
            fetched_.push_back(std::move(f));
        }
    }
}

void OcspStaples::install(SSL_CTX* ctx) const {
    if (entries_.empty()) return;
    SSL_CTX_set_tlsext_status_cb(ctx, staple_status);
    SSL_CTX_set_tlsext_status_arg(ctx, const_cast<OcspStaples*>(this));
}

std::string_view OcspStaples::current(Fetched& f, time_t now) const {
    if (f.slot < 0 && (f.slot = board_->find(f.key)) < 0) return {};
    if (board_->sequence(f.slot) != f.copy.sequence) {
        if (!board_->read(f.slot, f.copy)) return {};
        if (f.copy.key != f.key) {  // the slot went to another certificate: look again next time
            f.slot = -1;
            f.copy.sequence = 0;
            f.copy.der.clear();
            return {};
        }
    }
    if (f.copy.der.empty() || (f.copy.next_update && f.copy.next_update <= now)) return {};  // never expired
    return f.copy.der;
}

std::string_view OcspStaples::find(const X509* leaf, time_t now) const {
    for (const Entry& e : entries_)
        if (e.leaf == leaf) return e.fetched < 0 ? e.der : current(fetched_[static_cast<size_t>(e.fetched)], now);
    return {};
}

const std::string& staple_of(const ListenerTls& tls, size_t certificate) {
    const Certificate& c = tls.certificates[certificate];
    if (certificate == 0 && c.ocsp_staple_path.empty()) return tls.ocsp_staple;
    return c.ocsp_staple;
}

}  // namespace gw::tls
