// `error_log:`, `access_log:` and `logs:` (what both logs share: redaction, repeated warnings).
#include <algorithm>
#include <utility>

#include "core/config/config_sections.h"

#ifndef GW_ERROR_LOG_PATH
#define GW_ERROR_LOG_PATH "logs/error.log"
#endif

namespace gw::config_detail {

namespace {

using schema::MapReader;
using yaml::Node;

constexpr int64_t kHour = 3600 * 1000;

// A path value: a non-empty string (resolved against the prefix by the caller).
bool read_path(const Node& v, std::string_view path, std::string& out, Diagnostics& diags) {
    std::optional<std::string> s = schema::read_string(v, path, diags);
    if (!s) return false;
    if (s->empty()) {
        schema::report(diags, v.mark, path, "empty path");
        return false;
    }
    out = std::move(*s);
    return true;
}

void read_error_log(MapReader& top, Config& c) {
    Diagnostics& diags = top.diags();
    std::string path = GW_ERROR_LOG_PATH;
    if (const Node* v = top.take("error_log")) {
        if (v->is_scalar()) {
            read_path(*v, "error_log", path, diags);
        } else if (v->is_map()) {
            MapReader m(*v, "error_log", diags);
            if (m.require("path")) read_path(*m.take("path"), "error_log.path", path, diags);
            m.get_enum<LogLevel>("level", c.error_log.level,
                                 {{log_level_name(LogLevel::Emerg), LogLevel::Emerg},
                                  {log_level_name(LogLevel::Alert), LogLevel::Alert},
                                  {log_level_name(LogLevel::Crit), LogLevel::Crit},
                                  {log_level_name(LogLevel::Error), LogLevel::Error},
                                  {log_level_name(LogLevel::Warn), LogLevel::Warn},
                                  {log_level_name(LogLevel::Notice), LogLevel::Notice},
                                  {log_level_name(LogLevel::Info), LogLevel::Info},
                                  {log_level_name(LogLevel::Debug), LogLevel::Debug}});
        } else {
            schema::report(diags, v->mark, "error_log",
                           "expected a path or a map, got " + yaml::describe(*v));
        }
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
        a.enabled = read_path(*v, "access_log", a.path, diags);
        a.path = resolve_path(c.prefix, a.path);
        return;
    }
    if (!v->is_map()) {
        schema::report(diags, v->mark, "access_log",
                       "expected a path, off or a map, got " + yaml::describe(*v));
        return;
    }
    MapReader m(*v, "access_log", diags);
    if (m.require("path")) {
        a.enabled = read_path(*m.take("path"), "access_log.path", a.path, diags);
        a.path = resolve_path(c.prefix, a.path);
    }
    using Format = AccessLogConfig::Format;
    // `format:` json, combined, or a template of the operator's: a text with variables.
    if (const Node* f = m.take("format")) {
        std::optional<std::string> text = schema::read_string(*f, "access_log.format", diags);
        if (text && *text == "json") {
            a.format = Format::Json;
        } else if (text && *text == "combined") {
            a.format = Format::Combined;
        } else if (text && text->find('$') != std::string::npos) {
            if (text->find_first_of("\r\n") != std::string::npos)
                schema::report(diags, f->mark, "access_log.format", "a line template cannot contain a line break");
            else if (http::vars::compile(*text, f->mark, "access_log.format", diags, a.line))
                a.format = Format::Template;
        } else if (text) {
            schema::report(diags, f->mark, "access_log.format",
                           "unknown format \"" + *text + "\" (expected json, combined, or a template with $variables)");
        }
    }
    // `fields:` (json only): exactly these keys, each a text with variables.
    if (const Node* fields = m.take("fields")) {
        if (a.format != Format::Json) {
            schema::report(diags, fields->mark, "access_log.fields", "only for `format: json`");
        } else if (schema::expect_map(*fields, "access_log.fields", diags)) {
            if (fields->entries.empty())
                schema::report(diags, fields->mark, "access_log.fields", "at least one field is required");
            for (const yaml::MapEntry& e : fields->entries) {
                std::string path = schema::join_path("access_log.fields", e.key.text);
                std::optional<std::string> text = schema::read_string(e.value, path, diags);
                if (!text) continue;
                http::vars::Template t;
                if (!http::vars::compile(*text, e.value.mark, path, diags, t)) continue;
                a.fields.emplace_back(e.key.text, std::move(t));
            }
        }
    }
    m.get_size("buffer", a.buffer, {0, 16 << 20});
    m.get_duration("flush", a.flush, {1, kHour});
    m.get_bool("log_admin", a.log_admin);
}

constexpr size_t kMaxRedactName = 128;

// `redact.query` or `redact.headers`: names added to the built-in list (which cannot be
// shortened: a secret must not reach a log because a list was edited).
void read_redact_names(MapReader& m, std::string_view key, bool header_names, std::vector<std::string>& out) {
    const Node* v = m.take(key);
    if (!v) return;
    std::string path = m.path(key);
    std::optional<std::vector<const Node*>> items = schema::read_list(*v, path, true, m.diags());
    if (!items) return;
    for (size_t i = 0; i < items->size(); i++) {
        const Node& item = *(*items)[i];
        std::string item_path = v->is_sequence() ? schema::index_path(path, i) : path;
        std::optional<std::string> s = schema::read_string(item, item_path, m.diags());
        if (!s) continue;
        bool printable = std::all_of(s->begin(), s->end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
        if (s->empty() || s->size() > kMaxRedactName || (header_names ? !is_token(*s) : !printable)) {
            schema::report(m.diags(), item.mark, item_path,
                           header_names ? "bad header name \"" + *s + "\""
                                        : "bad parameter name \"" + *s + "\" (1 to 128 printable characters, as decoded)");
            continue;
        }
        std::string name = to_lower(*s);
        if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
    }
}

void read_logs_section(MapReader& top, Config& c) {
    const Node* v = top.take("logs");
    if (!v) return;
    MapReader m(*v, "logs", top.diags());
    m.get_duration("repeat_interval", c.logs.repeat_interval, {0, kHour});
    if (std::optional<MapReader> r = m.get_map("redact")) {
        read_redact_names(*r, "query", false, c.logs.redact_query);
        read_redact_names(*r, "headers", true, c.logs.redact_headers);
    }
}

}  // namespace

void read_logs(MapReader& top, Config& c) {
    read_error_log(top, c);
    read_access_log(top, c);
    read_logs_section(top, c);
}

}  // namespace gw::config_detail

namespace gw {

LogsConfig::LogsConfig()
    : redact_query{"token", "access_token", "refresh_token", "id_token", "api_key", "apikey", "key",
                   "password", "secret", "client_secret", "signature", "sig", "session", "session_id",
                   "code", "x-amz-signature", "x-amz-security-token", "x-goog-signature"},
      redact_headers{"authorization", "proxy-authorization", "cookie", "set-cookie"} {}

}  // namespace gw
