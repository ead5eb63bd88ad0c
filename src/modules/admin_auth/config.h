// The admin listeners' authentication (man/gateway.conf.5, ADMIN LISTENERS):
//
//   admin_auth:
//     token_file: /etc/gatewayd/admin.token   # at least 32 bytes; read at load and on HUP
//     allow: [127.0.0.1, 10.0.0.0/8]         # optional: client addresses that may ask at all
//     protect_health: false                   # true: /health and /health/ready need the token too
//
// A request to an admin listener then needs `Authorization: Bearer <token>` and, with `allow:`,
// a client address in it. Only the token's SHA-256 is kept: the comparison is of two digests
// of the same size, in constant time, and the token itself is in no structure a dump can show.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/module/module.h"
#include "core/net/ip.h"

namespace gw::module {
extern const Descriptor admin_auth_module;  // module.cc
}

namespace gw::schema {
class MapReader;
}

namespace gw::admin_auth {

constexpr size_t kMinTokenBytes = 32;

struct Settings : module::ConfigPart {
    std::string token_file;              // absolute
    std::array<uint8_t, 32> token_digest{};  // SHA-256 of the file's token
    std::vector<net::Cidr> allow;        // empty: any address (with the token)
    bool protect_health = false;
    Mark mark;  // the section's
};

const Settings* settings(const Config& c);

void read_sections(schema::MapReader& top, Config& c);
void check(Config& c, Diagnostics& diags);
void dump(const Config& c, std::string& out);

// SHA-256 of `token`.
std::array<uint8_t, 32> digest(std::string_view token);

}  // namespace gw::admin_auth
