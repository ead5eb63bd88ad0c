// The error-pages module: `error_pages:` at the top level and in routes, and a route's
// `intercept_errors:`. Its worker part provides the pages (http::ErrorPages) through the
// services registry; the codec and the proxy look them up there when they answer an error.
#include <memory>
#include <string>

#include "core/config/config.h"
#include "core/config/dump.h"
#include "core/module/module.h"
#include "core/services/registry.h"
#include "modules/error_pages/config.h"

namespace gw::module {
extern const Descriptor error_pages_module;
}

namespace gw::error_pages {

using module::error_pages_module;

namespace {

Settings& building(Config& c) { return module::loading_part<Settings>(c, error_pages_module); }
const Settings* part(const Config& c) { return module::find_part<Settings>(c, error_pages_module); }

constexpr std::string_view kSections[] = {"error_pages"};

void read_sections(schema::MapReader& top, Config& c) {
    if (const schema::Node* v = top.take("error_pages")) read_pages(*v, "error_pages", c.prefix, building(c).top, top.diags());
}

void read_route(schema::MapReader& route, Config& c, size_t index) {
    const schema::Node* pages = route.take("error_pages");
    bool intercept = false;
    const schema::Node* intercept_key = route.key_node("intercept_errors");
    bool has_intercept = route.get_bool("intercept_errors", intercept);
    if (!pages && !has_intercept) return;
    Settings& s = building(c);
    if (s.routes.size() <= index) s.routes.resize(index + 1);
    PageSet& set = s.routes[index];
    if (pages) read_pages(*pages, route.path("error_pages"), c.prefix, set, route.diags());
    set.intercept = intercept;
    if (intercept_key) set.intercept_mark = intercept_key->mark;
}

void check(Config& c, Diagnostics& diags) {
    const Settings* s = part(c);
    if (!s) return;
    for (size_t i = 0; i < s->routes.size() && i < c.routes.size(); ++i) {
        const PageSet& set = s->routes[i];
        if (!set.intercept) continue;
        const RouteConfig& r = c.routes[i];
        if (r.upstream_index < 0 && r.split.empty()) {
            diags.error(set.intercept_mark, "routes[" + std::to_string(i) +
                                                "].intercept_errors: only for routes that proxy (upstream or split)");
        } else if (set.entries.empty() && s->top.entries.empty()) {
            diags.warning(set.intercept_mark, "routes[" + std::to_string(i) +
                                                  "].intercept_errors: no error_pages to replace upstream errors with");
        }
    }
}

void dump(const Config& c, std::string& out) {
    const Settings* s = part(c);
    if (s && !s->top.entries.empty()) dump_pages(s->top, 0, out);
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings* s = part(c);
    if (!s || index >= s->routes.size()) return;
    const PageSet& set = s->routes[index];
    if (!set.entries.empty()) dump_pages(set, indent, out);
    if (set.intercept) dump::line(out, indent, "intercept_errors", "true");
}

// A worker's side: the pages, for the codec and the proxy to find.
class Worker final : public module::WorkerPart {
  public:
    Worker(const Settings& s, services::Registry& services) : services_(services) {
        services_.provide<const http::ErrorPages>(&s);
    }
    ~Worker() override { services_.provide<const http::ErrorPages>(nullptr); }

  private:
    services::Registry& services_;
};

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& env) {
    const Settings* s = part(env.config);
    if (!s) return nullptr;
    return std::make_unique<Worker>(*s, env.services);
}

}  // namespace

}  // namespace gw::error_pages

namespace gw::module {

// Listed in src/modules/modules.list; objs/modules.cc refers to it by this name.
extern const Descriptor error_pages_module = {
    .name = "error_pages",
    .sections = gw::error_pages::kSections,
    .read_sections = gw::error_pages::read_sections,
    .read_route = gw::error_pages::read_route,
    .check = gw::error_pages::check,
    .dump = gw::error_pages::dump,
    .dump_route = gw::error_pages::dump_route,
    .make_worker = gw::error_pages::make_worker,
};

}  // namespace gw::module
