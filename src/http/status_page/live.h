// GET /status/live on an admin listener: what the status page refreshes itself from. The /status
// object with four more members: "time_ms" (the wall clock when it was made), "listeners" and
// "routes" (from the configuration this worker serves), and "metrics" (the metrics store as JSON,
// metrics::Store::render_json, after the modules' refresh_metrics as for /metrics).
// Everything in it is read from what /status and /metrics read: the status board and the
// metrics store in shared memory, the proxy's and the modules' status. Nothing on the request
// path is touched.
#pragma once

#include <string>

namespace gw::http {
class Server;
}

namespace gw::http::status_page {

// Appends the document and a newline to `out`.
void render_live(Server& server, std::string& out);

}  // namespace gw::http::status_page
