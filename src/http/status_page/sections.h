// The status page's sections, each appended to `o` from the /status/live document `d` (and its
// metric families): render.cc has the node and the proxy's (workers, listeners, routes,
// upstream servers), modules.cc the modules' (rate limits, cache, TLS, HTTP/2, gRPC, and any
// other /status member, flattened). A module's section is left out when it has nothing to show.
#pragma once

#include <string>

#include "http/status_page/figures.h"

namespace gw::http::status_page {

void node_section(std::string& o, const Json& d, const Families& fams);
void workers_section(std::string& o, const Json& d);
void listeners_section(std::string& o, const Json& d);
void routes_section(std::string& o, const Json& d, const Families& fams);
void upstreams_section(std::string& o, const Json& d, const Families& fams);

void ratelimits_section(std::string& o, const Families& fams);
void cache_section(std::string& o, const Json& d, const Families& fams);
void tls_section(std::string& o, const Families& fams);
void http2_section(std::string& o, const Families& fams);
void grpc_section(std::string& o, const Families& fams);
void other_sections(std::string& o, const Json& d);

}  // namespace gw::http::status_page
