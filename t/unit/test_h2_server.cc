// The downstream HTTP/2 codec end to end, in process: a real http::Server on the test's loop
// (server_harness.h) with an h2c listener (`http2: prior_knowledge`), nghttp2's client API on a
// loopback socket (h2_client.h), and a recording backend for the proxied routes.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "h2_client.h"

namespace gw::test {
namespace {

// The listener's http2 key follows its address line; small budgets so tests reach them.
const std::string kConf =
    "    http2: prior_knowledge\n"
    "http2:\n"
    "  max_concurrent_streams: 4\n"
    "  max_headers: 20\n"
    "  max_header_list_size: 4k\n"
    "  max_resets_per_minute: 10\n"
    "upstreams:\n  b: {servers: [{address: \"127.0.0.1:%BACKEND%\"}]}\n"
    "routes:\n"
    "  - {name: up, match: {path_prefix: /up}, upstream: b}\n"
    "  - {name: hello, match: {path: /hello}, return: {body: \"hello\\n\", headers: {content-type: text/plain}}}\n";

// The backend's answers by path: /up/trailers chunked with a trailer section, /up/slow a head
// and part of a long body then nothing (until the gateway closes), /up/large 32 MiB; anything
// else "upstream" with a Content-Length.
constexpr size_t kLarge = 32u << 20;

RecordingBackend::Answer answers(RecordingBackend*& self) {
    return [&self](int fd, const std::string& req) {
        RecordingBackend& b = *self;
        if (req.find(" /up/trailers ") != std::string::npos)
            return b.write_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n"
                                   "5\r\nhello\r\n6\r\n world\r\n0\r\ngrpc-status: 0\r\ngrpc-message: fine\r\n\r\n");
        if (req.find(" /up/later ") != std::string::npos) {  // a head, then the body 300 ms later
            b.write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + std::string(1000, 'a'));
            usleep(300 * 1000);
            b.write_all(fd, std::string(199000, 'b'));
            return false;
        }
        if (req.find(" /up/slow ") != std::string::npos) {
            b.write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + std::string(1000, 's'));
            b.wait_close(fd, 5000);
            return false;
        }
        if (req.find(" /up/interim103 ") != std::string::npos) {  // an interim head, then the upstream dies
            b.write_all(fd, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
            return false;
        }
        if (req.find(" /up/interim100 ") != std::string::npos) {
            b.write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
            return false;
        }
        if (req.find(" /up/untilclose ") != std::string::npos) {  // no length: the body ends with the connection
            b.write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
            return false;
        }
        if (req.find(" /up/cut ") != std::string::npos) {  // a body cut short
            b.write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
            return false;
        }
        if (req.find(" /up/large ") != std::string::npos) {
            b.write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kLarge) + "\r\n\r\n");
            std::string piece(1 << 16, 'L');
            for (size_t sent = 0; sent < kLarge; sent += piece.size())
                if (!b.write_all(fd, piece)) return false;
            return true;
        }
        return b.write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nupstream");
    };
}

struct Fixture {
    RecordingBackend* self = nullptr;
    RecordingBackend backend{answers(self)};
    ServerHarness h;
    explicit Fixture(const std::string& conf = kConf) : h(conf, backend.port()) {
        self = &backend;
        EXPECT_TRUE(h.start());
    }
};

TEST(H2Server, GetReturnRoute) {
    Fixture f;
    H2Client c(f.h);
    int32_t id = c.get("/hello");
    ASSERT_TRUE(c.run_until_closed(id));
    auto& st = c.streams[id];
    EXPECT_EQ(st.status, 200);
    EXPECT_EQ(st.body, "hello\n");
    EXPECT_EQ(st.header("content-type"), "text/plain");
    EXPECT_EQ(st.error_code, 0u);
    for (auto& [n, v] : st.headers) {
        EXPECT_NE(n, "connection");
        EXPECT_NE(n, "keep-alive");
        EXPECT_NE(n, "transfer-encoding");
    }
    // A second request on the same connection, and a 404.
    int32_t id2 = c.get("/nothing-here");
    ASSERT_TRUE(c.run_until_closed(id2));
    EXPECT_EQ(c.streams[id2].status, 404);
    EXPECT_FALSE(c.goaway);
}

TEST(H2Server, HeadHasNoBody) {
    Fixture f;
    H2Client c(f.h);
    int32_t id = c.request("HEAD", "/hello");
    ASSERT_TRUE(c.run_until_closed(id));
    EXPECT_EQ(c.streams[id].status, 200);
    EXPECT_EQ(c.streams[id].body, "");
    EXPECT_EQ(c.streams[id].error_code, 0u);
}

