// The compress module: its configuration (errors at FILE:LINE:COL, route inheritance, the -T dump
// loading back), the decision at the response head, the per-worker encoder pool's memory bound,
// and the filter through the real codec and proxy against a tiny backend: the body decodes to
// the original, Vary and ETag are rewritten, Content-Length goes.
#include <zlib.h>

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "core/module/module.h"
#include "http/parser.h"
#include "modules/compress/config.h"
#include "modules/compress/filter.h"
#include "modules/compress/pool.h"
#include "server_harness.h"

namespace gw::compress {
namespace {

constexpr const char* kHead = "listeners:\n  - address: 127.0.0.1:8080\n";  // lines 1-2

class CompressConfig : public test::ConfigFixture {};

TEST_F(CompressConfig, DefaultAppliesToEveryRouteAndRoutesInherit) {
    write("gw.conf", std::string(kHead) +
                         "compress:\n"
                         "  default: {algorithms: [gzip, br], min_length: 2k, types: [text/*, application/json],\n"
                         "            levels: {gzip: 6}}\n"
                         "  max_memory: 8m\n"
                         "routes:\n"
                         "  - {name: a, match: {path_prefix: /a/}, return: {status: 204}}\n"
                         "  - {name: b, match: {path_prefix: /b/}, compress: off, return: {status: 204}}\n"
                         "  - {name: c, match: {path_prefix: /c/}, compress: {levels: {br: 9}, breach_guard: false},\n"
                         "     return: {status: 204}}\n"
                         "  - {name: d, match: {path_prefix: /}, compress: on, return: {status: 204}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const Settings* s = settings(*c);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->max_memory, 8u << 20);
    EXPECT_EQ(s->route(0), &s->default_policy);
    EXPECT_EQ(s->route(1), nullptr);
    EXPECT_EQ(s->route(3), &s->default_policy);
    const Policy* p = s->route(2);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->algorithms, (std::vector<Coding>{Coding::Gzip, Coding::Br}));  // inherited
    EXPECT_EQ(p->min_length, 2048u);
    EXPECT_EQ(p->level(Coding::Gzip), 6);
    EXPECT_EQ(p->level(Coding::Br), 9);
    EXPECT_FALSE(p->breach_guard);
    EXPECT_TRUE(s->default_policy.breach_guard);
    // The dump loads back to the same settings.
    std::string dumped = dump_config(*c);
    EXPECT_NE(dumped.find("compress:\n  default:\n    algorithms: [gzip, br]\n    min_length: 2048\n"), std::string::npos)
        << dumped;
    EXPECT_NE(dumped.find("    compress: off\n"), std::string::npos) << dumped;
    write("again.conf", dumped);
    std::optional<Config> again = load("again.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors());
    const Settings* s2 = settings(*again);
    ASSERT_NE(s2, nullptr);
    EXPECT_EQ(s2->route(1), nullptr);
    ASSERT_NE(s2->route(2), nullptr);
    EXPECT_EQ(s2->route(2)->level(Coding::Br), 9);
    std::string again_dumped = dump_config(*again);  // (the first lines name the file read)
    EXPECT_EQ(again_dumped.substr(again_dumped.find("worker_processes")), dumped.substr(dumped.find("worker_processes")));
}

TEST_F(CompressConfig, WithoutDefaultOnlyNamedRoutes) {
    write("gw.conf", std::string(kHead) +
                         "routes:\n"
                         "  - {name: a, match: {path_prefix: /a/}, return: {status: 204}}\n"
                         "  - {name: b, match: {path_prefix: /}, compress: on, return: {status: 204}}\n");
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const Settings* s = settings(*c);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->route(0), nullptr);
    ASSERT_NE(s->route(1), nullptr);
    EXPECT_EQ(s->route(1)->level(Coding::Gzip), 5);  // the built-in policy
    EXPECT_EQ(s->route(1)->min_length, 1024u);
}

TEST_F(CompressConfig, Errors) {
    expect_errors(std::string(kHead) +                                                              // 1-2
                      "compress:\n"                                                                 // 3
                      "  default: {algorithms: [gzip, lzma, gzip], levels: {gzip: 10, zst: 3}}\n"   // 4
                      "  max_memory: 1k\n"                                                          // 5
                      "  colour: red\n"                                                             // 6
                      "routes:\n"                                                                   // 7
                      "  - {name: a, match: {path_prefix: /a/}, compress: {types: [json, \"*/*\"]}, return: {status: 204}}\n"  // 8
                      "  - {name: b, match: {path_prefix: /}, compress: {algorithms: []}, return: {status: 204}}\n",  // 9
                  {
                      at("gw.conf", 4, 32) + "compress.default.algorithms[1]: unknown value \"lzma\" (expected gzip, br or zstd)",
                      at("gw.conf", 4, 38) + "compress.default.algorithms[2]: \"gzip\" is listed twice",
                      at("gw.conf", 4, 60) + "compress.default.levels.gzip: 10 is out of range (1..9)",
                      at("gw.conf", 4, 64) + "unknown key \"zst\" (did you mean \"zstd\"?)",
                      at("gw.conf", 5, 15) + "compress.max_memory: 1k is out of range (1m..1024g)",
                      at("gw.conf", 6, 3) + "unknown key \"colour\"",
                      at("gw.conf", 8, 61) + "routes[0].compress.types[0]: \"json\" is not a media type (type/subtype, or "
                                             "type/* for all of a type's subtypes)",
                      at("gw.conf", 8, 67) + "routes[0].compress.types[1]: \"*/*\" is not a media type (type/subtype, or "
                                             "type/* for all of a type's subtypes)",
                      at("gw.conf", 9, 51) + "routes[1].compress.algorithms: empty list (say compress: off instead)",
                  });
}

TEST(CompressPolicy, Types) {
    Policy p = Policy::built_in();
    EXPECT_TRUE(p.compresses_type("text/html"));
    EXPECT_TRUE(p.compresses_type("Text/HTML; charset=utf-8"));
    EXPECT_TRUE(p.compresses_type("application/json"));
    EXPECT_TRUE(p.compresses_type("application/json ; charset=utf-8"));
    EXPECT_TRUE(p.compresses_type("image/svg+xml"));
    EXPECT_FALSE(p.compresses_type("application/jsonp"));
    EXPECT_FALSE(p.compresses_type("image/png"));
    EXPECT_FALSE(p.compresses_type("text"));
    EXPECT_FALSE(p.compresses_type(""));
    EXPECT_FALSE(p.compresses_type("textual/plain"));
}

// decide() over a real parsed response head.
struct Head {
    explicit Head(const std::string& raw) : text(raw) {
        http::ParseError err;
        EXPECT_EQ(http::parse_response_head(text, http::ParserLimits{}, false, resp, err), http::ParseResult::Complete)
            << raw;
    }
    Verdict decide(const Policy& p, RequestFacts req = {Coding::Gzip, false, false}) {
        std::string extra;
        http::ResponseHead h(resp.status, extra, &resp, &replaced);
        return compress::decide(p, req, resp.status, h);
    }
    std::string text;
    http::Response resp;
    http::ResponseHead::Replaced replaced;
};

TEST(CompressDecide, Rules) {
    Policy p = Policy::built_in();
    const std::string json = "Content-Type: application/json\r\n";
    auto head = [&](const std::string& status, const std::string& fields) {
        std::string f = fields;
        if (!f.empty() && !f.ends_with("\r\n")) f += "\r\n";
        return Head("HTTP/1.1 " + status + "\r\n" + f + "\r\n");
    };
    EXPECT_EQ(head("200 OK", json + "Content-Length: 5000").decide(p), Verdict::Compress);
    EXPECT_EQ(head("200 OK", json + "Transfer-Encoding: chunked").decide(p), Verdict::Compress);  // length unknown
    EXPECT_EQ(head("404 Not Found", json + "Content-Length: 5000").decide(p), Verdict::Compress);
    // Below min_length: as it is, but with Vary (the same resource at another length is compressed).
    EXPECT_EQ(head("200 OK", json + "Content-Length: 1000").decide(p), Verdict::NotAccepted);
    EXPECT_EQ(head("200 OK", json + "Content-Length: 0").decide(p), Verdict::NotAccepted);  // empty: short
    // HEAD: no body, but Vary as the GET would get it.
    EXPECT_EQ(head("200 OK", json + "Content-Length: 0").decide(p, {Coding::Gzip, true, false}), Verdict::NotAccepted);
    EXPECT_EQ(head("204 No Content", json).decide(p), Verdict::NotEligible);
    EXPECT_EQ(head("304 Not Modified", json).decide(p), Verdict::NotEligible);
    EXPECT_EQ(head("206 Partial Content", json + "Content-Range: bytes 0-4999/9000\r\nContent-Length: 5000").decide(p),
              Verdict::NotEligible);
    EXPECT_EQ(head("200 OK", json + "Content-Range: bytes 0-4999/9000\r\nContent-Length: 5000").decide(p),
              Verdict::NotEligible);
    EXPECT_EQ(head("200 OK", json + "Content-Encoding: gzip\r\nContent-Length: 5000").decide(p), Verdict::NotEligible);
    EXPECT_EQ(head("200 OK", json + "Content-Encoding: identity\r\nContent-Length: 5000").decide(p), Verdict::Compress);
    EXPECT_EQ(head("200 OK", json + "Cache-Control: public, No-Transform\r\nContent-Length: 5000").decide(p),
              Verdict::NotEligible);
    EXPECT_EQ(head("200 OK", "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked").decide(p),
              Verdict::NotEligible);
    EXPECT_EQ(head("200 OK", "Content-Type: application/grpc\r\nTransfer-Encoding: chunked").decide(p),
              Verdict::NotEligible);
    EXPECT_EQ(head("200 OK", "Content-Type: image/png\r\nContent-Length: 5000").decide(p), Verdict::NotEligible);
    EXPECT_EQ(head("200 OK", "Content-Length: 5000").decide(p), Verdict::NotEligible);  // no type
    // The request's side.
    Head ok = head("200 OK", json + "Content-Length: 5000\r\nSet-Cookie: s=1");
    EXPECT_EQ(ok.decide(p, {Coding::Identity, false, false}), Verdict::NotAccepted);
    EXPECT_EQ(ok.decide(p, {Coding::Gzip, true, false}), Verdict::NotAccepted);  // HEAD
    EXPECT_EQ(ok.decide(p, {Coding::Gzip, false, true}), Verdict::Breach);
    EXPECT_EQ(ok.decide(p, {Coding::Gzip, false, false}), Verdict::Compress);
    p.breach_guard = false;
    EXPECT_EQ(ok.decide(p, {Coding::Gzip, false, true}), Verdict::Compress);
    // A gateway answer (no upstream head) is never compressed.
    std::string extra;
    http::ResponseHead local(200, extra);
    EXPECT_EQ(decide(p, {Coding::Gzip, false, false}, 200, local), Verdict::NotEligible);
}

TEST(CompressPool, ReusesEncodersAndKeepsToTheBound) {
    Pool pool(2u << 20);  // room for a few gzip states (~270 KiB each), not for many
    std::vector<Encoder*> held;
    for (int i = 0; i < 64; ++i) {
        Encoder* e = pool.acquire(Coding::Gzip, 5);
        if (!e) break;
        held.push_back(e);
    }
    EXPECT_GE(held.size(), 4u);
    EXPECT_LT(held.size(), 10u);
    EXPECT_LE(pool.memory(), pool.max_memory());
    EXPECT_EQ(pool.in_use(), held.size());
    size_t full = pool.memory();
    for (Encoder* e : held) pool.release(e);
    EXPECT_EQ(pool.in_use(), 0u);
    EXPECT_EQ(pool.idle(), std::min(held.size(), Pool::kMaxIdle));
    // Reuse: the next response takes an idle encoder, and no memory is added.
    Encoder* again = pool.acquire(Coding::Gzip, 9);
    ASSERT_NE(again, nullptr);
    EXPECT_LE(pool.memory(), full);
    pool.release(again);
}

std::string gunzip(const std::string& in);

TEST(CompressPool, WholeBodyBuffersAndTheDeflaterAreCounted) {
    Pool pool(4u << 20);
    WholeGzip* w = pool.whole_gzip(5);
    ASSERT_NE(w, nullptr);
    size_t with_deflater = pool.memory();
    EXPECT_GT(with_deflater, 100u << 10) << "libdeflate's allocations are counted";
    EXPECT_EQ(pool.whole_gzip(5), w) << "one compressor per level";
    std::string* b = pool.acquire_buffer(300000);
    ASSERT_NE(b, nullptr);
    EXPECT_GE(pool.memory(), with_deflater + 300000 - 16);  // (less the inline room)
    std::string doc;
    for (int i = 0; i < 5000; ++i) doc += "{\"n\":" + std::to_string(i) + "},";
    b->append(doc);
    std::string out = "x";
    ASSERT_TRUE(w->compress(*b, out));
    EXPECT_EQ(gunzip(out.substr(1)), doc) << "appended after what was there";
    size_t held = pool.memory();
    pool.release_buffer(b);
    EXPECT_EQ(pool.in_use(), 0u);
    std::string* again = pool.acquire_buffer(200000);
    EXPECT_EQ(again, b) << "an idle buffer is reused";
    EXPECT_EQ(pool.memory(), held) << "and its capacity is not counted twice";
    pool.release_buffer(again);
    EXPECT_EQ(pool.acquire_buffer(8u << 20), nullptr) << "over the bound";
}

TEST(CompressPool, IdleEncodersOfAnotherCodingMakeRoom) {
    Pool pool(3u << 20);
    std::vector<Encoder*> gz;
    while (Encoder* e = pool.acquire(Coding::Gzip, 5)) gz.push_back(e);
    ASSERT_FALSE(gz.empty());
    EXPECT_EQ(pool.acquire(Coding::Br, 4), nullptr) << "no room while every gzip state is in use";
    for (Encoder* e : gz) pool.release(e);
    Encoder* br = pool.acquire(Coding::Br, 4);
    ASSERT_NE(br, nullptr) << "idle gzip states are freed for it";
    std::string out;
    EXPECT_TRUE(br->write(std::string(100000, 'a'), false, true, out));
    EXPECT_LE(pool.memory(), pool.max_memory() + (1u << 20)) << "a first guess may be off by one state, not more";
    pool.release(br);
}

// ---- through the real codec and proxy

std::string gunzip(const std::string& in) {
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    std::string out;
    char buf[16384];
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    int r;
    do {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        r = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
    } while (r == Z_OK);
    EXPECT_EQ(r, Z_STREAM_END);
    inflateEnd(&z);
    return out;
}

// De-chunks an HTTP/1.1 chunked body.
std::string dechunk(std::string_view b) {
    std::string out;
    for (;;) {
        size_t eol = b.find("\r\n");
        if (eol == std::string_view::npos) return out;
        size_t n = std::stoul(std::string(b.substr(0, eol)), nullptr, 16);
        if (n == 0) return out;
        out.append(b.substr(eol + 2, n));
        b.remove_prefix(eol + 2 + n + 2);
    }
}

class CompressPart : public module::WorkerPart {
  public:
    CompressPart() : pool(8u << 20), filter(policy, pool, stats) {}
    http::Filter* route_filter(int route) override { return route == 0 ? &filter : nullptr; }
    Policy policy = Policy::built_in();
    Pool pool;
    Stats stats;
    CompressFilter filter;
};

const char* kConf =
    "upstreams:\n  b: {servers: [{address: \"127.0.0.1:%BACKEND%\"}]}\n"
    "routes:\n  - {name: z, match: {path_prefix: /z}, upstream: b}\n"
    "  - {name: plain, match: {path_prefix: /}, upstream: b}\n";

bool ends_chunked(const std::string& s) { return s.size() >= 5 && s.compare(s.size() - 5, 5, "0\r\n\r\n") == 0; }

TEST(CompressFilter, GzipThroughTheProxy) {
    std::string doc;
    for (int i = 0; i < 400; ++i) doc += "{\"id\":" + std::to_string(i) + ",\"name\":\"item\",\"ok\":true},";
    test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(doc.size()) +
                         "\r\nContent-Type: application/json\r\nETag: \"v1\"\r\nVary: Origin\r\n\r\n" + doc);
    test::ServerHarness h(kConf, be.port());
    CompressPart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /z HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br;q=0.5\r\n\r\n", ends_chunked);
    std::string head = r.substr(0, r.find("\r\n\r\n") + 2);
    EXPECT_NE(head.find("\r\ncontent-encoding: gzip\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("\r\nvary: Origin, Accept-Encoding\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("\r\nVary: Origin\r\n"), std::string::npos) << "one Vary field: " << head;
    EXPECT_NE(head.find("\r\netag: W/\"v1\"\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("ETag: \"v1\""), std::string::npos) << head;
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    std::string body = dechunk(std::string_view(r).substr(r.find("\r\n\r\n") + 4));
    EXPECT_LT(body.size(), doc.size() / 4);
    EXPECT_EQ(gunzip(body), doc);
    EXPECT_EQ(part.pool.in_use(), 0u) << "the encoder went back to the pool";
    // The same response to a client that takes no coding: as it is, with Vary.
    std::string r2 = h.request("GET /z HTTP/1.1\r\nHost: x\r\n\r\n",
                               [&](const std::string& s) { return s.size() >= doc.size() && s.ends_with(doc); });
    EXPECT_NE(r2.find("\r\nvary: Origin, Accept-Encoding\r\n"), std::string::npos) << r2.substr(0, 300);
    EXPECT_NE(r2.find("ETag: \"v1\""), std::string::npos) << "the strong ETag stays on the identity response";
    EXPECT_NE(r2.find("Content-Length: " + std::to_string(doc.size())), std::string::npos);
    // A route without the filter: untouched.
    std::string r3 = h.request("GET /other HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
                               [&](const std::string& s) { return s.size() >= doc.size() && s.ends_with(doc); });
    EXPECT_EQ(r3.find("content-encoding"), std::string::npos);
    EXPECT_NE(r3.find("\r\nVary: Origin\r\n"), std::string::npos);
}

}  // namespace
}  // namespace gw::compress
