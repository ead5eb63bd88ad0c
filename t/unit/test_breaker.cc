// Circuit breakers (modules/breaker): the state machine driven by an injected clock, the rolling
// window, the back-off, probe rationing across processes, and records found again by name.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "core/shm/zone.h"
#include "modules/breaker/breaker.h"

namespace gw::breaker {
namespace {

class BreakerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        zone_ = shm::Zone::create("breaker-test", kZoneSize, kLayoutVersion);
        ASSERT_TRUE(zone_);
        table_ = std::make_unique<Table>(*zone_);
    }

    // A breaker on a fresh record with `cfg`.
    Breaker make(const CircuitBreakerConfig& cfg, std::string_view server = "127.0.0.1:9001") {
        Breaker b;
        Record* r = table_->find_or_create("app", server);
        EXPECT_NE(r, nullptr);
        b.attach(r, cfg);
        return b;
    }

    // One request through the breaker at `now`; returns whether it was admitted. The transition
    // of the admission, if any, goes to `admitted_t`; that of the outcome to `last_`.
    bool request(Breaker& b, int64_t now, bool failure) {
        Ticket t;
        Transition at;
        if (!b.admit(now, t, at)) return false;
        if (at) last_ = at;
        Transition rt;
        b.record(now, t, failure, rt);
        if (rt) last_ = rt;
        return true;
    }

    static CircuitBreakerConfig consecutive_only(uint32_t n) {
        CircuitBreakerConfig c;
        c.failure_ratio = 0;
        c.consecutive_failures = n;
        c.open_for = 1000;
        c.max_open_for = 8000;
        c.half_open_probes = 4;
        c.close_after = 2;
        return c;
    }

    std::unique_ptr<shm::Zone> zone_;
    std::unique_ptr<Table> table_;
    Transition last_;
};

TEST_F(BreakerTest, ConsecutiveFailuresOpen) {
    Breaker b = make(consecutive_only(3));
    int64_t now = 1'000'000;
    EXPECT_TRUE(request(b, now, true));
    EXPECT_TRUE(request(b, now, true));
    EXPECT_TRUE(request(b, now, false));  // ends the run
    EXPECT_EQ(b.snapshot(now).consecutive, 0u);
    EXPECT_TRUE(request(b, now, true));
    EXPECT_TRUE(request(b, now, true));
    EXPECT_EQ(b.state(), State::Closed);
    EXPECT_FALSE(last_);
    EXPECT_TRUE(request(b, now, true));
    EXPECT_EQ(b.state(), State::Open);
    ASSERT_TRUE(last_);
    EXPECT_EQ(last_.from, State::Closed);
    EXPECT_EQ(last_.to, State::Open);
    EXPECT_EQ(last_.reason, Reason::ConsecutiveFailures);
    EXPECT_EQ(last_.failures, 3u);
    EXPECT_EQ(last_.open_for, 1000);
    EXPECT_EQ(describe(last_, b.config()), "closed -> open (3 consecutive failures; open for 1s)");

    // Open: nothing goes through until the period is over.
    EXPECT_FALSE(b.available(now + 999));
    EXPECT_FALSE(request(b, now + 999, false));
    EXPECT_EQ(b.wait(now + 400), 600);
    EXPECT_TRUE(b.available(now + 1000));
    EXPECT_EQ(b.wait(now + 1000), 0);
}

TEST_F(BreakerTest, FailureRatioNeedsMinRequests) {
    CircuitBreakerConfig c;
    c.failure_ratio = 0.5;
    c.min_requests = 10;
    c.consecutive_failures = 0;
    c.window = 10000;
    Breaker b = make(c);
    int64_t now = 5'000'000;
    // 9 requests, 5 of them failed (more than half, and 4 in a row at the end): too few to judge.
    for (bool f : {false, true, false, false, false, true, true, true, true}) EXPECT_TRUE(request(b, now, f));
    EXPECT_EQ(b.state(), State::Closed);
    Snapshot s = b.snapshot(now);
    EXPECT_EQ(s.window_requests, 9u);
    EXPECT_EQ(s.window_failures, 5u);
    // The 10th request is a success: 5 of 10 failed, but only failures open a breaker.
    EXPECT_TRUE(request(b, now, false));
    EXPECT_EQ(b.state(), State::Closed);
    // 6 of 11: open.
    EXPECT_TRUE(request(b, now + 5, true));
    EXPECT_EQ(b.state(), State::Open);
    ASSERT_TRUE(last_);
    EXPECT_EQ(last_.reason, Reason::FailureRatio);
    EXPECT_EQ(last_.failures, 6u);
    EXPECT_EQ(last_.requests, 11u);
    EXPECT_EQ(describe(last_, b.config()), "closed -> open (6 of 11 requests failed in 10s; open for 30s)");
}

