// Proxy::append_status(): the upstreams part of the admin /status object - each server's health
// (active checks, passive failures) and its circuit breaker's state, as this worker sees them.
#include "http/proxy/proxy.h"
#include "http/response.h"

namespace gw::http::proxy {

void Proxy::append_status(std::string& o) {
    int64_t now = loop_.now();
    o += ",\"upstreams\":[";
    for (size_t u = 0; u < upstreams_.size(); ++u) {
        const UpstreamRuntime& ur = upstreams_[u];
        if (u) o += ',';
        o += "{\"name\":\"";
        append_json_escaped(o, ur.config->name);
        o += "\",\"servers\":[";
        for (size_t i = 0; i < ur.servers.size(); ++i) {
            const ServerRuntime& s = ur.servers[i];
            const health::Record* h = s.health;
            if (i) o += ',';
            o += "{\"address\":\"";
            append_json_escaped(o, s.config->address);
            o += '"';
            o += ",\"health\":\"";
            o += health::actively_down(h) ? "down" : health::passively_down(h, now) ? "passive_down" : "up";
            o += '"';
            // Passive failures in the current fail_timeout window (with max_fails).
            if (h && ur.config->max_fails)
                o += ",\"passive_fails\":" + std::to_string(h->fails.load(std::memory_order_relaxed));
            if (h && ur.config->health_check) {
                o += ",\"checks\":" + std::to_string(h->observation.load()) +
                     ",\"last_status\":" + std::to_string(h->last_status.load());
            }
            if (s.config->max_conns) {
                o += ",\"max_conns\":" + std::to_string(s.config->max_conns) +
                     ",\"active\":" + std::to_string(s.active_requests.value());
            }
            if (s.breaker.enabled()) {
                o += ",\"circuit\":\"";
                o += breaker::state_name(s.breaker.state());
                o += '"';
            }
            o += '}';
        }
        o += ']';
        if (ur.queue)
            o += ",\"queue\":{\"size\":" + std::to_string(ur.config->queue.size) +
                 ",\"waiting\":" + std::to_string(ur.queue->waiting_total()) + '}';
        o += '}';
    }
    o += ']';
}

}  // namespace gw::http::proxy
