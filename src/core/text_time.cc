#include "core/text_time.h"

#include <sys/time.h>

#include <ctime>

namespace gw {

namespace {

// One calendar text, remade when the second changes.
struct SecondCache {
    time_t second = -1;
    char text[48];
    size_t len = 0;
};

template <typename Format>
void write_cached(SecondCache& c, time_t now, TextWriter& out, Format format) {
    if (now != c.second) {
        c.second = now;
        c.len = format(now, c.text, sizeof c.text);
    }
    out.append(c.text, c.len);
}

}  // namespace

void write_time_local(TextWriter& out) {
    static SecondCache cache;
    write_cached(cache, time(nullptr), out, [](time_t now, char* buf, size_t size) -> size_t {
        struct tm tm;
        localtime_r(&now, &tm);
        return strftime(buf, size, "%d/%b/%Y:%H:%M:%S %z", &tm);
    });
}

void write_time_iso8601(TextWriter& out) {
    static SecondCache cache;
    write_cached(cache, time(nullptr), out, [](time_t now, char* buf, size_t size) -> size_t {
        struct tm tm;
        localtime_r(&now, &tm);
        size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S%z", &tm);
        if (n < 5 || n + 1 >= size) return n;
        // "+0000" -> "+00:00", as ISO 8601 and nginx write it.
        buf[n] = buf[n - 1];
        buf[n - 1] = buf[n - 2];
        buf[n - 2] = ':';
        return n + 1;
    });
}

void write_time_utc_ms(TextWriter& out) {
    static SecondCache cache;
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    write_cached(cache, tv.tv_sec, out, [](time_t now, char* buf, size_t size) -> size_t {
        struct tm tm;
        gmtime_r(&now, &tm);
        return strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    });
    char* at = out.reserve(5);
    unsigned ms = static_cast<unsigned>(tv.tv_usec / 1000);
    at[0] = '.';
    at[1] = static_cast<char>('0' + ms / 100);
    at[2] = static_cast<char>('0' + ms / 10 % 10);
    at[3] = static_cast<char>('0' + ms % 10);
    at[4] = 'Z';
    out.commit(at + 5);
}

void write_seconds(TextWriter& out, uint64_t micros, int decimals) {
    out.number(micros / 1000000);
    uint32_t frac = static_cast<uint32_t>(micros % 1000000);
    char* at = out.reserve(7);
    *at++ = '.';
    if (decimals == 6) {
        for (char* d = at + 5; d >= at; --d, frac /= 10) *d = static_cast<char>('0' + frac % 10);
        out.commit(at + 6);
        return;
    }
    uint32_t ms = frac / 1000;
    at[0] = static_cast<char>('0' + ms / 100);
    at[1] = static_cast<char>('0' + ms / 10 % 10);
    at[2] = static_cast<char>('0' + ms % 10);
    out.commit(at + 3);
}

}  // namespace gw
