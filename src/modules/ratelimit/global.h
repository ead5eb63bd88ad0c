// Rate limits of `scope: global`: their counters are in Redis, so that every gateway node that
// uses the same Redis enforces one limit together. A request's global policies are decided in
// one round trip: one Lua script (loaded once per connection, called by EVALSHA; the client
// loads it again on NOSCRIPT) that evaluates them all, on Redis's clock, and counts the request
// in each only when none of them rejects it - all or nothing, as the local limiter does.
//
// The algorithms are those of table.h, on the same formulas:
//   token bucket    GCRA; the key holds the theoretical arrival time, in microseconds of Redis time
//   fixed window    "W C": window number W = floor(now_ms / P_ms), C requests counted in it
//   sliding window  "W PREV CUR": the counts of window W and of the one before it
// with time in microseconds (token bucket) or milliseconds (windows): Lua's numbers are doubles,
// and these units keep every product of the sliding-window comparison below 2^53, so the
// arithmetic is exact. Windows are aligned on Redis's clock (Unix time), the same for every node.
// Each key expires (PX) when what it holds would be worth nothing: a full bucket, a window over.
//
// A call that Redis runs after the gateway stopped waiting for it (the command timeout; the
// request was then decided by the local fallback) must not count the request a second time:
// the call carries its deadline on Redis's clock (redis::Client::deadline_us(), from the TIME
// each connection reads when it opens) and the script, which reads TIME when it starts, counts
// nothing past it. The deadline errs early (by up to the round trip of that TIME), so a call
// that Redis runs just in time may still be refused: the request is then decided locally,
// which is what the gateway does anyway when the answer does not come.
//
// Keys: "gw:rl:" NAME ":" ALG "/" UNIT ":" KEY (ALG tb, fw or sw; UNIT s, m, h or d), e.g.
// "gw:rl:per-user:sw/m:alice", where KEY is the request's key parts joined with '+', each with
// '%', '+' and '#' percent-escaped (so that "a+b" of one part is not two parts), or "#" and 32
// hex digits of its SHA-256 (128 bits, the same on every node) when that text would be longer than
// kMaxKeyText. The keys of
// one request belong to several policies, so one script touches keys that no hash tag could
// keep on one Redis Cluster slot: the Redis is one server (with replicas or not), not a cluster.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis/client.h"
#include "modules/ratelimit/table.h"

struct redisReply;

namespace gw::ratelimit::global {

constexpr size_t kMaxKeyText = 200;  // longer key texts are replaced by their hash

// The script (one per process; its SHA-1 is computed once).
const redis::Script& script();

// "gw:rl:NAME:ALG/UNIT:" for a policy named `name` with these parameters.
std::string key_prefix(std::string_view name, const Params& params);

// Escapes one key part into `out` ('%', '+' and '#' as %25, %2B, %23).
void append_escaped(std::string& out, std::string_view part);

// The arguments of one script call: its keys and, per key, the policy's algorithm, limit,
// period (windows: milliseconds; token bucket: the interval of one token, in microseconds) and
// dry-run flag. Reused from call to call, it allocates nothing once warmed up.
class Call {
  public:
    // Starts a call. `now_us` other than 0 replaces Redis's clock (for tests only). With a
    // `deadline_us` (Redis's clock, redis::Client::deadline_us()), the script counts nothing if
    // it runs later than that, and answers so (is_late()).
    void clear(uint64_t now_us = 0, int64_t deadline_us = 0);
    // Starts the next key; the caller appends its text to key() before add_policy().
    std::string& key() { return scratch_; }
    // Adds the key in key() for a policy with `params` (the full limit, not a fallback share).
    void add_policy(const Params& params, bool dry_run);

    size_t size() const { return keys_.size(); }
    std::span<const std::string_view> keys();
    std::span<const std::string_view> args();

  private:
    struct Span {
        size_t at, len;
    };
    void push(std::vector<Span>& to, std::string_view s);

    std::string bytes_;
    std::string scratch_;
    std::vector<Span> keys_, args_;
    std::vector<std::string_view> key_views_, arg_views_;
};

// The script ran after the call's deadline and counted nothing.
bool is_late(const redisReply* reply);

// Reads the script's answer for `n` policies into out[0..n); false when the reply is not one.
bool parse_reply(const redisReply* reply, size_t n, Decision* out);

}  // namespace gw::ratelimit::global
