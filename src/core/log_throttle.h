// A repeated warning written once per interval with a count, instead of once per request: a
// backend restart must not write a line for every request that met it ("... (and 2093 more like
// it in the last 5s)"). One throttle per message and subject (an upstream, a server); each
// worker has its own (no locks, no shared state), so N workers write up to N lines per interval.
//
//     LogThrottle::Held held;
//     if (throttle.admit(now, interval, held)) {
//         char more[96];
//         LOG_WARN("every server of upstream \"%s\" is down%s", name, LogThrottle::suffix(more, held));
//     }
#pragma once

#include <cstddef>
#include <cstdint>

namespace gw {

class LogThrottle {
  public:
    struct Held {
        uint64_t count = 0;   // lines held back since the last one written
        int64_t over_ms = 0;  // ... in this time (ms)
    };

    // True when a line may be written at `now` (ms, monotonic): the first of each interval.
    // `held` then says what was held back since the previous line. interval <= 0: always true.
    bool admit(int64_t now, int64_t interval, Held& held);

    // " (and N more like it in the last Ts)" for held lines, "" for none; written into `buf`.
    static const char* suffix(char (&buf)[96], const Held& held);

  private:
    bool started_ = false;
    int64_t last_ = 0;       // when the last line was written
    uint64_t held_ = 0;
};

}  // namespace gw

#include "core/log.h"

// Writes a log line through `throttle` (a LogThrottle) at `now` with `interval` (ms): the line
// gets the held-back count as a suffix. `fmt` must be a string literal.
#define GW_LOG_THROTTLED(level, throttle, now, interval, fmt, ...)                                       \
    do {                                                                                                \
        ::gw::LogThrottle::Held gw_held_;                                                               \
        if (::gw::log::enabled(level) && (throttle).admit((now), (interval), gw_held_)) {               \
            char gw_more_[96];                                                                          \
            ::gw::log::write(level, fmt "%s", __VA_ARGS__, ::gw::LogThrottle::suffix(gw_more_, gw_held_)); \
        }                                                                                               \
    } while (0)
