#include "event/loop.h"

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"

namespace gw::event {

Millis monotonic_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<Millis>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Timer::~Timer() {
    if (loop_ && in_heap()) loop_->cancel(*this);
}

Loop::Loop() : epfd_(epoll_create1(EPOLL_CLOEXEC)), now_(monotonic_ms()) {}

Loop::~Loop() {
    for (Timer* t : heap_) t->index_ = Timer::kNotArmed;
    if (epfd_ >= 0) close(epfd_);
}

bool Loop::add(int fd, uint32_t events, IoHandler* handler) {
    struct epoll_event ev{};
    ev.events = events;
    ev.data.ptr = handler;
    return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool Loop::modify(int fd, uint32_t events, IoHandler* handler) {
    struct epoll_event ev{};
    ev.events = events;
    ev.data.ptr = handler;
    return epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void Loop::remove(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

Millis Loop::update_time() { return now_ = monotonic_ms(); }

void Loop::arm(Timer& timer, Millis delay) {
    timer.loop_ = this;
    timer.due_ = now_ + (delay < 0 ? 0 : delay);
    if (timer.in_heap()) {
        // Later than its place in the heap: it stays there until that comes (run_timers).
        if (timer.due_ >= timer.deadline_) return;
        timer.deadline_ = timer.due_;
        heap_up(timer.index_);
        return;
    }
    timer.deadline_ = timer.due_;
    timer.index_ = heap_.size();
    heap_.push_back(&timer);
    heap_up(timer.index_);
}

void Loop::cancel(Timer& timer) {
    if (timer.in_heap()) heap_remove(timer.index_);
}

void Loop::heap_up(size_t i) {
    Timer* t = heap_[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap_[parent]->deadline_ <= t->deadline_) break;
        heap_[i] = heap_[parent];
        heap_[i]->index_ = i;
        i = parent;
    }
    heap_[i] = t;
    t->index_ = i;
}

void Loop::heap_down(size_t i) {
    Timer* t = heap_[i];
    size_t n = heap_.size();
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && heap_[child + 1]->deadline_ < heap_[child]->deadline_) ++child;
        if (t->deadline_ <= heap_[child]->deadline_) break;
        heap_[i] = heap_[child];
        heap_[i]->index_ = i;
        i = child;
    }
    heap_[i] = t;
    t->index_ = i;
}

void Loop::heap_remove(size_t i) {
    Timer* removed = heap_[i];
    Timer* last = heap_.back();
    heap_.pop_back();
    removed->index_ = Timer::kNotArmed;
    if (last == removed) return;
    heap_[i] = last;
    last->index_ = i;
    heap_up(i);
    heap_down(last->index_);
}

void Loop::run_timers() {
    while (!heap_.empty() && heap_.front()->deadline_ <= now_) {
        Timer* t = heap_.front();
        if (t->due_ > now_) {
            if (t->due_ == Timer::kNever) {  // cancelled lazily: leaves now
                heap_remove(0);
                continue;
            }
            t->deadline_ = t->due_;  // re-armed for later since it took this place: to its real one
            heap_down(0);
            continue;
        }
        heap_remove(0);
        if (t->cb_) t->cb_();  // may re-arm itself or destroy its owner
    }
}

void Loop::run() {
    running_ = true;
    constexpr int kMaxEvents = 256;
    struct epoll_event events[kMaxEvents];
    while (running_) {
        int timeout = -1;
        if (!heap_.empty()) {
            Millis d = heap_.front()->deadline_ - now_;
            timeout = d <= 0 ? 0 : static_cast<int>(d > 60000 ? 60000 : d);
        }
        int n = epoll_wait(epfd_, events, kMaxEvents, timeout);
        if (n < 0 && errno != EINTR) {
            LOG_ALERT("epoll_wait() failed: %m");
            return;
        }
        update_time();
        for (int i = 0; i < n; ++i)
            static_cast<IoHandler*>(events[i].data.ptr)->on_io(events[i].events);
        run_timers();
    }
}

}  // namespace gw::event
