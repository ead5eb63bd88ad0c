// The tls module's httpc::TlsClients (http/client/tls.h): TLS clients for the outbound HTTP client.
//   - for_url: the master's key-set fetcher and a worker's external authorizer; an upstream client
//     context (upstream_transport.h) for one server, made from the defaults of an upstream's
//     `tls:` map: verification on, against the given CA file or the system's trust store, the
//     URL's host as the name and the SNI, TLS 1.2 and 1.3, sessions resumed;
//   - for_upstream: the master's health probes of an upstream with `tls:`, through the same
//     context the workers' proxy builds for it.
#pragma once

#include "http/client/tls.h"

namespace gw::tls {

// The one maker of the process, provided through the services registry by the tls module's
// parts (master and worker); it keeps no state.
httpc::TlsClients& tls_clients();

}  // namespace gw::tls
