#include "modules/cors/origin.h"

#include <cctype>

namespace gw::cors {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A registered name: dot-separated labels of letters, digits, '-' and '_', none empty.
bool valid_name_host(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    size_t label = 0;
    for (char c : h) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') return false;
        if (++label > 63) return false;
    }
    return label != 0;
}

// "[v6]": hex digits, ':' and '.' (an embedded IPv4) between the brackets.
bool valid_ip_literal(std::string_view h) {
    if (h.size() < 4 || h.front() != '[' || h.back() != ']') return false;
    for (char c : h.substr(1, h.size() - 2))
        if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    return true;
}

uint16_t default_port(std::string_view scheme) {
    if (iequals(scheme, "http") || iequals(scheme, "ws")) return 80;
    if (iequals(scheme, "https") || iequals(scheme, "wss")) return 443;
    return 0;
}

}  // namespace

std::optional<Origin> parse_origin(std::string_view text) {
    Origin o;
    if (text == "null") {
        o.null = true;
        return o;
    }
    // scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://".
    size_t i = 0;
    if (text.empty() || !is_alpha(text[0])) return std::nullopt;
    while (i < text.size() && (is_alpha(text[i]) || is_digit(text[i]) || text[i] == '+' || text[i] == '-' ||
                               text[i] == '.'))
        ++i;
    if (text.substr(i, 3) != "://") return std::nullopt;
    o.scheme = text.substr(0, i);
    std::string_view rest = text.substr(i + 3);
    // The host: an IP literal in brackets, or a name (an IPv4 address is a name's syntax).
    size_t host_end;
    if (!rest.empty() && rest[0] == '[') {
        host_end = rest.find(']');
        if (host_end == std::string_view::npos) return std::nullopt;
        ++host_end;
        o.host = rest.substr(0, host_end);
        if (!valid_ip_literal(o.host)) return std::nullopt;
    } else {
        host_end = rest.find(':');
        if (host_end == std::string_view::npos) host_end = rest.size();
        o.host = rest.substr(0, host_end);
        if (!valid_name_host(o.host)) return std::nullopt;  // also a path, a query, userinfo
    }
    std::string_view port = rest.substr(host_end);
    if (!port.empty()) {
        if (port[0] != ':' || port.size() < 2 || port.size() > 6) return std::nullopt;
        uint32_t n = 0;
        for (char c : port.substr(1)) {
            if (!is_digit(c)) return std::nullopt;
            n = n * 10 + static_cast<uint32_t>(c - '0');
        }
        if (n == 0 || n > 65535) return std::nullopt;
        o.port = static_cast<uint16_t>(n);
    }
    if (o.port == default_port(o.scheme)) o.port = 0;
    return o;
}

bool OriginPattern::matches(const Origin& o) const {
    switch (kind) {
        case Kind::Any: return !o.null;
        case Kind::Null: return o.null;
        case Kind::Exact:
            return !o.null && o.port == port && iequals(o.scheme, scheme) && iequals(o.host, host);
        case Kind::Wildcard:
            // At least one label before the suffix: the labels of `o.host` are never empty, so
            // anything longer than ".example.com" that ends with it is "x.example.com" or deeper.
            return !o.null && o.port == port && iequals(o.scheme, scheme) && o.host.size() > host.size() &&
                   iequals(o.host.substr(o.host.size() - host.size()), host);
    }
    return false;
}

std::string OriginPattern::text() const {
    switch (kind) {
        case Kind::Any: return "*";
        case Kind::Null: return "null";
        default: break;
    }
    std::string s = scheme + "://" + (kind == Kind::Wildcard ? "*" : "") + host;
    if (port) s += ":" + std::to_string(port);
    return s;
}

std::optional<OriginPattern> parse_pattern(std::string_view text, std::string& why) {
    OriginPattern p;
    if (text == "*") {
        p.kind = OriginPattern::Kind::Any;
        return p;
    }
    if (text == "null") {
        p.kind = OriginPattern::Kind::Null;
        return p;
    }
    std::string lowered;
    for (char c : text) lowered += lower(c);
    size_t sep = lowered.find("://");
    bool wildcard = sep != std::string::npos && lowered.compare(sep + 3, 2, "*.") == 0;
    // Checked as the origin it stands for: "*." becomes a label of its own.
    if (wildcard) lowered[sep + 3] = 'x';
    if (lowered.find('*') != std::string::npos) {
        why = "a wildcard is only a whole first label (\"https://*.example.com\") or \"*\" alone";
        return std::nullopt;
    }
    // ("NULL" is not "null": the opaque origin is spelled in lower case, and only so.)
    std::optional<Origin> o = sep == std::string::npos ? std::nullopt : parse_origin(lowered);
    if (!o) {
        size_t path = sep == std::string::npos ? std::string::npos : lowered.find('/', sep + 3);
        if (path != std::string::npos)
            why = "an origin has no path: \"" + std::string(text.substr(0, path)) + "\", not \"" + std::string(text) +
                  "\"";
        else
            why = "not an origin (expected scheme://host[:port], \"*\" or \"null\")";
        return std::nullopt;
    }
    if (wildcard && o->host.find('.', 2) == std::string_view::npos) {
        why = "a wildcard needs a domain of two labels or more after \"*.\" (\"https://*.example.com\")";
        return std::nullopt;
    }
    if (o->host.front() == '[' && wildcard) {
        why = "a wildcard is for names, not addresses";
        return std::nullopt;
    }
    p.kind = wildcard ? OriginPattern::Kind::Wildcard : OriginPattern::Kind::Exact;
    p.scheme = std::string(o->scheme);
    p.host = std::string(wildcard ? o->host.substr(1) : o->host);
    p.port = o->port;
    return p;
}

const OriginPattern* match(std::span<const OriginPattern> patterns, const Origin& origin) {
    for (const OriginPattern& p : patterns)
        if (p.matches(origin)) return &p;
    return nullptr;
}

}  // namespace gw::cors
