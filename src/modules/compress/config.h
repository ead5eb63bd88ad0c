// The compress module's configuration (man/gateway.conf.5, COMPRESSION):
//
//   compress:
//     default: {algorithms: [br, zstd, gzip], min_length: 1k,
//               types: [text/*, application/json, application/javascript, image/svg+xml],
//               levels: {gzip: 5, br: 4, zstd: 3}, breach_guard: true}
//     max_memory: 64m          # per worker: what the compression libraries may hold in all
//   routes:
//     - compress: off          # or on (the default policy), or a map of the same keys
//
// A route's map starts from the default policy (or the built-in one when there is no default)
// and changes the keys it names, as nginx's directives inherit from the enclosing block.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/module/module.h"
#include "modules/compress/accept_encoding.h"

namespace gw::module {
extern const Descriptor compress_module;  // module.cc
}

namespace gw::schema {
class MapReader;
}

namespace gw::compress {

// A media type a policy compresses: "text/html", or every subtype of a type ("text/*").
struct TypeRule {
    std::string type;     // lower-case, without the "/*" of a wildcard
    bool any_subtype = false;
    std::string text() const { return any_subtype ? type + "/*" : type; }
};

struct Policy {
    std::vector<Coding> algorithms;  // in the server's order of preference; only codings this build has
    uint64_t min_length = 1024;      // a response whose Content-Length is below it is sent as it is
    std::vector<TypeRule> types;
    std::array<int, 4> levels = {0, 5, 4, 3};  // by Coding: -, gzip, br, zstd
    bool breach_guard = true;

    int level(Coding c) const { return levels[static_cast<size_t>(c)]; }
    // Whether the Content-Type value `content_type` (parameters and all) is one to compress.
    bool compresses_type(std::string_view content_type) const;
    static Policy built_in();
};

struct Settings : module::ConfigPart {
    bool has_default = false;
    Policy default_policy = Policy::built_in();
    uint64_t max_memory = 64ull << 20;
    std::deque<Policy> policies;          // the routes' own (stable addresses)
    std::vector<const Policy*> routes;    // by route index; null (or short): not compressed
    std::vector<bool> explicit_routes;    // the route has its own `compress:` key

    const Policy* route(size_t i) const { return i < routes.size() ? routes[i] : nullptr; }
};

const Settings* settings(const Config& c);

void read_sections(schema::MapReader& top, Config& c);
void read_route(schema::MapReader& route, Config& c, size_t index);
void check(Config& c, Diagnostics& diags);
void dump(const Config& c, std::string& out);
void dump_route(const Config& c, size_t index, int indent, std::string& out);

}  // namespace gw::compress
