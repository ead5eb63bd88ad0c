// Route selection, built once per generation from the config.
//
// Precedence (documented in gateway.conf(5)):
//   1. host tier: routes whose host equals the request's host, then the longest matching
//      wildcard (`*.example.com`), then routes without a host;
//   2. within a tier: an exact `path`, then the longest `path_prefix`, then routes without a path;
//   3. ties in declaration order; a route whose `methods` exclude the request method is skipped.
// The first tier with a match wins; if none matches, the request gets 404.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config/config.h"

namespace gw::http {

class Router {
  public:
    static constexpr int kNoRoute = -1;

    explicit Router(const std::vector<RouteConfig>& routes);

    // Index into the routes given to the constructor, or kNoRoute. `host` is the Host header as
    // sent (any case, optional port).
    int match(std::string_view method, std::string_view host, std::string_view path) const;

  private:
    // Transparent hashing: lookups by string_view, without building a std::string per request.
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    template <typename V>
    using Map = std::unordered_map<std::string, V, Hash, std::equal_to<>>;

    struct Tier {
        Map<std::vector<int>> exact;  // path -> routes
        std::vector<int> prefix;                                   // longest prefix first
        std::vector<int> any_path;
    };
    struct WildcardTier {
        std::string suffix;  // ".example.com"
        Tier tier;
    };

    int match_tier(const Tier& tier, std::string_view method, std::string_view path) const;
    bool method_allowed(int route, std::string_view method) const;
    static void add(Tier& tier, const RouteConfig& route, int index);
    static void finish(Tier& tier, const std::vector<RouteConfig>& routes);

    const std::vector<RouteConfig>& routes_;
    Map<Tier> by_host_;
    std::vector<WildcardTier> wildcards_;  // longest suffix first
    Tier any_host_;
};

}  // namespace gw::http
