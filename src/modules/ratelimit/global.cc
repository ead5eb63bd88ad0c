#include "modules/ratelimit/global.h"

#include <hiredis/hiredis.h>

#include "core/text_format.h"

namespace gw::ratelimit::global {

namespace {

// The rules of table.cc, in Lua 5.1 (numbers are doubles: see global.h for why the units keep
// them exact). Read ARGV[1] first: tests give a time; the gateway gives "" and Redis's clock
// decides, so that every node agrees on it.
constexpr const char* kScript = R"lua(-- gatewayd: rate limits of scope global (src/modules/ratelimit/global.h)
-- KEYS[i]: the counter of policy i.  ARGV[1]: '' (or, for tests, a time in microseconds: keys
-- then do not expire, since Redis's clock does not agree with it).  ARGV[2]: '' or the deadline,
-- in microseconds of Redis's clock: the gateway has stopped waiting by then and decided without
-- Redis, so a call that runs later counts nothing and returns -1.
-- ARGV[4i-1 .. 4i+2]: algorithm (t: token bucket, f: fixed window, s: sliding window),
-- limit, period (windows: ms; token bucket: the interval of one token, in us), dry run (1/0).
-- Returns per policy: allowed (1/0), remaining, reset (us), retry-after (us).  The request is
-- counted in every policy, or in none when one that is not a dry run rejects it.
if redis.replicate_commands then pcall(redis.replicate_commands) end
local now = tonumber(ARGV[1])
local expire = not now or now == 0
if expire then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local deadline = tonumber(ARGV[2])
if deadline and deadline > 0 and now > deadline then return -1 end
local floor = math.floor
local now_ms = floor(now / 1000)
local out, sets, rejected = {}, {}, false
for i = 1, #KEYS do
  local a = 4 * i - 1
  local alg, limit, p, dry = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3] == '1'
  local v = redis.call('GET', KEYS[i])
  local ok, remaining, reset, retry, nv, ttl = false, 0, 0, 0, nil, 0
  if alg == 't' then
    local tat = (v and tonumber(v)) or 0
    local tolerance = limit * p
    local base = math.max(tat, now)
    local new = base + p
    if new - now > tolerance then
      retry = new - now - tolerance
      reset = base - now
    else
      ok = true
      remaining = floor((tolerance - (new - now)) / p)
      reset = new - now
      nv = string.format('%.0f', new)
      ttl = math.ceil(reset / 1000)
    end
  elseif alg == 'f' then
    local w = floor(now_ms / p)
    local count = 0
    if v then
      local sw, c = string.match(v, '^(%d+) (%d+)$')
      if sw and tonumber(sw) == w then count = tonumber(c) end
    end
    local left = (w + 1) * p - now_ms
    reset = left * 1000
    if count >= limit then
      retry = reset
    else
      ok = true
      remaining = limit - count - 1
      nv = string.format('%.0f %.0f', w, count + 1)
      ttl = left
    end
  else
    local w = floor(now_ms / p)
    local e = now_ms - w * p
    local prev, cur = 0, 0
    if v then
      local sw, c1, c2 = string.match(v, '^(%d+) (%d+) (%d+)$')
      if sw then
        local age = w - tonumber(sw)
        if age <= 0 then
          prev, cur = tonumber(c1), tonumber(c2)
        elseif age == 1 then
          prev = tonumber(c2)
        end
      end
    end
    local cap = limit * p
    local load = prev * (p - e) + (cur + 1) * p
    if load <= cap then
      ok = true
      remaining = floor((cap - load) / p)
      reset = (2 * p - e) * 1000
      nv = string.format('%.0f %.0f %.0f', w, prev, cur + 1)
      ttl = 2 * p - e
    else
      if cur >= limit then
        retry = (2 * p - e - floor((limit - 1) * p / cur)) * 1000
      else
        local first = p - floor((limit - cur - 1) * p / prev)
        if first > e then retry = (first - e) * 1000 else retry = 1000 end
      end
      if cur > 0 then reset = (2 * p - e) * 1000 else reset = (p - e) * 1000 end
    end
  end
  if ok then
    sets[#sets + 1] = {KEYS[i], nv, ttl}
  elseif not dry then
    rejected = true
  end
  out[#out + 1] = ok and 1 or 0
  out[#out + 1] = remaining
  out[#out + 1] = reset
  out[#out + 1] = retry
end
if not rejected then
  for _, s in ipairs(sets) do
    if expire then
      redis.call('SET', s[1], s[2], 'PX', string.format('%.0f', math.max(1, s[3])))
    else
      redis.call('SET', s[1], s[2])
    end
  end
end
return out
)lua";

const char* algorithm_tag(Algorithm a) {
    switch (a) {
        case Algorithm::TokenBucket: return "tb";
        case Algorithm::FixedWindow: return "fw";
        case Algorithm::SlidingWindow: return "sw";
        case Algorithm::Concurrency: break;  // never global: refused at load
    }
    return "tb";
}

const char* unit_tag(uint64_t period_ns) {
    switch (period_ns / 1000000000) {
        case 1: return "s";
        case 60: return "m";
        case 3600: return "h";
        default: return "d";
    }
}

}  // namespace

const redis::Script& script() {
    static const redis::Script s(kScript);
    return s;
}

std::string key_prefix(std::string_view name, const Params& params) {
    std::string out = "gw:rl:";
    out += name;
    out += ':';
    out += algorithm_tag(params.algorithm);
    out += '/';
    out += unit_tag(params.period_ns);
    out += ':';
    return out;
}

void append_escaped(std::string& out, std::string_view part) {
    for (char c : part) {
        switch (c) {
            case '%': out += "%25"; break;
            case '+': out += "%2B"; break;
            case '#': out += "%23"; break;
            default: out += c;
        }
    }
}

void Call::clear(uint64_t now_us, int64_t deadline_us) {
    bytes_.clear();
    keys_.clear();
    args_.clear();
    scratch_.clear();
    size_t at = bytes_.size();
    if (now_us) append_number(bytes_, now_us);
    args_.push_back({at, bytes_.size() - at});
    at = bytes_.size();
    if (deadline_us > 0) append_number(bytes_, static_cast<uint64_t>(deadline_us));
    args_.push_back({at, bytes_.size() - at});
}

void Call::push(std::vector<Span>& to, std::string_view s) {
    to.push_back({bytes_.size(), s.size()});
    bytes_.append(s);
}

void Call::add_policy(const Params& p, bool dry_run) {
    push(keys_, scratch_);
    scratch_.clear();
    const char* alg = p.algorithm == Algorithm::TokenBucket ? "t" : p.algorithm == Algorithm::FixedWindow ? "f" : "s";
    push(args_, alg);
    size_t at = bytes_.size();
    append_number(bytes_, p.limit);
    args_.push_back({at, bytes_.size() - at});
    at = bytes_.size();
    append_number(bytes_, p.windowed() ? p.period_ns / 1000000 : p.interval_us);
    args_.push_back({at, bytes_.size() - at});
    push(args_, dry_run ? "1" : "0");
}

std::span<const std::string_view> Call::keys() {
    key_views_.clear();
    for (const Span& s : keys_) key_views_.emplace_back(bytes_.data() + s.at, s.len);
    return key_views_;
}

std::span<const std::string_view> Call::args() {
    arg_views_.clear();
    for (const Span& s : args_) arg_views_.emplace_back(bytes_.data() + s.at, s.len);
    return arg_views_;
}

bool is_late(const redisReply* reply) {
    return reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == -1;
}

bool parse_reply(const redisReply* reply, size_t n, Decision* out) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 * n) return false;
    for (size_t i = 0; i < 4 * n; ++i) {
        const redisReply* e = reply->element[i];
        if (!e || e->type != REDIS_REPLY_INTEGER || e->integer < 0) return false;
    }
    for (size_t i = 0; i < n; ++i) {
        redisReply* const* e = reply->element + 4 * i;
        Decision& d = out[i];
        d.allowed = e[0]->integer != 0;
        d.remaining = static_cast<uint64_t>(e[1]->integer);
        d.reset_ns = static_cast<uint64_t>(e[2]->integer) * 1000;
        d.retry_after_ns = static_cast<uint64_t>(e[3]->integer) * 1000;
    }
    return true;
}

}  // namespace gw::ratelimit::global
