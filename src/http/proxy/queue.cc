#include "http/proxy/queue.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "http/proxy/queue_wake.h"
#include "http/proxy/session.h"

namespace gw::http::proxy {

UpstreamQueue::UpstreamQueue(event::Loop& loop, const UpstreamConfig& config, metrics::OwnedGauge places,
                             int wake_fd)
    : loop_(loop), config_(config), places_(places), wake_fd_(wake_fd) {
    if (wake_fd_ < 0) {
        wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        own_fd_ = wake_fd_ >= 0;
    }
    serve_timer_.set_callback([this] { serve(); });
}

UpstreamQueue::~UpstreamQueue() {
    while (head_) leave(*head_);
    loop_.cancel(serve_timer_);
    watch(false);
    if (own_fd_) close(wake_fd_);
}

void UpstreamQueue::watch(bool on) {
    if (on == watching_ || wake_fd_ < 0) return;
    watching_ = on;
    if (on) loop_.add(wake_fd_, EPOLLIN, this);
    else loop_.remove(wake_fd_);
}

bool UpstreamQueue::enter(Session& s) {
    if (!places_.try_inc_below(config_.queue.size)) return false;
    s.queued_ = true;
    s.queue_prev_ = tail_;
    s.queue_next_ = nullptr;
    if (tail_) tail_->queue_next_ = &s;
    else head_ = &s;
    tail_ = &s;
    ++count_;
    watch(true);
    // The place is taken: now try once more (a slot freed before it was taken woke nobody).
    // Deferred to this loop iteration's timers, so that no session starts inside another's call.
    loop_.arm(serve_timer_, 0);
    return true;
}

void UpstreamQueue::leave(Session& s) {
    if (!s.queued_) return;
    s.queued_ = false;
    (s.queue_prev_ ? s.queue_prev_->queue_next_ : head_) = s.queue_next_;
    (s.queue_next_ ? s.queue_next_->queue_prev_ : tail_) = s.queue_prev_;
    s.queue_prev_ = s.queue_next_ = nullptr;
    --count_;
    places_.release();
    if (!head_) {
        watch(false);
        loop_.cancel(serve_timer_);
    }
}

void UpstreamQueue::serve() {
    // A session that starts leaves the queue first; one that cannot start keeps its place,
    // and those behind it wait too (FIFO).
    while (head_ && head_->resume_from_queue()) {
    }
}

void UpstreamQueue::slot_freed() {
    if (head_) loop_.arm(serve_timer_, 0);
    // Waiters elsewhere: the node holds more places than this worker.
    if (places_.value_seq_cst() > static_cast<int64_t>(count_)) queue_wake::wake(wake_fd_);
}

void UpstreamQueue::wake_all() {
    if (places_.value_seq_cst() > 0) queue_wake::wake(wake_fd_);
}

void UpstreamQueue::on_io(uint32_t) {
    uint64_t n;
    while (read(wake_fd_, &n, sizeof n) < 0 && errno == EINTR) {
    }
    serve();
    // The wake-up is off the eventfd now: if no waiter of ours is left to use what was freed
    // while others still wait, pass it on (this worker no longer watches, so not to itself).
    if (!head_ && places_.value_seq_cst() > 0) queue_wake::wake(wake_fd_);
}

}  // namespace gw::http::proxy
