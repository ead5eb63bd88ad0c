// The effective configuration of one generation: what gateway.conf says, validated and resolved.
// Built once per load by load_config(); immutable afterwards and shared by the master and the
// workers it forks. Every key is documented in man/gateway.conf.5.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config/diagnostics.h"
#include "core/net/ip.h"
#include "core/log.h"
#include "http/path.h"
#include "http/vars/vars.h"

namespace gw {

namespace module {
struct ConfigPart;
}

using Millis = int64_t;  // durations are kept in milliseconds

struct ErrorLogConfig {
    std::string path;          // absolute after resolution; "stderr" logs to standard error
    LogLevel level = LogLevel::Notice;
};

struct AccessLogConfig {
    // Json: the built-in fields, or `fields:`; Combined: nginx's combined line; Template: a
    // line of the operator's (`format: '$remote_addr ...'`).
    enum class Format { Json, Combined, Template };
    bool enabled = false;      // `access_log: off` or absent -> disabled
    std::string path;          // absolute after resolution
    Format format = Format::Json;
    http::vars::Template line;  // Format::Template (without the newline)
    // Json with `fields:`: exactly these keys, in file order (none: the built-in set).
    std::vector<std::pair<std::string, http::vars::Template>> fields;
    uint64_t buffer = 64 * 1024;  // bytes buffered per worker before a write
    Millis flush = 1000;          // buffered lines are written at least this often
    bool log_admin = false;       // log requests to admin listeners too
};

// `logs:` - what both logs share: what is never written in clear, and how often a repeated
// per-request warning may be written.
struct LogsConfig {
    // Query parameter names whose values are written as REDACTED (lower-case; the built-in list
    // plus `redact.query`), and header names whose logged values are (the built-in list plus
    // `redact.headers`).
    std::vector<std::string> redact_query;
    std::vector<std::string> redact_headers;
    Millis repeat_interval = 5000;  // a repeated warning: once per interval with a count; 0 = every one
    LogsConfig();                   // the built-in lists
};

// `metrics:` - what the gateway's own metrics are labelled with.
struct MetricsConfig {
    // gateway_http_requests_total gets a `consumer` label (the request's authenticated identity;
    // "" for none). Off by default: one series per consumer is the operator's choice to make.
    bool per_consumer = false;
    // Distinct consumers each worker labels; later new ones are counted as consumer="~other".
    uint32_t max_consumers = 100;
};

struct ListenerConfig {
    std::string address;       // as written, e.g. "127.0.0.1:8080", "[::1]:8080", "*:80"
    sockaddr_storage sockaddr{};
    socklen_t socklen = 0;
    bool admin = false;        // serves /health, /health/ready, /metrics, /status instead of routes
    int backlog = 511;
    // The connection starts with a PROXY protocol header (v1 or v2), required within
    // proxy_protocol_timeout of the accept; without one it is closed.
    bool proxy_protocol = false;
    Millis proxy_protocol_timeout = 5000;
    // `http2:` false (HTTP/1.1 only); true: h2 by ALPN on a TLS listener, and h2c with prior
    // knowledge (the connection preface) beside HTTP/1.1 on a plain one; prior_knowledge: the
    // latter, said explicitly (plain listeners only).
    enum class Http2 : uint8_t { Off, On, PriorKnowledge };
    Http2 http2 = Http2::Off;
    Mark mark;
};

// `http2:` - the HTTP/2 codec's settings and per-connection budgets (src/http/h2/).
struct Http2Config {
    uint32_t max_concurrent_streams = 128;     // SETTINGS_MAX_CONCURRENT_STREAMS
    uint32_t initial_window_size = 256 * 1024;  // per stream, both ways (bytes buffered per stream)
    uint32_t max_header_list_size = 32 * 1024;  // decoded header bytes (name + value + 32 each)
    uint32_t max_headers = 100;                 // header fields per block (a count, not only bytes)
    uint32_t max_resets_per_minute = 500;       // streams the client resets; beyond: GOAWAY ENHANCE_YOUR_CALM
    uint32_t max_continuation_frames = 8;       // CONTINUATION frames per header block
    Millis idle_timeout = 180000;               // no stream open: GOAWAY and close
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
    // How request paths are normalised before routing (src/http/path.h): merge_slashes and
    // escaped_slashes.
    http::PathOptions path;
    // Methods beyond the standard ones (kKnownMethods) that routes' `methods:` may name, e.g.
    // PURGE. Upper-case tokens.
    std::vector<std::string> extra_methods;
};

struct RouteMatch {
    std::string path;          // exact path, or empty
    std::string path_prefix;   // prefix, or empty
    std::string path_regex;    // PCRE2 pattern (compiled with JIT by the router), or empty
    std::vector<std::string> methods;  // upper-case; empty = any method
    std::string host;          // exact ("api.example.com") or wildcard ("*.example.com"); empty = any
    // Every listed header / query parameter must be present with exactly this value.
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::vector<std::pair<std::string, std::string>> query;    // names as written (case-sensitive)
    // `listener:` the address of one listener, as written in `listeners:`: the route takes only
    // that listener's requests (a plain-HTTP-to-HTTPS redirect). -1: any listener.
    std::string listener;
    int listener_index = -1;
};

struct ReturnAction {
    int status = 200;
    http::vars::Template body;      // variables allowed
    http::vars::Template location;  // `location:` (3xx only); variables allowed; empty: none
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in file order
};

// One header field of `set:` or `add:`, its value compiled (variables allowed).
struct HeaderOp {
    std::string name;  // lower-cased
    http::vars::Template value;
    std::string field_start;  // "name: ", written before the value (one append per field)
};

// `request_headers:` / `response_headers:` of a route. A value that renders empty (a variable
// with no value) sends no field, as nginx does.
struct HeaderOps {
    std::vector<HeaderOp> set;        // replace (or add) these fields
    std::vector<HeaderOp> add;        // another field of the name, after any the message has
    std::vector<std::string> remove;  // names lower-cased
    // Bit min(length, 63) of each set or removed name (index() makes it): the proxy asks of every
    // field it passes whether the route replaces it, and most names are ruled out by length.
    uint64_t replaced_lengths = 0;
    bool empty() const { return set.empty() && add.empty() && remove.empty(); }
    void index();
};

// Conditions on which a failed attempt is retried (bit flags).
enum RetryOn : uint32_t {
    kRetryConnectFailure = 1u << 0,  // connect refused, unreachable, or connect timeout
    kRetryTimeout = 1u << 1,         // read/send timeout before any response byte
    kRetryReset = 1u << 2,           // connection reset/closed before any response byte
    kRetry502 = 1u << 3,
    kRetry503 = 1u << 4,
    kRetry504 = 1u << 5,
    kRetry5xx = 1u << 6,             // any 5xx response
};

struct RetryPolicy {
    uint32_t attempts = 1;           // total tries including the first; 1 = no retry
    uint32_t on = kRetryConnectFailure;
    bool non_idempotent = false;     // also retry POST/PATCH/... (opt-in)
    double budget = 0.2;             // retries may add at most this share to a route's requests (per worker, 10 s window)
};

struct RouteTimeouts {
    Millis connect = 0;       // overrides the upstream's connect_timeout; 0: the upstream's
    Millis read = 60000;      // between two reads from the upstream (and for the response head)
    Millis send = 60000;      // between two writes to the upstream
    Millis tunnel = 3600000;  // idle time of an upgraded (WebSocket) tunnel
};

struct SplitTarget {
    std::string upstream;
    int upstream_index = -1;  // into Config::upstreams
    uint32_t weight = 1;
    Mark mark;
};

// `redis:` - the Redis server that keeps the counters of the `scope: global` rate limits.
struct RedisConfig {
    std::string address;          // as written: "127.0.0.1:6379", "redis.internal:6379", "unix:/run/redis.sock"
    sockaddr_storage sockaddr{};  // resolved when the config is loaded
    socklen_t socklen = 0;
    Millis timeout = 50;          // per command: no answer by then and Redis counts as down
    Millis connect_timeout = 1000;
    uint32_t pool = 2;            // connections of each worker
    uint32_t nodes = 1;           // gateway nodes that share the counters
    double fallback_share = 0;    // of each global limit, enforced locally while Redis is away; 0: 1/nodes
    Mark mark;

