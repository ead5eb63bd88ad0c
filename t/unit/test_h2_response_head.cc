// The HTTP/2 codec's reading of the HTTP/1.1 response heads the gateway writes
// (src/http/h2/response_head.h): split_head on every shape the gateway writes, and
// split_trailers with the fields a trailer may not carry.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "http/h2/response_head.h"

namespace gw::http::h2 {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields fields_of(const FieldList& f) {
    Fields out;
    for (const nghttp2_nv& nv : f.nv) {
        // The pointers point into the list's own storage.
        const char* base = f.storage.data();
        EXPECT_GE(reinterpret_cast<const char*>(nv.name), base);
        EXPECT_LE(reinterpret_cast<const char*>(nv.value) + nv.valuelen, base + f.storage.size());
        EXPECT_EQ(nv.flags, NGHTTP2_NV_FLAG_NONE);
        out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                         std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    }
    return out;
}

struct Split {
    bool ok = false;
    int status = 0;
    ResponseBody framing = ResponseBody::UntilClose;
    uint64_t length = 0;
    Fields fields;
};

Split split(const std::string& head, bool head_request = false) {
    Split s;
    FieldList out;
    s.ok = split_head(head, head_request, s.status, s.framing, s.length, out);
    if (s.ok) s.fields = fields_of(out);
    return s;
}

Fields trailers(const std::string& section) {
    FieldList out;
    split_trailers(section, out);
    return fields_of(out);
}

TEST(H2ResponseHead, ContentLength) {
    Split s = split("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.status, 200);
    EXPECT_EQ(s.framing, ResponseBody::ContentLength);
    EXPECT_EQ(s.length, 5u);
    EXPECT_EQ(s.fields, (Fields{{":status", "200"}, {"content-type", "text/plain"}, {"content-length", "5"}}));
}

TEST(H2ResponseHead, ContentLengthZeroAndLarge) {
    Split z = split("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ASSERT_TRUE(z.ok);
    EXPECT_EQ(z.framing, ResponseBody::ContentLength);
    EXPECT_EQ(z.length, 0u);
    Split big = split("HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n");
    ASSERT_TRUE(big.ok);
    EXPECT_EQ(big.length, 1099511627776ull);
    EXPECT_TRUE(split("HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n").ok) << "19 digits";
}

TEST(H2ResponseHead, ChunkedDropsTransferEncoding) {
    Split s = split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n");
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.framing, ResponseBody::Chunked);
    EXPECT_EQ(s.fields, (Fields{{":status", "200"}, {"x-a", "1"}}));
}

TEST(H2ResponseHead, ChunkedWinsOverALength) {
    Split s = split("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n");
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.framing, ResponseBody::Chunked);
}

TEST(H2ResponseHead, NoLengthRunsUntilTheEnd) {
    Split s = split("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n");
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.framing, ResponseBody::UntilClose);
    EXPECT_EQ(s.length, 0u);
    Split ten = split("HTTP/1.0 200 OK\r\n\r\n");
    ASSERT_TRUE(ten.ok) << "an HTTP/1.0 upstream's head";
    EXPECT_EQ(ten.framing, ResponseBody::UntilClose);
    EXPECT_EQ(ten.fields, (Fields{{":status", "200"}}));
}

TEST(H2ResponseHead, HeadRequestHasNoBody) {
    for (const char* head : {"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                             "HTTP/1.1 200 OK\r\n\r\n"}) {
        Split s = split(head, true);
        ASSERT_TRUE(s.ok) << head;
        EXPECT_EQ(s.framing, ResponseBody::None) << head;
    }
    // A HEAD response keeps the length the GET would have had (RFC 9110 8.6).
    Split s = split("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true);
    EXPECT_EQ(s.fields, (Fields{{":status", "200"}, {"content-length", "1234"}}));
}

TEST(H2ResponseHead, InterimAnd204And304HaveNoBody) {
    struct Case {
        const char* head;
        int status;
    } cases[] = {
        {"HTTP/1.1 100 Continue\r\n\r\n", 100},
        {"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", 103},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", 101},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 204},
        {"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", 204},
        {"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\n", 304},
    };
    for (const Case& c : cases) {
        Split s = split(c.head);
        ASSERT_TRUE(s.ok) << c.head;
        EXPECT_EQ(s.status, c.status);
        EXPECT_EQ(s.framing, ResponseBody::None) << c.head;
        ASSERT_FALSE(s.fields.empty());
        EXPECT_EQ(s.fields[0].first, ":status");
        EXPECT_EQ(s.fields[0].second, std::to_string(c.status));
    }
    Split up = split("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    EXPECT_EQ(up.fields, (Fields{{":status", "101"}})) << "connection-specific fields dropped";
}

TEST(H2ResponseHead, NamesLowerCasedValuesKept) {
    Split s = split("HTTP/1.1 404 Not Found\r\nX-MiXeD-CaSe: VaLuE With Spaces\r\nSET-COOKIE: a=B\r\n"
                    "set-cookie: c=D\r\nContent-Length: 2\r\n\r\n");
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.status, 404);
    EXPECT_EQ(s.fields, (Fields{{":status", "404"},
                                {"x-mixed-case", "VaLuE With Spaces"},
                                {"set-cookie", "a=B"},
                                {"set-cookie", "c=D"},
                                {"content-length", "2"}}));
}

TEST(H2ResponseHead, ValuesTrimmed) {
    Split s = split("HTTP/1.1 200 OK\r\nX-A:   padded \t\r\nX-B:\r\nX-C:x\r\nContent-Length:  7 \r\n\r\n");
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.length, 7u);
    EXPECT_EQ(s.fields, (Fields{{":status", "200"}, {"x-a", "padded"}, {"x-b", ""}, {"x-c", "x"}, {"content-length", "7"}}));
}

TEST(H2ResponseHead, ConnectionSpecificFieldsDropped) {
    Split s = split("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                    "Proxy-Connection: close\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nTE: gzip\r\n"
                    "X-Kept: yes\r\n\r\n");
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.fields, (Fields{{":status", "200"}, {"x-kept", "yes"}}));
    EXPECT_EQ(s.framing, ResponseBody::Chunked);
}

