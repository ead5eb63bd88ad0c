#include "modules/cache/refresh.h"

#include <time.h>

#include <algorithm>

#include "core/log.h"
#include "http/chars.h"
#include "http/parser.h"
#include "http/stream.h"
#include "http/transport.h"
#include "modules/cache/filter.h"
#include "modules/cache/freshness.h"
#include "modules/cache/runtime.h"
#include "modules/cache/stored.h"

namespace gw::cache {

namespace {

using http::chars::iequals;

constexpr size_t kMaxJobs = 64;  // refreshes in flight per worker; more are left to clients

}  // namespace

struct BackgroundRefresh::Job final : httpc::Handler {
    BackgroundRefresh* owner = nullptr;
    const RoutePolicy* policy = nullptr;
    std::string key, target, host, vary, stale_head;
    std::vector<std::string> values;  // the header fields sent (owned)
    std::vector<http::Header> fields;
    std::string variant_key;
    int64_t request_time = 0;
    httpc::Handle handle;

    void on_http_answer(httpc::Answer& a) override;
};

BackgroundRefresh::BackgroundRefresh(const Config& config, Runtime& rt, httpc::Client& http,
                                     std::vector<std::unique_ptr<http::UpstreamTransportFactory>> tls)
    : config_(config), rt_(rt), http_(http), tls_(std::move(tls)) {}

BackgroundRefresh::~BackgroundRefresh() = default;

bool BackgroundRefresh::can_refresh(int route, const http::Stream& s) const {
    if (route < 0 || static_cast<size_t>(route) >= config_.routes.size()) return false;
    const RouteConfig& rc = config_.routes[static_cast<size_t>(route)];
    if (!rc.rewrite.empty() || rc.upstream_index < 0) return false;
    const http::Request& req = s.request();
    return req.header("authorization").empty() && req.header("cookie").empty() && jobs_.size() < kMaxJobs;
}

void BackgroundRefresh::start(const RoutePolicy& p, const http::Stream& s, std::string_view key,
                              const Store::Object& stale) {
    if (!can_refresh(s.route_index(), s)) return;
    const RouteConfig& rc = config_.routes[static_cast<size_t>(s.route_index())];
    const UpstreamConfig& uc = config_.upstreams[static_cast<size_t>(rc.upstream_index)];
    if (uc.servers.empty()) return;
    const http::Request& req = s.request();
    auto job = std::make_unique<Job>();
    Job& j = *job;
    j.owner = this;
    j.policy = &p;
    j.key = key;
    j.stale_head = stale.head;
    j.request_time = now_seconds();
    // The upstream target, as the proxy makes it without rewrite:.
    if (!rc.strip_prefix.empty() && req.path.starts_with(rc.strip_prefix)) {
        std::string_view rest = req.path.substr(rc.strip_prefix.size());
        if (rest.empty() || rest.front() != '/') j.target += '/';
        j.target += rest;
    } else {
        j.target += req.path;
    }
    if (!req.query.empty()) j.target += "?" + std::string(req.query);
    j.host = req.host.empty() ? uc.name : std::string(req.host);
    finished_.clear();
    // The fields the object varies on (the same variant comes back), and its validators.
    static http::Response stale_head;  // one worker thread: reused
    std::string vary;
    if (!parse_stored(stale.head, stale_head)) return;
    vary_names(stale_head, vary);
    for (size_t i = 0; i <= vary.size();) {
        size_t comma = vary.find(',', i);
        std::string name = vary.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
        name.erase(0, name.find_first_not_of(" \t"));
        name.erase(name.find_last_not_of(" \t") + 1);
        if (!name.empty()) {
            std::string_view value = req.header(name);
            if (!value.empty()) {
                j.values.push_back(name);
                j.values.push_back(std::string(value));
            }
        }
        if (comma == std::string::npos) break;
        i = comma + 1;
    }
    if (std::string_view etag = field_of(stale.head, "etag"); !etag.empty()) {
        j.values.push_back("if-none-match");
        j.values.push_back(std::string(etag));
    }
    if (std::string_view lm = field_of(stale.head, "last-modified"); !lm.empty()) {
        j.values.push_back("if-modified-since");
        j.values.push_back(std::string(lm));
    }
    for (size_t i = 0; i + 1 < j.values.size(); i += 2) j.fields.push_back({j.values[i], j.values[i + 1]});
    j.variant_key = j.key;
    j.vary = vary;
    if (!vary.empty()) append_variant(vary, req, j.variant_key);
    // A server of the upstream, in turn (health and breakers are the proxy's business; a
    // refresh that fails leaves the stale object, which clients revalidate later).
    size_t index = next_server_++ % uc.servers.size();
    const UpstreamServerConfig& server = uc.servers[index];
    httpc::Request r;
    r.address = reinterpret_cast<const sockaddr*>(&server.sockaddr);
    r.address_len = server.socklen;
    size_t ui = static_cast<size_t>(rc.upstream_index);
    if (ui < tls_.size() && tls_[ui]) {
        r.tls = tls_[ui].get();
        r.tls_server = index;
    }
    r.target = j.target;
    r.host = j.host;
    r.headers = j.fields;
    r.connect_timeout = uc.connect_timeout;
    r.timeout = rc.timeout.read > 0 ? rc.timeout.read : 30000;
    r.max_body = rt_.settings().zones[p.zone].max_object;
    j.handle = http_.fetch(r, j);
    jobs_.push_back(std::move(job));
}

void BackgroundRefresh::Job::on_http_answer(httpc::Answer& a) {
    BackgroundRefresh& b = *owner;
    Store* store = b.rt_.store(policy->zone);
    Counters& counters = b.rt_.counters();
    if (a.error != httpc::Error::None || !a.head || !store) {
        // (neither the key nor the query is logged: a key part may be a header's or a cookie's
        // value, a query a token)
        std::string_view path = std::string_view(target).substr(0, target.find('?'));
        LOG_INFO("cache: a background refresh to %s%.*s failed: %.*s", host.c_str(), static_cast<int>(path.size()),
                 path.data(), static_cast<int>(a.reason.size()), a.reason.data());
        b.done(this);
        return;
    }
    const http::Response& r = *a.head;
    int64_t now = now_seconds();
    Policy pol{policy->default_ttl / 1000, policy->swr / 1000, policy->sie / 1000};
    std::string head;
    if (r.status == 304) {
        // The stale object's fields updated from the 304, its body copied in the store while
        // it is pinned again (by its variant key, as it was).
        std::string scratch;
        Store::Object o = store->find(
            key, [](std::string_view, void* arg, std::string& out) { out = *static_cast<const std::string*>(arg); },
            &variant_key, scratch);
        if (o) {
            merge_304(o.head, r, o.body.size(), head);
            static http::Response merged;  // one worker thread: reused
            if (parse_stored(head, merged)) {
                ResponseFacts f = facts_of(merged);
                StoreDecision d = decide_store(f, false, pol);
                std::string names;
                vary_names(merged, names);
                if (d.store && names == vary && store->insert(key, vary, variant_key, head, o.body, meta_of(f, d, request_time, now)) &&
                    counters.revalidated)
                    counters.revalidated->fetch_add(1, std::memory_order_relaxed);
            }
            store->unpin(o);
        }
    } else if (a.body) {
        ResponseFacts f = facts_of(r);
        StoreDecision d = decide_store(f, false, pol);
        std::string names;
        vary_names(r, names);
        // (a response that varies otherwise than the object did is left to clients' requests)
        if (d.store && names == vary) {
            stored_head_of(r, head);
            end_stored_head(head, a.body->size());
            if (store->insert(key, vary, variant_key, head, *a.body, meta_of(f, d, request_time, now)) && counters.stored)
                counters.stored->fetch_add(1, std::memory_order_relaxed);
        }
    }
    b.done(this);
}

void BackgroundRefresh::done(Job* j) {
    // Called from the job's own handler: freed at the next start() (or with the refresher).
    auto it = std::find_if(jobs_.begin(), jobs_.end(), [j](const auto& p) { return p.get() == j; });
    if (it == jobs_.end()) return;
    finished_.push_back(std::move(*it));
    jobs_.erase(it);
}

}  // namespace gw::cache
