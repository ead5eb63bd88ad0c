// The cache filter of one route (and worker). At the request: the object of the route's key is
// looked up in the zone's store - fresh: answered from it (HIT; a client's conditional request
// that matches gets 304); stale within stale_while_revalidate: answered from it (UPDATING) while
// one background refresh runs; stale otherwise: revalidated upstream with its validators
// (EXPIRED; a 304 refreshes it: REVALIDATED); none: a miss claims the fill and goes upstream
// (MISS), and the requests for the same key that come meanwhile - in any worker - wait for that
// fill and are answered from its object (coalescing), or go upstream themselves after
// lock_timeout. At the response: a storable one (RFC 9111, freshness.h) is copied as it streams
// and stored at its end. stale_if_error: an upstream error (5xx, or none at all) is answered
// with the stale object (STALE).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "http/filter.h"
#include "http/parser.h"
#include "modules/cache/config.h"
#include "modules/cache/runtime.h"

namespace gw::cache {

class BackgroundRefresh;

class CacheFilter final : public http::Filter {
  public:
    CacheFilter(const RoutePolicy& policy, Runtime& rt, BackgroundRefresh* refresh);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;
    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override;
    void on_body(http::Stream& s, void* ctx, std::string_view in, bool last, std::string& out) override;
    bool on_replace(http::Stream& s, void* ctx, int status, const http::Response* upstream) override;
    void on_destroy(http::Stream& s, void* ctx) override;
    // The client's conditional fields are the cache's to answer: never forwarded (as nginx).
    std::span<const std::string_view> request_field_names() const override;
    std::span<const std::string_view> response_field_names() const override;

    struct Ctx;

  private:
    // Looks the key up and decides (at the request, and again when a waiter wakes): true when
    // the request is answered from the store.
    enum class Next : uint8_t { Answered, Upstream, Wait };
    Next look(http::Stream& s, Ctx& c);
    void wake(Ctx& c);
    void end_fill(Ctx& c, int64_t pass_ms = 0);
    void store(http::Stream& s, Ctx& c);
    bool answer_conditional(http::Stream& s, Ctx& c);
    void answer(http::Stream& s, Ctx& c);

    const RoutePolicy& policy_;
    Runtime& rt_;
    Store& store_;
    uint64_t max_object_;
    BackgroundRefresh* refresh_;
    std::string_view status_field_;  // the configured status field's name ("": none)
    std::string key_;      // scratch: a key being built
    std::string variant_;  // scratch: a variant key
};

// The route's key text for the request (parts joined by one space; HEAD looks up GET's).
void build_key(const RoutePolicy& p, const http::Stream& s, std::string& out);
// Appends a variant key's suffix (NUL, then "name=value\n" per Vary field) for `names`.
void append_variant(std::string_view names, const http::Request& req, std::string& out);

}  // namespace gw::cache
