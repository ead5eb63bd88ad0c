// Keys of `scope: global` policies, in Redis, shared by every node that uses the same Redis.
//
// Claim: ONE round trip, an EVALSHA of claim_script(): when the key is absent it takes the next
// fencing token (INCR of "gw:idem:fence") and sets the key, with the request's fingerprint and
// the token, for the policy's lease (SET PX: a claim whose holder never finishes frees itself); otherwise it answers what the key holds: in flight, another
// fingerprint, or the completed response (which the gateway replays).
// Complete / release: one EVALSHA of finish_script(), a compare-and-set: only the claim that
// holds the key (same fingerprint and fencing token) replaces it with the response, or deletes
// it. A request whose claim was lost (the key expired and another took it) changes nothing.
//
// Values: "i" FP " " FENCE "\n" (in flight) or "c" FP " " FENCE "\n" BLOB (completed), FP the
// fingerprint's 64 hex digits, BLOB as key.h encodes it. Keys: "gw:idem:" and the scoped key's
// 64 hex digits. One Redis server (or a primary with replicas), not a cluster: the claim touches
// the key and the fencing counter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/redis/client.h"

struct redisReply;

namespace gw::idempotency::global {

const redis::Script& claim_script();
const redis::Script& finish_script();
constexpr std::string_view kFenceKey = "gw:idem:fence";

struct ClaimReply {
    enum class Kind : uint8_t { Claimed, InFlight, Mismatch, Completed };
    Kind kind = Kind::Claimed;
    uint64_t fence = 0;     // Claimed
    std::string_view blob;  // Completed: the stored response (valid as long as the reply)
};
// False when the reply is not one of the script's answers.
bool parse_claim(const redisReply* reply, ClaimReply& out);

}  // namespace gw::idempotency::global
