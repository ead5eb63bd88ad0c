// The rate limits of one worker: the policies of its generation's configuration, compiled once
// when the worker starts, and the decision for a request on a route that names some of them.
//
// A route's policies all apply ("hierarchical": per tenant, per user, per IP): the request is
// rejected when any of them rejects it, and the answer reports the most restrictive one. A
// rejected request is counted by none of them: with several policies they are first checked
// without changing anything, and only when all allow is the request counted in each; if one of
// them has meanwhile been used up by a concurrent request, those already counted are refunded.
//
// The hot path does not allocate and makes no system call: the key is hashed as it is read from
// the request (a dry-run log line renders it into a stack buffer), the clock is the request's
// start time the server already took, and the counters are CAS updates in shared memory.
//
// Policies of scope global are decided by Redis (global.h), through the worker's redis::Client,
// in one round trip per request, after the local policies of the route (a request they reject
// costs no round trip). The request waits for the answer without blocking the worker: check()
// then returns false and the OnDecided is called back. While Redis is away (the client is not
// up) or when it fails to answer in time, each global policy is decided at once by the local
// table instead, with the fallback share of its limit (redis.fallback_share, 1/nodes by
// default) under an identity of its own, and counted as fallback_allowed or fallback_rejected;
// a policy with `fallback: deny` rejects the request instead (503, counted as fallback_rejected).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/redis/client.h"
#include "core/shm/zone.h"
#include "event/loop.h"
#include "http/identity.h"
#include "http/parser.h"
#include "modules/ratelimit/config.h"
#include "modules/ratelimit/leases.h"
#include "modules/ratelimit/table.h"
#include "modules/ratelimit/verdict.h"

namespace gw::ratelimit {

// A policy as the worker uses it.
struct Policy {
    const RateLimitPolicy* config = nullptr;
    // In the local table: the policy's limit, or for a global policy the fallback share of it
    // (under an identity of its own, so that its counters are not those of a local policy).
    Params params;
    std::optional<Hasher> hasher;  // for its keys: the zone's secret and the identity hashed in
    bool global = false;
    bool concurrency = false;  // counts requests in flight: taken on admission, given back at the end
    Params redis;              // global: the whole limit, as the script enforces it
    std::string redis_prefix;  // global: "gw:rl:NAME:ALG/UNIT:"
    std::string body;  // the JSON body of a rejection
    std::string deny_body;  // `fallback: deny`: the body of the 503 while Redis is away
    // gateway_ratelimit_decisions_total{policy, result}; nullptr when the metrics zone is full.
    // Global policies: allowed, rejected and dry_run_rejected are Redis's decisions, the
    // fallback_* ones those of the local table while Redis was away.
    std::atomic<uint64_t>* allowed = nullptr;
    std::atomic<uint64_t>* rejected = nullptr;
    std::atomic<uint64_t>* dry_run_rejected = nullptr;
    std::atomic<uint64_t>* fallback_allowed = nullptr;
    std::atomic<uint64_t>* fallback_rejected = nullptr;
    std::atomic<uint64_t>* fallback_dry_run_rejected = nullptr;
};

struct RoutePolicies {
    std::string_view route;  // the route's name (the `route` key part, logs)
    std::vector<const Policy*> policies;  // the local ones first, in the route's order, then the global ones
    size_t local = 0;                     // how many are local
};

// What a key is made of, for one request.
struct RequestInfo {
    const http::Request* request = nullptr;
    std::string_view ip;     // the client's address, as text
    const http::Identity* identity = nullptr;  // once auth decided who the request is
};

class Limiter {
  public:
    // nullptr (logged) when the zone does not hold a usable table. With a `loop`, a config with
    // a `redis:` section and a policy of scope global uses a Redis client: `redis`, the worker's
    // shared one for that section (services::Registry::redis(), on the same loop; it must
    // outlive the Limiter), or else one of its own, connecting at once. Without a loop, global
    // policies are always decided by their local fallback.
    static std::unique_ptr<Limiter> create(const Config& cfg, shm::Zone& zone, metrics::Store& metrics,
                                           event::Loop* loop = nullptr, redis::Client* redis = nullptr);
    ~Limiter();

    // The policies of route `index` (into Config::routes), or nullptr when it names none.
    const RoutePolicies* route(size_t index) const {
        return index < routes_.size() && !routes_[index].policies.empty() ? &routes_[index] : nullptr;
    }

