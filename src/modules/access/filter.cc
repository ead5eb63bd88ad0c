#include "modules/access/filter.h"

#include "core/config/config.h"
#include "core/log.h"
#include "core/metrics/store.h"
#include "http/stream.h"

namespace gw::access {

namespace {

constexpr const char* kDeniedHelp = "Requests refused by access rules (403), by route and listener.";

}  // namespace

AccessFilter::AccessFilter(const Config& config, const AccessConfig& rules, int route, metrics::Store& metrics)
    : http::Filter(http::kHookRequest),
      config_(config),
      rules_(rules),
      route_rules_(route >= 0 ? rules.route(static_cast<size_t>(route)) : nullptr),
      route_(route),
      metrics_(metrics),
      denied_(config.listeners.size(), nullptr) {}

http::FilterStatus AccessFilter::on_request(http::Stream& s, void*) {
    const net::IpAddress& client = s.client_ip();
    // The listener's rules first: they hold for every request it takes.
    if (const AccessRules* l = rules_.listener(s.listener_index()); l && !l->permits(client)) {
        deny(s, "listener");
        return http::FilterStatus::Done;
    }
    if (route_rules_ && !route_rules_->permits(client)) {
        deny(s, "route");
        return http::FilterStatus::Done;
    }
    return http::FilterStatus::Continue;
}

void AccessFilter::deny(http::Stream& s, const char* by) {
    size_t l = s.listener_index();
    std::string_view route = route_ >= 0 ? std::string_view(config_.routes[static_cast<size_t>(route_)].name) : "";
    std::string_view listener = l < config_.listeners.size() ? std::string_view(config_.listeners[l].address) : "";
    // What nginx writes as "access forbidden by rule", at info: a refused client is not the
    // gateway's error, and a scan must not flood the log at the default level.
    if (route_ >= 0)
        LOG_INFO("client %.*s on %.*s: access forbidden by the %s's rules (route \"%.*s\")",
                 static_cast<int>(s.client_address().size()), s.client_address().data(),
                 static_cast<int>(listener.size()), listener.data(), by, static_cast<int>(route.size()), route.data());
    else
        LOG_INFO("client %.*s on %.*s: access forbidden by the listener's rules",
                 static_cast<int>(s.client_address().size()), s.client_address().data(),
                 static_cast<int>(listener.size()), listener.data());
    s.reply_error(403, "access denied");

    if (l >= denied_.size()) return;
    std::atomic<uint64_t>*& cell = denied_[l];
    if (!cell) {
        std::string labels = "route=\"" + metrics::escape_label_value(route) + "\",listener=\"" +
                             metrics::escape_label_value(listener) + "\"";
        cell = metrics_.counter("gateway_access_denied_total", labels, kDeniedHelp);
    }
    if (cell) cell->fetch_add(1, std::memory_order_relaxed);
}

RouteFilters::RouteFilters(const Config& config, const AccessConfig& rules, metrics::Store& metrics)
    : config_(config), rules_(rules), metrics_(metrics), filters_(config.routes.size() + 1) {}

AccessFilter* RouteFilters::get(int route) {
    if (route < -1 || static_cast<size_t>(route + 1) >= filters_.size()) return nullptr;
    // Listener rules hold on every route and on route -1; a route's own rules on it alone.
    bool own = route >= 0 && rules_.route(static_cast<size_t>(route));
    if (!own && !rules_.any_listener_rules()) return nullptr;
    std::unique_ptr<AccessFilter>& f = filters_[static_cast<size_t>(route + 1)];
    if (!f) f = std::make_unique<AccessFilter>(config_, rules_, route, metrics_);
    return f.get();
}

}  // namespace gw::access
