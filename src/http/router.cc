#include "http/router.h"

#include <algorithm>
#include <cctype>

namespace gw::http {

namespace {

// Lower-cases `host` into `buf` (bounded) and returns it; the port, if any, is kept.
std::string_view lower_host(std::string_view host, char* buf, size_t cap) {
    size_t n = std::min(host.size(), cap);
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>(tolower(static_cast<unsigned char>(host[i])));
    return {buf, n};
}

std::string_view strip_port(std::string_view host) {
    if (!host.empty() && host.front() == '[') {  // [v6]:port
        size_t close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    size_t colon = host.rfind(':');
    return colon == std::string_view::npos ? host : host.substr(0, colon);
}

}  // namespace

Router::Router(const std::vector<RouteConfig>& routes) : routes_(routes) {
    for (size_t i = 0; i < routes.size(); ++i) {
        const std::string& host = routes[i].match.host;
        int index = static_cast<int>(i);
        if (host.empty()) {
            add(any_host_, routes[i], index);
        } else if (host.rfind("*.", 0) == 0) {
            std::string suffix = host.substr(1);
            auto it = std::find_if(wildcards_.begin(), wildcards_.end(),
                                   [&](const WildcardTier& w) { return w.suffix == suffix; });
            if (it == wildcards_.end()) {
                wildcards_.push_back({suffix, {}});
                it = wildcards_.end() - 1;
            }
            add(it->tier, routes[i], index);
        } else {
            add(by_host_[host], routes[i], index);
        }
    }
    std::stable_sort(wildcards_.begin(), wildcards_.end(), [](const auto& a, const auto& b) {
        return a.suffix.size() > b.suffix.size();
    });
    finish(any_host_, routes);
    for (auto& [host, tier] : by_host_) finish(tier, routes);
    for (auto& w : wildcards_) finish(w.tier, routes);
}

void Router::add(Tier& tier, const RouteConfig& route, int index) {
    if (!route.match.path.empty())
        tier.exact[route.match.path].push_back(index);
    else if (!route.match.path_prefix.empty())
        tier.prefix.push_back(index);
    else
        tier.any_path.push_back(index);
}

void Router::finish(Tier& tier, const std::vector<RouteConfig>& routes) {
    std::stable_sort(tier.prefix.begin(), tier.prefix.end(), [&](int a, int b) {
        return routes[a].match.path_prefix.size() > routes[b].match.path_prefix.size();
    });
}

bool Router::method_allowed(int route, std::string_view method) const {
    const auto& methods = routes_[route].match.methods;
    if (methods.empty()) return true;
    if (std::find(methods.begin(), methods.end(), method) != methods.end()) return true;
    // As nginx's limit_except: allowing GET allows HEAD, which is GET without the body.
    return method == "HEAD" && std::find(methods.begin(), methods.end(), "GET") != methods.end();
}

int Router::match_tier(const Tier& tier, std::string_view method, std::string_view path) const {
    if (!tier.exact.empty()) {
        auto it = tier.exact.find(path);
        if (it != tier.exact.end())
            for (int r : it->second)
                if (method_allowed(r, method)) return r;
    }
    for (int r : tier.prefix)
        if (path.starts_with(routes_[r].match.path_prefix) && method_allowed(r, method)) return r;
    for (int r : tier.any_path)
        if (method_allowed(r, method)) return r;
    return kNoRoute;
}

int Router::match(std::string_view method, std::string_view host, std::string_view path) const {
    // A Host longer than any DNS name (253) plus a port cannot match a host route.
    constexpr size_t kMaxHost = 300;
    if ((!by_host_.empty() || !wildcards_.empty()) && host.size() <= kMaxHost) {
        char buf[kMaxHost];
        std::string_view full = lower_host(host, buf, sizeof buf);
        std::string_view bare = strip_port(full);
        for (std::string_view h : {full, bare}) {
            auto it = by_host_.find(h);
            if (it != by_host_.end()) {
                int r = match_tier(it->second, method, path);
                if (r != kNoRoute) return r;
            }
            if (h.size() == bare.size()) break;
        }
        for (const WildcardTier& w : wildcards_) {
            // A wildcard written with a port ("*.example.com:8443") is matched with the port.
            std::string_view h = w.suffix.find(':') == std::string::npos ? bare : full;
            if (h.size() > w.suffix.size() && h.ends_with(w.suffix)) {
                int r = match_tier(w.tier, method, path);
                if (r != kNoRoute) return r;
            }
        }
    }
    return match_tier(any_host_, method, path);
}

}  // namespace gw::http
