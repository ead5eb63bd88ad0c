// GET / on an admin listener: the status page, one self-contained HTML document (inline CSS and
// script, nothing fetched from anywhere else). The server renders it from the /status/live
// document, so it is a complete snapshot with JavaScript off; with JavaScript on, the page's
// script (assets.cc) refreshes its figures from /status/live every 2 s and draws sparklines of
// the last minutes, kept in the page only.
#pragma once

#include <string>

namespace gw::http {
class Server;
struct AdminResponse;
}

namespace gw::http::status_page {

struct Json;

// The admin answer: the page, text/html, with its Content-Security-Policy.
void serve_page(Server& server, AdminResponse& out);

// The page for a /status/live document (render.cc). Appends to `out`.
void render_page(const Json& live, std::string& out);

}  // namespace gw::http::status_page
