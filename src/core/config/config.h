// The effective configuration of one generation: what gateway.conf says, validated and resolved.
// Built once per load by load_config(); immutable afterwards and shared by the master and the
// workers it forks. Every key is documented in man/gateway.conf.5.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config/diagnostics.h"
#include "core/log.h"

namespace gw {

using Millis = int64_t;  // durations are kept in milliseconds

struct ErrorLogConfig {
    std::string path;          // absolute after resolution; "stderr" logs to standard error
    LogLevel level = LogLevel::Notice;
};

struct AccessLogConfig {
    enum class Format { Json, Combined };
    bool enabled = false;      // `access_log: off` or absent -> disabled
    std::string path;          // absolute after resolution
    Format format = Format::Json;
    uint64_t buffer = 64 * 1024;  // bytes buffered per worker before a write
    Millis flush = 1000;          // buffered lines are written at least this often
};

struct ListenerConfig {
    std::string address;       // as written, e.g. "127.0.0.1:8080", "[::1]:8080", "*:80"
    sockaddr_storage sockaddr{};
    socklen_t socklen = 0;
    bool admin = false;        // serves /health, /health/ready, /metrics, /status instead of routes
    int backlog = 511;
    Mark mark;
};

// HTTP/1.1 server limits and timeouts (the `http:` map).
struct HttpConfig {
    uint64_t max_header_size = 16 * 1024;      // request line + headers; beyond -> 431
    uint64_t max_uri_size = 8 * 1024;          // beyond -> 414
    uint32_t max_headers = 100;                // beyond -> 431
    uint64_t client_max_body_size = 1024 * 1024;  // beyond -> 413; 0 = unlimited
    Millis client_header_timeout = 60000;
    Millis client_body_timeout = 60000;
    Millis keepalive_timeout = 75000;          // 0 disables keep-alive
    uint32_t keepalive_requests = 1000;
    Millis send_timeout = 60000;
};

struct RouteMatch {
    std::string path;          // exact path, or empty
    std::string path_prefix;   // prefix, or empty
    std::vector<std::string> methods;  // upper-case; empty = any method
    std::string host;          // exact ("api.example.com") or wildcard ("*.example.com"); empty = any
};

struct ReturnAction {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in file order
};

struct RouteConfig {
    std::string name;
    RouteMatch match;
    std::optional<ReturnAction> ret;  // `return:`; the proxy issue adds `upstream:`
    Mark mark;
};

struct Config {
    std::string file;          // absolute path of the main config file
    std::string prefix;        // absolute, ends without '/'
    std::vector<std::string> files;  // every file read: the main one, then includes, in order

    int worker_processes = 1;  // `auto` is resolved to the number of online CPUs
    bool worker_processes_auto = false;
    uint32_t worker_connections = 4096;
    std::string user;          // workers drop to this user (and its group) when started as root
    std::string group;         // optional, `user: name:group`
    std::string pid_path;
    ErrorLogConfig error_log;
    bool daemon = true;
    Millis shutdown_timeout = 30000;
    Millis worker_ready_timeout = 10000;  // a reload is rolled back if new workers are not ready by then

    std::vector<ListenerConfig> listeners;
    AccessLogConfig access_log;
    HttpConfig http;
    std::vector<RouteConfig> routes;
};

// Loads and validates the file at `path` (absolute, or relative to the current directory) with
// `prefix` for relative paths inside it. Every problem is added to `diags`; the Config is returned
// only when there were no errors.
std::optional<Config> load_config(const std::string& path, const std::string& prefix,
                                  Diagnostics& diags);

// Renders the effective config as YAML (for `gatewayd -T`).
std::string dump_config(const Config& config);

// Parsers for the scalar types of the schema; exposed for tests and for other modules' schemas.
std::optional<Millis> parse_duration(std::string_view text);   // "250ms", "5s", "1m", "2h", "1d", "0"
std::optional<uint64_t> parse_size(std::string_view text);     // "512", "64k", "16m", "1g"
bool parse_listen_address(std::string_view text, sockaddr_storage& out, socklen_t& len);

// The inverses, in the largest exact unit: 30000 -> "30s", 250 -> "250ms", 65536 -> "64k".
std::string format_duration(Millis ms);
std::string format_size(uint64_t bytes);

}  // namespace gw
