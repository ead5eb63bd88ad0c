// The URL of a remote JWK Set or of an external authorizer, taken apart and resolved when the
// configuration is loaded, so that fetches never wait for a resolver (http/client/client.h).
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace gw::auth {

struct FetchUrl {
    bool tls = false;           // https:// (through the tls module's client: http/client/tls.h)
    std::string host;           // the Host header: the authority as written ("id.example.com:8443")
    std::string target;         // origin-form: "/.well-known/jwks.json?x=1" (no fragment)
    std::string host_port;      // what to resolve: "HOST:PORT" or "[IPv6]:PORT"
    sockaddr_storage address{};  // resolved by the configuration reader (getaddrinfo's first)
    socklen_t address_len = 0;
};

// Takes `url` apart: http[s]://HOST[:PORT][/PATH][?QUERY][#FRAGMENT], HOST a name, an IPv4
// address or [IPv6]; no user info, no control characters or spaces. Pure (fuzzed by
// t/fuzz/fuzz_jwks_url.cc); the address is left to resolve. False with `error` saying why.
bool parse_fetch_url(std::string_view url, FetchUrl& out, std::string& error);

}  // namespace gw::auth
