// The HTTP/1.1 server of one worker: accepts on the worker's listening sockets, keeps a bounded
// pool of connections, and runs each connection's request/response cycle on the worker's loop.
#pragma once

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/status.h"
#include "event/loop.h"
#include "http/access_log.h"
#include "http/buffer_pool.h"
#include "http/consumer_counts.h"
#include "http/filter.h"
#include "http/parser.h"
#include "http/request_id.h"
#include "http/response.h"
#include "http/router.h"
#include "http/stream.h"

namespace gw::module {
class WorkerPart;
}

namespace gw::http {

class ErrorPages;
class GrpcRoutes;
class TransportFactory;
struct Transports;

class Connection;
namespace proxy {
class Proxy;
}
}  // namespace gw::http

namespace gw::module {
class WorkerPart;
}

namespace gw::services {
class Registry;
}

namespace gw::http {

// What a worker's server needs to know about the worker it runs in.
struct WorkerContext {
    const Config* config = nullptr;
    uint32_t generation = 0;
    event::Loop* loop = nullptr;
    StatusBoard* board = nullptr;
    WorkerSlot* slot = nullptr;
    metrics::Store* metrics = nullptr;
    AccessLog* access_log = nullptr;
    // What the modules and the core provide to each other (the breaker and health tables the
    // proxy uses, the shared clients).
    services::Registry* services = nullptr;
    // The modules' parts of this worker, parallel to module::modules(); nullptr for a module
    // the configuration does not use. Filters come from them (WorkerPart::route_filter), and
    // so do their members of /status and their metrics refresh.
    std::vector<module::WorkerPart*> modules;
};

// Per-route state of this generation: precomputed header bytes and metric cells.
struct RouteRuntime {
    std::string name;                 // "" for requests no route matched
    uint32_t key = 0;                 // index + 1; 0 for requests no route matched
    const ReturnAction* ret = nullptr;
    bool proxied = false;             // `upstream:` or `split:`
    // TRACE and CONNECT are answered 405 unless the route names them in `methods:` (and a
    // proxied route never takes CONNECT: the proxy does not tunnel it).
    bool allows_trace = false;
    bool allows_connect = false;
    std::string fixed_headers;        // "content-type: ...\r\n..." from the route's `return`
    std::string return_body;          // a `return` body without variables
    bool return_dynamic = false;      // its body or location has variables: rendered per request
    metrics::Histogram* duration = nullptr;
    // gateway_http_requests_total by status, resolved on first use of a status; with
    // metrics.per_consumer, the series of consumer="" (requests without an identity).
    std::array<std::atomic<uint64_t>*, 600> by_status{};
    const FilterChain* filters = nullptr;  // the route's filters; none: a null pointer
};

class Server {
  public:
    // The error pages (the error_pages module), or null.
    const ErrorPages* error_pages() const { return error_pages_; }
    // The gRPC routes (the grpc module), or null.
    GrpcRoutes* grpc_routes() const { return grpc_routes_; }
    // The transport of listener `index` (TLS), or null: the socket itself.
    TransportFactory* transport(size_t index) const;
    struct Listen {
        int fd;
        const ListenerConfig* config;
    };

    Server(WorkerContext& ctx, std::vector<Listen> listens);
    ~Server();

    bool start();       // registers the listening sockets
    void drain();       // stop accepting; connections close after their current response
    void close_all();   // closes every connection now (shutdown_timeout reached, or TERM)
    // Drains, and closes at once what can be closed without losing a request: idle keep-alive
    // connections and tunnels. Requests in progress finish (their responses close).
    void retire();
    size_t active() const { return active_; }
    bool draining() const { return draining_; }
    std::function<void()> on_drained;  // called once draining and the last connection closed

    // Used by connections.
    WorkerContext& ctx() { return ctx_; }
    const Router& router() const { return router_; }
    RouteRuntime& route(int index) { return index < 0 ? unmatched_ : routes_[index]; }
    DateCache& date() { return date_; }
    const ParserLimits& limits() const { return limits_; }
    proxy::Proxy* proxy() { return proxy_.get(); }
    BufferPool& input_buffers() { return input_buffers_; }
    ObjectPool<Request>& requests() { return requests_; }
    StablePool<Stream>& streams() { return streams_; }
    StringPool& outputs() { return outputs_; }
    // The stream's terminal handler: the proxy (a `return:` route is answered by the codec).
    void start_proxy(Stream& s);
    void release_handler(Stream& s);
    void observe_overhead(int route, uint64_t micros);  // gateway time of a proxied request
    IdGenerator& ids() { return ids_; }  // request ids
    // The gateway_http_requests_total cell a response is counted in, found while the stream
    // still holds its identity (`who`, read only with metrics.per_consumer); then, once the
    // stream has ended, count_response() adds to it (a null cell: the metrics zone is full).
    std::atomic<uint64_t>* response_cell(RouteRuntime& route, int status, const Identity* who);
    void count_response(RouteRuntime& route, std::atomic<uint64_t>* cell, uint64_t micros);
    void release(Connection* c);
    // Calls c->read_buffered_input() from the loop, soon (one timer for the worker, not one per
    // connection: a TLS connection's read-ahead input waits for no event).
    void kick(Connection* c);

  private:
    const ErrorPages* error_pages_ = nullptr;
    GrpcRoutes* grpc_routes_ = nullptr;
    const Transports* transports_ = nullptr;
    struct Acceptor : event::IoHandler {
        Server* server;
        Listen listen;
        void on_io(uint32_t events) override;
    };
    void accept_from(Acceptor& a);
    Connection* acquire();
    void build_filter_chains();
    void trim();

    WorkerContext& ctx_;
    Router router_;
    std::vector<RouteRuntime> routes_;
    RouteRuntime unmatched_;
    std::unique_ptr<ConsumerCounts> consumers_;  // with metrics.per_consumer only
    ParserLimits limits_;
    DateCache date_;
    BufferPool input_buffers_;
    ObjectPool<Request> requests_;
    StablePool<Stream> streams_;
    StringPool outputs_;
    IdGenerator ids_;
    std::vector<std::unique_ptr<FilterChain>> chains_;    // of this generation's routes
    std::unique_ptr<proxy::Proxy> proxy_;  // declared before pool_: connections close first
    std::vector<std::unique_ptr<Acceptor>> acceptors_;
    std::vector<std::unique_ptr<Connection>> pool_;  // every connection object ever made
    std::vector<Connection*> free_;
    std::vector<Connection*> kicks_, kicks_running_;  // (kick) one may have closed since: harmless
    event::Timer kick_timer_;
    size_t active_ = 0;
    bool draining_ = false;
    bool accept_paused_ = false;
    event::Timer accept_resume_;
    event::Timer trim_timer_;
};

}  // namespace gw::http
