// The cache module's configuration (man/gateway.conf.5, RESPONSE CACHE):
//
//   cache:
//     zones: {main: {size: 256m, max_object: 8m}}
//     status_header: X-Cache-Status      # or off
//   routes:
//     - cache: {zone: main, key: [method, host, path, query], default_ttl: 0,
//               stale_while_revalidate: 30s, stale_if_error: 5m, lock_timeout: 5s, methods: [GET, HEAD]}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/module/module.h"

namespace gw::module {
extern const Descriptor cache_module;  // module.cc
}

namespace gw::schema {
class MapReader;
}

namespace gw::cache {

struct ZoneConfig {
    std::string name;
    uint64_t size = 0;
    uint64_t max_object = 8ull << 20;
    std::string shm_name() const { return "cache." + name; }
};

// One part of a key: the request's method, Host, path (normalised), query; a request field
// (header:NAME), a cookie (cookie:NAME), or the authenticated consumer.
struct KeyPart {
    enum class Kind : uint8_t { Method, Host, Path, Query, Header, Cookie, Consumer } kind;
    std::string name;  // Header (lower-case), Cookie
    std::string text() const;
};

struct RoutePolicy {
    size_t zone = 0;  // index into Settings::zones
    std::vector<KeyPart> key;
    int64_t default_ttl = 0;  // milliseconds
    int64_t swr = 0;
    int64_t sie = 0;
    int64_t lock_timeout = 5000;
    bool head = true;  // methods: GET always; HEAD served from GET's objects
};

struct Settings : module::ConfigPart {
    std::vector<ZoneConfig> zones;
    std::string status_header = "x-cache-status";  // empty: off
    std::vector<RoutePolicy> policies;
    std::vector<int> routes;  // by route index: the policy, -1 none (may be short)

    const RoutePolicy* route(size_t i) const {
        return i < routes.size() && routes[i] >= 0 ? &policies[static_cast<size_t>(routes[i])] : nullptr;
    }
};

const Settings* settings(const Config& c);

void read_sections(schema::MapReader& top, Config& c);
void read_route(schema::MapReader& route, Config& c, size_t index);
void dump(const Config& c, std::string& out);
void dump_route(const Config& c, size_t index, int indent, std::string& out);

}  // namespace gw::cache
