// The tracing exporter (src/modules/tracing/exporter.h) against a real collector socket
// (http_test_server.h), on the test's event loop: a batch is POSTed as OTLP JSON when `batch`
// spans wait; a failing collector drops the batch and backs off, batches due meanwhile are
// dropped without a connection; a full buffer refuses spans; on_exit sends what is buffered.
#include <sys/socket.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "core/services/registry.h"
#include "event/loop.h"
#include "http_test_server.h"
#include "modules/tracing/exporter.h"
#include "redis_server.h"  // run_until

namespace gw::tracing {
namespace {

using http_test::send_all;
using http_test::Server;
using redis_test::run_until;

void add_span(Exporter& ex, int status) {
    ASSERT_TRUE(ex.reserve(1));
    Span& s = *ex.ring().push();
    s.clear(Span::kServer);
    memcpy(s.trace_id, "0af7651916cd43dd8448eb211c80319c", 32);
    memcpy(s.span_id, "b7ad6b7169203331", 16);
    s.start_ns = 1;
    s.end_ns = 2;
    s.status = status;
    s.route = "r";
    s.method.set("GET");
    ex.recorded();
}

class ExporterTest : public ::testing::Test {
  protected:
    void configure(const Server& s, uint32_t batch, uint32_t buffer) {
        t_.enabled = true;
        memcpy(&t_.address, s.addr(), s.addr_len());
        t_.address_len = s.addr_len();
        t_.endpoint.url = "http://127.0.0.1/v1/traces";
        t_.endpoint.host = "collector.test";
        t_.endpoint.target = "/v1/traces";
        t_.headers = {{"authorization", "Bearer t0ken"}};
        t_.batch = batch;
        t_.buffer = buffer;
        t_.flush = 3600 * 1000;  // (only batches, in these tests)
        t_.timeout = 500;
    }
    event::Loop loop_;
    Config config_;
    services::Registry services_{loop_, config_};
    TracingConfig t_;
};

TEST_F(ExporterTest, PostsABatchAsOtlpJson) {
    Server s([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"); });
    configure(s, 2, 8);
    Exporter ex(t_, config_.logs, loop_, services_, nullptr);
    add_span(ex, 200);
    EXPECT_FALSE(run_until(loop_, [&] { return !s.heads().empty(); }, 100)) << "one span: no batch yet";
    add_span(ex, 503);
    ASSERT_TRUE(run_until(loop_, [&] { return !s.heads().empty(); }, 3000));
    std::string head = s.heads()[0];
    EXPECT_TRUE(head.starts_with("POST /v1/traces HTTP/1.1\r\nHost: collector.test\r\n")) << head;
    EXPECT_NE(head.find("Content-Type: application/json\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("authorization: Bearer t0ken\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Content-Length: "), std::string::npos) << head;
    EXPECT_TRUE(run_until(loop_, [&] { return !ex.in_flight(); }, 3000));
    EXPECT_EQ(ex.ring().size(), 0u);
    EXPECT_EQ(ex.backoff_ms(), 0);
}

TEST_F(ExporterTest, AFailingCollectorIsBackedOffAndItsBatchesDropped) {
    Server s([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"); });
    configure(s, 1, 8);
    Exporter ex(t_, config_.logs, loop_, services_, nullptr);
    add_span(ex, 200);
    ASSERT_TRUE(run_until(loop_, [&] { return !s.heads().empty() && !ex.in_flight(); }, 3000));
    EXPECT_EQ(ex.backoff_ms(), Exporter::kFirstBackoff);
    // While it backs off, a batch that comes due is dropped without a connection.
    add_span(ex, 200);
    run_until(loop_, [&] { return ex.ring().size() == 0; }, 200);
    EXPECT_EQ(ex.ring().size(), 0u);
    EXPECT_EQ(s.heads().size(), 1u);
    // After the back-off, the next batch is tried again (and fails again: the back-off doubles).
    run_until(loop_, [] { return false; }, Exporter::kFirstBackoff + 50);
    add_span(ex, 200);
    ASSERT_TRUE(run_until(loop_, [&] { return s.heads().size() == 2 && !ex.in_flight(); }, 3000));
    EXPECT_EQ(ex.backoff_ms(), 2 * Exporter::kFirstBackoff);
}

TEST_F(ExporterTest, AFullBufferRefusesSpans) {
    Server s([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); });
    configure(s, 100, 3);
    Exporter ex(t_, config_.logs, loop_, services_, nullptr);
    EXPECT_TRUE(ex.reserve(3));
    for (int i = 0; i < 3; ++i) add_span(ex, 200);
    EXPECT_FALSE(ex.reserve(1)) << "full: the new span is dropped (and counted)";
    EXPECT_EQ(ex.ring().size(), 3u);
}

TEST_F(ExporterTest, OnExitSendsWhatIsBuffered) {
    Server s([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); });
    configure(s, 100, 8);
    Exporter ex(t_, config_.logs, loop_, services_, nullptr);
    add_span(ex, 200);
    add_span(ex, 200);
    ASSERT_TRUE(ex.on_exit()) << "an export was started";
    loop_.run();  // until the exporter stops it: answered (or after timeout)
    EXPECT_EQ(s.heads().size(), 1u);
    EXPECT_EQ(ex.ring().size(), 0u);
    EXPECT_FALSE(ex.in_flight());
    Exporter empty(t_, config_.logs, loop_, services_, nullptr);
    EXPECT_FALSE(empty.on_exit()) << "nothing buffered: nothing to wait for";
}

}  // namespace
}  // namespace gw::tracing
