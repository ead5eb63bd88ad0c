#include "http/proxy/proxy.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "http/proxy/session.h"

namespace gw::http::proxy {

namespace {

constexpr double kResponseBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};
constexpr double kOverheadBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                       0.005,   0.01,   0.025,   0.05,   0.1};
constexpr event::Millis kBudgetWindow = 10000;
constexpr uint64_t kMinRetriesPerWindow = 3;

}  // namespace

Proxy::Proxy(const Config& config, event::Loop& loop, metrics::Store& m, uint64_t seed)
    : config_(config), loop_(loop), metrics_(m), ids_(seed) {
    upstreams_.resize(config.upstreams.size());
    for (size_t u = 0; u < config.upstreams.size(); ++u) {
        const UpstreamConfig& uc = config.upstreams[u];
        UpstreamRuntime& ur = upstreams_[u];
        ur.config = &uc;
        std::string ulabel = "upstream=\"" + metrics::escape_label_value(uc.name) + "\"";
        // Owned gauges: this worker's share is undone by the master if it dies (Store::owned_gauge).
        ur.conns_active = m.owned_gauge("gateway_upstream_connections", ulabel + ",state=\"active\"",
                                        "Upstream connections, all workers, by state.");
        ur.conns_idle = m.owned_gauge("gateway_upstream_connections", ulabel + ",state=\"idle\"",
                                      "Upstream connections, all workers, by state.");
        ur.servers.resize(uc.servers.size());
        std::vector<std::atomic<int64_t>*> active;
        for (size_t s = 0; s < uc.servers.size(); ++s) {
            ServerRuntime& sr = ur.servers[s];
            sr.config = &uc.servers[s];
            sr.upstream = &ur;
            sr.index = static_cast<int>(s);
            sr.labels = ulabel + ",server=\"" + metrics::escape_label_value(uc.servers[s].address) + "\"";
            sr.active_requests = m.owned_gauge("gateway_upstream_active_requests", sr.labels,
                                               "Requests in flight to each upstream server, all workers.");
            sr.response_time = m.histogram("gateway_upstream_response_seconds", sr.labels,
                                           "Time from sending a request upstream to its response's end.",
                                           kResponseBuckets);
            for (int k = 0; k < static_cast<int>(ErrorKind::Count); ++k)
                sr.errors[k] = m.counter("gateway_upstream_errors_total",
                                         sr.labels + ",kind=\"" +
                                             std::string(error_kind_name(static_cast<ErrorKind>(k))) + "\"",
                                         "Upstream failures, by kind.");
            active.push_back(sr.active_requests.shared());  // least_conn reads the total
        }
        ur.balancer = upstream::Balancer::create(uc, std::move(active), seed + u);
    }
    routes_.resize(config.routes.size());
    for (size_t r = 0; r < config.routes.size(); ++r) {
        const RouteConfig& rc = config.routes[r];
        RouteProxyState& rs = routes_[r];
        rs.split_current.assign(rc.split.size(), 0);
        rs.retries_total.assign(config.upstreams.size(), nullptr);
        if (rc.upstream_index >= 0 || !rc.split.empty())
            rs.overhead = m.histogram("gateway_overhead_seconds",
                                      "route=\"" + metrics::escape_label_value(rc.name) + "\"",
                                      "Time the gateway adds: total request time minus upstream time.",
                                      kOverheadBuckets);
    }
}

Proxy::~Proxy() { close_all(); }

Session* Proxy::acquire_session() {
    if (free_sessions_.empty()) return new Session(*this);
    Session* s = free_sessions_.back().release();
    free_sessions_.pop_back();
    return s;
}

void Proxy::release_session(Session* s) {
    constexpr size_t kMaxSpareSessions = 256;
    if (free_sessions_.size() < kMaxSpareSessions)
        free_sessions_.emplace_back(s);
    else
        delete s;
}

void Proxy::close_all() {
    for (auto& c : conns_)
        if (c->fd >= 0) c->close();
}

int Proxy::choose_upstream(int route_index) {
    const RouteConfig& rc = config_.routes[route_index];
    if (rc.split.empty()) return rc.upstream_index;
    // Smooth weighted round robin: exact proportions, well interleaved.
    RouteProxyState& rs = routes_[route_index];
    int64_t total = 0;
    int best = 0;
    for (size_t i = 0; i < rc.split.size(); ++i) {
        rs.split_current[i] += rc.split[i].weight;
        total += rc.split[i].weight;
        if (rs.split_current[i] > rs.split_current[best]) best = static_cast<int>(i);
    }
    rs.split_current[best] -= total;
    return rc.split[best].upstream_index;
}

