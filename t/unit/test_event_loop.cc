#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "event/loop.h"

using gw::event::Loop;
using gw::event::Timer;

TEST(EventLoop, TimersFireInDeadlineOrder) {
    Loop loop;
    std::vector<int> fired;
    Timer a([&] { fired.push_back(1); }), b([&] { fired.push_back(2); }), c([&] { fired.push_back(3); });
    Timer stop([&] { loop.stop(); });
    loop.arm(a, 30);
    loop.arm(b, 10);
    loop.arm(c, 20);
    loop.arm(stop, 40);
    loop.run();
    EXPECT_EQ(fired, (std::vector<int>{2, 3, 1}));
}

TEST(EventLoop, CancelAndRearm) {
    Loop loop;
    std::vector<int> fired;
    Timer a([&] { fired.push_back(1); }), b([&] { fired.push_back(2); });
    Timer stop([&] { loop.stop(); });
    loop.arm(a, 5);
    loop.arm(b, 10);
    loop.cancel(a);
    EXPECT_FALSE(a.armed());
    loop.arm(b, 1);  // moving an armed timer keeps one heap entry
    EXPECT_EQ(loop.timer_count(), 1u);
    loop.arm(stop, 20);
    loop.run();
    EXPECT_EQ(fired, (std::vector<int>{2}));
    EXPECT_EQ(loop.timer_count(), 0u);
}

TEST(EventLoop, DestroyedTimerLeavesTheHeap) {
    Loop loop;
    {
        Timer t([] {});
        loop.arm(t, 1000);
        EXPECT_EQ(loop.timer_count(), 1u);
    }
    EXPECT_EQ(loop.timer_count(), 0u);
}

TEST(EventLoop, ManyTimersHeapInvariant) {
    Loop loop;
    std::vector<std::unique_ptr<Timer>> timers;
    std::vector<int> fired;
    for (int i = 0; i < 200; ++i) {
        timers.push_back(std::make_unique<Timer>([&fired, i] { fired.push_back(i); }));
        loop.arm(*timers.back(), (i * 7919) % 50);
    }
    for (int i = 0; i < 200; i += 3) loop.cancel(*timers[i]);
    Timer stop([&] { loop.stop(); });
    loop.arm(stop, 80);
    loop.run();
    ASSERT_EQ(fired.size(), 200u - 67u);
    for (size_t k = 1; k < fired.size(); ++k)
        EXPECT_LE((fired[k - 1] * 7919) % 50, (fired[k] * 7919) % 50);
}

// A timer re-armed for later keeps its earlier place in the heap (no heap work); it must still
// fire at the later time, never at the earlier one, and in order with the others.
TEST(EventLoop, RearmedLaterFiresAtTheLaterTime) {
    Loop loop;
    gw::event::Millis start = loop.now(), fired_at = -1, other_at = -1;
    Timer a([&] { fired_at = loop.now(); }), other([&] { other_at = loop.now(); });
    Timer stop([&] { loop.stop(); });
    loop.arm(a, 10);
    loop.arm(other, 30);
    loop.arm(a, 50);  // later: stays at its place, moved when 10 ms have passed
    EXPECT_EQ(a.deadline(), start + 50);
    EXPECT_EQ(loop.timer_count(), 2u);
    loop.arm(stop, 80);
    loop.run();
    EXPECT_GE(other_at, start + 30);
    EXPECT_GE(fired_at, start + 50) << "not at its first deadline";
    EXPECT_GT(fired_at, other_at) << "after the timer due before it";
    EXPECT_FALSE(a.armed());
}

TEST(EventLoop, RearmedLaterThenEarlier) {
    Loop loop;
    gw::event::Millis start = loop.now(), fired_at = -1;
    int fired = 0;
    Timer a([&] { fired_at = loop.now(); ++fired; });
    Timer stop([&] { loop.stop(); });
    loop.arm(a, 40);
    loop.arm(a, 100);  // later (no heap work) ...
    loop.arm(a, 5);    // ... then earlier than both: moved up
    EXPECT_EQ(a.deadline(), start + 5);
    loop.arm(stop, 60);
    loop.run();
    EXPECT_EQ(fired, 1);
    EXPECT_GE(fired_at, start + 5);
    EXPECT_LT(fired_at, start + 40) << "at the earliest deadline asked last";
}

