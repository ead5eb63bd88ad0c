#include "modules/tls/ciphers.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>
#include <string_view>

namespace gw::tls {

namespace {

struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

CtxPtr scratch_ctx() { return CtxPtr(SSL_CTX_new(TLS_server_method())); }

bool is_tls13(const SSL_CIPHER* c) { return std::string_view(SSL_CIPHER_get_version(c)) == "TLSv1.3"; }

// The names of a list: OpenSSL separates them with ':', ',' or spaces.
std::vector<std::string> split(const std::string& list) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : list + ":") {
        if (c == ':' || c == ',' || c == ' ') {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    return out;
}

// `set` applied to a fresh context with `list`: how many ciphers of the protocol (1.3 or not)
// it selects, -1 when OpenSSL refuses the list.
int selected(const std::string& list, bool tls13, int (*set)(SSL_CTX*, const char*), CtxPtr* keep = nullptr) {
    CtxPtr ctx = scratch_ctx();
    if (!ctx) return -1;
    if (set(ctx.get(), list.c_str()) != 1) {
        ERR_clear_error();
        return -1;
    }
    int n = 0;
    STACK_OF(SSL_CIPHER)* all = SSL_CTX_get_ciphers(ctx.get());
    for (int i = 0; i < sk_SSL_CIPHER_num(all); ++i) n += is_tls13(sk_SSL_CIPHER_value(all, i)) == tls13;
    if (keep) *keep = std::move(ctx);
    return n;
}

}  // namespace

CipherCheck check_cipher_list(const std::string& list) {
    CipherCheck out;
    CtxPtr ctx;
    if (selected(list, false, SSL_CTX_set_cipher_list, &ctx) <= 0) {
        out.error = "selects no TLS 1.2 cipher (see openssl-ciphers(1) for the syntax)";
        return out;
    }
    STACK_OF(SSL_CIPHER)* all = SSL_CTX_get_ciphers(ctx.get());
    for (int i = 0; i < sk_SSL_CIPHER_num(all); ++i) {
        const SSL_CIPHER* c = sk_SSL_CIPHER_value(all, i);
        if (is_tls13(c)) continue;
        if (SSL_CIPHER_get_auth_nid(c) == NID_auth_null || SSL_CIPHER_get_cipher_nid(c) == NID_undef) {
            out.error = std::string("selects ") + SSL_CIPHER_get_name(c) +
                        ", without authentication or encryption (add !aNULL:!eNULL)";
            return out;
        }
    }
    // Exclusions ("!x", "-x"), moves ("+x") and directives ("@STRENGTH") select nothing alone.
    for (const std::string& name : split(list))
        if (name[0] != '!' && name[0] != '-' && name[0] != '+' && name[0] != '@' &&
            selected(name, false, SSL_CTX_set_cipher_list) <= 0)
            out.unknown.push_back(name);
    return out;
}

CipherCheck check_ciphersuites(const std::string& list) {
    CipherCheck out;
    if (selected(list, true, SSL_CTX_set_ciphersuites) <= 0) {
        out.error = "selects no TLS 1.3 cipher suite (e.g. TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256)";
        return out;
    }
    for (const std::string& name : split(list))
        if (selected(name, true, SSL_CTX_set_ciphersuites) <= 0) out.unknown.push_back(name);
    return out;
}

}  // namespace gw::tls
