// Reading and dumping `access:` maps. Strict like the rest of the schema: a bad network, an
// empty list or an unknown key is an error at its FILE:LINE:COL, with a did-you-mean.
#include "modules/access/config.h"

#include <optional>
#include <string_view>

#include "core/config/schema.h"

namespace gw::access {

namespace {

// Reads `key` of `m` (a network, or a list of them) into `out`. `present` is set when the key
// is there, even when its value is bad: "neither list" is then not reported on top.
bool read_networks(schema::MapReader& m, std::string_view key, std::vector<net::Cidr>& out,
                   bool& present, std::vector<const yaml::Node*>& nodes) {
    const yaml::Node* list = m.take(key);
    if (!list) return true;
    present = true;
    Diagnostics& diags = m.diags();
    std::optional<std::vector<const yaml::Node*>> items = schema::read_list(*list, m.path(key), true, diags);
    if (!items) return false;
    if (items->empty()) {
        // `allow: []` would refuse everyone, which nobody means; `deny: []` means nothing.
        schema::report(diags, list->mark, m.path(key), "at least one address or network is required");
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < items->size(); i++) {
        const yaml::Node& item = *(*items)[i];
        std::optional<net::Cidr> cidr = schema::read_cidr(item, schema::index_path(m.path(key), i), diags);
        if (!cidr) {
            ok = false;
            continue;
        }
        out.push_back(*cidr);
        nodes.push_back(&item);
    }
    return ok;
}

// An allowed network inside a denied one can never pass: deny wins. Most likely it was written
// as nginx reads "allow 10.1.2.3; deny 10.0.0.0/8;" (first match: allowed), so say so.
void warn_dead_allows(schema::MapReader& m, const AccessRules& r, const std::vector<const yaml::Node*>& nodes) {
    for (size_t i = 0; i < r.allow.size(); i++) {
        const net::Cidr& a = r.allow[i];
        for (const net::Cidr& d : r.deny) {
            if (d.prefix > a.prefix || !net::contains(d, a.net)) continue;
            m.diags().warning(nodes[i]->mark, schema::index_path(m.path("allow"), i) + ": " + net::format_cidr(a) +
                                                  " is inside " + net::format_cidr(d) +
                                                  " of deny, which wins: it is refused all the same");
            break;
        }
    }
}

void append_list(std::string_view key, const std::vector<net::Cidr>& nets, int indent, std::string& out) {
    if (nets.empty()) return;  // absent, not `[]`: an empty list would not load back
    out.append(static_cast<size_t>(indent), ' ');
    out += key;
    out += ": [";
    for (size_t i = 0; i < nets.size(); i++) {
        if (i > 0) out += ", ";
        // Quoted like every string of the dump; a network's text never needs escaping.
        out += '"';
        out += net::format_cidr(nets[i]);
        out += '"';
    }
    out += "]\n";
}

}  // namespace

bool AccessConfig::any_listener_rules() const {
    for (const AccessRules& r : listeners)
        if (!r.empty()) return true;
    return false;
}

bool read_rules(schema::MapReader& parent, AccessRules& out) {
    std::optional<schema::MapReader> m = parent.get_map("access");
    if (!m || !m->valid()) return false;  // absent, or not a map (reported by the reader)
    size_t errors_before = m->diags().error_count();
    AccessRules r;
    bool present = false;
    std::vector<const yaml::Node*> allow_nodes, deny_nodes;  // parallel to r.allow, r.deny
    bool ok = read_networks(*m, "allow", r.allow, present, allow_nodes);
    ok &= read_networks(*m, "deny", r.deny, present, deny_nodes);
    if (!present) {
        schema::report(m->diags(), m->mark(), m->path(), "at least one of allow or deny is required");
        ok = false;
    }
    if (ok) warn_dead_allows(*m, r, allow_nodes);
    m->finish();  // unknown keys
    if (!ok || m->diags().error_count() != errors_before) return false;
    out = std::move(r);
    return true;
}

void dump_rules(const AccessRules& rules, int indent, std::string& out) {
    if (rules.empty()) return;
    out.append(static_cast<size_t>(indent), ' ');
    out += "access:\n";
    append_list("allow", rules.allow, indent + 2, out);
    append_list("deny", rules.deny, indent + 2, out);
}

}  // namespace gw::access
