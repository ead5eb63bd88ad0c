// Idempotency keys: the configuration (every error at its FILE:LINE:COL), the key header's
// parser, the stored-response encoding, the shared-memory table (claim, conflict, mismatch,
// complete, expiry, a dead worker's claims), and the filter through the real codec and proxy
// (in-process, against a tiny backend).
#include <string>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "core/module/module.h"
#include "core/shm/zone.h"
#include "http/stream.h"
#include "modules/idempotency/config.h"
#include "modules/idempotency/filter.h"
#include "modules/idempotency/key.h"
#include "modules/idempotency/table.h"
#include "server_harness.h"

namespace gw::idempotency {
namespace {

constexpr const char* kHead = "listeners:\n  - address: 127.0.0.1:8080\n";  // lines 1-2

TEST(IdempotencyKey, Parse) {
    std::string k;
    EXPECT_TRUE(parse_key("abc-123", k));
    EXPECT_EQ(k, "abc-123");
    EXPECT_TRUE(parse_key("  \"8e03978e-40d5-43e8-bc93-6894a57f9324\" ", k));
    EXPECT_EQ(k, "8e03978e-40d5-43e8-bc93-6894a57f9324");
    EXPECT_TRUE(parse_key("\"a\\\"b\\\\c\"", k));
    EXPECT_EQ(k, "a\"b\\c");
    EXPECT_TRUE(parse_key(std::string(255, 'x'), k));
    for (std::string_view bad : {"", "   ", "\"\"", "\"abc", "\"a\"b", "a b", "\"a b\"", "\"a\\nb\"", "caf\xc3\xa9",
                                 "a\tb", "\"\\x\""})
        EXPECT_FALSE(parse_key(bad, k)) << bad;
    EXPECT_FALSE(parse_key(std::string(256, 'x'), k));
}

TEST(IdempotencyKey, ScopedKeysDiffer) {
    EXPECT_EQ(scoped_key("alice", "pay", "k"), scoped_key("alice", "pay", "k"));
    EXPECT_NE(scoped_key("alice", "pay", "k"), scoped_key("bob", "pay", "k"));
    EXPECT_NE(scoped_key("alice", "pay", "k"), scoped_key("alice", "refund", "k"));
    EXPECT_NE(scoped_key("ab", "c", "k"), scoped_key("a", "bc", "k"));
    EXPECT_EQ(hex(scoped_key("", "", "")).size(), 64u);
    EXPECT_NE(fingerprint("POST", "/pay", "", "{}"), fingerprint("POST", "/pay", "", "{ }"));
    EXPECT_NE(fingerprint("POST", "/pay", "a=1", ""), fingerprint("POST", "/pay", "a=2", ""));
    EXPECT_NE(fingerprint("POST", "/pay", "", ""), fingerprint("PATCH", "/pay", "", ""));
}

TEST(IdempotencyKey, Blob) {
    std::string b;
    blob_start(b, 201);
    b += "content-type: application/json\r\nx-a: 1\r\n";
    blob_set_fields_length(b, b.size() - kBlobPrefix);
    b += "{\"id\":7}";
    Stored st;
    ASSERT_TRUE(blob_parse(b, st));
    EXPECT_EQ(st.status, 201);
    EXPECT_EQ(st.fields, "content-type: application/json\r\nx-a: 1\r\n");
    EXPECT_EQ(st.body, "{\"id\":7}");
    EXPECT_FALSE(blob_parse("200 00000100\nshort", st));
    EXPECT_FALSE(blob_parse("20x 00000000\n", st));
    EXPECT_TRUE(is_unstored_field("Transfer-Encoding"));
    EXPECT_TRUE(is_unstored_field("content-length"));
    EXPECT_FALSE(is_unstored_field("content-type"));
}

class IdempotencyTable : public ::testing::Test {
  protected:
    void SetUp() override {
        zone_ = shm::Zone::create("idempotency-test", 1 << 20, kLayoutVersion);
        ASSERT_TRUE(zone_);
        table_ = Table::attach(*zone_);
        ASSERT_TRUE(table_);
    }
    std::unique_ptr<shm::Zone> zone_;
    std::unique_ptr<Table> table_;
};

TEST_F(IdempotencyTable, ClaimConflictMismatchCompleteExpire) {
    Digest k = scoped_key("c", "r", "key-1"), fp = fingerprint("POST", "/p", "", "body"),
           other = fingerprint("POST", "/p", "", "other");
    uint32_t token = 0, t2 = 0;
    std::string replay;
    EXPECT_EQ(table_->claim(k, fp, 1000, 5000, 3, &token, &replay), Table::Outcome::Claimed);
    EXPECT_NE(token, 0u);
    EXPECT_EQ(table_->claim(k, fp, 1001, 5000, 4, &t2, &replay), Table::Outcome::InFlight);
    EXPECT_EQ(table_->claim(k, other, 1001, 5000, 4, &t2, &replay), Table::Outcome::Mismatch);
    EXPECT_FALSE(table_->complete(k, token + 1, "x", 1002, 5000)) << "only the holder's token completes";
    EXPECT_TRUE(table_->complete(k, token, "stored", 1002, 5000));
    EXPECT_EQ(table_->claim(k, fp, 1003, 5000, 4, &t2, &replay), Table::Outcome::Completed);
    EXPECT_EQ(replay, "stored");
    EXPECT_EQ(table_->claim(k, other, 1003, 5000, 4, &t2, &replay), Table::Outcome::Mismatch);
    EXPECT_EQ(table_->live(1003), 1u);
    // Expired (completed at 1002 with a ttl of 5000): the key is new again.
    EXPECT_EQ(table_->claim(k, other, 6002, 5000, 4, &t2, &replay), Table::Outcome::Claimed);
}

TEST_F(IdempotencyTable, ReleaseAndDeadWorker) {
    Digest a = scoped_key("c", "r", "a"), b = scoped_key("c", "r", "b"), fp{};
    uint32_t ta = 0, tb = 0;
    std::string replay;
    ASSERT_EQ(table_->claim(a, fp, 0, 1000, 7, &ta, &replay), Table::Outcome::Claimed);
    ASSERT_EQ(table_->claim(b, fp, 0, 1000, 8, &tb, &replay), Table::Outcome::Claimed);
    table_->release(a, ta);
    EXPECT_EQ(table_->claim(a, fp, 1, 1000, 7, &ta, &replay), Table::Outcome::Claimed) << "released: claimable";
    EXPECT_EQ(table_->release_owner(8), 1u);  // the worker of slot 8 died
    EXPECT_EQ(table_->claim(b, fp, 2, 1000, 9, &tb, &replay), Table::Outcome::Claimed);
    EXPECT_EQ(table_->release_owner(8), 0u);
}

TEST_F(IdempotencyTable, FullRefusesNewKeysUntilTheyExpire) {
    Digest fp{};
    uint32_t t = 0;
    std::string replay;
    size_t claimed = 0, full = 0;
    for (int i = 0; i < 20000 && full == 0; ++i) {
        Table::Outcome o = table_->claim(scoped_key("", "", std::to_string(i)), fp, 0, 1000, 1, &t, &replay);
        if (o == Table::Outcome::Claimed) ++claimed;
        if (o == Table::Outcome::Full) ++full;
    }
    EXPECT_EQ(full, 1u);
    EXPECT_GT(claimed, Table::kProbe);
    EXPECT_LE(claimed, table_->capacity());
    // Later than the ttl, the expired entries make room.
    EXPECT_EQ(table_->claim(scoped_key("", "", "late"), fp, 5000, 1000, 1, &t, &replay), Table::Outcome::Claimed);
}

class IdempotencyConfig : public test::ConfigFixture {};

TEST_F(IdempotencyConfig, DefaultsAndDump) {
    write("gw.conf", std::string(kHead) +
                         "redis: {address: \"127.0.0.1:6379\"}\n"
                         "idempotency_zone_size: 1m\n"
                         "idempotency:\n"
                         "  plain: {}\n"
                         "  payments: {methods: [POST], header: X-Key, required: true, ttl: 1h, lease: 10s, scope: global,\n"
                         "             max_response: 8k, key_by: [route], fingerprint: none, on_store_error: allow,\n"
                         "             store_5xx: true}\n"
                         "routes:\n"
                         "  - {name: pay, match: {path_prefix: /pay/}, idempotency: payments, return: {status: 204}}\n"
                         "  - {name: other, match: {path_prefix: /}, return: {status: 204}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const Settings* s = settings(*c);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->zone_size, 1u << 20);
    ASSERT_EQ(s->policies.size(), 2u);
    const Policy& d = s->policies[0];
    EXPECT_EQ(d.methods, (std::vector<std::string>{"POST", "PATCH"}));
    EXPECT_EQ(d.header, "idempotency-key");
    EXPECT_FALSE(d.required);
    EXPECT_EQ(d.ttl, 24 * 3600 * 1000);
    EXPECT_EQ(d.lease, 60 * 1000);
    EXPECT_EQ(d.scope, Policy::Scope::Local);
    EXPECT_EQ(d.max_response, 64u * 1024);
    EXPECT_TRUE(d.by_consumer && d.by_route);
    EXPECT_EQ(d.fingerprint, Policy::Fingerprint::Body);
    EXPECT_EQ(d.on_store_error, Policy::OnStoreError::Reject);
    EXPECT_FALSE(d.store_5xx);
    const Policy& p = s->policies[1];
    EXPECT_EQ(p.header, "x-key");
    EXPECT_EQ(p.lease, 10 * 1000);
    EXPECT_TRUE(p.required && p.store_5xx);
    EXPECT_EQ(p.scope, Policy::Scope::Global);
    EXPECT_FALSE(p.by_consumer);
    EXPECT_TRUE(p.by_route);
    EXPECT_EQ(p.fingerprint, Policy::Fingerprint::None);
    EXPECT_EQ(s->route(0), &p);
    EXPECT_EQ(s->route(1), nullptr);
    std::string dump;
    gw::idempotency::dump(*c, dump);
    EXPECT_NE(dump.find("    scope: global\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    lease: 10s\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("    key_by: [\"route\"]\n"), std::string::npos) << dump;
}

TEST_F(IdempotencyConfig, Errors) {
    expect_errors(std::string(kHead) +                                                         // 1-2
                      "idempotency:\n"                                                         // 3
                      "  a: {methods: [post], header: \"bad name\", scope: global}\n"          // 4
                      "  b: {key_by: [consumr], fingerprint: bdy, ttl: 10ms}\n"                // 5
                      "  c: {requierd: true}\n"                                                // 6
                      "routes:\n"                                                              // 7
                      "  - {name: r, match: {path_prefix: /}, idempotency: aa, return: {status: 204}}\n",  // 8
                  {
                      at("gw.conf", 4, 17) + "idempotency.a.methods[0]: \"post\" is not a method (methods are upper-case tokens)",
                      at("gw.conf", 4, 32) + "idempotency.a.header: \"bad name\" is not a header name",
                      at("gw.conf", 4, 44) + "idempotency.a.scope: global needs a top-level redis: section (the Redis server that keeps the keys)",
                      at("gw.conf", 5, 16) + "idempotency.b.key_by[0]: \"consumr\" is not a key part (consumer, route) (did you mean \"consumer\"?)",
                      at("gw.conf", 5, 39) + "idempotency.b.fingerprint: unknown value \"bdy\" (expected body or none)",
                      at("gw.conf", 5, 49) + "idempotency.b.ttl: 10ms is out of range (1s..365d)",
                      at("gw.conf", 6, 7) + "unknown key \"requierd\" (did you mean \"required\"?)",
                      at("gw.conf", 8, 53) + "routes[0].idempotency: unknown idempotency policy \"aa\" (did you mean \"a\"?)",
                  });
}

// The filter through the real codec and proxy.
const char* kProxyConf =
    "upstreams:\n  b: {servers: [{address: \"127.0.0.1:%BACKEND%\"}]}\n"
    "idempotency:\n  p: {required: true}\n  big: {max_response: 40}\n"
    "routes:\n  - {name: pay, match: {path_prefix: /pay}, upstream: b, idempotency: p}\n"
    "  - {name: big, match: {path_prefix: /big}, upstream: b, idempotency: big}\n";

class Part : public module::WorkerPart {
  public:
    Part(const Config& c) : zone(shm::Zone::create("idempotency-filter-test", 1 << 20, kLayoutVersion)) {
        rt.table = Table::attach(*zone);
        const Settings* s = settings(c);
        pay = std::make_unique<IdempotencyFilter>(*s->route(0), "pay", rt, nullptr);
        big = std::make_unique<IdempotencyFilter>(*s->route(1), "big", rt, nullptr);
    }
    http::Filter* route_filter(int route) override { return route == 0 ? pay.get() : route == 1 ? big.get() : nullptr; }
    std::unique_ptr<shm::Zone> zone;
    Runtime rt;
    std::unique_ptr<IdempotencyFilter> pay, big;
};

bool whole(const std::string& s) {
    size_t h = s.find("\r\n\r\n");
    if (h == std::string::npos) return false;
    if (s.find("transfer-encoding: chunked") < h) return s.ends_with("0\r\n\r\n");
    size_t cl = s.find("content-length: ");
    if (cl == std::string::npos || cl > h) cl = s.find("Content-Length: ");
    if (cl == std::string::npos || cl > h) return false;
    return s.size() >= h + 4 + std::stoul(s.substr(cl + 16));
}

std::string post(const std::string& path, const std::string& key, const std::string& body) {
    std::string r = "POST " + path + " HTTP/1.1\r\nHost: x\r\n";
    if (!key.empty()) r += "Idempotency-Key: " + key + "\r\n";
    return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(IdempotencyFilter, ClaimReplayMismatchMissing) {
    test::TinyBackend be("HTTP/1.1 201 Created\r\nContent-Length: 8\r\nContent-Type: application/json\r\nX-Order: 7\r\n\r\n{\"id\":7}");
    test::ServerHarness h(kProxyConf, be.port());
    ASSERT_NE(h.ctx().config, nullptr);
    Part part(*h.ctx().config);
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());

    std::string first = h.request(post("/pay", "k1", "{\"amount\":5}"), whole);
    EXPECT_EQ(first.rfind("HTTP/1.1 201 ", 0), 0u) << first;
    EXPECT_EQ(first.find("idempotent-replayed"), std::string::npos) << first;

    std::string again = h.request(post("/pay", "k1", "{\"amount\":5}"), whole);
    EXPECT_EQ(again.rfind("HTTP/1.1 201 ", 0), 0u) << again;
    EXPECT_NE(again.find("\r\nidempotent-replayed: true\r\n"), std::string::npos) << again;
    EXPECT_NE(again.find("\r\nX-Order: 7\r\n"), std::string::npos) << again;
    EXPECT_NE(again.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << again;
    EXPECT_TRUE(again.ends_with("\r\n\r\n{\"id\":7}")) << again;

    std::string changed = h.request(post("/pay", "k1", "{\"amount\":6}"), whole);
    EXPECT_EQ(changed.rfind("HTTP/1.1 422 ", 0), 0u) << changed;
    std::string missing = h.request(post("/pay", "", "{}"), whole);
    EXPECT_EQ(missing.rfind("HTTP/1.1 400 ", 0), 0u) << missing;
    std::string bad = h.request(post("/pay", "\"unterminated", "{}"), whole);
    EXPECT_EQ(bad.rfind("HTTP/1.1 400 ", 0), 0u) << bad;
    // GET is not among the methods: untouched.
    std::string get = h.request("GET /pay HTTP/1.1\r\nHost: x\r\n\r\n", whole);
    EXPECT_EQ(get.rfind("HTTP/1.1 201 ", 0), 0u) << get;
}

TEST(IdempotencyFilter, BodyInTwoPiecesAndChunked) {
    test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    test::ServerHarness h(kProxyConf, be.port());
    ASSERT_NE(h.ctx().config, nullptr);
    Part part(*h.ctx().config);
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    // Chunked "hello" and a Content-Length "hello": the same fingerprint (the decoded body).
    std::string chunked = h.request(
        "POST /pay HTTP/1.1\r\nHost: x\r\nIdempotency-Key: c1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", whole);
    EXPECT_EQ(chunked.rfind("HTTP/1.1 200 ", 0), 0u) << chunked;
    std::string same = h.request(post("/pay", "c1", "hello"), whole);
    EXPECT_NE(same.find("idempotent-replayed: true"), std::string::npos) << same;
    // The head first, the body later: the filter waits for it (Stream::set_input_listener);
    // with Expect: 100-continue it asks for it.
    std::string split = h.request(std::vector<std::string>{"POST /pay HTTP/1.1\r\nHost: x\r\nIdempotency-Key: s1\r\n"
                                                           "Content-Length: 5\r\n\r\n", "hel", "lo"}, whole);
    EXPECT_EQ(split.rfind("HTTP/1.1 200 ", 0), 0u) << split;
    std::string expect = h.request(std::vector<std::string>{"POST /pay HTTP/1.1\r\nHost: x\r\nIdempotency-Key: s1\r\n"
                                                            "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n", "hello"},
                                   [](const std::string& s) { return s.find("idempotent-replayed: true") != std::string::npos && whole(s.substr(s.find("\r\n\r\n") + 4)); });
    EXPECT_EQ(expect.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ", 0), 0u) << expect;
    EXPECT_NE(expect.find("idempotent-replayed: true"), std::string::npos) << expect;
}

TEST(IdempotencyFilter, TooLargeResponseIsNotStored) {
    test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n" + std::string(64, 'z'));
    test::ServerHarness h(kProxyConf, be.port());
    ASSERT_NE(h.ctx().config, nullptr);
    Part part(*h.ctx().config);
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string a = h.request(post("/big", "k", "x"), whole);
    EXPECT_EQ(a.rfind("HTTP/1.1 200 ", 0), 0u) << a;
    EXPECT_TRUE(a.ends_with("\r\n\r\n" + std::string(64, 'z'))) << "passed unchanged: " << a;
    EXPECT_NE(a.find("\r\nContent-Length: 64\r\n"), std::string::npos) << "its framing kept: " << a;
    std::string b = h.request(post("/big", "k", "x"), whole);
    EXPECT_EQ(b.find("idempotent-replayed"), std::string::npos) << "released, not stored: " << b;
}

}  // namespace
}  // namespace gw::idempotency
