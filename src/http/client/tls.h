// TLS for the outbound HTTP client: https:// URLs (key sets, external authorizers) and health
// probes of upstreams with `tls:`.
//
// The client (client.h) speaks TLS through a client transport (http/transport.h) that a factory
// opens on the connected socket; it names no TLS library. The factories come from the tls module,
// which provides a TlsClients maker through the process's services registry (the master's and
// every worker's): a module asks it for a factory once (when it is made, or configured) and passes
// that factory with each request (Request::tls). Without the tls module built in there is no
// maker, and the configuration refuses https:// URLs (and `tls:` on upstreams) when it is loaded.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace gw {
struct Config;
}
namespace gw::http {
class UpstreamTransportFactory;
}

namespace gw::httpc {

class TlsClients {
  public:
    virtual ~TlsClients() = default;
    // A factory of client transports to `address` ("HOST:PORT" or "[IPv6]:PORT", HOST a DNS name
    // or an IP literal): the certificate is verified against `ca_file` (PEM; empty: the system's
    // trust store) and must carry HOST, which is also the SNI sent (not for an IP literal). Its one
    // server is index 0. Null with `error` set when it cannot be made (a CA file that does not
    // load).
    virtual std::unique_ptr<http::UpstreamTransportFactory> for_url(std::string_view address, const std::string& ca_file,
                                                                    std::string& error) = 0;
    // A factory for the servers of upstream `upstream` of `config` as its `tls:` map says
    // (verification, SNI, client certificate, protocols), servers by their index in the upstream;
    // it refers to `config`, which must outlive it. Null with `error` empty when the upstream has
    // no `tls:`, with `error` set when the context cannot be made.
    virtual std::unique_ptr<http::UpstreamTransportFactory> for_upstream(const Config& config, size_t upstream,
                                                                         std::string& error) = 0;
};

}  // namespace gw::httpc
