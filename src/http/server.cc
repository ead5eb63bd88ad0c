#include "http/server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "core/log.h"
#include "http/grpc/routes.h"
#include "core/memory.h"
#include "core/module/module.h"
#include "core/services/registry.h"
#include "http/error_pages.h"
#include "http/transport.h"
#include "http/connection.h"
#include "http/proxy/proxy.h"
#include "http/proxy/session.h"

namespace gw::http {

TransportFactory* Server::transport(size_t index) const { return transports_ ? transports_->find(index) : nullptr; }

namespace {

constexpr event::Millis kAcceptRetry = 100;  // after EMFILE/ENFILE or a full pool
constexpr event::Millis kTrimInterval = 500;  // spares unused this long are freed

std::string route_label(std::string_view name) {
    return "route=\"" + metrics::escape_label_value(name) + "\"";
}

constexpr std::string_view kRequestsHelp = "Requests answered, by route and status code.";

}  // namespace

Server::Server(WorkerContext& ctx, std::vector<Listen> listens)
    : ctx_(ctx), router_(ctx.config->routes), input_buffers_(ctx.config->http.max_header_size + 4096),
      // Seeded apart from the proxy's generator (traceparent), which starts from pid and time too.
      ids_((static_cast<uint64_t>(getpid()) * 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(time(nullptr))) +
           0x632be59bd9b4e019ULL) {
    kick_timer_.set_callback([this] {
        kicks_running_.swap(kicks_);
        for (Connection* c : kicks_running_) c->read_buffered_input();
        kicks_running_.clear();
    });
    const Config& cfg = *ctx.config;
    limits_.max_header_size = cfg.http.max_header_size;
    limits_.max_uri_size = cfg.http.max_uri_size;
    limits_.max_headers = cfg.http.max_headers;

    routes_.resize(cfg.routes.size());
    for (size_t i = 0; i < cfg.routes.size(); ++i) {
        const RouteConfig& rc = cfg.routes[i];
        RouteRuntime& rt = routes_[i];
        rt.name = rc.name;
        rt.key = static_cast<uint32_t>(i + 1);
        rt.proxied = rc.upstream_index >= 0 || !rc.split.empty();
        auto lists = [&](std::string_view m) {
            return std::find(rc.match.methods.begin(), rc.match.methods.end(), m) != rc.match.methods.end();
        };
        rt.allows_trace = lists("TRACE");
        rt.allows_connect = lists("CONNECT") && !rt.proxied;
        if (rc.ret) {
            rt.ret = &*rc.ret;
            bool has_type = false;
            for (const auto& [name, value] : rc.ret->headers) {
                rt.fixed_headers += name + ": " + value + "\r\n";
                has_type |= name == "content-type";
            }
            if (!has_type && !rc.ret->body.empty()) rt.fixed_headers += "content-type: text/plain\r\n";
            // Without variables, the body and the location are rendered once, here.
            rt.return_dynamic = !rc.ret->body.constant() || !rc.ret->location.constant();
            if (!rt.return_dynamic) {
                rc.ret->body.render({}, rt.return_body, vars::Template::Escape::Text);
                if (!rc.ret->location.empty()) {  // rendered, not as written: "$$" is a '$'
                    rt.fixed_headers += "location: ";
                    rc.ret->location.render({}, rt.fixed_headers, vars::Template::Escape::Header);
                    rt.fixed_headers += "\r\n";
                }
            }
        }
    }
    for (RouteRuntime* rt = routes_.data(); rt != routes_.data() + routes_.size(); ++rt)
        rt->duration = ctx.metrics->histogram("gateway_http_request_duration_seconds", route_label(rt->name),
                                              "Time to answer a request, from its head read to its response queued.",
                                              metrics::kRequestSecondsBuckets);

    if (cfg.metrics.per_consumer)
        consumers_ = std::make_unique<ConsumerCounts>(*ctx.metrics, cfg.metrics.max_consumers, kRequestsHelp);

    build_filter_chains();
    if (ctx.services) error_pages_ = ctx.services->find<const ErrorPages>();
    if (ctx.services) grpc_routes_ = ctx.services->find<GrpcRoutes>();
    if (ctx.services) transports_ = ctx.services->find<const Transports>();

    if (!cfg.upstreams.empty())
        proxy_ = std::make_unique<proxy::Proxy>(cfg, *ctx.loop, *ctx.metrics,
                                                static_cast<uint64_t>(getpid()) * 0x9e3779b97f4a7c15ULL ^
                                                    static_cast<uint64_t>(time(nullptr)),
                                                ctx.services);
    for (const Listen& l : listens) {
        auto a = std::make_unique<Acceptor>();
        a->server = this;
        a->listen = l;
        acceptors_.push_back(std::move(a));
    }
    trim_timer_.set_callback([this] { trim(); });
    accept_resume_.set_callback([this] {
        accept_paused_ = false;
        for (auto& a : acceptors_) accept_from(*a);
    });
}

Server::~Server() {
    ctx_.loop->cancel(trim_timer_);
    close_all();
    if (proxy_) proxy_->close_all();
}

// Frees the spares a burst left in the pools (unused for a whole interval) and hands the pages
// back to the system, so that after the burst idle connections cost only their own state.
void Server::trim() {
    size_t freed = input_buffers_.trim() + requests_.trim() + outputs_.trim();
    if (proxy_) freed += proxy_->trim();
    if (freed) memory::release_unused();
    ctx_.loop->arm(trim_timer_, kTrimInterval);
}

bool Server::start() {
    for (auto& a : acceptors_)
        if (!ctx_.loop->add(a->listen.fd, EPOLLIN, a.get())) {
            LOG_EMERG("epoll_ctl() on listener %s failed: %m", a->listen.config->address.c_str());
            return false;
        }
    ctx_.loop->arm(trim_timer_, kTrimInterval);
    return true;
}

void Server::Acceptor::on_io(uint32_t) { server->accept_from(*this); }

void Server::accept_from(Acceptor& a) {
    if (draining_ || accept_paused_) return;
    // Accept a bounded batch per wakeup so one busy listener cannot starve the connections.
    for (int i = 0; i < 64; ++i) {
        sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(a.listen.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                LOG_ALERT("accept4() on %s failed: %m; accepting paused", a.listen.config->address.c_str());
                accept_paused_ = true;
                ctx_.loop->arm(accept_resume_, kAcceptRetry);
            }
            return;  // EAGAIN: another worker took it, or the queue is empty
        }
        Connection* c = acquire();
        if (!c) {
            LOG_ALERT("%u worker_connections are not enough; closing a new connection",
                      ctx_.config->worker_connections);
            close(fd);
            accept_paused_ = true;
            ctx_.loop->arm(accept_resume_, kAcceptRetry);
            return;
        }
        ++active_;
        ctx_.slot->connections.fetch_add(1, std::memory_order_relaxed);
        c->open(fd, a.listen.config, static_cast<size_t>(a.listen.config - ctx_.config->listeners.data()), peer);
    }
}

