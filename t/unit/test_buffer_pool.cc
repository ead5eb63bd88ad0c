// The worker's pools: spares are reused, a steady load keeps what it reuses, and trim() frees
// only what went unused for a whole interval.
#include <gtest/gtest.h>

#include "http/buffer_pool.h"

using gw::http::BufferPool;
using gw::http::StablePool;
using gw::http::StringPool;

TEST(BufferPool, ReusesSparesAndTrimsOnlyWhatAWholeIntervalLeftUnused) {
    BufferPool pool(4096);
    std::vector<std::unique_ptr<char[]>> held;
    for (int i = 0; i < 10; ++i) held.push_back(pool.get());  // a burst of ten
    for (auto& b : held) pool.put(std::move(b));
    held.clear();
    EXPECT_EQ(pool.trim(), 0u) << "the interval that saw the burst used every spare";
    // A steady load of two at a time during the next interval.
    for (int round = 0; round < 5; ++round) {
        auto a = pool.get(), b = pool.get();
        pool.put(std::move(a));
        pool.put(std::move(b));
    }
    EXPECT_EQ(pool.trim(), 8u) << "eight spares were never taken: freed; the two in use stay";
    EXPECT_EQ(pool.trim(), 2u) << "and those two go after an interval without any request";
    EXPECT_EQ(pool.trim(), 0u);
}

TEST(StringPool, ReusesBuffersAndFreesWhatGrewLarge) {
    StringPool pool;
    auto s = pool.get();
    EXPECT_GE(s->capacity(), 1024u);
    s->assign(100, 'x');
    const std::string* mem = s.get();
    pool.put(std::move(s));
    auto t = pool.get();
    EXPECT_EQ(t.get(), mem) << "the same buffer, reused";
    EXPECT_TRUE(t->empty());
    t->assign(64 * 1024, 'y');
    pool.put(std::move(t));
    auto u = pool.get();
    EXPECT_LT(u->capacity(), 64u * 1024) << "a buffer that grew large is not kept";
}

TEST(StablePool, NeverFreesOnlyReuses) {
    StablePool<int> pool;
    int* a = pool.get();
    pool.put(a);
    EXPECT_EQ(pool.get(), a);
}
