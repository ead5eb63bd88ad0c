#include "modules/tls/responder_url.h"

#include <algorithm>

namespace gw::tls {

namespace {

bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

bool hex_or_colon(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

}  // namespace

bool starts_with_lower(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

bool parse_responder_url(std::string_view url, ResponderUrl& out, std::string& error) {
    if (starts_with_lower(url, "https://")) {
        error = "an https:// responder (OCSP responders are plain HTTP: their responses are signed)";
        return false;
    }
    if (!starts_with_lower(url, "http://")) {
        error = "not an http:// URL";
        return false;
    }
    std::string_view rest = url.substr(7);
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    if (authority.empty()) {
        error = "no host";
        return false;
    }
    std::string_view host, port;
    bool has_port = false;
    if (authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos || close == 1) {
            error = "a bad IPv6 address";
            return false;
        }
        host = authority.substr(0, close + 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') {
            error = "a bad authority";
            return false;
        }
        has_port = !after.empty();
        if (has_port) port = after.substr(1);
        std::string_view inside = host.substr(1, host.size() - 2);
        if (!std::all_of(inside.begin(), inside.end(), hex_or_colon)) {
            error = "a bad IPv6 address";
            return false;
        }
    } else {
        size_t colon = authority.find(':');
        host = authority.substr(0, colon);
        has_port = colon != std::string_view::npos;
        if (has_port) port = authority.substr(colon + 1);
        if (host.empty() || !std::all_of(host.begin(), host.end(), host_char)) {
            error = "a bad host (a user, or a character a host name has not)";
            return false;
        }
    }
    if (has_port && port.empty()) {
        error = "an empty port";
        return false;
    }
    unsigned port_number = 80;
    if (has_port) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            error = "a bad port";
            return false;
        }
        port_number = 0;
        for (char c : port) port_number = port_number * 10 + static_cast<unsigned>(c - '0');
        if (port_number == 0 || port_number > 65535) {
            error = "a bad port";
            return false;
        }
    }
    for (char c : path)
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') {
            error = "a query, a fragment or a character a path has not";
            return false;
        }
    out.host_port = std::string(host) + ":" + std::to_string(port_number);
    out.host_field = std::string(authority);
    out.path = std::string(path);
    return true;
}

}  // namespace gw::tls
