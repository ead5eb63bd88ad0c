// `error_log:` and `access_log:`.
#include "core/config/config_sections.h"

#ifndef GW_ERROR_LOG_PATH
#define GW_ERROR_LOG_PATH "logs/error.log"
#endif

namespace gw::config_detail {

namespace {

using schema::MapReader;
using yaml::Node;

constexpr int64_t kHour = 3600 * 1000;

// A path value: a non-empty string, resolved against the prefix.
bool read_path(const Node& v, std::string_view path, const Config& c, std::string& out,
               Diagnostics& diags) {
    std::optional<std::string> s = schema::read_string(v, path, diags);
    if (!s) return false;
    if (s->empty()) {
        schema::report(diags, v.mark, path, "empty path");
        return false;
    }
    out = resolve_path(c.prefix, *s);
    return true;
}

void read_error_log(MapReader& top, Config& c) {
    Diagnostics& diags = top.diags();
    std::string path = GW_ERROR_LOG_PATH;
    const Node* v = top.take("error_log");
    const Node* path_node = v;
    if (v && v->is_map()) {
        MapReader m(*v, "error_log", diags);
        m.require("path");
        path_node = m.take("path");
        m.get_enum<LogLevel>("level", c.error_log.level,
                             {{log_level_name(LogLevel::Emerg), LogLevel::Emerg},
                              {log_level_name(LogLevel::Alert), LogLevel::Alert},
                              {log_level_name(LogLevel::Crit), LogLevel::Crit},
                              {log_level_name(LogLevel::Error), LogLevel::Error},
                              {log_level_name(LogLevel::Warn), LogLevel::Warn},
                              {log_level_name(LogLevel::Notice), LogLevel::Notice},
                              {log_level_name(LogLevel::Info), LogLevel::Info},
                              {log_level_name(LogLevel::Debug), LogLevel::Debug}});
    }
    std::string_view where = v && v->is_map() ? "error_log.path" : "error_log";
    if (v && !v->is_map() && !v->is_scalar()) {
        schema::report(diags, v->mark, where, "expected a path or a map, got " + yaml::describe(*v));
    } else if (path_node) {
        std::optional<std::string> s = schema::read_string(*path_node, where, diags);
        if (s && s->empty()) schema::report(diags, path_node->mark, where, "empty path");
        else if (s) path = *s;
    }
    // "stderr" is not a file name here: the log module writes to fd 2 for it.
    c.error_log.path = path == "stderr" ? path : resolve_path(c.prefix, path);
}

void read_access_log(MapReader& top, Config& c) {
    Diagnostics& diags = top.diags();
    AccessLogConfig& a = c.access_log;
    const Node* v = top.take("access_log");
    if (!v) return;
    if (v->is_scalar() && v->plain && v->text == "off") return;
    if (v->is_scalar()) {
        a.enabled = read_path(*v, "access_log", c, a.path, diags);
        return;
    }
    if (!v->is_map()) {
        schema::report(diags, v->mark, "access_log",
                       "expected a path, off or a map, got " + yaml::describe(*v));
        return;
    }
    MapReader m(*v, "access_log", diags);
    if (m.require("path")) a.enabled = read_path(*m.take("path"), "access_log.path", c, a.path, diags);
    using Format = AccessLogConfig::Format;
    m.get_enum<Format>("format", a.format, {{"json", Format::Json}, {"combined", Format::Combined}});
    m.get_size("buffer", a.buffer, {0, 16 << 20});
    m.get_duration("flush", a.flush, {1, kHour});
}

}  // namespace

void read_logs(MapReader& top, Config& c) {
    read_error_log(top, c);
    read_access_log(top, c);
}

}  // namespace gw::config_detail
