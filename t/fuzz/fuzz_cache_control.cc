// libFuzzer harness for what the cache reads from responses and admin requests
// (src/modules/cache/freshness.cc, purge.cc): Cache-Control lists (fields split at NUL bytes),
// HTTP-dates, delta-seconds and percent-encoded purge keys. Checks the invariants the cache
// relies on: durations are -1 or within 0..2^31, a date parses to a time that formats back to
// an IMF-fixdate of the same instant, a stored decision never stores what no-store, private,
// Set-Cookie or Vary: * forbid, and decoding never grows the text.
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "modules/cache/freshness.h"
#include "modules/cache/percent.h"

using namespace gw::cache;

static void check_duration(int64_t v) {
    if (v != -1 && (v < 0 || v > (int64_t{1} << 31))) abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> fields;
    for (std::string_view rest = in;;) {
        size_t nul = rest.find('\0');
        fields.push_back(rest.substr(0, nul));
        if (nul == std::string_view::npos) break;
        rest.remove_prefix(nul + 1);
    }
    CacheControl cc = parse_cache_control(fields);
    check_duration(cc.max_age);
    check_duration(cc.s_maxage);
    check_duration(cc.stale_while_revalidate);
    check_duration(cc.stale_if_error);

    int64_t d = parse_http_date(in);
    if (d < -1) abort();
    if (d >= 0) {
        // The instant formats back to an IMF-fixdate that parses to the same instant.
        time_t t = static_cast<time_t>(d);
        struct tm tm;
        if (!gmtime_r(&t, &tm)) abort();
        char buf[64];
        size_t n = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (n == 0 || parse_http_date({buf, n}) != d) abort();
    }
    check_duration(parse_delta_seconds(in));

    for (int flags = 0; flags < 16; ++flags) {
        ResponseFacts f;
        f.status = 200;
        f.cc = cc;
        f.set_cookie = flags & 1;
        f.vary_star = flags & 2;
        f.has_validator = flags & 4;
        f.date = d;
        StoreDecision s = decide_store(f, flags & 8, Policy{60, 10, 10});
        if (s.store && (cc.no_store || cc.is_private || f.set_cookie || f.vary_star)) abort();
        if (s.store && (s.lifetime < 0 || s.swr < 0 || s.sie < 0)) abort();
        if (s.store && s.must_revalidate && (s.swr || s.sie)) abort();
    }

    std::string decoded;
    if (percent_decode(in, decoded) && decoded.size() > in.size()) abort();
    return 0;
}
