#include "core/log_throttle.h"

#include <cstdio>

namespace gw {

bool LogThrottle::admit(int64_t now, int64_t interval, Held& held) {
    held = {};
    if (interval > 0 && started_ && now - last_ < interval) {
        ++held_;
        return false;
    }
    if (started_) held = {held_, now - last_};
    started_ = true;
    last_ = now;
    held_ = 0;
    return true;
}

const char* LogThrottle::suffix(char (&buf)[96], const Held& held) {
    if (held.count == 0) return "";
    long long seconds = (held.over_ms + 500) / 1000;  // to the nearest second, at least 1
    snprintf(buf, sizeof buf, " (and %llu more like it in the last %llds)",
             static_cast<unsigned long long>(held.count), seconds < 1 ? 1 : seconds);
    return buf;
}

}  // namespace gw
