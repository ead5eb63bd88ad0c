// Times and durations as logs write them. The calendar texts are formatted at most once a second
// per process (strftime and localtime per log line would cost more than the rest of the line).
#pragma once

#include <cstdint>

#include "core/text_writer.h"

namespace gw {

// "04/Dec/2026:10:16:38 +0000": nginx's $time_local, the combined format's time.
void write_time_local(TextWriter& out);

// "2026-12-04T10:16:38+00:00": nginx's $time_iso8601 (local time).
void write_time_iso8601(TextWriter& out);

// "2026-12-04T10:16:38.123Z": UTC with milliseconds (the JSON access log's "time").
void write_time_utc_ms(TextWriter& out);

// A duration in seconds with `decimals` (3: milliseconds, or 6: microseconds) digits after the
// point, truncated: "1.234".
void write_seconds(TextWriter& out, uint64_t micros, int decimals = 3);

// (The usual duration: below 10 s, to the millisecond.)
inline void write_seconds_ms(TextWriter& out, uint64_t micros) {
    if (micros >= 10000000) {
        write_seconds(out, micros, 3);
        return;
    }
    uint32_t ms = static_cast<uint32_t>(micros / 1000);
    char* at = out.reserve(5);
    at[0] = static_cast<char>('0' + ms / 1000);
    at[1] = '.';
    at[2] = static_cast<char>('0' + ms / 100 % 10);
    at[3] = static_cast<char>('0' + ms / 10 % 10);
    at[4] = static_cast<char>('0' + ms % 10);
    out.commit(at + 5);
}

}  // namespace gw
