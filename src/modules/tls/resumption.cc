#include "modules/tls/resumption.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cstring>
#include <ctime>
#include <span>

#include "core/log.h"

namespace gw::tls {

namespace {

SharedResumption* of(Resumption* r) { return static_cast<SharedResumption*>(r); }

bool set_mac_key(EVP_MAC_CTX* mac, const std::array<unsigned char, 32>& key) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.data()), key.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(mac, params) == 1;
}

}  // namespace

SharedResumption::SharedResumption(std::unique_ptr<SessionCache> cache, std::unique_ptr<TicketKeyRing> ring)
    : cache_(std::move(cache)), ring_(std::move(ring)) {}

SharedResumption::~SharedResumption() {
    EVP_CIPHER_free(aes_);
    OPENSSL_cleanse(&keys_, sizeof keys_);
}

bool SharedResumption::install(SSL_CTX* ctx, const ListenerTls& tls, std::string& error) {
    if (cache_ && tls.session_cache_bytes) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
        SSL_CTX_sess_set_get_cb(ctx, on_get_session);
        SSL_CTX_sess_set_remove_cb(ctx, on_remove_session);
    }
    if (ring_ && tls.session_tickets) {
        aes_ = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
        if (!aes_) {
            error = "session tickets: no AES-256-CBC: " + take_openssl_errors("not available");
            return false;
        }
        if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key) != 1) {
            error = "session tickets: cannot set the key callback: " + take_openssl_errors("refused");
            return false;
        }
    }
    return true;
}

// --- the shared cache ----------------------------------------------------------------------------

int SharedResumption::on_new_session(SSL* ssl, SSL_SESSION* session) {
    Resumption* r = resumption_of(ssl);
    return r ? of(r)->new_session(ssl, session) : 0;
}

SSL_SESSION* SharedResumption::on_get_session(SSL* ssl, const unsigned char* id, int id_len, int* copy) {
    *copy = 0;  // the session returned is OpenSSL's to free
    Resumption* r = resumption_of(ssl);
    return r ? of(r)->get_session(id, id_len) : nullptr;
}

void SharedResumption::on_remove_session(SSL_CTX* ctx, SSL_SESSION* session) {
    Resumption* r = resumption_of(ctx);
    if (!r || !of(r)->cache_) return;
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(session, &len);
    of(r)->cache_->remove({id, len});
}

// Returns 0: the cache keeps a copy (the DER), not a reference to `session`.
int SharedResumption::new_session(SSL* ssl, SSL_SESSION* session) {
    if (!cache_) return 0;
    // A TLS 1.3 session with stateless tickets is in the ticket itself; OpenSSL reports it
    // here (with a dummy id) all the same.
    if (SSL_version(ssl) == TLS1_3_VERSION && (SSL_get_options(ssl) & SSL_OP_NO_TICKET) == 0) return 0;
    unsigned int id_len = 0;
    const unsigned char* id = SSL_SESSION_get_id(session, &id_len);
    int len = i2d_SSL_SESSION(session, nullptr);
    if (len <= 0) return 0;
    if (static_cast<size_t>(len) > scratch_.size()) {
        cache_->count_oversize();
        LOG_DEBUG("TLS session of %d bytes not stored in the shared cache (more than %zu)", len, scratch_.size());
        return 0;
    }
    unsigned char* p = scratch_.data();
    if (i2d_SSL_SESSION(session, &p) != len) return 0;
    int64_t expires = static_cast<int64_t>(SSL_SESSION_get_time(session)) + SSL_SESSION_get_timeout(session);
    SessionCache::Stored s = cache_->store({id, id_len}, {scratch_.data(), static_cast<size_t>(len)}, expires,
                                           time(nullptr));
    if (s == SessionCache::Stored::Yes)
        LOG_DEBUG("TLS session stored in the shared cache");
    else
        LOG_DEBUG("TLS session not stored in the shared cache (%s)", s == SessionCache::Stored::Full ? "full" : "refused");
    return 0;
}

SSL_SESSION* SharedResumption::get_session(const unsigned char* id, int id_len) {
    if (!cache_ || id_len <= 0) return nullptr;
    size_t len = cache_->fetch({id, static_cast<size_t>(id_len)}, time(nullptr), scratch_);
    if (len == 0) {
        LOG_DEBUG("TLS session not in the shared cache");
        return nullptr;
    }
    const unsigned char* p = scratch_.data();
    SSL_SESSION* session = d2i_SSL_SESSION(nullptr, &p, static_cast<long>(len));
    if (session) LOG_DEBUG("TLS session found in the shared cache");
    return session;
}

// --- ticket keys -----------------------------------------------------------------------------------

int SharedResumption::on_ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                                    EVP_MAC_CTX* mac, int encrypt) {
    Resumption* r = resumption_of(ssl);
    return r ? of(r)->ticket_key(name, iv, cipher, mac, encrypt) : 0;
}

int SharedResumption::ticket_key(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                                 int encrypt) {
    if (!ring_ || !aes_) return 0;
    // One relaxed load per ticket; the keys are copied again only after the master wrote them.
    if (ring_->sequence() != keys_.sequence) ring_->read(keys_);
    if (keys_.sequence == 0) return 0;  // no consistent copy yet: no ticket, a full handshake
    const int iv_len = EVP_CIPHER_get_iv_length(aes_);
    if (encrypt) {
        const TicketKey& k = keys_.current;
        std::memcpy(name, k.name.data(), k.name.size());
        if (RAND_bytes(iv, iv_len) != 1 || EVP_EncryptInit_ex2(cipher, aes_, k.aes.data(), iv, nullptr) != 1 ||
            !set_mac_key(mac, k.hmac))
            return -1;
        LOG_DEBUG("TLS session ticket issued under the current key");
        return 1;
    }
    const TicketKey* k = nullptr;
    int result = 1;
    const char* which = "current";
    auto named = [&](const TicketKey& key) { return std::memcmp(name, key.name.data(), key.name.size()) == 0; };
    if (named(keys_.current)) {
        k = &keys_.current;
    } else if (named(keys_.previous)) {
        k = &keys_.previous, result = 2, which = "previous";
    } else if (named(keys_.next)) {
        k = &keys_.next, result = 2, which = "next";
    }
    if (!k) {
        LOG_DEBUG("TLS session ticket under an unknown key: a full handshake");
        return 0;
    }
    if (EVP_DecryptInit_ex2(cipher, aes_, k->aes.data(), iv, nullptr) != 1 || !set_mac_key(mac, k->hmac)) return -1;
    LOG_DEBUG("TLS session ticket under the %s key%s", which, result == 2 ? " (to be renewed)" : "");
    return result;
}

}  // namespace gw::tls
