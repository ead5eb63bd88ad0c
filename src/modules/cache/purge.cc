#include "modules/cache/purge.h"

#include "core/log.h"
#include "modules/cache/percent.h"
#include "http/stream.h"

namespace gw::cache {

namespace {

// The value of `name` in a query ("a=1&b=2"), still encoded; found: true.
bool query_value(std::string_view query, std::string_view name, std::string_view& out) {
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        size_t eq = item.find('=');
        if (item.substr(0, eq) == name) {
            out = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
            return true;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return false;
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace

PurgeFilter::PurgeFilter(const Config& config, Runtime& rt) : http::Filter(http::kHookRequest), config_(config), rt_(rt) {}

http::FilterStatus PurgeFilter::on_request(http::Stream& s, void*) {
    size_t l = s.listener_index();
    if (l >= config_.listeners.size() || !config_.listeners[l].admin) return http::FilterStatus::Continue;
    const http::Request& req = s.request();
    if (!req.path.starts_with("/cache/")) return http::FilterStatus::Continue;
    std::string_view zone_name = req.path.substr(7);
    const Settings& settings = rt_.settings();
    size_t zone = settings.zones.size();
    for (size_t i = 0; i < settings.zones.size(); ++i)
        if (settings.zones[i].name == zone_name) zone = i;
    Store* store = rt_.store(zone);
    if (!store) {
        s.reply_error(404, "no such cache zone");
        return http::FilterStatus::Done;
    }
    if (req.method == "GET") {
        Store::Stats st = store->stats();
        body_ = "{\"zone\":" + json_string(zone_name) + ",\"objects\":" + std::to_string(st.objects) +
                ",\"bytes\":" + std::to_string(st.bytes) + ",\"evictions\":" + std::to_string(st.evictions) + "}\n";
        s.reply(200, "application/json", body_);
        return http::FilterStatus::Done;
    }
    if (req.method != "DELETE" && req.method != "PURGE") {
        s.reply_error(405, "use GET, or DELETE with key= or prefix=");
        return http::FilterStatus::Done;
    }
    std::string_view raw;
    bool prefix = false;
    if (!query_value(req.query, "key", raw)) {
        if (!query_value(req.query, "prefix", raw)) {
            s.reply_error(400, "say key=KEY or prefix=TEXT");
            return http::FilterStatus::Done;
        }
        prefix = true;
    }
    std::string text;
    if (!percent_decode(raw, text) || (prefix && text.empty())) {
        s.reply_error(400, prefix ? "an empty or badly encoded prefix" : "a badly encoded key");
        return http::FilterStatus::Done;
    }
    size_t n = store->purge(text, prefix);
    LOG_NOTICE("cache: %zu object%s purged from zone \"%.*s\" by %s %s (client %s)", n, n == 1 ? "" : "s",
               static_cast<int>(zone_name.size()), zone_name.data(), prefix ? "prefix" : "key", json_string(text).c_str(),
               s.client_address().data());
    body_ = "{\"zone\":" + json_string(zone_name) + ",\"" + (prefix ? "prefix" : "key") + "\":" + json_string(text) +
            ",\"purged\":" + std::to_string(n) + "}\n";
    s.reply(200, "application/json", body_);
    return http::FilterStatus::Done;
}

}  // namespace gw::cache
