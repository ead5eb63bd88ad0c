// One worker's side of an upstream's queue (`queue: {size, timeout}`): the requests that found
// every server at its max_conns and wait for a slot.
//
// The places are counted across workers (an OwnedGauge taken with an exact CAS, given back by
// the master for a worker that dies); the waiting sessions themselves are this worker's, in a
// FIFO linked through the sessions (no allocation). A slot freed by this worker first serves
// its own oldest waiters; when the node has more waiters than this worker, the upstream's
// eventfd (queue_wake.h) tells the others, who watch it only while they have waiters.
//
// No lost wake-up: a waiter takes its place (seq_cst) and then tries for a slot once more; a
// releaser gives its slot back (seq_cst) and then reads the places. One of the two sees the
// other. A worker that drained the eventfd and ran out of waiters passes the wake-up on.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "event/loop.h"

namespace gw::http::proxy {

class Session;

class UpstreamQueue final : public event::IoHandler {
  public:
    // `wake_fd`: the upstream's eventfd shared with the other workers, or -1 for one of our own
    // (no master: a single process).
    UpstreamQueue(event::Loop& loop, const UpstreamConfig& config, metrics::OwnedGauge places, int wake_fd);
    ~UpstreamQueue();
    UpstreamQueue(const UpstreamQueue&) = delete;
    UpstreamQueue& operator=(const UpstreamQueue&) = delete;

    bool has_waiters() const { return head_ != nullptr; }
    size_t waiting_here() const { return count_; }
    int64_t waiting_total() const { return places_.value(); }
    event::Millis timeout() const { return config_.queue.timeout; }

    // Takes a place (across workers) and appends `s`; false when the queue is full.
    bool enter(Session& s);
    // Unlinks `s` and gives its place back (when it starts, times out or goes away).
    void leave(Session& s);
    // Starts this worker's waiters, oldest first, while they find a server with room.
    void serve();
    // This worker gave back a slot of one of the upstream's servers: its own waiters try on
    // this loop iteration, the other workers' are woken when there are any.
    void slot_freed();
    // Every worker's waiters try again (a slot given back where serving it here is unsafe).
    void wake_all();
    // The eventfd: another worker freed a slot (or the master settled a dead worker's).
    void on_io(uint32_t events) override;

  private:
    void watch(bool on);

    event::Loop& loop_;
    const UpstreamConfig& config_;
    metrics::OwnedGauge places_;  // gateway_upstream_queue_waiting: all workers
    int wake_fd_ = -1;
    bool own_fd_ = false;
    bool watching_ = false;
    event::Timer serve_timer_;  // serve() on this loop iteration, outside any session's call
    Session* head_ = nullptr;
    Session* tail_ = nullptr;
    size_t count_ = 0;
};

}  // namespace gw::http::proxy
