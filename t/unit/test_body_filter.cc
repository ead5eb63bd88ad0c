// Response body filters through the real codec and proxy (in-process, against a tiny backend):
// a filter that adds itself in its response-head hook gets the body, decoded, and the client
// gets the result framed anew (chunked to HTTP/1.1, close-delimited to HTTP/1.0); a response it
// does not take keeps the zero-copy path and its Content-Length.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

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

// A reading body filter (a cache's copy): the body goes out as it came, framing and
// Content-Length kept, and the filter sees every byte and the end.
class CopyFilter : public gw::http::Filter {
  public:
    CopyFilter() : Filter(gw::http::kHookRequest | gw::http::kHookResponseHead | gw::http::kHookBody) {}
    void on_response_head(Stream& s, void*, gw::http::ResponseHead&) override { s.add_body_filter(this, false); }
    void on_body(Stream&, void*, std::string_view in, bool last, std::string& out) override {
        copy += in;
        if (last) ++ends;
        EXPECT_TRUE(out.empty());
    }
    std::string copy;
    int ends = 0;
};

// A module part that puts its filter on the first route.
template <class F>
class FirstRoutePart : public gw::module::WorkerPart {
  public:
    gw::http::Filter* route_filter(int route) override { return route == 0 ? &filter : nullptr; }
    F filter;
};
using CopyPart = FirstRoutePart<CopyFilter>;

