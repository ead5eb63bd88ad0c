#include "modules/admin_auth/filter.h"

#include <openssl/crypto.h>

#include <new>

#include "core/log.h"
#include "core/metrics/store.h"
#include "http/chars.h"
#include "http/stream.h"

namespace gw::admin_auth {

namespace {

constexpr const char* kRefusedHelp = "Requests to admin listeners refused by admin_auth (401: token, 403: address).";

bool is_health(std::string_view path) { return path == "/health" || path == "/health/ready"; }

}  // namespace

bool bearer_matches(std::string_view authorization, const std::array<uint8_t, 32>& digest) {
    constexpr std::string_view kScheme = "bearer ";
    if (authorization.size() <= kScheme.size() ||
        !http::chars::iequals(authorization.substr(0, kScheme.size()), kScheme))
        return false;
    std::string_view token = authorization.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    // Digests of the same size: the time taken says nothing about how much of the token was right.
    std::array<uint8_t, 32> got = admin_auth::digest(token);
    return CRYPTO_memcmp(got.data(), digest.data(), got.size()) == 0;
}

AdminAuthFilter::AdminAuthFilter(const Config& config, const Settings& settings, metrics::Store& metrics)
    : http::Filter(http::kHookRequest | http::kHookResponseHead, sizeof(bool), alignof(bool)),
      config_(config),
      settings_(settings),
      metrics_(metrics) {}

http::FilterStatus AdminAuthFilter::on_request(http::Stream& s, void* ctx) {
    bool& challenge = *new (ctx) bool(false);
    size_t l = s.listener_index();
    if (l >= config_.listeners.size() || !config_.listeners[l].admin) return http::FilterStatus::Continue;
    const http::Request& req = s.request();
    if (!settings_.protect_health && is_health(req.path)) return http::FilterStatus::Continue;
    if (!settings_.allow.empty() && !net::contains(settings_.allow, s.client_ip())) {
        refuse(s, 403, "its address is not in admin_auth.allow");
        return http::FilterStatus::Done;
    }
    // Exactly one Authorization field: with two, which one a check reads is a guess.
    std::string_view authorization;
    int fields = 0;
    for (size_t i = 0; i < req.header_count; ++i)
        if (http::chars::iequals(req.headers[i].name, "authorization")) {
            authorization = req.headers[i].value;
            ++fields;
        }
    if (fields != 1 || !bearer_matches(authorization, settings_.token_digest)) {
        challenge = true;
        refuse(s, 401, fields == 0 ? "it has no token" : "its token is not the admin token");
        return http::FilterStatus::Done;
    }
    return http::FilterStatus::Continue;
}

void AdminAuthFilter::on_response_head(http::Stream&, void* ctx, http::ResponseHead& head) {
    if (*static_cast<bool*>(ctx)) head.add_lines("www-authenticate: Bearer realm=\"admin\"\r\n");
}

void AdminAuthFilter::refuse(http::Stream& s, int status, const char* why) {
    // At info, as access rules log a refusal: a scan must not flood the log at the default level.
    LOG_INFO("client %.*s: admin request for %.*s refused: %s", static_cast<int>(s.client_address().size()),
             s.client_address().data(), static_cast<int>(s.request().path.size()), s.request().path.data(), why);
    s.reply_error(status, status == 403 ? "forbidden" : "admin token required");
    std::atomic<uint64_t>*& cell = refused_[status == 403 ? 1 : 0];
    if (!cell)
        cell = metrics_.counter("gateway_admin_auth_refused_total", status == 403 ? "status=\"403\"" : "status=\"401\"",
                                kRefusedHelp);
    if (cell) cell->fetch_add(1, std::memory_order_relaxed);
}

}  // namespace gw::admin_auth
