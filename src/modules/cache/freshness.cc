#include "modules/cache/freshness.h"

#include <time.h>

#include <algorithm>

namespace gw::cache {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view lower_b) {
    if (a.size() != lower_b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower_b[i]) return false;
    return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// Seconds from a directive's argument ("60" or "\"60\""); -2 when it does not parse.
int64_t seconds_arg(std::string_view v, bool has_value) {
    if (!has_value) return -2;
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    int64_t n = parse_delta_seconds(v);
    return n < 0 ? -2 : n;
}

// A second occurrence, or a bad value, takes the more restrictive reading (§4.2.1: a bad
// max-age is stale; the smaller of two).
void set_seconds(int64_t& field, int64_t value) {
    if (value == -2) value = 0;
    field = field < 0 ? value : std::min(field, value);
}

}  // namespace

int64_t parse_delta_seconds(std::string_view t) {
    if (t.empty()) return -1;
    int64_t n = 0;
    for (char c : t) {
        if (c < '0' || c > '9') return -1;
        n = n * 10 + (c - '0');
        if (n > (int64_t{1} << 31)) n = int64_t{1} << 31;
    }
    return n;
}

CacheControl parse_cache_control(std::span<const std::string_view> values) {
    CacheControl cc;
    for (std::string_view field : values) {
        // Elements split on commas outside quotes.
        size_t i = 0;
        while (i <= field.size()) {
            size_t start = i;
            bool quoted = false;
            while (i < field.size() && (quoted || field[i] != ',')) {
                if (field[i] == '"') quoted = !quoted;
                else if (field[i] == '\\' && quoted && i + 1 < field.size()) ++i;
                ++i;
            }
            std::string_view item = trim(field.substr(start, i - start));
            ++i;
            if (item.empty()) continue;
            size_t eq = item.find('=');
            std::string_view name = trim(item.substr(0, eq));
            bool has_value = eq != std::string_view::npos;
            std::string_view value = has_value ? trim(item.substr(eq + 1)) : std::string_view();
            if (iequals(name, "max-age")) set_seconds(cc.max_age, seconds_arg(value, has_value));
            else if (iequals(name, "s-maxage")) set_seconds(cc.s_maxage, seconds_arg(value, has_value));
            else if (iequals(name, "stale-while-revalidate")) set_seconds(cc.stale_while_revalidate, seconds_arg(value, has_value));
            else if (iequals(name, "stale-if-error")) set_seconds(cc.stale_if_error, seconds_arg(value, has_value));
            else if (iequals(name, "no-store")) cc.no_store = true;
            else if (iequals(name, "no-cache")) cc.no_cache = true;
            else if (iequals(name, "private")) cc.is_private = true;
            else if (iequals(name, "public")) cc.is_public = true;
            else if (iequals(name, "must-revalidate")) cc.must_revalidate = true;
            else if (iequals(name, "proxy-revalidate")) cc.proxy_revalidate = true;
        }
    }
    return cc;
}

int64_t parse_http_date(std::string_view t) {
    static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                    "jul", "aug", "sep", "oct", "nov", "dec"};
    auto month_of = [](std::string_view m) {
        if (m.size() != 3) return -1;
        for (int i = 0; i < 12; ++i)
            if (iequals(m, kMonths[i])) return i;
        return -1;
    };
    auto num = [](std::string_view s, int& out) {
        if (s.empty() || s.size() > 4) return false;
        out = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        return true;
    };
    auto hms = [&](std::string_view s, struct tm& tm) {
        int h, m, sec;
        if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
        if (!num(s.substr(0, 2), h) || !num(s.substr(3, 2), m) || !num(s.substr(6, 2), sec)) return false;
        if (h > 23 || m > 59 || sec > 60) return false;
        tm.tm_hour = h;
        tm.tm_min = m;
        tm.tm_sec = sec;
        return true;
    };
    struct tm tm {};
    int day = 0, year = 0, mon = -1;
    size_t comma = t.find(',');
    if (comma != std::string_view::npos) {
        std::string_view rest = trim(t.substr(comma + 1));
        if (rest.size() == 24 && rest[2] == ' ') {
            // IMF-fixdate: "06 Nov 1994 08:49:37 GMT"
            if (!num(rest.substr(0, 2), day) || (mon = month_of(rest.substr(3, 3))) < 0 || rest[6] != ' ' ||
                !num(rest.substr(7, 4), year) || rest[11] != ' ' || !hms(rest.substr(12, 8), tm) ||
                rest.substr(20) != " GMT")
                return -1;
        } else if (rest.size() == 22 && rest[2] == '-' && rest[6] == '-') {
            // RFC 850: "06-Nov-94 08:49:37 GMT"
            if (!num(rest.substr(0, 2), day) || (mon = month_of(rest.substr(3, 3))) < 0 ||
                !num(rest.substr(7, 2), year) || rest[9] != ' ' || !hms(rest.substr(10, 8), tm) ||
                rest.substr(18) != " GMT")
                return -1;
            year += year < 70 ? 2000 : 1900;
        } else {
            return -1;
        }
    } else if (t.size() == 24) {
        // asctime: "Sun Nov  6 08:49:37 1994"
        if (t[3] != ' ' || (mon = month_of(t.substr(4, 3))) < 0 || t[7] != ' ') return -1;
        std::string_view d = t.substr(8, 2);
        if (d[0] == ' ') d.remove_prefix(1);
        if (!num(d, day) || t[10] != ' ' || !hms(t.substr(11, 8), tm) || t[19] != ' ' || !num(t.substr(20, 4), year))
            return -1;
    } else {
        return -1;
    }
    if (day < 1 || day > 31 || year < 1970 || year > 9999) return -1;
    tm.tm_mday = day;
    tm.tm_mon = mon;
    tm.tm_year = year - 1900;
    time_t v = timegm(&tm);
    return v < 0 ? -1 : static_cast<int64_t>(v);
}

