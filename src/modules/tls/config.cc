#include "modules/tls/config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/config/config.h"
#include "core/config/config_sections.h"
#include "core/config/dump.h"
#include "modules/tls/certs.h"
#include "modules/tls/ciphers.h"
#include "modules/tls/config_read.h"
#include "modules/tls/ocsp_fetch.h"

namespace gw::tls {

namespace {

using schema::MapReader;
using schema::Node;

constexpr int64_t kDay = 86400 * 1000LL;
constexpr int64_t kYear = 365 * kDay;

struct Protocol {
    std::string_view name;
    uint32_t bit;  // 0: unsafe, refused
};
constexpr Protocol kProtocols[] = {
    {"TLSv1.2", kTls12}, {"TLSv1.3", kTls13}, {"TLSv1", 0}, {"TLSv1.0", 0}, {"TLSv1.1", 0}, {"SSLv3", 0}, {"SSLv2", 0},
};

}  // namespace

// A file path key: taken, made absolute against the prefix; its value's mark in `at`.
bool get_path(MapReader& m, std::string_view key, const std::string& prefix, std::string& out, Mark& at) {
    const Node* v = m.take(key);
    if (!v) return false;
    at = v->mark;
    std::optional<std::string> text = schema::read_string(*v, m.path(key), m.diags());
    if (!text) return false;
    if (text->empty()) {
        schema::report(m.diags(), v->mark, m.path(key), "an empty path");
        return false;
    }
    out = config_detail::resolve_path(prefix, *text);
    return true;
}

namespace {

bool is_off(const Node& v) {
    if (!v.is_scalar()) return false;
    std::string t = config_detail::to_lower(v.text);
    return t == "off" || t == "false" || t == "no";
}

// `ocsp_staple: {fetch: true, responder: http://...}` into `f` (its responder is settled by
// prepare_ocsp_fetch once the certificate is loaded). A malformed `responder:` is an error: the
// operator wrote it; a responder that cannot be used when it is well formed is a warning.
void read_ocsp_fetch(const Node& v, const std::string& path, Diagnostics& diags, OcspFetch& f) {
    MapReader fm(v, path, diags);
    f.mark = v.mark;
    fm.get_bool("fetch", f.requested);
    const Node* responder = fm.take("responder");
    fm.get_string("responder", f.responder);
    fm.finish();
    if (!responder) return;
    ResponderUrl url;
    std::string error;
    if (!parse_responder_url(f.responder, url, error)) {
        schema::report(diags, responder->mark, path + ".responder", "\"" + f.responder + "\": " + error);
        f.requested = false;  // said once
    } else if (!f.requested)
        diags.warning(responder->mark, path + ".responder: without fetch: true it has no effect");
}

void read_certificates(MapReader& m, const std::string& prefix, time_t now, ListenerTls& t) {
    Diagnostics& diags = m.diags();
    if (!m.require("certificates")) return;
    const Node& list = *m.take("certificates");
    std::optional<std::vector<const Node*>> items = schema::read_list(list, m.path("certificates"), false, diags);
    if (!items) return;
    if (items->empty()) {
        schema::report(diags, list.mark, m.path("certificates"), "at least one certificate is required");
        return;
    }
    for (size_t i = 0; i < items->size(); ++i) {
        CertificateKeys at;
        at.path = schema::index_path(m.path("certificates"), i);
        MapReader item(*(*items)[i], at.path, diags);
        Certificate cert;
        cert.mark = (*items)[i]->mark;
        bool has_cert = item.require("cert") && get_path(item, "cert", prefix, cert.cert_path, at.cert);
        bool has_key = item.require("key") && get_path(item, "key", prefix, cert.key_path, at.key);
        bool has_password = item.key_node("password_file") != nullptr;
        bool password_ok = get_path(item, "password_file", prefix, cert.password_file, at.password_file) ||
                           !has_password;
        Mark ocsp_at;
        bool has_ocsp = false;
        if (const Node* v = item.take("ocsp_staple"); v && v->is_map()) {
            read_ocsp_fetch(*v, at.path + ".ocsp_staple", diags, cert.ocsp_fetch);
        } else {
            has_ocsp = get_path(item, "ocsp_staple", prefix, cert.ocsp_staple_path, ocsp_at);
        }
        item.finish();
        bool loaded = has_cert && has_key && password_ok && load_certificate(cert, at, now, diags);
        // A certificate that did not load has its errors: its staple cannot be checked.
        if (has_ocsp && loaded)
            load_ocsp_staple(cert.ocsp_staple_path, cert, at.path + ".ocsp_staple", ocsp_at, now, diags,
                             cert.ocsp_staple);
        if (loaded) prepare_ocsp_fetch(cert, at.path + ".ocsp_staple", diags);
        t.certificates.push_back(std::move(cert));
    }
    // A certificate after the first is only chosen by the names a client asks for (SNI).
    for (size_t i = 1; i < t.certificates.size(); ++i) {
        const Certificate& c = t.certificates[i];
        if (c.leaf && c.names.empty())
            diags.warning(c.mark, schema::index_path(m.path("certificates"), i) + ": " + "\"" + c.cert_path +
                                      "\" has no DNS name (subjectAltName or CN): no client can select it");
    }
}

// The listener's `ocsp_staple`: the first certificate's staple (as the issue writes it; an
// entry's own `ocsp_staple` says the same for any certificate): a file, or {fetch: true}.
void read_listener_ocsp_staple(MapReader& m, const std::string& prefix, time_t now, ListenerTls& t) {
    Mark at;
    OcspFetch fetch;
    if (const Node* v = m.take("ocsp_staple"); v && v->is_map()) {
        read_ocsp_fetch(*v, m.path("ocsp_staple"), m.diags(), fetch);
        at = v->mark;
    } else if (!get_path(m, "ocsp_staple", prefix, t.ocsp_staple_path, at)) {
        return;
    }
    if (t.certificates.empty() || !t.certificates.front().leaf) return;  // its errors are reported
    Certificate& first = t.certificates.front();
    if (!first.ocsp_staple_path.empty() || first.ocsp_fetch.requested) {
        std::string own = first.ocsp_staple_path.empty() ? "{fetch: true}" : "\"" + first.ocsp_staple_path + "\"";
        m.diags().warning(at, m.path("ocsp_staple") + ": the first certificate has its own ocsp_staple (" + own +
                                  "): this one is not used");
        return;
    }
    if (fetch.requested || !fetch.responder.empty()) {
        first.ocsp_fetch = std::move(fetch);
        t.ocsp_fetch_listener = true;
        prepare_ocsp_fetch(first, m.path("ocsp_staple"), m.diags());
        return;
    }
    if (t.ocsp_staple_path.empty()) return;  // {fetch: false}
    load_ocsp_staple(t.ocsp_staple_path, first, m.path("ocsp_staple"), at, now, m.diags(), t.ocsp_staple);
}

}  // namespace

void read_protocols(MapReader& m, uint32_t& protocols) {
    const Node* list_node = m.key_node("protocols");
    std::optional<std::vector<const Node*>> items = m.get_list("protocols", true);
    if (!items) return;
    Diagnostics& diags = m.diags();
    std::string path = m.path("protocols");
    if (items->empty()) {
        schema::report(diags, list_node ? list_node->mark : m.mark(), path, "at least one protocol is required");
        return;
    }
    uint32_t bits = 0;
    bool ok = true;
    for (const Node* item : *items) {
        std::optional<std::string> name = schema::read_string(*item, path, diags);
        if (!name) {
            ok = false;
            continue;
        }
        const Protocol* found = nullptr;
        for (const Protocol& p : kProtocols)
            if (p.name == *name) found = &p;
        if (found && found->bit) {
            bits |= found->bit;
        } else if (found) {
            schema::report(diags, item->mark, path, *name + " is unsafe and is never offered (use TLSv1.2, TLSv1.3)");
            ok = false;
        } else {
            schema::report_bad_enum(*item, path, {"TLSv1.2", "TLSv1.3"}, diags);
            ok = false;
        }
    }
    if (ok) protocols = bits;
}

void read_cipher_key(MapReader& m, std::string_view key, bool enabled, std::string_view protocol, std::string& out) {
    const Node* v = m.take(key);
    if (!v) return;
    Diagnostics& diags = m.diags();
    std::optional<std::string> list = schema::read_string(*v, m.path(key), diags);
    if (!list) return;
    if (list->empty()) {
        schema::report(diags, v->mark, m.path(key), "an empty list (leave the key out for the default)");
        return;
    }
    CipherCheck check = key == "ciphers" ? check_cipher_list(*list) : check_ciphersuites(*list);
    if (!check.error.empty()) {
        schema::report(diags, v->mark, m.path(key), "\"" + *list + "\" " + check.error);
        return;
    }
    for (const std::string& name : check.unknown)
        diags.warning(v->mark, m.path(key) + ": \"" + name + "\" matches no cipher of this OpenSSL (" +
                                   OpenSSL_version(OPENSSL_VERSION) + "): it is ignored");
    if (!enabled)
        diags.warning(v->mark, m.path(key) + ": " + std::string(protocol) + " is not in protocols: it has no effect");
    out = *list;
}

std::string protocol_list(uint32_t protocols) {
    std::string out;
    for (const Protocol& p : kProtocols)
        if (p.bit && (protocols & p.bit)) out += (out.empty() ? "" : ", ") + dump::quote(p.name);
    return "[" + out + "]";
}

namespace {

void read_session_cache(MapReader& m, ListenerTls& t) {
    const Node* v = m.take("session_cache");
    if (!v) return;
    if (is_off(*v)) {
        t.session_cache_bytes = 0;
    } else if (auto size = schema::read_size(*v, m.path("session_cache"), {64 << 10, 1ULL << 30}, m.diags())) {
        t.session_cache_bytes = *size;
    }
}

void read_session_tickets(MapReader& m, ListenerTls& t) {
    const Node* v = m.take("session_tickets");
    if (!v) return;
    std::string path = m.path("session_tickets");
    if (v->is_scalar()) {  // off, or on with the defaults
        if (std::optional<bool> on = schema::read_bool(*v, path, m.diags())) t.session_tickets = *on;
        return;
    }
    MapReader tm(*v, path, m.diags());
    t.session_tickets = true;
    int64_t rotate = 0;
    if (tm.get_duration("rotate", rotate, {1000, 7 * kDay})) t.ticket_rotate_ms = static_cast<uint64_t>(rotate);
    if (const Node* shared = tm.take("shared")) t.tickets_shared_mark = shared->mark;
    tm.get_enum<bool>("shared", t.tickets_shared_redis, {{"redis", true}});
    tm.finish();
}

void read_client_auth(MapReader& m, const std::string& prefix, time_t now, ClientAuth& auth) {
    std::optional<MapReader> am = m.get_map("client_auth");
    if (!am) return;
    auth.mode = ClientAuthMode::Require;  // a client_auth map asks for certificates unless it says otherwise
    am->get_enum<ClientAuthMode>("mode", auth.mode,
                                 {{"require", ClientAuthMode::Require},
                                  {"optional", ClientAuthMode::Optional},
                                  {"off", ClientAuthMode::Off}});
    Mark ca_at, crl_at;
    if (auth.mode != ClientAuthMode::Off) am->require("ca");
    bool has_ca = get_path(*am, "ca", prefix, auth.ca_path, ca_at);
    bool has_crl = am->key_node("crl") != nullptr;
    bool crl_ok = get_path(*am, "crl", prefix, auth.crl_path, crl_at) || !has_crl;
    if (has_ca && crl_ok) load_client_ca(auth, am->path(), ca_at, crl_at, now, am->diags());
    am->finish();
}

void read_hsts(MapReader& m, Hsts& h) {
    std::optional<MapReader> hm = m.get_map("hsts");
    if (!hm) return;
    int64_t max_age = 0;
    if (hm->require("max_age")) {
        const Node* v = hm->take("max_age");
        if (hm->get_duration("max_age", max_age, {0, 10 * kYear})) {
            if (max_age % 1000 != 0)
                schema::report(hm->diags(), v->mark, hm->path("max_age"), "whole seconds only");
            else
                h.max_age_s = static_cast<uint64_t>(max_age / 1000);
        }
    }
    hm->get_bool("include_subdomains", h.include_subdomains);
    const Node* preload = hm->take("preload");
    hm->get_bool("preload", h.preload);
    if (h.preload && (h.max_age_s < kYear / 1000 || !h.include_subdomains))
        hm->diags().warning(preload ? preload->mark : hm->mark(),
                            hm->path("preload") +
                                ": browsers' preload lists take only max_age of at least 365d with include_subdomains");
    hm->finish();
}

// "# KEY: not set", as the core's dump says of an optional section left out.
void not_set(std::string& out, int indent, std::string_view key) {
    out.append(static_cast<size_t>(indent), ' ');
    out += "# ";
    out += key;
    out += ": not set\n";
}

void dump_ocsp_fetch(const OcspFetch& f, int indent, std::string& out) {
    if (!f.requested && f.responder.empty()) return;
    dump::line(out, indent, "ocsp_staple", "");
    dump::line(out, indent + 2, "fetch", dump::boolean(f.requested));
    if (!f.responder.empty()) dump::line(out, indent + 2, "responder", dump::quote(f.responder));
}

}  // namespace

// Whether the kernel can take a TLS connection's record layer over: the "tls" upper layer
// protocol on a connected TCP socket (Linux: the tls module). Asked once per configuration with
// `ktls: true`, on a loopback connection made for the purpose.
static bool kernel_supports_ktls(std::string& why) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, a = -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bool ok = false;
    if (l >= 0 && bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(l, 1) == 0 &&
        getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
        connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && (a = accept(l, nullptr, nullptr)) >= 0) {
        ok = setsockopt(a, IPPROTO_TCP, TCP_ULP, "tls", 3) == 0;
        if (!ok) why = std::string("TCP_ULP \"tls\": ") + strerror(errno);
    } else {
        why = std::string("cannot make a loopback connection to ask: ") + strerror(errno);
    }
    for (int fd : {a, c, l})
        if (fd >= 0) ::close(fd);
    return ok;
}

