#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/parser.h"
#include "http/proxy/headers.h"

using namespace gw::http;
using namespace gw::http::proxy;

namespace {

// Parses `head` into `req` (the text must outlive it).
void parse(const std::string& head, Request& req) {
    ParseError err;
    ASSERT_EQ(parse_request_head(head, ParserLimits{}, req, err), ParseResult::Complete) << err.reason;
}

}  // namespace

TEST(ProxyHeaders, HopByHop) {
    EXPECT_TRUE(is_hop_by_hop("Connection", ""));
    EXPECT_TRUE(is_hop_by_hop("keep-alive", ""));
    EXPECT_TRUE(is_hop_by_hop("TE", ""));
    EXPECT_TRUE(is_hop_by_hop("Trailer", ""));
    EXPECT_TRUE(is_hop_by_hop("Transfer-Encoding", ""));
    EXPECT_TRUE(is_hop_by_hop("Upgrade", ""));
    EXPECT_TRUE(is_hop_by_hop("Proxy-Authorization", ""));
    EXPECT_TRUE(is_hop_by_hop("X-Foo", "close, x-foo"));
    EXPECT_FALSE(is_hop_by_hop("X-Foo", "close"));
    EXPECT_FALSE(is_hop_by_hop("Content-Type", "keep-alive"));
    EXPECT_FALSE(is_hop_by_hop("Proxy", ""));  // only proxy-* names
}

TEST(ProxyHeaders, Traceparent) {
    EXPECT_TRUE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    EXPECT_FALSE(valid_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));  // zero trace
    EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));  // zero span
    EXPECT_FALSE(valid_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // bad version
    EXPECT_FALSE(valid_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));  // upper case
    EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));
}

TEST(ProxyHeaders, Ids) {
    IdGenerator ids(42);
    char a[32], b[32], span[16];
    ids.request_id(a);
    ids.request_id(b);
    ids.span_id(span);
    for (char c : std::string(a, 32) + std::string(span, 16)) EXPECT_TRUE(isxdigit(c) && !isupper(c));
    EXPECT_NE(std::string(a, 32), std::string(b, 32));
    IdGenerator same(42);
    char c[32];
    same.request_id(c);
    EXPECT_EQ(std::string(a, 32), std::string(c, 32));  // deterministic per seed
}

