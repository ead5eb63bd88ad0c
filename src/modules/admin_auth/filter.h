// The admin listeners' guard: a filter on route -1 (requests no route matched, and every request
// of an admin listener - the access module's pattern), which lets through only what is not an
// admin listener's, an open health probe, or a request from an allowed address with the token.
//   an address not in `allow`      403 (checked first: no token check for it)
//   no token, or another one       401 with WWW-Authenticate: Bearer realm="admin"
// /health and /health/ready stay open for load balancers unless protect_health is set.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "http/filter.h"
#include "modules/admin_auth/config.h"

namespace gw::metrics {
class Store;
}

namespace gw::admin_auth {

class AdminAuthFilter final : public http::Filter {
  public:
    AdminAuthFilter(const Config& config, const Settings& settings, metrics::Store& metrics);

    http::FilterStatus on_request(http::Stream& s, void* ctx) override;
    void on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) override;

  private:
    void refuse(http::Stream& s, int status, const char* why);

    const Config& config_;
    const Settings& settings_;
    metrics::Store& metrics_;
    std::atomic<uint64_t>* refused_[2] = {};  // gateway_admin_auth_refused_total{status="401"|"403"}
};

// Whether the value of an Authorization field carries `digest`'s token as a Bearer credential
// (the scheme in any case, RFC 9110). Constant time in the token's bytes. Pure, for the tests.
bool bearer_matches(std::string_view authorization, const std::array<uint8_t, 32>& digest);

}  // namespace gw::admin_auth
