// One epoll loop per process (master and each worker), with timers.
//
// Timers live inside the objects that own them (a connection has one), are kept in a binary heap
// that records each timer's index, and are armed and cancelled in O(log n) without allocating.
// Re-arming an armed timer for later - a timeout renewed on activity, several times a request -
// costs no heap work: the timer keeps its earlier place and is moved when that place comes up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace gw::event {

using Millis = int64_t;

// Something registered for readiness events on a descriptor.
class IoHandler {
  public:
    virtual void on_io(uint32_t events) = 0;

  protected:
    ~IoHandler() = default;
};

class Loop;

class Timer {
  public:
    Timer() = default;
    explicit Timer(std::function<void()> cb) : cb_(std::move(cb)) {}
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    ~Timer();

    void set_callback(std::function<void()> cb) { cb_ = std::move(cb); }
    bool armed() const { return index_ != kNotArmed && due_ != kNever; }
    Millis deadline() const { return due_; }

  private:
    friend class Loop;
    static constexpr size_t kNotArmed = static_cast<size_t>(-1);
    static constexpr Millis kNever = INT64_MAX;  // due_ of a timer cancelled lazily
    bool in_heap() const { return index_ != kNotArmed; }
    std::function<void()> cb_;
    Loop* loop_ = nullptr;
    Millis deadline_ = 0;  // its key in the heap: never later than due_
    Millis due_ = 0;       // when it fires
    size_t index_ = kNotArmed;
};

class Loop {
  public:
    Loop();
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    bool ok() const { return epfd_ >= 0; }
    int epoll_fd() const { return epfd_; }

    bool add(int fd, uint32_t events, IoHandler* handler);
    bool modify(int fd, uint32_t events, IoHandler* handler);
    void remove(int fd);

    // (Re)arms `timer` to fire `delay` ms from now; re-arming an armed timer moves it.
    void arm(Timer& timer, Millis delay);
    void cancel(Timer& timer);
    // Cancels without heap work: the timer stays in the heap, inert, until its place comes up
    // or it is armed again (then for later: no heap work either) - for a timer armed and
    // cancelled on every request, such as a pooled proxy session's.
    void cancel_lazily(Timer& timer) {
        if (timer.in_heap()) timer.due_ = Timer::kNever;
    }
    size_t timer_count() const { return heap_.size(); }  // (lazily cancelled ones included)

    // Monotonic milliseconds, refreshed once per loop iteration (and by update_time()).
    Millis now() const { return now_; }
    Millis update_time();

    // Runs until stop(). Each iteration waits for I/O or the next timer, handles ready
    // descriptors, then expired timers.
    void run();
    void stop() { running_ = false; }

  private:
    void heap_up(size_t i);
    void heap_down(size_t i);
    void heap_remove(size_t i);
    void run_timers();

    int epfd_ = -1;
    bool running_ = false;
    Millis now_ = 0;
    std::vector<Timer*> heap_;
};

Millis monotonic_ms();

}  // namespace gw::event
