// Unit tests of the upstream response head parser (src/http/response_parser.cc).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "http/parser.h"

namespace gw::http {
namespace {

using namespace std::string_view_literals;

// Response is large (kMaxHeadersHard headers); keep it off the test's stack.
struct Parsed {
    std::unique_ptr<Response> resp = std::make_unique<Response>();
    ParseError err;
    ParseResult result = ParseResult::Incomplete;
};

Parsed parse(std::string_view buf, bool head = false, const ParserLimits& limits = {}) {
    Parsed p;
    p.result = parse_response_head(buf, limits, head, *p.resp, p.err);
    return p;
}

// Asserts that `buf` is refused (always with 502 and a reason); with `reason`, that exact one.
::testing::AssertionResult rejects(std::string_view buf, std::string_view reason = {},
                                   bool head = false, const ParserLimits& limits = {}) {
    Parsed p = parse(buf, head, limits);
    if (p.result != ParseResult::Error)
        return ::testing::AssertionFailure()
               << "expected Error, got "
               << (p.result == ParseResult::Complete ? "Complete" : "Incomplete");
    if (p.err.status != 502)
        return ::testing::AssertionFailure() << "expected status 502, got " << p.err.status;
    if (p.err.reason.empty()) return ::testing::AssertionFailure() << "empty reason";
    if (!reason.empty() && p.err.reason != reason)
        return ::testing::AssertionFailure()
               << "expected reason \"" << reason << "\", got \"" << p.err.reason << "\"";
    return ::testing::AssertionSuccess();
}

// Parses `buf` expecting Complete; the body framing and keep-alive must be as given.
::testing::AssertionResult frames(std::string_view buf, ResponseBody body, bool keep_alive,
                                  uint64_t content_length = 0, bool head = false) {
    Parsed p = parse(buf, head);
    if (p.result != ParseResult::Complete)
        return ::testing::AssertionFailure()
               << "expected Complete, got "
               << (p.result == ParseResult::Error ? "Error: " + std::string(p.err.reason)
                                                  : std::string("Incomplete"));
    const Response& r = *p.resp;
    if (r.body != body)
        return ::testing::AssertionFailure() << "body kind " << static_cast<int>(r.body)
                                             << ", expected " << static_cast<int>(body);
    if (r.keep_alive != keep_alive)
        return ::testing::AssertionFailure() << "keep_alive " << r.keep_alive;
    if (r.content_length != content_length)
        return ::testing::AssertionFailure() << "content_length " << r.content_length;
    if (r.head_length != buf.size())
        return ::testing::AssertionFailure() << "head_length " << r.head_length;
    return ::testing::AssertionSuccess();
}

bool inside(std::string_view v, std::string_view buf) {
    return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

// ---------------------------------------------------------------------------------------------
// Status line

TEST(ResponseParser, Simple) {
    std::string_view buf =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    const Response& r = *p.resp;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.version_minor, 1);
    EXPECT_EQ(r.reason, "OK");
    ASSERT_EQ(r.header_count, 2u);
    EXPECT_EQ(r.headers[0].name, "Content-Type");
    EXPECT_EQ(r.headers[0].value, "text/plain");
    EXPECT_EQ(r.header("content-type"), "text/plain");
    EXPECT_EQ(r.header("CONTENT-LENGTH"), "5");
    EXPECT_EQ(r.header("x-absent").data(), nullptr);
    EXPECT_EQ(r.body, ResponseBody::ContentLength);
    EXPECT_EQ(r.content_length, 5u);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_FALSE(r.upgrade);
    EXPECT_EQ(r.head_length, buf.size() - 5);
    EXPECT_TRUE(inside(r.reason, buf));
    for (size_t i = 0; i < r.header_count; ++i) {
        EXPECT_TRUE(inside(r.headers[i].name, buf));
        EXPECT_TRUE(inside(r.headers[i].value, buf));
    }
}

// The first Connection field's value is kept (the proxy's list of hop-by-hop fields), as
// header("connection") finds it; every parse starts without one.
TEST(ResponseParser, ConnectionValueKept) {
    Parsed p = parse("HTTP/1.1 200 OK\r\nConnection: x-a, keep-alive\r\nconnection: x-b\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->connection, "x-a, keep-alive");
    EXPECT_EQ(p.resp->connection, p.resp->header("connection"));
    p = parse("HTTP/1.1 200 OK\r\nConnection:\r\nConnection: x-b\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->connection, "") << "the first, empty";
    EXPECT_EQ(p.resp->connection, p.resp->header("connection"));
    Response& r = *p.resp;  // parsed again into the same Response: nothing left over
    ASSERT_EQ(parse_response_head("HTTP/1.1 204 No Content\r\n\r\n", {}, false, r, p.err), ParseResult::Complete);
    EXPECT_EQ(r.connection.data(), nullptr);
    ASSERT_TRUE(split_own_response_head("HTTP/1.1 200 OK\r\nConnection: x-c\r\ncontent-length: 2\r\n\r\n", false, r));
    EXPECT_EQ(r.connection, "x-c");
    ASSERT_TRUE(split_own_response_head("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", false, r));
    EXPECT_EQ(r.connection.data(), nullptr);
}

TEST(ResponseParser, ReasonPhraseForms) {
    Parsed p = parse("HTTP/1.1 404 Not  Found\t(really) \xe2\x82\xac\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->status, 404);
    EXPECT_EQ(p.resp->reason, "Not  Found\t(really) \xe2\x82\xac");
    // Empty reason after the SP.
    p = parse("HTTP/1.1 204 \r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->status, 204);
    EXPECT_EQ(p.resp->reason, "");
    // No SP at all: not what RFC 9112 says, but common and unambiguous.
    p = parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->status, 200);
    EXPECT_EQ(p.resp->reason, "");
}

TEST(ResponseParser, StatusRange) {
    for (std::string_view code : {"100", "199", "200", "301", "499", "599"}) {
        std::string buf = "HTTP/1.1 " + std::string(code) + " X\r\nContent-Length: 0\r\n\r\n";
        Parsed p = parse(buf);
        ASSERT_EQ(p.result, ParseResult::Complete) << code << ": " << p.err.reason;
        EXPECT_EQ(p.resp->status, std::stoi(std::string(code)));
    }
    for (std::string_view code : {"000", "099", "600", "999"}) {
        std::string buf = "HTTP/1.1 " + std::string(code) + " X\r\n\r\n";
        EXPECT_TRUE(rejects(buf, "status code out of range")) << code;
    }
    EXPECT_TRUE(rejects("HTTP/1.1 20 OK\r\n\r\n", "invalid status code"));
    EXPECT_TRUE(rejects("HTTP/1.1 2000 OK\r\n\r\n", "invalid status code"));
    EXPECT_TRUE(rejects("HTTP/1.1 20\r\n\r\n", "truncated status line"));
    EXPECT_TRUE(rejects("HTTP/1.1 2x0 OK\r\n\r\n", "invalid status code"));
    EXPECT_TRUE(rejects("HTTP/1.1 +20 OK\r\n\r\n", "invalid status code"));
    EXPECT_TRUE(rejects("HTTP/1.1  200 OK\r\n\r\n", "invalid status code"));
    EXPECT_TRUE(rejects("HTTP/1.1 200\tOK\r\n\r\n", "invalid status code"));
}

TEST(ResponseParser, Version) {
    Parsed p = parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->version_minor, 0);
    EXPECT_TRUE(rejects("HTTP/1.2 200 OK\r\n\r\n", "unsupported HTTP version"));
    EXPECT_TRUE(rejects("HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version"));
    EXPECT_TRUE(rejects("HTTP/0.9 200 OK\r\n\r\n", "unsupported HTTP version"));
    EXPECT_TRUE(rejects("HTTP/2 200 OK\r\n\r\n", "unsupported HTTP version"));
    EXPECT_TRUE(rejects("HTTP/1.10 200 OK\r\n\r\n", "invalid HTTP version"));
    EXPECT_TRUE(rejects("HTTP/1.1\r\n\r\n", "truncated status line"));
    EXPECT_TRUE(rejects("http/1.1 200 OK\r\n\r\n", "invalid status line"));
    EXPECT_TRUE(rejects("HTTPS/1.1 200 OK\r\n\r\n", "invalid status line"));
    EXPECT_TRUE(rejects(" HTTP/1.1 200 OK\r\n\r\n", "invalid status line"));
    // HTTP/0.9 responses (a body without a head) and leading empty lines are not skipped.
    EXPECT_TRUE(rejects("<html>\r\n", "invalid status line"));
    EXPECT_TRUE(rejects("\r\nHTTP/1.1 200 OK\r\n\r\n", "empty line before status line"));
    EXPECT_TRUE(rejects("ICY 200 OK\r\n\r\n", "invalid status line"));
}

// ---------------------------------------------------------------------------------------------
// Line endings and header syntax

TEST(ResponseParser, LineEndings) {
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "bare LF"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", "bare LF"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", "bare LF"));
    EXPECT_TRUE(rejects("\nHTTP/1.1 200 OK\r\n\r\n", "bare LF"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n", "bare CR in status line"));
    EXPECT_TRUE(rejects("HTTP/1.1 200\rOK\r\n\r\n", "bare CR in status line"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", "bare CR in header"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\n\rContent-Length: 0\r\n\r\n", "bare CR"));
    // Control characters in the reason phrase.
    EXPECT_TRUE(rejects("HTTP/1.1 200 O\x01K\r\n\r\n", "control character in reason phrase"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 O\x7fK\r\n\r\n", "control character in reason phrase"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 O\0K\r\n\r\n"sv, "control character in reason phrase"));
}

TEST(ResponseParser, HeaderSyntax) {
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nX: a\r\n  folded\r\nContent-Length: 0\r\n\r\n",
                        "obsolete line folding"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\n\tX: a\r\n\r\n", "obsolete line folding"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "whitespace before colon"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nX\t: a\r\n\r\n", "whitespace before colon"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nX Y: a\r\n\r\n", "invalid header name"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nX(Y): a\r\n\r\n", "invalid header name"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\n\xc3\xa9: a\r\n\r\n", "invalid header name"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\n: a\r\n\r\n", "empty header name"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "header without colon"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"sv, "control character in header value"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nX: a\x0b\r\n\r\n", "control character in header value"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n", "control character in header value"));
    // HTAB and obs-text are allowed in values; OWS around the value is trimmed.
    Parsed p = parse(
        "HTTP/1.1 200 OK\r\nX:\t a\tb \xff \t\r\nEmpty:\r\nE2:   \r\n"
        "Content-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->header("x"), "a\tb \xff");
    EXPECT_EQ(p.resp->header("empty"), "");
    EXPECT_NE(p.resp->header("empty").data(), nullptr);
    EXPECT_EQ(p.resp->header("e2"), "");
    EXPECT_EQ(p.resp->header_count, 4u);
}

TEST(ResponseParser, HeaderLookupFindsTheFirst) {
    Parsed p = parse(
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
        "Content-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->header("Set-Cookie"), "a=1");
    EXPECT_EQ(p.resp->header_count, 3u);
    EXPECT_EQ(p.resp->headers[1].value, "b=2");
}

// ---------------------------------------------------------------------------------------------
// Body framing (RFC 9112 §6.3)

TEST(ResponseFraming, ContentLength) {
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", ResponseBody::ContentLength,
                       true, 42));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ResponseBody::ContentLength,
                       true, 0));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
                       ResponseBody::ContentLength, true, 18446744073709551615ull));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length:  007 \r\n\r\n",
                       ResponseBody::ContentLength, true, 7));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
                        "invalid Content-Length"));
    for (std::string_view bad : {"", "+5", "-5", "0x5", "5 5", "5a", "5.0", "\"5\"", "5;q"}) {
        std::string buf = "HTTP/1.1 200 OK\r\nContent-Length: " + std::string(bad) + "\r\n\r\n";
        EXPECT_TRUE(rejects(buf, "invalid Content-Length")) << "[" << bad << "]";
    }
}

