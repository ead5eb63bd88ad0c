// Reading, checking and dumping `admin_auth:`. The token file is read here, at load (so on HUP
// too, and by `gatewayd -t`); what is wrong with it is reported at the key that names it,
// never with the token's bytes.
#include "modules/admin_auth/config.h"

#include <openssl/evp.h>

#include <optional>

#include "core/config/config_sections.h"
#include "core/config/dump.h"
#include "core/config/schema.h"
#include "core/small_file.h"

namespace gw::admin_auth {

using module::admin_auth_module;
using schema::MapReader;

namespace {

constexpr std::string_view kKey = "admin_auth";

void read_token(MapReader& m, const Config& c, Settings& s) {
    if (!m.require("token_file") || !m.get_string("token_file", s.token_file)) return;
    const yaml::Node* at = m.take("token_file");
    s.token_file = config_detail::resolve_path(c.prefix, s.token_file);
    std::string token, why;
    if (!read_small_file(s.token_file, 4096, token, why)) {
        schema::report(m.diags(), at->mark, m.path("token_file"), "cannot read \"" + s.token_file + "\": " + why);
        return;
    }
    // One trailing line end is the editor's, not the token's.
    if (!token.empty() && token.back() == '\n') token.pop_back();
    if (!token.empty() && token.back() == '\r') token.pop_back();
    bool printable = true;
    for (char ch : token)
        if (static_cast<unsigned char>(ch) <= ' ' || static_cast<unsigned char>(ch) >= 0x7f) printable = false;
    if (token.size() < kMinTokenBytes)
        schema::report(m.diags(), at->mark, m.path("token_file"),
                       "the token in \"" + s.token_file + "\" is " + std::to_string(token.size()) + " bytes; at least " +
                           std::to_string(kMinTokenBytes) + " are required");
    else if (!printable)
        // A client sends it in a header field: spaces, control bytes and non-ASCII cannot be sent.
        schema::report(m.diags(), at->mark, m.path("token_file"),
                       "the token in \"" + s.token_file + "\" has bytes a header field cannot carry (use visible ASCII)");
    else
        s.token_digest = digest(token);
    std::fill(token.begin(), token.end(), '\0');
}

}  // namespace

std::array<uint8_t, 32> digest(std::string_view token) {
    std::array<uint8_t, 32> d{};
    unsigned int len = 0;
    EVP_Digest(token.data(), token.size(), d.data(), &len, EVP_sha256(), nullptr);
    return d;
}

const Settings* settings(const Config& c) { return module::find_part<Settings>(c, admin_auth_module); }

void read_sections(MapReader& top, Config& c) {
    std::optional<MapReader> m = top.get_map(kKey);
    if (!m || !m->valid()) return;
    Settings& s = module::loading_part<Settings>(c, admin_auth_module);
    s.mark = m->mark();
    read_token(*m, c, s);
    if (const yaml::Node* list = m->take("allow")) {
        std::string path = m->path("allow");
        auto items = schema::read_list(*list, path, true, m->diags());
        if (items && items->empty())
            schema::report(m->diags(), list->mark, path, "at least one address or network (leave allow out for any)");
        if (items)
            for (size_t i = 0; i < items->size(); ++i)
                if (auto cidr = schema::read_cidr(*(*items)[i], list->is_sequence() ? schema::index_path(path, i) : path,
                                                  m->diags()))
                    s.allow.push_back(*cidr);
    }
    m->get_bool("protect_health", s.protect_health);
    m->finish();
}

void check(Config& c, Diagnostics& diags) {
    const Settings* s = settings(c);
    if (!s) return;
    for (const ListenerConfig& l : c.listeners)
        if (l.admin) return;
    // Not an error: the section may stay while the admin listener is switched off.
    diags.warning(s->mark, "admin_auth: no listener has admin: true, so it guards nothing");
}

void dump(const Config& c, std::string& out) {
    const Settings* s = settings(c);
    if (!s) return;
    dump::line(out, 0, kKey, "");
    dump::line(out, 2, "token_file", dump::quote(s->token_file));
    if (!s->allow.empty()) {
        std::string list = "[";
        for (size_t i = 0; i < s->allow.size(); ++i) list += (i ? ", " : "") + dump::quote(net::format_cidr(s->allow[i]));
        dump::line(out, 2, "allow", list + "]");
    }
    dump::line(out, 2, "protect_health", dump::boolean(s->protect_health));
}

}  // namespace gw::admin_auth
