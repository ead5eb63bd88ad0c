// What a worker's cache filters share: the stores of the cache zones, the requests waiting for a
// fill (coalescing), the capture buffers of responses being stored, the counters, and the
// notice to the other workers that a fill has ended.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "event/loop.h"
#include "modules/cache/config.h"
#include "modules/cache/store.h"

namespace gw::cache {

struct Counters {
    std::atomic<uint64_t>* hit = nullptr;
    std::atomic<uint64_t>* miss = nullptr;
    std::atomic<uint64_t>* expired = nullptr;
    std::atomic<uint64_t>* stale = nullptr;
    std::atomic<uint64_t>* updating = nullptr;
    std::atomic<uint64_t>* revalidated = nullptr;
    std::atomic<uint64_t>* bypass = nullptr;
    std::atomic<uint64_t>* coalesced = nullptr;   // requests that waited for another's fill
    std::atomic<uint64_t>* stored = nullptr;      // objects stored
    std::atomic<uint64_t>* stored_bytes = nullptr;
    std::atomic<uint64_t>* served_bytes = nullptr;  // body bytes served from the cache
    std::atomic<uint64_t>* not_stored = nullptr;  // too large, or no room
};

// A response being copied for the store.
struct Capture {
    std::string head;  // the stored head so far (without its Content-Length and end)
    std::string body;
    std::string vary;  // the Vary field names, lower-case, comma-separated ("" without Vary)
    Meta meta;
    bool too_large = false;
};

// One request paused for another's fill (its state lives in the filter's Ctx).
struct Waiter {
    uint64_t hash = 0;
    size_t zone = 0;
    event::Millis deadline = 0;
    std::function<void()> wake;  // (set once per waiter, from the filter)
};

class Runtime {
  public:
    Runtime(const Settings& settings, std::vector<std::unique_ptr<Store>> stores, event::Loop& loop,
            std::function<void(uint16_t)> tell_others);

    const Settings& settings() const { return settings_; }
    Store* store(size_t zone) { return zone < stores_.size() ? stores_[zone].get() : nullptr; }
    event::Loop& loop() { return loop_; }
    Counters& counters() { return counters_; }

    // Coalescing.
    void wait(Waiter* w);
    void stop_waiting(Waiter* w);
    // A fill of the key `hash` of zone `zone` ended here: its waiters here are woken, and the
    // other workers told (a notice carries the zone and 12 bits of the key's hash: a waiter of
    // another key with the same 12 bits looks again for nothing, and waits on).
    void fill_ended(size_t zone, uint64_t hash);
    // Another worker's fill ended (its notice, through the master).
    void on_notice(uint16_t code);
    static uint16_t notice_code(size_t zone, uint64_t hash) {
        return static_cast<uint16_t>(((zone & 0xF) << 12) | (hash & 0xFFF));
    }

    Capture* take_capture();
    void give_capture(Capture* c);

  private:
    // Wakes the waiters `match` says yes to.
    template <class Match>
    void wake(Match&& match);
    void arm();
    void on_timer();

    const Settings& settings_;
    std::vector<std::unique_ptr<Store>> stores_;
    event::Loop& loop_;
    std::function<void(uint16_t)> tell_others_;
    Counters counters_;
    std::vector<Waiter*> waiters_;
    event::Timer timer_;
    std::vector<std::unique_ptr<Capture>> captures_;
    std::vector<Capture*> idle_captures_;
};

}  // namespace gw::cache
