// Reading a listener's `tls:` map and a route's `require_client_cert`, the checks across them,
// and writing them back for `gatewayd -T` (config.cc). The files the map names are loaded as it
// is read (certs.h), so a configuration that loads can serve.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

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

// Readers shared by the listener's and the upstream's `tls:` maps (config.cc).
// A file path key: taken, made absolute against `prefix`; false when absent or bad (reported).
bool get_path(schema::MapReader& m, std::string_view key, const std::string& prefix, std::string& out, Mark& at);
// `protocols: [TLSv1.2, TLSv1.3]` into a set of kTls12/kTls13 bits (unsafe versions refused).
void read_protocols(schema::MapReader& m, uint32_t& protocols);
// `ciphers:` (key "ciphers", OpenSSL's TLS 1.2 list) or `ciphersuites:` (TLS 1.3), tried on a
// scratch context; `enabled`: whether `protocol` is in protocols (else a warning).
void read_cipher_key(schema::MapReader& m, std::string_view key, bool enabled, std::string_view protocol,
                     std::string& out);
// "[\"TLSv1.2\", \"TLSv1.3\"]", for dumps.
std::string protocol_list(uint32_t protocols);

}  // namespace gw::tls
