// The access-rules module's configuration: `access: {allow: [CIDR...], deny: [CIDR...]}` in a
// listener's map and in a route's map (man/gateway.conf.5, "ACCESS RULES").
//
// One `access:` map is one rule set. An address is refused when it is in `deny`, or when `allow`
// is given and the address is not in it; so deny wins over allow, and a map with only `deny`
// lets everything else through. A request must pass its listener's rule set, then its route's.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/module/module.h"
#include "core/net/ip.h"

namespace gw::schema {
class MapReader;
}

namespace gw::access {

struct AccessRules {
    std::vector<net::Cidr> allow;  // empty: no `allow:` (everything not denied passes)
    std::vector<net::Cidr> deny;

    // No rule set here (an `access:` map always has at least one network: empty lists are refused).
    bool empty() const { return allow.empty() && deny.empty(); }
    // Whether `ip` may pass this rule set. An IPv4-mapped IPv6 address is the IPv4 address
    // already (net::IpAddress), so it matches IPv4 networks.
    bool permits(const net::IpAddress& ip) const {
        if (net::contains(deny, ip)) return false;
        return allow.empty() || net::contains(allow, ip);
    }
};

// The module's part of a configuration: a rule set per listener and per route, by index
// (Config::listeners, Config::routes). Present only when some listener or route has `access:`.
struct AccessConfig : module::ConfigPart {
    std::vector<AccessRules> listeners;  // may be shorter than Config::listeners (no rules past it)
    std::vector<AccessRules> routes;     // likewise for Config::routes

    // The rule set of listener / route `i`, or nullptr when it has none.
    const AccessRules* listener(size_t i) const { return at(listeners, i); }
    const AccessRules* route(size_t i) const { return at(routes, i); }
    bool any_listener_rules() const;

    // Stores `rules` as listener / route `i`'s.
    void set_listener(size_t i, AccessRules rules) { put(listeners, i, std::move(rules)); }
    void set_route(size_t i, AccessRules rules) { put(routes, i, std::move(rules)); }

  private:
    static const AccessRules* at(const std::vector<AccessRules>& v, size_t i) {
        return i < v.size() && !v[i].empty() ? &v[i] : nullptr;
    }
    static void put(std::vector<AccessRules>& v, size_t i, AccessRules rules) {
        if (v.size() <= i) v.resize(i + 1);
        v[i] = std::move(rules);
    }
};

// Reads the `access:` key of a listener's or route's map (taking it, so the map's finish()
// knows it). False when absent or invalid; every problem is reported, FILE:LINE:COL, with the
// key's path ("routes[2].access.allow[0]").
bool read_rules(schema::MapReader& parent, AccessRules& out);

// Appends the rule set as it loads back, `access:` at `indent` spaces, for `gatewayd -T`.
// Bare addresses are written with their prefix length ("192.0.2.1/32").
void dump_rules(const AccessRules& rules, int indent, std::string& out);

}  // namespace gw::access
