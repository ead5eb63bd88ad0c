// Metric series kept in a shared-memory zone, so that every worker adds to the same counters and
// `/metrics`, served by any one worker, is one consistent view of the whole node.
//
// Series are created under the zone mutex (rarely: when a generation starts, or the first time a
// route answers with a new status) and then updated lock-free through the returned pointers, which
// stay valid for the life of the zone. Series are never removed: a Prometheus counter must not go
// backwards, even when a reload drops the route it counts.
//
// Gauges that workers move up and down for what they hold (upstream connections, requests in
// flight) are OwnedGauges: besides the shared total, each process keeps its own net share in a
// ledger in the zone, published in its status-board slot. A worker killed with SIGKILL cannot
// undo its share; the master settles the dead worker's ledger instead (settle_ledger), so the
// totals stay exact and least_conn does not shun a server for requests nobody holds any more.
#pragma once

#include <atomic>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/shm/zone.h"

namespace gw::metrics {

constexpr uint32_t kLayoutVersion = 2;  // 2: per-process gauge ledgers
constexpr size_t kMaxBuckets = 16;

enum class Type : uint8_t { Counter, Gauge, Histogram };

// Upper bounds, in seconds, of the request-duration histograms (the gateway's own request time
// and the upstream's response time): one array, so that the two can be compared bucket by bucket.
inline constexpr double kRequestSecondsBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static_assert(std::size(kRequestSecondsBuckets) <= kMaxBuckets);

// A histogram in shared memory: cumulative rendering is done at scrape time; observe() touches
// one bucket, the count and the sum.
struct Histogram {
    uint32_t bucket_count;                       // finite upper bounds; +Inf is implicit
    double bounds[kMaxBuckets];                  // seconds, ascending
    std::atomic<uint64_t> buckets[kMaxBuckets + 1];  // non-cumulative; last is +Inf
    std::atomic<uint64_t> count;
    std::atomic<uint64_t> sum_micros;            // sum of observations in microseconds

    void observe_micros(uint64_t micros);
};

// A gauge this process moves for what it holds, with its own share kept in its ledger (see
// Store::owned_gauge). A cheap value type; a default-constructed (or failed) one counts nothing.
// Updated by one thread of one process only: the ledger entry has a single writer.
class OwnedGauge {
  public:
    OwnedGauge() = default;

