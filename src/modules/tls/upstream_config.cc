#include "modules/tls/upstream_config.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>

#include <ctime>

#include "core/config/config.h"
#include "core/config/dump.h"
#include "modules/tls/certs.h"
#include "modules/tls/config_read.h"

namespace gw::tls {

namespace {

using schema::MapReader;
using schema::Node;

bool is_ip_literal(const std::string& text) {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// A DNS name a server can be asked for by SNI: letters, digits, '-', '_' and dots, labels of
// 1..63 bytes, 253 in all (a final dot is dropped).
bool valid_dns_name(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    size_t label = 0;
    for (char c : h) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label > 63) return false;
    }
    return label > 0;
}

void read_sni(MapReader& m, UpstreamTls& t) {
    const Node* v = m.take("sni");
    if (!v) return;
    std::optional<std::string> name = schema::read_string(*v, m.path("sni"), m.diags());
    if (!name) return;
    if (name->ends_with('.')) name->pop_back();
    if (is_ip_literal(*name)) {
        schema::report(m.diags(), v->mark, m.path("sni"),
                       "\"" + *name +
                           "\" is an IP address, which SNI cannot carry: leave sni out to check the server's "
                           "address against the certificate's IP names");
        return;
    }
    if (!valid_dns_name(*name)) {
        schema::report(m.diags(), v->mark, m.path("sni"), "\"" + *name + "\" is not a host name");
        return;
    }
    t.sni = std::move(*name);
}

void read_ca(MapReader& m, const std::string& prefix, time_t now, UpstreamTls& t) {
    Mark at;
    if (!get_path(m, "ca", prefix, t.ca_path, at)) return;
    // The listener's client-auth loader: the same checks and messages, without a CRL.
    ClientAuth loaded;
    loaded.ca_path = t.ca_path;
    if (load_client_ca(loaded, m.path(), at, Mark{}, now, m.diags())) t.ca = std::move(loaded.store);
}

void read_client_certificate(MapReader& m, const std::string& prefix, time_t now, UpstreamTls& t) {
    bool has_cert = m.key_node("cert") != nullptr;
    bool has_key = m.key_node("key") != nullptr;
    bool has_password = m.key_node("password_file") != nullptr;
    if (!has_cert && !has_key && !has_password) return;
    // A client certificate is the pair: one without the other is a mistake, not a choice.
    if (has_cert || has_password) m.require("key");
    if (has_key || has_password) m.require("cert");
    CertificateKeys at;
    at.path = m.path();
    Certificate cert;
    cert.mark = m.mark();
    bool cert_ok = get_path(m, "cert", prefix, cert.cert_path, at.cert);
    bool key_ok = get_path(m, "key", prefix, cert.key_path, at.key);
    bool password_ok = get_path(m, "password_file", prefix, cert.password_file, at.password_file) || !has_password;
    if (cert_ok && key_ok && password_ok && load_certificate(cert, at, now, m.diags()))
        t.client_certificate = std::move(cert);
}

// "# KEY: not set (WHAT)", as the core's dump says of an optional key left out.
void not_set(std::string& out, int indent, std::string_view key, std::string_view what) {
    out.append(static_cast<size_t>(indent), ' ');
    out += "# ";
    out += key;
    out += ": not set (";
    out += what;
    out += ")\n";
}

// The host part of a server address: "HOST:PORT", "[IPv6]:PORT" (a zone after '%' dropped);
// empty for "unix:/PATH".
std::string address_host(std::string_view address) {
    if (address.starts_with("unix:")) return {};
    if (address.starts_with('[')) {
        size_t close = address.find(']');
        if (close == std::string_view::npos) return {};
        std::string_view host = address.substr(1, close - 1);
        return std::string(host.substr(0, host.find('%')));
    }
    return std::string(address.substr(0, address.rfind(':')));
}

}  // namespace

UpstreamTls read_upstream_tls(const Node& node, const std::string& path, const std::string& prefix,
                              Diagnostics& diags) {
    UpstreamTls t;
    t.mark = node.mark;
    MapReader m(node, path, diags);
    time_t now = time(nullptr);
    const Node* verify = m.take("verify");
    m.get_bool("verify", t.verify);
    if (verify && !t.verify)
        diags.warning(verify->mark, m.path("verify") +
                                        ": false: the servers' certificates are not checked, so anyone on the path "
                                        "to them can pose as them");
    read_ca(m, prefix, now, t);
    read_sni(m, t);
    read_client_certificate(m, prefix, now, t);
    read_protocols(m, t.protocols);
    read_cipher_key(m, "ciphers", t.protocols & kTls12, "TLSv1.2", t.ciphers);
    read_cipher_key(m, "ciphersuites", t.protocols & kTls13, "TLSv1.3", t.ciphersuites);
    m.get_bool("session_reuse", t.session_reuse);
    m.finish();
    return t;
}

void check_upstream_tls(const UpstreamTls& t, const UpstreamConfig& u, Diagnostics& diags) {
    std::string path = "upstreams." + u.name + ".tls";
    if (t.verify && t.sni.empty()) {
        for (const UpstreamServerConfig& s : u.servers) {
            if (!s.address.starts_with("unix:")) continue;
            diags.error(t.mark, path + ": server \"" + s.address +
                                    "\" is a unix socket, which names no host to check its certificate "
                                    "against: give sni (the name in its certificate), or verify: false");
            break;
        }
    }
}

void dump_upstream_tls(const UpstreamTls& t, int indent, std::string& out) {
    using dump::boolean;
    using dump::quote;
    int in = indent + 2;
    dump::line(out, indent, "tls", "");
    dump::line(out, in, "verify", boolean(t.verify));
    if (t.ca_path.empty())
        not_set(out, in, "ca", "the system's trust store");
    else
        dump::line(out, in, "ca", quote(t.ca_path));
    if (t.sni.empty())
        not_set(out, in, "sni", "each server's address");
    else
        dump::line(out, in, "sni", quote(t.sni));
    if (const std::optional<Certificate>& c = t.client_certificate) {
        dump::line(out, in, "cert", quote(c->cert_path));
        dump::line(out, in, "key", quote(c->key_path));
        if (!c->password_file.empty()) dump::line(out, in, "password_file", quote(c->password_file));
    } else {
        not_set(out, in, "cert", "no client certificate");
    }
    dump::line(out, in, "protocols", protocol_list(t.protocols));
    if (t.ciphers.empty())
        not_set(out, in, "ciphers", "OpenSSL's default");
    else
        dump::line(out, in, "ciphers", quote(t.ciphers));
    if (t.ciphersuites.empty())
        not_set(out, in, "ciphersuites", "OpenSSL's default");
    else
        dump::line(out, in, "ciphersuites", quote(t.ciphersuites));
    dump::line(out, in, "session_reuse", boolean(t.session_reuse));
}

ServerIdentity server_identity(const UpstreamTls& t, std::string_view address) {
    ServerIdentity id;
    if (!t.sni.empty()) {
        id.name = t.sni;
        id.sni = t.sni;
        return id;
    }
    id.name = address_host(address);
    if (id.name.ends_with('.')) id.name.pop_back();
    id.is_ip = !id.name.empty() && is_ip_literal(id.name);
    if (!id.is_ip) id.sni = id.name;
    return id;
}

}  // namespace gw::tls
