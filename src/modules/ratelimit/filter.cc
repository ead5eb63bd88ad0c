#include "modules/ratelimit/filter.h"

#include <new>

#include "http/stream.h"

namespace gw::ratelimit {

struct RateLimitFilter::State {
    Verdict verdict;
    Check* pending = nullptr;  // Redis decides
    RequestInfo info;          // what the key is made of (points into the stream)
    http::ResumeHandle handle;
    RateLimitFilter* filter = nullptr;
};

RateLimitFilter::RateLimitFilter(Limiter& limiter, const RoutePolicies& policies)
    : Filter(http::kHookRequest | http::kHookResponseHead | http::kHookDestroy, sizeof(State), alignof(State)),
      limiter_(limiter),
      policies_(policies) {}

http::FilterStatus RateLimitFilter::on_request(http::Stream& s, void* ctx) {
    State* st = new (ctx) State;
    st->filter = this;
    st->info.request = &s.request();
    st->info.ip = s.client_address();
    st->info.identity = s.identity();
    st->handle = s.pause_handle();
    // Decided at the request's start time (the codec read the clock already).
    if (!limiter_.check(policies_, st->info, s.start_ns(), st->verdict, {&RateLimitFilter::decided, st}, &st->pending))
        return http::FilterStatus::Pause;
    if (!st->verdict.rejected) return http::FilterStatus::Continue;
    s.reply(st->verdict.status, "application/json", st->verdict.body);
    return http::FilterStatus::Done;
}

void RateLimitFilter::decided(void* state) {
    State* st = static_cast<State*>(state);
    st->pending = nullptr;
    if (st->verdict.rejected)
        st->handle.respond(st->verdict.status, "application/json", st->verdict.body);
    else
        st->handle.resume();
}

void RateLimitFilter::on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) {
    State* st = static_cast<State*>(ctx);
    if (http::TraceContext* t = s.trace(); t && t->sampled) [[unlikely]]
        t->ratelimit = st->verdict.rejected ? "rejected" : "allowed";
    if (!st->verdict.rejected && !st->verdict.headers) return;
    char buf[kMaxHeaderBytes];
    head.add_lines({buf, st->verdict.format(buf, sizeof buf)});
}

// RateLimit-* replace the upstream's own. (Retry-After only comes with the gateway's own 429.)
std::span<const std::string_view> RateLimitFilter::response_field_names() const {
    static constexpr std::string_view kNames[] = {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"};
    return kNames;
}

void RateLimitFilter::on_destroy(http::Stream&, void* ctx) {
    State* st = static_cast<State*>(ctx);
    if (st->pending) limiter_.cancel(st->pending);  // the client left while Redis decided
    // However the request ended (answered, rejected by a later filter, never proxied, its client
    // gone), it is no longer in flight.
    limiter_.release(st->verdict);
    st->~State();
}

}  // namespace gw::ratelimit
