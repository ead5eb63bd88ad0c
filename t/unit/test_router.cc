#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>
#include <random>
#include <utility>

#include "http/router.h"

// Counts operator new calls made by this thread while `g_count_news` is set (see NoAllocation).
// Replacing the global operator new affects the whole unit-test binary, so it only counts, and
// forwards to malloc/free as the default one does.
namespace {
thread_local bool g_count_news = false;
thread_local long g_news = 0;

void* counted_new(std::size_t n) {
    if (g_count_news) ++g_news;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_new(n); }
void* operator new[](std::size_t n) { return counted_new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_new(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using gw::RouteConfig;
using gw::http::expand_rewrite;
using gw::http::PrefixTree;
using gw::http::Request;
using gw::http::RouteMatchResult;
using gw::http::Router;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

RouteConfig route(std::string name, std::string host, std::string path, std::string prefix,
                  std::vector<std::string> methods = {}) {
    RouteConfig r;
    r.name = std::move(name);
    r.match.host = std::move(host);
    r.match.path = std::move(path);
    r.match.path_prefix = std::move(prefix);
    r.match.methods = std::move(methods);
    return r;
}

RouteConfig regex_route(std::string name, std::string pattern, std::string host = "") {
    RouteConfig r = route(std::move(name), std::move(host), "", "");
    r.match.path_regex = std::move(pattern);
    return r;
}

RouteConfig with_headers(RouteConfig r, Pairs headers) {
    r.match.headers = std::move(headers);
    return r;
}

RouteConfig with_query(RouteConfig r, Pairs query) {
    r.match.query = std::move(query);
    return r;
}

class RouterTest : public ::testing::Test {
  protected:
    // Fills req_ directly; the views must outlive the match (string literals, or members).
    const Request& request(std::string_view method, std::string_view host, std::string_view path,
                           std::string_view query = {},
                           std::initializer_list<std::pair<std::string_view, std::string_view>>
                               headers = {}) {
        req_.method = method;
        req_.host = host;
        req_.path = path;
        req_.query = query;
        req_.header_count = 0;
        for (const auto& [n, v] : headers) req_.headers[req_.header_count++] = {n, v};
        return req_;
    }

    std::string name_of(const RouteMatchResult& m) const {
        return m.route == Router::kNoRoute ? "-" : routes[m.route].name;
    }

    RouteMatchResult last;  // of the last match()/match_req()

    std::string match_req(const Request& req) {
        Router router(routes);
        last = router.match(req);
        return name_of(last);
    }

    std::string match(std::string_view method, std::string_view host, std::string_view path,
                      std::string_view query = {},
                      std::initializer_list<std::pair<std::string_view, std::string_view>>
                          headers = {}) {
        return match_req(request(method, host, path, query, headers));
    }

    // The text of capture `g` of the last match over `path`.
    std::string capture(std::string_view path, int g) const {
        if (g >= last.captures) return "<unset>";
        return std::string(path.substr(last.ovector[2 * g], last.ovector[2 * g + 1] - last.ovector[2 * g]));
    }

    std::vector<RouteConfig> routes;
    Request req_;
};

// --- Existing behaviour: exact, prefix, methods, host tiers ---------------------------------

TEST_F(RouterTest, ExactBeatsPrefixAndCatchAll) {
    routes = {route("all", "", "", ""), route("api", "", "", "/api/"), route("exact", "", "/api/x", "")};
    EXPECT_EQ(match("GET", "h", "/api/x"), "exact");
    EXPECT_EQ(match("GET", "h", "/api/y"), "api");
    EXPECT_EQ(match("GET", "h", "/other"), "all");
}

TEST_F(RouterTest, LongestPrefixWinsRegardlessOfOrder) {
    routes = {route("short", "", "", "/a/"), route("long", "", "", "/a/b/"), route("mid", "", "", "/a/b")};
    EXPECT_EQ(match("GET", "h", "/a/b/c"), "long");
    EXPECT_EQ(match("GET", "h", "/a/bc"), "mid");
    EXPECT_EQ(match("GET", "h", "/a/x"), "short");
    EXPECT_EQ(match("GET", "h", "/b"), "-");
}

TEST_F(RouterTest, DeclarationOrderBreaksTies) {
    routes = {route("first", "", "/x", ""), route("second", "", "/x", "")};
    EXPECT_EQ(match("GET", "h", "/x"), "first");
}

TEST_F(RouterTest, MethodsFilterAndFallThrough) {
    routes = {route("post-only", "", "/x", "", {"POST"}), route("prefix", "", "", "/", {"GET", "HEAD"})};
    EXPECT_EQ(match("POST", "h", "/x"), "post-only");
    EXPECT_EQ(match("GET", "h", "/x"), "prefix");
    EXPECT_EQ(match("DELETE", "h", "/x"), "-");
}

TEST_F(RouterTest, HostTiers) {
    routes = {route("any", "", "", "/"), route("wild", "*.example.com", "", "/"),
              route("deeper", "*.api.example.com", "", "/"), route("exact", "www.example.com", "", "/")};
    EXPECT_EQ(match("GET", "www.example.com", "/"), "exact");
    EXPECT_EQ(match("GET", "WWW.Example.COM:8080", "/"), "exact");  // case and port ignored
    EXPECT_EQ(match("GET", "a.example.com", "/"), "wild");
    EXPECT_EQ(match("GET", "v1.api.example.com", "/"), "deeper");
    EXPECT_EQ(match("GET", "example.com", "/"), "any");  // *.example.com needs a label before it
    EXPECT_EQ(match("GET", "other.org", "/"), "any");
}

TEST_F(RouterTest, HostTierWithoutMatchFallsBackToNextTier) {
    routes = {route("host-exact", "a.example.com", "/only", ""), route("fallback", "", "", "/")};
    EXPECT_EQ(match("GET", "a.example.com", "/only"), "host-exact");
    EXPECT_EQ(match("GET", "a.example.com", "/else"), "fallback");
}

TEST_F(RouterTest, HostWithPortInRoute) {
    routes = {route("with-port", "a.example.com:8080", "", "/"), route("any", "", "", "/")};
    EXPECT_EQ(match("GET", "a.example.com:8080", "/"), "with-port");
    EXPECT_EQ(match("GET", "a.example.com:9090", "/"), "any");
}

TEST_F(RouterTest, GetAllowsHead) {
    routes = {route("get", "", "/x", "", {"GET"}), route("post", "", "/y", "", {"POST"})};
    EXPECT_EQ(match("HEAD", "h", "/x"), "get");
    EXPECT_EQ(match("HEAD", "h", "/y"), "-");
}

TEST_F(RouterTest, WildcardWithPortAndOverlongHost) {
    routes = {route("wild-port", "*.example.com:8443", "", "/"), route("any", "", "", "/")};
    EXPECT_EQ(match("GET", "a.example.com:8443", "/"), "wild-port");
    EXPECT_EQ(match("GET", "a.example.com", "/"), "any");
    std::string overlong = std::string(400, 'a') + ".example.com:8443";
    EXPECT_EQ(match("GET", overlong, "/"), "any");
}

TEST_F(RouterTest, NoRoutes) {
    EXPECT_EQ(match("GET", "h", "/"), "-");
    EXPECT_EQ(last.route, Router::kNoRoute);
    EXPECT_EQ(last.captures, 0);
}

// --- Precedence within a tier ---------------------------------------------------------------

TEST_F(RouterTest, GroupOrderExactPrefixRegexThenNoPath) {
    // Declared in the reverse of their precedence.
    routes = {route("any", "", "", ""), regex_route("regex", "^/a"), route("prefix", "", "", "/a/"),
              route("exact", "", "/a/b", "")};
    EXPECT_EQ(match("GET", "h", "/a/b"), "exact");
    EXPECT_EQ(match("GET", "h", "/a/c"), "prefix");
    EXPECT_EQ(match("GET", "h", "/ab"), "regex");
    EXPECT_EQ(match("GET", "h", "/b"), "any");
}

TEST_F(RouterTest, RegexesInDeclarationOrderNotLength) {
    routes = {regex_route("short", "^/a"), regex_route("long", "^/a/b/c"), regex_route("other", "x$")};
    EXPECT_EQ(match("GET", "h", "/a/b/c"), "short");
    EXPECT_EQ(match("GET", "h", "/zx"), "other");
    EXPECT_EQ(match("GET", "h", "/z"), "-");
}

TEST_F(RouterTest, RegexIsSearchedUnlessAnchored) {
    routes = {regex_route("unanchored", "v[0-9]+"), regex_route("anchored", "^/only$")};
    EXPECT_EQ(match("GET", "h", "/api/v2/users"), "unanchored");
    EXPECT_EQ(match("GET", "h", "/only"), "anchored");
    EXPECT_EQ(match("GET", "h", "/only/"), "-");
}

TEST_F(RouterTest, DeclarationOrderWithinEachGroup) {
    routes = {route("p1", "", "", "/p", {"POST"}), route("p2", "", "", "/p"), route("p3", "", "", "/p"),
              route("n1", "", "", "", {"PUT"}), route("n2", "", "", ""), route("n3", "", "", "")};
    EXPECT_EQ(match("POST", "h", "/p"), "p1");
    EXPECT_EQ(match("GET", "h", "/p"), "p2");
    EXPECT_EQ(match("PUT", "h", "/x"), "n1");
    EXPECT_EQ(match("GET", "h", "/x"), "n2");
}

TEST_F(RouterTest, FailedConditionsFallThroughEveryGroup) {
    routes = {route("exact", "", "/a/b", "", {"POST"}),
              route("long-prefix", "", "", "/a/b", {"PUT"}),
              route("short-prefix", "", "", "/a", {"PATCH"}),
              with_headers(regex_route("regex", "^/a"), {{"x-k", "1"}}),
              with_query(route("no-path", "", "", ""), {{"q", "1"}})};
    EXPECT_EQ(match("POST", "h", "/a/b"), "exact");
    EXPECT_EQ(match("PUT", "h", "/a/b"), "long-prefix");
    EXPECT_EQ(match("PATCH", "h", "/a/b"), "short-prefix");
    EXPECT_EQ(match("GET", "h", "/a/b", {}, {{"X-K", "1"}}), "regex");
    EXPECT_EQ(match("GET", "h", "/a/b", "q=1"), "no-path");
    EXPECT_EQ(match("GET", "h", "/a/b"), "-");
}

TEST_F(RouterTest, FirstCandidateWinsEvenIfALaterRouteIsMoreSpecific) {
    // Host tiers rank before paths: a host route's catch-all beats an exact path without host.
    routes = {route("exact-any-host", "", "/x", ""), route("host-catch-all", "a.example", "", "")};
    EXPECT_EQ(match("GET", "a.example", "/x"), "host-catch-all");
    EXPECT_EQ(match("GET", "b.example", "/x"), "exact-any-host");
}

TEST_F(RouterTest, HostTiersWithRegexAndConditions) {
    routes = {regex_route("exact-host-regex", "^/v1/", "api.example.com"),
              with_headers(route("wild", "*.example.com", "", "/"), {{"x-beta", "yes"}}),
              regex_route("any-host-regex", "^/v")};
    EXPECT_EQ(match("GET", "api.example.com", "/v1/x"), "exact-host-regex");
    EXPECT_EQ(match("GET", "api.example.com", "/v2/x", {}, {{"X-Beta", "yes"}}), "wild");
    EXPECT_EQ(match("GET", "api.example.com", "/v2/x"), "any-host-regex");
    EXPECT_EQ(match("GET", "api.example.com", "/w"), "-");
}

TEST_F(RouterTest, RegexCombinedWithPrefixOrPathMustAlsoMatch) {
    RouteConfig pre = route("prefix+regex", "", "", "/img/");
    pre.match.path_regex = "\\.png$";
    RouteConfig exact = route("path+regex", "", "/e", "");
    exact.match.path_regex = "^/(e)$";
    routes = {pre, exact, route("any", "", "", "")};
    EXPECT_EQ(match("GET", "h", "/img/a.png"), "prefix+regex");
    EXPECT_EQ(last.captures, 1);
    EXPECT_EQ(match("GET", "h", "/img/a.gif"), "any");
    EXPECT_EQ(match("GET", "h", "/e"), "path+regex");
    EXPECT_EQ(capture("/e", 1), "e");
}

// --- Prefix radix tree ----------------------------------------------------------------------

TEST_F(RouterTest, PrefixesSharingStems) {
    routes = {route("ap", "", "", "/ap"), route("api", "", "", "/api"), route("apix", "", "", "/apix"),
              route("api/", "", "", "/api/"), route("api/v1", "", "", "/api/v1"),
              route("apple", "", "", "/apple")};
    EXPECT_EQ(match("GET", "h", "/a"), "-");
    EXPECT_EQ(match("GET", "h", "/ap"), "ap");
    EXPECT_EQ(match("GET", "h", "/apz"), "ap");
    EXPECT_EQ(match("GET", "h", "/api"), "api");
    EXPECT_EQ(match("GET", "h", "/apix/y"), "apix");
    EXPECT_EQ(match("GET", "h", "/api/v"), "api/");
    EXPECT_EQ(match("GET", "h", "/api/v1/users"), "api/v1");
    EXPECT_EQ(match("GET", "h", "/api/v2"), "api/");
    EXPECT_EQ(match("GET", "h", "/appl"), "ap");
    EXPECT_EQ(match("GET", "h", "/apple"), "apple");
}

TEST_F(RouterTest, RootPrefixAndPrefixEqualToPath) {
    routes = {route("root", "", "", "/"), route("docs", "", "", "/docs")};
    EXPECT_EQ(match("GET", "h", "/"), "root");
    EXPECT_EQ(match("GET", "h", "/docs"), "docs");  // a prefix matches the path equal to it
    EXPECT_EQ(match("GET", "h", "/doc"), "root");
    EXPECT_EQ(match("GET", "h", ""), "-");
    EXPECT_EQ(match("GET", "h", "*"), "-");
}

TEST_F(RouterTest, ShorterPrefixSkippedConditionsFallBackLongestFirst) {
    routes = {route("root", "", "", "/"), route("a", "", "", "/a", {"GET"}),
              route("ab", "", "", "/ab", {"POST"}), route("abc", "", "", "/abc", {"PUT"})};
    EXPECT_EQ(match("PUT", "h", "/abcd"), "abc");
    EXPECT_EQ(match("POST", "h", "/abcd"), "ab");
    EXPECT_EQ(match("GET", "h", "/abcd"), "a");
    EXPECT_EQ(match("DELETE", "h", "/abcd"), "root");
}

TEST(PrefixTree, SplitsAndOrder) {
    PrefixTree t;
    t.insert("/abcdef", 0);  // inserted long first, so later inserts split its edge
    t.insert("/abc", 1);
    t.insert("/abx", 2);
    t.insert("/abc", 3);     // same prefix: kept in insertion order
    t.insert("/", 4);
    t.finish();
    std::vector<int> seen;
    auto all = [&](int v) { seen.push_back(v); return false; };
    EXPECT_EQ(t.find("/abcdefg", all), -1);
    EXPECT_EQ(seen, (std::vector<int>{0, 1, 3, 4}));
    seen.clear();
    t.find("/abcde", all);
    EXPECT_EQ(seen, (std::vector<int>{1, 3, 4}));
    seen.clear();
    t.find("/abx", all);
    EXPECT_EQ(seen, (std::vector<int>{2, 4}));
    seen.clear();
    t.find("/ab", all);
    EXPECT_EQ(seen, (std::vector<int>{4}));
    seen.clear();
    t.find("x", all);
    EXPECT_TRUE(seen.empty());
    EXPECT_EQ(t.find("/abcq", [](int v) { return v == 3; }), 3);
}

TEST(PrefixTree, HighBytesAndEmpty) {
    PrefixTree t;
    EXPECT_TRUE(t.empty());
    t.finish();
    EXPECT_EQ(t.find("/x", [](int) { return true; }), -1);
    t.insert("/\xff\x80", 1);
    t.insert("/\xff", 2);
    t.insert(std::string_view("/\0a", 3), 3);
    t.finish();
    EXPECT_EQ(t.find("/\xff\x80z", [](int) { return true; }), 1);
    EXPECT_EQ(t.find("/\xff\x81", [](int) { return true; }), 2);
    EXPECT_EQ(t.find(std::string_view("/\0ab", 4), [](int) { return true; }), 3);
    EXPECT_EQ(t.find(std::string_view("/\0", 2), [](int) { return true; }), -1);
    PrefixTree with_empty;
    with_empty.insert("", 7);
    with_empty.insert("/a", 8);
    with_empty.finish();
    std::vector<int> seen;
    with_empty.find("/ab", [&](int v) { seen.push_back(v); return false; });
    EXPECT_EQ(seen, (std::vector<int>{8, 7}));
    EXPECT_EQ(with_empty.find("", [](int) { return true; }), 7);
}

// Many random prefixes over a small alphabet (lots of shared stems and splits), checked
// against a linear scan.
TEST(PrefixTree, ManyPrefixesAgainstBruteForce) {
    std::mt19937 rng(42);
    auto word = [&](size_t max) {
        std::string s = "/";
        size_t n = rng() % max;
        for (size_t i = 0; i < n; ++i) s.push_back("ab/"[rng() % 3]);
        return s;
    };
    std::vector<std::string> prefixes;
    for (int i = 0; i < 2000; ++i) prefixes.push_back(word(9));
    PrefixTree t;
    for (size_t i = 0; i < prefixes.size(); ++i) t.insert(prefixes[i], static_cast<int>(i));
    t.finish();
    for (int q = 0; q < 2000; ++q) {
        std::string path = word(12);
        std::vector<int> expected;
        for (size_t i = 0; i < prefixes.size(); ++i)
            if (std::string_view(path).starts_with(prefixes[i])) expected.push_back(static_cast<int>(i));
        std::stable_sort(expected.begin(), expected.end(),
                         [&](int a, int b) { return prefixes[a].size() > prefixes[b].size(); });
        std::vector<int> got;
        t.find(path, [&](int v) { got.push_back(v); return false; });
        ASSERT_EQ(got, expected) << path;
    }
}

TEST_F(RouterTest, ManyPrefixes) {
    for (int i = 0; i < 500; ++i) routes.push_back(route("r" + std::to_string(i), "", "", "/svc/" + std::to_string(i) + "/"));
    routes.push_back(route("svc", "", "", "/svc/"));
    EXPECT_EQ(match("GET", "h", "/svc/42/x"), "r42");
    EXPECT_EQ(match("GET", "h", "/svc/420/x"), "r420");
    EXPECT_EQ(match("GET", "h", "/svc/4200/x"), "svc");
    EXPECT_EQ(match("GET", "h", "/svc/499/"), "r499");
    EXPECT_EQ(match("GET", "h", "/svc"), "-");
}

// --- Regex captures and rewrite -------------------------------------------------------------

TEST_F(RouterTest, RegexCaptures) {
    routes = {regex_route("users", "^/users/([0-9]+)(?:/(posts|likes))?(/.*)?$")};
    std::string_view path = "/users/42/posts/7";
    ASSERT_EQ(match("GET", "h", path), "users");
    EXPECT_EQ(last.captures, 4);
    EXPECT_EQ(capture(path, 0), "/users/42/posts/7");
    EXPECT_EQ(capture(path, 1), "42");
    EXPECT_EQ(capture(path, 2), "posts");
    EXPECT_EQ(capture(path, 3), "/7");
    EXPECT_EQ(last.ovector[2], 7u);
    EXPECT_EQ(last.ovector[3], 9u);

    path = "/users/42";
    ASSERT_EQ(match("GET", "h", path), "users");
    EXPECT_EQ(last.captures, 2);  // groups after the last one set are not counted
    EXPECT_EQ(capture(path, 1), "42");

    path = "/users/42/x";  // group 2 unset, group 3 set: group 2 reads as empty
    ASSERT_EQ(match("GET", "h", path), "users");
    EXPECT_EQ(last.captures, 4);
    EXPECT_EQ(capture(path, 2), "");
    EXPECT_EQ(capture(path, 3), "/x");
}

TEST_F(RouterTest, NonRegexRouteHasNoCaptures) {
    routes = {regex_route("re", "^/r/(.*)"), route("p", "", "", "/p")};
    EXPECT_EQ(match("GET", "h", "/r/x"), "re");
    EXPECT_EQ(last.captures, 2);
    EXPECT_EQ(match("GET", "h", "/p"), "p");
    EXPECT_EQ(last.captures, 0);
}

TEST_F(RouterTest, MoreThanTenGroupsKeepsTheFirstTen) {
    routes = {regex_route("many", "^/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)$")};
    std::string_view path = "/abcdefghijkl";
    ASSERT_EQ(match("GET", "h", path), "many");
    EXPECT_EQ(last.captures, RouteMatchResult::kMaxCaptures);
    EXPECT_EQ(capture(path, 9), "i");
    std::string out;
    expand_rewrite(out, "$9$1$0", path, last);
    EXPECT_EQ(out, "ia/abcdefghijkl");
}

TEST_F(RouterTest, RegexMatchesRawBytesWithoutDecoding) {
    routes = {regex_route("enc", "^/a%20b/(.+)$")};
    std::string path = "/a%20b/\xff\xfe";  // not UTF-8: the pattern is compiled without UTF
    ASSERT_EQ(match("GET", "h", path), "enc");
    EXPECT_EQ(capture(path, 1), "\xff\xfe");
}

TEST_F(RouterTest, BadRegexNeverMatches) {
    routes = {regex_route("bad", "^/(unclosed"), route("any", "", "", "")};
    EXPECT_EQ(match("GET", "h", "/(unclosed"), "any");
}

TEST_F(RouterTest, CatastrophicBacktrackingHitsTheMatchLimit) {
    routes = {regex_route("evil", "^/(a+)+$"), route("any", "", "", "")};
    std::string path = "/" + std::string(40, 'a') + "!";
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(match("GET", "h", path), "any");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_EQ(match("GET", "h", "/aaaa"), "evil");
}

TEST(ExpandRewrite, Substitutions) {
    RouteMatchResult m;
    std::string_view path = "/users/42/posts";
    // $0 = whole path, $1 = "42", $2 = "posts"
    m.route = 0;
    m.captures = 3;
    uint32_t ov[] = {0, 15, 7, 9, 10, 15};
    std::copy(std::begin(ov), std::end(ov), m.ovector);
    auto expand = [&](std::string_view tmpl) {
        std::string out = "pre:";  // appended to, not replaced
        expand_rewrite(out, tmpl, path, m);
        return out;
    };
    EXPECT_EQ(expand("/v2/u/$1/$2"), "pre:/v2/u/42/posts");
    EXPECT_EQ(expand("$0"), "pre:/users/42/posts");
    EXPECT_EQ(expand("$1$1"), "pre:4242");
    EXPECT_EQ(expand("/cost/$$1"), "pre:/cost/$1");
    EXPECT_EQ(expand("$$$1"), "pre:$42");
    EXPECT_EQ(expand("/x/$3/$9"), "pre:/x//");  // missing captures expand to nothing
    EXPECT_EQ(expand("/a$"), "pre:/a$");        // trailing '$' kept
    EXPECT_EQ(expand("/$x/$"), "pre:/$x/$");    // '$' before a non-digit kept
    EXPECT_EQ(expand("$10"), "pre:420");        // one digit only: $1 then "0"
    EXPECT_EQ(expand(""), "pre:");
    EXPECT_EQ(expand("plain"), "pre:plain");
}

TEST(ExpandRewrite, NoCapturesAndBadOffsets) {
    RouteMatchResult none;
    std::string out;
    expand_rewrite(out, "/a/$0/$1/$$", "/path", none);
    EXPECT_EQ(out, "/a///$");
    RouteMatchResult bad;
    bad.captures = 2;
    bad.ovector[2] = 3;
    bad.ovector[3] = 99;  // beyond the path: ignored rather than read out of bounds
    out.clear();
    expand_rewrite(out, "[$1]", "/path", bad);
    EXPECT_EQ(out, "[]");
}

TEST_F(RouterTest, CapturesDriveRewrite) {
    routes = {regex_route("v1", "^/api/v1/(\\w+)/(\\d+)$")};
    std::string_view path = "/api/v1/orders/17";
    ASSERT_EQ(match("GET", "h", path), "v1");
    std::string out;
    expand_rewrite(out, "/internal/$1?id=$2", path, last);
    EXPECT_EQ(out, "/internal/orders?id=17");
}

// --- Header and query conditions ------------------------------------------------------------

TEST_F(RouterTest, HeaderConditions) {
    routes = {with_headers(route("both", "", "", "/"), {{"x-env", "canary"}, {"x-tenant", "acme"}}),
              with_headers(route("env", "", "", "/"), {{"x-env", "canary"}}), route("plain", "", "", "/")};
    EXPECT_EQ(match("GET", "h", "/", {}, {{"X-Env", "canary"}, {"X-TENANT", "acme"}}), "both");
    EXPECT_EQ(match("GET", "h", "/", {}, {{"x-env", "canary"}}), "env");
    EXPECT_EQ(match("GET", "h", "/", {}, {{"x-env", "Canary"}}), "plain");   // values exact
    EXPECT_EQ(match("GET", "h", "/", {}, {{"x-env", "canary2"}}), "plain");
    EXPECT_EQ(match("GET", "h", "/", {}, {{"x-env", "prod"}, {"x-env", "canary"}}), "plain");  // first wins
    EXPECT_EQ(match("GET", "h", "/"), "plain");
}

TEST_F(RouterTest, EmptyHeaderValueNeedsTheHeader) {
    routes = {with_headers(route("flag", "", "", "/"), {{"x-flag", ""}}), route("plain", "", "", "/")};
    EXPECT_EQ(match("GET", "h", "/", {}, {{"X-Flag", ""}}), "flag");
    EXPECT_EQ(match("GET", "h", "/"), "plain");
    EXPECT_EQ(match("GET", "h", "/", {}, {{"x-flag", "1"}}), "plain");
}

TEST_F(RouterTest, QueryConditions) {
    routes = {with_query(route("ab", "", "", "/"), {{"a", "1"}, {"b", "2"}}),
              with_query(route("a", "", "", "/"), {{"a", "1"}}),
              with_query(route("empty", "", "", "/"), {{"e", ""}}),
              with_query(route("enc", "", "", "/"), {{"q", "a%20b"}}), route("plain", "", "", "/")};
    EXPECT_EQ(match("GET", "h", "/", "a=1&b=2"), "ab");
    EXPECT_EQ(match("GET", "h", "/", "b=2&x&a=1"), "ab");
    EXPECT_EQ(match("GET", "h", "/", "a=1"), "a");
    EXPECT_EQ(match("GET", "h", "/", "a=1&a=2&b=2"), "ab");
    EXPECT_EQ(match("GET", "h", "/", "a=2&a=1"), "plain");   // first occurrence wins
    EXPECT_EQ(match("GET", "h", "/", "A=1"), "plain");       // names case-sensitive
    EXPECT_EQ(match("GET", "h", "/", "a=10"), "plain");
    EXPECT_EQ(match("GET", "h", "/", "aa=1"), "plain");
    EXPECT_EQ(match("GET", "h", "/", "&&a=1&&"), "a");
    EXPECT_EQ(match("GET", "h", "/", "e"), "empty");         // no '=': empty value
    EXPECT_EQ(match("GET", "h", "/", "e="), "empty");
    EXPECT_EQ(match("GET", "h", "/", "e=x"), "plain");
    EXPECT_EQ(match("GET", "h", "/", "q=a%20b"), "enc");     // no percent-decoding
    EXPECT_EQ(match("GET", "h", "/", "q=a b"), "plain");
    EXPECT_EQ(match("GET", "h", "/", "x=a=1"), "plain");
    EXPECT_EQ(match("GET", "h", "/", "a=1=2"), "plain");     // value is "1=2"
    EXPECT_EQ(match("GET", "h", "/"), "plain");
}

TEST_F(RouterTest, ConditionsFromAParsedRequest) {
    routes = {with_query(with_headers(route("cond", "api.example.com", "", "/v1/", {"GET"}),
                                      {{"x-version", "2"}}),
                         {{"debug", "1"}}),
              route("any", "", "", "")};
    std::string head =
        "GET /v1/items?page=3&debug=1 HTTP/1.1\r\nHost: API.example.com:8080\r\n"
        "X-Version: 2\r\n\r\n";
    Request req;
    gw::http::ParseError err;
    ASSERT_EQ(gw::http::parse_request_head(head, {}, req, err), gw::http::ParseResult::Complete);
    EXPECT_EQ(match_req(req), "cond");
    head.replace(head.find("debug=1"), 7, "debug=0");
    ASSERT_EQ(gw::http::parse_request_head(head, {}, req, err), gw::http::ParseResult::Complete);
    EXPECT_EQ(match_req(req), "any");
}

// --- No allocation in match() ---------------------------------------------------------------

TEST_F(RouterTest, MatchDoesNotAllocate) {
    routes = {route("exact-host", "api.example.com", "/v1/health", "", {"GET"}),
              with_headers(route("wild", "*.example.com", "", "/v1/", {"POST"}), {{"x-k", "v"}}),
              route("p1", "", "", "/static/"), route("p2", "", "", "/static/img/"),
              with_query(regex_route("re", "^/users/(\\d+)/(\\w+)$"), {{"a", "1"}}),
              regex_route("re2", "^/items/(.*)$"), route("any", "", "", "", {"DELETE"})};
    Router router(routes);
    std::string long_host = std::string(250, 'X') + ".EXAMPLE.com:8443";
    struct Case {
        std::string_view method, host, path, query;
        const char* want;
    } cases[] = {
        {"HEAD", "API.Example.com:8080", "/v1/health", "", "exact-host"},
        {"POST", "www.example.com", "/v1/x", "", "-"},  // header missing
        {"GET", "x", "/static/img/a.png", "", "p2"},
        {"GET", "x", "/static/a.css", "", "p1"},
        {"GET", "x", "/users/7/posts", "b=2&a=1", "re"},
        {"GET", long_host, "/items/abc", "", "re2"},
        {"DELETE", "x", "/nothing", "", "any"},
        {"GET", "x", "/nothing", "", "-"},
    };
    RouteMatchResult results[std::size(cases)];
    for (int round = 0; round < 2; ++round) {  // the first round may warm up nothing: count both
        g_news = 0;
        g_count_news = true;
        for (size_t i = 0; i < std::size(cases); ++i) {
            const Case& c = cases[i];
            results[i] = router.match(request(c.method, c.host, c.path, c.query));
        }
        g_count_news = false;
        EXPECT_EQ(g_news, 0) << "round " << round;
    }
    // The counter works: a std::string beyond SSO allocates.
    g_news = 0;
    g_count_news = true;
    std::string probe(100, 'x');
    asm volatile("" : : "r"(probe.data()) : "memory");  // keep the allocation
    g_count_news = false;
    EXPECT_GE(g_news, 1);
    for (size_t i = 0; i < std::size(cases); ++i) EXPECT_EQ(name_of(results[i]), cases[i].want) << i;
    EXPECT_EQ(results[4].captures, 3);
}

}  // namespace

TEST_F(RouterTest, ListenerConditionTakesOnlyThatListenersRequests) {
    RouteConfig redirect = route("to-https", "", "", "/");
    redirect.match.listener = "127.0.0.1:80";
    redirect.match.listener_index = 1;
    routes = {redirect, route("app", "", "", "/")};
    Router router(routes);
    EXPECT_EQ(name_of(router.match(request("GET", "h", "/x"), 1)), "to-https");
    EXPECT_EQ(name_of(router.match(request("GET", "h", "/x"), 0)), "app");   // another listener
    EXPECT_EQ(name_of(router.match(request("GET", "h", "/x"))), "app");      // no listener known
}