TEST(ResponseFraming, RepeatedContentLength) {
    // The same value repeated, as fields or as a list, is one value.
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                       ResponseBody::ContentLength, true, 5));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length: 5, 5 ,5\r\n\r\n",
                       ResponseBody::ContentLength, true, 5));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length: 5,5\r\ncontent-length: 05\r\n\r\n",
                       ResponseBody::ContentLength, true, 5));
    // Differing values are refused, whichever way they come.
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                        "conflicting Content-Length"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", "conflicting Content-Length"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5, 0\r\n\r\n",
                        "conflicting Content-Length"));
    // Empty elements and an invalid element next to valid ones.
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n", "invalid Content-Length"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: ,5\r\n\r\n", "invalid Content-Length"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: x\r\n\r\n",
                        "invalid Content-Length"));
}

TEST(ResponseFraming, TransferEncoding) {
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                       ResponseBody::Chunked, true));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
                       ResponseBody::Chunked, true));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked,\r\n\r\n",
                       ResponseBody::Chunked, true));
    // Any other coding is refused, chunked last or not: Transfer-Encoding is hop-by-hop, so a
    // gzip body would reach the client unlabelled (nginx refuses these too).
    const std::string_view others[] = {
        "Transfer-Encoding: gzip, CHUNKED\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: br\r\n",
        "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding: gzip;level=9\r\n",
        "Transfer-Encoding: identity\r\n",
    };
    for (std::string_view h : others) {
        SCOPED_TRACE(std::string(h));
        EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\n" + std::string(h) + "\r\n",
                            "unsupported Transfer-Encoding"));
    }
    // Refused.
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                        "chunked applied twice"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", "empty Transfer-Encoding"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n", "empty Transfer-Encoding"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
                        "invalid Transfer-Encoding"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
                        "invalid Transfer-Encoding"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked x\r\n\r\n",
                        "invalid Transfer-Encoding"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n",
                        "whitespace before colon"));
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    EXPECT_TRUE(rejects("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                        "Transfer-Encoding in HTTP/1.0"));
}

TEST(ResponseFraming, ContentLengthWithTransferEncodingIsRefused) {
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                "both Transfer-Encoding and Content-Length"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                "both Transfer-Encoding and Content-Length"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
                "both Transfer-Encoding and Content-Length"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                        "both Transfer-Encoding and Content-Length"));
    EXPECT_TRUE(
        rejects("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                "both Transfer-Encoding and Content-Length"));
}

TEST(ResponseFraming, NoLengthMeansUntilClose) {
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\n\r\n", ResponseBody::UntilClose, false));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n",
                       ResponseBody::UntilClose, false));
    EXPECT_TRUE(frames("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
                       ResponseBody::UntilClose, false));
    EXPECT_TRUE(
        frames("HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n", ResponseBody::UntilClose, false));
}

