// The tracing module's configuration: the top-level `tracing:` section and a route's
// `tracing: false` (man/gateway.conf.5, "TRACING").
//
//   tracing:
//     otlp: {endpoint: http://127.0.0.1:4318/v1/traces, timeout: 1s, batch: 512, flush: 2s,
//            headers: {authorization: "Bearer ..."}, ca: /etc/ssl/collector-ca.pem}
//     sample: 0.01        # head sampling; a sampled incoming traceparent is always traced
//     service_name: gatewayd
//     buffer: 2048        # spans kept per worker waiting for export (default 4 x batch)
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/module/module.h"
#include "modules/tracing/parse.h"

namespace gw::module {
extern const Descriptor tracing_module;
}

namespace gw::schema {
class MapReader;
}

namespace gw::tracing {

struct TracingConfig : module::ConfigPart {
    bool enabled = false;  // a `tracing:` section was given (a route's key alone enables nothing)
    Endpoint endpoint;
    sockaddr_storage address{};
    socklen_t address_len = 0;
    std::string ca_file;   // https: the CA to verify the collector with (empty: the system's)
    std::vector<std::pair<std::string, std::string>> headers;  // sent with each export (secrets)
    int64_t timeout = 1000;    // ms: one export, connecting included
    uint32_t batch = 512;      // spans per export
    int64_t flush = 2000;      // ms: the longest a span waits for its export
    uint32_t buffer = 0;       // spans kept per worker (0 in the file: 4 x batch)
    double sample = 0.01;
    std::string service_name = "gatewayd";
    std::vector<bool> routes_off;  // [route]: `tracing: false`

    bool route_off(size_t i) const { return i < routes_off.size() && routes_off[i]; }
};

const TracingConfig* find(const Config& c);

void read_sections(schema::MapReader& top, Config& c);
void read_route(schema::MapReader& route, Config& c, size_t index);
void check(Config& c, Diagnostics& diags);
void dump(const Config& c, std::string& out);
void dump_route(const Config& c, size_t index, int indent, std::string& out);

}  // namespace gw::tracing
