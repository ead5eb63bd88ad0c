#include "modules/tracing/parse.h"

#include <cctype>

namespace gw::tracing {

namespace {

bool visible(std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return false;
    }
    return true;
}

bool lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

bool parse_endpoint(std::string_view url, Endpoint& out, std::string& error) {
    std::string_view rest;
    if (url.starts_with("http://")) {
        out.tls = false;
        rest = url.substr(7);
    } else if (url.starts_with("https://")) {
        out.tls = true;
        rest = url.substr(8);
    } else {
        error = "an endpoint is an http:// or https:// URL";
        return false;
    }
    if (!visible(url)) {
        error = "a URL may not hold spaces, control characters or non-ASCII bytes (percent-encode them)";
        return false;
    }
    size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (tail.find('#') != std::string_view::npos) {
        error = "an endpoint has no fragment (#)";
        return false;
    }
    if (authority.empty()) {
        error = "the URL has no host";
        return false;
    }
    if (authority.find('@') != std::string_view::npos) {
        error = "no user info in the URL (give credentials with otlp.headers)";
        return false;
    }
    std::string_view host = authority, port;
    if (authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos || close == 1) {
            error = "a bad [IPv6] host";
            return false;
        }
        host = authority.substr(0, close + 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                error = "a bad [IPv6] host";
                return false;
            }
            port = after.substr(1);
        } else {
            port = {};
        }
        if (after.size() == 1) {
            error = "an empty port";
            return false;
        }
    } else {
        size_t colon = authority.rfind(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
            if (port.empty()) {
                error = "an empty port";
                return false;
            }
        }
        if (host.empty()) {
            error = "the URL has no host";
            return false;
        }
        for (char c : host)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
                error = "a bad host name";
                return false;
            }
    }
    if (!port.empty()) {
        unsigned long p = 0;
        for (char c : port) {
            if (c < '0' || c > '9' || port.size() > 5) {
                error = "a bad port";
                return false;
            }
            p = p * 10 + static_cast<unsigned long>(c - '0');
        }
        if (p == 0 || p > 65535) {
            error = "a bad port (1..65535)";
            return false;
        }
    }
    out.host = std::string(authority);
    out.host_port = std::string(host) + ":" + (port.empty() ? std::string(out.tls ? "443" : "80") : std::string(port));
    if (tail.empty() || tail == "/")
        out.target = "/v1/traces";
    else if (tail.front() == '?')
        out.target = "/v1/traces" + std::string(tail);
    else
        out.target = std::string(tail);
    return true;
}

bool parse_traceparent(std::string_view v, IncomingTrace& out) {
    // A later version may append fields after the first 55 bytes ("-..."); version 00 may not.
    if (v.size() > 55 && v.substr(0, 2) != "00" && v[55] == '-') v = v.substr(0, 55);
    // version "00" - 32 hex trace-id (not all zero) - 16 hex parent-id (not all zero) - 2 hex flags
    if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
    std::string_view version = v.substr(0, 2), trace = v.substr(3, 32), parent = v.substr(36, 16),
                     flags = v.substr(53, 2);
    if (!lower_hex(version) || version == "ff" || !lower_hex(trace) || all_zero(trace) || !lower_hex(parent) ||
        all_zero(parent) || !lower_hex(flags))
        return false;
    out.trace_id = trace;
    out.parent_id = parent;
    out.sampled = hex_value(v[54]) & 1;
    return true;
}

}  // namespace gw::tracing
