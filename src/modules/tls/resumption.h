// A listener's session resumption in one worker (context.h's Resumption): the session cache
// its workers share (session_cache.h) and the ticket keys the master makes (ticket_keys.h),
// installed on the listener's session context as OpenSSL callbacks.
//
//   cache     SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL: no per-process copy; new
//             sessions go to the zone (as DER, encoded into this object's scratch buffer, not
//             under the lock), lookups decode what the zone copied out. TLS 1.3 stores only
//             stateful tickets (session_tickets: off); its stateless tickets carry the session.
//   tickets   SSL_CTX_set_tlsext_ticket_key_evp_cb: encrypt under the current key; decrypt
//             under the current one (1), or the previous or next one (2: the client gets a new
//             ticket under the current key); an unknown key name is a full handshake.
//
// Handshakes log at debug level which way they went (for tests and troubleshooting; the key
// material never is).
#pragma once

#include <openssl/ssl.h>
#include <openssl/types.h>

#include <array>
#include <memory>
#include <string>

#include "modules/tls/context.h"
#include "modules/tls/session_cache.h"
#include "modules/tls/ticket_keys.h"

namespace gw::tls {

class SharedResumption final : public Resumption {
  public:
    // Either may be null (that storage is off for the listener).
    SharedResumption(std::unique_ptr<SessionCache> cache, std::unique_ptr<TicketKeyRing> ring);
    ~SharedResumption() override;
    SharedResumption(const SharedResumption&) = delete;
    SharedResumption& operator=(const SharedResumption&) = delete;

    bool install(SSL_CTX* session_ctx, const ListenerTls& tls, std::string& error) override;

    SessionCache* cache() const { return cache_.get(); }
    TicketKeyRing* ring() const { return ring_.get(); }

  private:
    static int on_new_session(SSL* ssl, SSL_SESSION* session);
    static SSL_SESSION* on_get_session(SSL* ssl, const unsigned char* id, int id_len, int* copy);
    static void on_remove_session(SSL_CTX* ctx, SSL_SESSION* session);
    static int on_ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                             EVP_MAC_CTX* mac, int encrypt);

    int new_session(SSL* ssl, SSL_SESSION* session);
    SSL_SESSION* get_session(const unsigned char* id, int id_len);
    int ticket_key(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt);

    std::unique_ptr<SessionCache> cache_;
    std::unique_ptr<TicketKeyRing> ring_;
    TicketKeys keys_;                    // this worker's copy of the ring (ticket_keys.h)
    EVP_CIPHER* aes_ = nullptr;          // fetched once: no provider lookup per ticket
    std::array<unsigned char, kMaxSessionBytes> scratch_{};  // one DER at a time (one thread)
};

}  // namespace gw::tls
