// The auth module's per-worker pieces: the verified-token cache (found by the whole token, LRU,
// never past its time, pinned entries never evicted and the cache growing rather than failing),
// and where credentials are found in a request (schemes, singletons, cookies, query decoding).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/parser.h"
#include "modules/auth/credentials.h"
#include "modules/auth/token_cache.h"

namespace gw::auth {
namespace {

const std::string kProvider = "main";
const std::vector<std::string> kClaims = {"sub", "tenant"};

TEST(AuthTokenCache, FindsTheWholeTokenOnly) {
    TokenCache cache(4, kProvider, kClaims);
    TokenCache::Entry* e = cache.insert("aaa.bbb.ccc");
    e->consumer_ = "alice";
    e->expires_at = 100;
    e->claims_[1].present = true;
    e->claims_[1].text = "acme";
    EXPECT_EQ(cache.find("aaa.bbb.ccc", 99), e);
    EXPECT_EQ(cache.find("aaa.bbb.cc", 99), nullptr);
    EXPECT_EQ(cache.find("aaa.bbb.ccd", 99), nullptr);
    EXPECT_EQ(cache.find("aaa.bbb.ccc", 100), nullptr) << "never at or past its time";
    EXPECT_EQ(e->consumer(), "alice");
    EXPECT_EQ(e->provider(), "main");
    EXPECT_EQ(e->method(), "jwt");
    EXPECT_EQ(e->claim("tenant"), "acme");
    EXPECT_EQ(e->claim("sub"), "") << "a claim the token lacks";
    EXPECT_EQ(e->claim("other"), "") << "a claim nobody asked for";
}

TEST(AuthTokenCache, LeastRecentlyUsedGoesAndPinnedStay) {
    TokenCache cache(3, kProvider, kClaims);
    auto put = [&](const std::string& t) {
        TokenCache::Entry* e = cache.insert(t);
        e->expires_at = 1000;
        e->consumer_ = t;
        return e;
    };
    TokenCache::Entry* a = put("a");
    put("b");
    put("c");
    ASSERT_NE(cache.find("a", 1), nullptr);  // a is now the most recently used
    put("d");                                 // b goes
    EXPECT_EQ(cache.find("b", 1), nullptr);
    EXPECT_NE(cache.find("c", 1), nullptr);
    EXPECT_NE(cache.find("a", 1), nullptr);
    EXPECT_EQ(cache.size(), 3u);
    // Every entry in use by a request: the cache grows instead of dropping one.
    TokenCache::pin(a);
    TokenCache::pin(cache.find("c", 1));
    TokenCache::pin(cache.find("d", 1));
    TokenCache::Entry* e = put("e");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(cache.size(), 4u);
    EXPECT_EQ(a->consumer(), "a") << "a pinned entry is never reused";
    EXPECT_NE(cache.find("a", 1), nullptr);
    // Unpinned again, the oldest unpinned is reused first (e, used since, is newer than a).
    TokenCache::unpin(a);
    ASSERT_NE(cache.find("e", 1), nullptr);
    put("f");
    EXPECT_EQ(cache.size(), 4u);
    EXPECT_EQ(cache.find("a", 1), nullptr);
}

TEST(AuthTokenCache, AnExpiredTokenIsReplacedInPlace) {
    TokenCache cache(2, kProvider, kClaims);
    TokenCache::Entry* e = cache.insert("t");
    e->expires_at = 10;
    ASSERT_EQ(cache.find("t", 10), nullptr);
    TokenCache::Entry* again = cache.insert("t");
    again->expires_at = 20;
    EXPECT_EQ(again, e) << "the token's own entry is reused";
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(cache.find("t", 15), again);
}

struct Req {
    std::string head;
    http::Request r;
    explicit Req(std::string h) : head(std::move(h)) {
        http::ParseError err;
        EXPECT_EQ(http::parse_request_head(head, http::ParserLimits{}, r, err), http::ParseResult::Complete) << err.reason;
    }
};

std::vector<Source> sources(std::initializer_list<std::pair<Source::Kind, const char*>> list) {
    std::vector<Source> v;
    for (auto& [k, n] : list) v.push_back(Source{k, n});
    return v;
}

TEST(AuthCredentials, WhereTheyAreFound) {
    std::string scratch;
    std::string_view out;
    auto bearer = sources({{Source::Kind::Header, "authorization"}});
    Req a("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: bEaReR   tok.en  \r\n\r\n");
    EXPECT_EQ(find_credential(a.r, bearer, Scheme::Bearer, scratch, out), Found::Yes);
    EXPECT_EQ(out, "tok.en");
    EXPECT_EQ(find_credential(a.r, bearer, Scheme::Basic, scratch, out), Found::None) << "another scheme's";
    Req two("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n");
    EXPECT_EQ(find_credential(two.r, bearer, Scheme::Bearer, scratch, out), Found::Ambiguous);
    Req empty("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer\r\n\r\n");
    EXPECT_EQ(find_credential(empty.r, bearer, Scheme::Bearer, scratch, out), Found::None);

    auto places = sources({{Source::Kind::Header, "x-api-key"}, {Source::Kind::Cookie, "session"},
                           {Source::Kind::Query, "access_token"}});
    Req q("GET /?x=1&access_token=a%2Eb%2ec&y HTTP/1.1\r\nHost: h\r\nCookie: other=1\r\n\r\n");
    EXPECT_EQ(find_credential(q.r, places, Scheme::None, scratch, out), Found::Yes);
    EXPECT_EQ(out, "a.b.c") << "percent-decoded";
    Req c("GET /?access_token=zzz HTTP/1.1\r\nHost: h\r\nCookie: a=1; session=from-cookie\r\n\r\n");
    EXPECT_EQ(find_credential(c.r, places, Scheme::None, scratch, out), Found::Yes);
    EXPECT_EQ(out, "from-cookie") << "the first place that has one wins";
    Req k("GET / HTTP/1.1\r\nHost: h\r\nX-Api-Key:  k1  \r\nCookie: session=s\r\n\r\n");
    EXPECT_EQ(find_credential(k.r, places, Scheme::None, scratch, out), Found::Yes);
    EXPECT_EQ(out, "k1");
    Req bad("GET /?access_token=a%2 HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(find_credential(bad.r, places, Scheme::None, scratch, out), Found::Ambiguous);
    Req none("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(find_credential(none.r, places, Scheme::None, scratch, out), Found::None);
}

}  // namespace
}  // namespace gw::auth