// A lazily cancelled timer is not armed and never fires; it leaves the heap when its place
// comes up, or is armed again in place.
TEST(EventLoop, CancelledLazily) {
    Loop loop;
    gw::event::Millis start = loop.now(), b_at = -1;
    int a_fired = 0;
    Timer a([&] { ++a_fired; }), b([&] { b_at = loop.now(); });
    Timer stop([&] { loop.stop(); });
    loop.arm(a, 5);
    loop.cancel_lazily(a);
    EXPECT_FALSE(a.armed());
    EXPECT_EQ(loop.timer_count(), 1u) << "still in the heap, inert";
    loop.arm(b, 20);
    loop.cancel_lazily(b);
    loop.arm(b, 30);  // armed again: in place, for later
    EXPECT_TRUE(b.armed());
    EXPECT_EQ(b.deadline(), start + 30);
    EXPECT_EQ(loop.timer_count(), 2u);
    loop.arm(stop, 50);
    loop.run();
    EXPECT_EQ(a_fired, 0);
    EXPECT_GE(b_at, start + 30);
    EXPECT_EQ(loop.timer_count(), 0u) << "the inert one left when its place came up";
    loop.arm(a, 1000);
    loop.cancel_lazily(a);
    loop.cancel(a);  // a real cancel after a lazy one
    EXPECT_EQ(loop.timer_count(), 0u);
    {
        Timer c([] {});
        loop.arm(c, 1000);
        loop.cancel_lazily(c);
    }
    EXPECT_EQ(loop.timer_count(), 0u) << "a destroyed timer leaves the heap, cancelled lazily or not";
}

TEST(EventLoop, RenewedTimersNeverFireEarly) {
    Loop loop;
    constexpr int kTimers = 300;
    std::vector<std::unique_ptr<Timer>> timers;
    std::vector<gw::event::Millis> due(kTimers), fired_at(kTimers, -1);
    unsigned seed = 12345;
    auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 16) % 60; };
    for (int i = 0; i < kTimers; ++i) {
        timers.push_back(std::make_unique<Timer>([&, i] { fired_at[i] = loop.now(); }));
        loop.arm(*timers.back(), static_cast<gw::event::Millis>(next()));
    }
    for (int round = 0; round < 5; ++round)  // renewed several times, later or earlier
        for (int i = 0; i < kTimers; ++i) loop.arm(*timers[i], static_cast<gw::event::Millis>(next()));
    for (int i = 0; i < kTimers; ++i) due[i] = timers[i]->deadline();
    for (int i = 0; i < kTimers; i += 7) {
        if (i % 2) loop.cancel_lazily(*timers[i]);
        else loop.cancel(*timers[i]);
    }
    Timer stop([&] { loop.stop(); });
    loop.arm(stop, 100);
    loop.run();
    for (int i = 0; i < kTimers; ++i) {
        if (i % 7 == 0) {
            EXPECT_EQ(fired_at[i], -1) << i << " was cancelled";
            continue;
        }
        EXPECT_GE(fired_at[i], due[i]) << "timer " << i << " fired early";
        EXPECT_LE(fired_at[i], due[i] + 20) << "timer " << i << " fired late";
    }
    EXPECT_EQ(loop.timer_count(), 0u);
}

namespace {
struct PipeReader : gw::event::IoHandler {
    int fd;
    int reads = 0;
    Loop* loop;
    void on_io(uint32_t) override {
        char c;
        while (read(fd, &c, 1) == 1) ++reads;
        loop->stop();
    }
};
}  // namespace

TEST(EventLoop, DispatchesReadiness) {
    Loop loop;
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    PipeReader r;
    r.fd = p[0];
    r.loop = &loop;
    ASSERT_TRUE(loop.add(p[0], EPOLLIN, &r));
    ASSERT_EQ(write(p[1], "abc", 3), 3);
    Timer guard([&] { loop.stop(); });
    loop.arm(guard, 2000);
    loop.run();
    EXPECT_EQ(r.reads, 3);
    close(p[0]);
    close(p[1]);
}
