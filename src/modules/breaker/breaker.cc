// Circuit breakers in shared memory: the records and the lock-free state machine.
//
// The zone holds a shm::KeyedIndex of records by (upstream, server). A record: its identity,
// the state word, two "until" times, the window's bucket length, then on a cache line of their
// own the window buckets. At most 256 bytes.
//
// The state word (64 bits):
//   bits  0..1   state (0 closed, 1 open, 2 half-open)
//   bits  2..15  consecutive failures (closed)
//   bits 16..27  probe tickets taken (half-open)
//   bits 28..39  probe successes (half-open)
//   bits 40..45  streak: openings since the last close (the back-off exponent + 1)
//   bits 46..63  sequence number, +1 on every transition
// Each transition is one CAS of the whole word, so its fields always agree with each other.
// The time that goes with a state (the end of an open period, or the stall deadline of a
// half-open round) is in until[seq & 1], written before the CAS that publishes the new sequence
// number (whose release orders it): a reader that loads the word (acquire) then reads the time of
// its own sequence number. Two processes racing for the same transition write the same slot with
// times a moment apart; whichever lands is right enough. The other slot still holds the time of
// the previous state for anyone who read the word before the CAS.
//
// A window bucket (64 bits): bits 48..63 the bucket's round (now / bucket_ms, modulo 2^16),
// bits 24..47 failures, bits 0..23 outcomes. A bucket whose round is not current is stale: the
// first writer of the new round replaces it with one CAS, so no count is lost at the boundary.
// The counts saturate at 2^24-1.
#include "modules/breaker/breaker.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace gw::breaker {

namespace {

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free (address-free)");

constexpr uint64_t kRootMagic = 0x314b5242475747ULL;  // "GWGBRK1"

constexpr int kFailsShift = 2, kFailsBits = 14;
constexpr int kTakenShift = 16, kTakenBits = 12;
constexpr int kOkShift = 28, kOkBits = 12;
constexpr int kStreakShift = 40, kStreakBits = 6;
constexpr int kSeqShift = 46, kSeqBits = 18;

constexpr uint64_t mask(int bits) { return (uint64_t{1} << bits) - 1; }

constexpr uint64_t kCountMask = mask(24);
constexpr uint64_t kRoundMask = mask(16);

struct Word {
    State state = State::Closed;
    uint32_t fails = 0;
    uint32_t taken = 0;
    uint32_t ok = 0;
    uint32_t streak = 0;
    uint32_t seq = 0;
};

Word unpack(uint64_t v) {
    Word w;
    w.state = static_cast<State>(v & 3);
    w.fails = static_cast<uint32_t>((v >> kFailsShift) & mask(kFailsBits));
    w.taken = static_cast<uint32_t>((v >> kTakenShift) & mask(kTakenBits));
    w.ok = static_cast<uint32_t>((v >> kOkShift) & mask(kOkBits));
    w.streak = static_cast<uint32_t>((v >> kStreakShift) & mask(kStreakBits));
    w.seq = static_cast<uint32_t>((v >> kSeqShift) & mask(kSeqBits));
    return w;
}

// Fields beyond their width saturate (the sequence number wraps).
uint64_t pack(const Word& w) {
    auto sat = [](uint32_t v, int bits) { return std::min<uint64_t>(v, mask(bits)); };
    return static_cast<uint64_t>(w.state) | sat(w.fails, kFailsBits) << kFailsShift |
           sat(w.taken, kTakenBits) << kTakenShift | sat(w.ok, kOkBits) << kOkShift |
           sat(w.streak, kStreakBits) << kStreakShift | (uint64_t{w.seq} & mask(kSeqBits)) << kSeqShift;
}

uint32_t next_seq(uint32_t seq) { return static_cast<uint32_t>((seq + 1) & mask(kSeqBits)); }


}  // namespace

struct Record {
    shm::KeyedHeader id;  // (upstream, server) in the zone's table
    std::atomic<uint64_t> word;
    std::atomic<int64_t> until[2];
    std::atomic<int64_t> bucket_ms;
    alignas(64) std::atomic<uint64_t> buckets[kBuckets];
};
static_assert(sizeof(Record) <= 256, "a record is one 256-byte slab slot");