TEST(ResponseFraming, BodilessResponsesIgnoreLengthHeaders) {
    // HEAD, 1xx, 204 and 304 end at the head, whatever CL/TE say, even when TE would be
    // invalid or contradictory. (Content-Length itself must still be valid: see below.)
    const std::string_view heads[] = {
        "Content-Length: 5\r\n",
        "Transfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: gzip\r\n",
        "",
    };
    for (std::string_view h : heads) {
        SCOPED_TRACE(std::string(h));
        EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\n" + std::string(h) + "\r\n", ResponseBody::None,
                           true, 0, /*head=*/true));
        EXPECT_TRUE(frames("HTTP/1.1 204 No Content\r\n" + std::string(h) + "\r\n",
                           ResponseBody::None, true));
        EXPECT_TRUE(frames("HTTP/1.1 304 Not Modified\r\n" + std::string(h) + "\r\n",
                           ResponseBody::None, true));
        EXPECT_TRUE(frames("HTTP/1.1 100 Continue\r\n" + std::string(h) + "\r\n",
                           ResponseBody::None, true));
        EXPECT_TRUE(frames("HTTP/1.1 103 Early Hints\r\n" + std::string(h) + "\r\n",
                           ResponseBody::None, true));
        EXPECT_TRUE(frames("HTTP/1.0 304 Not Modified\r\n" + std::string(h) + "\r\n",
                           ResponseBody::None, false));
    }
    // HEAD with an error status too; but the head itself must still be well-formed.
    EXPECT_TRUE(frames("HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\n", ResponseBody::None, true,
                       0, true));
    EXPECT_TRUE(
        rejects("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", "whitespace before colon", true));
    // A length the client will see is checked even where it does not frame the body: a HEAD
    // answer with two different lengths (or an invalid one) is a 502 like the GET answer.
    for (bool head : {true, false}) {
        EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                            "conflicting Content-Length", head));
        EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
                            "conflicting Content-Length", head));
        EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
                            "invalid Content-Length", head));
    }
    EXPECT_TRUE(rejects("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                        "conflicting Content-Length"));
    // 205 is not one of them: it is framed like any other response.
    EXPECT_TRUE(frames("HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n",
                       ResponseBody::ContentLength, true, 0));
}

// ---------------------------------------------------------------------------------------------
// keep-alive and upgrade

TEST(ResponseKeepAlive, Rules) {
    // HTTP/1.1: persistent unless "close" is among the Connection options.
    EXPECT_TRUE(
        frames("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ResponseBody::ContentLength, true));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                       ResponseBody::ContentLength, false));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: x-foo, CLOSE\r\n\r\n",
                       ResponseBody::ContentLength, false));
    EXPECT_TRUE(
        frames("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive, close\r\n"
               "\r\n",
               ResponseBody::ContentLength, false));
    EXPECT_TRUE(frames("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                       ResponseBody::Chunked, false));
    // HTTP/1.0: only with keep-alive.
    EXPECT_TRUE(
        frames("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", ResponseBody::ContentLength, false));
    EXPECT_TRUE(frames("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n",
                       ResponseBody::ContentLength, true));
    EXPECT_TRUE(
        frames("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n"
               "Connection: close\r\n\r\n",
               ResponseBody::ContentLength, false));
    // Invalid Connection values.
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: \"close\"\r\n\r\n",
                        "invalid Connection"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep alive\r\n\r\n",
                        "invalid Connection"));
}

TEST(ResponseKeepAlive, ConnectionNamingAFramingHeader) {
    // The body is still framed by the header (it is never dropped), but the exchange is not
    // trusted: neither connection is kept.
    for (std::string_view conn : {"content-length"sv, "Transfer-Encoding"sv, "keep-alive, Content-Length"sv}) {
        SCOPED_TRACE(std::string(conn));
        std::string buf = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: " + std::string(conn) +
                          "\r\n\r\nhello";
        Parsed p = parse(buf);
        ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
        EXPECT_EQ(p.resp->body, ResponseBody::ContentLength);
        EXPECT_EQ(p.resp->content_length, 5u);
        EXPECT_FALSE(p.resp->keep_alive);
        EXPECT_TRUE(p.resp->untrusted_framing);
    }
    Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: x-foo\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete);
    EXPECT_TRUE(p.resp->keep_alive);
    EXPECT_FALSE(p.resp->untrusted_framing);
}