ListenerTls read_listener_tls(const Node& node, const std::string& path, const std::string& prefix,
                              Diagnostics& diags) {
    ListenerTls t;
    t.mark = node.mark;
    MapReader m(node, path, diags);
    time_t now = time(nullptr);
    read_certificates(m, prefix, now, t);
    read_protocols(m, t.protocols);
    read_cipher_key(m, "ciphers", t.protocols & kTls12, "TLSv1.2", t.ciphers);
    read_cipher_key(m, "ciphersuites", t.protocols & kTls13, "TLSv1.3", t.ciphersuites);
    read_session_cache(m, t);
    read_session_tickets(m, t);
    read_client_auth(m, prefix, now, t.client_auth);
    read_listener_ocsp_staple(m, prefix, now, t);
    int64_t timeout = static_cast<int64_t>(t.handshake_timeout_ms);
    if (m.get_duration("handshake_timeout", timeout, {1000, 5 * 60 * 1000}))
        t.handshake_timeout_ms = static_cast<uint64_t>(timeout);
    read_hsts(m, t.hsts);
    if (m.get_bool("ktls", t.ktls) && t.ktls) {
        std::string why;
        if (!kernel_supports_ktls(why))
            m.diags().warning(m.key_node("ktls") ? m.key_node("ktls")->mark : m.mark(),
                              m.path("ktls") + ": this kernel has no TLS offload (" + why +
                                  "): connections keep OpenSSL's own record layer");
    }
    m.finish();
    return t;
}

