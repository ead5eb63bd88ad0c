// The CORS filter of one route (and worker): answers preflights itself and adds the CORS fields
// to every other response of the route - the upstream's, and the gateway's own answers (a 401 from
// auth, a 429 from a rate limit: filters after this one), so that a browser app can read them.
//
// It runs before auth: a preflight carries no credentials, so auth would refuse it.
//
//   preflight (OPTIONS with Origin and Access-Control-Request-Method)
//       allowed origin, method and every requested header: 204 with Access-Control-Allow-Origin
//       (the request's origin; "*" only for a "*" policy without credentials), -Allow-Methods,
//       -Allow-Headers (the requested ones), -Allow-Credentials, -Max-Age;
//       anything not allowed: 403 without CORS fields (the browser then fails the request);
//       both with Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers.
//   any other request
//       allowed origin: Access-Control-Allow-Origin, -Allow-Credentials, -Expose-Headers;
//       always Vary: Origin (a cache must not hand one origin's answer to another).
// The upstream's own Access-Control-* fields never reach the client on a CORS route: the policy
// decides (response_field_names).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "http/filter.h"
#include "modules/cors/config.h"

namespace gw::cors {

class CorsFilter final : public http::Filter {
  public:
    explicit CorsFilter(const Policy& policy);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;
    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override;
    std::span<const std::string_view> response_field_names() const override;

  private:
    const OriginPattern* allowed_pattern(std::string_view origin_text);

    static constexpr size_t kMemoMax = 256;  // a longer Origin is parsed every time
    const Policy& policy_;
    // The last Origin value seen and the pattern that allows it (null: none does).
    std::string memo_origin_;
    const OriginPattern* memo_allowed_ = nullptr;
    bool memo_valid_ = false;
};

// What a preflight asks for, checked against `policy`: the method (exact) and each name in the
// Access-Control-Request-Headers list (case-insensitive). Pure, for the unit tests.
bool preflight_allowed(const Policy& policy, std::string_view method, std::string_view request_headers);

}  // namespace gw::cors
