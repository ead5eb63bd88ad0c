#include "modules/idempotency/global.h"

#include <hiredis/hiredis.h>

namespace gw::idempotency::global {

namespace {

// KEYS[1]: the key, KEYS[2]: the fencing counter. ARGV[1]: the fingerprint (hex), ARGV[2]: the lease, ms.
// Returns {0, fence} claimed, {1} in flight, {2} other fingerprint, {3, 0, blob} completed.
constexpr const char* kClaim = R"lua(-- gatewayd: idempotency claim (src/modules/idempotency/global.h)
local v = redis.call('GET', KEYS[1])
if not v then
  local n = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], 'i' .. ARGV[1] .. ' ' .. n .. '\n', 'PX', ARGV[2])
  return {0, n}
end
if string.sub(v, 2, 65) ~= ARGV[1] then return {2} end
if string.sub(v, 1, 1) == 'i' then return {1} end
local nl = string.find(v, '\n', 67, true)
return {3, 0, string.sub(v, nl + 1)}
)lua";

// KEYS[1]: the key. ARGV[1]: fingerprint, ARGV[2]: fence, ARGV[3]: the response ('' releases),
// ARGV[4]: ttl ms. Returns 1 when this claim still held the key, else 0.
constexpr const char* kFinish = R"lua(-- gatewayd: idempotency complete/release (src/modules/idempotency/global.h)
local mine = 'i' .. ARGV[1] .. ' ' .. ARGV[2] .. '\n'
if redis.call('GET', KEYS[1]) ~= mine then return 0 end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], 'c' .. string.sub(mine, 2) .. ARGV[3], 'PX', ARGV[4])
end
return 1
)lua";

}  // namespace

const redis::Script& claim_script() {
    static const redis::Script s(kClaim);
    return s;
}

const redis::Script& finish_script() {
    static const redis::Script s(kFinish);
    return s;
}

bool parse_claim(const redisReply* r, ClaimReply& out) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) return false;
    const redisReply* code = r->element[0];
    if (!code || code->type != REDIS_REPLY_INTEGER) return false;
    switch (code->integer) {
        case 0:
            if (r->elements < 2 || r->element[1]->type != REDIS_REPLY_INTEGER || r->element[1]->integer <= 0) return false;
            out.kind = ClaimReply::Kind::Claimed;
            out.fence = static_cast<uint64_t>(r->element[1]->integer);
            return true;
        case 1: out.kind = ClaimReply::Kind::InFlight; return true;
        case 2: out.kind = ClaimReply::Kind::Mismatch; return true;
        case 3:
            if (r->elements < 3 || r->element[2]->type != REDIS_REPLY_STRING) return false;
            out.kind = ClaimReply::Kind::Completed;
            out.blob = {r->element[2]->str, r->element[2]->len};
            return true;
        default: return false;
    }
}

}  // namespace gw::idempotency::global
