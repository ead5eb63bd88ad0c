// A remote key set in one worker: the keys of the set the master published (jwks_zone.h),
// parsed again when its version moves, and the requests that wait for a refetch because their
// token's kid is not in the set.
//
// A kid miss asks the master for a refetch (at most once per kid_miss_interval per worker; the
// master decides for the node) and pauses the request until the master answers - a new set, or
// word that no newer set is coming - or `timeout` passes. A miss while an answer came within
// kid_miss_interval is refused at once: the set was just fetched and the kid is not in it.
// Waiting requests are an intrusive list through their own state (no allocation per request).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "event/loop.h"

namespace gw::auth {

class JwtRuntime;
class JwksTable;
struct JwksRecord;
struct JwksSource;

// A request waiting for a refetch: a node in its own per-request state.
struct KidWaiter {
    KidWaiter* prev = nullptr;
    KidWaiter* next = nullptr;
    event::Millis deadline = 0;
    void* owner = nullptr;  // the request's state, for `wake`
    // Called once, from the event loop, after the node was unlinked: the set changed or the
    // master answered (timed_out false: check the token again), or `timeout` passed.
    void (*wake)(KidWaiter& w, bool timed_out) = nullptr;

    bool linked() const { return next != nullptr; }
    void unlink() {
        if (!next) return;
        prev->next = next;
        next->prev = prev;
        prev = next = nullptr;
    }
};

class RemoteKeys {
  public:
    RemoteKeys(JwtRuntime& runtime, const JwksSource& source, JwksTable& table, JwksRecord& record,
               event::Loop& loop, std::function<void()> ask_master);
    ~RemoteKeys();
    RemoteKeys(const RemoteKeys&) = delete;
    RemoteKeys& operator=(const RemoteKeys&) = delete;

    // At start and on every notification from the master: a new version becomes the runtime's
    // keys; an answer to our refetch (or new keys) wakes the waiting requests.
    void refresh();

    enum class Miss : uint8_t { Wait, GiveUp };
    // A token's kid is not in the set (or there is no set yet): wait for a refetch, or not.
    Miss on_unknown_kid();
    // Appends `w` (Miss::Wait was said); it is woken by refresh() or when `timeout` passes.
    void wait(KidWaiter& w);

  private:
    void wake_all();
    void expire();
    void arm();

    JwtRuntime& runtime_;
    const JwksSource& source_;
    JwksTable& table_;
    JwksRecord& record_;
    event::Loop& loop_;
    std::function<void()> ask_master_;
    uint64_t version_ = 0;          // the version the runtime's keys are of
    bool asking_ = false;           // a refetch was asked and not answered yet
    uint64_t asked_answers_ = 0;    // the record's answers when we asked
    event::Millis asked_at_ = -1;   // -1: never
    KidWaiter waiters_;             // sentinel of a circular list, by deadline
    event::Timer timer_;
    std::string json_;              // scratch
};

}  // namespace gw::auth
