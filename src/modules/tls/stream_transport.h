// The TLS transport a stream's request came on, for the module's filter and variables.
#pragma once

#include "http/stream.h"
#include "modules/tls/transport.h"

namespace gw::tls {

namespace detail {

// StreamIo::transport() is the codec's accessor (added with the connection's transport
// wiring). Until that is merged this resolves to "no transport" and the tls module's filter and
// variables see a plain connection; once it is, the `if constexpr` can go.
template <class Io>
const http::Transport* transport_of(Io& io) {
    if constexpr (requires { io.transport(); })
        return io.transport();
    else
        return nullptr;
}

}  // namespace detail

// Null on a plain listener's connection.
inline const TlsTransport* tls_transport(const http::Stream& s) {
    // Stream::io() is not const; nothing is changed through it here.
    http::StreamIo& io = const_cast<http::Stream&>(s).io();
    // static_cast, not dynamic_cast: the tls module makes every transport there is
    // (TlsTransportFactory), so a connection's transport is a TlsTransport.
    return static_cast<const TlsTransport*>(detail::transport_of(io));
}

}  // namespace gw::tls
