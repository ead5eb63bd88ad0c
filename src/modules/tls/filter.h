// The tls module's filter on a route: refuses a request of a `require_client_cert: true` route
// that came without a verified client certificate (403, the usual JSON error body) and makes the
// certificate's subject the consumer of one that came with it (an http::Identity: $consumer,
// `key: consumer` rate limits, the per-consumer metric label), and adds the listener's
// Strict-Transport-Security line (`hsts:`) to responses on a TLS listener.
//
// Two hooks, each declared only when some route or listener needs it: a route with neither pays
// nothing (route_filter gives it no filter).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/filter.h"
#include "modules/tls/config.h"

namespace gw {
struct Config;
}

namespace gw::tls {

// "strict-transport-security: max-age=N[; includeSubDomains][; preload]\r\n", or empty when
// max_age is 0.
std::string hsts_line(const Hsts& hsts);

class TlsFilter final : public http::Filter {
  public:
    // `hsts_lines`: by listener index, each empty or a line made by hsts_line(); shared by the
    // worker's filters and outliving them. `route` names the route in messages (-1: none).
    TlsFilter(const Config& config, int route, bool require_cert, const std::vector<std::string>& hsts_lines);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;
    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override;
    std::span<const std::string_view> response_field_names() const override;

  private:
    const Config& config_;
    int route_;
    const std::vector<std::string>& hsts_lines_;
};

}  // namespace gw::tls
