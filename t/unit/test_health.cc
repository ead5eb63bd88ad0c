// Server health in shared memory: fall/rise of active checks, passive max_fails/fail_timeout,
// records found by (upstream, address) and kept across re-attachment (reload, upgrade).
#include <gtest/gtest.h>

#include "core/shm/zone.h"
#include "modules/health/health.h"

using namespace gw;

namespace {

std::unique_ptr<shm::Zone> make_zone() { return shm::Zone::create("health", health::kZoneSize, health::kLayoutVersion); }

}  // namespace

TEST(Health, FallAndRiseNeedRunsOfResults) {
    auto zone = make_zone();
    health::Table table(*zone);
    health::Record* r = table.find_or_create("app", "127.0.0.1:9001");
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(health::usable(r, 0)) << "a server starts up";
    // fall 3: two bad probes, a good one, two bad: still up; a third bad in a row: down.
    EXPECT_EQ(health::record_probe(r, false, 0, 3, 2, 100), 0);
    EXPECT_EQ(health::record_probe(r, false, 500, 3, 2, 100), 0);
    EXPECT_EQ(health::record_probe(r, true, 200, 3, 2, 100), 0);
    EXPECT_EQ(health::record_probe(r, false, 0, 3, 2, 100), 0);
    EXPECT_EQ(health::record_probe(r, false, 0, 3, 2, 100), 0);
    EXPECT_TRUE(health::usable(r, 0));
    EXPECT_EQ(health::record_probe(r, false, 0, 3, 2, 101), -1);
    EXPECT_FALSE(health::usable(r, 0));
    EXPECT_TRUE(health::actively_down(r));
    // rise 2: good, bad, good: still down; good, good: up.
    EXPECT_EQ(health::record_probe(r, true, 200, 3, 2, 102), 0);
    EXPECT_EQ(health::record_probe(r, false, 0, 3, 2, 102), 0);
    EXPECT_EQ(health::record_probe(r, true, 200, 3, 2, 102), 0);
    EXPECT_EQ(health::record_probe(r, true, 204, 3, 2, 103), +1);
    EXPECT_TRUE(health::usable(r, 0));
    EXPECT_EQ(r->observation.load(), 10u) << "every probe result counts";
    EXPECT_EQ(r->last_status.load(), 204);
    EXPECT_EQ(r->changed_unix.load(), 103);
}

TEST(Health, PassiveFailuresWithinTheWindow) {
    auto zone = make_zone();
    health::Table table(*zone);
    health::Record* r = table.find_or_create("app", "127.0.0.1:9001");
    // max_fails 3 within 1000 ms: failures spread wider than the window never take it out.
    EXPECT_FALSE(health::passive_failure(r, 10000, 3, 1000));
    EXPECT_FALSE(health::passive_failure(r, 10500, 3, 1000));
    EXPECT_FALSE(health::passive_failure(r, 11200, 3, 1000)) << "a new window started at 11200";
    EXPECT_FALSE(health::passive_failure(r, 11300, 3, 1000));
    EXPECT_TRUE(health::usable(r, 11300));
    EXPECT_TRUE(health::passive_failure(r, 11400, 3, 1000)) << "third within the window";
    EXPECT_FALSE(health::usable(r, 11400));
    EXPECT_TRUE(health::passively_down(r, 12399));
    EXPECT_FALSE(health::passive_failure(r, 11500, 3, 1000)) << "already out: not taken out again";
    EXPECT_TRUE(health::usable(r, 12400)) << "back after fail_timeout";
    EXPECT_FALSE(health::passive_failure(r, 12500, 0, 1000)) << "max_fails 0: off";
}

TEST(Health, RecordsAreFoundByNameAndAddressAcrossAttachments) {
    auto zone = make_zone();
    health::Record* a;
    {
        health::Table t1(*zone);
        a = t1.find_or_create("app", "127.0.0.1:9001");
        health::record_probe(a, false, 0, 1, 1, 5);
        EXPECT_NE(t1.find_or_create("app", "127.0.0.1:9002"), a);
        EXPECT_NE(t1.find_or_create("app2", "127.0.0.1:9001"), a);
    }
    health::Table t2(*zone);  // a reload, or the new master of a binary upgrade
    EXPECT_EQ(t2.find_or_create("app", "127.0.0.1:9001"), a);
    EXPECT_TRUE(health::actively_down(a)) << "state kept";
}

TEST(Health, UsableWithoutRecord) {
    EXPECT_TRUE(health::usable(nullptr, 0));
    EXPECT_FALSE(health::actively_down(nullptr));
    EXPECT_FALSE(health::passive_failure(nullptr, 0, 1, 1000));
}
