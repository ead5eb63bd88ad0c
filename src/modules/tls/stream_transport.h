// The TLS transport a stream's request came on, for the module's filter and variables.
#pragma once

#include "http/stream.h"
#include "modules/tls/transport.h"

namespace gw::tls {

// Null on a plain listener's connection.
inline const TlsTransport* tls_transport(const http::Stream& s) {
    // Stream::io() is not const; nothing is changed through it here.
    http::StreamIo& io = const_cast<http::Stream&>(s).io();
    // static_cast, not dynamic_cast: the tls module makes every transport there is
    // (TlsTransportFactory), so a connection's transport is a TlsTransport.
    return static_cast<const TlsTransport*>(io.transport());
}

}  // namespace gw::tls
