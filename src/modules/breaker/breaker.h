// Circuit breakers: one per upstream server, kept in a shared-memory zone ("breaker") so that
// every worker - of every generation, and of the next binary after an upgrade - sees and drives
// the same breaker. A server's breaker is found by its upstream's name and its address, never
// by an index, so a reload that reorders or adds servers keeps each breaker's state.
//
// The state machine (every transition is made by one compare-and-swap on the record's state
// word; the process whose CAS succeeds is the one that logs it):
//
//   closed     requests flow. Each outcome is counted in a rolling window of kBuckets buckets
//              over `window`. A failure opens the breaker when it is the consecutive_failures-th
//              in a row, or when the window then holds at least min_requests outcomes of which
//              at least failure_ratio failed.
//   open       no request is sent to the server. After the open period (open_for, doubled for
//              every consecutive opening without a close in between, capped at max_open_for)
//              the next request, or the next tick, turns it half-open.
//   half-open  half_open_probes tickets, shared by all workers, are handed out one per request
//              (CAS on the state word); a request without a ticket skips the server. A probe
//              that fails re-opens the breaker (with the back-off); close_after probe successes
//              close it (the back-off and the window start over). A probe that ends without an
//              outcome (the client went away) gives its ticket back; if every ticket is out and
//              there is no verdict max_open_for after the round began (a worker died with
//              probes in flight), a new round of tickets starts.
//
// Outcomes are tied to the state they were admitted in (the word's sequence number): a request
// admitted before a transition does not count after it, so a slow request from the closed
// period cannot close or re-open a half-open breaker.
//
// Cost: choosing a closed server reads one atomic word; a success adds one CAS on a window
// bucket (none when failure_ratio is 0) and writes the state word only when it ends a run of
// failures. No lock is taken after attach(); the zone mutex guards only the record table.
//
// Times are CLOCK_MONOTONIC milliseconds (the event loop's clock), the same in every process of
// the machine; every call takes `now`, so tests drive the clock themselves.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/config/config.h"
#include "core/shm/keyed_records.h"
#include "core/shm/zone.h"

namespace gw::breaker {

constexpr uint32_t kLayoutVersion = 2;
// Records take 256 bytes (plus their key): a 2 MiB zone holds about 7000 servers. Records of
// servers removed from the configuration stay until the zone is created afresh.
constexpr uint64_t kZoneSize = 2ull << 20;
constexpr int kBuckets = 10;

enum class State : uint8_t { Closed = 0, Open = 1, HalfOpen = 2 };
// "closed", "open", "half-open" (logs); label_name() gives "half_open" (metric labels).
std::string_view state_name(State s);
std::string_view label_name(State s);

struct Record;  // a server's breaker, in the zone

// The records of a zone, found by (upstream, server address).
class Table {
  public:
    // Attaches to `zone`, creating the table in it on first use (under the zone mutex).
    explicit Table(shm::Zone& zone);
    // Finds or creates the record; nullptr when the zone is full. Takes the zone mutex.
    Record* find_or_create(std::string_view upstream, std::string_view server);

  private:
    shm::KeyedIndex index_;
};

enum class Reason : uint8_t {
    ConsecutiveFailures,  // closed -> open
    FailureRatio,         // closed -> open
    OpenElapsed,          // open -> half-open
    ProbeFailed,          // half-open -> open
    ProbesSucceeded,      // half-open -> closed
    ProbesStalled,        // half-open -> half-open (a new round of tickets)
};

// A transition made by a call (the caller logs it and counts it).
struct Transition {
    bool happened = false;
    State from = State::Closed;
    State to = State::Closed;
    Reason reason = Reason::ConsecutiveFailures;
    uint32_t failures = 0;   // in a row, in the window, or probe successes (ProbesSucceeded)
    uint32_t requests = 0;   // FailureRatio: outcomes in the window
    int64_t open_for = 0;    // to Open: the open period
    explicit operator bool() const { return happened; }
};

// "closed -> open (10 consecutive failures; open for 30s)".
std::string describe(const Transition& t, const CircuitBreakerConfig& cfg);

// A request let through by admit(); its outcome goes to record() or release().
struct Ticket {
    bool admitted = false;
    bool probe = false;   // a half-open ticket
    uint32_t seq = 0;     // the state it was admitted in
};

// What the state word and the window hold now (for tests, metrics and Retry-After).
struct Snapshot {
    State state = State::Closed;
    uint32_t consecutive = 0;      // failures in a row (closed)
    uint32_t probes_taken = 0;     // half-open
    uint32_t probes_succeeded = 0; // half-open
    uint32_t streak = 0;           // openings since the last close (back-off exponent + 1)
    uint32_t seq = 0;
    int64_t until = 0;             // open: end of the open period; half-open: stall deadline
    uint32_t window_requests = 0;
    uint32_t window_failures = 0;
};

// One process's handle on one server's breaker: the settings of its generation and the record.
// A handle without a record (not attached, or the zone was full) lets everything through.
class Breaker {
  public:
    void attach(Record* record, const CircuitBreakerConfig& cfg);
    bool enabled() const { return rec_ != nullptr; }
    const CircuitBreakerConfig& config() const { return cfg_; }

    // Whether the server may be chosen now, without changing anything: closed; open with its
    // period over; half-open with a ticket left (or a stalled round).
    bool available(int64_t now) const;
    // The balancer chose the server: lets the request through (taking a probe ticket when
    // half-open, turning an open breaker whose period is over half-open first). False when the
    // server is not available after all (another worker got there first).
    bool admit(int64_t now, Ticket& ticket, Transition& t);
    // The outcome of an admitted request.
    void record(int64_t now, const Ticket& ticket, bool failure, Transition& t);
    // An admitted request ended with no outcome: a probe gives its ticket back.
    void release(const Ticket& ticket);
    // Time-driven transitions: open -> half-open when the period is over; a stalled half-open
    // round starts again.
    void tick(int64_t now, Transition& t);

    State state() const;
    Snapshot snapshot(int64_t now) const;
    // How long an open breaker has still to wait (0 when it is not open, or its time is up).
    int64_t wait(int64_t now) const;
    // The open period after `streak` consecutive openings: open_for * 2^(streak-1), capped.
    int64_t open_period(uint32_t streak) const;

  private:
    void count(int64_t now, bool failure);
    void window(int64_t now, uint32_t& requests, uint32_t& failures) const;
    void reset_window();

    Record* rec_ = nullptr;
    CircuitBreakerConfig cfg_;
    int64_t bucket_ms_ = 1000;
};

}  // namespace gw::breaker
