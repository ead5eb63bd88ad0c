// TLS clients for https:// URLs (httpc::UrlTls, http/client/tls.h): the factory the master's key
// set fetcher (and a worker's external authorizer) passes with its requests. Each is an upstream
// client context (upstream_transport.h) for one server, made from the defaults of an upstream's
// `tls:` map: verification on, against the given CA file or the system's trust store, the URL's
// host as the name and the SNI, TLS 1.2 and 1.3, sessions resumed.
#pragma once

#include "http/client/tls.h"

namespace gw::tls {

// The one maker of the process, provided through the services registry by the tls module's
// parts (master and worker); it keeps no state.
httpc::UrlTls& url_tls();

}  // namespace gw::tls
