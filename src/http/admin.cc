#include "http/admin.h"

#include <ctime>

#include "core/module/module.h"
#include "http/proxy/proxy.h"
#include "http/response.h"
#include "http/server.h"
#include "http/status_page/live.h"
#include "http/status_page/page.h"

namespace gw::http {

namespace {

const char* state_name(uint32_t state) {
    switch (static_cast<SlotState>(state)) {
        case SlotState::Starting: return "starting";
        case SlotState::Ready: return "ready";
        case SlotState::Draining: return "draining";
        default: return "free";
    }
}

void health_ready(const StatusBoard& board, AdminResponse& out) {
    uint32_t gen = board.generation.load();
    uint32_t want = board.worker_processes.load();
    bool ready = gen != 0 && board.ready_workers(gen) >= want;
    out.status = ready ? 200 : 503;
    out.body = std::string("{\"status\":\"") + (ready ? "ready" : "not ready") +
               "\",\"generation\":" + std::to_string(gen) + "}\n";
}

}  // namespace

// The node and its workers (the status board), the upstream servers as this worker's proxy
// sees them, and what the modules add.
void append_status_object(Server& server, std::string& o) {
    const StatusBoard& board = *server.ctx().board;
    int64_t started = board.master_started_unix.load();
    o += "{\"version\":\"" GW_VERSION "\",\"generation\":" + std::to_string(board.generation.load()) +
        ",\"uptime_seconds\":" + std::to_string(started ? time(nullptr) - started : 0) +
        ",\"master_pid\":" + std::to_string(board.master_pid.load()) + ",\"workers\":[";
    bool first = true;
    for (uint32_t i = 0; i < kMaxWorkerSlots; ++i) {
        const WorkerSlot& s = board.slots[i];
        uint32_t st = s.state.load();
        if (st == static_cast<uint32_t>(SlotState::Free)) continue;
        if (!first) o += ',';
        first = false;
        o += "{\"slot\":" + std::to_string(i) + ",\"pid\":" + std::to_string(s.pid.load()) +
             ",\"generation\":" + std::to_string(s.generation.load()) + ",\"state\":\"" + state_name(st) +
             "\",\"requests\":" + std::to_string(s.requests.load()) +
             ",\"connections\":" + std::to_string(s.connections.load()) + "}";
    }
    o += ']';
    if (proxy::Proxy* p = server.proxy()) p->append_status(o);
    for (module::WorkerPart* part : server.ctx().modules)
        if (part) part->status(o);
    o += "}";
}

namespace {

void metrics(Server& server, AdminResponse& out) {
    const StatusBoard& board = *server.ctx().board;
    out.content_type = "text/plain; version=0.0.4; charset=utf-8";
    std::string& o = out.body;
    int64_t connections = 0;
    for (const WorkerSlot& s : board.slots)
        if (s.state.load(std::memory_order_relaxed) != static_cast<uint32_t>(SlotState::Free))
            connections += s.connections.load(std::memory_order_relaxed);
    // Values that live on the status board rather than in the metrics store.
    o += "# HELP gateway_connections_active Open client connections, all workers.\n"
         "# TYPE gateway_connections_active gauge\ngateway_connections_active ";
    o += std::to_string(connections);
    o += "\n# HELP gateway_config_generation The configuration generation being served.\n"
         "# TYPE gateway_config_generation gauge\ngateway_config_generation ";
    o += std::to_string(board.generation.load());
    o += "\n";
    // Gauges the modules keep up to date on demand (gateway_circuit_state as of now).
    for (module::WorkerPart* part : server.ctx().modules)
        if (part) part->refresh_metrics();
    server.ctx().metrics->render(o);
}

}  // namespace

void handle_admin(Server& server, const Request& req, AdminResponse& out) {
    const StatusBoard& board = *server.ctx().board;
    if (req.method != "GET" && req.method != "HEAD") {
        out.status = 405;
        out.body = json_error_body(405, "admin endpoints accept GET and HEAD only");
        return;
    }
    if (req.path == "/health") {
        out.body = "{\"status\":\"ok\"}\n";
    } else if (req.path == "/health/ready") {
        health_ready(board, out);
    } else if (req.path == "/status") {
        append_status_object(server, out.body);
        out.body += "\n";
    } else if (req.path == "/metrics") {
        metrics(server, out);
    } else if (req.path == "/status/live") {
        status_page::render_live(server, out.body);
        out.extra_headers = "x-content-type-options: nosniff\r\n";
    } else if (req.path == "/") {
        status_page::serve_page(server, out);
    } else {
        out.status = 404;
        out.body = json_error_body(
            404, "unknown admin endpoint (try /, /health, /health/ready, /status, /status/live, /metrics)");
    }
}

}  // namespace gw::http
