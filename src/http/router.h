// Route selection, built once per generation from the config.
//
// Precedence (documented in gateway.conf(5), ROUTE MATCHING):
//   1. host tier: routes whose host equals the request's host, then the longest matching
//      wildcard (`*.example.com`), then routes without a host;
//   2. within a tier: an exact `path`, then `path_prefix` longest first, then `path_regex` in
//      declaration order, then routes without a path condition; within each group, declaration
//      order;
//   3. a route is a candidate only if its methods (GET implies HEAD), headers and query
//      conditions all hold (and its path_regex, if any, matches); the first candidate found wins.
// No candidate in a tier -> the next tier; none at all -> kNoRoute (404).
//
// A Router is used by one thread (each worker builds its own): match() reuses one PCRE2
// match_data. match() does not allocate.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config/config.h"
#include "http/parser.h"
#include "http/router_radix.h"

namespace gw::http {

struct RouteMatchResult {
    static constexpr int kMaxCaptures = 10;  // $0..$9

    int route = -1;             // index into routes, or Router::kNoRoute (-1)
    int captures = 0;           // capture pairs set by path_regex (pair 0 = whole match), 0 if not a regex route
    uint32_t ovector[2 * kMaxCaptures] = {};  // start/end offsets into the request path, pairs;
                                              // a group that did not take part is empty (0, 0)
};

class Router {
  public:
    static constexpr int kNoRoute = -1;

    // Compiles every path_regex with PCRE2 (JIT when available). The config loader has validated
    // them; a pattern that still fails to compile makes its route never match. `routes` must
    // outlive the Router.
    explicit Router(const std::vector<RouteConfig>& routes);
    ~Router();
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    // Uses req.method, req.host (any case, optional port), req.path, req.query and the headers,
    // and the index of the listener that took the request (a route's `listener:`; -1: none
    // known, so such a route does not match).
    RouteMatchResult match(const Request& req, int listener = -1) const;

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
        PrefixTree prefix;
        std::vector<int> regex;       // declaration order
        std::vector<int> any_path;
    };
    struct WildcardTier {
        std::string suffix;  // ".example.com"
        Tier tier;
    };
    struct Regexes;  // the compiled patterns and the match data (PCRE2 stays out of this header)

    bool match_tier(const Tier& tier, const Request& req, RouteMatchResult& out) const;
    bool candidate(int route, const Request& req, RouteMatchResult& out) const;
    mutable int listener_ = -1;  // of the request being matched (one thread: see above)
    bool method_allowed(int route, std::string_view method) const;
    static void add(Tier& tier, const RouteConfig& route, int index);

    const std::vector<RouteConfig>& routes_;
    Map<Tier> by_host_;
    std::vector<WildcardTier> wildcards_;  // longest suffix first
    Tier any_host_;
    std::unique_ptr<Regexes> regexes_;     // match() writes its match data: one thread only
};

// Appends `tmpl` to `out`, replacing $0..$9 with the captures over `path` and $$ with $.
// A capture the match did not set expands to nothing; a '$' before anything else is kept.
void expand_rewrite(std::string& out, std::string_view tmpl, std::string_view path,
                    const RouteMatchResult& m);

}  // namespace gw::http