std::string_view state_name(State s) {
    switch (s) {
        case State::Closed: return "closed";
        case State::Open: return "open";
        case State::HalfOpen: return "half-open";
    }
    return "closed";
}

std::string_view label_name(State s) { return s == State::HalfOpen ? "half_open" : state_name(s); }

// --- the table ------------------------------------------------------------------------------------

Table::Table(shm::Zone& zone) : index_(zone, kRootMagic) {}

Record* Table::find_or_create(std::string_view upstream, std::string_view server) {
    return index_.find_or_create<Record>(upstream, server);  // a new one: closed, no failures
}

// --- descriptions ---------------------------------------------------------------------------------

std::string describe(const Transition& t, const CircuitBreakerConfig& cfg) {
    std::string s(state_name(t.from));
    s += " -> ";
    s += state_name(t.to);
    s += " (";
    switch (t.reason) {
        case Reason::ConsecutiveFailures:
            s += std::to_string(t.failures) + " consecutive failures";
            break;
        case Reason::FailureRatio: {
            s += std::to_string(t.failures) + " of " + std::to_string(t.requests) + " requests failed in " +
                 format_duration(cfg.window);
            break;
        }
        case Reason::OpenElapsed:
            s += "open period over; " + std::to_string(cfg.half_open_probes) + " probe requests allowed";
            break;
        case Reason::ProbeFailed:
            s += "a probe request failed";
            break;
        case Reason::ProbesSucceeded:
            s += std::to_string(t.failures) + " probe requests succeeded";
            break;
        case Reason::ProbesStalled:
            s += "no verdict from the probe requests within " + format_duration(cfg.max_open_for) +
                 "; new round of probes";
            break;
    }
    if (t.to == State::Open) s += "; open for " + format_duration(t.open_for);
    s += ")";
    return s;
}

// --- the state machine ----------------------------------------------------------------------------

void Breaker::attach(Record* record, const CircuitBreakerConfig& cfg) {
    rec_ = record;
    cfg_ = cfg;
    bucket_ms_ = std::max<int64_t>(1, cfg.window / kBuckets);
    if (!rec_) return;
    // A window of another length (a reload changed it): the old buckets mean other rounds.
    if (rec_->bucket_ms.exchange(bucket_ms_, std::memory_order_relaxed) != bucket_ms_) reset_window();
}

int64_t Breaker::open_period(uint32_t streak) const {
    int64_t d = cfg_.open_for;
    for (uint32_t i = 1; i < streak && d < cfg_.max_open_for; ++i) d *= 2;
    return std::min(d, cfg_.max_open_for);
}

State Breaker::state() const {
    if (!rec_) return State::Closed;
    return unpack(rec_->word.load(std::memory_order_acquire)).state;
}

void Breaker::reset_window() {
    for (auto& b : rec_->buckets) b.store(0, std::memory_order_relaxed);
}

void Breaker::count(int64_t now, bool failure) {
    uint64_t round = static_cast<uint64_t>(now / bucket_ms_);
    uint64_t tag = round & kRoundMask;
    std::atomic<uint64_t>& b = rec_->buckets[round % kBuckets];
    uint64_t old = b.load(std::memory_order_relaxed);
    for (;;) {
        uint64_t requests = 0, failures = 0;
        if (old >> 48 == tag) {
            requests = old & kCountMask;
            failures = (old >> 24) & kCountMask;
        }
        if (requests < kCountMask) ++requests;
        if (failure && failures < kCountMask) ++failures;
        uint64_t v = tag << 48 | failures << 24 | requests;
        if (b.compare_exchange_weak(old, v, std::memory_order_relaxed)) return;
    }
}

void Breaker::window(int64_t now, uint32_t& requests, uint32_t& failures) const {
    requests = failures = 0;
    int64_t round = now / bucket_ms_;
    for (int k = 0; k < kBuckets && round - k >= 0; ++k) {
        uint64_t r = static_cast<uint64_t>(round - k);
        uint64_t v = rec_->buckets[r % kBuckets].load(std::memory_order_relaxed);
        if (v >> 48 != (r & kRoundMask)) continue;
        requests += static_cast<uint32_t>(v & kCountMask);
        failures += static_cast<uint32_t>((v >> 24) & kCountMask);
    }
}