TEST(ResponseUpgrade, SwitchingProtocols) {
    std::string_view buf =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n\x81\x05hello";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->status, 101);
    EXPECT_TRUE(p.resp->upgrade);
    EXPECT_EQ(p.resp->body, ResponseBody::None);
    EXPECT_FALSE(p.resp->keep_alive);  // no more HTTP on this connection
    EXPECT_EQ(p.resp->head_length, buf.size() - 7);
    EXPECT_EQ(p.resp->header("upgrade"), "websocket");

    EXPECT_TRUE(rejects("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
                        "101 without Upgrade"));
    EXPECT_TRUE(
        rejects("HTTP/1.1 101 Switching Protocols\r\nUpgrade:\r\n\r\n", "101 without Upgrade"));
    EXPECT_TRUE(rejects("HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                        "101 in HTTP/1.0"));
    // Upgrade on anything but 101 is only an offer (426, or 200 with Upgrade): no upgrade.
    p = parse(
        "HTTP/1.1 426 Upgrade Required\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
        "Content-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_FALSE(p.resp->upgrade);
    EXPECT_TRUE(p.resp->keep_alive);
    p = parse("HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_FALSE(p.resp->upgrade);
}

// ---------------------------------------------------------------------------------------------
// Incremental input, pipelining, limits

TEST(ResponseIncremental, EveryPrefixIsIncomplete) {
    const std::string_view fulls[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Obs: \xe2\x82\xac\r\n\r\n",
        "HTTP/1.1 200\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 204 \r\n\r\n",
        "HTTP/1.0 101 x\r\n\r\n",  // an error, but only once the head is complete
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  // likewise
    };
    for (std::string_view full : fulls) {
        SCOPED_TRACE(std::string(full));
        for (size_t len = 0; len < full.size(); ++len) {
            Parsed p = parse(full.substr(0, len));
            ASSERT_EQ(p.result, ParseResult::Incomplete)
                << "prefix of length " << len << ": " << p.err.reason;
        }
    }
    Parsed p = parse(fulls[0]);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->head_length, fulls[0].size());
}

TEST(ResponseIncremental, EarlyRejectOfPartialStatusLine) {
    // Hopeless status lines are refused before their end arrives.
    EXPECT_TRUE(rejects("<", "invalid status line"));
    EXPECT_TRUE(rejects("HTTP/2", "unsupported HTTP version"));
    EXPECT_TRUE(rejects("HTTP/1.1 6", "status code out of range"));
    EXPECT_TRUE(rejects("HTTP/1.1 20x", "invalid status code"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 O\x01", "control character in reason phrase"));
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\rX", "bare CR in status line"));
    // A CR at the end may be the start of CRLF.
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r").result, ParseResult::Incomplete);
    EXPECT_EQ(parse("HTTP/1.1 200\r").result, ParseResult::Incomplete);
    EXPECT_EQ(parse("HTTP/1.1 200").result, ParseResult::Incomplete);
    EXPECT_EQ(parse("").result, ParseResult::Incomplete);
}

TEST(ResponseIncremental, InterimThenFinalAtOffsets) {
    std::string_view i1 = "HTTP/1.1 100 Continue\r\n\r\n";
    std::string_view i2 = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
    std::string_view fin = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n";
    std::string buf = std::string(i1) + std::string(i2) + std::string(fin) + "ok";
    std::string_view rest = buf;

    Parsed p = parse(rest);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->status, 100);
    EXPECT_EQ(p.resp->body, ResponseBody::None);
    EXPECT_EQ(p.resp->head_length, i1.size());
    rest.remove_prefix(p.resp->head_length);

    p = parse(rest);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->status, 103);
    EXPECT_EQ(p.resp->header("link"), "</s.css>; rel=preload");
    EXPECT_EQ(p.resp->head_length, i2.size());
    rest.remove_prefix(p.resp->head_length);

    p = parse(rest);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->status, 201);
    EXPECT_EQ(p.resp->body, ResponseBody::ContentLength);
    EXPECT_EQ(p.resp->content_length, 2u);
    EXPECT_EQ(rest.substr(p.resp->head_length), "ok");

    // The final response still arriving after the interim one: Incomplete at the offset.
    std::string partial = std::string(i1) + std::string(fin.substr(0, 20));
    p = parse(partial);
    ASSERT_EQ(p.result, ParseResult::Complete);
    p = parse(std::string_view(partial).substr(p.resp->head_length));
    EXPECT_EQ(p.result, ParseResult::Incomplete);
}

TEST(ResponseIncremental, ChunkedBodyAfterHead) {
    std::string_view buf =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    Parsed p = parse(buf);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    ASSERT_EQ(p.resp->body, ResponseBody::Chunked);
    ChunkedDecoder dec;
    size_t used = 0;
    std::string_view data;
    ParseError err;
    std::string_view body = buf.substr(p.resp->head_length);
    std::string got;
    ChunkedDecoder::Status st;
    while ((st = dec.feed(body, used, data, err)) == ChunkedDecoder::Status::NeedMore) {
        got += data;
        body.remove_prefix(used);
        ASSERT_FALSE(body.empty());
    }
    ASSERT_EQ(st, ChunkedDecoder::Status::Done);
    got += data;
    EXPECT_EQ(got, "abc");
    p = parse(body.substr(used));
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->status, 204);
}

TEST(ResponseLimits, HeadTooLarge) {
    ParserLimits l;
    l.max_header_size = 64;
    std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(60, 'a') + "\r\n\r\n";
    EXPECT_TRUE(rejects(big, "response header too large", false, l));
    // Also while incomplete, once past the limit without the end of the head...
    EXPECT_TRUE(
        rejects(std::string_view(big).substr(0, 65), "response header too large", false, l));
    // ...but not before.
    EXPECT_EQ(parse(std::string_view(big).substr(0, 64), false, l).result, ParseResult::Incomplete);
    // A status line alone longer than the limit.
    std::string longline = "HTTP/1.1 200 " + std::string(100, 'r');
    EXPECT_TRUE(rejects(longline, "response header too large", false, l));
    // Exactly at the limit is fine, and body bytes after the head do not count.
    std::string_view exact = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    l.max_header_size = exact.size();
    std::string with_body = std::string(exact) + std::string(100, 'b');
    Parsed p = parse(with_body, false, l);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->head_length, exact.size());
    l.max_header_size = exact.size() - 1;
    EXPECT_TRUE(rejects(with_body, "response header too large", false, l));
}