    double share() const { return fallback_share > 0 ? fallback_share : 1.0 / nodes; }
};

struct HashKey {
    enum class Kind { Ip, Header, Cookie, Path };
    Kind kind = Kind::Ip;
    std::string name;          // header (lower-cased) or cookie name
};

struct RouteConfig {
    std::string name;
    RouteMatch match;
    std::optional<ReturnAction> ret;  // `return:`
    std::string upstream;             // `upstream:` name, or empty
    int upstream_index = -1;          // resolved index into Config::upstreams
    std::vector<SplitTarget> split;   // `split:` weighted upstreams (instead of `upstream:`)
    // `split_by:` what keeps a user on one side of the split (weighted rendezvous hashing of the
    // key, src/http/upstream/split.h); none: weighted round robin.
    std::optional<HashKey> split_by;
    std::string strip_prefix;         // removed from the start of the path before proxying
    std::string rewrite;              // new path; $1..$9 from path_regex captures, $0 the whole match
    RouteTimeouts timeout;
    RetryPolicy retries;
    HeaderOps request_headers;
    HeaderOps response_headers;
    std::optional<uint64_t> client_max_body_size;  // overrides http.client_max_body_size (0 = unlimited)
    Mark mark;
};

struct UpstreamServerConfig {
    std::string address;       // as written: "127.0.0.1:9001", "backend.internal:8080", "unix:/run/x.sock"
    sockaddr_storage sockaddr{};  // resolved when the config is loaded (first address of getaddrinfo)
    socklen_t socklen = 0;
    uint32_t weight = 1;       // 1..1000
    bool backup = false;       // used only when every non-backup server is unavailable
    // Requests in flight to this server from all workers of the node at once (0: no limit).
    // A server at its limit is skipped like an unavailable one (Session::pick_server; the
    // queue that requests then wait in: src/http/proxy/queue.h).
    uint32_t max_conns = 0;
    Mark mark;
};

// What a circuit breaker counts as a failure of a server (bit flags).
enum BreakerFailure : uint32_t {
    kFailConnect = 1u << 0,          // connect refused, unreachable, or connect timeout
    kFailTimeout = 1u << 1,          // read/send timeout before the response head
    kFailReset = 1u << 2,            // connection reset/closed before the response head
    kFailInvalid = 1u << 3,          // a response that is not valid HTTP
    kFail502 = 1u << 4,
    kFail503 = 1u << 5,
    kFail504 = 1u << 6,
    kFail5xx = 1u << 7,              // any 5xx response
};

// `circuit_breaker:` of an upstream: one breaker per server, shared by all workers
// (modules/breaker). A rule set to 0 is off; at least one of the two opening rules is on.
struct CircuitBreakerConfig {
    double failure_ratio = 0.5;          // open when this share of the window's requests failed...
    uint32_t min_requests = 20;          // ...and the window saw at least this many
    uint32_t consecutive_failures = 10;  // or after this many failures in a row
    Millis window = 10000;               // the rolling window of the ratio rule
    Millis open_for = 30000;             // first open period; doubles while probes keep failing
    Millis max_open_for = 300000;        // cap of the back-off
    uint32_t half_open_probes = 10;      // requests let through in half-open, all workers together
    uint32_t close_after = 5;            // probe successes that close it (<= half_open_probes)
    uint32_t failure_on = kFailConnect | kFailTimeout | kFail5xx;
};

// `health_check:` of an upstream: active checks, run by the master process once per node
// (modules/health); the result is shared with every worker through shared memory.
struct HealthCheckConfig {
    std::string path = "/";
    std::string host;              // Host header; empty: the server's address
    Millis interval = 10000;
    Millis timeout = 1000;
    Millis jitter = 0;             // each probe is moved by up to this, at random
    uint32_t fall = 3;             // consecutive failed probes that take a server out
    uint32_t rise = 2;             // consecutive good probes that bring it back
    std::vector<std::pair<int, int>> expect = {{200, 399}};  // good statuses, inclusive ranges
};

struct UpstreamConfig {
    enum class Balance { RoundRobin, LeastConn, RandomTwo, Hash };
    // When every server is down (health checks, passive failures): send to all of them anyway
    // (Envoy's panic mode, nginx's behaviour) or answer 503 without trying.
    enum class AllDown { RouteToAll, Reject };
    std::string name;
    std::vector<UpstreamServerConfig> servers;
    Balance balance = Balance::RoundRobin;
    HashKey hash_key;          // for Balance::Hash
    uint32_t keepalive = 32;   // idle connections kept per worker (0 = none)
    Millis keepalive_timeout = 60000;
    uint32_t keepalive_requests = 1000;  // requests per upstream connection before it is closed
    Millis connect_timeout = 1000;
    std::optional<CircuitBreakerConfig> circuit_breaker;  // none: no breaker
    std::optional<HealthCheckConfig> health_check;        // none: no active checks
    uint32_t max_fails = 1;        // passive: failures within fail_timeout that take a server out (0: off)
    Millis fail_timeout = 10000;   // ...and for how long it stays out
    AllDown all_down = AllDown::RouteToAll;
    // `queue:` - requests that find every server at its max_conns wait here (counted across
    // workers) for a free slot, at most `size` of them, each up to `timeout`; size 0: no queue,
    // such requests get a 503 at once.
    struct Queue {
        uint32_t size = 0;
        Millis timeout = 1000;
    };
    Queue queue;
    // `protocol:` how requests reach the servers: HTTP/1.1, or HTTP/2 with TLS (h2: needs `tls:`)
    // or over plain TCP with prior knowledge (h2c), streams multiplexed over a few connections
    // per worker, at most `max_streams_per_connection` on each.
    enum class Protocol : uint8_t { Http1, H2, H2c };
    Protocol protocol = Protocol::Http1;
    uint32_t max_streams_per_connection = 100;
    bool has_max_conns() const {
        for (const UpstreamServerConfig& s : servers)
            if (s.max_conns) return true;
        return false;
    }
    Mark mark;
};

// `real_ip:` - where the client's address comes from when the gateway is behind load balancers
// or proxies (src/http/real_ip.h). Only a peer in `trusted` is believed.
struct RealIpConfig {
    enum class From : uint8_t { Header, ProxyProtocol };
    From from = From::Header;
    std::string header = "x-forwarded-for";  // lower-cased; for From::Header
    std::vector<net::Cidr> trusted;
    Mark mark;
};

struct Config {
    std::string file;          // absolute path of the main config file
    // Token claims that modules key on by name (rate limits' `claim:NAME`): the auth module
    // keeps these claims of every verified token. Filled while the configuration is read.
    std::vector<std::string> claims_in_use;
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
    // Old generations allowed to drain at once; a reload beyond it retires the oldest first.
    uint32_t max_draining_generations = 2;

