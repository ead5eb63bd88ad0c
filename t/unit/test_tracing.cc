// The tracing module's pure parts: the OTLP JSON encoder (structure, escaping of what requests
// hold), traceparent parsing, the sampler's ratio, the span ring's bounds, the endpoint URL
// parser, and the configuration (defaults, FILE:LINE:COL errors, the -T dump without secrets).
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "config_fixture.h"
#include "core/config/config.h"
#include "http/proxy/headers.h"
#include "modules/tracing/config.h"
#include "modules/tracing/filter.h"
#include "modules/tracing/span.h"

namespace gw::tracing {
namespace {

Span& server_span(SpanRing& ring) {
    Span& s = *ring.push();
    s.clear(Span::kServer);
    memcpy(s.trace_id, "0af7651916cd43dd8448eb211c80319c", 32);
    memcpy(s.span_id, "b7ad6b7169203331", 16);
    s.start_ns = 1700000000000000000ull;
    s.end_ns = 1700000000001000000ull;
    s.status = 200;
    s.route = "api";
    s.method.set("GET");
    s.path.set("/a");
    return s;
}

TEST(TracingEncode, Structure) {
    SpanRing ring(4);
    Span& s = server_span(ring);
    memcpy(s.parent_id, "00f067aa0ba902b7", 16);
    s.has_parent = true;
    Span& c = *ring.push();
    c.clear(Span::kClient);
    memcpy(c.trace_id, s.trace_id, 32);
    memcpy(c.span_id, "1111111111111111", 16);
    memcpy(c.parent_id, s.span_id, 16);
    c.has_parent = true;
    c.start_ns = s.start_ns + 10;
    c.end_ns = s.end_ns - 10;
    c.method.set("GET");
    c.upstream = "10.0.0.1:8080";
    c.error = true;
    c.error_message = "connect_refused";
    std::string out;
    encode_spans(ring, 2, "svc", out);
    EXPECT_NE(out.find("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
                       "\"stringValue\":\"svc\"}}"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\","
                       "\"parentSpanId\":\"00f067aa0ba902b7\",\"name\":\"GET api\",\"kind\":2,"
                       "\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":\"1700000000001000000\""),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}}"), std::string::npos);
    EXPECT_NE(out.find("{\"key\":\"url.path\",\"value\":{\"stringValue\":\"/a\"}}"), std::string::npos);
    EXPECT_NE(out.find("\"kind\":3"), std::string::npos);
    EXPECT_NE(out.find("{\"key\":\"server.address\",\"value\":{\"stringValue\":\"10.0.0.1\"}}"), std::string::npos);
    EXPECT_NE(out.find("{\"key\":\"server.port\",\"value\":{\"intValue\":\"8080\"}}"), std::string::npos);
    EXPECT_NE(out.find("\"status\":{\"code\":2,\"message\":\"connect_refused\"}"), std::string::npos);
    EXPECT_TRUE(out.ends_with("]}]}]}")) << out;
    // Only the first n spans.
    encode_spans(ring, 1, "svc", out);
    EXPECT_EQ(out.find("\"kind\":3"), std::string::npos);
}

TEST(TracingEncode, EscapesWhatRequestsHold) {
    SpanRing ring(2);
    Span& s = server_span(ring);
    s.path.set("/q\"\\\n\x01\xff/\xc3\xa9");
    s.user_agent.set("a \"quoted\" agent\t");
    s.route = "r\"oute";
    std::string out;
    encode_spans(ring, 1, "s\"vc", out);
    EXPECT_NE(out.find("\"stringValue\":\"/q\\\"\\\\\\n\\u0001\\u00ff/\xc3\xa9\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"stringValue\":\"a \\\"quoted\\\" agent\\t\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"name\":\"GET r\\\"oute\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"stringValue\":\"s\\\"vc\""), std::string::npos) << out;
    for (char c : out) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "a raw control character";
}

TEST(TracingEncode, TextsAreBounded) {
    SpanRing ring(1);
    Span& s = server_span(ring);
    s.path.set(std::string(5000, 'x'));
    EXPECT_EQ(s.path.view().size(), 512u);
}

TEST(TracingTraceparent, Parse) {
    IncomingTrace in;
    ASSERT_TRUE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", in));
    EXPECT_EQ(in.trace_id, "0af7651916cd43dd8448eb211c80319c");
    EXPECT_EQ(in.parent_id, "b7ad6b7169203331");
    EXPECT_TRUE(in.sampled);
    ASSERT_TRUE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", in));
    EXPECT_FALSE(in.sampled);
    ASSERT_TRUE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", in));
    EXPECT_TRUE(in.sampled);  // other flags set too
    // A later version with more fields: its first 55 bytes.
    ASSERT_TRUE(parse_traceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-ever", in));
    EXPECT_TRUE(in.sampled);
    for (const char* bad : {
             "",
             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",  // 00 with more
             "00-00000000000000000000000000000000-b7ad6b7169203331-01",    // zero trace id
             "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",    // zero parent
             "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",    // upper case
             "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    // version ff
             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
             "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
         })
        EXPECT_FALSE(parse_traceparent(bad, in)) << bad;
}

// The same rules as the proxy's check, for the version-00 form it knows.
TEST(TracingTraceparent, AgreesWithTheProxy) {
    std::string base = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    IncomingTrace in;
    for (size_t i = 0; i < base.size(); ++i)
        for (char c : {'0', '1', 'a', 'f', 'g', 'A', '-', ' ', 'x'}) {
            std::string v = base;
            v[i] = c;
            EXPECT_EQ(parse_traceparent(v, in), http::proxy::valid_traceparent(v)) << v;
        }
}

TEST(TracingSampler, Ratio) {
    for (double ratio : {0.01, 0.1, 0.5}) {
        Sampler s(ratio, 12345);
        int n = 1000000, hits = 0;
        for (int i = 0; i < n; ++i) hits += s.sample();
        EXPECT_NEAR(hits / static_cast<double>(n), ratio, ratio * 0.05) << ratio;
    }
    Sampler never(0, 1), always(1, 1);
    for (int i = 0; i < 10000; ++i) {
        EXPECT_FALSE(never.sample());
        EXPECT_TRUE(always.sample());
    }
}

TEST(TracingRing, DropsWhenFull) {
    SpanRing ring(3);
    EXPECT_EQ(ring.room(), 3u);
    for (int i = 0; i < 3; ++i) {
        Span* s = ring.push();
        ASSERT_NE(s, nullptr);
        s->clear(Span::kServer);
        s->status = 200 + i;
    }
    EXPECT_EQ(ring.push(), nullptr) << "full: the new span is dropped, the old ones stay";
    EXPECT_EQ(ring.at(0).status, 200);
    ring.pop(2);
    EXPECT_EQ(ring.size(), 1u);
    EXPECT_EQ(ring.at(0).status, 202);
    Span* s = ring.push();  // wraps around
    ASSERT_NE(s, nullptr);
    s->clear(Span::kClient);
    s->status = 300;
    EXPECT_EQ(ring.at(1).status, 300);
    ring.pop(10);
    EXPECT_EQ(ring.size(), 0u);
}

TEST(TracingEndpoint, Parse) {
    Endpoint e;
    std::string err;
    ASSERT_TRUE(parse_endpoint("http://127.0.0.1:4318/v1/traces", e, err)) << err;
    EXPECT_FALSE(e.tls);
    EXPECT_EQ(e.host, "127.0.0.1:4318");
    EXPECT_EQ(e.host_port, "127.0.0.1:4318");
    EXPECT_EQ(e.target, "/v1/traces");
    ASSERT_TRUE(parse_endpoint("https://collector.example.com", e, err)) << err;
    EXPECT_TRUE(e.tls);
    EXPECT_EQ(e.host_port, "collector.example.com:443");
    EXPECT_EQ(e.target, "/v1/traces");
    ASSERT_TRUE(parse_endpoint("http://[::1]:4318/otlp/v1/traces?x=1", e, err)) << err;
    EXPECT_EQ(e.host_port, "[::1]:4318");
    EXPECT_EQ(e.target, "/otlp/v1/traces?x=1");
    for (const char* bad : {"ftp://x/", "http://", "http://user:pw@host/", "http://host:0/", "http://host:99999/",
                            "http://host:/", "http://ho st/", "http://host/a#frag", "http://[::1/", "http://h\x01/", "https://h/:\x90t/"})
        EXPECT_FALSE(parse_endpoint(bad, e, err)) << bad;
}

class TracingConfigTest : public test::ConfigFixture {};

constexpr const char* kHead =
    "listeners:\n"
    "  - address: 127.0.0.1:8080\n";
constexpr const char* kRoutes =
    "routes:\n"
    "  - name: a\n"
    "    match: {path_prefix: /a}\n"
    "    return: {status: 200}\n"
    "  - name: b\n"
    "    match: {path_prefix: /b}\n"
    "    return: {status: 200}\n"
    "    tracing: false\n";

TEST_F(TracingConfigTest, DefaultsAndDump) {
    write("gw.conf", std::string(kHead) +
                         "tracing:\n"
                         "  otlp: {endpoint: http://127.0.0.1:4318/v1/traces, headers: {authorization: \"Bearer s3cret\"}}\n" +
                         kRoutes);
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c.has_value()) << ::testing::PrintToString(errors());
    const TracingConfig* t = find(*c);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->timeout, 1000);
    EXPECT_EQ(t->batch, 512u);
    EXPECT_EQ(t->flush, 2000);
    EXPECT_EQ(t->buffer, 2048u);
    EXPECT_DOUBLE_EQ(t->sample, 0.01);
    EXPECT_EQ(t->service_name, "gatewayd");
    EXPECT_FALSE(t->route_off(0));
    EXPECT_TRUE(t->route_off(1));
    ASSERT_EQ(t->headers.size(), 1u);
    std::string dumped = dump_config(*c);
    EXPECT_NE(dumped.find("tracing:\n  otlp:\n    endpoint: \"http://127.0.0.1:4318/v1/traces\"\n"), std::string::npos)
        << dumped;
    EXPECT_NE(dumped.find("    tracing: false\n"), std::string::npos) << dumped;
    EXPECT_EQ(dumped.find("s3cret"), std::string::npos) << "a header value is a secret";
}

