// The CORS module's configuration (man/gateway.conf.5, CORS):
//
//   cors:
//     web: {origins: ["https://app.example.com", "https://*.example.com"], methods: [GET, POST],
//           headers: [authorization, content-type], expose_headers: [x-request-id],
//           credentials: true, max_age: 10m}
//   routes:
//     - cors: web
//
// A policy is compiled at load into what the filter writes: the header lines that do not depend
// on the request are ready-made, so a request costs a match of its Origin and a few appends.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/module/module.h"
#include "modules/cors/origin.h"

namespace gw::module {
extern const Descriptor cors_module;  // module.cc
}

namespace gw::schema {
class MapReader;
}

namespace gw::cors {

struct Policy {
    std::string name;
    Mark mark;
    std::vector<OriginPattern> origins;
    std::vector<std::string> methods;         // upper-case, as a request names them; default GET, HEAD, POST
    std::vector<std::string> headers;         // lower-case
    std::vector<std::string> expose_headers;  // lower-case
    bool credentials = false;
    Millis max_age = -1;  // -1: no Access-Control-Max-Age (browsers then keep a preflight ~5 s)

    // Compiled (compile()): "name: value\r\n" lines.
    std::string actual_lines;     // allow-credentials, expose-headers
    std::string preflight_lines;  // allow-methods, allow-credentials, max-age
    void compile();
};

struct Settings : module::ConfigPart {
    std::vector<Policy> policies;
    std::vector<int> routes;  // the policy of route i (an index into policies), -1: none; may be short
    std::vector<Mark> route_marks;

    const Policy* route(size_t i) const {
        return i < routes.size() && routes[i] >= 0 ? &policies[static_cast<size_t>(routes[i])] : nullptr;
    }
};

const Settings* settings(const Config& c);

// The `cors:` section, and a route's `cors:` key (a policy's name, with a did-you-mean).
void read_sections(schema::MapReader& top, Config& c);
void read_route(schema::MapReader& route, Config& c, size_t index);
// Across sections: a CORS route whose match.methods leaves out OPTIONS never sees a preflight.
void check(Config& c, Diagnostics& diags);
void dump(const Config& c, std::string& out);
void dump_route(const Config& c, size_t index, int indent, std::string& out);

}  // namespace gw::cors
