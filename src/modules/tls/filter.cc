#include "modules/tls/filter.h"

#include <algorithm>

#include "core/config/config.h"
#include "core/log.h"
#include "http/stream.h"
#include "modules/tls/stream_transport.h"

namespace gw::tls {

namespace {

constexpr std::string_view kHstsField[] = {"strict-transport-security"};

uint8_t hooks_needed(bool require_cert, const std::vector<std::string>& hsts_lines) {
    bool hsts = std::any_of(hsts_lines.begin(), hsts_lines.end(), [](const std::string& l) { return !l.empty(); });
    return static_cast<uint8_t>((require_cert ? http::kHookRequest : 0) | (hsts ? http::kHookResponseHead : 0));
}

}  // namespace

std::string hsts_line(const Hsts& hsts) {
    if (hsts.max_age_s == 0) return {};
    std::string line = "strict-transport-security: max-age=" + std::to_string(hsts.max_age_s);
    if (hsts.include_subdomains) line += "; includeSubDomains";
    if (hsts.preload) line += "; preload";
    line += "\r\n";
    return line;
}

TlsFilter::TlsFilter(const Config& config, int route, bool require_cert, const std::vector<std::string>& hsts_lines)
    : http::Filter(hooks_needed(require_cert, hsts_lines)), config_(config), route_(route), hsts_lines_(hsts_lines) {}

http::FilterStatus TlsFilter::on_request(http::Stream& s, void*) {
    // Only a certificate that was verified counts (client_auth optional lets an unverified one
    // finish the handshake), in this handshake or in the one that made the resumed session:
    // sessions are never resumed across client-auth policies (context.h).
    const TlsTransport* t = tls_transport(s);
    if (t && t->verified_peer()) return http::FilterStatus::Continue;
    std::string_view route =
        route_ >= 0 ? std::string_view(config_.routes[static_cast<size_t>(route_)].name) : std::string_view();
    // At info: a refused client is not the gateway's error.
    LOG_INFO("client %.*s: no verified client certificate for route \"%.*s\"",
             static_cast<int>(s.client_address().size()), s.client_address().data(), static_cast<int>(route.size()),
             route.data());
    s.reply_error(403, "client certificate required");
    return http::FilterStatus::Done;
}

void TlsFilter::on_response_head(http::Stream& s, void*, http::ResponseHead& head) {
    size_t l = s.listener_index();
    if (l < hsts_lines_.size() && !hsts_lines_[l].empty()) head.add_lines(hsts_lines_[l]);
}

std::span<const std::string_view> TlsFilter::response_field_names() const {
    if (hooks() & http::kHookResponseHead) return kHstsField;
    return {};
}

}  // namespace gw::tls
