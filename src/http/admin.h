// The admin listener's endpoints: /health, /health/ready, /status, /metrics, and the status
// page: / (HTML) and /status/live (its JSON, src/http/status_page/).
#pragma once

#include <string>
#include <string_view>

#include "http/parser.h"

namespace gw::http {

class Server;

struct AdminResponse {
    int status = 200;
    std::string_view content_type = "application/json";
    std::string body;
    // Header lines of this answer besides content-type and cache-control, each ending in CRLF.
    std::string_view extra_headers;
};

// The /status object, "{...}" with no newline after it: the node, its workers, the upstreams,
// the modules' members.
void append_status_object(Server& server, std::string& out);

void handle_admin(Server& server, const Request& request, AdminResponse& out);

}  // namespace gw::http
