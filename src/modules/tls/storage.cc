#include "modules/tls/storage.h"

#include <chrono>
#include <cstdio>

#include "core/config/config.h"
#include "core/log.h"
#include "modules/tls/module.h"
#include "modules/tls/session_cache.h"
#include "modules/tls/staple_zone.h"
#include "modules/tls/ticket_keys.h"

namespace gw::tls {

namespace {

int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool attach_sessions(shm::Zone& zone, const module::ZoneSpec& spec) {
    if (SessionCache::lay_out(zone)) return true;
    LOG_EMERG("shared memory zone \"%s\" (%s) cannot hold a TLS session cache", zone.name().c_str(),
              format_size(spec.size).c_str());
    return false;
}

bool attach_tickets(shm::Zone& zone, const module::ZoneSpec&) {
    if (TicketKeyRing::lay_out(zone, wall_ms())) return true;
    LOG_EMERG("shared memory zone \"%s\" cannot hold TLS session ticket keys (or no random key could be made)",
              zone.name().c_str());
    return false;
}

}  // namespace

namespace {

// A zone name holds [a-z0-9_.-] and at most 64 characters (it travels in GATEWAYD_INHERIT in a
// binary upgrade): the address's other characters become '_' ("127.0.0.1:443" ->
// "127.0.0.1_443"), and a name still too long becomes a digest of the address.
std::string zone_name(std::string_view prefix, std::string_view address) {
    constexpr size_t kMaxName = 64;
    std::string name(prefix);
    for (char c : address) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
        name += ok ? c : '_';
    }
    if (name.size() <= kMaxName) return name;
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (char c : address) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return std::string(prefix) + hex;
}

}  // namespace

std::string session_zone_name(std::string_view address) { return zone_name("tls-sessions.", address); }
std::string ticket_zone_name(std::string_view address) { return zone_name("tls-tickets.", address); }

void resumption_zones(const Config& config, std::vector<module::ZoneSpec>& out) {
    const Settings* s = settings(config);
    if (!s) return;
    for (size_t i = 0; i < config.listeners.size(); ++i) {
        const ListenerTls* tls = s->listener(i);
        if (!tls) continue;
        const std::string& address = config.listeners[i].address;
        if (tls->session_cache_bytes)
            out.push_back({.name = session_zone_name(address),
                           .size = tls->session_cache_bytes,
                           .version = kSessionCacheLayoutVersion,
                           .kept = "its TLS sessions",
                           .lost = "TLS sessions start over: clients make a full handshake once",
                           .attach = attach_sessions});
        if (tls->session_tickets)
            out.push_back({.name = ticket_zone_name(address),
                           .size = kTicketZoneSize,
                           .version = kTicketZoneLayoutVersion,
                           .kept = "its session ticket keys",
                           .lost = "new session ticket keys: tickets issued before make a full handshake",
                           .attach = attach_tickets});
    }
}

void tls_zones(const Config& config, std::vector<module::ZoneSpec>& out) {
    resumption_zones(config, out);
    const Settings* s = settings(config);
    if (!s) return;
    for (const std::optional<ListenerTls>& tls : s->listeners)
        if (tls)
            for (const Certificate& c : tls->certificates)
                if (c.ocsp_fetch.enabled) {
                    out.push_back(staple_zone_spec());
                    return;
                }
}

}  // namespace gw::tls
