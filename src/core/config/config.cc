// load_config(): the top level of gateway.conf, and the keys about the processes themselves.
// The other sections live in config_*.cc; scalar parsers in config_scalars.cc.
#include "core/config/config.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "core/config/config_sections.h"
#include "core/config/schema.h"
#include "core/module/module.h"

// The build force-includes objs/config.h, which sets these from ./configure; the fallbacks keep
// a standalone build of this file working.
#ifndef GW_PID_PATH
#define GW_PID_PATH "logs/gatewayd.pid"
#endif

namespace gw {

namespace config_detail {

namespace {

using schema::MapReader;
using yaml::Node;

constexpr int kMaxWorkers = 1024;

int online_cpus() {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return static_cast<int>(std::clamp<long>(n, 1, kMaxWorkers));
}

bool looks_like_int(const Node& v) {
    std::string_view t = v.text;
    if (t.starts_with('-')) t.remove_prefix(1);
    return v.is_scalar() && v.plain && !t.empty() &&
           std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void read_workers(MapReader& top, Config& c) {
    Diagnostics& diags = top.diags();
    if (const Node* v = top.take("worker_processes")) {
        if (v->is_scalar() && v->text == "auto") {
            c.worker_processes_auto = true;
            c.worker_processes = online_cpus();
        } else if (looks_like_int(*v)) {
            if (auto n = schema::read_int(*v, "worker_processes", {1, kMaxWorkers}, diags)) {
                c.worker_processes = static_cast<int>(*n);
            }
        } else {
            schema::report(diags, v->mark, "worker_processes",
                           "expected an integer or \"auto\", got " + yaml::describe(*v));
        }
    }
    top.get_int("worker_connections", c.worker_connections, {16, 1048576});
}

// `user: name` or `user: name:group`. Checked now so that a typo fails the load (or the
// reload) rather than a worker after fork.
void read_user(MapReader& top, Config& c) {
    const Node* v = top.take("user");
    if (!v) return;
    std::optional<std::string> text = schema::read_string(*v, "user", top.diags());
    if (!text) return;
    size_t colon = text->find(':');
    std::string user = text->substr(0, colon);
    std::string group = colon == std::string::npos ? "" : text->substr(colon + 1);
    if (user.empty() || getpwnam(user.c_str()) == nullptr) {
        schema::report(top.diags(), v->mark, "user", "unknown user \"" + user + "\"");
        return;
    }
    if (colon != std::string::npos && (group.empty() || getgrnam(group.c_str()) == nullptr)) {
        schema::report(top.diags(), v->mark, "user", "unknown group \"" + group + "\"");
        return;
    }
    c.user = user;
    c.group = group;
}

}  // namespace

void read_process_keys(MapReader& top, Config& c) {
    read_workers(top, c);
    read_user(top, c);

    std::string pid = GW_PID_PATH;
    if (const Node* v = top.take("pid")) {
        if (auto s = schema::read_string(*v, "pid", top.diags())) {
            if (s->empty()) schema::report(top.diags(), v->mark, "pid", "empty path");
            else pid = *s;
        }
    }
    c.pid_path = resolve_path(c.prefix, pid);

    top.get_bool("daemon", c.daemon);
    top.get_duration("shutdown_timeout", c.shutdown_timeout, {0, 86400000});
    top.get_duration("worker_ready_timeout", c.worker_ready_timeout, {100, 600000});
    top.get_int("max_draining_generations", c.max_draining_generations, {1, 16});
}

}  // namespace config_detail

std::optional<Config> load_config(const std::string& path, const std::string& prefix,
                                  Diagnostics& diags, Config* partial) {
    using namespace config_detail;
    size_t errors_before = diags.error_count();
    Config c;
    c.file = absolute_path(path);
    c.prefix = absolute_path(prefix);
    c.modules.resize(module::modules().size());

    std::optional<yaml::Node> tree = load_tree(path, c.files, diags);
    if (!tree) return std::nullopt;
    {
        schema::MapReader top(*tree, "", diags);
        top.take("include");  // already handled by load_tree; listed so typos get a suggestion
        read_process_keys(top, c);
        read_logs(top, c);
        read_listeners(top, c);
        read_http(top, c);
        read_http2(top, c);
        read_metrics(top, c);
        read_upstreams(top, c);
        read_redis(top, c);
        module::read_sections(top, c);
        read_routes(top, c);
        read_real_ip(top, c);
        top.finish();
    }
    module::check(c, diags);
    if (diags.error_count() > errors_before) {
        if (partial) *partial = std::move(c);
        return std::nullopt;
    }
    return c;
}

}  // namespace gw
