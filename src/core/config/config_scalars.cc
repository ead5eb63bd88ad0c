// The scalar types of gateway.conf: durations, sizes and listen addresses, and their inverses.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <limits>

#include "core/config/config.h"

namespace gw {

namespace {

struct Unit {
    std::string_view suffix;
    uint64_t factor;
};

// Longest suffix first, so that "ms" is not read as "m" followed by junk.
constexpr Unit kDurationUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000},
};
constexpr Unit kSizeUnits[] = {
    {"k", 1ULL << 10}, {"m", 1ULL << 20}, {"g", 1ULL << 30},
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Splits "123abc" into 123 and "abc"; false without leading digits or on overflow.
bool leading_number(std::string_view text, uint64_t& value, std::string_view& rest) {
    size_t n = 0;
    while (n < text.size() && is_digit(text[n])) n++;
    if (n == 0) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + n, value);
    if (ec != std::errc()) return false;
    rest = text.substr(n);
    return true;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool parse_port(std::string_view text, uint16_t& port) {
    if (text.empty() || text.size() > 5) return false;
    for (char c : text) {
        if (!is_digit(c)) return false;
    }
    unsigned value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value < 1 || value > 65535) return false;
    port = static_cast<uint16_t>(value);
    return true;
}

void set_v4(sockaddr_storage& out, socklen_t& len, in_addr addr, uint16_t port) {
    out = {};
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr = addr;
    len = sizeof(sockaddr_in);
}

}  // namespace

std::optional<Millis> parse_duration(std::string_view text) {
    if (text == "0") return 0;  // the one unit-less duration: zero is zero in any unit
    uint64_t n = 0;
    std::string_view unit;
    if (!leading_number(text, n, unit)) return std::nullopt;
    for (const Unit& u : kDurationUnits) {
        if (unit != u.suffix) continue;
        if (n > static_cast<uint64_t>(std::numeric_limits<Millis>::max()) / u.factor) return std::nullopt;
        return static_cast<Millis>(n * u.factor);
    }
    return std::nullopt;  // no unit: "5" could mean seconds or milliseconds, so it is refused
}

std::optional<uint64_t> parse_size(std::string_view text) {
    uint64_t n = 0;
    std::string_view unit;
    if (!leading_number(text, n, unit)) return std::nullopt;
    if (unit.empty()) return n;
    if (unit.size() != 1) return std::nullopt;
    for (const Unit& u : kSizeUnits) {
        if (lower(unit[0]) != u.suffix[0]) continue;
        if (n > std::numeric_limits<uint64_t>::max() / u.factor) return std::nullopt;
        return n * u.factor;
    }
    return std::nullopt;
}

std::string format_duration(Millis ms) {
    if (ms == 0) return "0";
    if (ms > 0) {
        for (size_t i = std::size(kDurationUnits); i-- > 1;) {
            const Unit& u = kDurationUnits[i];
            if (static_cast<uint64_t>(ms) % u.factor == 0) {
                return std::to_string(static_cast<uint64_t>(ms) / u.factor) + std::string(u.suffix);
            }
        }
    }
    return std::to_string(ms) + "ms";
}

std::string format_size(uint64_t bytes) {
    if (bytes == 0) return "0";
    for (size_t i = std::size(kSizeUnits); i-- > 0;) {
        const Unit& u = kSizeUnits[i];
        if (bytes % u.factor == 0) return std::to_string(bytes / u.factor) + std::string(u.suffix);
    }
    return std::to_string(bytes);
}

bool parse_listen_address(std::string_view text, sockaddr_storage& out, socklen_t& len) {
    uint16_t port = 0;
    if (text.starts_with('[')) {
        size_t close = text.find(']');
        if (close == std::string_view::npos) return false;
        std::string host(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        if (!rest.starts_with(':') || !parse_port(rest.substr(1), port)) return false;
        in6_addr addr{};
        if (inet_pton(AF_INET6, host.c_str(), &addr) != 1) return false;
        out = {};
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sin6->sin6_addr = addr;
        len = sizeof(sockaddr_in6);
        return true;
    }
    in_addr any{};
    any.s_addr = htonl(INADDR_ANY);
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        if (!parse_port(text, port)) return false;
        set_v4(out, len, any, port);
        return true;
    }
    std::string host(text.substr(0, colon));
    if (!parse_port(text.substr(colon + 1), port)) return false;
    if (host == "*") {
        set_v4(out, len, any, port);
        return true;
    }
    // inet_pton takes only the dotted quad: no host names (resolving them at load time would
    // make the config depend on DNS) and no bare IPv6 (which needs brackets to find the port).
    in_addr addr{};
    if (inet_pton(AF_INET, host.c_str(), &addr) != 1) return false;
    set_v4(out, len, addr, port);
    return true;
}

}  // namespace gw