StoreDecision decide_store(const ResponseFacts& r, bool authorization, const Policy& p) {
    StoreDecision d;
    const CacheControl& cc = r.cc;
    if (cc.no_store) return d.why_not = "no-store", d;
    if (cc.is_private) return d.why_not = "private", d;
    if (r.vary_star) return d.why_not = "Vary: *", d;
    if (r.set_cookie) return d.why_not = "Set-Cookie", d;
    if (authorization && !cc.is_public && cc.s_maxage < 0 && !cc.must_revalidate)
        return d.why_not = "a request with Authorization, and the response does not allow it", d;
    // Explicit freshness: s-maxage (a shared cache's), max-age, Expires - Date.
    bool explicit_lifetime = true;
    if (cc.s_maxage >= 0) {
        d.lifetime = cc.s_maxage;
    } else if (cc.max_age >= 0) {
        d.lifetime = cc.max_age;
    } else if (r.expires != -2) {
        d.lifetime = r.expires >= 0 && r.date >= 0 ? std::max<int64_t>(0, r.expires - r.date) : 0;
    } else {
        explicit_lifetime = false;
        d.lifetime = p.default_ttl;
    }
    // Heuristically cacheable statuses (RFC 9110 §15.1) may be stored under default_ttl; any
    // other only with explicit freshness. Never 206 (no ranges are kept), 1xx/304 or 5xx.
    bool heuristic = r.status == 200 || r.status == 203 || r.status == 204 || r.status == 300 || r.status == 301 ||
                     r.status == 308 || r.status == 404 || r.status == 405 || r.status == 410 || r.status == 414;
    // Never 5xx either: an error is not an answer to serve to every client (and a fill that fails
    // with one must leave its waiters to go upstream themselves).
    if (r.status < 200 || r.status == 206 || r.status == 304 || r.status >= 500) return d.why_not = "status", d;
    if (!explicit_lifetime && !heuristic) return d.why_not = "status without explicit freshness", d;
    // no-cache: stored, but revalidated before every use (lifetime 0) - worth it with a validator.
    if (cc.no_cache) {
        if (!r.has_validator) return d.why_not = "no-cache without a validator", d;
        d.lifetime = 0;
    }
    d.must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage >= 0 || cc.no_cache;
    if (d.lifetime <= 0 && !r.has_validator && !(!d.must_revalidate && (cc.stale_while_revalidate > 0 || p.swr > 0)))
        return d.why_not = explicit_lifetime ? "stale at once, without a validator" : "no freshness (default_ttl 0)", d;
    if (!d.must_revalidate) {
        d.swr = cc.stale_while_revalidate >= 0 ? cc.stale_while_revalidate : p.swr;
        d.sie = cc.stale_if_error >= 0 ? cc.stale_if_error : p.sie;
    }
    d.store = true;
    return d;
}

int64_t initial_age(const ResponseFacts& r, int64_t request_time, int64_t response_time) {
    int64_t apparent = r.date >= 0 ? std::max<int64_t>(0, response_time - r.date) : 0;
    int64_t response_delay = std::max<int64_t>(0, response_time - request_time);
    int64_t corrected = r.age + response_delay;
    return std::max(apparent, corrected);
}

}  // namespace gw::cache
