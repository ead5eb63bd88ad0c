// The pure pieces of the HTTP/2 upstream path (src/http/proxy/h2_fields.h): an upstream request
// head as HTTP/2 fields, and an HTTP/2 response's fields as the Response the proxy fills.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http/proxy/h2_fields.h"

namespace gw::http::proxy {
namespace {

std::vector<std::pair<std::string, std::string>> fields(const std::vector<nghttp2_nv>& nva) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const nghttp2_nv& nv : nva)
        out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                         std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
    return out;
}

TEST(ProxyH2Fields, TeTrailers) {
    EXPECT_TRUE(te_has_trailers("trailers"));
    EXPECT_TRUE(te_has_trailers("gzip, Trailers"));
    EXPECT_TRUE(te_has_trailers("deflate;q=0.5 , trailers;q=1"));
    EXPECT_FALSE(te_has_trailers(""));
    EXPECT_FALSE(te_has_trailers("gzip"));
    EXPECT_FALSE(te_has_trailers("trailersx"));
}

TEST(ProxyH2Fields, HeadToNv) {
    std::string head =
        "POST /a/b?x=1 HTTP/1.1\r\n"
        "Host: example.com:8080\r\n"
        "Content-Type: application/grpc\r\n"
        "Connection: keep-alive\r\n"
        "Transfer-Encoding: chunked\r\n"
        "TE: trailers\r\n"
        "Expect: 100-continue\r\n"
        "X-Forwarded-For: 10.0.0.1\r\n"
        "x-request-id: abc\r\n"
        "\r\n";
    std::string storage;
    std::vector<nghttp2_nv> nva;
    ASSERT_TRUE(head_to_nv(head, "http", true, storage, nva));
    auto f = fields(nva);
    std::vector<std::pair<std::string, std::string>> want = {
        {":method", "POST"},
        {":scheme", "http"},
        {":authority", "example.com:8080"},
        {":path", "/a/b?x=1"},
        {"content-type", "application/grpc"},
        {"x-forwarded-for", "10.0.0.1"},
        {"x-request-id", "abc"},
        {"te", "trailers"},
    };
    EXPECT_EQ(f, want);

    ASSERT_TRUE(head_to_nv("GET / HTTP/1.1\r\nTE: trailers\r\nUpgrade: h2c\r\n\r\n", "https", false, storage, nva));
    f = fields(nva);
    want = {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}};
    EXPECT_EQ(f, want);

    EXPECT_FALSE(head_to_nv("GET / HTTP/1.1\r\nbad line\r\n\r\n", "http", false, storage, nva));
    EXPECT_FALSE(head_to_nv("GET / HTTP/1.1\r\n", "http", false, storage, nva));
}

TEST(ProxyH2Fields, StatusValue) {
    EXPECT_EQ(status_value("200"), 200);
    EXPECT_EQ(status_value("103"), 103);
    EXPECT_EQ(status_value(""), 1000);
    EXPECT_EQ(status_value("20x"), 1000);
    EXPECT_EQ(status_value("2000"), 1000);
}

TEST(ProxyH2Fields, Response) {
    std::string lines, head;
    append_field(lines, ":status", "200");  // not a line
    append_field(lines, "content-type", "text/plain");
    append_field(lines, "content-length", "5");
    Response r;
    ASSERT_TRUE(h2_response(200, lines, false, head, r));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.reason, "OK");
    EXPECT_EQ(r.body, ResponseBody::ContentLength);
    EXPECT_EQ(r.content_length, 5u);
    EXPECT_EQ(r.header("Content-Type"), "text/plain");

    lines.clear();
    append_field(lines, "content-type", "application/grpc");
    Response g;
    ASSERT_TRUE(h2_response(200, lines, false, head, g));
    EXPECT_EQ(g.body, ResponseBody::Chunked);  // no length: framed chunked for the client
    EXPECT_TRUE(g.keep_alive);

    Response h;
    ASSERT_TRUE(h2_response(200, lines, true, head, h));  // HEAD
    EXPECT_EQ(h.body, ResponseBody::None);
    Response n;
    ASSERT_TRUE(h2_response(204, "", false, head, n));
    EXPECT_EQ(n.body, ResponseBody::None);

    lines.clear();
    append_field(lines, "x-bad", "a\r\nb");
    Response bad;
    EXPECT_FALSE(h2_response(200, lines, false, head, bad));
    EXPECT_FALSE(h2_response(42, "", false, head, bad));
}

}  // namespace
}  // namespace gw::http::proxy
