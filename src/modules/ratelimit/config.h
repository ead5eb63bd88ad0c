// The rate-limit module's configuration: the named policies of `rate_limits:`, the size of
// their shared-memory zone (`rate_limit_zone_size`), and each route's `rate_limit:` - the
// policies that apply to its requests. Read and dumped by config.cc; enforced by the Limiter
// (limiter.h). Every key is documented in man/gateway.conf.5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/module/module.h"

namespace gw::module {
extern const Descriptor ratelimit_module;  // module.cc
}

namespace gw::ratelimit {

// One part of a policy's key (`ip+route` has two).
struct RateLimitKeyPart {
    // Consumer: who auth says the request is (http::Identity); Claim: one of its token's claims.
    enum class Kind : uint8_t { Ip, Header, Query, Route, Global, Consumer, Claim };
    Kind kind = Kind::Ip;
    std::string name;          // header (lower-cased), query parameter or claim name
};

// A policy of `rate_limits:`, applied by the routes that name it.
struct RateLimitPolicy {
    // Concurrency: at most `limit` requests of a key in flight at once (counted when admitted,
    // given back when the request ends), rather than a rate.
    enum class Algorithm : uint8_t { TokenBucket, SlidingWindow, FixedWindow, Concurrency };
    enum class MissingKey : uint8_t { Skip, Limit };
    enum class Scope : uint8_t { Local, Global };
    std::string name;
    std::vector<RateLimitKeyPart> key;  // `ip+route` -> two parts
    uint64_t limit = 1;        // requests per period (`rate: LIMIT/UNIT`); concurrency: in flight (`limit: N`)
    Millis period = 1000;      // 1s, 1m, 1h or 1d
    uint64_t burst = 0;        // token bucket: its size; 0 = `limit`
    Algorithm algorithm = Algorithm::TokenBucket;
    MissingKey missing_key = MissingKey::Skip;
    int status = 429;
    bool headers = true;       // RateLimit-* headers on responses (never for concurrency)
    bool dry_run = false;      // log and count, never reject
    Scope scope = Scope::Local;  // global: counters in Redis (`redis:`), shared by several nodes
    enum class Fallback : uint8_t { Local, Deny };
    Fallback fallback = Fallback::Local;  // global, while Redis is away: the local share, or 503
    Mark mark;

    bool concurrency() const { return algorithm == Algorithm::Concurrency; }
};

// The module's part of a Config (Config::modules).
struct Settings final : module::ConfigPart {
    uint64_t zone_size = 16ull << 20;       // the "ratelimit" shared-memory zone
    std::vector<RateLimitPolicy> policies;  // in file order; routes refer to them by index
    // By route index (into Config::routes): the policies its `rate_limit:` names, as listed.
    // Shorter than Config::routes when the last routes name none.
    std::vector<std::vector<int>> routes;

    const std::vector<int>& route(size_t index) const;
};

// The rate-limit configuration of `config`: defaults (no policy) for a configuration that was
// not loaded with the module.
const Settings& settings(const Config& config);

// The descriptor's configuration hooks (config.cc).
void read_sections(schema::MapReader& top, Config& config);
void read_route(schema::MapReader& route, Config& config, size_t index);
void dump(const Config& config, std::string& out);
void dump_route(const Config& config, size_t index, int indent, std::string& out);

}  // namespace gw::ratelimit