TEST(ResponseLimits, TooManyHeaders) {
    ParserLimits l;
    l.max_headers = 3;
    EXPECT_EQ(
        parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n", false, l).result,
        ParseResult::Complete);
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n",
                        "too many headers", false, l));
    // Detected before the head ends.
    EXPECT_TRUE(rejects("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n", "too many headers",
                        false, l));
    // Capped at kMaxHeadersHard.
    l.max_headers = 100000;
    l.max_header_size = 1 << 20;
    std::string many = "HTTP/1.1 200 OK\r\n";
    for (size_t i = 0; i < kMaxHeadersHard; ++i) many += "X: y\r\n";
    Parsed p = parse(many + "\r\n", false, l);
    ASSERT_EQ(p.result, ParseResult::Complete) << p.err.reason;
    EXPECT_EQ(p.resp->header_count, kMaxHeadersHard);
    EXPECT_TRUE(rejects(many + "Y: z\r\n\r\n", "too many headers", false, l));
}

TEST(ResponseParser, ReusedResponseIsReset) {
    auto owner = std::make_unique<Response>();
    Response& r = *owner;
    ParseError err;
    ASSERT_EQ(parse_response_head("HTTP/1.1 101 S\r\nUpgrade: ws\r\nA: b\r\nC: d\r\n\r\n", {},
                                  false, r, err),
              ParseResult::Complete);
    ASSERT_TRUE(r.upgrade);
    ASSERT_EQ(
        parse_response_head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", {}, false, r, err),
        ParseResult::Complete);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.version_minor, 0);
    EXPECT_EQ(r.header_count, 1u);
    EXPECT_FALSE(r.upgrade);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_EQ(r.content_length, 1u);
    ASSERT_EQ(parse_response_head("HTTP/1.1 200 OK\r\n\r\n", {}, true, r, err),
              ParseResult::Complete);
    EXPECT_EQ(r.body, ResponseBody::None);
    EXPECT_EQ(r.content_length, 0u);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.header_count, 0u);
}

}  // namespace
}  // namespace gw::http

