// The admin listener's endpoints: /health, /health/ready, /status, /metrics.
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
};

void handle_admin(Server& server, const Request& request, AdminResponse& out);

}  // namespace gw::http
