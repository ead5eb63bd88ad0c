// Password checks off the event loop: one small thread per worker process runs crypt_rn(3)
// (libxcrypt) for basic auth. A bcrypt check costs tens of milliseconds - on the loop it would
// stall every connection of the worker - so the filter queues the check here and pauses; the
// thread computes it and wakes the loop through an eventfd, and the loop calls the requester
// back. One thread (not a pool): the checks of a worker are serialised, which also bounds the
// CPU a password guesser can burn.
//
// Jobs live in a fixed array of slots made at start (no allocation per check); a full array
// refuses the check (the filter answers 503). A ticket names a job; cancelling it (the client
// left) drops the answer - the thread may still be computing it, and the slot is freed when it
// is done. Passwords are wiped from the slots and the thread's buffers once checked.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "event/loop.h"

namespace gw::auth {

class CryptWorker final : public event::IoHandler {
  public:
    // Called on the loop with the check's outcome (the password matches the hash).
    using Done = void (*)(void* owner, bool ok);
    static constexpr size_t kMaxPassword = 1024;  // longer ones are not checked (the filter's 401)

    CryptWorker(event::Loop& loop, size_t capacity);
    ~CryptWorker();
    CryptWorker(const CryptWorker&) = delete;
    CryptWorker& operator=(const CryptWorker&) = delete;

    // Starts the thread (signals blocked in it: they stay the loop's). False, with `error`, when
    // the eventfd or the thread cannot be made.
    bool start(std::string& error);

    // Queues a check of `password` against `hash` (a crypt(3) string that outlives the job).
    // The ticket, or 0 when every slot is taken (or the password is too long).
    uint64_t submit(const std::string& hash, std::string_view password, Done done, void* owner);
    // The job's answer is never delivered. Harmless for a ticket already answered.
    void cancel(uint64_t ticket);

    size_t queued() const;  // jobs not yet answered (tests)

    void on_io(uint32_t events) override;

  private:
    enum class State : uint8_t { Free, Queued, Running, Finished };
    struct Job {
        State state = State::Free;
        bool cancelled = false;
        bool ok = false;
        uint32_t serial = 0;
        const std::string* hash = nullptr;
        std::string password;  // capacity kept; wiped after use
        Done done = nullptr;
        void* owner = nullptr;
    };

    void run();

    event::Loop& loop_;
    int event_fd_ = -1;
    std::vector<Job> jobs_;
    std::vector<uint32_t> queue_;     // ring of queued slot indices (capacity slots)
    size_t queue_head_ = 0, queue_size_ = 0;
    std::vector<uint32_t> finished_;  // slots answered by the thread, for the loop
    std::vector<uint32_t> draining_;  // the loop's copy (capacity kept)
    size_t busy_ = 0;                 // slots not Free
    mutable std::mutex mutex_;        // held for queue and slot bookkeeping only, never across crypt
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace gw::auth
