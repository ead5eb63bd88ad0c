#include "modules/auth/jwks_master.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/log.h"
#include "core/metrics/store.h"
#include "core/small_file.h"
#include "event/loop.h"
#include "core/services/registry.h"
#include "http/client/client.h"
#include "http/client/tls.h"
#include "http/transport.h"
#include "modules/auth/jwks_zone.h"
#include "modules/auth/jwt/key.h"

namespace gw::auth {

namespace {

constexpr event::Millis kFirstRetry = 1000;
constexpr event::Millis kMaxRetry = 60000;
constexpr event::Millis kWarnEvery = 60000;  // a failing set is logged at warn this often
constexpr const char* kHelp = "Key set (JWKS) fetches by the master, by provider and result (ok; "
                              "failed: no answer or not 200; invalid: not a usable JWK Set).";

// Whether `json` is a JWK Set with at least one key that can verify (what the workers will
// make of it); `why` otherwise.
bool usable_set(std::string_view json, std::string& why) {
    std::vector<jwt::Key> keys;
    std::vector<std::string> notes;
    if (!jwt::parse_jwks(json, jwt::KeySetOptions{}, keys, notes, why)) return false;
    if (keys.empty()) {
        why = "no key in the set can verify a signature";
        return false;
    }
    return true;
}

// Writes `data` to `path` whole or not at all: a temporary file next to it, renamed over it.
bool write_atomically(const std::string& path, std::string_view data, std::string& why) {
    std::string tmp = path + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        why = strerror(errno);
        return false;
    }
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            why = strerror(errno);
            close(fd);
            unlink(tmp.c_str());
            return false;
        }
        done += static_cast<size_t>(n);
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
        why = strerror(errno);
        unlink(tmp.c_str());
        return false;
    }
    return true;
}

}  // namespace

// One remote set: its fetches, its record, its last good JSON.
struct JwksMaster::Fetcher final : httpc::Handler {
    JwksMaster& m;
    std::string name;
    JwksSource src;
    JwksRecord* rec = nullptr;
    std::string last_good;           // the JSON published last (empty: none yet)
    event::Timer timer;              // the next scheduled fetch
    httpc::Handle call;              // the fetch in flight
    // https://: the TLS client to the URL's host (made for src.ca; kept across reloads while
    // the CA file stays the same); null with tls_error when it could not be made.
    std::unique_ptr<http::UpstreamTransportFactory> tls;
    std::string tls_ca, tls_error;
    http::Header headers[2] = {{"Accept", "application/json"}, {"User-Agent", "gatewayd-jwks"}};
    event::Millis last_kid_fetch = -1;  // when a kid miss last caused a fetch (-1: never)
    event::Millis last_warn = -kWarnEvery;
    unsigned failures = 0;
    uint64_t rng;
    std::atomic<uint64_t>* results[3] = {};  // ok, failed, invalid

    Fetcher(JwksMaster& master, const JwtProvider& p) : m(master), name(p.name), src(p.jwks) {
        rng = 0x9e3779b97f4a7c15ULL ^ reinterpret_cast<uintptr_t>(this) ^ static_cast<uint64_t>(time(nullptr));
        const char* kinds[] = {"ok", "failed", "invalid"};
        for (size_t i = 0; i < 3; ++i)
            results[i] = m.metrics_.counter("gateway_auth_jwks_fetches_total",
                                            "provider=\"" + metrics::escape_label_value(name) + "\",result=\"" +
                                                kinds[i] + "\"",
                                            kHelp);
        timer.set_callback([this] { fetch(); });
    }