TEST(BodyFilter, AReadingFilterLeavesTheFramingAlone) {
    gw::test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
    gw::test::ServerHarness h(kConf, be.port());
    CopyPart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /up HTTP/1.1\r\nHost: x\r\n\r\n",
                              [](const std::string& s) { return s.ends_with("hello world"); });
    EXPECT_NE(r.find("\r\nContent-Length: 11\r\n"), std::string::npos) << r;
    EXPECT_EQ(r.find("transfer-encoding"), std::string::npos) << r;
    EXPECT_EQ(part.filter.copy, "hello world");
    EXPECT_EQ(part.filter.ends, 1);
    gw::test::TinyBackend chunked("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    gw::test::ServerHarness h2(kConf, chunked.port());
    CopyPart part2;
    h2.ctx().modules.push_back(&part2);
    ASSERT_TRUE(h2.start());
    std::string r2 = h2.request("GET /up HTTP/1.1\r\nHost: x\r\n\r\n", ends_chunked);
    EXPECT_EQ(part2.filter.copy, "abcde") << "decoded, whatever the framing";
    EXPECT_EQ(part2.filter.ends, 1);
    EXPECT_NE(r2.find("\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), std::string::npos) << "the chunks as they came: " << r2;
}

// A reading filter hears of the body's end before the client can have all of it: a cache stores
// the object first, so a client that asks again at once (maybe of another worker) gets a HIT.
// The filter waits at the end for up to 300 ms to see whether the client got the whole response:
// it must not have.
class EndOrderFilter : public CopyFilter {
  public:
    void on_body(Stream& s, void* ctx, std::string_view in, bool last, std::string& out) override {
        CopyFilter::on_body(s, ctx, in, last, out);
        if (!last) return;
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
        while (!client_has_all.load() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        client_had_all_at_end = client_has_all.load();
    }
    std::atomic<bool> client_has_all{false};
    bool client_had_all_at_end = false;
};

using EndOrderPart = FirstRoutePart<EndOrderFilter>;

TEST(BodyFilter, AReadingFilterSeesTheEndBeforeTheClientHasIt) {
    // (head and body in one read from the backend: the body goes out at once, without a filter
    // that transforms it)
    gw::test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
    gw::test::ServerHarness h(kConf, be.port());
    EndOrderPart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /up HTTP/1.1\r\nHost: x\r\n\r\n", [&](const std::string& got) {
        bool all = got.ends_with("hello world");
        if (all) part.filter.client_has_all = true;
        return all;
    });
    EXPECT_TRUE(r.ends_with("\r\n\r\nhello world")) << r;
    EXPECT_EQ(part.filter.copy, "hello world");
    EXPECT_EQ(part.filter.ends, 1);
    EXPECT_FALSE(part.filter.client_had_all_at_end) << "the last bytes left before the readers heard of the end";
}

// A filter that answers with a stored response: at the request (a hit), in place of the
// upstream's 304 (a revalidation), and in place of the gateway's 502 (stale-if-error).
const std::string kStoredHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"s\"\r\nContent-Length: 6\r\n\r\n";
const std::string kStoredBody = "stored";

class StoreFilter : public gw::http::Filter {
  public:
    StoreFilter()
        : Filter(gw::http::kHookRequest | gw::http::kHookResponseHead | gw::http::kHookReplace) {}
    FilterStatus on_request(Stream& s, void*) override {
        if (s.request().path != "/up/hit") return FilterStatus::Continue;
        s.reply_stored(kStoredHead, kStoredBody);
        return FilterStatus::Done;
    }
    void on_response_head(Stream&, void*, gw::http::ResponseHead& head) override {
        heads.push_back(head.upstream() ? head.upstream_header("etag") : "(none)");
        head.add("x-seen", "1");
    }
    bool on_replace(Stream& s, void*, int status, const gw::http::Response* upstream) override {
        replaced.push_back(status);
        if (status == 304 || (!upstream && status == 502)) {
            s.reply_stored(kStoredHead, kStoredBody);
            return true;
        }
        return false;
    }
    std::vector<std::string_view> heads;
    std::vector<int> replaced;
};

class StorePart : public gw::module::WorkerPart {
  public:
    gw::http::Filter* route_filter(int route) override { return route == 0 ? &filter : nullptr; }
    StoreFilter filter;
};

bool ends_stored(const std::string& s) { return s.ends_with("stored"); }

TEST(StoredReply, AHitIsAnsweredAsAProxiedResponse) {
    gw::test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nup");
    gw::test::ServerHarness h(kConf, be.port());
    StorePart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /up/hit HTTP/1.1\r\nHost: x\r\n\r\n", ends_stored);
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("\r\nContent-Length: 6\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("\r\nx-seen: 1\r\n"), std::string::npos) << "the response hooks ran: " << r;
    EXPECT_NE(r.find("\r\nx-request-id: "), std::string::npos) << r;
    ASSERT_EQ(part.filter.heads.size(), 1u);
    EXPECT_EQ(part.filter.heads[0], "\"s\"") << "the stored head shown as the upstream's";
    std::string head_only = h.request("HEAD /up/hit HTTP/1.1\r\nHost: x\r\n\r\n",
                                      [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
    EXPECT_NE(head_only.find("\r\nContent-Length: 6\r\n"), std::string::npos) << head_only;
    EXPECT_TRUE(head_only.ends_with("\r\n\r\n")) << "no body for HEAD: " << head_only;
}

TEST(StoredReply, ReplacesTheUpstreams304) {
    gw::test::TinyBackend be("HTTP/1.1 304 Not Modified\r\nETag: \"s\"\r\n\r\n");
    gw::test::ServerHarness h(kConf, be.port());
    StorePart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /up/x HTTP/1.1\r\nHost: x\r\n\r\n", ends_stored);
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("\r\nContent-Length: 6\r\n"), std::string::npos) << r;
    EXPECT_EQ(part.filter.replaced, std::vector<int>{304});
    // The connection goes on.
    std::string again = h.request("GET /up/x HTTP/1.1\r\nHost: x\r\n\r\n", ends_stored);
    EXPECT_EQ(again.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << again;
}

// A loopback port nothing listens on (bound, then closed: connections to it are refused).
int dead_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

TEST(StoredReply, ReplacesTheGateways502) {
    gw::test::ServerHarness h(kConf, dead_port());
    StorePart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("GET /up/x HTTP/1.1\r\nHost: x\r\n\r\n", ends_stored);
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_EQ(part.filter.replaced, std::vector<int>{502});
    std::string other = h.request("GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
                                  [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos && s.ends_with("}\n"); });
    EXPECT_EQ(other.rfind("HTTP/1.1 502 ", 0), 0u) << "a route without it: the gateway's own answer: " << other;
}

}  // namespace

namespace {

// A filter's refusal of a request whose body is all in the buffer keeps the connection: the body
// is skipped and the pipelined request behind it is served.
class DenyFilter : public gw::http::Filter {
  public:
    DenyFilter() : Filter(gw::http::kHookRequest) {}
    FilterStatus on_request(Stream& s, void*) override {
        s.reply_error(403, "no");
        return FilterStatus::Done;
    }
};

class DenyPart : public gw::module::WorkerPart {
  public:
    gw::http::Filter* route_filter(int route) override { return route == 0 ? &filter : nullptr; }
    DenyFilter filter;
};

TEST(FilterReply, ABufferedBodyIsSkippedAndTheConnectionGoesOn) {
    gw::test::TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    gw::test::ServerHarness h(kConf, be.port());
    DenyPart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    std::string r = h.request("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                              "GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
                              [](const std::string& s) { return s.ends_with("\r\n\r\nok"); });
    EXPECT_EQ(r.rfind("HTTP/1.1 403 ", 0), 0u) << r;
    EXPECT_NE(r.find("connection: keep-alive"), std::string::npos) << r;
    EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << "the pipelined request was served: " << r;
}

}  // namespace