bool Breaker::available(int64_t now) const {
    if (!rec_) return true;
    Word w = unpack(rec_->word.load(std::memory_order_acquire));
    switch (w.state) {
        case State::Closed: return true;
        case State::Open: return now >= rec_->until[w.seq & 1].load(std::memory_order_relaxed);
        case State::HalfOpen:
            return w.taken < cfg_.half_open_probes || now >= rec_->until[w.seq & 1].load(std::memory_order_relaxed);
    }
    return true;
}

int64_t Breaker::wait(int64_t now) const {
    if (!rec_) return 0;
    Word w = unpack(rec_->word.load(std::memory_order_acquire));
    if (w.state != State::Open) return 0;
    return std::max<int64_t>(0, rec_->until[w.seq & 1].load(std::memory_order_relaxed) - now);
}

bool Breaker::admit(int64_t now, Ticket& ticket, Transition& t) {
    ticket = {};
    if (!rec_) {
        ticket.admitted = true;
        return true;
    }
    uint64_t cur = rec_->word.load(std::memory_order_acquire);
    for (;;) {
        Word w = unpack(cur);
        Word n = w;
        Transition made;
        switch (w.state) {
            case State::Closed:
                ticket = {true, false, w.seq};
                return true;
            case State::Open:
                if (now < rec_->until[w.seq & 1].load(std::memory_order_relaxed)) return false;
                // The open period is over: this request is the first probe of a half-open round.
                n.state = State::HalfOpen;
                n.fails = n.ok = 0;
                n.taken = 1;
                n.seq = next_seq(w.seq);
                made = {true, State::Open, State::HalfOpen, Reason::OpenElapsed};
                break;
            case State::HalfOpen:
                if (w.taken >= cfg_.half_open_probes) {
                    if (now < rec_->until[w.seq & 1].load(std::memory_order_relaxed)) return false;
                    // Every ticket out and no verdict for max_open_for: start a new round.
                    n.ok = 0;
                    n.taken = 1;
                    n.seq = next_seq(w.seq);
                    made = {true, State::HalfOpen, State::HalfOpen, Reason::ProbesStalled};
                } else {
                    n.taken = w.taken + 1;
                }
                break;
        }
        // A new round: its stall deadline. Only the slot of the next sequence number is ever
        // written, so a store that loses the race cannot touch the time of the current state.
        if (n.seq != w.seq) rec_->until[n.seq & 1].store(now + cfg_.max_open_for, std::memory_order_relaxed);
        if (rec_->word.compare_exchange_weak(cur, pack(n), std::memory_order_acq_rel, std::memory_order_acquire)) {
            ticket = {true, true, n.seq};
            if (made) t = made;
            return true;
        }
    }
}

