// `algorithm: concurrency`: its configuration (every error at its place, the -T dump), the
// counting of requests in flight (admitted, rejected at the limit, given back however the
// request ends), exactness across processes, and the lease ledger that gives back what a dead
// worker held.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/shm/zone.h"
#include "filter_harness.h"
#include "modules/ratelimit/config.h"
#include "modules/ratelimit/filter.h"
#include "modules/ratelimit/leases.h"
#include "modules/ratelimit/limiter.h"
#include "modules/ratelimit/table.h"

namespace gw {
namespace {

using ratelimit::Algorithm;
using ratelimit::KeyHash;
using ratelimit::Ledger;
using ratelimit::Params;
using ratelimit::RateLimitPolicy;
using ratelimit::Table;

constexpr uint64_t kT0 = 3600ull * 1000000000ull;
constexpr const char* kListener = "listeners:\n  - address: 127.0.0.1:8080\n";

class Dir {
  public:
    Dir() {
        char tmpl[] = "/tmp/gw-rl-conc-XXXXXX";
        EXPECT_NE(mkdtemp(tmpl), nullptr);
        path_ = tmpl;
    }
    ~Dir() { std::filesystem::remove_all(path_); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ + "/" + name, std::ios::binary) << text;
        return path_ + "/" + name;
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// --- configuration -----------------------------------------------------------------------------

class ConcurrencyConfig : public ::testing::Test {
  protected:
    std::optional<Config> load(const std::string& text, const std::string& name = "gw.conf") {
        diags_ = Diagnostics();
        return load_config(dir_.write(name, text), dir_.path(), diags_);
    }
    std::vector<std::string> errors() const {
        std::vector<std::string> out;
        for (const Diagnostic& d : diags_.all()) out.push_back(d.str());
        std::sort(out.begin(), out.end());
        return out;
    }
    std::string at(int line, int col) const {
        return dir_.path() + "/gw.conf:" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    }
    Dir dir_;
    Diagnostics diags_;
};

TEST_F(ConcurrencyConfig, ValuesDumpAndReload) {
    std::optional<Config> c = load(std::string(kListener) +
                                   "rate_limits:\n"
                                   "  in-flight: {key: ip, algorithm: concurrency, limit: 10}\n"
                                   "  per-user:\n"
                                   "    key: header:x-user+route\n"
                                   "    algorithm: concurrency\n"
                                   "    limit: 2\n"
                                   "    status: 503\n"
                                   "    missing_key: limit\n"
                                   "    dry_run: true\n"
                                   "    scope: local\n"
                                   "routes:\n"
                                   "  - {name: api, return: {}, rate_limit: [in-flight, per-user]}\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    const auto& s = ratelimit::settings(*c);
    ASSERT_EQ(s.policies.size(), 2u);
    EXPECT_EQ(s.policies[0].algorithm, RateLimitPolicy::Algorithm::Concurrency);
    EXPECT_EQ(s.policies[0].limit, 10u);
    EXPECT_EQ(s.policies[0].status, 429);
    EXPECT_FALSE(s.policies[0].headers) << "a concurrency limit sends no RateLimit headers";
    EXPECT_EQ(s.policies[1].limit, 2u);
    EXPECT_EQ(s.policies[1].status, 503);
    EXPECT_TRUE(s.policies[1].dry_run);
    EXPECT_EQ(s.policies[1].missing_key, RateLimitPolicy::MissingKey::Limit);
    // Two concurrency policies on one route: two lease words per connection.
    EXPECT_EQ(ratelimit::ledger_words(*c), 2u * c->worker_connections);
    EXPECT_GT(ratelimit::lease_zone_size(*c), 0u);

    std::string dump = dump_config(*c);
    EXPECT_NE(dump.find("  \"in-flight\":\n    key: \"ip\"\n    algorithm: concurrency\n    limit: 10\n"
                        "    missing_key: skip\n    status: 429\n    dry_run: false\n"),
              std::string::npos)
        << dump;
    EXPECT_EQ(dump.find("rate: \""), std::string::npos) << "no rate for a concurrency policy";
    std::optional<Config> again = load(dump, "dumped.conf");
    ASSERT_TRUE(again) << ::testing::PrintToString(errors()) << dump;
    auto body = [](const std::string& s) { return s.substr(s.find("\nworker_processes:")); };
    EXPECT_EQ(body(dump_config(*again)), body(dump));
}

TEST_F(ConcurrencyConfig, NoLeaseZoneWithoutAConcurrencyPolicyOnARoute) {
    std::optional<Config> c = load(std::string(kListener) +
                                   "rate_limits:\n"
                                   "  r: {key: ip, rate: 1/s}\n"
                                   "  unused: {key: ip, algorithm: concurrency, limit: 1}\n"
                                   "routes:\n  - {name: api, return: {}, rate_limit: r}\n");
    ASSERT_TRUE(c) << ::testing::PrintToString(errors());
    EXPECT_EQ(ratelimit::lease_zone_size(*c), 0u);
}

TEST_F(ConcurrencyConfig, Errors) {
    EXPECT_FALSE(load(std::string(kListener) +                                                      // 1-2
                      "redis: {address: 127.0.0.1:6379}\n"                                          // 3
                      "rate_limits:\n"                                                              // 4
                      "  a: {key: ip, algorithm: concurrency}\n"                                    // 5
                      "  b: {key: ip, algorithm: concurrency, limit: 0}\n"                          // 6
                      "  c: {key: ip, algorithm: concurrency, limit: 5, rate: 5/s}\n"               // 7
                      "  d: {key: ip, algorithm: concurrency, limit: 5, burst: 9}\n"                // 8
                      "  e: {key: ip, algorithm: concurrency, limit: 5, scope: global}\n"           // 9
                      "  f: {key: ip, algorithm: concurrency, limit: 5, headers: true}\n"           // 10
                      "  g: {key: ip, rate: 5/s, limit: 5}\n"                                       // 11
                      "  h: {key: ip, algorithm: concurrency, limit: 5, scope: here}\n"             // 12
                      "  i: {key: ip, algorithm: concurency, limit: 5}\n"));                        // 13
    std::vector<std::string> expected{
        at(5, 6) + "rate_limits.a: missing required key \"limit\"",
        at(6, 47) + "rate_limits.b.limit: 0 is out of range (1..1000000000)",
        at(7, 50) + "rate_limits.c.rate: not with algorithm: concurrency (it counts requests in flight: "
                    "use limit: N)",
        at(8, 50) + "rate_limits.d.burst: not with algorithm: concurrency (it counts requests in flight: "
                    "use limit: N)",
        at(9, 57) + "rate_limits.e.scope: not with algorithm: concurrency (concurrency limits are counted "
                    "per node, in shared memory)",
        at(10, 50) + "rate_limits.f.headers: not with algorithm: concurrency (it sends no RateLimit headers)",
        at(11, 27) + "rate_limits.g.limit: only with algorithm: concurrency (the other algorithms take "
                     "rate: N/UNIT)",
        at(12, 57) + "rate_limits.h.scope: unknown value \"here\" (expected local or global)",
        at(13, 27) + "rate_limits.i.algorithm: unknown value \"concurency\" (expected token_bucket, "
                     "sliding_window, fixed_window or concurrency)",
    };
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(errors(), expected);
}

// --- counting ------------------------------------------------------------------------------------

struct TestZone {
    std::unique_ptr<shm::Zone> zone;
    std::unique_ptr<Table> table;
    TestZone() {
        zone = shm::Zone::create("ratelimit-conc-test", 1 << 20, ratelimit::kLayoutVersion);
        EXPECT_TRUE(zone);
        table = Table::attach(*zone);
        EXPECT_TRUE(table);
    }
};

KeyHash key_of(const Params& p, const std::string& key) {
    ratelimit::Hasher h(ratelimit::HashKey{3, 4}, p.id);
    h.add(key);
    return h.finish();
}

TEST(ConcurrencyTable, CountsInFlightAndReleasesThroughTheLease) {
    TestZone t;
    Params p = Params::make("c", Algorithm::Concurrency, 2, 1000000000, 0);
    KeyHash k = key_of(p, "10.0.0.1");
    std::atomic<uint64_t> a{0}, b{0}, c{0};
    EXPECT_TRUE(t.table->consume(p, k, kT0, nullptr, nullptr, &a).allowed);
    ratelimit::Decision d = t.table->consume(p, k, kT0, nullptr, nullptr, &b);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 0u);
    EXPECT_NE(a.load(), 0u);
    EXPECT_EQ(a.load(), b.load()) << "both name the same entry";
    EXPECT_FALSE(t.table->consume(p, k, kT0, nullptr, nullptr, &c).allowed);
    EXPECT_EQ(c.load(), 0u) << "a rejected request leaves no lease";
    EXPECT_FALSE(t.table->consume(p, k, kT0 + 3600ull * 1000000000ull, nullptr, nullptr, &c).allowed)
        << "time does not free a request in flight";
    t.table->release(a.load());
    EXPECT_TRUE(t.table->consume(p, k, kT0, nullptr, nullptr, &c).allowed);
    // Releasing more than was taken stops at 0 (a lease the master gives back for a count a dead
    // worker never took).
    for (int i = 0; i < 5; ++i) t.table->release(a.load());
    EXPECT_TRUE(t.table->consume(p, k, kT0, nullptr, nullptr, &c).allowed);
    EXPECT_TRUE(t.table->consume(p, k, kT0, nullptr, nullptr, &c).allowed);
    EXPECT_FALSE(t.table->consume(p, k, kT0, nullptr, nullptr, &c).allowed);
    t.table->release(0);  // an empty word: nothing
}

// Processes admitting and releasing the same key never have more than the limit in flight, and
// when they are done the count is back at 0.
TEST(ConcurrencyTable, ExactAcrossProcesses) {
    TestZone t;
    constexpr uint64_t kLimit = 3;
    Params p = Params::make("c", Algorithm::Concurrency, kLimit, 1000000000, 0);
    KeyHash k = key_of(p, "shared");
    struct Shared {
        std::atomic<int> in_flight;
        std::atomic<int> most;
        std::atomic<int> admitted;
    };
    auto* sh = static_cast<Shared*>(mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(sh, MAP_FAILED);
    new (sh) Shared{};
    constexpr int kProcs = 4, kRounds = 20000;
    std::vector<pid_t> kids;
    for (int i = 0; i < kProcs; ++i) {
        pid_t pid = fork();
        if (pid == 0) {
            std::unique_ptr<Table> mine = Table::attach(*t.zone);
            std::atomic<uint64_t> lease{0};
            for (int r = 0; r < kRounds; ++r) {
                if (!mine->consume(p, k, kT0, nullptr, nullptr, &lease).allowed) continue;
                int now = sh->in_flight.fetch_add(1) + 1;
                int most = sh->most.load();
                while (now > most && !sh->most.compare_exchange_weak(most, now)) {
                }
                sh->admitted.fetch_add(1);
                sh->in_flight.fetch_sub(1);
                mine->release(lease.load());
            }
            _exit(0);
        }
        kids.push_back(pid);
    }
    for (pid_t pid : kids) {
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    EXPECT_LE(sh->most.load(), static_cast<int>(kLimit));
    EXPECT_GT(sh->admitted.load(), 0);
    // All given back: the limit is whole again.
    std::atomic<uint64_t> l{0};
    for (uint64_t i = 0; i < kLimit; ++i) EXPECT_TRUE(t.table->consume(p, k, kT0, nullptr, nullptr, &l).allowed) << i;
    EXPECT_FALSE(t.table->consume(p, k, kT0, nullptr, nullptr, &l).allowed);
    munmap(sh, sizeof(Shared));
}

// --- the limiter and the filter ----------------------------------------------------------------

class ConcurrencyLimiter : public ::testing::Test {
  protected:
    void SetUp() override {
        metrics_zone_ = shm::Zone::create("metrics", 1 << 20, metrics::kLayoutVersion);
        rl_zone_ = shm::Zone::create("ratelimit", 1 << 20, ratelimit::kLayoutVersion);
        ASSERT_TRUE(metrics_zone_ && rl_zone_);
        metrics_ = std::make_unique<metrics::Store>(*metrics_zone_);
    }
    void load(const std::string& text) {
        Diagnostics diags;
        auto c = load_config(dir_.write("gw.conf", std::string(kListener) + text), dir_.path(), diags);
        ASSERT_TRUE(c) << (diags.all().empty() ? "" : diags.all()[0].str());
        config_ = std::make_unique<Config>(std::move(*c));
        limiter_ = ratelimit::Limiter::create(*config_, *rl_zone_, *metrics_);
        ASSERT_TRUE(limiter_);
        filter_ = std::make_unique<ratelimit::RateLimitFilter>(*limiter_, *limiter_->route(0));
        chain_ = std::make_unique<http::FilterChain>();
        ASSERT_TRUE(chain_->add(filter_.get()));
    }
    uint64_t metric(const std::string& series) {
        std::string out;
        metrics_->render(out);
        size_t at = out.find(series + " ");
        return at == std::string::npos ? 0 : std::stoull(out.substr(at + series.size() + 1));
    }
    // A request from `ip` that stays in flight until its harness ends it.
    std::unique_ptr<test::FilterHarness> start(const std::string& ip, http::FilterStatus expect) {
        auto h = std::make_unique<test::FilterHarness>();
        h->set_client(ip);
        EXPECT_EQ(h->run(*chain_), expect) << ip;
        return h;
    }

    Dir dir_;
    std::unique_ptr<shm::Zone> metrics_zone_, rl_zone_;
    std::unique_ptr<metrics::Store> metrics_;
    std::unique_ptr<Config> config_;
    std::unique_ptr<ratelimit::Limiter> limiter_;
    std::unique_ptr<ratelimit::RateLimitFilter> filter_;
    std::unique_ptr<http::FilterChain> chain_;
};

TEST_F(ConcurrencyLimiter, AdmitsUpToTheLimitAndReleasesWhenARequestEnds) {
    load("rate_limits:\n  two: {key: ip, algorithm: concurrency, limit: 2}\n"
         "routes:\n  - {name: r, return: {}, rate_limit: two}\n");
    auto a = start("10.0.0.1", http::FilterStatus::Continue);
    EXPECT_EQ(a->response_headers(200), "") << "no RateLimit headers for a concurrency limit";
    auto b = start("10.0.0.1", http::FilterStatus::Continue);
    auto c = start("10.0.0.1", http::FilterStatus::Done);
    EXPECT_EQ(c->reply_status(), 429);
    EXPECT_NE(c->reply_body().find("too many requests in flight"), std::string::npos) << c->reply_body();
    EXPECT_EQ(c->response_headers(429), "") << "no Retry-After: nothing frees up at a known time";
    auto other = start("10.0.0.2", http::FilterStatus::Continue);  // a key of its own
    c->end();  // a rejected request gives back nothing it did not hold
    EXPECT_EQ(start("10.0.0.1", http::FilterStatus::Done)->reply_status(), 429);

    a->end();  // completed (or the client left, or a later filter answered: on_destroy in every case)
    auto d = start("10.0.0.1", http::FilterStatus::Continue);
    EXPECT_EQ(start("10.0.0.1", http::FilterStatus::Done)->reply_status(), 429);
    b->end();
    d->end();
    auto e = start("10.0.0.1", http::FilterStatus::Continue);
    auto f = start("10.0.0.1", http::FilterStatus::Continue);
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"two\",result=\"allowed\"}"), 6u);
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"two\",result=\"rejected\"}"), 3u);
}

TEST_F(ConcurrencyLimiter, StatusAndDryRun) {
    load("rate_limits:\n"
         "  one: {key: ip, algorithm: concurrency, limit: 1, status: 503}\n"
         "  watch: {key: global, algorithm: concurrency, limit: 1, dry_run: true}\n"
         "routes:\n  - {name: r, return: {}, rate_limit: [one, watch]}\n");
    auto a = start("10.0.0.1", http::FilterStatus::Continue);
    auto b = start("10.0.0.2", http::FilterStatus::Continue);  // over `watch`, which only counts
    auto c = start("10.0.0.1", http::FilterStatus::Done);
    EXPECT_EQ(c->reply_status(), 503);
    EXPECT_EQ(c->reply_body().find("\"status\":503"), 1u) << c->reply_body();
    // b, and c (which `one` rejects: a dry run tells what it would have done all the same).
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"watch\",result=\"dry_run_rejected\"}"), 2u);
    a->end();
    b->end();
    // `watch` held one (a's) and gave it back: b was never counted by it.
    auto d = start("10.0.0.3", http::FilterStatus::Continue);
    auto e = start("10.0.0.4", http::FilterStatus::Continue);
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"watch\",result=\"dry_run_rejected\"}"), 3u);
}

