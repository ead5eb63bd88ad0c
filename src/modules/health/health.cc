#include "modules/health/health.h"

#include <sys/socket.h>

#include <algorithm>
#include <ctime>

#include "core/log.h"
#include "http/client/client.h"
#include "http/client/tls.h"
#include "http/transport.h"

namespace gw::health {

namespace {

constexpr uint64_t kRootMagic = 0x31544c4845475747ULL;  // "GWGEHLT1"

static_assert(std::atomic<int64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);

}  // namespace

Table::Table(shm::Zone& zone) : index_(zone, kRootMagic) {}

Record* Table::find_or_create(std::string_view upstream, std::string_view server) {
    return index_.find_or_create<Record>(upstream, server);  // a new one: up, no failures
}

bool passive_failure(Record* r, int64_t now, uint32_t max_fails, int64_t fail_timeout) {
    if (!r || max_fails == 0) return false;
    int64_t since = r->fails_since.load(std::memory_order_relaxed);
    if (now - since >= fail_timeout && r->fails_since.compare_exchange_strong(since, now, std::memory_order_relaxed))
        r->fails.store(0, std::memory_order_relaxed);
    uint32_t n = r->fails.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n < max_fails) return false;
    int64_t until = r->down_until.load(std::memory_order_relaxed);
    if (until > now) return false;  // already out
    if (!r->down_until.compare_exchange_strong(until, now + fail_timeout, std::memory_order_relaxed)) return false;
    r->fails.store(0, std::memory_order_relaxed);
    r->fails_since.store(now, std::memory_order_relaxed);
    return true;
}

int record_probe(Record* r, bool good, int status, uint32_t fall, uint32_t rise, int64_t now_unix) {
    r->last_status.store(status, std::memory_order_relaxed);
    r->observation.fetch_add(1, std::memory_order_relaxed);
    bool down = r->down.load(std::memory_order_relaxed) != 0;
    if (good) {
        r->failures.store(0, std::memory_order_relaxed);
        uint32_t s = r->successes.load(std::memory_order_relaxed) + 1;
        r->successes.store(s, std::memory_order_relaxed);
        if (down && s >= rise) {
            r->down.store(0, std::memory_order_relaxed);
            r->changed_unix.store(now_unix, std::memory_order_relaxed);
            return +1;
        }
    } else {
        r->successes.store(0, std::memory_order_relaxed);
        uint32_t f = r->failures.load(std::memory_order_relaxed) + 1;
        r->failures.store(f, std::memory_order_relaxed);
        if (!down && f >= fall) {
            r->down.store(1, std::memory_order_relaxed);
            r->changed_unix.store(now_unix, std::memory_order_relaxed);
            return -1;
        }
    }
    return 0;
}

// One server's probe loop: a GET through the HTTP client, judged on the status line; again
// after `interval` (moved by up to `jitter`).
struct Checker::Probe final : httpc::Handler {
    Checker& checker;
    std::string upstream, address;
    const UpstreamServerConfig& server;
    const HealthCheckConfig& hc;
    Record* rec;
    std::atomic<int64_t>* up_gauge = nullptr;
    std::atomic<uint64_t>* results[2] = {};  // bad, good
    event::Timer next;
    std::string host;
    http::Header headers[1] = {{"User-Agent", "gatewayd-health-check"}};
    httpc::Handle call;  // the probe in flight; cancelled if the probe goes first (a reload)
    uint64_t rng;

    http::UpstreamTransportFactory* tls = nullptr;  // the upstream's TLS client
    const std::string* tls_error = nullptr;          // set: TLS wanted, no client (why)
    size_t index = 0;                                 // the server's in its upstream
    bool http2 = false;                               // protocol: h2c | h2

    Probe(Checker& c, const UpstreamConfig& u, const UpstreamServerConfig& s, Record* r)
        : checker(c), upstream(u.name), address(s.address), server(s), hc(*u.health_check), rec(r) {
        http2 = u.protocol != UpstreamConfig::Protocol::Http1;
        rng = 0x9e3779b97f4a7c15ULL ^ reinterpret_cast<uintptr_t>(this) ^ static_cast<uint64_t>(time(nullptr));
        host = hc.host.empty() ? (s.address.rfind("unix:", 0) == 0 ? "localhost" : s.address) : hc.host;
        std::string labels = "upstream=\"" + metrics::escape_label_value(upstream) + "\",server=\"" +
                             metrics::escape_label_value(address) + "\"";
        up_gauge = c.metrics_.gauge("gateway_upstream_server_up", labels,
                                    "1 when active health checks find the server up, 0 when down.");
        results[0] = c.metrics_.counter("gateway_health_checks_total", labels + ",result=\"bad\"",
                                        "Active health check probes, by result.");
        results[1] = c.metrics_.counter("gateway_health_checks_total", labels + ",result=\"good\"",
                                        "Active health check probes, by result.");
        if (up_gauge && rec) up_gauge->store(rec->down.load() ? 0 : 1);
        next.set_callback([this] { start(); });
    }

