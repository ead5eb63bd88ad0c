// The rate limits of a route as a filter: local policies decide inline; a route with policies of
// scope global pauses while Redis decides, and resumes (or answers 429/503) when it has. The
// RateLimit-* header lines (and Retry-After on a rejection) go on the response head. The
// requests in flight a concurrency policy counted are given back in on_destroy, which runs
// however the request ends.
#pragma once

#include "http/filter.h"
#include "modules/ratelimit/limiter.h"

namespace gw::ratelimit {

class RateLimitFilter final : public http::Filter {
  public:
    RateLimitFilter(Limiter& limiter, const RoutePolicies& policies);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;
    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override;
    void on_destroy(http::Stream& s, void* ctx) override;
    std::span<const std::string_view> response_field_names() const override;

  private:
    struct State;  // per request, in the stream's arena
    static void decided(void* state);

    Limiter& limiter_;
    const RoutePolicies& policies_;
};

}  // namespace gw::ratelimit
