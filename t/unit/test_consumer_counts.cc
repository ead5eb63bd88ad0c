// gateway_http_requests_total labelled by consumer (metrics.per_consumer): one series per
// (route, status, consumer), the per-worker cap and "~other", escaping, a full metrics zone.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "core/metrics/store.h"
#include "http/consumer_counts.h"

using gw::http::ConsumerCounts;
using gw::metrics::Store;
using gw::shm::Zone;

namespace {

std::unique_ptr<Zone> make_zone(uint64_t size = 1 << 20) {
    return Zone::create("metrics", size, gw::metrics::kLayoutVersion);
}

std::string render(const Store& s) {
    std::string out;
    s.render(out);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(ConsumerCounts, OneSeriesPerConsumerRouteAndStatus) {
    auto z = make_zone();
    ASSERT_TRUE(z);
    Store s(*z);
    ConsumerCounts counts(s, 10, "help");
    auto* a200 = counts.cell(1, "api", 200, "alice");
    ASSERT_NE(a200, nullptr);
    std::string name = "alice";  // another buffer, same name: the same cell
    EXPECT_EQ(counts.cell(1, "api", 200, std::string_view(name)), a200);
    auto* a404 = counts.cell(1, "api", 404, "alice");
    auto* b200 = counts.cell(1, "api", 200, "bob");
    auto* a200other = counts.cell(2, "other", 200, "alice");
    EXPECT_NE(a404, a200);
    EXPECT_NE(b200, a200);
    EXPECT_NE(a200other, a200);
    a200->fetch_add(3);
    b200->fetch_add(1);
    EXPECT_EQ(counts.labelled(), 2u);
    EXPECT_FALSE(counts.capped());
    std::string text = render(s);
    EXPECT_TRUE(has_line(text, R"(gateway_http_requests_total{route="api",code="200",consumer="alice"} 3)")) << text;
    EXPECT_TRUE(has_line(text, R"(gateway_http_requests_total{route="api",code="404",consumer="alice"} 0)")) << text;
    EXPECT_TRUE(has_line(text, R"(gateway_http_requests_total{route="api",code="200",consumer="bob"} 1)")) << text;
    EXPECT_TRUE(has_line(text, R"(gateway_http_requests_total{route="other",code="200",consumer="alice"} 0)")) << text;
    // The same cell is the same series in the zone: a second worker's table finds it.
    ConsumerCounts worker2(s, 10, "help");
    EXPECT_EQ(worker2.cell(1, "api", 200, "alice"), a200);
}

TEST(ConsumerCounts, NewConsumersBeyondTheCapAreOther) {
    auto z = make_zone();
    ASSERT_TRUE(z);
    Store s(*z);
    ConsumerCounts counts(s, 2, "help");
    auto* a = counts.cell(1, "api", 200, "alice");
    auto* b = counts.cell(1, "api", 200, "bob");
    auto* c = counts.cell(1, "api", 200, "carol");
    auto* d = counts.cell(1, "api", 200, "dave");
    EXPECT_TRUE(counts.capped());
    EXPECT_EQ(counts.labelled(), 2u);
    EXPECT_NE(c, nullptr);
    EXPECT_EQ(c, d);  // both "~other"
    EXPECT_NE(c, a);
    EXPECT_NE(c, b);
    // Known consumers keep their own series, for new statuses too.
    EXPECT_EQ(counts.cell(1, "api", 200, "alice"), a);
    auto* a500 = counts.cell(1, "api", 500, "alice");
    EXPECT_NE(a500, counts.cell(1, "api", 500, "carol"));
    EXPECT_EQ(counts.labelled(), 2u);
    c->fetch_add(2);
    std::string text = render(s);
    EXPECT_TRUE(has_line(text, R"(gateway_http_requests_total{route="api",code="200",consumer="~other"} 2)")) << text;
    EXPECT_EQ(text.find("carol"), std::string::npos) << text;
    EXPECT_EQ(text.find("dave"), std::string::npos) << text;
}

TEST(ConsumerCounts, LabelValuesAreEscaped) {
    auto z = make_zone();
    ASSERT_TRUE(z);
    Store s(*z);
    ConsumerCounts counts(s, 10, "help");
    auto* cell = counts.cell(0, "", 401, "a\"b\\c\nd");
    ASSERT_NE(cell, nullptr);
    cell->fetch_add(1);
    std::string text = render(s);
    EXPECT_TRUE(has_line(text, R"(gateway_http_requests_total{route="",code="401",consumer="a\"b\\c\nd"} 1)")) << text;
}

TEST(ConsumerCounts, FullZoneCountsNothing) {
    auto z = make_zone(64 * 1024);
    ASSERT_TRUE(z);
    Store s(*z);
    std::string big = std::string(900, 'v');
    for (int i = 0; i < 1000; ++i)
        if (!s.counter("fill_total", "k=\"" + big + std::to_string(i) + "\"", "")) break;
    ConsumerCounts counts(s, 10, "help");
    // The names are long enough that no new series fits in what is left.
    std::string alice = "alice" + big;
    EXPECT_EQ(counts.cell(1, "api", 200, alice), nullptr);
    EXPECT_EQ(counts.cell(1, "api", 200, alice), nullptr);  // remembered, not asked again
    EXPECT_EQ(counts.labelled(), 1u);
}

}  // namespace