    uint64_t random() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
    }

    // Finds its record in the (maybe new) zone; a set the zone already holds (a reload, or the
    // previous binary's) is the last good one, else the cache file's. Republishes what the zone
    // lacks (a resized zone starts empty).
    void attach(JwksTable& table) {
        rec = table.record(name, src.url);
        if (!rec) {
            LOG_ERROR("the \"%s\" zone is full: no remote key set for auth.jwt.%s", kJwksZoneName.data(), name.c_str());
            return;
        }
        std::string json;
        uint64_t version = 0;
        if (table.read(*rec, json, version)) {
            if (last_good.empty()) last_good = std::move(json);
            return;
        }
        if (last_good.empty() && !src.cache_file.empty()) {
            std::string text, why;
            if (read_small_file(src.cache_file, kMaxJwksBytes, text, why) && usable_set(text, why)) {
                LOG_NOTICE("auth.jwt.%s: the key set of cache file \"%s\" serves until the first fetch",
                           name.c_str(), src.cache_file.c_str());
                last_good = std::move(text);
            } else if (access(src.cache_file.c_str(), F_OK) == 0) {
                LOG_WARN("auth.jwt.%s: cache file \"%s\" not used: %s", name.c_str(), src.cache_file.c_str(),
                         why.c_str());
            }
        }
        if (!last_good.empty()) publish(last_good);
    }

    void publish(std::string_view json) {
        if (rec && !m.table_->publish(*rec, json))
            LOG_ERROR("the \"%s\" zone is full: auth.jwt.%s keeps its previous key set", kJwksZoneName.data(),
                      name.c_str());
    }

    // Makes the TLS client an https:// set needs (again when the CA file changed: a request in
    // flight on the old one is dropped, and the set is fetched anew). False when it cannot be
    // made: fetches then fail, counted and logged with tls_error.
    bool prepare_tls() {
        if (!src.fetch.tls) {
            call.cancel();
            tls.reset();
            return true;
        }
        if (tls && tls_ca == src.ca_file) return true;
        call.cancel();
        tls.reset();
        tls_ca = src.ca_file;
        tls_error.clear();
        if (!m.tls_clients_)
            tls_error = "no TLS client (gatewayd was built without the tls module)";
        else
            tls = m.tls_clients_->for_url(src.fetch.host_port, src.ca_file, tls_error);
        return tls != nullptr;
    }

    void schedule(event::Millis delay) { m.loop_.arm(timer, std::max<event::Millis>(delay, 0)); }

    // 80% to 100% of `refresh`: before it elapses, spread.
    void schedule_refresh() {
        event::Millis spread = src.refresh / 5;
        schedule(src.refresh - spread + static_cast<event::Millis>(random() % static_cast<uint64_t>(spread + 1)));
    }

    void fetch() {
        if (call.pending()) return;  // single-flight: its answer serves every asker
        if (m.still_master_ && !m.still_master_()) {  // another master serves the node
            schedule_refresh();
            return;
        }
        m.loop_.cancel(timer);
        if (src.fetch.tls && !tls) {  // the TLS client could not be made: nothing to send
            if (results[1]) results[1]->fetch_add(1, std::memory_order_relaxed);
            failed("tls: " + tls_error);
            answered();
            return;
        }
        httpc::Request r;
        r.address = reinterpret_cast<const sockaddr*>(&src.fetch.address);
        r.address_len = src.fetch.address_len;
        r.target = src.fetch.target;
        r.host = src.fetch.host;
        r.headers = headers;
        r.connect_timeout = src.timeout;
        r.timeout = src.timeout;
        r.max_body = kMaxJwksBytes;
        r.tls = tls.get();
        call = m.http_->fetch(r, *this);
    }

    // A worker met an unknown kid: fetch now unless a kid miss did within kid_miss_interval
    // (then the waiting requests are told at once that no newer set is coming).
    void refetch_for_kid() {
        if (call.pending()) return;
        event::Millis now = m.loop_.now();
        if (last_kid_fetch >= 0 && now - last_kid_fetch < src.kid_miss_interval) {
            answered();
            return;
        }
        last_kid_fetch = now;
        fetch();
    }

    void answered() {
        if (rec) rec->answers.fetch_add(1, std::memory_order_release);
        m.notify();
    }

    void on_http_answer(httpc::Answer& a) override {
        std::string why;
        int result = 0;
        if (a.error != httpc::Error::None) {
            why = std::string(httpc::error_name(a.error));
            if (!a.reason.empty()) why += std::string(": ") + std::string(a.reason);
            result = 1;
        } else if (a.status != 200) {
            why = "status " + std::to_string(a.status);
            result = 1;
        } else if (!usable_set(*a.body, why)) {
            result = 2;
        }
        if (results[result]) results[result]->fetch_add(1, std::memory_order_relaxed);
        if (result != 0) {
            failed(why);
        } else {
            failures = 0;
            if (*a.body != last_good) {
                bool first = last_good.empty();
                last_good = *a.body;
                publish(last_good);
                if (!first) LOG_NOTICE("auth.jwt.%s: a new key set from %s", name.c_str(), src.url.c_str());
                std::string error;
                if (!src.cache_file.empty() && !write_atomically(src.cache_file, last_good, error))
                    LOG_WARN("auth.jwt.%s: cannot write cache file \"%s\": %s", name.c_str(), src.cache_file.c_str(),
                             error.c_str());
            }
            schedule_refresh();
        }
        answered();
    }

    void failed(const std::string& why) {
        event::Millis now = m.loop_.now();
        const char* keeping = last_good.empty() ? "no key set yet" : "keeping the last good key set";
        if (now - last_warn >= kWarnEvery) {
            last_warn = now;
            LOG_WARN("auth.jwt.%s: fetching %s failed (%s); %s", name.c_str(), src.url.c_str(), why.c_str(), keeping);
        } else {
            LOG_INFO("auth.jwt.%s: fetching %s failed (%s); %s", name.c_str(), src.url.c_str(), why.c_str(), keeping);
        }
        event::Millis delay = kFirstRetry << std::min(failures, 6u);
        ++failures;
        delay = std::min({delay, kMaxRetry, src.refresh});
        schedule(delay - static_cast<event::Millis>(random() % static_cast<uint64_t>(delay / 5 + 1)));
    }
};