void read_require_client_cert(MapReader& route, size_t index, Settings& s) {
    const Node* v = route.take("require_client_cert");
    bool required = false;
    if (!route.get_bool("require_client_cert", required) || !required) return;
    if (s.require_client_cert.size() <= index) {
        s.require_client_cert.resize(index + 1);
        s.require_client_cert_marks.resize(index + 1);
    }
    s.require_client_cert[index] = true;
    s.require_client_cert_marks[index] = v ? v->mark : route.mark();
}

void check_settings(const Settings& s, const Config& c, Diagnostics& diags) {
    bool any_client_auth = false;
    for (size_t i = 0; i < s.listeners.size(); ++i) {
        if (!s.listeners[i]) continue;
        const ListenerTls& t = *s.listeners[i];
        any_client_auth = any_client_auth || t.client_auth.mode != ClientAuthMode::Off;
        if (i < c.listeners.size() && c.listeners[i].proxy_protocol)
            diags.error(t.mark, schema::index_path("listeners", i) +
                                    ".tls: a listener cannot have both tls and proxy_protocol yet (the PROXY "
                                    "header before a TLS handshake is not read)");
        if (t.tickets_shared_redis && !c.redis)
            diags.error(t.tickets_shared_mark, schema::index_path("listeners", i) +
                                                   ".tls.session_tickets.shared: redis needs a top-level redis: "
                                                   "section (the Redis server that shares the ticket keys)");
    }
    if (any_client_auth) return;
    for (size_t i = 0; i < s.require_client_cert.size(); ++i) {
        if (!s.require_client_cert[i]) continue;
        diags.error(s.require_client_cert_marks[i],
                    schema::index_path("routes", i) +
                        ".require_client_cert: no listener asks for client certificates (tls.client_auth), so "
                        "no request could pass");
    }
}

