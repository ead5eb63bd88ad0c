// Reading a listener's `tls:` map and a route's `require_client_cert`, the checks across them,
// and writing them back for `gatewayd -T` (config.cc). The files the map names are loaded as it
// is read (certs.h), so a configuration that loads can serve.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "core/config/schema.h"
#include "modules/tls/config.h"

namespace gw {
struct Config;
}

namespace gw::tls {

// The `tls:` map `node` of a listener, at `path` ("listeners[0].tls"); relative paths resolve
// against `prefix`. Problems go to `diags`; what could be read is returned all the same.
ListenerTls read_listener_tls(const schema::Node& node, const std::string& path, const std::string& prefix,
                              Diagnostics& diags);

// A route's `require_client_cert: true|false` into `s`.
void read_require_client_cert(schema::MapReader& route, size_t index, Settings& s);

// After everything was read: `session_tickets: {shared: redis}` needs `redis:`, and a route that
// requires a client certificate needs a listener that asks for one.
void check_settings(const Settings& s, const Config& c, Diagnostics& diags);

// The `tls:` map, every key with its effective value (paths, never contents), at `indent`.
void dump_listener_tls(const ListenerTls& tls, int indent, std::string& out);

}  // namespace gw::tls