TEST(ProxyHeaders, UpstreamRequest) {
    std::string head =
        "POST http://api.example.com/x?q=1 HTTP/1.1\r\nHost: other.example\r\nConnection: keep-alive, X-Drop\r\n"
        "X-Drop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: secret\r\nExpect: 100-continue\r\n"
        "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Keep: yes\r\nX-Internal: 1\r\n"
        "Content-Length: 5\r\n\r\n";
    Request req;
    parse(head, req);
    gw::HeaderOps ops;
    ops.set.push_back({"x-gateway", gw::http::vars::literal("gatewayd"), "x-gateway: "});
    ops.remove = {"x-internal"};
    UpstreamRequestInput in;
    in.target = "/new/x?q=1";
    in.client_ip = "127.0.0.9";
    in.request_id = "rid";
    in.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    in.has_length = true;
    in.length = 5;
    ops.index();  // (as the configuration loader does)
    in.ops = &ops;
    std::string out;
    build_upstream_request(out, req, in);
    EXPECT_EQ(out.rfind("POST /new/x?q=1 HTTP/1.1\r\nhost: api.example.com\r\n", 0), 0u) << out;
    for (const char* gone : {"other.example", "X-Drop", "Keep-Alive", "TE:", "Proxy-Authorization", "Expect",
                             "Connection", "X-Internal", "https", "Content-Length: 5"})
        EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in\n" << out;
    EXPECT_NE(out.find("X-Keep: yes\r\n"), std::string::npos);
    EXPECT_NE(out.find("x-forwarded-for: 10.0.0.1, 127.0.0.9\r\n"), std::string::npos);
    EXPECT_NE(out.find("x-forwarded-proto: http\r\n"), std::string::npos);
    EXPECT_NE(out.find("x-forwarded-host: api.example.com\r\n"), std::string::npos);
    EXPECT_NE(out.find("x-request-id: rid\r\n"), std::string::npos);
    EXPECT_NE(out.find("traceparent: 00-4bf92f"), std::string::npos);
    EXPECT_NE(out.find("x-gateway: gatewayd\r\n"), std::string::npos);
    EXPECT_NE(out.find("content-length: 5\r\n"), std::string::npos);
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(ProxyHeaders, FieldsSetByFiltersReplaceTheClients) {
    // An auth filter forwards claims as X-User-Id / X-Tenant-Id: a client's own fields of those
    // names never pass, whether or not the filter set them on this request.
    Request req;
    parse("GET / HTTP/1.1\r\nHost: h\r\nX-User-Id: admin\r\nx-tenant-id: other\r\nX-Keep: 1\r\n\r\n", req);
    const std::string_view names[] = {"x-user-id", "x-tenant-id"};
    UpstreamRequestInput in;
    in.target = "/";
    in.client_ip = "127.0.0.1";
    in.filter_field_names = names;
    in.filter_lines = "x-user-id: alice\r\n";
    std::string out;
    build_upstream_request(out, req, in);
    EXPECT_NE(out.find("x-user-id: alice\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("admin"), std::string::npos) << out;
    EXPECT_EQ(out.find("other"), std::string::npos) << out;
    EXPECT_NE(out.find("X-Keep: 1\r\n"), std::string::npos) << out;
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(ProxyHeaders, ConnectionCannotStripFraming) {
    // "Connection: content-length" must not let a client remove the framing the gateway sends.
    std::string head = "POST / HTTP/1.1\r\nHost: h\r\nConnection: content-length, host\r\nContent-Length: 3\r\n\r\n";
    Request req;
    parse(head, req);
    UpstreamRequestInput in;
    in.target = "/";
    in.client_ip = "1.2.3.4";
    in.request_id = "r";
    in.traceparent = "t";
    in.has_length = true;
    in.length = 3;
    std::string out;
    build_upstream_request(out, req, in);
    EXPECT_NE(out.find("content-length: 3\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("host: h\r\n"), std::string::npos) << out;
}

TEST(ProxyHeaders, ClientResponse) {
    std::string head =
        "HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=3\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: text/plain\r\nX-Frame-Options: SAMEORIGIN\r\n\r\n";
    Response resp;
    ParseError err;
    ASSERT_EQ(parse_response_head(head, ParserLimits{}, false, resp, err), ParseResult::Complete);
    gw::HeaderOps ops;
    ops.set.push_back({"x-frame-options", gw::http::vars::literal("DENY"), "x-frame-options: "});
    ClientResponseInput in;
    in.chunked = true;
    in.keep_alive = true;
    in.request_id = "rid";
    ops.index();  // (as the configuration loader does)
    in.ops = &ops;
    std::string out;
    build_client_response(out, resp, in);
    EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
    for (const char* gone : {"X-Hop", "Keep-Alive", "SAMEORIGIN", "Transfer-Encoding: chunked"})
        EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in\n" << out;
    EXPECT_NE(out.find("Content-Type: text/plain\r\n"), std::string::npos);
    EXPECT_NE(out.find("x-frame-options: DENY\r\n"), std::string::npos);
    EXPECT_NE(out.find("x-request-id: rid\r\n"), std::string::npos);
    EXPECT_NE(out.find("transfer-encoding: chunked\r\n"), std::string::npos);
    EXPECT_TRUE(out.ends_with("connection: keep-alive\r\n\r\n"));
}

TEST(ProxyHeaders, ConnectionCannotStripResponseLength) {
    EXPECT_FALSE(is_hop_by_hop("Content-Length", "content-length"));
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\n";
    Response resp;
    ParseError err;
    ASSERT_EQ(parse_response_head(head, ParserLimits{}, false, resp, err), ParseResult::Complete);
    EXPECT_TRUE(resp.untrusted_framing);
    ClientResponseInput in;
    in.keep_alive = false;
    std::string out;
    build_client_response(out, resp, in);
    EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos) << out;
}

TEST(ProxyHeaders, HostAlwaysSent) {
    std::string head = "GET / HTTP/1.0\r\n\r\n";
    Request req;
    parse(head, req);
    UpstreamRequestInput in;
    in.target = "/";
    in.client_ip = "1.2.3.4";
    in.default_host = "backend";
    std::string out;
    build_upstream_request(out, req, in);
    EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\nhost: backend\r\n", 0), 0u) << out;
}

TEST(ProxyHeaders, ForwardedForCombinedInOrder) {
    std::string head =
        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nX-A: 1\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n"
        "X-Forwarded-For:\r\n\r\n";
    Request req;
    parse(head, req);
    UpstreamRequestInput in;
    in.target = "/";
    in.client_ip = "1.2.3.4";
    std::string out;
    build_upstream_request(out, req, in);
    EXPECT_NE(out.find("x-forwarded-for: 10.0.0.1, 10.0.0.2, 10.0.0.3, 1.2.3.4\r\n"), std::string::npos) << out;
    size_t first = out.find("x-forwarded-for");
    EXPECT_EQ(out.find("x-forwarded-for", first + 1), std::string::npos) << out;  // one field
}

TEST(ProxyHeaders, InterimResponse) {
    std::string head = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nX-Drop: 1\r\nConnection: x-hop\r\n"
                       "X-Hop: 1\r\n\r\n";
    Response resp;
    ParseError err;
    ASSERT_EQ(parse_response_head(head, ParserLimits{}, false, resp, err), ParseResult::Complete);
    gw::HeaderOps ops;
    ops.set.push_back({"x-gw", gw::http::vars::literal("yes"), "x-gw: "});
    ops.remove = {"x-drop"};
    std::string out;
    ops.index();  // (as the configuration loader does)
    build_interim_response(out, resp, &ops);
    EXPECT_EQ(out, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nx-gw: yes\r\n\r\n");
}

TEST(ProxyHeaders, ConnectionListedFields) {
    // Only what lists a field that is not hop-by-hop anyway needs the walk per field.
    EXPECT_EQ(connection_listed_fields(""), "");
    EXPECT_EQ(connection_listed_fields("keep-alive"), "");
    EXPECT_EQ(connection_listed_fields("Close"), "");
    EXPECT_EQ(connection_listed_fields("keep-alive, Upgrade, te, trailer, transfer-encoding"), "");
    EXPECT_EQ(connection_listed_fields("close, x-hop"), "close, x-hop");
    EXPECT_EQ(connection_listed_fields("content-length"), "content-length");
    EXPECT_EQ(connection_listed_fields("proxy-foo"), "proxy-foo");
    EXPECT_EQ(connection_listed_fields("keep-alive,,x-a"), "keep-alive,,x-a");
}

namespace {

// What a codec that takes fields got: "status" then "name=value" in order, and the framing.
struct RecordingSink final : ResponseFieldSink {
    std::vector<std::string> got;
    bool chunked = false, ended = false;
    void head_status(int status) override { got.push_back(std::to_string(status)); }
    void head_field(std::string_view name, std::string_view value) override {
        got.push_back(std::string(name) + "=" + std::string(value));
    }
    void head_lines(std::string_view lines) override {
        while (!lines.empty()) {
            size_t end = lines.find("\r\n");
            std::string_view line = lines.substr(0, end);
            size_t colon = line.find(": ");
            got.push_back(std::string(line.substr(0, colon)) + "=" + std::string(line.substr(colon + 2)));
            lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
        }
    }
    uint64_t head_end(bool c) override {
        chunked = c;
        ended = true;
        return 42;
    }
};

}  // namespace

TEST(ProxyHeaders, ClientResponseAsFieldsMatchesTheBytes) {
    std::string head =
        "HTTP/1.1 200 OK\r\nConnection: x-hop, keep-alive\r\nX-Hop: 1\r\nKeep-Alive: timeout=3\r\n"
        "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\nX-Frame-Options: SAMEORIGIN\r\nSet-Cookie: a=1\r\n\r\n";
    Response resp;
    ParseError err;
    ASSERT_EQ(parse_response_head(head, ParserLimits{}, false, resp, err), ParseResult::Complete);
    gw::HeaderOps ops;
    ops.set.push_back({"x-frame-options", gw::http::vars::literal("DENY"), "x-frame-options: "});
    ops.index();
    ClientResponseInput in;
    in.chunked = true;
    in.request_id = "rid";
    in.ops = &ops;
    in.filter_headers = "ratelimit-limit: 10\r\nset-cookie: b=2\r\n";
    std::string_view filter_names[] = {"ratelimit-limit", "set-cookie"};
    in.filter_field_names = filter_names;
    RecordingSink sink;
    EXPECT_EQ(build_client_response(sink, resp, in), 42u);
    EXPECT_TRUE(sink.ended);
    EXPECT_TRUE(sink.chunked);
    std::vector<std::string> want = {"200", "Content-Type=text/plain", "x-frame-options=DENY", "x-request-id=rid",
                                     "ratelimit-limit=10", "set-cookie=b=2"};
    EXPECT_EQ(sink.got, want);
    // The same fields, in the same order, as the HTTP/1 bytes have.
    std::string out;
    build_client_response(out, resp, in);
    size_t at = 0;
    for (size_t i = 1; i < want.size(); ++i) {
        std::string line = want[i];
        line.replace(line.find('='), 1, ": ");
        size_t found = out.find(line + "\r\n", at);
        ASSERT_NE(found, std::string::npos) << line << " in\n" << out;
        at = found;
    }
}
