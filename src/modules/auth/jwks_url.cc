#include "modules/auth/jwks_url.h"

#include <string>

namespace gw::auth {

bool parse_fetch_url(std::string_view url, FetchUrl& out, std::string& error) {
    out = FetchUrl{};
    for (unsigned char ch : url)
        if (ch <= 0x20 || ch >= 0x7f) {
            error = "a URL has no spaces, control or non-ASCII characters (percent-encode them)";
            return false;
        }
    std::string_view rest;
    if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else if (url.starts_with("https://")) {
        rest = url.substr(8);
        out.tls = true;
    } else {
        error = "expected an http:// or https:// URL";
        return false;
    }
    size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (size_t hash = tail.find('#'); hash != std::string_view::npos) tail = tail.substr(0, hash);
    if (authority.empty()) {
        error = "the URL has no host";
        return false;
    }
    if (authority.find('@') != std::string_view::npos) {
        error = "user information in a URL is not supported (credentials do not belong in a URL)";
        return false;
    }
    std::string_view host = authority, port = out.tls ? "443" : "80";
    if (authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            error = "an IPv6 host is written [ADDRESS]";
            return false;
        }
        host = authority.substr(0, close + 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                error = "expected :PORT after the host";
                return false;
            }
            port = after.substr(1);
        }
    } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535) {
        error = "expected HOST or HOST:PORT (a port from 1 to 65535) after the scheme";
        return false;
    }
    out.host.assign(authority);
    out.target = tail.empty() || tail.front() != '/' ? "/" + std::string(tail) : std::string(tail);
    out.host_port = std::string(host) + ":" + std::string(port);
    return true;
}

}  // namespace gw::auth
