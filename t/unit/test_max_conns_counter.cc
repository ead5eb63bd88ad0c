// The shared counters behind max_conns and the upstream queues: OwnedGauge::try_inc_below takes
// a slot only below the limit, exactly, also when processes race for the last one; release()
// gives it back; a dead worker's slots are given back by the master settling its ledger.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "core/metrics/store.h"
#include "core/status.h"

using gw::metrics::OwnedGauge;
using gw::metrics::Store;
using gw::shm::Zone;

namespace {

std::unique_ptr<Zone> make_zone() { return Zone::create("metrics", 1 << 20, gw::metrics::kLayoutVersion); }

struct Homes {
    std::unique_ptr<Zone> zone = Zone::create("status", 1 << 20, gw::kStatusLayoutVersion);
    gw::StatusBoard* board = zone ? gw::StatusBoard::attach(*zone) : nullptr;
    std::atomic<uint64_t>& operator[](int slot) { return board->slots[slot].gauge_ledger; }
};

TEST(MaxConnsCounter, TakeUpToTheLimitAndRelease) {
    auto z = make_zone();
    ASSERT_TRUE(z);
    Store s(*z);
    OwnedGauge g = s.owned_gauge("gateway_upstream_active_requests", R"(server="a")", "");
    ASSERT_TRUE(g);
    EXPECT_TRUE(g.try_inc_below(2));
    EXPECT_TRUE(g.try_inc_below(2));
    EXPECT_FALSE(g.try_inc_below(2)) << "at the limit";
    EXPECT_EQ(g.value(), 2);
    EXPECT_EQ(g.mine(), 2);
    g.release();
    EXPECT_EQ(g.value_seq_cst(), 1);
    EXPECT_TRUE(g.try_inc_below(2)) << "a released slot can be taken again";
    EXPECT_FALSE(g.try_inc_below(2));
    EXPECT_FALSE(g.try_inc_below(1)) << "above a lowered limit (a reload): nothing more is taken";
    g.release();
    g.release();
    EXPECT_EQ(g.value(), 0);
    EXPECT_EQ(g.mine(), 0);
}

TEST(MaxConnsCounter, PlainCountsOfTheSameGaugeCountAgainstTheLimit) {
    // Servers without max_conns move the same gauge with inc/dec; a limit set by a reload then
    // sees the requests already in flight.
    auto z = make_zone();
    Store s(*z);
    OwnedGauge g = s.owned_gauge("inflight", "", "");
    g.inc();
    g.inc();
    EXPECT_FALSE(g.try_inc_below(2));
    g.dec();
    EXPECT_TRUE(g.try_inc_below(2));
}

TEST(MaxConnsCounter, EmptyGaugeHasNoLimitToKeep) {
    OwnedGauge none;
    EXPECT_TRUE(none.try_inc_below(0));
    none.release();
    EXPECT_EQ(none.value_seq_cst(), 0);
}

// Processes race for 3 slots many times over: never more than 3 are held at once, and every
// slot taken is given back.
TEST(MaxConnsCounter, ExactAcrossProcesses) {
    auto z = make_zone();
    ASSERT_TRUE(z);
    constexpr int kChildren = 4, kRounds = 20000, kLimit = 3;
    {
        Store parent(*z);
        parent.gauge("over_limit", "", "");  // created once, before the children race
    }
    alarm(60);
    std::vector<pid_t> pids;
    for (int c = 0; c < kChildren; ++c) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            Store s(*z);
            OwnedGauge g = s.owned_gauge("slots", "", "");
            std::atomic<int64_t>* over = s.gauge("over_limit", "", "");
            if (!g || !over) _exit(1);
            for (int i = 0; i < kRounds; ++i) {
                if (!g.try_inc_below(kLimit)) continue;
                if (g.value_seq_cst() > kLimit) over->fetch_add(1);
                g.release();
            }
            _exit(g.mine() == 0 ? 0 : 2);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    }
    alarm(0);
    Store s(*z);
    EXPECT_EQ(s.gauge("over_limit", "", "")->load(), 0);
    EXPECT_EQ(s.gauge("slots", "", "")->load(), 0);
}

// A worker dies holding slots: the master settles its ledger and the slots are free again,
// while another worker's stay held.
TEST(MaxConnsCounter, DeadWorkersSlotsAreGivenBack) {
    auto z = make_zone();
    Homes homes;
    ASSERT_TRUE(z && homes.board);
    Store master(*z);
    Store other(*z);
    other.set_ledger_home(&homes[1]);
    OwnedGauge kept = other.owned_gauge("slots", "", "");
    ASSERT_TRUE(kept.try_inc_below(3));

    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        Store w(*z);
        w.set_ledger_home(&homes[0]);
        OwnedGauge g = w.owned_gauge("slots", "", "");
        if (!g.try_inc_below(3) || !g.try_inc_below(3)) _exit(1);
        if (g.try_inc_below(3)) _exit(2);  // the limit holds with the other worker's slot
        pause();                            // killed holding two
        _exit(3);
    }
    std::atomic<int64_t>* total = master.gauge("slots", "", "");
    for (int i = 0; i < 5000 && total->load() != 3; ++i) usleep(1000);
    ASSERT_EQ(total->load(), 3);
    EXPECT_FALSE(kept.try_inc_below(3));
    kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;

    master.settle_ledger(homes[0].exchange(0));
    EXPECT_EQ(total->load(), 1) << "only the live worker's slot is held";
    EXPECT_TRUE(kept.try_inc_below(3));
    EXPECT_TRUE(kept.try_inc_below(3));
    EXPECT_FALSE(kept.try_inc_below(3));
}

}  // namespace
