#include "http/status_page/page.h"

#include "http/admin.h"
#include "http/response.h"
#include "http/status_page/assets.h"
#include "http/status_page/json.h"
#include "http/status_page/live.h"

namespace gw::http::status_page {

void serve_page(Server& server, AdminResponse& out) {
    std::string live;
    render_live(server, live);
    Json doc;
    if (!parse_json(live, doc)) {  // the gateway's own JSON: a bug if it is not
        out.status = 500;
        out.body = json_error_body(500, "the status document is not valid JSON");
        return;
    }
    out.content_type = "text/html; charset=utf-8";
    out.extra_headers = page_headers();
    render_page(doc, out.body);
}

}  // namespace gw::http::status_page
