// The error_pages module's configuration: `error_pages:` at the top level and in routes, and a
// route's `intercept_errors:` (man/gateway.conf.5, ERROR PAGES).
//
//   error_pages:
//     502: {body: "<h1>Back soon</h1>", content_type: text/html}
//     5xx: {file: /etc/gatewayd/5xx.html}
//     404: {body: '{"error": "no such thing", "request_id": "$request_id"}', content_type: application/json}
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/module/module.h"
#include "http/error_pages.h"

#include "core/config/schema.h"

namespace gw::error_pages {

// The pages of one level (top or a route): each for an exact status (400..599) or a class
// (4 = "4xx", 5 = "5xx").
struct PageSet {
    struct Entry {
        int status = 0;     // 400..599, or 4 / 5 for a class
        http::ErrorPage page;
        std::string file;   // `file:` (absolute), whose contents are the body (no variables)
    };
    std::vector<Entry> entries;
    bool intercept = false;  // routes: intercept_errors
    Mark intercept_mark;

    const http::ErrorPage* find(int status) const;  // exact, then class
};

struct Settings final : module::ConfigPart, http::ErrorPages {
    PageSet top;
    std::vector<PageSet> routes;  // by route index; may be shorter than Config::routes

    const http::ErrorPage* find(int route, int status) const override;
    bool intercepts(int route) const override {
        return route >= 0 && static_cast<size_t>(route) < routes.size() && routes[route].intercept;
    }
};

// Reads an `error_pages:` map into `out`; `prefix` resolves relative `file:` paths.
void read_pages(const schema::Node& node, std::string_view path, const std::string& prefix, PageSet& out,
                Diagnostics& diags);
void dump_pages(const PageSet& set, int indent, std::string& out);

}  // namespace gw::error_pages
