// A TLS listener's server contexts in one worker: one SSL_CTX per "name group" (the certificates
// that serve the same names - an ECDSA and an RSA certificate for www share one context, and
// OpenSSL picks between them by what the client offers), and the SNI lookup that chooses a
// context for a ClientHello.
//
// Built after fork, in each worker (never in the master): no SSL_CTX, cache or lock is shared
// between processes (with OpenSSL 3, handshakes scale badly across threads sharing a context).
//
// Resumption is scoped: every context has its own session id context, made from the listener,
// the group's certificates and the client-auth policy, so a session made under one is never
// resumed under another (nginx CVE-2025-23419). The context is chosen in the ClientHello
// callback, before OpenSSL looks at any session id or ticket.
//
// Without a `Resumption`, OpenSSL's per-process cache and ticket keys serve (a client resumes on
// the worker that made its session). The workers plug in a shared cache and ticket keys made by
// the master (resumption.h): set_up_resumption() is the only place that configures either.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "modules/tls/config.h"
#include "modules/tls/ocsp.h"

namespace gw::tls {

struct SslCtxFree {
    void operator()(SSL_CTX* c) const;
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Where sessions live beyond one worker (resumption.h: a shared-memory cache for all workers,
// ticket keys made by the master). install() is called on the listener's session context (the default
// context: OpenSSL keeps the cache and the ticket keys of a connection on the context it was
// made with, whatever SNI chose later) after the phase 1 defaults were set; it sets the
// new/get/remove session callbacks and SSL_CTX_set_tlsext_ticket_key_evp_cb as it needs.
class Resumption {
  public:
    virtual ~Resumption() = default;
    // False, with `error` set, when the context cannot be set up.
    virtual bool install(SSL_CTX* session_ctx, const ListenerTls& tls, std::string& error) = 0;
};

// The Resumption of the listener whose contexts `ctx` (or the connection `ssl`) belongs to, or
// nullptr: how its OpenSSL callbacks find it, whatever context SNI chose (OpenSSL calls the
// session context's callbacks with the connection, whose context may be another one).
Resumption* resumption_of(const SSL_CTX* ctx);
Resumption* resumption_of(const SSL* ssl);

class ListenerContexts {
  public:
    ListenerContexts() = default;
    ListenerContexts(const ListenerContexts&) = delete;
    ListenerContexts& operator=(const ListenerContexts&) = delete;

    // Builds the contexts of `tls`. `listener_id` names the listener in the session id contexts
    // (its address: stable across reloads, distinct between listeners). `resumption` may be null
    // (OpenSSL's per-process defaults). False, with `error` set (OpenSSL's reason included),
    // when a context cannot be built.
    // `fetched`: the staples the master fetches (staple_zone.h), or null.
    bool build(const ListenerTls& tls, std::string_view listener_id, Resumption* resumption, std::string& error,
               const StapleBoard* fetched = nullptr);

    // The context new connections start on (the first certificate's group); SNI may switch.
    SSL_CTX* default_context() const { return contexts_.empty() ? nullptr : contexts_.front().get(); }
    // The context for a server name as the client sent it (any case): an exact name, then the
    // wildcard one label up ("*.example.com" for "a.example.com"), else the default.
    SSL_CTX* for_server_name(std::string_view name) const;

    size_t context_count() const { return contexts_.size(); }
    const ListenerTls& tls() const { return *tls_; }
    // The listener speaks HTTP/2 (`http2:`): ALPN prefers h2. Set before build().
    void set_http2(bool on) { http2_ = on; }
    bool http2() const { return http2_; }

  private:
    bool http2_ = false;
    struct NameHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using NameMap = std::unordered_map<std::string, uint32_t, NameHash, std::equal_to<>>;

    bool build_group(const std::vector<const Certificate*>& group, std::string_view listener_id,
                     std::string& error);
    bool apply_server_settings(SSL_CTX* ctx, std::string& error) const;
    bool apply_client_auth(SSL_CTX* ctx, std::string& error) const;

    const ListenerTls* tls_ = nullptr;
    std::vector<SslCtxPtr> contexts_;  // [0]: the default
    NameMap exact_;                    // lower-case name -> context index
    NameMap wildcard_;                 // "example.com" for "*.example.com" -> context index
    OcspStaples staples_;              // what the contexts staple, by certificate
};

// OpenSSL's error queue as one line ("reason: reason"), emptied; `fallback` when it is empty.
std::string take_openssl_errors(std::string_view fallback);

}  // namespace gw::tls
