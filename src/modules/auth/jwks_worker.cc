#include "modules/auth/jwks_worker.h"

#include "core/log.h"
#include "modules/auth/config.h"
#include "modules/auth/jwks_zone.h"
#include "modules/auth/jwt/key.h"
#include "modules/auth/jwt_runtime.h"

namespace gw::auth {

RemoteKeys::RemoteKeys(JwtRuntime& runtime, const JwksSource& source, JwksTable& table, JwksRecord& record,
                       event::Loop& loop, std::function<void()> ask_master)
    : runtime_(runtime), source_(source), table_(table), record_(record), loop_(loop),
      ask_master_(std::move(ask_master)) {
    waiters_.prev = waiters_.next = &waiters_;
    timer_.set_callback([this] { expire(); });
    refresh();
}

RemoteKeys::~RemoteKeys() {
    // (The worker is going: its streams end without being woken.)
    while (waiters_.next != &waiters_) waiters_.next->unlink();
}

void RemoteKeys::refresh() {
    bool changed = false;
    uint64_t version = record_.version.load(std::memory_order_acquire);
    if (version != version_) {
        std::vector<jwt::Key> keys;
        std::vector<std::string> notes;
        std::string error;
        if (table_.read(record_, json_, version) && jwt::parse_jwks(json_, jwt::KeySetOptions{}, keys, notes, error)) {
            runtime_.set_keys(std::make_shared<const std::vector<jwt::Key>>(std::move(keys)));
            changed = true;
        } else if (!error.empty()) {
            LOG_ERROR("auth.jwt.%s: the published key set is unusable: %s", runtime_.provider().name.c_str(),
                      error.c_str());
        }
        version_ = version;
    }
    if (asking_ && record_.answers.load(std::memory_order_acquire) != asked_answers_) {
        asking_ = false;
        changed = true;
    }
    if (changed) wake_all();
}

RemoteKeys::Miss RemoteKeys::on_unknown_kid() {
    event::Millis now = loop_.now();
    // An ask the master never answered (it was not serving the node): ask again later.
    if (asking_ && now - asked_at_ > source_.timeout) asking_ = false;
    if (asking_) return Miss::Wait;
    if (asked_at_ >= 0 && now - asked_at_ < source_.kid_miss_interval) return Miss::GiveUp;
    asking_ = true;
    asked_at_ = now;
    asked_answers_ = record_.answers.load(std::memory_order_acquire);
    record_.refetch_wanted.store(1, std::memory_order_release);
    if (ask_master_) ask_master_();
    return Miss::Wait;
}

void RemoteKeys::wait(KidWaiter& w) {
    w.deadline = loop_.now() + source_.timeout;
    w.prev = waiters_.prev;
    w.next = &waiters_;
    waiters_.prev->next = &w;
    waiters_.prev = &w;
    if (!timer_.armed()) arm();
}

void RemoteKeys::arm() {
    if (waiters_.next == &waiters_) {
        loop_.cancel(timer_);
        return;
    }
    loop_.arm(timer_, std::max<event::Millis>(waiters_.next->deadline - loop_.now(), 0));
}

// Every waiter is checked again, on a list of its own: a request resumed now may end, and a
// next one on its connection may start waiting, while this runs.
void RemoteKeys::wake_all() {
    if (waiters_.next == &waiters_) return;
    KidWaiter woken;
    woken.next = waiters_.next;
    woken.prev = waiters_.prev;
    woken.next->prev = &woken;
    woken.prev->next = &woken;
    waiters_.prev = waiters_.next = &waiters_;
    while (woken.next != &woken) {
        KidWaiter& w = *woken.next;
        w.unlink();
        w.wake(w, false);
    }
    arm();
}

void RemoteKeys::expire() {
    event::Millis now = loop_.now();
    while (waiters_.next != &waiters_ && waiters_.next->deadline <= now) {
        KidWaiter& w = *waiters_.next;
        w.unlink();
        w.wake(w, true);
    }
    arm();
}

}  // namespace gw::auth