Connection* Server::acquire() {
    if (!free_.empty()) {
        Connection* c = free_.back();
        free_.pop_back();
        return c;
    }
    if (pool_.size() >= ctx_.config->worker_connections) return nullptr;
    pool_.push_back(std::make_unique<Connection>(*this));
    return pool_.back().get();
}

void Server::kick(Connection* c) {
    kicks_.push_back(c);
    if (!kick_timer_.armed()) ctx_.loop->arm(kick_timer_, 0);
}

void Server::release(Connection* c) {
    free_.push_back(c);
    --active_;
    ctx_.slot->connections.fetch_sub(1, std::memory_order_relaxed);
    if (draining_ && active_ == 0 && on_drained) on_drained();
}

void Server::drain() {
    if (draining_) return;
    draining_ = true;
    for (auto& a : acceptors_) {
        ctx_.loop->remove(a->listen.fd);
        close(a->listen.fd);  // the master keeps its copy, so the accept queue lives on
        a->listen.fd = -1;
    }
    // HTTP/2 connections say so now (GOAWAY), so that clients take new requests elsewhere.
    for (auto& c : pool_)
        if (c->is_open()) c->on_drain();
    // The Acceptor objects stay until the Server goes: an event for one may still be in the
    // batch being dispatched (accept_from ignores it once draining).
    if (active_ == 0 && on_drained) on_drained();
}

void Server::close_all() {
    // Tunnels first end cleanly (what is buffered is delivered, both sides see FIN, the
    // request is logged); whatever is still open after that is cut.
    for (auto& c : pool_)
        if (c->is_open()) c->close_tunnel();
    for (auto& c : pool_)
        if (c->is_open()) c->close();
}

void Server::retire() {
    drain();
    for (auto& c : pool_)
        if (c->is_open()) c->close_if_idle();
}

// One chain per route (and one for requests no route matched), made once per generation, in
// module-list order. A route whose chain would be empty keeps a null pointer.
void Server::build_filter_chains() {
    auto build = [&](int route, RouteRuntime& rt) {
        auto chain = std::make_unique<FilterChain>();
        auto add = [&](Filter* f) {
            if (f && !chain->add(f))
                LOG_ALERT("route \"%s\": the filters' per-request state exceeds %zu bytes; a filter is left out",
                          rt.name.c_str(), FilterChain::kArenaSize);
        };
        for (module::WorkerPart* part : ctx_.modules)
            if (part) add(part->route_filter(route));
        if (chain->empty()) return;
        rt.filters = chain.get();
        chains_.push_back(std::move(chain));
    };
    for (size_t i = 0; i < routes_.size(); ++i) build(static_cast<int>(i), routes_[i]);
    build(Router::kNoRoute, unmatched_);
}

void Server::start_proxy(Stream& s) {
    proxy::Session* session = proxy_->acquire_session();
    s.handler = session;
    session->start(s, s.route_index(), s.match());
}

void Server::release_handler(Stream& s) {
    proxy_->release_session(static_cast<proxy::Session*>(s.handler));
    s.handler = nullptr;
}

void Server::observe_overhead(int route, uint64_t micros) {
    if (auto* h = proxy_->route(route).overhead) h->observe_micros(micros);
}

std::atomic<uint64_t>* Server::response_cell(RouteRuntime& route, int status, const Identity* who) {
    if (status < 100 || status > 599) status = 599;
    if (consumers_ && who) [[unlikely]]
        return consumers_->cell(route.key, route.name, status, who->consumer());
    std::atomic<uint64_t>*& cell = route.by_status[status];
    if (!cell) {
        std::string labels = route_label(route.name) + ",code=\"" + std::to_string(status) + "\"";
        // Every series of the metric has the same labels: no identity is consumer="".
        if (consumers_) labels += ",consumer=\"\"";
        cell = ctx_.metrics->counter(ConsumerCounts::kMetric, labels, kRequestsHelp);
    }
    return cell;
}

void Server::count_response(RouteRuntime& route, std::atomic<uint64_t>* cell, uint64_t micros) {
    if (cell) cell->fetch_add(1, std::memory_order_relaxed);
    if (route.duration) route.duration->observe_micros(micros);
}

}  // namespace gw::http
