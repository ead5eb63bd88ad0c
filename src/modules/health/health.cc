#include "modules/health/health.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>

#include "core/log.h"

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

// One server's probe loop: connect, send a GET, read the status line, close; again after
// `interval` (moved by up to `jitter`).
struct Checker::Probe final : event::IoHandler {
    Checker& checker;
    std::string upstream, address;
    const UpstreamServerConfig& server;
    const HealthCheckConfig& hc;
    Record* rec;
    std::atomic<int64_t>* up_gauge = nullptr;
    std::atomic<uint64_t>* results[2] = {};  // bad, good
    event::Timer next, deadline;
    int fd = -1;
    std::string request;
    size_t sent = 0;
    char buf[256];
    size_t got = 0;
    uint64_t rng;

    Probe(Checker& c, const UpstreamConfig& u, const UpstreamServerConfig& s, Record* r)
        : checker(c), upstream(u.name), address(s.address), server(s), hc(*u.health_check), rec(r) {
        rng = 0x9e3779b97f4a7c15ULL ^ reinterpret_cast<uintptr_t>(this) ^ static_cast<uint64_t>(time(nullptr));
        std::string host = hc.host.empty() ? (s.address.rfind("unix:", 0) == 0 ? "localhost" : s.address) : hc.host;
        request = "GET " + hc.path + " HTTP/1.1\r\nHost: " + host +
                  "\r\nUser-Agent: gatewayd-health-check\r\nConnection: close\r\n\r\n";
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
        deadline.set_callback([this] { finish(false, 0, "timed out"); });
    }
    ~Probe() { close_socket(); }

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
        fd = ::socket(server.sockaddr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            finish(false, 0, strerror(errno));
            return;
        }
        sent = got = 0;
        checker.loop_.arm(deadline, hc.timeout);
        int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&server.sockaddr), server.socklen);
        if (rc < 0 && errno != EINPROGRESS) {
            finish(false, 0, strerror(errno));
            return;
        }
        checker.loop_.add(fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, this);
    }

    void on_io(uint32_t events) override {
        if (fd < 0) return;
        if (sent < request.size() && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                finish(false, 0, strerror(err));
                return;
            }
            ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN) {
                finish(false, 0, strerror(errno));
                return;
            }
            if (n > 0) sent += static_cast<size_t>(n);
            if (sent == request.size()) checker.loop_.modify(fd, EPOLLIN | EPOLLRDHUP, this);
            return;
        }
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
            ssize_t n = ::recv(fd, buf + got, sizeof buf - got, 0);
            if (n < 0 && errno == EAGAIN) return;
            if (n > 0) got += static_cast<size_t>(n);
            std::string_view head(buf, got);
            size_t eol = head.find("\r\n");
            if (eol == std::string_view::npos && n > 0 && got < sizeof buf) return;
            // "HTTP/1.x NNN ..."
            int status = 0;
            if (head.size() >= 12 && head.substr(0, 7) == "HTTP/1." && head[8] == ' ') {
                for (size_t i = 9; i < 12; ++i) {
                    char c = head[i];
                    if (c < '0' || c > '9') {
                        status = 0;
                        break;
                    }
                    status = status * 10 + (c - '0');
                }
            }
            if (status == 0) {
                finish(false, 0, n == 0 ? "closed without a status line" : "not an HTTP response");
                return;
            }
            bool good = false;
            for (const auto& [lo, hi] : hc.expect) good |= status >= lo && status <= hi;
            finish(good, status, good ? nullptr : "unexpected status");
        }
    }

    void close_socket() {
        if (fd < 0) return;
        checker.loop_.remove(fd);
        ::close(fd);
        fd = -1;
    }

    void finish(bool good, int status, const char* why) {
        close_socket();
        checker.loop_.cancel(deadline);
        if (rec) {
            if (results[good ? 1 : 0]) results[good ? 1 : 0]->fetch_add(1, std::memory_order_relaxed);
            int change = record_probe(rec, good, status, hc.fall, hc.rise, time(nullptr));
            if (change < 0)
                LOG_WARN("health check: upstream \"%s\", server %s is down after %u failed checks (last: %s%s%s)",
                         upstream.c_str(), address.c_str(), hc.fall, why ? why : "", status ? ", status " : "",
                         status ? std::to_string(status).c_str() : "");
            else if (change > 0)
                LOG_NOTICE("health check: upstream \"%s\", server %s is up after %u good checks", upstream.c_str(),
                           address.c_str(), hc.rise);
            else if (!good)
                LOG_INFO("health check: upstream \"%s\", server %s failed a check: %s", upstream.c_str(),
                         address.c_str(), why ? why : "");
            if (up_gauge) up_gauge->store(rec->down.load(std::memory_order_relaxed) ? 0 : 1);
        }
        schedule(hc.interval);
    }
};

Checker::Checker(event::Loop& loop, shm::Zone& zone, metrics::Store& metrics)
    : loop_(loop), table_(zone), metrics_(metrics) {}

Checker::~Checker() = default;

void Checker::configure(std::shared_ptr<const Config> config) {
    probes_.clear();
    config_ = std::move(config);
    for (const UpstreamConfig& u : config_->upstreams) {
        if (!u.health_check) continue;
        for (const UpstreamServerConfig& s : u.servers) {
            Record* r = table_.find_or_create(u.name, s.address);
            if (!r) LOG_WARN("the \"health\" zone is full: no health checks for server %s of upstream \"%s\"",
                             s.address.c_str(), u.name.c_str());
            probes_.push_back(std::make_unique<Probe>(*this, u, s, r));
            // The first probe soon (spread by the jitter), so that the state is known early.
            probes_.back()->schedule(0);
        }
    }
}

}  // namespace gw::health
