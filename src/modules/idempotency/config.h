// The idempotency module's configuration (man/gateway.conf.5, IDEMPOTENCY):
//
//   idempotency_zone_size: 16m
//   idempotency:
//     payments: {methods: [POST, PATCH], header: idempotency-key, required: true, ttl: 24h,
//                scope: global, max_response: 64k, key_by: [consumer, route], fingerprint: body,
//                on_store_error: reject, store_5xx: false}
//   routes:
//     - {name: pay, match: {path_prefix: /pay/}, upstream: payments, idempotency: payments}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/module/module.h"

namespace gw::module {
extern const Descriptor idempotency_module;  // module.cc
}

namespace gw::schema {
class MapReader;
}

namespace gw::idempotency {

struct Policy {
    enum class Scope : uint8_t { Local, Global };
    enum class Fingerprint : uint8_t { Body, None };  // None: method and path (with query) only
    enum class OnStoreError : uint8_t { Reject, Allow };
    std::string name;
    Mark mark;
    std::vector<std::string> methods = {"POST", "PATCH"};
    std::string header = "idempotency-key";  // lower-case
    bool required = false;
    Millis ttl = 24 * 3600 * 1000;
    // How long a claim may stay in flight: past it the key is free again (a claim whose holder
    // died, or a request slower than this; the fencing token tells the backend).
    Millis lease = 60 * 1000;
    Scope scope = Scope::Local;
    uint64_t max_response = 64 * 1024;  // status line, stored fields and body
    bool by_consumer = true, by_route = true;  // key_by
    Fingerprint fingerprint = Fingerprint::Body;
    OnStoreError on_store_error = OnStoreError::Reject;
    bool store_5xx = false;
};

struct Settings : module::ConfigPart {
    uint64_t zone_size = 16ull << 20;  // the "idempotency" zone (claims and stored responses)
    std::vector<Policy> policies;
    std::vector<int> routes;  // the policy of route i (index into policies), -1: none; may be short

    const Policy* route(size_t i) const {
        return i < routes.size() && routes[i] >= 0 ? &policies[static_cast<size_t>(routes[i])] : nullptr;
    }
    bool any_global() const {
        for (const Policy& p : policies)
            if (p.scope == Policy::Scope::Global) return true;
        return false;
    }
};

const Settings* settings(const Config& c);

void read_sections(schema::MapReader& top, Config& c);
void read_route(schema::MapReader& route, Config& c, size_t index);
void dump(const Config& c, std::string& out);
void dump_route(const Config& c, size_t index, int indent, std::string& out);

}  // namespace gw::idempotency