TEST_F(BreakerTest, FailureRatioBelowThresholdStaysClosed) {
    CircuitBreakerConfig c;
    c.failure_ratio = 0.5;
    c.min_requests = 4;
    c.consecutive_failures = 0;
    Breaker b = make(c);
    int64_t now = 5'000'000;
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(request(b, now, i % 3 == 2));  // every third fails
    EXPECT_EQ(b.state(), State::Closed);
    EXPECT_EQ(b.snapshot(now).window_requests, 100u);
    EXPECT_EQ(b.snapshot(now).window_failures, 33u);
}

TEST_F(BreakerTest, WindowRolls) {
    CircuitBreakerConfig c;
    c.failure_ratio = 0.5;
    c.min_requests = 4;
    c.consecutive_failures = 0;
    c.window = 10000;  // buckets of 1s
    Breaker b = make(c);
    int64_t t0 = 7'000'000;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(request(b, t0, true));  // 3 of 3, too few
    EXPECT_TRUE(request(b, t0 + 4000, false));
    Snapshot s = b.snapshot(t0 + 4000);
    EXPECT_EQ(s.window_requests, 4u);
    EXPECT_EQ(s.window_failures, 3u);
    // Ten buckets later the first three are out of the window; the success 4 s later is not.
    s = b.snapshot(t0 + 10000);
    EXPECT_EQ(s.window_requests, 1u);
    EXPECT_EQ(s.window_failures, 0u);
    // So failures now see 1 old success: 3 new failures make 3 of 4 and open.
    EXPECT_TRUE(request(b, t0 + 10000, true));
    EXPECT_TRUE(request(b, t0 + 10000, true));
    EXPECT_EQ(b.state(), State::Closed);
    EXPECT_TRUE(request(b, t0 + 10000, true));
    EXPECT_EQ(b.state(), State::Open);
    EXPECT_EQ(last_.requests, 4u);
    EXPECT_EQ(last_.failures, 3u);
    // A bucket reused a whole window later starts from zero.
    EXPECT_EQ(b.snapshot(t0 + 40000).window_requests, 0u);
}

TEST_F(BreakerTest, OpenHalfOpenClosed) {
    Breaker b = make(consecutive_only(1));
    int64_t now = 1'000'000;
    ASSERT_TRUE(request(b, now, true));
    ASSERT_EQ(b.state(), State::Open);

    // The period ends: a tick turns it half-open even with no request.
    Transition t;
    b.tick(now + 999, t);
    EXPECT_FALSE(t);
    b.tick(now + 1000, t);
    ASSERT_TRUE(t);
    EXPECT_EQ(t.from, State::Open);
    EXPECT_EQ(t.to, State::HalfOpen);
    EXPECT_EQ(t.reason, Reason::OpenElapsed);
    EXPECT_EQ(describe(t, b.config()), "open -> half-open (open period over; 4 probe requests allowed)");
    EXPECT_EQ(b.state(), State::HalfOpen);

    // Exactly half_open_probes tickets.
    now += 1000;
    std::vector<Ticket> probes(4);
    for (Ticket& p : probes) {
        Transition at;
        ASSERT_TRUE(b.admit(now, p, at));
        EXPECT_TRUE(p.probe);
        EXPECT_FALSE(at);
    }
    Ticket extra;
    Transition at;
    EXPECT_FALSE(b.available(now));
    EXPECT_FALSE(b.admit(now, extra, at));

    // close_after (2) successes close it; later probe outcomes are of a finished round.
    Transition rt;
    b.record(now, probes[0], false, rt);
    EXPECT_FALSE(rt);
    EXPECT_EQ(b.state(), State::HalfOpen);
    EXPECT_EQ(b.snapshot(now).probes_succeeded, 1u);
    b.record(now, probes[1], false, rt);
    ASSERT_TRUE(rt);
    EXPECT_EQ(rt.to, State::Closed);
    EXPECT_EQ(rt.reason, Reason::ProbesSucceeded);
    EXPECT_EQ(describe(rt, b.config()), "half-open -> closed (2 probe requests succeeded)");
    EXPECT_EQ(b.state(), State::Closed);
    Transition late;
    b.record(now, probes[2], true, late);  // a failed probe of the old round: ignored
    EXPECT_FALSE(late);
    EXPECT_EQ(b.state(), State::Closed);
    Snapshot s = b.snapshot(now);
    EXPECT_EQ(s.consecutive, 0u);
    EXPECT_EQ(s.streak, 0u);
}

