// Header fields with variables on both hops: `set:` and `add:` of request_headers rendered into
// the upstream request, of response_headers into the client's response, with the values a
// real Stream gives; a value that renders empty sends no field, and the Host is never lost nor
// doubled.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/config/config.h"
#include "filter_harness.h"
#include "http/parser.h"
#include "http/proxy/headers.h"
#include "http/vars/vars.h"

namespace gw::http::proxy {
namespace {

vars::Template compiled(std::string_view text) {
    Diagnostics diags;
    vars::Template t;
    EXPECT_TRUE(vars::compile(text, Mark{}, "t", diags, t)) << text;
    return t;
}

HeaderOp op(std::string name, std::string_view value) { return HeaderOp{name, compiled(value), name + ": "}; }

size_t count(const std::string& s, std::string_view what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

class VarsHeaders : public ::testing::Test {
  protected:
    void SetUp() override {
        h_.stream().begin(&h_.io(), 0);
        http::IdGenerator ids(7);
        h_.stream().set_request_id("rid-9", ids);
        env_.stream = &h_.stream();
    }
    void TearDown() override { h_.stream().end(); }

    std::string upstream_request(const std::string& head, HeaderOps ops) {
        ops.index();  // (as the configuration loader does)
        EXPECT_TRUE(h_.set_request(head));
        UpstreamRequestInput in;
        in.target = h_.stream().request().target;
        in.default_host = "backend";
        in.client_ip = h_.stream().client_address();
        in.request_id = h_.stream().request_id();
        in.traceparent = "t";
        in.ops = &ops;
        in.env = &env_;
        std::string out;
        build_upstream_request(out, h_.stream().request(), in);
        return out;
    }

    test::FilterHarness h_;
    vars::Env env_;
};

TEST_F(VarsHeaders, SetAndAddRenderPerRequest) {
    HeaderOps ops;
    ops.set.push_back(op("x-real-ip", "$remote_addr"));
    ops.set.push_back(op("x-trace", "${request_id}/$arg_q"));
    ops.set.push_back(op("x-user", "$http_x_user"));  // replaces the client's field
    ops.add.push_back(op("x-multi", "gw $host"));       // after the client's own
    std::string out = upstream_request("GET /p?q=7 HTTP/1.1\r\nHost: Api.Example:81\r\nX-Multi: client\r\n"
                                       "X-User: bob\r\n\r\n",
                                       ops);
    EXPECT_NE(out.find("x-real-ip: 192.0.2.10\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x-trace: rid-9/7\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x-user: bob\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("X-User: bob"), std::string::npos) << out;  // the client's field went
    size_t client = out.find("X-Multi: client\r\n"), added = out.find("x-multi: gw api.example\r\n");
    ASSERT_NE(client, std::string::npos) << out;
    ASSERT_NE(added, std::string::npos) << out;
    EXPECT_LT(client, added);
}

TEST_F(VarsHeaders, EmptyValueSendsNoField) {
    HeaderOps ops;
    ops.set.push_back(op("x-status", "$status"));           // not known in a request
    ops.set.push_back(op("x-user", "$http_x_user"));         // the client sent none
    ops.add.push_back(op("x-cookie", "$cookie_none"));
    ops.set.push_back(op("x-prefixed", "u=$http_x_user"));  // a literal: never empty
    std::string out = upstream_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", ops);
    EXPECT_EQ(out.find("x-status"), std::string::npos) << out;
    EXPECT_EQ(out.find("x-user:"), std::string::npos) << out;
    EXPECT_EQ(out.find("x-cookie"), std::string::npos) << out;
    EXPECT_NE(out.find("x-prefixed: u=\r\n"), std::string::npos) << out;
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
    EXPECT_EQ(out.find("\r\n\r\n"), out.size() - 4) << out;  // no empty line inside
}

TEST_F(VarsHeaders, HostSetFromAVariable) {
    HeaderOps ops;
    ops.set.push_back(op("host", "$http_x_original_host"));
    std::string out = upstream_request("GET / HTTP/1.1\r\nHost: front\r\nX-Original-Host: inner.example\r\n\r\n", ops);
    EXPECT_EQ(count(out, "host: "), 2u) << out;  // host and x-forwarded-host
    EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\nhost: inner.example\r\n", 0), 0u) << out;
    EXPECT_EQ(out.find("\nhost: front"), std::string::npos) << out;
}

TEST_F(VarsHeaders, HostSetToNothingKeepsTheRequestsHost) {
    // A variable without a value must not leave an HTTP/1.1 request without its Host.
    HeaderOps ops;
    ops.set.push_back(op("host", "$http_x_original_host"));
    std::string out = upstream_request("GET / HTTP/1.1\r\nHost: front\r\n\r\n", ops);
    EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\nhost: front\r\n", 0), 0u) << out;
    EXPECT_EQ(count(out, "\nhost: "), 1u) << out;
    // HTTP/1.0 without a Host: the upstream's name, as without `set:`.
    out = upstream_request("GET / HTTP/1.0\r\n\r\n", ops);
    EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\nhost: backend\r\n", 0), 0u) << out;
}

TEST_F(VarsHeaders, HostIsNeverAddedTwice) {
    // The configuration refuses `add: {host: ...}`; were one there anyway, one Host is sent.
    HeaderOps ops;
    ops.add.push_back(op("host", "evil.example"));
    std::string out = upstream_request("GET / HTTP/1.1\r\nHost: front\r\n\r\n", ops);
    EXPECT_EQ(count(out, "\nhost: "), 1u) << out;
    EXPECT_EQ(out.find("evil"), std::string::npos) << out;
}

TEST_F(VarsHeaders, ResponseFieldsSeeTheResponse) {
    h_.stream().upstream_trace().add("10.0.0.1:80", 502, 100);
    h_.stream().upstream_trace().add("10.0.0.2:80", 503, 100);
    std::string head = "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\nX-Up: old\r\n\r\n";
    Response resp;
    ParseError err;
    ASSERT_EQ(parse_response_head(head, ParserLimits{}, false, resp, err), ParseResult::Complete);
    HeaderOps ops;
    ops.set.push_back(op("x-up", "$upstream_status"));
    ops.add.push_back(op("x-status", "st=$status"));
    ops.add.push_back(op("x-addr", "$upstream_addr"));
    env_.status = resp.status;
    ClientResponseInput in;
    in.request_id = "rid-9";
    ops.index();  // (as the configuration loader does)
    in.ops = &ops;
    in.env = &env_;
    std::string out;
    build_client_response(out, resp, in);
    EXPECT_EQ(out.find("X-Up: old"), std::string::npos) << out;
    EXPECT_NE(out.find("x-up: 502, 503\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x-status: st=503\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("x-addr: 10.0.0.1:80, 10.0.0.2:80\r\n"), std::string::npos) << out;
}

TEST_F(VarsHeaders, InterimResponsesToo) {
    std::string head = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n";
    Response resp;
    ParseError err;
    ASSERT_EQ(parse_response_head(head, ParserLimits{}, false, resp, err), ParseResult::Complete);
    HeaderOps ops;
    ops.add.push_back(op("x-status", "$status"));
    env_.status = 103;
    std::string out;
    ops.index();  // (as the configuration loader does)
    build_interim_response(out, resp, &ops, &env_);
    EXPECT_NE(out.find("x-status: 103\r\n"), std::string::npos) << out;
    // Without an Env (no request), variables have no value: no field.
    out.clear();
    ops.index();  // (as the configuration loader does)
    build_interim_response(out, resp, &ops);
    EXPECT_EQ(out.find("x-status"), std::string::npos) << out;
}

}  // namespace
}  // namespace gw::http::proxy