TEST_F(TracingConfigTest, RouteKeyAloneEnablesNothing) {
    write("gw.conf", std::string(kHead) + kRoutes);
    std::optional<Config> c = load("gw.conf");
    ASSERT_TRUE(c.has_value()) << ::testing::PrintToString(errors());
    EXPECT_EQ(find(*c), nullptr);
}

TEST_F(TracingConfigTest, Errors) {
    expect_errors(std::string(kHead) +
                      "tracing:\n"
                      "  otlp: {endpoint: \"ftp://x/\", batch: 0, timeout: 5m, extra: 1}\n"
                      "  sample: 1.5\n"
                      "  service_name: \"\"\n" +
                      kRoutes,
                  {
                      at("gw.conf", 4, 20) + "tracing.otlp.endpoint: an endpoint is an http:// or https:// URL",
                      at("gw.conf", 4, 39) + "tracing.otlp.batch: 0 is out of range (1..100000)",
                      at("gw.conf", 4, 51) + "tracing.otlp.timeout: 5m is out of range (10ms..1m)",
                      at("gw.conf", 4, 55) + "unknown key \"extra\"",
                      at("gw.conf", 5, 11) + "tracing.sample: 1.5 is out of range (0..1, or 0%..100%)",
                      at("gw.conf", 6, 17) + "tracing.service_name: empty name",
                  });
}

}  // namespace
}  // namespace gw::tracing
