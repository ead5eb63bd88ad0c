// Response body filters through the real codec and proxy (in-process, against a tiny backend):
// a filter that adds itself in its response-head hook gets the body, decoded, and the client
// gets the result framed anew (chunked to HTTP/1.1, close-delimited to HTTP/1.0); a response it
// does not take keeps the zero-copy path and its Content-Length.
#include <string>

#include <gtest/gtest.h>

#include "core/module/module.h"
#include "http/filter.h"
#include "http/stream.h"
#include "server_harness.h"

namespace {

using gw::http::FilterStatus;
using gw::http::Stream;

// Upper-cases the bodies of 200 responses, and says so in a header.
class UpperFilter : public gw::http::Filter {
  public:
    UpperFilter() : Filter(gw::http::kHookRequest | gw::http::kHookResponseHead | gw::http::kHookBody) {}
    FilterStatus on_request(Stream&, void*) override { return FilterStatus::Continue; }
    void on_response_head(Stream& s, void*, gw::http::ResponseHead& head) override {
        if (head.status() != 200) return;
        head.add("x-upper", "1");
        s.add_body_filter(this);
    }
    void on_body(Stream&, void*, std::string_view in, bool last, std::string& out) override {
        for (char c : in) out += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        if (last) out += "|END";
    }
};

class UpperPart : public gw::module::WorkerPart {
  public:
    gw::http::Filter* route_filter(int route) override { return route == 0 ? &filter : nullptr; }
    UpperFilter filter;
};

const char* kConf =
    "upstreams:\n  b: {servers: [{address: \"127.0.0.1:%BACKEND%\"}]}\n"
    "routes:\n  - {name: up, match: {path_prefix: /up}, upstream: b}\n"
    "  - {name: plain, match: {path_prefix: /}, upstream: b}\n";

bool ends_chunked(const std::string& s) { return s.size() >= 5 && s.compare(s.size() - 5, 5, "0\r\n\r\n") == 0; }

std::string body_of(const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); }

TEST(BodyFilter, ContentLengthBodyIsTransformedAndRechunked) {
    gw::test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world");
    gw::test::ServerHarness h(kConf, be.port());
    UpperPart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /up HTTP/1.1\r\nHost: x\r\n\r\n", ends_chunked);
    EXPECT_EQ(r.rfind("HTTP/1.1 200 ", 0), 0u) << r;
    EXPECT_NE(r.find("\r\nx-upper: 1\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("\r\ntransfer-encoding: chunked\r\n"), std::string::npos) << r;
    EXPECT_EQ(r.find("Content-Length"), std::string::npos) << "the length changed: " << r;
    EXPECT_NE(r.find("\r\nconnection: keep-alive\r\n"), std::string::npos) << r;
    EXPECT_EQ(body_of(r), "b\r\nHELLO WORLD\r\n4\r\n|END\r\n0\r\n\r\n");

    std::string plain = h.request("GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
                                  [](const std::string& s) { return s.size() >= 11 && s.ends_with("hello world"); });
    EXPECT_NE(plain.find("\r\nContent-Length: 11\r\n"), std::string::npos) << "a route without the filter: " << plain;
    EXPECT_EQ(body_of(plain), "hello world");
}

TEST(BodyFilter, ChunkedBodyIsDecodedBeforeTheFilter) {
    gw::test::TinyBackend be("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    gw::test::ServerHarness h(kConf, be.port());
    UpperPart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /up HTTP/1.1\r\nHost: x\r\n\r\n", ends_chunked);
    std::string body = body_of(r);
    // However the pieces arrived, the decoded text is ABCDE then |END.
    std::string text;
    for (size_t at = 0; at < body.size();) {
        size_t eol = body.find("\r\n", at);
        size_t n = std::stoul(body.substr(at, eol - at), nullptr, 16);
        text += body.substr(eol + 2, n);
        at = eol + 2 + n + 2;
        if (n == 0) break;
    }
    EXPECT_EQ(text, "ABCDE|END") << r;
}

TEST(BodyFilter, Http10ClientGetsACloseDelimitedBody) {
    gw::test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    gw::test::ServerHarness h(kConf, be.port());
    UpperPart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /up HTTP/1.0\r\nHost: x\r\n\r\n", [](const std::string&) { return false; });
    EXPECT_NE(r.find("\r\nconnection: close\r\n"), std::string::npos) << r;
    EXPECT_EQ(r.find("transfer-encoding"), std::string::npos) << r;
    EXPECT_EQ(body_of(r), "OK|END");
}

}  // namespace
