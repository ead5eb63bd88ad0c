#include "modules/tls/filter.h"

#include <algorithm>
#include <new>

#include "core/config/config.h"
#include "core/log.h"
#include "http/identity.h"
#include "http/stream.h"
#include "modules/tls/stream_transport.h"

namespace gw::tls {

namespace {

constexpr std::string_view kHstsField[] = {"strict-transport-security"};

// The request's identity on a require_client_cert route: the verified certificate's subject
// (RFC 2253, as $ssl_client_s_dn), kept by the transport for the connection's life. An auth
// provider of the route that authenticates the request replaces it (the auth module's filter
// comes after this one).
class ClientCertIdentity final : public http::Identity {
  public:
    explicit ClientCertIdentity(std::string_view subject) : subject_(subject) {}
    std::string_view consumer() const override { return subject_; }
    std::string_view provider() const override { return "client_certificate"; }
    std::string_view method() const override { return "mtls"; }

  private:
    std::string_view subject_;
};

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
    : http::Filter(hooks_needed(require_cert, hsts_lines), require_cert ? sizeof(ClientCertIdentity) : 0,
                   alignof(ClientCertIdentity)),
      config_(config), route_(route), hsts_lines_(hsts_lines) {}

http::FilterStatus TlsFilter::on_request(http::Stream& s, void* ctx) {
    // Only a certificate that was verified counts (client_auth optional lets an unverified one
    // finish the handshake), in this handshake or in the one that made the resumed session:
    // sessions are never resumed across client-auth policies (context.h).
    const TlsTransport* t = tls_transport(s);
    if (t && t->verified_peer()) {
        std::string_view subject = t->verified_peer_subject();
        if (!subject.empty()) s.set_identity(new (ctx) ClientCertIdentity(subject));
        return http::FilterStatus::Continue;
    }
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