    uint64_t random() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
    }

    void schedule(event::Millis base) {
        event::Millis delay = base;
        if (hc.jitter > 0) delay += static_cast<event::Millis>(random() % static_cast<uint64_t>(2 * hc.jitter + 1)) - hc.jitter;
        checker.loop_.arm(next, std::max<event::Millis>(delay, 0));
    }

    void start() {
        if ((checker.is_owner_ && !checker.is_owner_()) || !rec) {
            schedule(hc.interval);
            return;
        }
        if (tls_error) return finish(false, 0, *tls_error);  // never probed in clear instead
        httpc::Request r;
        r.tls = tls;
        r.tls_server = index;
        r.address = reinterpret_cast<const sockaddr*>(&server.sockaddr);
        r.address_len = server.socklen;
        r.target = hc.path;
        r.host = host;
        r.headers = headers;
        r.connect_timeout = hc.timeout;
        r.timeout = hc.timeout;  // connecting, sending and the response head together
        r.read_body = false;     // the status decides
        r.http2 = http2;         // protocol: h2c | h2 - the servers may speak nothing else
        call = checker.http_->fetch(r, *this);
    }

    // The log lines say what they said before the HTTP client: "timed out", "not an HTTP
    // response", the system's text of a connect or socket error, "closed without a status line".
    static std::string_view why(const httpc::Answer& a) {
        switch (a.error) {
            case httpc::Error::Timeout:
            case httpc::Error::ConnectTimeout: return "timed out";
            case httpc::Error::BadResponse: return "not an HTTP response";
            default: return a.reason;
        }
    }

    void on_http_answer(httpc::Answer& a) override {
        if (a.error != httpc::Error::None) return finish(false, 0, why(a));
        bool good = false;
        for (const auto& [lo, hi] : hc.expect) good |= a.status >= lo && a.status <= hi;
        finish(good, a.status, good ? "" : "unexpected status");
    }

    void finish(bool good, int status, std::string_view why) {
        if (rec) {
            if (results[good ? 1 : 0]) results[good ? 1 : 0]->fetch_add(1, std::memory_order_relaxed);
            int change = record_probe(rec, good, status, hc.fall, hc.rise, time(nullptr));
            if (change < 0)
                LOG_WARN("health check: upstream \"%s\", server %s is down after %u failed checks (last: %.*s%s%s)",
                         upstream.c_str(), address.c_str(), hc.fall, static_cast<int>(why.size()), why.data(),
                         status ? ", status " : "", status ? std::to_string(status).c_str() : "");
            else if (change > 0)
                LOG_NOTICE("health check: upstream \"%s\", server %s is up after %u good checks", upstream.c_str(),
                           address.c_str(), hc.rise);
            else if (!good)
                LOG_INFO("health check: upstream \"%s\", server %s failed a check: %.*s", upstream.c_str(),
                         address.c_str(), static_cast<int>(why.size()), why.data());
            if (up_gauge) up_gauge->store(rec->down.load(std::memory_order_relaxed) ? 0 : 1);
        }
        schedule(hc.interval);
    }
};

Checker::Checker(event::Loop& loop, shm::Zone& zone, metrics::Store& metrics, std::function<httpc::TlsClients*()> tls)
    : loop_(loop), http_(std::make_unique<httpc::Client>(loop)), table_(zone), metrics_(metrics),
      tls_clients_(std::move(tls)) {}

Checker::~Checker() = default;

void Checker::configure(std::shared_ptr<const Config> config) {
    probes_.clear();  // first: their requests use the TLS clients
    tls_.clear();
    tls_errors_.clear();
    config_ = std::move(config);
    size_t n = config_->upstreams.size();
    tls_.resize(n);
    tls_errors_.resize(n);
    httpc::TlsClients* makers = tls_clients_ ? tls_clients_() : nullptr;
    for (size_t i = 0; i < n; ++i) {
        const UpstreamConfig& u = config_->upstreams[i];
        if (!u.health_check) continue;
        if (makers) {
            tls_[i] = makers->for_upstream(*config_, i, tls_errors_[i]);
            if (!tls_[i] && !tls_errors_[i].empty()) {
                tls_errors_[i] = "no TLS client: " + tls_errors_[i];
                LOG_ERROR("health check: upstream \"%s\": %s", u.name.c_str(), tls_errors_[i].c_str());
            }
        }
        for (size_t k = 0; k < u.servers.size(); ++k) {
            const UpstreamServerConfig& s = u.servers[k];
            Record* r = table_.find_or_create(u.name, s.address);
            if (!r) LOG_WARN("the \"health\" zone is full: no health checks for server %s of upstream \"%s\"",
                             s.address.c_str(), u.name.c_str());
            probes_.push_back(std::make_unique<Probe>(*this, u, s, r));
            probes_.back()->tls = tls_[i].get();
            probes_.back()->tls_error = tls_errors_[i].empty() ? nullptr : &tls_errors_[i];
            probes_.back()->index = k;
            // The first probe soon (spread by the jitter), so that the state is known early.
            probes_.back()->schedule(0);
        }
    }
}

}  // namespace gw::health