    std::vector<ListenerConfig> listeners;
    AccessLogConfig access_log;
    LogsConfig logs;
    MetricsConfig metrics;
    HttpConfig http;
    Http2Config http2;
    std::vector<UpstreamConfig> upstreams;  // in file order; routes refer to them by index
    std::vector<RouteConfig> routes;
    std::optional<RedisConfig> redis;             // `redis:`, for rate limits of scope global
    std::optional<RealIpConfig> real_ip;          // `real_ip:`; none: the socket's peer is the client
    // What each module read (src/core/module/module.h), at its index in module::modules();
    // null for a module that keeps nothing.
    std::vector<std::shared_ptr<const module::ConfigPart>> modules;
};

// The request body limit of a route (its own, else http.client_max_body_size); route_index < 0:
// requests no route matched. 0 = unlimited.
inline uint64_t max_body_size(const Config& c, int route_index) {
    if (route_index >= 0 && c.routes[route_index].client_max_body_size)
        return *c.routes[route_index].client_max_body_size;
    return c.http.client_max_body_size;
}

// Loads and validates the file at `path` (absolute, or relative to the current directory) with
// `prefix` for relative paths inside it. Every problem is added to `diags`; the Config is returned
// only when there were no errors. With errors, `partial` (if given) receives what could be read,
// so that `-t` can still check its listeners.
std::optional<Config> load_config(const std::string& path, const std::string& prefix,
                                  Diagnostics& diags, Config* partial = nullptr);

// Renders the effective config as YAML (for `gatewayd -T`).
std::string dump_config(const Config& config);

// Parsers for the scalar types of the schema; exposed for tests and for other modules' schemas.
std::optional<Millis> parse_duration(std::string_view text);   // "250ms", "5s", "1m", "2h", "1d", "0"
std::optional<uint64_t> parse_size(std::string_view text);     // "512", "64k", "16m", "1g"
bool parse_listen_address(std::string_view text, sockaddr_storage& out, socklen_t& len);
// An upstream server: IP:PORT, [IPv6]:PORT, HOST:PORT (resolved now: the first address of
// getaddrinfo(AF_UNSPEC, SOCK_STREAM)) or unix:/absolute/path. On failure `error` says why.
bool parse_upstream_address(std::string_view text, sockaddr_storage& out, socklen_t& len,
                            std::string& error);

// The inverses, in the largest exact unit: 30000 -> "30s", 250 -> "250ms", 65536 -> "64k".
std::string format_duration(Millis ms);
std::string format_size(uint64_t bytes);

}  // namespace gw