TEST_F(BreakerTest, ProbeFailureReopensWithBackOffUpToTheCap) {
    Breaker b = make(consecutive_only(1));  // open_for 1s, max_open_for 8s
    int64_t now = 1'000'000;
    ASSERT_TRUE(request(b, now, true));
    EXPECT_EQ(last_.open_for, 1000);
    std::vector<int64_t> periods;
    for (int round = 0; round < 5; ++round) {
        int64_t wait = b.wait(now);
        periods.push_back(wait);
        EXPECT_FALSE(b.available(now + wait - 1));
        now += wait;
        // One success, then a failure: any probe failure re-opens.
        Ticket ok, bad;
        Transition t1, t2, t3;
        ASSERT_TRUE(b.admit(now, ok, t1));
        EXPECT_EQ(t1.reason, Reason::OpenElapsed);  // the first request made it half-open
        ASSERT_TRUE(b.admit(now, bad, t2));
        b.record(now, ok, false, t3);
        EXPECT_FALSE(t3);
        b.record(now, bad, true, t3);
        ASSERT_TRUE(t3);
        EXPECT_EQ(t3.from, State::HalfOpen);
        EXPECT_EQ(t3.to, State::Open);
        EXPECT_EQ(t3.reason, Reason::ProbeFailed);
        EXPECT_EQ(b.snapshot(now).streak, static_cast<uint32_t>(round + 2));
    }
    periods.push_back(b.wait(now));
    EXPECT_EQ(periods, (std::vector<int64_t>{1000, 2000, 4000, 8000, 8000, 8000}));
    EXPECT_EQ(describe(last_, b.config()), "closed -> open (1 consecutive failures; open for 1s)");

    // Closing resets the back-off: the next opening is open_for again.
    now += b.wait(now);
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(request(b, now, false));
    ASSERT_EQ(b.state(), State::Closed);
    ASSERT_TRUE(request(b, now, true));
    EXPECT_EQ(b.state(), State::Open);
    EXPECT_EQ(b.wait(now), 1000);
    EXPECT_EQ(last_.open_for, 1000);
}

TEST_F(BreakerTest, BackOffArithmetic) {
    CircuitBreakerConfig c = consecutive_only(1);
    c.open_for = 30000;
    c.max_open_for = 300000;
    Breaker b = make(c);
    EXPECT_EQ(b.open_period(1), 30000);
    EXPECT_EQ(b.open_period(2), 60000);
    EXPECT_EQ(b.open_period(4), 240000);
    EXPECT_EQ(b.open_period(5), 300000);
    EXPECT_EQ(b.open_period(63), 300000);  // no overflow at the largest streak
    c.open_for = c.max_open_for = 86400000;
    b = make(c);
    EXPECT_EQ(b.open_period(63), 86400000);
}

TEST_F(BreakerTest, OutcomesOfAnEarlierStateDoNotCount) {
    Breaker b = make(consecutive_only(2));
    int64_t now = 1'000'000;
    // Two requests admitted while closed; the breaker opens meanwhile.
    Ticket slow1, slow2;
    Transition t;
    ASSERT_TRUE(b.admit(now, slow1, t));
    ASSERT_TRUE(b.admit(now, slow2, t));
    ASSERT_TRUE(request(b, now, true));
    ASSERT_TRUE(request(b, now, true));
    ASSERT_EQ(b.state(), State::Open);
    now += 1000;
    b.tick(now, t);
    ASSERT_EQ(b.state(), State::HalfOpen);
    // Their outcomes, arriving now, neither close nor re-open the half-open breaker.
    Transition rt;
    b.record(now, slow1, true, rt);
    b.record(now, slow2, false, rt);
    EXPECT_FALSE(rt);
    EXPECT_EQ(b.state(), State::HalfOpen);
    EXPECT_EQ(b.snapshot(now).probes_succeeded, 0u);
}

