// Error pages: what replaces the body of the gateway's own error answers (404 no route, 413,
// 429, 502, 504, ...) and, on routes with intercept_errors, of an upstream's 4xx/5xx response.
// The error_pages module provides them (services::Registry); without it, or without a page for
// a status, the gateway's JSON error body stays.
#pragma once

#include <string>
#include <string_view>

#include "http/vars/vars.h"

namespace gw::http {

struct ErrorPage {
    std::string content_type;  // "text/html; charset=utf-8", ...
    vars::Template body;       // variables allowed ($status, $request_id, ...)
};

class ErrorPages {
  public:
    // The page for `status` on route `route` (an index into Config::routes; -1: requests no
    // route matched), or nullptr: the route's own pages first (the exact status, then its class,
    // "5xx"), then the top-level ones the same way.
    virtual const ErrorPage* find(int route, int status) const = 0;
    // The route replaces an upstream's own error responses that have a page (intercept_errors).
    virtual bool intercepts(int route) const = 0;

  protected:
    ~ErrorPages() = default;
};

}  // namespace gw::http