    // Two relaxed operations: the shared total (an RMW, other workers add to it too), then this
    // process's entry (a plain load and store, it is the only writer). A SIGKILL landing in the
    // couple of instructions between the two leaves this one delta in the total but not in the
    // ledger, so settling is off by it. Closing the window would need both words updated as
    // one, i.e. no shared total: /metrics and least_conn summing every worker's share per read.
    void add(int64_t delta) {
        if (!total_) return;
        total_->fetch_add(delta, std::memory_order_relaxed);
        mine_->store(mine_->load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
    }
    void inc() { add(1); }
    void dec() { add(-1); }

    // An exact bound across processes (max_conns, the upstream queues): adds one only if the
    // total is below `limit`, with a CAS loop on the total. Sequentially consistent, as is
    // release(), so that "register, then try again" on one side and "release, then look for
    // registered waiters" on the other cannot both miss (src/http/proxy/queue.h). An empty
    // gauge (the zone was full) has no total to bound: it says yes and counts nothing.
    // The ledger moves first here and last in release(): a SIGKILL between the two words then
    // leaves the total one short after settling (one request over the limit), never one slot
    // lost for good (with max_conns: 1, a server nobody could use again).
    bool try_inc_below(int64_t limit) {
        if (!total_) return true;
        int64_t mine = mine_->load(std::memory_order_relaxed);
        mine_->store(mine + 1, std::memory_order_relaxed);
        int64_t v = total_->load(std::memory_order_seq_cst);
        do {
            if (v >= limit) {
                mine_->store(mine, std::memory_order_relaxed);
                return false;
            }
        } while (!total_->compare_exchange_weak(v, v + 1, std::memory_order_seq_cst));
        return true;
    }
    // Gives back what try_inc_below() took.
    void release() {
        if (!total_) return;
        total_->fetch_sub(1, std::memory_order_seq_cst);
        mine_->store(mine_->load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
    // The total, read in the same order as try_inc_below() and release().
    int64_t value_seq_cst() const { return total_ ? total_->load(std::memory_order_seq_cst) : 0; }

    // The total across all processes, and this process's share of it.
    int64_t value() const { return total_ ? total_->load(std::memory_order_relaxed) : 0; }
    int64_t mine() const { return mine_ ? mine_->load(std::memory_order_relaxed) : 0; }
    // The shared total, for readers that take a pointer (the balancer); nullptr when this gauge
    // counts nothing. Writing through it would bypass the ledger.
    std::atomic<int64_t>* shared() const { return total_; }
    explicit operator bool() const { return total_ != nullptr; }

  private:
    friend class Store;
    OwnedGauge(std::atomic<int64_t>* total, std::atomic<int64_t>* mine)
        : total_(total), mine_(mine) {}

    std::atomic<int64_t>* total_ = nullptr;  // the series' value, in the zone
    std::atomic<int64_t>* mine_ = nullptr;   // this process's ledger entry, in the zone
};

class Store {
  public:
    // Attaches to `zone`, creating the store's root in it on first use (under the zone mutex).
    explicit Store(shm::Zone& zone);
    // A Store that was never given a ledger home settles its own ledger: nobody else can find
    // it. With a home, the ledger outlives the Store; whoever reads the home settles it.
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // Find-or-create. `labels` is the inside of the braces, already escaped, e.g.
    // `route="hello",code="200"`, or empty. `help` is used when the family is first created.
    // Return nullptr when the zone is full (the caller then just does not count).
    std::atomic<uint64_t>* counter(std::string_view name, std::string_view labels,
                                   std::string_view help);
    std::atomic<int64_t>* gauge(std::string_view name, std::string_view labels,
                                std::string_view help);
    Histogram* histogram(std::string_view name, std::string_view labels, std::string_view help,
                         std::span<const double> bounds_seconds);

    // Find-or-create a gauge series as gauge() does, and an entry for it in this process's
    // ledger (the same entry again when this Store already has one for the series). Returns an
    // empty OwnedGauge when the zone is full. A Store's ledger belongs to the process that made
    // the Store: a child of fork() makes its own Store.
    OwnedGauge owned_gauge(std::string_view name, std::string_view labels, std::string_view help);

    // Where this process's ledger is published (the zone offset of its first block), for
    // settle_ledger() after the process is gone: a word that outlives it, such as its
    // WorkerSlot::gauge_ledger. Call it before moving any owned gauge. A ledger found still
    // published there belonged to a process that is gone and was never settled: it is settled.
    void set_ledger_home(std::atomic<uint64_t>* home);

    // Undoes what a gone process added to its owned gauges and frees its ledger. `ledger` is the
    // offset its home held (take it with exchange(0), so that it is settled once); 0 does
    // nothing. The process must be dead (reaped), or be this one with no OwnedGauge in use.
    void settle_ledger(uint64_t ledger);

    // Prometheus text exposition format 0.0.4: one HELP and TYPE line per family, then its
    // series in creation order. Appends to `out`.
    void render(std::string& out) const;

    // The same families as JSON (the admin /status/live): an array of
    //   {"name":..,"type":"counter"|"gauge"|"histogram","help":..,"series":[..]}
    // with each series {"labels":{"route":"x",..},"value":N}, or for a histogram
    // {"labels":{..},"le":[bounds..],"buckets":[cumulative counts.., the +Inf one],"sum":S,
    // "count":N}. Label values are unescaped from the exposition format and escaped as JSON.
    // Appends to `out`.
    void render_json(std::string& out) const;

  private:
    uint64_t new_ledger_entry(uint64_t gauge_offset);  // under the zone mutex

    shm::Zone& zone_;
    // This process's ledger: blocks linked from head_ (what the home publishes); entries are
    // appended to the tail block. The index finds an existing entry by the gauge's offset.
    std::atomic<uint64_t>* ledger_home_ = nullptr;
    uint64_t ledger_head_ = 0;
    uint64_t ledger_tail_ = 0;
    std::unordered_map<uint64_t, uint64_t> ledger_index_;  // gauge value offset -> entry offset
};

// Escapes a label value for the exposition format (backslash, double quote, newline).
std::string escape_label_value(std::string_view value);

// Appends the inside of a series' braces (`route="a\"b",code="200"`, as escape_label_value
// wrote the values) as a JSON object: {"route":"a\"b","code":"200"}. Text that is not in that
// form (never written by the gateway) is kept whole as the value of a member "_labels".
void append_labels_json(std::string& out, std::string_view labels);

}  // namespace gw::metrics
