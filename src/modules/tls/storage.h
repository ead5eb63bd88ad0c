// Where a TLS listener's resumption state lives: its shared-memory zones, one per listener and
// kind, named from the listener's address (stable across reloads, distinct between listeners;
// "127.0.0.1:443" is written 127.0.0.1_443: zone names are [a-z0-9_.-]):
//
//   tls-sessions.ADDRESS   the session cache (session_cache.h), `session_cache:` bytes; a
//                          reload that changes the size makes it afresh (sessions start over)
//   tls-tickets.ADDRESS    the ticket keys (ticket_keys.h), a fixed size, so that any reload
//                          keeps them
//
// A zone per listener rather than one for all: a listener's cache is sized by its own
// `session_cache:`, and a listener whose size changes starts over alone. Resumption is scoped
// per listener by the zones as well as by the session id contexts (context.h).
//
// Both are kept across reloads and adopted by a binary upgrade like every zone; the master lays
// them out (and makes the first ticket keys) when it creates them, before workers fork.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/module/module.h"

namespace gw::tls {

std::string session_zone_name(std::string_view listener_address);
std::string ticket_zone_name(std::string_view listener_address);

// The zones of every TLS listener of `config` that resumes.
void resumption_zones(const Config& config, std::vector<module::ZoneSpec>& out);

// The Descriptor's `zones`: resumption_zones, and the OCSP staple zone ("tls-ocsp",
// staple_zone.h) when a certificate fetches its staple.
void tls_zones(const Config& config, std::vector<module::ZoneSpec>& out);

}  // namespace gw::tls