TEST(H2ResponseHead, TeTrailersKept) {
    Split s = split("HTTP/1.1 200 OK\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n");
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.fields, (Fields{{":status", "200"}, {"te", "trailers"}, {"content-length", "0"}}));
    Split upper = split("HTTP/1.1 200 OK\r\nTe: TRAILERS\r\n\r\n");
    ASSERT_TRUE(upper.ok);
    EXPECT_EQ(upper.fields, (Fields{{":status", "200"}, {"te", "TRAILERS"}}));
}

TEST(H2ResponseHead, IsConnectionSpecific) {
    for (const char* n : {"connection", "Connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "UPGRADE"})
        EXPECT_TRUE(is_connection_specific(n, "x")) << n;
    EXPECT_TRUE(is_connection_specific("te", "gzip"));
    EXPECT_TRUE(is_connection_specific("te", "trailers, gzip"));
    EXPECT_FALSE(is_connection_specific("te", "trailers"));
    EXPECT_FALSE(is_connection_specific("TE", "Trailers"));
    for (const char* n : {"content-length", "x-connection", "connections", "keep-alive2", "date"})
        EXPECT_FALSE(is_connection_specific(n, "x")) << n;
}

TEST(H2ResponseHead, BadHeadsRejected) {
    const char* bad[] = {
        "",
        "HTTP/1.1 200 OK",                                     // no line end
        "HTTP/1.1 200 OK\r\n",                                 // no blank line
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n",                       // no blank line after the fields
        "HTTP/2.0 200 OK\r\n\r\n",                             // not HTTP/1.x
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n",
        "HTTP/1.1 000 Zero\r\n\r\n",
        "HTTP/1.1 20\r\n\r\n",                                 // too short
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12345678901234567890\r\n\r\n",  // 20 digits
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
    };
    for (const char* head : bad) EXPECT_FALSE(split(head).ok) << head;
}

TEST(H2ResponseHead, ReusedListResets) {
    FieldList out;
    int status = 0;
    ResponseBody framing;
    uint64_t length = 0;
    ASSERT_TRUE(split_head("HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 3\r\n\r\n", false, status, framing, length, out));
    EXPECT_EQ(out.nv.size(), 4u);
    ASSERT_TRUE(split_head("HTTP/1.1 500 Oops\r\n\r\n", false, status, framing, length, out));
    EXPECT_EQ(status, 500);
    EXPECT_EQ(length, 0u) << "not the last head's";
    EXPECT_EQ(framing, ResponseBody::UntilClose);
    EXPECT_EQ(fields_of(out), (Fields{{":status", "500"}}));
    EXPECT_FALSE(split_head("bad", false, status, framing, length, out));
}

TEST(H2ResponseHead, ManyFieldsKeepValidPointers) {
    // The storage grows (and moves) while fields are added: every pointer must be into the
    // final storage.
    std::string head = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 200; ++i) head += "X-Field-" + std::to_string(i) + ": " + std::string(50, char('a' + i % 26)) + "\r\n";
    head += "\r\n";
    Split s = split(head);
    ASSERT_TRUE(s.ok);
    ASSERT_EQ(s.fields.size(), 201u);
    EXPECT_EQ(s.fields[200].first, "x-field-199");
    EXPECT_EQ(s.fields[200].second, std::string(50, char('a' + 199 % 26)));
}

TEST(H2ResponseHead, Trailers) {
    EXPECT_EQ(trailers("grpc-status: 0\r\ngrpc-message: OK\r\n"), (Fields{{"grpc-status", "0"}, {"grpc-message", "OK"}}));
    EXPECT_EQ(trailers("Grpc-Status: 0\r\nX-Checksum: abc\r\n\r\n"), (Fields{{"grpc-status", "0"}, {"x-checksum", "abc"}}))
        << "with the final CRLF, names lower-cased";
    EXPECT_EQ(trailers("x-a: 1"), (Fields{{"x-a", "1"}})) << "no CRLF at all";
    EXPECT_EQ(trailers("x-a:   spaced  \r\n"), (Fields{{"x-a", "spaced"}}));
    EXPECT_TRUE(trailers("").empty());
    EXPECT_TRUE(trailers("\r\n").empty());
}

TEST(H2ResponseHead, TrailersSkipMalformedLines) {
    EXPECT_EQ(trailers("no colon\r\n: empty\r\nx-ok: 1\r\n"), (Fields{{"x-ok", "1"}}));
}

TEST(H2ResponseHead, TrailersForbiddenFields) {
    const char* forbidden[] = {
        "Connection: close",      "Keep-Alive: 1",         "Proxy-Connection: x",    "Transfer-Encoding: chunked",
        "Upgrade: h2c",           "TE: trailers",          "te: gzip",               "Content-Length: 5",
        "Content-Encoding: gzip", "Content-Type: text/x",  "Content-Range: bytes 0-1/2", "Host: example.com",
        "Trailer: x-a",           "Set-Cookie: a=b",       "Authorization: Basic x", "WWW-Authenticate: Basic",
        "Cache-Control: no-store", "Expires: 0",           "Age: 5",                 "Location: /x",
        "Vary: *",                "Date: Thu, 01 Jan 1970 00:00:00 GMT", ":status: 200", ":path: /",
    };
    for (const char* f : forbidden) {
        std::string section = std::string(f) + "\r\nx-kept: 1\r\n";
        EXPECT_EQ(trailers(section), (Fields{{"x-kept", "1"}})) << f;
    }
    EXPECT_TRUE(trailers("content-length: 1\r\nset-cookie: x\r\n").empty()) << "all of them dropped";
}

TEST(H2ResponseHead, BuilderFieldByField) {
    FieldList out;
    HeadBuilder b(out);
    b.status(201);
    EXPECT_TRUE(b.field("Content-Type", "text/plain"));
    EXPECT_TRUE(b.field("Connection", "keep-alive"));        // dropped
    EXPECT_TRUE(b.field("Transfer-Encoding", "chunked"));    // dropped: the caller says chunked
    EXPECT_TRUE(b.field("Content-Length", "12"));
    EXPECT_TRUE(b.lines("X-A: 1\r\nx-b:  two  \r\nKeep-Alive: 5"));  // the last CRLF missing
    EXPECT_FALSE(b.lines("no colon here\r\n"));
    ResponseBody framing;
    uint64_t length = 0;
    b.finish(false, false, framing, length);
    EXPECT_EQ(b.status_code(), 201);
    EXPECT_EQ(framing, ResponseBody::ContentLength);
    EXPECT_EQ(length, 12u);
    EXPECT_EQ(fields_of(out), (Fields{{":status", "201"}, {"content-type", "text/plain"}, {"content-length", "12"},
                                      {"x-a", "1"}, {"x-b", "two"}}));
    EXPECT_GT(b.http1_bytes(), 60u);
}

TEST(H2ResponseHead, BuilderFraming) {
    struct Case {
        int status;
        bool head_request, chunked;
        const char* length;
        ResponseBody want;
    } cases[] = {
        {200, false, true, nullptr, ResponseBody::Chunked},   {200, false, false, nullptr, ResponseBody::UntilClose},
        {200, true, false, "5", ResponseBody::None},          {204, false, false, nullptr, ResponseBody::None},
        {304, false, false, "9", ResponseBody::None},         {200, false, true, "3", ResponseBody::Chunked},
        {500, false, false, "0", ResponseBody::ContentLength},
    };
    for (const Case& c : cases) {
        FieldList out;
        HeadBuilder b(out);
        b.status(c.status);
        if (c.length) { EXPECT_TRUE(b.field("content-length", c.length)); }
        ResponseBody framing;
        uint64_t length = 0;
        b.finish(c.head_request, c.chunked, framing, length);
        EXPECT_EQ(framing, c.want) << c.status << (c.head_request ? " HEAD" : "") << (c.chunked ? " chunked" : "");
    }
    FieldList out;
    HeadBuilder b(out);
    b.status(200);
    EXPECT_FALSE(b.field("Content-Length", "12a"));
    EXPECT_FALSE(b.field("Content-Length", ""));
    EXPECT_FALSE(b.field("Content-Length", "123456789012345678901"));
}

TEST(H2ResponseHead, RequestIdIsNeverIndexed) {
    FieldList out;
    HeadBuilder b(out);
    b.status(200);
    b.field("X-Request-Id", "abc");
    b.field("x-request-idx", "abc");
    ResponseBody framing;
    uint64_t length = 0;
    b.finish(false, false, framing, length);
    ASSERT_EQ(out.nv.size(), 3u);
    EXPECT_EQ(out.nv[1].flags, NGHTTP2_NV_FLAG_NO_INDEX);
    EXPECT_EQ(out.nv[2].flags, NGHTTP2_NV_FLAG_NONE);
}

}  // namespace
}  // namespace gw::http::h2
