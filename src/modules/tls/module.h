// The tls module: TLS on listeners (a listener's `tls:` map, a route's `require_client_cert`).
// The configuration side (config.cc, certs.cc, ciphers.cc) reads and checks the keys and loads
// certificates and keys in the master; the worker side (worker.cc) builds each worker's
// SSL_CTXs from them and provides the listeners' transports (http/transport.h); vars.cc has the
// $ssl_* variables. Their meeting point is this header and config.h.
#pragma once

#include <memory>
#include <span>

#include "core/module/module.h"
#include "http/vars/vars.h"
#include "modules/tls/config.h"

namespace gw::module {
extern const Descriptor tls_module;
}

namespace gw::tls {

// What the module read from `config`, or nullptr when nothing in it uses TLS.
const Settings* settings(const Config& config);

// A worker's side: nullptr when the configuration has no TLS listener.
std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env);

// $ssl_protocol, $ssl_cipher, $ssl_server_name, ...
std::span<const http::vars::Definition> variables();

}  // namespace gw::tls
