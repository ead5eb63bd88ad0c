#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

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
