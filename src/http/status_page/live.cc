#include "http/status_page/live.h"

#include <ctime>

#include "core/module/module.h"
#include "core/text_escape.h"
#include "http/admin.h"
#include "http/server.h"

namespace gw::http::status_page {

namespace {

void append_string(std::string& o, std::string_view s) {
    o.push_back('"');
    append_json_escaped_text(o, s);
    o.push_back('"');
}

const char* http2_name(ListenerConfig::Http2 h) {
    switch (h) {
        case ListenerConfig::Http2::On: return "on";
        case ListenerConfig::Http2::PriorKnowledge: return "prior_knowledge";
        default: return "off";
    }
}

}  // namespace

void render_live(Server& server, std::string& o) {
    append_status_object(server, o);
    o.pop_back();  // the object's '}': the members below go in it
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    o += ",\"time_ms\":" + std::to_string(int64_t(now.tv_sec) * 1000 + now.tv_nsec / 1000000);

    const Config& config = *server.ctx().config;
    o += ",\"listeners\":[";
    for (size_t i = 0; i < config.listeners.size(); ++i) {
        const ListenerConfig& l = config.listeners[i];
        if (i) o.push_back(',');
        o += "{\"address\":";
        append_string(o, l.address);
        o += ",\"admin\":";
        o += l.admin ? "true" : "false";
        o += ",\"tls\":";
        o += server.transport(i) ? "true" : "false";
        o += ",\"http2\":\"";
        o += http2_name(l.http2);
        o += "\",\"proxy_protocol\":";
        o += l.proxy_protocol ? "true" : "false";
        o.push_back('}');
    }
    o += "],\"routes\":[";
    for (size_t i = 0; i < config.routes.size(); ++i) {
        const RouteConfig& r = config.routes[i];
        if (i) o.push_back(',');
        o += "{\"name\":";
        append_string(o, r.name);
        if (!r.upstream.empty()) {
            o += ",\"upstream\":";
            append_string(o, r.upstream);
        } else if (!r.split.empty()) {
            o += ",\"split\":[";
            for (size_t k = 0; k < r.split.size(); ++k) {
                if (k) o.push_back(',');
                append_string(o, r.split[k].upstream);
            }
            o.push_back(']');
        } else if (r.ret) {
            o += ",\"return\":" + std::to_string(r.ret->status);
        }
        o.push_back('}');
    }
    o += "],\"metrics\":";
    // Gauges the modules keep up to date on demand, as /metrics does.
    for (module::WorkerPart* part : server.ctx().modules)
        if (part) part->refresh_metrics();
    server.ctx().metrics->render_json(o);
    o += "}\n";
}

}  // namespace gw::http::status_page
