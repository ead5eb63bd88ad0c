#include "modules/cache/runtime.h"

#include <algorithm>

namespace gw::cache {

Runtime::Runtime(const Settings& settings, std::vector<std::unique_ptr<Store>> stores, event::Loop& loop,
                 std::function<void(uint16_t)> tell_others)
    : settings_(settings), stores_(std::move(stores)), loop_(loop), tell_others_(std::move(tell_others)) {
    timer_.set_callback([this] { on_timer(); });
}

void Runtime::wait(Waiter* w) {
    waiters_.push_back(w);
    if (!timer_.armed() || w->deadline < timer_.deadline()) loop_.arm(timer_, std::max<event::Millis>(0, w->deadline - loop_.now()));
}

void Runtime::stop_waiting(Waiter* w) {
    auto it = std::find(waiters_.begin(), waiters_.end(), w);
    if (it != waiters_.end()) {
        *it = waiters_.back();
        waiters_.pop_back();
    }
    if (waiters_.empty()) loop_.cancel(timer_);
}

// The waiters woken look again: answered from the new object, or (another key's fill, or a fill
// that failed) waiting again or going upstream.
template <class Match>
void Runtime::wake(Match&& match) {
    std::vector<Waiter*> due;
    for (size_t i = 0; i < waiters_.size();) {
        if (match(*waiters_[i])) {
            due.push_back(waiters_[i]);
            waiters_[i] = waiters_.back();
            waiters_.pop_back();
        } else {
            ++i;
        }
    }
    if (waiters_.empty()) loop_.cancel(timer_);
    for (Waiter* w : due) w->wake();  // (a waiter may wait again: it is pushed back)
}

void Runtime::fill_ended(size_t zone, uint64_t hash) {
    if (!waiters_.empty()) wake([&](const Waiter& w) { return w.hash == hash && w.zone == zone; });
    if (tell_others_) tell_others_(notice_code(zone, hash));
}

void Runtime::on_notice(uint16_t code) {
    if (!waiters_.empty()) wake([&](const Waiter& w) { return notice_code(w.zone, w.hash) == code; });
}

void Runtime::on_timer() {
    // The waiters past their lock_timeout go on; the others keep waiting.
    event::Millis now = loop_.now();
    std::vector<Waiter*> due;
    for (size_t i = 0; i < waiters_.size();) {
        if (waiters_[i]->deadline <= now) {
            due.push_back(waiters_[i]);
            waiters_[i] = waiters_.back();
            waiters_.pop_back();
        } else {
            ++i;
        }
    }
    arm();
    for (Waiter* w : due) w->wake();
}

void Runtime::arm() {
    if (waiters_.empty()) return;
    event::Millis next = waiters_[0]->deadline;
    for (Waiter* w : waiters_) next = std::min(next, w->deadline);
    loop_.arm(timer_, std::max<event::Millis>(0, next - loop_.now()));
}

Capture* Runtime::take_capture() {
    if (!idle_captures_.empty()) {
        Capture* c = idle_captures_.back();
        idle_captures_.pop_back();
        return c;
    }
    captures_.push_back(std::make_unique<Capture>());
    return captures_.back().get();
}

void Runtime::give_capture(Capture* c) {
    c->head.clear();
    c->body.clear();
    c->vary.clear();
    c->too_large = false;
    if (idle_captures_.size() >= 8) {  // after a burst, keep a few (a body's capacity may be large)
        auto it = std::find_if(captures_.begin(), captures_.end(), [c](const auto& p) { return p.get() == c; });
        if (it != captures_.end()) captures_.erase(it);
        return;
    }
    if (c->body.capacity() > (1u << 20)) c->body.shrink_to_fit();
    idle_captures_.push_back(c);
}

}  // namespace gw::cache
