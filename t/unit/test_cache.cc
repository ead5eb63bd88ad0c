// The cache module's pieces: RFC 9111 freshness (Cache-Control, HTTP-dates, what is stored and
// for how long, age), the shared-memory store (variants, replacement, purge, eviction, pins,
// fill claims), stored heads refreshed by a 304, and the configuration.
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "core/shm/zone.h"
#include "http/parser.h"
#include "modules/cache/config.h"
#include "modules/cache/freshness.h"
#include "modules/cache/percent.h"
#include "modules/cache/store.h"
#include "modules/cache/stored.h"

namespace gw::cache {
namespace {

CacheControl cc(std::vector<std::string_view> fields) { return parse_cache_control(fields); }

TEST(CacheFreshness, CacheControl) {
    CacheControl c = cc({"public, max-age=60", "s-maxage=\"30\", stale-while-revalidate=5"});
    EXPECT_TRUE(c.is_public);
    EXPECT_EQ(c.max_age, 60);
    EXPECT_EQ(c.s_maxage, 30);
    EXPECT_EQ(c.stale_while_revalidate, 5);
    EXPECT_EQ(c.stale_if_error, -1);
    EXPECT_EQ(cc({"Max-Age=10, max-age=20"}).max_age, 10) << "twice: the smaller";
    EXPECT_EQ(cc({"max-age=abc"}).max_age, 0) << "a bad max-age is stale (RFC 9111 4.2.1)";
    EXPECT_EQ(cc({"max-age"}).max_age, 0);
    EXPECT_EQ(cc({"max-age=99999999999"}).max_age, int64_t{1} << 31);
    EXPECT_TRUE(cc({"no-cache=\"set-cookie, x\""}).no_cache);
    EXPECT_TRUE(cc({"private=\"a,b\", max-age=5"}).is_private);
    EXPECT_EQ(cc({"private=\"a,b\", max-age=5"}).max_age, 5) << "a comma inside quotes is not a separator";
    EXPECT_TRUE(cc({" NO-STORE "}).no_store);
    EXPECT_TRUE(cc({"must-revalidate"}).must_revalidate);
    EXPECT_FALSE(cc({"x-unknown=1, nostore"}).no_store);
}

TEST(CacheFreshness, HttpDates) {
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
    for (const char* bad : {"", "0", "Sun, 06 Nov 1994 08:49:37", "Sun, 32 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Nox 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "-1", "Thu, 01 Jan 1970"})
        EXPECT_EQ(parse_http_date(bad), -1) << bad;
    EXPECT_EQ(parse_delta_seconds("120"), 120);
    EXPECT_EQ(parse_delta_seconds("-1"), -1);
    EXPECT_EQ(parse_delta_seconds(""), -1);
}

StoreDecision decide(ResponseFacts f, bool authorization = false, Policy p = {}) {
    return decide_store(f, authorization, p);
}

TEST(CacheFreshness, WhatIsStored) {
    ResponseFacts f;
    f.status = 200;
    f.cc = cc({"max-age=60"});
    StoreDecision d = decide(f);
    EXPECT_TRUE(d.store);
    EXPECT_EQ(d.lifetime, 60);
    f.cc = cc({"max-age=60, s-maxage=10"});
    EXPECT_EQ(decide(f).lifetime, 10) << "s-maxage wins for a shared cache";
    EXPECT_TRUE(decide(f).must_revalidate) << "s-maxage implies proxy-revalidate";
    f.cc = cc({"max-age=60, no-store"});
    EXPECT_FALSE(decide(f).store);
    f.cc = cc({"max-age=60, private"});
    EXPECT_FALSE(decide(f).store);
    f.cc = cc({"max-age=60"});
    f.set_cookie = true;
    EXPECT_FALSE(decide(f).store);
    f.set_cookie = false;
    f.vary_star = true;
    EXPECT_FALSE(decide(f).store);
    f.vary_star = false;
    EXPECT_FALSE(decide(f, true).store) << "Authorization, and the response does not allow it";
    f.cc = cc({"max-age=60, public"});
    EXPECT_TRUE(decide(f, true).store);
    // Expires - Date; a bad Expires is already stale.
    f.cc = {};
    f.date = 1000;
    f.expires = 1300;
    EXPECT_EQ(decide(f).lifetime, 300);
    f.expires = -1;
    f.has_validator = true;
    EXPECT_EQ(decide(f).lifetime, 0);
    EXPECT_TRUE(decide(f).store) << "stale at once, but revalidatable";
    f.has_validator = false;
    EXPECT_FALSE(decide(f).store);
    // default_ttl for heuristically cacheable statuses only.
    f = {};
    f.status = 200;
    EXPECT_FALSE(decide(f).store) << "default_ttl 0";
    EXPECT_EQ(decide(f, false, {120, 0, 0}).lifetime, 120);
    f.status = 404;
    EXPECT_TRUE(decide(f, false, {120, 0, 0}).store);
    f.status = 302;
    EXPECT_FALSE(decide(f, false, {120, 0, 0}).store);
    f.cc = cc({"max-age=5"});
    EXPECT_TRUE(decide(f).store) << "any status with explicit freshness";
    f.status = 206;
    EXPECT_FALSE(decide(f).store);
    f.status = 500;
    EXPECT_FALSE(decide(f).store) << "an error is not kept, whatever its freshness";
    f.status = 501;
    EXPECT_FALSE(decide(f, false, {120, 0, 0}).store);
    // no-cache: stored, revalidated before every use, when it has a validator.
    f.status = 200;
    f.cc = cc({"no-cache, max-age=60"});
    EXPECT_FALSE(decide(f).store);
    f.has_validator = true;
    EXPECT_TRUE(decide(f).store);
    EXPECT_EQ(decide(f).lifetime, 0);
    // Stale windows: the response's, else the route's; never with must-revalidate.
    f.cc = cc({"max-age=60, stale-while-revalidate=7"});
    d = decide(f, false, {0, 30, 300});
    EXPECT_EQ(d.swr, 7);
    EXPECT_EQ(d.sie, 300);
    f.cc = cc({"max-age=60, must-revalidate, stale-if-error=9"});
    d = decide(f, false, {0, 30, 300});
    EXPECT_EQ(d.swr, 0);
    EXPECT_EQ(d.sie, 0);
}

TEST(CacheFreshness, Age) {
    ResponseFacts f;
    f.date = 1000;
    f.age = 5;
    EXPECT_EQ(initial_age(f, 1009, 1010), 10) << "apparent age (1010 - 1000) beats 5 + 1";
    f.date = 1010;
    EXPECT_EQ(initial_age(f, 1008, 1010), 7) << "corrected age: 5 + the response delay 2";
}

// ---- the store, in a real zone

class CacheStore : public ::testing::Test {
  protected:
    void SetUp() override {
        zone_ = shm::Zone::create("cache.test", size_, kLayoutVersion);
        ASSERT_NE(zone_, nullptr);
        ASSERT_TRUE(Store::init(*zone_));
        store_ = Store::attach(*zone_);
        ASSERT_NE(store_, nullptr);
    }
    std::string head(size_t body) {
        std::string h = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n";
        end_stored_head(h, body);
        return h;
    }
    Store::Object find(const std::string& key, std::string lang = "") {
        lang_ = lang;
        return store_->find(
            key,
            [](std::string_view names, void* arg, std::string& out) {
                out += '\0';
                out += names;
                out += '=';
                out += *static_cast<std::string*>(arg);
            },
            &lang_, scratch_);
    }
    uint64_t size_ = 4u << 20;
    std::unique_ptr<shm::Zone> zone_;
    std::unique_ptr<Store> store_;
    std::string scratch_, lang_;
};

TEST_F(CacheStore, InsertFindReplace) {
    Meta m;
    m.lifetime = 60;
    ASSERT_TRUE(store_->insert("GET a /x", "", "", head(5), "hello", m));
    Store::Object o = find("GET a /x");
    ASSERT_TRUE(o);
    EXPECT_EQ(o.body, "hello");
    EXPECT_EQ(o.meta.lifetime, 60);
    EXPECT_FALSE(find("GET a /y"));
    // Replaced while pinned: the reader keeps the old bytes; the next finds the new.
    ASSERT_TRUE(store_->insert("GET a /x", "", "", head(5), "world", m));
    EXPECT_EQ(o.body, "hello");
    Store::Object n = find("GET a /x");
    ASSERT_TRUE(n);
    EXPECT_EQ(n.body, "world");
    store_->unpin(o);
    store_->unpin(n);
    EXPECT_EQ(store_->stats().objects, 1u);
}

TEST_F(CacheStore, VaryVariants) {
    Meta m;
    std::string en = std::string("GET a /v") + '\0' + "accept-language=en";
    std::string fr = std::string("GET a /v") + '\0' + "accept-language=fr";
    ASSERT_TRUE(store_->insert("GET a /v", "accept-language", en, head(2), "en", m));
    ASSERT_TRUE(store_->insert("GET a /v", "accept-language", fr, head(2), "fr", m));
    Store::Object o = find("GET a /v", "fr");
    ASSERT_TRUE(o);
    EXPECT_EQ(o.body, "fr");
    store_->unpin(o);
    o = find("GET a /v", "en");
    ASSERT_TRUE(o);
    EXPECT_EQ(o.body, "en");
    store_->unpin(o);
    EXPECT_FALSE(find("GET a /v", "de"));
    EXPECT_EQ(store_->stats().objects, 2u) << "the marker is not an object";
    // An exact purge of the key takes every variant.
    EXPECT_EQ(store_->purge("GET a /v", false), 2u);
    EXPECT_FALSE(find("GET a /v", "en"));
    EXPECT_EQ(store_->stats().objects, 0u);
}

TEST_F(CacheStore, PurgeByPrefix) {
    Meta m;
    for (const char* k : {"GET a /catalog/1", "GET a /catalog/2", "GET a /cart", "GET b /catalog/1"})
        ASSERT_TRUE(store_->insert(k, "", "", head(1), "x", m));
    EXPECT_EQ(store_->purge("GET a /catalog/", true), 2u);
    EXPECT_FALSE(find("GET a /catalog/1"));
    Store::Object o = find("GET a /cart");
    EXPECT_TRUE(o);
    store_->unpin(o);
    EXPECT_EQ(store_->purge("GET a /cart", false), 1u);
    EXPECT_EQ(store_->purge("GET a /cart", false), 0u);
}

TEST_F(CacheStore, EvictsTheLeastRecentlyUsed) {
    Meta m;
    std::string body(100000, 'b');
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(store_->insert("k" + std::to_string(i), "", "", head(body.size()), body, m));
    EXPECT_GT(store_->stats().evictions, 50u) << "a 4 MiB zone holds about 40 of them";
    EXPECT_FALSE(find("k0"));
    Store::Object o = find("k99");
    EXPECT_TRUE(o);
    store_->unpin(o);
    EXPECT_LE(store_->stats().bytes, size_);
    EXPECT_FALSE(store_->insert("huge", "", "", head(8u << 20), std::string(8u << 20, 'h'), m)) << "larger than the zone";
}

TEST_F(CacheStore, APinnedObjectOutlivesItsEviction) {
    Meta m;
    ASSERT_TRUE(store_->insert("pinned", "", "", head(6), "pinned", m));
    Store::Object o = find("pinned");
    ASSERT_TRUE(o);
    std::string body(100000, 'b');
    for (int i = 0; i < 100; ++i) store_->insert("k" + std::to_string(i), "", "", head(body.size()), body, m);
    EXPECT_FALSE(find("pinned")) << "evicted";
    EXPECT_EQ(o.body, "pinned") << "but its bytes stay until unpinned";
    store_->unpin(o);
    // Its memory came back: the zone still takes as many objects.
    for (int i = 100; i < 140; ++i) EXPECT_TRUE(store_->insert("k" + std::to_string(i), "", "", head(body.size()), body, m));
}

TEST_F(CacheStore, FillClaims) {
    uint64_t h = Store::hash("GET a /x");
    int64_t first = 0, second = 0, third = 0;
    EXPECT_EQ(store_->claim_fill(h, 1000, 5000, &first), Store::Claim::Claimed);
    EXPECT_EQ(store_->claim_fill(h, 1001, 5000), Store::Claim::Busy);
    EXPECT_TRUE(store_->fill_pending(h, 1001, 5000));
    EXPECT_FALSE(store_->fill_pending(h, 7000, 5000)) << "past lock_timeout";
    EXPECT_EQ(store_->claim_fill(h, 7000, 5000, &second), Store::Claim::Claimed) << "taken over after lock_timeout";
    store_->end_fill(h, first);
    EXPECT_TRUE(store_->fill_pending(h, 7001, 5000)) << "the first fill's end leaves the newer claim alone";
    store_->end_fill(h, second);
    EXPECT_FALSE(store_->fill_pending(h, 7001, 5000));
    EXPECT_EQ(store_->claim_fill(h, 7002, 5000, &third), Store::Claim::Claimed);
    // Hit-for-pass: a fill whose response could not be stored lets the key's requests through.
    store_->end_fill(h, third, 7010, 10000);
    EXPECT_EQ(store_->claim_fill(h, 7011, 5000), Store::Claim::Pass);
    EXPECT_FALSE(store_->fill_pending(h, 7011, 5000));
    EXPECT_EQ(store_->claim_fill(h, 17011, 5000), Store::Claim::Claimed) << "after the pass";
}

TEST_F(CacheStore, KeptByAnotherAttach) {
    Meta m;
    ASSERT_TRUE(store_->insert("GET a /x", "", "", head(5), "hello", m));
    std::unique_ptr<Store> again = Store::attach(*zone_);  // (as a new generation's worker does)
    ASSERT_NE(again, nullptr);
    std::string scratch;
    Store::Object o = again->find("GET a /x", nullptr, nullptr, scratch);
    ASSERT_TRUE(o);
    EXPECT_EQ(o.body, "hello");
    again->unpin(o);
}

TEST_F(CacheStore, AWorkerThatDiesHoldingTheLockEmptiesTheStore) {
    Meta m;
    ASSERT_TRUE(store_->insert("GET a /x", "", "", head(5), "hello", m));
    pid_t pid = fork();
    if (pid == 0) {  // a worker killed in the middle of a store operation
        zone_->mutex().lock();
        _exit(0);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_FALSE(find("GET a /x")) << "emptied, not walked half-linked";
    EXPECT_EQ(store_->stats().objects, 0u);
    ASSERT_TRUE(store_->insert("GET a /y", "", "", head(5), "again", m)) << "and usable at once";
    Store::Object o = find("GET a /y");
    ASSERT_TRUE(o);
    EXPECT_EQ(o.body, "again");
    store_->unpin(o);
}

TEST_F(CacheStore, TheMasterDropsTheLostPinsOfAnExitedWorker) {
    Meta m;
    ASSERT_TRUE(store_->insert("GET a /x", "", "", head(5), "hello", m));
    pid_t pid = fork();
    if (pid == 0) {  // worker slot 3, killed while it answers from the object (pinned)
        std::unique_ptr<Store> mine = Store::attach(*zone_, 3);
        std::string scratch;
        Store::Object o = mine->find("GET a /x", nullptr, nullptr, scratch);
        _exit(o && o.pin >= 0 ? 0 : 1);
    }
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "the child pinned and recorded it";
    uint64_t bytes = store_->stats().bytes;
    EXPECT_EQ(store_->purge("GET a /x", false), 1u);
    EXPECT_EQ(store_->stats().bytes, 0u);
    // Purged while pinned: its memory is held by the lost pin until the master drops it.
    std::unique_ptr<Store> master = Store::attach(*zone_);
    uint64_t in_use = shm::Slab::stats(zone_->base()).bytes_in_use;
    EXPECT_EQ(master->release_slot(3), 1u);
    EXPECT_LT(shm::Slab::stats(zone_->base()).bytes_in_use, in_use) << "the object's memory went back to the zone";
    EXPECT_EQ(master->release_slot(3), 0u) << "once";
    EXPECT_GT(bytes, 0u);
    // A live worker's own pins and unpins leave no records behind.
    std::unique_ptr<Store> live = Store::attach(*zone_, 4);
    ASSERT_TRUE(store_->insert("GET a /y", "", "", head(5), "hello", m));
    std::string scratch;
    for (int i = 0; i < 200; ++i) {  // more than the records a slot has, one at a time
        Store::Object o = live->find("GET a /y", nullptr, nullptr, scratch);
        ASSERT_TRUE(o);
        live->unpin(o);
    }
    EXPECT_EQ(master->release_slot(4), 0u);
}

TEST(CacheStored, Merge304) {
    std::string stored = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\netag: \"1\"\r\ncache-control: max-age=1\r\n"
                         "content-length: 5\r\n\r\n";
    std::string raw = "HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=60\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                      "Connection: keep-alive\r\n\r\n";
    http::Response fresh;
    http::ParseError err;
    ASSERT_EQ(http::parse_response_head(raw, http::ParserLimits{}, false, fresh, err), http::ParseResult::Complete);
    std::string out;
    merge_304(stored, fresh, 5, out);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\netag: \"1\"\r\nCache-Control: max-age=60\r\n"
                   "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 5\r\n\r\n");
    EXPECT_EQ(field_of(out, "cache-control"), "max-age=60");
    EXPECT_EQ(field_of(out, "etag"), "\"1\"");
    EXPECT_EQ(field_of(out, "vary"), "");
}

TEST(CachePercent, Decode) {
    std::string out;
    EXPECT_TRUE(percent_decode("GET%20a%20/x%3Fy", out));
    EXPECT_EQ(out, "GET a /x?y");
    EXPECT_FALSE(percent_decode("%2", out));
    EXPECT_FALSE(percent_decode("%zz", out));
    EXPECT_TRUE(percent_decode("a+b", out));
    EXPECT_EQ(out, "a+b");
}

// ---- configuration

constexpr const char* kHead = "listeners:\n  - address: 127.0.0.1:8080\n";  // lines 1-2

class CacheConfig : public test::ConfigFixture {};

TEST_F(CacheConfig, ReadAndDump) {
    write("gw.conf", std::string(kHead) +
                         "cache:\n  zones: {main: {size: 16m, max_object: 1m}}\n  status_header: X-Cache\n"
                         "upstreams:\n  b: {servers: [{address: \"127.0.0.1:9\"}]}\n"
                         "routes:\n"
                         "  - {name: a, match: {path_prefix: /a/}, upstream: b,\n"
                         "     cache: {zone: main, key: [method, host, path, \"header:Accept-Language\", consumer],\n"
                         "             default_ttl: 1m, stale_while_revalidate: 30s, stale_if_error: 5m, lock_timeout: 2s,\n"
                         "             methods: [GET]}}\n"
                         "  - {name: b, match: {path_prefix: /}, upstream: b}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const Settings* s = settings(*c);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->status_header, "x-cache");
    ASSERT_EQ(s->zones.size(), 1u);
    EXPECT_EQ(s->zones[0].shm_name(), "cache.main");
    const RoutePolicy* p = s->route(0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(s->route(1), nullptr);
    ASSERT_EQ(p->key.size(), 5u);
    EXPECT_EQ(p->key[3].text(), "header:accept-language");
    EXPECT_EQ(p->default_ttl, 60000);
    EXPECT_EQ(p->swr, 30000);
    EXPECT_EQ(p->lock_timeout, 2000);
    EXPECT_FALSE(p->head);
    std::string dumped = dump_config(*c);
    write("again.conf", dumped);
    std::optional<Config> again = load("again.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << dumped;
    std::string d2 = dump_config(*again);
    EXPECT_EQ(d2.substr(d2.find("worker_processes")), dumped.substr(dumped.find("worker_processes")));
}

TEST_F(CacheConfig, Errors) {
    expect_errors(std::string(kHead) +                                                              // 1-2
                      "cache:\n"                                                                    // 3
                      "  zones: {main: {size: 4m, max_object: 2m}, tiny: {max_object: 1k}}\n"       // 4
                      "upstreams:\n  b: {servers: [{address: \"127.0.0.1:9\"}]}\n"                  // 5-6
                      "routes:\n"                                                                   // 7
                      "  - {name: a, match: {path_prefix: /a/}, upstream: b, cache: {zone: maim}}\n"  // 8
                      "  - {name: b, match: {path_prefix: /}, upstream: b, cache: {zone: main, key: [url], methods: [POST]}}\n",
                  {
                      at("gw.conf", 4, 28) + "cache.zones.main.max_object: at most a quarter of the zone's size (1m)",
                      at("gw.conf", 4, 51) + "cache.zones.tiny: missing required key \"size\"",
                      at("gw.conf", 8, 63) + "routes[0].cache.zone: unknown cache zone \"maim\" (did you mean \"main\"?)",
                      at("gw.conf", 9, 79) + "routes[1].cache.key[0]: \"url\" is not a key part (method, host, path, "
                                             "query, consumer, header:NAME, cookie:NAME)",
                      at("gw.conf", 9, 95) + "routes[1].cache.methods[0]: \"POST\": only GET and HEAD are cached (HEAD "
                                             "from GET's objects)",
                      at("gw.conf", 9, 95) + "routes[1].cache.methods: GET must be one of the methods",
                  });
}

}  // namespace
}  // namespace gw::cache
