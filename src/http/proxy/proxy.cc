#include "http/proxy/proxy.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "core/services/registry.h"
#include "http/error_pages.h"
#include "http/proxy/h2_conn.h"
#include "http/proxy/queue_wake.h"
#include "http/proxy/session.h"
#include "modules/breaker/worker.h"

namespace gw::http::proxy {

namespace {

constexpr double kOverheadBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                       0.005,   0.01,   0.025,   0.05,   0.1};
constexpr event::Millis kBudgetWindow = 10000;
constexpr uint64_t kMinRetriesPerWindow = 3;

constexpr const char* kCircuitStateHelp =
    "Circuit breaker state of each upstream server: 0 closed, 1 open, 2 half-open.";
constexpr const char* kCircuitTransitionsHelp = "Circuit breaker transitions, by the state entered.";

// A server's breaker is known by its upstream and address; a second server with the same
// address in one upstream is "ADDRESS/1" (as the hash ring names it).
std::string breaker_key(const UpstreamConfig& uc, size_t index) {
    std::string key = uc.servers[index].address;
    size_t seen = 0;
    for (size_t j = 0; j < index; ++j)
        if (uc.servers[j].address == key) ++seen;
    if (seen > 0) key += "/" + std::to_string(seen);
    return key;
}

}  // namespace

Proxy::Proxy(const Config& config, event::Loop& loop, metrics::Store& m, uint64_t seed,
             const services::Registry* services)
    : config_(config), loop_(loop), metrics_(m), ids_(seed) {
    breaker_timer_.set_callback([this] { tick_breakers(); });
    breakers_ = services ? services->find<breaker::WorkerBreakers>() : nullptr;
    error_pages_ = services ? services->find<const ErrorPages>() : nullptr;
    breaker::Table* breakers = breakers_ ? &breakers_->table() : nullptr;
    health::Table* health = services ? services->find<health::Table>() : nullptr;
    const UpstreamTransports* tls = services ? services->find<const UpstreamTransports>() : nullptr;
    // gateway_circuit_state as of now whenever /metrics is rendered.
    if (breakers_) breakers_->on_refresh([this] { refresh_breakers(); });
    upstreams_.resize(config.upstreams.size());
    for (size_t u = 0; u < config.upstreams.size(); ++u) {
        const UpstreamConfig& uc = config.upstreams[u];
        UpstreamRuntime& ur = upstreams_[u];
        ur.config = &uc;
        ur.tls = tls ? tls->find(u) : nullptr;
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
                                           metrics::kRequestSecondsBuckets);
            for (int k = 0; k < static_cast<int>(ErrorKind::Count); ++k)
                sr.errors[k] = m.counter("gateway_upstream_errors_total",
                                         sr.labels + ",kind=\"" +
                                             std::string(error_kind_name(static_cast<ErrorKind>(k))) + "\"",
                                         "Upstream failures, by kind.");
            active.push_back(sr.active_requests.shared());  // least_conn reads the total
            // Health (active checks by the master, passive failures by every worker), shared.
            if (health) sr.health = health->find_or_create(uc.name, breaker_key(uc, s));
            if (uc.circuit_breaker && breakers) {
                breaker::Record* rec = breakers->find_or_create(uc.name, breaker_key(uc, s));
                if (!rec)
                    LOG_WARN("the shared memory zone \"breaker\" is full: upstream \"%s\", server \"%s\" has no "
                             "circuit breaker",
                             uc.name.c_str(), uc.servers[s].address.c_str());
                sr.breaker.attach(rec, *uc.circuit_breaker);
                sr.circuit_state = m.gauge("gateway_circuit_state", sr.labels, kCircuitStateHelp);
                for (breaker::State st : {breaker::State::Closed, breaker::State::Open, breaker::State::HalfOpen})
                    sr.circuit_entered[static_cast<int>(st)] = m.counter(
                        "gateway_circuit_transitions_total",
                        sr.labels + ",to=\"" + std::string(breaker::label_name(st)) + "\"", kCircuitTransitionsHelp);
            }
        }
        ur.balancer = upstream::Balancer::create(uc, std::move(active), seed + u);
        if (uc.has_max_conns()) {
            for (int why = 0; why < 2; ++why)
                ur.busy_rejected[why] = m.counter("gateway_upstream_queue_rejected_total",
                                                  ulabel + (why ? ",reason=\"timeout\"" : ",reason=\"full\""),
                                                  "Requests answered 503 because every server was at its max_conns: "
                                                  "the queue was full (or none), or the wait reached queue.timeout.");
            metrics::OwnedGauge places;
            if (uc.queue.size > 0) {
                places = m.owned_gauge("gateway_upstream_queue_waiting", ulabel,
                                       "Requests waiting in an upstream's queue for a server under its max_conns, "
                                       "all workers.");
                ur.queue = std::make_unique<UpstreamQueue>(loop, uc, places, queue_wake::fd_for(uc.name));
            }
            // The counts live in the metrics zone: without them no limit can be kept.
            bool counted = uc.queue.size == 0 || places;
            for (const ServerRuntime& sr : ur.servers)
                counted &= !sr.config->max_conns || sr.active_requests;
            if (!counted)
                LOG_WARN("the shared memory zone \"metrics\" is full: upstream \"%s\" runs without its max_conns "
                         "and queue limits",
                         uc.name.c_str());
        }
    }
    refresh_breakers();  // state gauges right from the start, and a tick for open breakers
    routes_.resize(config.routes.size());
    for (size_t r = 0; r < config.routes.size(); ++r) {
        const RouteConfig& rc = config.routes[r];
        RouteProxyState& rs = routes_[r];
        rs.split_current.assign(rc.split.size(), 0);
        if (rc.split_by) rs.keyed_split = upstream::KeyedSplit(rc.split);
        rs.retries_total.assign(config.upstreams.size(), nullptr);
        if (rc.upstream_index >= 0 || !rc.split.empty())
            rs.overhead = m.histogram("gateway_overhead_seconds",
                                      "route=\"" + metrics::escape_label_value(rc.name) + "\"",
                                      "Time the gateway adds: total request time minus upstream time.",
                                      kOverheadBuckets);
    }
}