JwksMaster::JwksMaster(module::MasterEnv& env)
    : loop_(env.loop),
      metrics_(env.metrics),
      zone_of_(env.zone),
      still_master_(env.still_master),
      notify_workers_(env.notify_workers),
      tls_clients_(env.services.find<httpc::TlsClients>()),
      http_(std::make_unique<httpc::Client>(env.loop)) {}

JwksMaster::~JwksMaster() { fetchers_.clear(); }

void JwksMaster::notify() {
    if (notify_workers_) notify_workers_(module::auth_module, kChanged);
}

void JwksMaster::configure(const std::shared_ptr<const Config>& config) {
    const Settings* s = settings(*config);
    shm::Zone* zone = zone_of_ ? zone_of_(kJwksZoneName) : nullptr;
    if (zone != zone_) {
        zone_ = zone;
        table_ = zone ? std::make_unique<JwksTable>(*zone) : nullptr;
    }
    // Fetchers are kept by (provider, URL): a reload neither refetches nor forgets a set.
    std::vector<std::unique_ptr<Fetcher>> next;
    if (s && table_)
        for (const JwtProvider& p : s->jwt) {
            if (p.jwks.url.empty()) continue;
            std::unique_ptr<Fetcher> f;
            for (auto& old : fetchers_)
                if (old && old->name == p.name && old->src.url == p.jwks.url) f = std::move(old);
            bool fresh = !f;
            if (fresh) f = std::make_unique<Fetcher>(*this, p);
            f->src = p.jwks;
            f->attach(*table_);
            bool tls_remade = f->src.fetch.tls && (!f->tls || f->tls_ca != f->src.ca_file);
            f->prepare_tls();
            if (fresh || tls_remade)
                f->fetch();
            else if (f->rec && f->rec->refetch_wanted.exchange(0, std::memory_order_acq_rel))
                f->refetch_for_kid();  // asked by a new generation's worker before it was configured
            next.push_back(std::move(f));
        }
    fetchers_ = std::move(next);
    notify();
}

void JwksMaster::on_worker_request(uint16_t code) {
    if (code != kRefetch) return;
    for (auto& f : fetchers_)
        if (f->rec && f->rec->refetch_wanted.exchange(0, std::memory_order_acq_rel)) f->refetch_for_kid();
}

}  // namespace gw::auth