TEST(H2Server, GetProxiedRoute) {
    Fixture f;
    H2Client c(f.h);
    int32_t id = c.get("/up/x?a=1", {{"x-client", "yes"}, {"cookie", "a=1"}, {"cookie", "b=2"}});
    ASSERT_TRUE(c.run_until_closed(id));
    EXPECT_EQ(c.streams[id].status, 200);
    EXPECT_EQ(c.streams[id].body, "upstream");
    auto reqs = f.backend.requests();
    ASSERT_EQ(reqs.size(), 1u);
    const std::string& r = reqs[0];
    EXPECT_EQ(r.rfind("GET /up/x?a=1 HTTP/1.1\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("x-client: yes\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("ost: example.com\r\n"), std::string::npos) << "Host made from :authority: " << r;
    EXPECT_NE(r.find("cookie: a=1; b=2\r\n"), std::string::npos) << "cookie crumbs joined: " << r;
}

TEST(H2Server, PostWithContentLength) {
    Fixture f;
    H2Client c(f.h);
    std::string body(100000, 'b');
    for (size_t i = 0; i < body.size(); i += 7) body[i] = static_cast<char>('a' + i % 26);
    int32_t id = c.request("POST", "/up/post", {}, &body, true);
    ASSERT_TRUE(c.run_until_closed(id));
    EXPECT_EQ(c.streams[id].status, 200);
    auto reqs = f.backend.requests();
    ASSERT_EQ(reqs.size(), 1u);
    std::string lower;
    for (char ch : reqs[0]) lower += static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(lower.find("content-length: 100000\r\n"), std::string::npos);
    EXPECT_EQ(lower.find("transfer-encoding"), std::string::npos);
    size_t head = reqs[0].find("\r\n\r\n") + 4;
    EXPECT_EQ(reqs[0].substr(head), body);
}

TEST(H2Server, PostWithoutLengthIsChunkedUpstream) {
    Fixture f;
    H2Client c(f.h);
    std::string body(70000, 'c');
    for (size_t i = 0; i < body.size(); i += 5) body[i] = static_cast<char>('0' + i % 10);
    int32_t id = c.request("POST", "/up/post", {}, &body, false);
    ASSERT_TRUE(c.run_until_closed(id));
    EXPECT_EQ(c.streams[id].status, 200);
    auto reqs = f.backend.requests();
    ASSERT_EQ(reqs.size(), 1u);
    std::string lower;
    for (char ch : reqs[0]) lower += static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(lower.find("transfer-encoding: chunked\r\n"), std::string::npos) << reqs[0].substr(0, 300);
    EXPECT_EQ(lower.find("content-length"), std::string::npos);
    size_t head = reqs[0].find("\r\n\r\n") + 4;
    EXPECT_EQ(dechunk(std::string_view(reqs[0]).substr(head)), body);
}

TEST(H2Server, EmptyPostWithoutLength) {
    // HEADERS without END_STREAM, then an empty DATA with END_STREAM: a zero-length chunked body.
    Fixture f;
    H2Client c(f.h);
    std::string empty;
    int32_t id = c.request("POST", "/up/post", {}, &empty, false);
    ASSERT_TRUE(c.run_until_closed(id));
    EXPECT_EQ(c.streams[id].status, 200);
    auto reqs = f.backend.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_TRUE(reqs[0].ends_with("\r\n\r\n0\r\n\r\n")) << reqs[0];
}

TEST(H2Server, ResponseTrailers) {
    Fixture f;
    H2Client c(f.h);
    int32_t id = c.get("/up/trailers", {{"te", "trailers"}});
    ASSERT_TRUE(c.run_until_closed(id));
    auto& st = c.streams[id];
    EXPECT_EQ(st.status, 200);
    EXPECT_EQ(st.body, "hello world");
    EXPECT_EQ(st.trailers, (H2Fields{{"grpc-status", "0"}, {"grpc-message", "fine"}}));
    EXPECT_EQ(st.error_code, 0u);
}

TEST(H2Server, ResetMidResponseAbortsTheHandler) {
    Fixture f;
    H2Client c(f.h);
    int32_t id = c.get("/up/slow");
    ASSERT_TRUE(c.run([&] { return c.streams[id].body.size() >= 1000; }));
    EXPECT_EQ(c.streams[id].status, 200);
    nghttp2_submit_rst_stream(c.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    // The proxy drops its upstream connection: the backend sees it closed.
    ASSERT_TRUE(c.run([&] { return f.backend.peer_closed.load() == 1; }, 3000)) << "the handler was not aborted";
    // The connection and the worker go on.
    int32_t id2 = c.get("/up/after");
    ASSERT_TRUE(c.run_until_closed(id2));
    EXPECT_EQ(c.streams[id2].status, 200);
    EXPECT_EQ(c.streams[id2].body, "upstream");
    int32_t id3 = c.get("/hello");
    ASSERT_TRUE(c.run_until_closed(id3));
    EXPECT_EQ(c.streams[id3].status, 200);
    EXPECT_FALSE(c.goaway);
}

TEST(H2Server, TooManyStreamsRefused) {
    Fixture f;
    H2Client c(f.h);
    // Sent before the server's SETTINGS arrive (the client does not know the limit yet).
    std::vector<int32_t> ids;
    for (int i = 0; i < 7; ++i) ids.push_back(c.get("/up/slow"));
    ASSERT_TRUE(c.run([&] {
        int closed = 0;
        for (int32_t id : ids) closed += c.streams[id].closed;
        return closed >= 3;
    }));
    int refused = 0, open = 0;
    for (int32_t id : ids) {
        if (c.streams[id].closed && c.streams[id].error_code == NGHTTP2_REFUSED_STREAM) ++refused;
        if (!c.streams[id].closed) ++open;
    }
    EXPECT_EQ(refused, 3) << "max_concurrent_streams: 4";
    EXPECT_EQ(open, 4);
    EXPECT_FALSE(c.goaway);
}

TEST(H2Server, RapidResetFlood) {
    Fixture f;
    {
        H2Client c(f.h);
        for (int i = 0; i < 30 && !c.goaway; ++i) {
            int32_t id = c.get("/up/slow");
            c.pump();
            nghttp2_submit_rst_stream(c.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
            c.run([&] { return true; }, 10);
        }
        ASSERT_TRUE(c.run([&] { return c.goaway; }));
        EXPECT_EQ(c.goaway_error, NGHTTP2_ENHANCE_YOUR_CALM);
        EXPECT_TRUE(c.run([&] { return c.eof; })) << "the connection is closed";
    }
    // The worker serves others.
    H2Client c2(f.h);
    int32_t id = c2.get("/hello");
    ASSERT_TRUE(c2.run_until_closed(id));
    EXPECT_EQ(c2.streams[id].status, 200);
}

TEST(H2Server, HeaderCountFlood) {
    Fixture f;
    H2Client c(f.h);
    H2Fields many;
    for (int i = 0; i < 40; ++i) many.emplace_back("x-h" + std::to_string(i), "v");
    c.get("/hello", many);
    ASSERT_TRUE(c.run([&] { return c.goaway; }));
    EXPECT_EQ(c.goaway_error, NGHTTP2_ENHANCE_YOUR_CALM);
    EXPECT_TRUE(c.run([&] { return c.eof; }));
    // Up to the limit is fine.
    H2Client ok(f.h);
    many.resize(20);
    int32_t id = ok.get("/hello", many);
    ASSERT_TRUE(ok.run_until_closed(id));
    EXPECT_EQ(ok.streams[id].status, 200);
    EXPECT_FALSE(ok.goaway);
}

TEST(H2Server, HeaderSizeFlood) {
    Fixture f;
    H2Client c(f.h);
    c.get("/hello", {{"x-big", std::string(6000, 'z')}});
    ASSERT_TRUE(c.run([&] { return c.goaway; }));
    EXPECT_EQ(c.goaway_error, NGHTTP2_ENHANCE_YOUR_CALM);
    EXPECT_TRUE(c.run([&] { return c.eof; }));
}

TEST(H2Server, ControlFrameFlood) {
    Fixture f;
    H2Client c(f.h);
    for (int i = 0; i < 3000; ++i) {
        uint8_t opaque[8] = {};
        nghttp2_submit_ping(c.session(), NGHTTP2_FLAG_NONE, opaque);
    }
    ASSERT_TRUE(c.run([&] { return c.goaway || c.eof; }));
    EXPECT_EQ(c.goaway_error, NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST(H2Server, FlowControlPausesTheUpstream) {
    Fixture f;
    H2Client c(f.h, 65535, false);  // never sends WINDOW_UPDATE (until open_windows)
    int32_t id = c.get("/up/large");
    ASSERT_TRUE(c.run([&] { return c.streams[id].body.size() >= 65535; }));
    // Let the gateway do what it would; the client's windows stay shut.
    c.run([] { return false; }, 1000);
    EXPECT_EQ(c.streams[id].body.size(), 65535u) << "no DATA beyond the client's window";
    uint64_t written = f.backend.written.load();
    // What the backend could write: the socket buffers on both sides (loopback autotuning, a
    // few MiB) and the gateway's own (a stream's output, the proxy's buffer) - far from all.
    EXPECT_LT(written, 16u << 20) << "the proxy did not pause the upstream";
    // Windows open: the whole response arrives.
    c.open_windows();
    ASSERT_TRUE(c.run_until_closed(id, 20000));
    EXPECT_EQ(c.streams[id].body.size(), kLarge);
    EXPECT_EQ(c.streams[id].error_code, 0u);
}

TEST(H2Server, LargeUploadWithFlowControl) {
    // A body several windows large: the gateway opens the client's window as the proxy takes
    // bytes.
    Fixture f;
    H2Client c(f.h);
    std::string body(900000, 'u');  // (client_max_body_size: 1m)
    for (size_t i = 0; i < body.size(); i += 4093) body[i] = static_cast<char>('a' + i % 26);
    int32_t id = c.request("POST", "/up/post", {}, &body, false);
    ASSERT_TRUE(c.run_until_closed(id, 20000));
    EXPECT_EQ(c.streams[id].status, 200);
    auto reqs = f.backend.requests();
    ASSERT_EQ(reqs.size(), 1u);
    size_t head = reqs[0].find("\r\n\r\n") + 4;
    EXPECT_TRUE(dechunk(std::string_view(reqs[0]).substr(head)) == body);
}


// Request trailers are dropped (as the proxy drops HTTP/1.1 request trailers): none of their
// fields may become a field of the request's head, even when the trailers arrive in the same
// read as the head (before the request starts).
TEST(H2Server, RequestTrailersAreNotRequestFields) {
    Fixture f;
    H2Client c(f.h);
    std::string body = "abc";
    int32_t id = c.request("POST", "/up/post", {{"cookie", "a=1"}}, &body, false,
                           {{"x-trailer", "evil"}, {"cookie", std::string(200, 'k')}, {"host", "other.example"}});
    ASSERT_TRUE(c.run_until_closed(id));
    EXPECT_EQ(c.streams[id].status, 200);
    auto reqs = f.backend.requests();
    ASSERT_EQ(reqs.size(), 1u);
    std::string head = reqs[0].substr(0, reqs[0].find("\r\n\r\n") + 4);
    EXPECT_EQ(head.find("x-trailer"), std::string::npos) << head;
    EXPECT_EQ(head.find("other.example"), std::string::npos) << head;
    EXPECT_EQ(head.find("kkkk"), std::string::npos) << head;
    EXPECT_NE(head.find("cookie: a=1\r\n"), std::string::npos) << head;
    EXPECT_EQ(dechunk(std::string_view(reqs[0]).substr(head.size())), "abc");
}

// RFC 9113 5.4.2: frames on a stream the server reset are ignored. A local answer to a POST
// whose body is still coming ends with RST_STREAM(NO_ERROR); the client's trailers, in flight,
// must not cost the connection.
TEST(H2Server, TrailersAfterTheServersResetAreIgnored) {
    Fixture f;
    H2Client c(f.h);
    // A body too large for the route: answered (413) before it is sent, so the stream is reset
    // with NO_ERROR while the client may still be sending. (A `return:` route waits for the
    // request's end before it answers.)
    H2Fields f2 = {{":method", "POST"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", "/hello"},
                   {"content-length", "999999999"}};
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : f2)
        nv.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    // HEADERS without END_STREAM (a body follows, not yet).
    int32_t id = nghttp2_submit_headers(c.session(), NGHTTP2_FLAG_NONE, -1, nullptr, nv.data(), nv.size(), nullptr);
    ASSERT_GT(id, 0);
    c.streams[id];
    ASSERT_TRUE(c.run([&] { return c.streams[id].closed || c.eof; }));
    EXPECT_EQ(c.streams[id].status, 413);
    EXPECT_TRUE(c.streams[id].reset) << "RST_STREAM(NO_ERROR) after the answer";
    // Trailers on the closed stream, as a client whose frames crossed the reset sends them:
    // written raw (nghttp2 would not send on a closed stream). HPACK: a literal without
    // indexing, new name "x-t: 1".
    std::string block = std::string("\x00\x03x-t\x01" "1", 7);
    std::string frame;
    frame += static_cast<char>(0);
    frame += static_cast<char>(0);
    frame += static_cast<char>(block.size());
    frame += static_cast<char>(NGHTTP2_HEADERS);
    frame += static_cast<char>(NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS);
    frame += std::string("\0\0\0", 3) + static_cast<char>(id);
    c.send_raw(frame + block);
    // The connection goes on.
    int32_t id2 = c.get("/hello");
    ASSERT_TRUE(c.run_until_closed(id2));
    EXPECT_EQ(c.streams[id2].status, 200);
    EXPECT_FALSE(c.goaway) << "GOAWAY error " << c.goaway_error;
}

}  // namespace
}  // namespace gw::test

namespace gw::test {
namespace {

// The header-count and header-size budgets are per header block (server_session.h): a request
// whose head and trailers are each within them, together above, is served.
TEST(H2Server, BudgetsArePerHeaderBlock) {
    Fixture f;
    H2Client c(f.h);
    H2Fields head, trailers;
    for (int i = 0; i < 15; ++i) head.emplace_back("x-h" + std::to_string(i), std::string(150, 'h'));
    for (int i = 0; i < 15; ++i) trailers.emplace_back("x-t" + std::to_string(i), std::string(150, 't'));
    std::string body = "abc";
    int32_t id = c.request("POST", "/up/post", head, &body, false, trailers);
    ASSERT_TRUE(c.run([&] { return c.streams[id].closed || c.goaway || c.eof; }));
    EXPECT_FALSE(c.goaway) << "GOAWAY error " << c.goaway_error;
    EXPECT_EQ(c.streams[id].status, 200);
}

}  // namespace
}  // namespace gw::test

namespace gw::test {
namespace {

TEST(H2Server, ResponseUntilTheUpstreamCloses) {
    Fixture f;
    H2Client c(f.h);
    int32_t id = c.get("/up/untilclose");
    ASSERT_TRUE(c.run_until_closed(id));
    EXPECT_EQ(c.streams[id].status, 200);
    EXPECT_EQ(c.streams[id].body, "until the end");
    EXPECT_EQ(c.streams[id].error_code, 0u);
}

TEST(H2Server, ResponseCutShortIsReset) {
    Fixture f;
    H2Client c(f.h);
    int32_t id = c.get("/up/cut");
    ASSERT_TRUE(c.run_until_closed(id));
    EXPECT_EQ(c.streams[id].status, 200);
    EXPECT_EQ(c.streams[id].body, "only part");
    EXPECT_NE(c.streams[id].error_code, 0u) << "the client sees the body is incomplete";
    int32_t id2 = c.get("/hello");
    ASSERT_TRUE(c.run_until_closed(id2));
    EXPECT_EQ(c.streams[id2].status, 200);
}

// An upstream that sends an interim head and dies: the stream ends (a 502, or a reset), the
// connection and the worker go on.
TEST(H2Server, InterimHeadThenUpstreamGone) {
    Fixture f;
    H2Client c(f.h);
    int32_t id = c.get("/up/interim103");
    ASSERT_TRUE(c.run_until_closed(id));
    std::string body = "abc";
    int32_t id2 = c.request("POST", "/up/interim100", {{"expect", "100-continue"}}, &body, true);
    ASSERT_TRUE(c.run_until_closed(id2));
    int32_t id3 = c.get("/hello");
    ASSERT_TRUE(c.run_until_closed(id3));
    EXPECT_EQ(c.streams[id3].status, 200);
    EXPECT_FALSE(c.goaway);
}

}  // namespace
}  // namespace gw::test

#include "core/module/module.h"
#include "http/filter.h"
#include "http/stream.h"

namespace gw::test {
namespace {

// A request filter that pauses every request and keeps its handle (the test resumes it, as an
// auth or rate-limit lookup would from a later event).
class PauseFilter : public http::Filter {
  public:
    PauseFilter() : Filter(http::kHookRequest) {}
    http::FilterStatus on_request(http::Stream& s, void*) override {
        handle = s.pause_handle();
        paused = true;
        return http::FilterStatus::Pause;
    }
    http::ResumeHandle handle;
    bool paused = false;
};

class PausePart : public module::WorkerPart {
  public:
    http::Filter* route_filter(int route) override { return route == 0 ? &filter : nullptr; }
    PauseFilter filter;
};

// A paused request resumed after its client vanished (a TCP reset), with body bytes the
// gateway has not yet given back to the client's window: the local answer must not touch the
// session the failed write closed.
TEST(H2Server, ResumeAfterTheClientVanished) {
    TinyBackend be("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    ServerHarness h("    http2: prior_knowledge\n"
                    "http2: {initial_window_size: 65535}\n"
                    "routes:\n"
                    "  - {name: hello, match: {path: /hello}, return: {body: \"hello\\n\"}}\n",
                    be.port());
    PausePart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    H2Client c(h);
    // A body larger than a window, and no handler yet: the buffer fills past a window and the
    // gateway keeps the client's window shut (what came since is not given back).
    std::string body(300000, 'd');
    c.request("POST", "/hello", {}, &body, false);
    ASSERT_TRUE(c.run([&] { return part.filter.paused; }));
    c.run([] { return false; }, 200);
    c.reset_connection();
    usleep(50 * 1000);
    // The lookup ends: the chain resumes (from outside the connection's own events). The local
    // answer gives the window back first (WINDOW_UPDATE); that write fails (the reset) and closes
    // the connection, its session and this stream with it - then the answer is made.
    part.filter.handle.resume();
    redis_test::run_until(h.loop(), [] { return false; }, 100);
    // The next client (on the same pooled connection object) is served.
    part.filter.paused = false;
    H2Client c2(h);
    int32_t id = c2.get("/hello");
    ASSERT_TRUE(c2.run([&] { return part.filter.paused; }, 2000)) << "nothing read on the reused connection object";
    part.filter.handle.resume();
    ASSERT_TRUE(c2.run_until_closed(id, 2000));
    EXPECT_EQ(c2.streams[id].status, 200);
    EXPECT_EQ(c2.streams[id].body, "hello\n");
    SUCCEED() << "no crash";
}

}  // namespace
}  // namespace gw::test

namespace gw::test {
namespace {

// A write to a client that vanished (a TCP reset) closes the connection - and the connection
// object, pooled, serves the next client as well as any other.
TEST(H2Server, NextClientAfterAFailedWrite) {
    Fixture f;
    {
        H2Client c(f.h);
        int32_t id = c.get("/up/later");
        ASSERT_TRUE(c.run([&] { return c.streams[id].body.size() >= 1000; }));
        c.reset_connection();
        // The rest of the body comes: the gateway's write fails.
        redis_test::run_until(f.h.loop(), [] { return false; }, 600);
    }
    H2Client c2(f.h);
    int32_t id = c2.get("/hello");
    ASSERT_TRUE(c2.run_until_closed(id, 2000)) << "no answer on the reused connection object";
    EXPECT_EQ(c2.streams[id].status, 200);
}

}  // namespace
}  // namespace gw::test

namespace gw::test {
namespace {

// A request body nobody takes yet (a filter waits): the gateway buffers about two windows of
// it and the client's window stays shut beyond that; once the request goes on, all of it comes.
TEST(H2Server, RequestBodyBufferedAtMostTwoWindows) {
    RecordingBackend* self = nullptr;
    RecordingBackend backend{answers(self)};
    self = &backend;
    ServerHarness h("    http2: prior_knowledge\n"
                    "http2: {initial_window_size: 65535}\n"
                    "upstreams:\n  b: {servers: [{address: \"127.0.0.1:%BACKEND%\"}]}\n"
                    "routes:\n  - {name: up, match: {path_prefix: /up}, upstream: b}\n",
                    backend.port());
    PausePart part;
    h.ctx().modules.push_back(&part);
    ASSERT_TRUE(h.start());
    H2Client c(h);
    std::string body(600000, 'p');
    int32_t id = c.request("POST", "/up/post", {}, &body, true);
    ASSERT_TRUE(c.run([&] { return part.filter.paused; }));
    c.run([] { return false; }, 500);
    size_t sent = c.body_sent(id);
    EXPECT_GE(sent, 65535u);
    EXPECT_LE(sent, 2u * 65535 + 16384) << "the client's window was opened past what the stream may buffer";
    part.filter.handle.resume();
    ASSERT_TRUE(c.run_until_closed(id, 10000));
    EXPECT_EQ(c.streams[id].status, 200);
    auto reqs = backend.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].size() - (reqs[0].find("\r\n\r\n") + 4), body.size());
}

}  // namespace
}  // namespace gw::test