// With a rate policy on the same route: a request the rate rejects holds no request in flight.
TEST_F(ConcurrencyLimiter, ARequestAnotherPolicyRejectsHoldsNothing) {
    load("rate_limits:\n"
         "  one: {key: global, algorithm: concurrency, limit: 1}\n"
         "  rate: {key: ip, rate: 1/m}\n"
         "routes:\n  - {name: r, return: {}, rate_limit: [one, rate]}\n");
    start("10.0.0.1", http::FilterStatus::Continue);  // ends at once: released
    auto second = start("10.0.0.1", http::FilterStatus::Done);  // the rate says no
    EXPECT_EQ(second->reply_status(), 429);
    EXPECT_NE(second->response_headers(429).find("retry-after: "), std::string::npos)
        << "the rate policy's answer, with its Retry-After";
    auto held = start("10.0.0.2", http::FilterStatus::Continue);  // `one` was free: `second` held nothing
    auto third = start("10.0.0.3", http::FilterStatus::Done);
    EXPECT_EQ(third->response_headers(429), "") << "`one` rejects: no Retry-After";
    EXPECT_EQ(metric("gateway_ratelimit_decisions_total{policy=\"one\",result=\"rejected\"}"), 1u);
}

// A worker killed with requests in flight: the master settles its ledger, which gives its counts
// back; a new worker in the same slot starts with a ledger of its own.
TEST_F(ConcurrencyLimiter, ADeadWorkersLeasesAreGivenBack) {
    load("rate_limits:\n  two: {key: ip, algorithm: concurrency, limit: 2}\n"
         "routes:\n  - {name: r, return: {}, rate_limit: two}\n");
    uint64_t size = ratelimit::lease_zone_size(*config_);
    ASSERT_GT(size, 0u);
    auto leases = shm::Zone::create("ratelimit_leases", size, ratelimit::kLeaseLayoutVersion);
    ASSERT_TRUE(leases);
    ASSERT_TRUE(ratelimit::attach_leases(*leases));
    constexpr int kSlot = 7;
    std::unique_ptr<Ledger> ledger = Ledger::open(*leases, kSlot, ratelimit::ledger_words(*config_));
    ASSERT_TRUE(ledger);
    EXPECT_TRUE(ledger->shared());
    limiter_->set_ledger(std::move(ledger));

    // The "worker" admits two requests and dies: its requests never end.
    auto a = start("10.0.0.1", http::FilterStatus::Continue);
    auto b = start("10.0.0.1", http::FilterStatus::Continue);
    EXPECT_EQ(start("10.0.0.1", http::FilterStatus::Done)->reply_status(), 429);
    EXPECT_EQ(ratelimit::settle(*leases, nullptr, kSlot + 1), 0u) << "another slot holds nothing";

    // What the master does when it reaps the worker (module on_worker_exit), with its own view of
    // the counters.
    std::unique_ptr<Table> counters = Table::attach(*rl_zone_);
    EXPECT_EQ(ratelimit::settle(*leases, counters.get(), kSlot), 2u);
    EXPECT_EQ(ratelimit::settle(*leases, counters.get(), kSlot), 0u) << "settled once";

    // A fresh worker (a new limiter in the same slot) is admitted twice again.
    ratelimit::Limiter* dead = limiter_.release();  // its requests never end: as if it were gone
    (void)dead;
    a.release();
    b.release();
    limiter_ = ratelimit::Limiter::create(*config_, *rl_zone_, *metrics_);
    ASSERT_TRUE(limiter_);
    ledger = Ledger::open(*leases, kSlot, ratelimit::ledger_words(*config_));
    ASSERT_TRUE(ledger);
    limiter_->set_ledger(std::move(ledger));
    filter_ = std::make_unique<ratelimit::RateLimitFilter>(*limiter_, *limiter_->route(0));
    chain_ = std::make_unique<http::FilterChain>();
    ASSERT_TRUE(chain_->add(filter_.get()));
    auto c = start("10.0.0.1", http::FilterStatus::Continue);
    auto d = start("10.0.0.1", http::FilterStatus::Continue);
    EXPECT_EQ(start("10.0.0.1", http::FilterStatus::Done)->reply_status(), 429);
    c->end();
    d->end();
    EXPECT_EQ(ratelimit::settle(*leases, counters.get(), kSlot), 0u) << "requests that ended leave no lease";
}

TEST(ConcurrencyLedger, TakesEveryWordOnceAndRefusesWhenFull) {
    std::unique_ptr<Ledger> l = Ledger::local(3);
    EXPECT_FALSE(l->shared());
    uint32_t a = l->take(), b = l->take(), c = l->take();
    EXPECT_NE(a, b);
    EXPECT_NE(b, c);
    EXPECT_NE(a, c);
    EXPECT_EQ(l->take(), Ledger::kNone);
    l->word(b)->store(77);
    l->give_back(b);
    EXPECT_EQ(l->word(b)->load(), 0u) << "cleared";
    EXPECT_EQ(l->take(), b);
}

}  // namespace
}  // namespace gw