Proxy::~Proxy() {
    if (breakers_) breakers_->on_refresh(nullptr);
    close_all();
}

Session* Proxy::acquire_session() {
    if (free_sessions_.empty()) return new Session(*this);
    return free_sessions_.take().release();
}

void Proxy::release_session(Session* s) { free_sessions_.give(std::unique_ptr<Session>(s)); }

size_t Proxy::trim() { return free_sessions_.trim() + buffers_.trim(); }

void Proxy::close_all() {
    for (UpstreamRuntime& u : upstreams_)
        for (ServerRuntime& s : u.servers) {
            for (auto& c : s.h2) c->close();
            s.h2.clear();
        }
    for (auto& c : conns_)
        if (c->fd >= 0) c->close();
}

int Proxy::choose_upstream(int route_index, std::optional<uint64_t> split_key) {
    const RouteConfig& rc = config_.routes[route_index];
    if (rc.split.empty()) return rc.upstream_index;
    RouteProxyState& rs = routes_[route_index];
    // A keyed split: the same key, the same side, on every worker and across reloads.
    if (split_key && rc.split_by) return rc.split[rs.keyed_split.pick(*split_key)].upstream_index;
    // Smooth weighted round robin: exact proportions, well interleaved.
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
        // (its idle timer stays armed: it does nothing to a busy connection, and the next
        // release pushes it later without heap work - one arm per release, no cancel)
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
    // Input left in a TLS transport (beyond the response) would be taken for the next one's.
    if (!reusable || c->in.len != 0 || (c->transport && c->transport->has_buffered_input()) ||
        u.idle_total >= u.config->keepalive ||
        c->requests >= u.config->keepalive_requests) {
        c->close();
        return;
    }
    if (c->in.mem) buffers_.put(std::move(c->in.mem));
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

void Proxy::breaker_transition(ServerRuntime& s, const breaker::Transition& t) {
    LOG_NOTICE("circuit breaker of upstream \"%s\", server \"%s\": %s", s.upstream->config->name.c_str(),
               s.config->address.c_str(), breaker::describe(t, s.breaker.config()).c_str());
    int to = static_cast<int>(t.to);
    // Another worker may make the next transition before this store lands; refresh_breakers()
    // (every /metrics) sets the gauge from the shared state itself.
    if (s.circuit_state) s.circuit_state->store(to, std::memory_order_relaxed);
    if (auto* c = s.circuit_entered[to]) c->fetch_add(1, std::memory_order_relaxed);
    if (t.to == breaker::State::Open) watch_breaker(t.open_for);
}

void Proxy::watch_breaker(event::Millis wait) {
    if (breaker_timer_.armed() && breaker_timer_.deadline() <= loop_.now() + wait) return;
    loop_.arm(breaker_timer_, wait);
}

// Open breakers whose period is over turn half-open now, not at the next request, so that the
// state (and /metrics) follow the clock; then the timer waits for the next one.
void Proxy::tick_breakers() {
    event::Millis now = loop_.update_time();
    event::Millis next = -1;
    for (UpstreamRuntime& u : upstreams_) {
        if (!u.config->circuit_breaker) continue;
        for (ServerRuntime& s : u.servers) {
            breaker::Transition t;
            s.breaker.tick(now, t);
            if (t) breaker_transition(s, t);
            if (s.breaker.state() == breaker::State::Open) {
                event::Millis w = s.breaker.wait(now);
                if (next < 0 || w < next) next = w;
            }
        }
    }
    if (next >= 0) watch_breaker(next);
}

void Proxy::refresh_breakers() {
    tick_breakers();
    for (UpstreamRuntime& u : upstreams_)
        for (ServerRuntime& s : u.servers)
            if (s.circuit_state && s.breaker.enabled())
                s.circuit_state->store(static_cast<int64_t>(s.breaker.state()), std::memory_order_relaxed);
}

event::Millis Proxy::breaker_wait(const UpstreamRuntime& u) const {
    event::Millis now = loop_.now();
    event::Millis best = -1;
    for (const ServerRuntime& s : u.servers) {
        if (!s.breaker.enabled()) continue;
        event::Millis w = s.breaker.wait(now);  // 0 for a half-open breaker out of tickets
        if (best < 0 || w < best) best = w;
    }
    return best < 0 ? 0 : best;
}

}  // namespace gw::http::proxy
