// What the rate limits of a route decided for one request, as its filter needs it to answer:
// small and self-contained.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gw::ratelimit {

// Room for the header lines Verdict::format() writes (four numbers of at most 20 digits).
constexpr size_t kMaxHeaderBytes = 192;
// The most policies a route may name (the configuration allows no more).
constexpr size_t kMaxRoutePolicies = 8;

struct Verdict {
    bool rejected = false;
    int status = 0;              // rejected: the status to answer with
    std::string_view body;       // rejected: the JSON body (owned by the policy)
    bool headers = false;        // RateLimit-Limit, -Remaining and -Reset to add
    uint64_t limit = 0;
    uint64_t remaining = 0;
    uint64_t reset_s = 0;
    uint64_t retry_after_s = 0;  // rejected: Retry-After (0: none, as for a concurrency limit)
    // Allowed: the requests in flight it holds for concurrency policies (words of the worker's
    // lease ledger), given back by Limiter::release() when the request ends.
    uint32_t leases[kMaxRoutePolicies];
    uint8_t lease_count = 0;

    // Writes "retry-after: N\r\n" (rejected, with a retry_after_s) and the RateLimit-* lines (headers) to `buf`;
    // returns the length (0 when there is nothing to add). `cap` >= kMaxHeaderBytes.
    size_t format(char* buf, size_t cap) const;
};

// A decision that waits for Redis (policies of scope global): the limiter's handle of it.
struct Check;

// Who hears of such a decision: called once, from the event loop, with the Verdict filled in
// (unless the check is cancelled first).
struct OnDecided {
    void (*fn)(void* arg) = nullptr;
    void* arg = nullptr;
    explicit operator bool() const { return fn != nullptr; }
};

}  // namespace gw::ratelimit
