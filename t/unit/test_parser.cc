// Unit tests of the strict HTTP/1.1 request parser (src/http/parser.cc).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "http/parser.h"

namespace gw::http {
namespace {

using namespace std::string_view_literals;

// Request is large (kMaxHeadersHard headers); keep it off the test's stack.
struct Parsed {
    std::unique_ptr<Request> req = std::make_unique<Request>();
    ParseError err;
    ParseResult result = ParseResult::Incomplete;
};

Parsed parse(std::string_view buf, const ParserLimits& limits = {}) {
    Parsed p;
    p.result = parse_request_head(buf, limits, *p.req, p.err);
    return p;
}

// Asserts that `buf` is refused with `status`; returns the reason for extra checks.
::testing::AssertionResult rejects(std::string_view buf, int status,
                                   const ParserLimits& limits = {}) {
    Parsed p = parse(buf, limits);
    if (p.result != ParseResult::Error)
        return ::testing::AssertionFailure()
               << "expected Error " << status << ", got "
               << (p.result == ParseResult::Complete ? "Complete" : "Incomplete");
    if (p.err.status != status)
        return ::testing::AssertionFailure() << "expected status " << status << ", got "
                                             << p.err.status << " (" << p.err.reason << ")";
    if (p.err.reason.empty()) return ::testing::AssertionFailure() << "empty reason";
    return ::testing::AssertionSuccess();
}

// Every view of the request must point into `buf`.
bool inside(std::string_view v, std::string_view buf) {
    return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

// ---------------------------------------------------------------------------------------------
// Accepted requests

TEST(ParserAccept, SimpleGet) {
    std::string_view buf = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    const Request& r = *p.req;
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/index.html");
    EXPECT_EQ(r.path, "/index.html");
    EXPECT_EQ(r.query, "");
    EXPECT_EQ(r.version_minor, 1);
    EXPECT_EQ(r.host, "example.com");
    EXPECT_EQ(r.header_count, 2u);
    EXPECT_EQ(r.headers[1].name, "Accept");
    EXPECT_EQ(r.headers[1].value, "*/*");
    EXPECT_EQ(r.body, BodyKind::None);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_FALSE(r.expect_continue);
    EXPECT_FALSE(r.upgrade);
    EXPECT_EQ(r.head_length, buf.size());
}

TEST(ParserAccept, PostWithContentLength) {
    std::string_view buf = "POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->body, BodyKind::ContentLength);
    EXPECT_EQ(p.req->content_length, 5u);
    EXPECT_EQ(p.req->head_length, buf.size() - 5);
}

TEST(ParserAccept, ContentLengthLargeAndLeadingZeros) {
    Parsed p = parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->content_length, 18446744073709551615u);
    p = parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->content_length, 7u);
}

TEST(ParserAccept, ChunkedPost) {
    Parsed p = parse("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->body, BodyKind::Chunked);
}

TEST(ParserAccept, TransferEncodingCaseAndEmptyElements) {
    Parsed p = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , CHUNKED ,\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->body, BodyKind::Chunked);
}

TEST(ParserAccept, Http10DefaultsToClose) {
    Parsed p = parse("GET / HTTP/1.0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->version_minor, 0);
    EXPECT_FALSE(p.req->keep_alive);
    EXPECT_EQ(p.req->host, "");
}

TEST(ParserAccept, Http10KeepAlive) {
    Parsed p = parse("GET / HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_TRUE(p.req->keep_alive);
    EXPECT_EQ(p.req->host, "h");
}

TEST(ParserAccept, ConnectionClose) {
    Parsed p = parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_FALSE(p.req->keep_alive);
    // close wins over keep-alive
    p = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_FALSE(p.req->keep_alive);
}

TEST(ParserAccept, Upgrade) {
    Parsed p = parse(
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: "
        "websocket\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_TRUE(p.req->upgrade);
    // Connection: upgrade without an Upgrade header is not an upgrade.
    p = parse("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete);
    EXPECT_FALSE(p.req->upgrade);
    // Upgrade without Connection: upgrade neither.
    p = parse("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete);
    EXPECT_FALSE(p.req->upgrade);
    // HTTP/1.0 upgrades are ignored (RFC 9110 §7.8).
    p = parse("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete);
    EXPECT_FALSE(p.req->upgrade);
}

TEST(ParserAccept, ExpectContinue) {
    Parsed p =
        parse("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_TRUE(p.req->expect_continue);
    // Ignored in HTTP/1.0 (RFC 9110 §10.1.1).
    p = parse("PUT /f HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_FALSE(p.req->expect_continue);
}

TEST(ParserAccept, AbsoluteFormOverridesHost) {
    std::string_view buf =
        "GET http://Backend.example:8080/a/b?x=1&y HTTP/1.1\r\nHost: other.example\r\n\r\n";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->target, "http://Backend.example:8080/a/b?x=1&y");
    EXPECT_EQ(p.req->host, "Backend.example:8080");
    EXPECT_EQ(p.req->path, "/a/b");
    EXPECT_EQ(p.req->query, "x=1&y");
    EXPECT_EQ(p.req->header("host"), "other.example");
}

TEST(ParserAccept, AbsoluteFormEmptyPath) {
    std::string_view buf = "GET HTTPS://h.example HTTP/1.1\r\nHost: h.example\r\n\r\n";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->host, "h.example");
    EXPECT_EQ(p.req->path, "/");
    EXPECT_TRUE(inside(p.req->path, buf));
    buf = "GET http://h.example?q HTTP/1.1\r\nHost: h.example\r\n\r\n";
    p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->path, "/");
    EXPECT_EQ(p.req->query, "q");
    EXPECT_TRUE(inside(p.req->path, buf));
}

TEST(ParserAccept, AbsoluteFormIpv6) {
    Parsed p = parse("GET http://[::1]:81/ HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->host, "[::1]:81");
}

TEST(ParserAccept, OptionsAsterisk) {
    Parsed p = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->target, "*");
    EXPECT_EQ(p.req->path, "*");
}

TEST(ParserAccept, ConnectAuthorityForm) {
    Parsed p = parse("CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->host, "db.example:5432");
    EXPECT_EQ(p.req->path, "");
}

TEST(ParserAccept, QuerySplit) {
    Parsed p = parse("GET /search?q=a?b&c=/d HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->path, "/search");
    EXPECT_EQ(p.req->query, "q=a?b&c=/d");
    p = parse("GET /x? HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->path, "/x");
    EXPECT_EQ(p.req->query, "");
}

TEST(ParserAccept, ObsTextInValueAndTarget) {
    std::string_view buf =
        "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->path, "/caf\xc3\xa9");
    EXPECT_EQ(p.req->header("x-name"), "caf\xc3\xa9 \xff");
}

TEST(ParserAccept, ValueTrimmingAndEmptyValue) {
    Parsed p =
        parse("GET / HTTP/1.1\r\nHost:h\r\nX-A: \t a  b \t \r\nX-Empty:\r\nX-Ws:   \r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->host, "h");
    EXPECT_EQ(p.req->header("X-A"), "a  b");
    EXPECT_EQ(p.req->header("x-empty"), "");
    EXPECT_EQ(p.req->header("X-WS"), "");
    EXPECT_EQ(p.req->header_count, 4u);
}

TEST(ParserAccept, HeaderLookupIsCaseInsensitiveAndFirst) {
    Parsed p = parse("GET / HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->header("X-DUP"), "1");
    EXPECT_EQ(p.req->header("missing"), "");
    EXPECT_EQ(p.req->header(""), "");
}

TEST(ParserAccept, LeadingEmptyLinesSkipped) {
    std::string_view buf = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->method, "GET");
    EXPECT_EQ(p.req->head_length, buf.size());
}

TEST(ParserAccept, HostForms) {
    for (std::string_view host : {"a"sv, "example.com:80"sv, "127.0.0.1"sv, "[2001:db8::1]"sv,
                                  "[::ffff:1.2.3.4]:443"sv, "my_host-1.example."sv, "h:65535"sv}) {
        std::string req = "GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n";
        Parsed p = parse(req);
        ASSERT_EQ(p.result, ParseResult::Complete) << host << ": " << p.err.reason;
        EXPECT_EQ(p.req->host, host);
    }
}

TEST(ParserAccept, PipelinedPair) {
    std::string_view first = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    std::string_view second = "GET /b?z HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    std::string buf = std::string(first) + "abc" + std::string(second);
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->head_length, first.size());
    EXPECT_EQ(p.req->path, "/a");
    std::string_view rest =
        std::string_view(buf).substr(p.req->head_length + p.req->content_length);
    Parsed q = parse(rest);
    ASSERT_EQ(q.result, ParseResult::Complete) << q.err.reason;
    EXPECT_EQ(q.req->head_length, second.size());
    EXPECT_EQ(q.req->path, "/b");
    EXPECT_EQ(q.req->query, "z");
    EXPECT_FALSE(q.req->keep_alive);
}

TEST(ParserAccept, EveryPrefixIsIncomplete) {
    std::string_view full =
        "\r\nPOST http://h.example/p?q=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Connection: keep-alive\r\nX-Obs: \xe2\x82\xac\r\n\r\n";
    for (size_t len = 0; len < full.size(); ++len) {
        Parsed p = parse(full.substr(0, len));
        ASSERT_EQ(p.result, ParseResult::Incomplete)
            << "prefix of length " << len << ": " << p.err.status << " " << p.err.reason;
    }
    Parsed p = parse(full);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.req->head_length, full.size());
    EXPECT_EQ(p.req->host, "h.example");
    EXPECT_EQ(p.req->body, BodyKind::Chunked);
}

TEST(ParserAccept, AllViewsInsideBuffer) {
    std::string buf = "OPTIONS http://h:1?x HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    const Request& r = *p.req;
    for (std::string_view v : {r.method, r.target, r.path, r.query, r.host})
        EXPECT_TRUE(inside(v, buf));
    for (size_t i = 0; i < r.header_count; ++i) {
        EXPECT_TRUE(inside(r.headers[i].name, buf));
        EXPECT_TRUE(inside(r.headers[i].value, buf));
    }
}

TEST(ParserAccept, ReusedRequestIsReset) {
    Request r;
    ParseError err;
    ASSERT_EQ(parse_request_head("GET http://a/ HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\n"
                                 "Connection: close\r\nExpect: 100-continue\r\n\r\n",
                                 {}, r, err),
              ParseResult::Complete);
    ASSERT_EQ(parse_request_head("GET /x HTTP/1.1\r\nHost: c\r\n\r\n", {}, r, err),
              ParseResult::Complete);
    EXPECT_EQ(r.host, "c");
    EXPECT_EQ(r.body, BodyKind::None);
    EXPECT_EQ(r.content_length, 0u);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_FALSE(r.expect_continue);
    EXPECT_EQ(r.header_count, 1u);
    EXPECT_EQ(r.query, "");
}

TEST(ParserAccept, LimitsAtTheBoundary) {
    std::string_view buf = "GET /abcd HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n";
    ParserLimits l;
    l.max_header_size = buf.size();
    l.max_uri_size = 5;
    l.max_headers = 2;
    Parsed p = parse(buf, l);
    EXPECT_EQ(p.result, ParseResult::Complete) << p.err.reason;
}

// ---------------------------------------------------------------------------------------------
// Rejected requests, each rule with its status

TEST(ParserReject, RequestLine) {
    EXPECT_TRUE(rejects("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400));  // two SP
    EXPECT_TRUE(rejects("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400));  // trailing SP
    EXPECT_TRUE(rejects(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400));      // not a token
    EXPECT_TRUE(rejects("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400));  // CTL in target
    EXPECT_TRUE(rejects("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"sv, 400));
    EXPECT_TRUE(rejects("GET /\r\nHost: h\r\n\r\n", 400));  // HTTP/0.9 style
    EXPECT_TRUE(rejects("GET\r\n\r\n", 400));
}

TEST(ParserReject, Version) {
    EXPECT_TRUE(rejects("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505));
    EXPECT_TRUE(rejects("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505));
    EXPECT_TRUE(rejects("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505));
    EXPECT_TRUE(rejects("GET / HTTP/3.1\r\nHost: h\r\n\r\n", 505));
    EXPECT_TRUE(rejects("GET / http/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/11.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1,1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400));
}

TEST(ParserReject, TargetForms) {
    EXPECT_TRUE(rejects("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400));  // * only for OPTIONS
    EXPECT_TRUE(rejects("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET h.example:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400));  // authority-form
    EXPECT_TRUE(rejects("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("CONNECT h.example HTTP/1.1\r\nHost: h\r\n\r\n", 400));  // no port
    EXPECT_TRUE(rejects("CONNECT http://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET index.html HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET http://h/a#f HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400));     // empty authority
    EXPECT_TRUE(rejects("GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400));  // userinfo
    EXPECT_TRUE(rejects("GET http://h:99999/ HTTP/1.1\r\nHost: h\r\n\r\n", 400));
}

TEST(ParserReject, LineEndings) {
    EXPECT_TRUE(rejects("GET / HTTP/1.1\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\n\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n", 400));
    EXPECT_TRUE(rejects("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\n\rX: y\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\rHost: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400));
    // Bare LF and bare CR are refused before the head is complete.
    EXPECT_TRUE(rejects("GET / HTTP/1.1\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\n", 400));
    EXPECT_TRUE(rejects("\r\r", 400));
    Parsed p = parse("GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n");
    EXPECT_EQ(p.err.reason, "bare LF");
}

TEST(ParserReject, HeaderSyntax) {
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400));  // SP before colon
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\n X: folded\r\n\r\n", 400));  // obs-fold
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400));  // empty name
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"sv, 400));  // NUL
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[0m\r\n\r\n", 400));
    Parsed p = parse("GET / HTTP/1.1\r\nHost : h\r\n\r\n");
    EXPECT_EQ(p.err.reason, "whitespace before colon");
}

TEST(ParserReject, Host) {
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET http://h/ HTTP/1.1\r\n\r\n", 400));  // Host needed even so
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400));
    for (std::string_view bad :
         {"a/b"sv, "u@h"sv, "a b"sv, "a,b"sv, ""sv, "h:"sv, "h:x"sv, "h:123456"sv, "[::1"sv, "[]"sv,
          ":80"sv, "h\\x"sv, "h:80:81"sv, "\xc3\xa9"sv}) {
        std::string req = "GET / HTTP/1.1\r\nHost: " + std::string(bad) + "\r\n\r\n";
        EXPECT_TRUE(rejects(req, 400)) << "Host: " << bad;
    }
}

TEST(ParserReject, ContentLength) {
    EXPECT_TRUE(rejects(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400));
    EXPECT_TRUE(rejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400));
    EXPECT_TRUE(rejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400));
    EXPECT_TRUE(rejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400));
    EXPECT_TRUE(rejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400));
    EXPECT_TRUE(rejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400));
    EXPECT_TRUE(rejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400));
    EXPECT_TRUE(
        rejects("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 400));
    EXPECT_TRUE(rejects(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400));
}

TEST(ParserReject, TransferEncoding) {
    const std::string pre = "POST / HTTP/1.1\r\nHost: h\r\n";
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400));
    EXPECT_TRUE(rejects("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400));
    EXPECT_TRUE(
        rejects(pre + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400));
    EXPECT_TRUE(
        rejects(pre + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: chunked;x=1\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: \"chunked\"\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: chun ked\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding:\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: ,\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n\r\n", 400));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: gzip\r\n\r\n", 501));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: identity\r\n\r\n", 501));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: x-unknown\r\n\r\n", 501));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501));
    EXPECT_TRUE(
        rejects(pre + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501));
    EXPECT_TRUE(rejects(pre + "Transfer-Encoding: gzip;level=1, chunked\r\n\r\n", 501));
}

TEST(ParserReject, Connection) {
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nConnection: close;x\r\n\r\n", 400));
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nConnection: a b\r\n\r\n", 400));
}

TEST(ParserReject, Expect) {
    EXPECT_TRUE(rejects("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417));
    EXPECT_TRUE(rejects("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, foo\r\n\r\n", 417));
    EXPECT_TRUE(rejects("PUT / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n", 417));
}

TEST(ParserReject, HeaderTooLarge) {
    ParserLimits l;
    l.max_header_size = 64;
    std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(60, 'a') + "\r\n\r\n";
    EXPECT_TRUE(rejects(big, 431, l));
    // Also while incomplete, once the buffer is past the limit without the end of the head.
    EXPECT_TRUE(rejects(std::string_view(big).substr(0, 65), 431, l));
    Parsed p = parse(std::string_view(big).substr(0, 64), l);
    EXPECT_EQ(p.result, ParseResult::Incomplete);
    // Leading empty lines count too.
    std::string crlfs;
    for (int i = 0; i < 40; ++i) crlfs += "\r\n";
    EXPECT_TRUE(rejects(crlfs, 431, l));
    EXPECT_TRUE(rejects(crlfs + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 431, l));
    // One byte over the exact head size.
    std::string_view exact = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    l.max_header_size = exact.size() - 1;
    EXPECT_TRUE(rejects(exact, 431, l));
}

TEST(ParserReject, UriTooLong) {
    ParserLimits l;
    l.max_uri_size = 8;
    EXPECT_TRUE(rejects("GET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n", 414, l));
    // While incomplete: the request line has not ended but the target is already too long.
    EXPECT_TRUE(rejects("GET /123456789", 414, l));
    EXPECT_TRUE(rejects("GET /12345678", 414, l));  // 9 > 8
    EXPECT_EQ(parse("GET /1234567", l).result, ParseResult::Incomplete);
    EXPECT_EQ(parse("GET /1234567 HTTP/1.1\r\nHost: h\r\n\r\n", l).result, ParseResult::Complete);
}

TEST(ParserReject, TooManyHeaders) {
    ParserLimits l;
    l.max_headers = 3;
    std::string_view ok = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    EXPECT_EQ(parse(ok, l).result, ParseResult::Complete);
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431, l));
    // Detected before the head ends.
    EXPECT_TRUE(rejects("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n", 431, l));
    // max_headers is capped at kMaxHeadersHard.
    l.max_headers = 100000;
    l.max_header_size = 1 << 20;
    std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (size_t i = 0; i < kMaxHeadersHard; ++i) many += "X: y\r\n";
    many += "\r\n";
    EXPECT_TRUE(rejects(many, 431, l));
}

TEST(ParserReject, EarlyRejectOfPartialRequestLine) {
    EXPECT_TRUE(rejects("G\x01", 400));
    EXPECT_TRUE(rejects("GET /a\x01", 400));
    EXPECT_TRUE(rejects("GET  ", 400));
    EXPECT_EQ(parse("GET /a HTTP/1.", {}).result, ParseResult::Incomplete);
}

// ---------------------------------------------------------------------------------------------
// Chunked decoder

struct Decoded {
    ChunkedDecoder::Status status = ChunkedDecoder::Status::NeedMore;
    std::string body;
    size_t consumed = 0;  // total over all calls
    ParseError err;
};

// Feeds `in` in pieces of `step` bytes (0 = all at once), calling again while the decoder
// returns data with bytes left, like a connection would.
Decoded decode(std::string_view in, size_t step = 0, uint64_t max_body = 0) {
    ChunkedDecoder dec;
    dec.set_max_body(max_body);
    Decoded d;
    size_t avail = 0;
    while (true) {
        avail = step == 0 ? in.size() : std::min(in.size(), avail + step);
        while (d.consumed < avail) {
            size_t used = 0;
            std::string_view data;
            d.status = dec.feed(in.substr(d.consumed, avail - d.consumed), used, data, d.err);
            d.body.append(data);
            d.consumed += used;
            if (d.status != ChunkedDecoder::Status::NeedMore) {
                EXPECT_EQ(dec.body_size(), d.body.size());
                return d;
            }
        }
        if (avail == in.size()) return d;
    }
}

TEST(ParserChunked, Simple) {
    std::string_view in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    Decoded d = decode(in);
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Done);
    EXPECT_EQ(d.body, "hello world");
    EXPECT_EQ(d.consumed, in.size());
}

TEST(ParserChunked, ByteAtATimeMatchesOneShot) {
    std::string_view in =
        "a;name=value;flag\r\n0123456789\r\n1F \t; q=\"x y\"\r\nabcdefghijklmnopqrstuvwxyz01234\r\n"
        "0;last\r\nX-Trailer: v\r\nChecksum:\t\xff\r\n\r\n";
    Decoded all = decode(in);
    ASSERT_EQ(all.status, ChunkedDecoder::Status::Done) << all.err.reason;
    EXPECT_EQ(all.body, "0123456789abcdefghijklmnopqrstuvwxyz01234");
    EXPECT_EQ(all.consumed, in.size());
    for (size_t step = 1; step <= 7; ++step) {
        Decoded d = decode(in, step);
        ASSERT_EQ(d.status, ChunkedDecoder::Status::Done) << "step " << step << " " << d.err.reason;
        EXPECT_EQ(d.body, all.body);
        EXPECT_EQ(d.consumed, in.size());
    }
}

TEST(ParserChunked, TrailerBytesAreTheTailOfWhatWasConsumed) {
    // The proxy drops the trailer section by its size: it must be exactly the bytes after the
    // last-chunk line, however the input is split.
    std::string_view in = "3\r\nabc\r\n0;x=1\r\nX-A: 1\r\nSet-Cookie: s\r\n\r\nNEXT";
    const size_t section = std::string_view("X-A: 1\r\nSet-Cookie: s\r\n\r\n").size();
    for (size_t step = 1; step <= in.size(); ++step) {
        ChunkedDecoder dec;
        size_t done = 0;
        ChunkedDecoder::Status st = ChunkedDecoder::Status::NeedMore;
        while (st == ChunkedDecoder::Status::NeedMore && done < in.size()) {
            size_t avail = std::min(in.size(), done + step);
            size_t used = 0;
            std::string_view data;
            ParseError err;
            st = dec.feed(in.substr(done, avail - done), used, data, err);
            done += used;
            const size_t trailer_start = in.find("X-A");
            EXPECT_EQ(dec.trailer_bytes(), done > trailer_start ? done - trailer_start : 0) << "step " << step;
            if (used == 0 && st == ChunkedDecoder::Status::NeedMore && avail == in.size()) break;
        }
        ASSERT_EQ(st, ChunkedDecoder::Status::Done) << "step " << step;
        EXPECT_EQ(dec.trailer_bytes(), section);
        EXPECT_EQ(in.substr(done), "NEXT");
    }
    // Without trailers, the section is the final CRLF alone.
    Decoded d = decode("0\r\n\r\n");
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Done);
}

TEST(ParserChunked, NeedMoreUntilTheLastByte) {
    std::string_view in = "3\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    for (size_t len = 0; len < in.size(); ++len) {
        Decoded d = decode(in.substr(0, len), 1);
        EXPECT_EQ(d.status, ChunkedDecoder::Status::NeedMore) << "len " << len;
        EXPECT_EQ(d.consumed, len);
    }
}

TEST(ParserChunked, UpperCaseHexAndLeadingZeros) {
    Decoded d = decode("000A\r\n0123456789\r\n00\r\n\r\n");
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Done) << d.err.reason;
    EXPECT_EQ(d.body.size(), 10u);
}

TEST(ParserChunked, PipelinedBytesLeftUnconsumed) {
    std::string_view body = "4\r\nwxyz\r\n0\r\n\r\n";
    std::string in = std::string(body) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    for (size_t step : {0, 1, 3}) {
        Decoded d = decode(in, step);
        ASSERT_EQ(d.status, ChunkedDecoder::Status::Done) << d.err.reason;
        EXPECT_EQ(d.consumed, body.size());
        EXPECT_EQ(d.body, "wxyz");
    }
    // And after Done the decoder takes nothing more.
    ChunkedDecoder dec;
    size_t used = 0;
    std::string_view data;
    ParseError err;
    ASSERT_EQ(dec.feed("0\r\n\r\nGET", used, data, err), ChunkedDecoder::Status::Done);
    EXPECT_EQ(used, 5u);
    EXPECT_EQ(dec.feed("GET", used, data, err), ChunkedDecoder::Status::Done);
    EXPECT_EQ(used, 0u);
    EXPECT_TRUE(data.empty());
}

TEST(ParserChunked, OneDataViewPerCall) {
    ChunkedDecoder dec;
    std::string_view in = "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
    size_t used = 0;
    std::string_view data;
    ParseError err;
    ASSERT_EQ(dec.feed(in, used, data, err), ChunkedDecoder::Status::NeedMore);
    EXPECT_EQ(data, "ab");
    EXPECT_EQ(used, 10u);  // through the next size line, up to the next data
    in.remove_prefix(used);
    ASSERT_EQ(dec.feed(in, used, data, err), ChunkedDecoder::Status::Done);
    EXPECT_EQ(data, "cd");
    EXPECT_EQ(used, in.size());
    EXPECT_EQ(dec.body_size(), 4u);
}

TEST(ParserChunked, MaxBody) {
    EXPECT_EQ(decode("5\r\nhello\r\n0\r\n\r\n", 0, 5).status, ChunkedDecoder::Status::Done);
    Decoded d = decode("5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n", 0, 5);
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Error);
    EXPECT_EQ(d.err.status, 413);
    EXPECT_EQ(d.body, "hello");
    // Refused on the size line, before any of the data arrives.
    d = decode("100000\r\n", 1, 1000);
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Error);
    EXPECT_EQ(d.err.status, 413);
}

TEST(ParserChunked, BadCrlf) {
    const std::string_view bad[] = {
        "5\r\nhelloX\r\n0\r\n\r\n",   // no CRLF after the data
        "5\r\nhello\n0\r\n\r\n",      // bare LF after the data
        "5\r\nhello\r0\r\n\r\n",      // bare CR after the data
        "5\nhello\r\n0\r\n\r\n",      // bare LF after the size
        "5\rhello\r\n0\r\n\r\n",      // bare CR after the size
        "5;ext\nhello\r\n0\r\n\r\n",  // bare LF after an extension
        "0\r\n\n",                    // bare LF ending the trailers
        "0\r\n\r\r",
        "0\r\nT: v\n\r\n",
        "0\r\nT: v\rX\r\n\r\n",
    };
    for (std::string_view in : bad) {
        for (size_t step : {0, 1}) {
            Decoded d = decode(in, step);
            EXPECT_EQ(d.status, ChunkedDecoder::Status::Error) << in;
            EXPECT_EQ(d.err.status, 400) << in;
        }
    }
}

TEST(ParserChunked, BadSize) {
    const std::string_view bad[] = {
        "\r\n",   // empty size
        "x\r\n",  // not hex
        "-1\r\n",
        "+1\r\n",
        "0x5\r\n",
        ";ext\r\n",          // extension without a size
        " 5\r\n",            // leading whitespace
        "5 5\r\nhello\r\n",  // whitespace inside the size
        "5 x\r\n",
        "5;a\x01\r\n",  // CTL in an extension
        "5;a\x7f\r\n",
    };
    for (std::string_view in : bad) {
        Decoded d = decode(in, 1);
        EXPECT_EQ(d.status, ChunkedDecoder::Status::Error) << in;
        EXPECT_EQ(d.err.status, 400) << in;
    }
}

TEST(ParserChunked, SizeOverflow) {
    Decoded d = decode("10000000000000000\r\n");  // 17 digits
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Error);
    EXPECT_EQ(d.err.status, 400);
    d = decode("00000000000000001\r\n");  // 17 digits, even if small
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Error);
    EXPECT_EQ(d.err.status, 400);
    // 16 digits are accepted (the data just is not there yet).
    d = decode("FFFFFFFFFFFFFFFF\r\nabc");
    EXPECT_EQ(d.status, ChunkedDecoder::Status::NeedMore) << d.err.reason;
    EXPECT_EQ(d.body, "abc");
    // A total that would wrap around is refused.
    d = decode("1\r\na\r\nFFFFFFFFFFFFFFFF\r\n");
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Error);
    EXPECT_EQ(d.err.status, 400);
}

TEST(ParserChunked, WhitespaceBeforeExtensionOrEnd) {
    EXPECT_EQ(decode("3 ;x=1\r\nabc\r\n0\r\n\r\n", 1).status, ChunkedDecoder::Status::Done);
    EXPECT_EQ(decode("3\t\r\nabc\r\n0 \r\n\r\n", 1).status, ChunkedDecoder::Status::Done);
}

TEST(ParserChunked, ExtensionLineBounded) {
    std::string ok = "1;" + std::string(4094, 'e') + "\r\nx\r\n0\r\n\r\n";  // 4096-byte line
    EXPECT_EQ(decode(ok, 7).status, ChunkedDecoder::Status::Done);
    std::string bad = "1;" + std::string(4095, 'e') + "\r\nx\r\n0\r\n\r\n";
    Decoded d = decode(bad, 7);
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Error);
    EXPECT_EQ(d.err.status, 400);
}

TEST(ParserChunked, Trailers) {
    Decoded d = decode("0\r\nExpires: never\r\nX-Empty:\r\n\r\n", 1);
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Done) << d.err.reason;
    const std::string_view bad[] = {
        "0\r\nNoColon\r\n\r\n", "0\r\nName : v\r\n\r\n",    "0\r\n: v\r\n\r\n",
        "0\r\n folded\r\n\r\n", "0\r\nA: b\r\n\tc\r\n\r\n", "0\r\nA: \x00\r\n\r\n"sv,
        "0\r\nA(b): c\r\n\r\n",
    };
    for (std::string_view in : bad) {
        d = decode(in, 1);
        EXPECT_EQ(d.status, ChunkedDecoder::Status::Error) << in;
        EXPECT_EQ(d.err.status, 400) << in;
    }
}

TEST(ParserChunked, TrailersBounded) {
    std::string in = "0\r\n";
    for (int i = 0; i < 1000; ++i) in += "X-Pad: 0123\r\n";  // 13 000 bytes
    in += "\r\n";
    Decoded d = decode(in, 100);
    EXPECT_EQ(d.status, ChunkedDecoder::Status::Error);
    EXPECT_EQ(d.err.status, 431);
}

TEST(ParserChunked, ErrorIsSticky) {
    ChunkedDecoder dec;
    size_t used = 0;
    std::string_view data;
    ParseError err;
    ASSERT_EQ(dec.feed("z", used, data, err), ChunkedDecoder::Status::Error);
    err = {};
    EXPECT_EQ(dec.feed("5\r\n", used, data, err), ChunkedDecoder::Status::Error);
    EXPECT_EQ(err.status, 400);
    EXPECT_FALSE(err.reason.empty());
    dec.reset();
    EXPECT_EQ(dec.feed("0\r\n\r\n", used, data, err), ChunkedDecoder::Status::Done);
}

TEST(ParserChunked, EmptyInput) {
    ChunkedDecoder dec;
    size_t used = 1;
    std::string_view data = "x";
    ParseError err;
    EXPECT_EQ(dec.feed({}, used, data, err), ChunkedDecoder::Status::NeedMore);
    EXPECT_EQ(used, 0u);
    EXPECT_TRUE(data.empty());
}

// The head and the body together, as a connection handles a chunked upload.
TEST(ParserChunked, AfterHead) {
    std::string_view buf =
        "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    ASSERT_EQ(p.req->body, BodyKind::Chunked);
    Decoded d = decode(buf.substr(p.req->head_length), 2);
    ASSERT_EQ(d.status, ChunkedDecoder::Status::Done) << d.err.reason;
    EXPECT_EQ(d.body, "abc");
    Parsed next = parse(buf.substr(p.req->head_length + d.consumed));
    ASSERT_EQ(next.result, ParseResult::Complete) << next.err.reason;
    EXPECT_EQ(next.req->path, "/next");
}

}  // namespace
}  // namespace gw::http