TEST_F(BreakerTest, ReleasedProbeGivesItsTicketBack) {
    CircuitBreakerConfig c = consecutive_only(1);
    c.half_open_probes = 1;
    c.close_after = 1;
    Breaker b = make(c);
    int64_t now = 1'000'000;
    ASSERT_TRUE(request(b, now, true));
    now += 1000;
    Ticket p, q;
    Transition t;
    ASSERT_TRUE(b.admit(now, p, t));
    EXPECT_FALSE(b.admit(now, q, t));
    b.release(p);  // the client went away: no verdict
    EXPECT_EQ(b.state(), State::HalfOpen);
    EXPECT_EQ(b.snapshot(now).probes_taken, 0u);
    ASSERT_TRUE(b.admit(now, q, t));
    b.release(p);  // released twice (a bug elsewhere) must not hand out a second ticket
    EXPECT_EQ(b.snapshot(now).probes_taken, 0u);
    b.record(now, q, false, t);
    EXPECT_EQ(b.state(), State::Closed);
}

TEST_F(BreakerTest, StalledRoundStartsAgain) {
    CircuitBreakerConfig c = consecutive_only(1);
    c.half_open_probes = 2;
    c.max_open_for = 5000;
    Breaker b = make(c);
    int64_t now = 1'000'000;
    ASSERT_TRUE(request(b, now, true));
    now += 1000;
    Ticket p1, p2, p3;
    Transition t;
    ASSERT_TRUE(b.admit(now, p1, t));  // the round starts now
    ASSERT_TRUE(b.admit(now + 100, p2, t));
    // Both tickets are out (say their worker died); no verdict comes.
    EXPECT_FALSE(b.admit(now + 4999, p3, t));
    Transition tt;
    b.tick(now + 4999, tt);
    EXPECT_FALSE(tt);
    b.tick(now + 5000, tt);
    ASSERT_TRUE(tt);
    EXPECT_EQ(tt.from, State::HalfOpen);
    EXPECT_EQ(tt.to, State::HalfOpen);
    EXPECT_EQ(tt.reason, Reason::ProbesStalled);
    EXPECT_EQ(b.snapshot(now + 5000).probes_taken, 0u);
    ASSERT_TRUE(b.admit(now + 5000, p3, t));
    b.record(now + 5000, p1, true, t);  // the old round's probe: ignored
    EXPECT_EQ(b.state(), State::HalfOpen);
}

TEST_F(BreakerTest, ClosedSuccessWritesNothing) {
    // The cheap path: with failure_ratio 0, a success on a closed breaker with no failure run
    // changes no shared byte.
    Breaker b = make(consecutive_only(5));
    int64_t now = 1'000'000;
    Snapshot before = b.snapshot(now);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(request(b, now, false));
    Snapshot after = b.snapshot(now);
    EXPECT_EQ(after.seq, before.seq);
    EXPECT_EQ(after.window_requests, 0u);
    EXPECT_EQ(after.consecutive, 0u);
}