// A head the gateway wrote itself (a cache's stored head) splits as the parser would parse it.
TEST(ResponseParser, OwnHeadSplitsAsItParses) {
    using namespace gw::http;
    const std::string head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\netag: \"x\"\r\nvary: Accept-Encoding\r\n"
                             "content-length: 12\r\n\r\n";
    static Response a, b;
    ParseError err;
    ASSERT_EQ(parse_response_head(head, ParserLimits{}, false, a, err), ParseResult::Complete);
    ASSERT_TRUE(split_own_response_head(head, false, b));
    EXPECT_EQ(b.status, a.status);
    EXPECT_EQ(b.reason, a.reason);
    EXPECT_EQ(b.body, a.body);
    EXPECT_EQ(b.content_length, a.content_length);
    EXPECT_EQ(b.head_length, a.head_length);
    ASSERT_EQ(b.header_count, a.header_count);
    for (size_t i = 0; i < a.header_count; ++i) {
        EXPECT_EQ(b.headers[i].name, a.headers[i].name);
        EXPECT_EQ(b.headers[i].value, a.headers[i].value);
    }
    ASSERT_TRUE(split_own_response_head(head, true, b));
    EXPECT_EQ(b.body, ResponseBody::None) << "HEAD";
    EXPECT_EQ(b.header("content-length"), "12") << "its length stays in the fields";
    ASSERT_TRUE(split_own_response_head("HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n", false, b));
    EXPECT_EQ(b.body, ResponseBody::None);
    for (const char* bad : {"", "HTTP/1.0 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                            "HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n",
                            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n"})
        EXPECT_FALSE(split_own_response_head(bad, false, b)) << bad;
}