void Breaker::record(int64_t now, const Ticket& ticket, bool failure, Transition& t) {
    if (!rec_ || !ticket.admitted) return;
    uint64_t cur = rec_->word.load(std::memory_order_acquire);
    if (ticket.probe) {
        for (;;) {
            Word w = unpack(cur);
            if (w.state != State::HalfOpen || w.seq != ticket.seq) return;  // the round is over
            Word n = w;
            Transition made;
            if (failure) {
                n.state = State::Open;
                n.taken = n.ok = 0;
                n.streak = std::min<uint32_t>(w.streak + 1, mask(kStreakBits));
                n.seq = next_seq(w.seq);
                made = {true, State::HalfOpen, State::Open, Reason::ProbeFailed};
                made.open_for = open_period(n.streak);
                rec_->until[n.seq & 1].store(now + made.open_for, std::memory_order_relaxed);
            } else {
                n.ok = w.ok + 1;
                if (n.ok >= cfg_.close_after) {
                    n.state = State::Closed;
                    n.taken = n.ok = n.fails = n.streak = 0;
                    n.seq = next_seq(w.seq);
                    made = {true, State::HalfOpen, State::Closed, Reason::ProbesSucceeded};
                    made.failures = w.ok + 1;
                }
            }
            if (rec_->word.compare_exchange_weak(cur, pack(n), std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
                if (made.to == State::Closed) reset_window();  // a closed breaker starts afresh
                if (made) t = made;
                return;
            }
        }
    }

    Word w = unpack(cur);
    if (w.state != State::Closed || w.seq != ticket.seq) return;  // admitted before a transition
    if (cfg_.failure_ratio > 0) count(now, failure);
    if (!failure) {
        // The common case: no failure run to end, nothing to write.
        while (w.fails != 0) {
            Word n = w;
            n.fails = 0;
            if (rec_->word.compare_exchange_weak(cur, pack(n), std::memory_order_acq_rel, std::memory_order_acquire))
                return;
            w = unpack(cur);
            if (w.state != State::Closed || w.seq != ticket.seq) return;
        }
        return;
    }
    for (;;) {
        Word n = w;
        n.fails = w.fails + 1;
        Transition made;
        if (cfg_.consecutive_failures > 0 && n.fails >= cfg_.consecutive_failures) {
            made = {true, State::Closed, State::Open, Reason::ConsecutiveFailures};
            made.failures = n.fails;
        } else if (cfg_.failure_ratio > 0) {
            uint32_t requests, failures;
            window(now, requests, failures);
            if (requests >= cfg_.min_requests &&
                static_cast<double>(failures) >= cfg_.failure_ratio * static_cast<double>(requests)) {
                made = {true, State::Closed, State::Open, Reason::FailureRatio};
                made.failures = failures;
                made.requests = requests;
            }
        }
        if (made) {
            n.state = State::Open;
            n.fails = 0;
            n.streak = std::min<uint32_t>(w.streak + 1, mask(kStreakBits));
            n.seq = next_seq(w.seq);
            made.open_for = open_period(n.streak);
            rec_->until[n.seq & 1].store(now + made.open_for, std::memory_order_relaxed);
        }
        if (rec_->word.compare_exchange_weak(cur, pack(n), std::memory_order_acq_rel, std::memory_order_acquire)) {
            if (made) t = made;
            return;
        }
        w = unpack(cur);
        if (w.state != State::Closed || w.seq != ticket.seq) return;
    }
}

void Breaker::release(const Ticket& ticket) {
    if (!rec_ || !ticket.admitted || !ticket.probe) return;
    uint64_t cur = rec_->word.load(std::memory_order_acquire);
    for (;;) {
        Word w = unpack(cur);
        if (w.state != State::HalfOpen || w.seq != ticket.seq || w.taken == 0) return;
        Word n = w;
        n.taken = w.taken - 1;
        if (rec_->word.compare_exchange_weak(cur, pack(n), std::memory_order_acq_rel, std::memory_order_acquire))
            return;
    }
}

void Breaker::tick(int64_t now, Transition& t) {
    if (!rec_) return;
    uint64_t cur = rec_->word.load(std::memory_order_acquire);
    for (;;) {
        Word w = unpack(cur);
        if (w.state == State::Closed) return;
        if (now < rec_->until[w.seq & 1].load(std::memory_order_relaxed)) return;
        if (w.state == State::HalfOpen && w.taken < cfg_.half_open_probes) return;  // tickets left: not stalled
        Word n = w;
        n.state = State::HalfOpen;
        n.fails = n.taken = n.ok = 0;
        n.seq = next_seq(w.seq);
        Transition made{true, w.state, State::HalfOpen,
                        w.state == State::Open ? Reason::OpenElapsed : Reason::ProbesStalled};
        rec_->until[n.seq & 1].store(now + cfg_.max_open_for, std::memory_order_relaxed);
        if (rec_->word.compare_exchange_weak(cur, pack(n), std::memory_order_acq_rel, std::memory_order_acquire)) {
            t = made;
            return;
        }
    }
}

Snapshot Breaker::snapshot(int64_t now) const {
    Snapshot s;
    if (!rec_) return s;
    Word w = unpack(rec_->word.load(std::memory_order_acquire));
    s.state = w.state;
    s.consecutive = w.fails;
    s.probes_taken = w.taken;
    s.probes_succeeded = w.ok;
    s.streak = w.streak;
    s.seq = w.seq;
    s.until = w.state == State::Closed ? 0 : rec_->until[w.seq & 1].load(std::memory_order_relaxed);
    window(now, s.window_requests, s.window_failures);
    return s;
}

}  // namespace gw::breaker