    // Decides for one request at `now_ns` (CLOCK_MONOTONIC) and counts it. True: decided, the
    // verdict is in `out`. False (only with a `decided`, for a route with global policies while
    // Redis is up): Redis decides; `decided` is called from the event
    // loop once `out` holds the verdict, unless cancel(*pending) comes first. `info`, the
    // request it points to and `out` must stay valid until then.
    bool check(const RoutePolicies& route, const RequestInfo& info, uint64_t now_ns, Verdict& out,
               OnDecided decided = {}, Check** pending = nullptr);
    // The request waiting in `pending` goes away (its client closed): it is not called back,
    // and what the local policies counted for it is given back.
    void cancel(Check* pending);
    // The request `v` let through has ended (answered, rejected by a later filter, or its
    // client left): the requests in flight it held for concurrency policies are given back.
    void release(Verdict& v);

    // The words the concurrency policies record their requests in flight in: a ledger of this
    // process by default, or (a worker) its ledger in the lease zone, which the master settles
    // if the worker dies. Set before the first check.
    void set_ledger(std::unique_ptr<Ledger> ledger) { ledger_ = std::move(ledger); }
    Ledger* ledger() { return ledger_.get(); }

    Table& table() { return *table_; }
    redis::Client* redis() { return redis_; }  // nullptr without global policies or a loop

    // The request's key for `policy`, hashed under the zone's secret; false when a part is missing
    // and the policy skips such requests.
    bool key(const Policy& policy, std::string_view route, const RequestInfo& info, KeyHash& hash) const;
    // The key as a log line shows it (NUL-terminated in `text`, `cap` bytes, cut if too long): the
    // parts joined with '+', those taken from a header or the query as '#' and a short keyed hash
    // of the value (they may be credentials), the address and route as they are.
    void key_for_log(const Policy& policy, std::string_view route, const RequestInfo& info, char* text,
                     size_t cap) const;

    // The Redis key of `policy` for this request appended to `out`: its prefix, then the escaped
    // key text, or '#' and 32 hex digits of its SHA-256 when that is too long (the same on every
    // node); see global.h. False (and `out` unchanged) when the policy skips the request.
    static bool redis_key(const Policy& policy, std::string_view route, const RequestInfo& info, std::string& out);

  private:
    struct Eval;
    Limiter() = default;
    void start_redis(const RedisConfig& rc, event::Loop& loop, metrics::Store& metrics, redis::Client* shared);
    void on_redis_state(bool up);
    static void redis_state_changed(void* self, bool up) { static_cast<Limiter*>(self)->on_redis_state(up); }
    bool count_in_table(Eval* ev, size_t n, uint64_t now_ns, bool& evicted);
    void count_one(Eval& e, uint64_t now_ns, bool& evicted);
    void refund(Eval* ev, size_t n);
    bool decide_locally(Eval* ev, size_t n, size_t local, uint64_t now_ns, bool& evicted);
    void finish(const RoutePolicies& route, const RequestInfo& info, Eval* ev, size_t n, bool rejected,
                bool evicted, Verdict& out);
    friend struct Check;
    void on_redis_reply(Check& c, redis::Result result, const redisReply* reply);
    Check* acquire_check();
    void release_check(Check* c);

    std::unique_ptr<Table> table_;
    std::vector<Policy> policies_;        // parallel to Settings::policies
    std::vector<RoutePolicies> routes_;   // parallel to Config::routes
    std::atomic<uint64_t>* evictions_ = nullptr;
    std::unique_ptr<Ledger> ledger_;      // with concurrency policies only
    uint64_t last_full_log_ns_ = 0;       // "ledger full": logged at most every 10 s

    // Scope global. The checks are declared before the client, which goes first.
    std::vector<std::unique_ptr<Check>> checks_;  // every one ever made
    std::vector<Check*> free_checks_;
    std::unique_ptr<redis::Client> own_redis_;  // when no shared client was given
    redis::Client* redis_ = nullptr;            // own_redis_, or the shared one
    event::Loop* loop_ = nullptr;
    std::string redis_address_;
    double fallback_share_ = 1;
    bool redis_was_up_ = false;
    event::Timer first_connect_;        // warns when the first connection takes too long
    event::Millis last_error_log_ = -1;  // error replies are logged at most every 10 s
    metrics::OwnedGauge redis_up_;       // gateway_redis_up: 1 per worker connected
};

}  // namespace gw::ratelimit