// Two processes take half-open tickets as fast as they can: together they get exactly
// half_open_probes, and each ticket once.
TEST_F(BreakerTest, ProbeTicketsAreRationedAcrossProcesses) {
    CircuitBreakerConfig c = consecutive_only(1);
    c.half_open_probes = 1000;
    c.close_after = 1000;
    Breaker b = make(c);
    int64_t now = 1'000'000;
    ASSERT_TRUE(request(b, now, true));
    now += 1000;
    Transition t;
    b.tick(now, t);
    ASSERT_EQ(b.state(), State::HalfOpen);

    // A start line and the results, in shared memory.
    struct Shared {
        std::atomic<int> ready;
        std::atomic<bool> go;
        std::atomic<int> taken[2];
    };
    void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    auto* sh = new (mem) Shared{};
    pid_t pids[2];
    for (int k = 0; k < 2; ++k) {
        pids[k] = fork();
        ASSERT_GE(pids[k], 0);
        if (pids[k] == 0) {
            Breaker mine;  // its own handle on the same record, as a worker has
            mine.attach(table_->find_or_create("app", "127.0.0.1:9001"), c);
            sh->ready.fetch_add(1);
            while (!sh->go.load()) {
            }
            int n = 0;
            for (int i = 0; i < 5000; ++i) {
                Ticket p;
                Transition pt;
                if (mine.admit(now, p, pt)) ++n;
            }
            sh->taken[k].store(n);
            _exit(0);
        }
    }
    while (sh->ready.load() < 2) {
    }
    sh->go.store(true);
    for (pid_t p : pids) {
        int status = 0;
        waitpid(p, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    EXPECT_EQ(sh->taken[0].load() + sh->taken[1].load(), 1000) << sh->taken[0].load() << " + " << sh->taken[1].load();
    EXPECT_EQ(b.snapshot(now).probes_taken, 1000u);
    EXPECT_EQ(b.state(), State::HalfOpen);
    munmap(mem, sizeof(Shared));
}

// Many processes recording outcomes at once lose no count and open the breaker exactly once.
TEST_F(BreakerTest, ConcurrentFailuresOpenOnce) {
    CircuitBreakerConfig c;
    c.failure_ratio = 0.5;
    c.min_requests = 1000000;  // the ratio rule counts, but cannot open here
    c.consecutive_failures = 4000;
    Breaker b = make(c);
    int64_t now = 1'000'000;
    void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    auto* opened = new (mem) std::atomic<int>(0);
    std::vector<pid_t> pids;
    for (int k = 0; k < 4; ++k) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            Breaker mine;
            mine.attach(table_->find_or_create("app", "127.0.0.1:9001"), c);
            for (int i = 0; i < 999; ++i) {
                Ticket t;
                Transition at, rt;
                if (!mine.admit(now, t, at)) continue;
                mine.record(now, t, true, rt);
                if (rt) opened->fetch_add(1);
            }
            _exit(0);
        }
        pids.push_back(pid);
    }
    for (pid_t p : pids) waitpid(p, nullptr, 0);
    // 3996 failures in a row, all counted, none lost to a race.
    Snapshot s = b.snapshot(now);
    EXPECT_EQ(s.consecutive, 3996u);
    EXPECT_EQ(s.window_failures, 3996u);
    EXPECT_EQ(s.window_requests, 3996u);
    EXPECT_EQ(opened->load(), 0);
    for (int i = 0; i < 4; ++i) request(b, now, true);
    EXPECT_EQ(b.state(), State::Open);
    munmap(mem, 4096);
}

TEST_F(BreakerTest, RecordsAreFoundByNameAndKeepTheirState) {
    Breaker b = make(consecutive_only(1), "10.0.0.1:80");
    int64_t now = 1'000'000;
    ASSERT_TRUE(request(b, now, true));
    ASSERT_EQ(b.state(), State::Open);

    // Another server, another upstream with the same address: other records.
    EXPECT_NE(table_->find_or_create("app", "10.0.0.2:80"), table_->find_or_create("app", "10.0.0.1:80"));
    EXPECT_NE(table_->find_or_create("other", "10.0.0.1:80"), table_->find_or_create("app", "10.0.0.1:80"));
    // No confusion between ("ab", "c") and ("a", "bc").
    EXPECT_NE(table_->find_or_create("ab", "c"), table_->find_or_create("a", "bc"));

    // A reload: a new table handle and breaker with other settings find the same state.
    Table again(*zone_);
    Breaker reloaded;
    CircuitBreakerConfig c = consecutive_only(7);
    reloaded.attach(again.find_or_create("app", "10.0.0.1:80"), c);
    EXPECT_EQ(reloaded.state(), State::Open);
    EXPECT_EQ(reloaded.wait(now), 1000);

    // A binary upgrade: the zone's descriptor mapped again (as the new master adopts it).
    int fd = dup(zone_->fd());
    ASSERT_GE(fd, 0);
    std::unique_ptr<shm::Zone> adopted = shm::Zone::adopt(fd, "breaker-test", kLayoutVersion);
    ASSERT_TRUE(adopted);
    Table upgraded(*adopted);
    Breaker after;
    after.attach(upgraded.find_or_create("app", "10.0.0.1:80"), consecutive_only(1));
    EXPECT_EQ(after.state(), State::Open);
    EXPECT_EQ(after.snapshot(now).streak, 1u);
}

TEST_F(BreakerTest, FullZoneLetsEverythingThrough) {
    auto small = shm::Zone::create("breaker-small", 3 * 4096 + 2048, kLayoutVersion);
    ASSERT_TRUE(small);
    Table t(*small);
    int made = 0;
    Record* r = nullptr;
    while ((r = t.find_or_create("app", "server-" + std::to_string(made))) != nullptr) ++made;
    EXPECT_GT(made, 0);
    Breaker b;
    b.attach(nullptr, consecutive_only(1));
    EXPECT_FALSE(b.enabled());
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(request(b, 1000, true));
    EXPECT_EQ(b.state(), State::Closed);
}

}  // namespace
}  // namespace gw::breaker
