// The idempotency filter of one route (and worker), after draft-ietf-httpapi-idempotency-key-header:
//
//   method not in the policy's methods            nothing
//   no key header                                 400 when required, else nothing
//   a bad key (not 1..255 visible characters)     400
//   the key claimed by a request still in flight  409
//   the key used with another fingerprint         422
//   the key completed                             the stored response (status, fields, body)
//                                                 replayed with Idempotent-Replayed: true
//   a new key                                     claimed; the request goes upstream (with
//                                                 Idempotency-Fence: N for scope global); its
//                                                 response is stored as it passes (a body filter
//                                                 that copies up to max_response bytes)
// The claim is released - a retry may try again - when the response is a 5xx (unless
// store_5xx), is larger than max_response, is the gateway's own (the upstream failed), or the
// client went away before the response's end.
//
// The fingerprint (fingerprint: body) is SHA-256 over the method, the path with its query, and
// the request body - the whole body, so the filter waits (paused) until it is all in the
// connection's input buffer; a body that cannot fit there is refused with 413.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/filter.h"
#include "modules/idempotency/config.h"
#include "modules/idempotency/key.h"
#include "modules/idempotency/table.h"

namespace gw::redis {
class Client;
}
namespace gw::event {
class Loop;
}
namespace gw::metrics {
class Store;
}

namespace gw::idempotency {

// What every filter of a worker shares: the local table, the Redis client (scope global), the
// worker's board slot (the owner of its claims).
struct Runtime {
    std::unique_ptr<Table> table;
    redis::Client* redis = nullptr;
    int slot = -1;
    // Bounds the wait for a request body (http.client_body_timeout; a null loop: no bound).
    event::Loop* loop = nullptr;
    int64_t body_timeout_ms = 60000;
};

class IdempotencyFilter final : public http::Filter {
  public:
    IdempotencyFilter(const Policy& policy, std::string_view route_name, Runtime& runtime, metrics::Store* metrics);
    ~IdempotencyFilter() override;

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;
    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override;
    void on_body(http::Stream& s, void* ctx, std::string_view in, bool last, std::string& out) override;
    void on_destroy(http::Stream& s, void* ctx) override;
    std::span<const std::string_view> request_field_names() const override;

    struct Ctx;

  private:
    friend struct Ctx;
    enum Counter { kClaims, kReplays, kConflicts, kMismatches, kStoreErrors, kFull, kCounters };
    void count(Counter c) {
        if (counters_[c]) counters_[c]->fetch_add(1, std::memory_order_relaxed);
    }
    static void on_input(void* ctx);
    void try_fingerprint(Ctx& c);
    void claim(Ctx& c);
    void claim_local(Ctx& c);
    void replay(Ctx& c, std::string_view blob);
    void complete(Ctx& c);
    void release(Ctx& c);

    const Policy& policy_;
    std::string route_name_;
    Runtime& rt_;
    std::atomic<uint64_t>* counters_[kCounters] = {};
    std::string scratch_;  // a replayed response, a decoded chunked body

    // Completions and releases sent to Redis: nobody waits for them, but the filter hears
    // their outcome (a failure is a store error), and cancels those in flight when it goes.
    struct Finish;
    std::vector<std::unique_ptr<Finish>> finishes_;
    std::vector<Finish*> free_finishes_;
    void send_finish(const Digest& key, const Digest& fp, uint64_t fence, std::string_view blob);
};

// The fingerprint of a request with a body of `body` (decoded).
Digest fingerprint(std::string_view method, std::string_view path, std::string_view query, std::string_view body);

}  // namespace gw::idempotency