void dump_listener_tls(const ListenerTls& t, int indent, std::string& out) {
    using dump::boolean;
    using dump::quote;
    int in = indent + 2;
    dump::line(out, indent, "tls", "");
    dump::line(out, in, "certificates", "");
    for (const Certificate& c : t.certificates) {
        out.append(static_cast<size_t>(in + 2), ' ');
        out += "- cert: " + quote(c.cert_path) + "\n";
        dump::line(out, in + 4, "key", quote(c.key_path));
        if (!c.password_file.empty()) dump::line(out, in + 4, "password_file", quote(c.password_file));
        if (!c.ocsp_staple_path.empty()) dump::line(out, in + 4, "ocsp_staple", quote(c.ocsp_staple_path));
        if (&c != &t.certificates.front() || !t.ocsp_fetch_listener) dump_ocsp_fetch(c.ocsp_fetch, in + 4, out);
    }
    std::string protocols;
    for (const Protocol& p : kProtocols)
        if (p.bit && (t.protocols & p.bit)) protocols += (protocols.empty() ? "" : ", ") + quote(p.name);
    dump::line(out, in, "protocols", "[" + protocols + "]");
    // Not set: the module's default lists (the worker side's to choose).
    if (t.ciphers.empty())
        not_set(out, in, "ciphers");
    else
        dump::line(out, in, "ciphers", quote(t.ciphers));
    if (t.ciphersuites.empty())
        not_set(out, in, "ciphersuites");
    else
        dump::line(out, in, "ciphersuites", quote(t.ciphersuites));
    dump::line(out, in, "session_cache", t.session_cache_bytes ? format_size(t.session_cache_bytes) : "off");
    if (!t.session_tickets) {
        dump::line(out, in, "session_tickets", "off");
    } else {
        dump::line(out, in, "session_tickets", "");
        dump::line(out, in + 2, "rotate", format_duration(static_cast<Millis>(t.ticket_rotate_ms)));
        if (t.tickets_shared_redis) dump::line(out, in + 2, "shared", quote("redis"));
    }
    const ClientAuth& a = t.client_auth;
    if (a.mode == ClientAuthMode::Off && a.ca_path.empty()) {
        not_set(out, in, "client_auth");
    } else {
        dump::line(out, in, "client_auth", "");
        dump::line(out, in + 2, "mode",
                   quote(a.mode == ClientAuthMode::Require    ? "require"
                         : a.mode == ClientAuthMode::Optional ? "optional"
                                                              : "off"));
        if (!a.ca_path.empty()) dump::line(out, in + 2, "ca", quote(a.ca_path));
        if (!a.crl_path.empty()) dump::line(out, in + 2, "crl", quote(a.crl_path));
    }
    if (t.ocsp_fetch_listener)
        dump_ocsp_fetch(t.certificates.front().ocsp_fetch, in, out);
    else if (t.ocsp_staple_path.empty())
        not_set(out, in, "ocsp_staple");
    else
        dump::line(out, in, "ocsp_staple", quote(t.ocsp_staple_path));
    dump::line(out, in, "handshake_timeout", format_duration(static_cast<Millis>(t.handshake_timeout_ms)));
    dump::line(out, in, "hsts", "");
    dump::line(out, in + 2, "max_age", format_duration(static_cast<Millis>(t.hsts.max_age_s * 1000)));
    dump::line(out, in + 2, "include_subdomains", boolean(t.hsts.include_subdomains));
    dump::line(out, in + 2, "preload", boolean(t.hsts.preload));
    dump::line(out, in, "ktls", boolean(t.ktls));
}

}  // namespace gw::tls