UpstreamConn* Proxy::acquire_idle(ServerRuntime& s) {
    while (!s.idle.empty()) {
        UpstreamConn* c = s.idle.back();
        s.idle.pop_back();
        c->idle = false;
        s.upstream->idle_total--;
        s.upstream->conns_idle.dec();
        s.upstream->conns_active.inc();
        loop_.cancel(c->idle_timer);
        return c;
    }
    return nullptr;
}

UpstreamConn* Proxy::new_connection() {
    if (!free_.empty()) {
        UpstreamConn* c = free_.back();
        free_.pop_back();
        return c;
    }
    conns_.push_back(std::make_unique<UpstreamConn>(*this));
    return conns_.back().get();
}

void Proxy::recycle(UpstreamConn* c) { free_.push_back(c); }

void Proxy::release(UpstreamConn* c, bool reusable) {
    c->owner = nullptr;
    UpstreamRuntime& u = *c->server->upstream;
    if (!reusable || c->len != 0 || u.idle_total >= u.config->keepalive ||
        c->requests >= u.config->keepalive_requests) {
        c->close();
        return;
    }
    if (c->buf) buffers_.put(std::move(c->buf));
    c->idle = true;
    c->server->idle.push_back(c);
    u.idle_total++;
    u.conns_active.dec();
    u.conns_idle.inc();
    loop_.arm(c->idle_timer, u.config->keepalive_timeout);
}

void Proxy::on_idle_event(UpstreamConn* c) {
    // An idle connection has nothing to say: data or end-of-file means the upstream closed it
    // (or broke protocol). Either way it must not carry the next request.
    char probe;
    ssize_t n = recv(c->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;  // a writable edge: nothing to do
    c->close();
}

void Proxy::roll_window(RouteProxyState& r) {
    event::Millis now = loop_.now();
    if (now - r.window_start < kBudgetWindow) return;
    bool one_window = now - r.window_start < 2 * kBudgetWindow;
    r.requests[1] = one_window ? r.requests[0] : 0;
    r.retries[1] = one_window ? r.retries[0] : 0;
    r.requests[0] = r.retries[0] = 0;
    r.window_start = now;
}

void Proxy::count_request(int route_index) {
    RouteProxyState& r = routes_[route_index];
    roll_window(r);
    r.requests[0]++;
}

bool Proxy::retry_allowed(int route_index, double budget) {
    RouteProxyState& r = routes_[route_index];
    roll_window(r);
    uint64_t requests = r.requests[0] + r.requests[1];
    uint64_t retries = r.retries[0] + r.retries[1];
    return retries < kMinRetriesPerWindow || static_cast<double>(retries) < budget * static_cast<double>(requests);
}

void Proxy::count_retry(int route_index, int upstream_index) {
    RouteProxyState& r = routes_[route_index];
    r.retries[0]++;
    std::atomic<uint64_t>*& cell = r.retries_total[upstream_index];
    if (!cell)
        cell = metrics_.counter("gateway_upstream_retries_total",
                                "route=\"" + metrics::escape_label_value(config_.routes[route_index].name) +
                                    "\",upstream=\"" +
                                    metrics::escape_label_value(config_.upstreams[upstream_index].name) + "\"",
                                "Requests retried on another upstream server.");
    if (cell) cell->fetch_add(1, std::memory_order_relaxed);
}

std::atomic<uint64_t>* Proxy::class_counter(int route_index, ServerRuntime& s, int status) {
    int cls = status / 100;
    if (cls < 1 || cls > 5) cls = 5;
    int upstream_index = static_cast<int>(s.upstream - upstreams_.data());
    uint64_t key = (static_cast<uint64_t>(route_index) << 40) | (static_cast<uint64_t>(upstream_index) << 20) |
                   (static_cast<uint64_t>(s.index) << 4) | static_cast<uint64_t>(cls);
    auto it = class_counters_.find(key);
    if (it != class_counters_.end()) return it->second;
    std::string labels = "route=\"" + metrics::escape_label_value(config_.routes[route_index].name) + "\"," +
                         s.labels + ",class=\"" + std::to_string(cls) + "xx\"";
    auto* cell = metrics_.counter("gateway_upstream_requests_total", labels,
                                  "Requests answered by upstream servers, by status class.");
    class_counters_[key] = cell;
    return cell;
}

}  // namespace gw::http::proxy
