#include "modules/ratelimit/limiter.h"

#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "http/chars.h"
#include "http/response.h"

namespace gw::ratelimit {

namespace {

constexpr size_t kMaxRoutePolicies = 8;  // the config allows no more
constexpr size_t kKeyTextSize = 256;      // of a key in a log line

Algorithm algorithm_of(RateLimitPolicy::Algorithm a) {
    switch (a) {
        case RateLimitPolicy::Algorithm::TokenBucket: return Algorithm::TokenBucket;
        case RateLimitPolicy::Algorithm::SlidingWindow: return Algorithm::SlidingWindow;
        case RateLimitPolicy::Algorithm::FixedWindow: return Algorithm::FixedWindow;
    }
    return Algorithm::TokenBucket;
}

char* put(char* p, char* end, std::string_view s) {
    size_t n = std::min(s.size(), static_cast<size_t>(end - p));
    std::memcpy(p, s.data(), n);
    return p + n;
}

char* put_number(char* p, char* end, uint64_t v) {
    char digits[20];
    size_t n = 0;
    do digits[n++] = static_cast<char>('0' + v % 10); while (v /= 10);
    while (n && p < end) *p++ = digits[--n];
    return p;
}

uint64_t seconds_up(uint64_t ns) { return ns / 1000000000 + (ns % 1000000000 != 0); }

// Builds the key text for logs: parts joined with '+', cut at the buffer's end.
struct KeyText {
    char* p = nullptr;
    char* end = nullptr;
    bool first = true;
    void add(std::string_view part) {
        if (!p) return;
        if (!first) p = put(p, end, "+");
        first = false;
        p = put(p, end, part);
    }
};

}  // namespace

size_t Verdict::format(char* buf, size_t cap) const {
    char* p = buf;
    char* end = buf + cap;
    if (rejected) {
        p = put(p, end, "retry-after: ");
        p = put_number(p, end, retry_after_s);
        p = put(p, end, "\r\n");
    }
    if (headers) {
        p = put(p, end, "ratelimit-limit: ");
        p = put_number(p, end, limit);
        p = put(p, end, "\r\nratelimit-remaining: ");
        p = put_number(p, end, remaining);
        p = put(p, end, "\r\nratelimit-reset: ");
        p = put_number(p, end, reset_s);
        p = put(p, end, "\r\n");
    }
    return static_cast<size_t>(p - buf);
}

std::unique_ptr<Limiter> Limiter::create(const Config& cfg, shm::Zone& zone, metrics::Store& metrics) {
    std::unique_ptr<Limiter> l(new Limiter());
    l->table_ = Table::attach(zone);
    if (!l->table_) {
        LOG_EMERG("shared memory zone \"%s\" holds no usable rate limit table", zone.name().c_str());
        return nullptr;
    }
    const char* help = "Rate limit decisions, by policy and result (dry_run_rejected: a dry-run "
                       "policy would have rejected the request).";
    std::vector<Params> known;
    l->policies_.resize(cfg.rate_limits.size());
    for (size_t i = 0; i < cfg.rate_limits.size(); ++i) {
        const RateLimitPolicy& rc = cfg.rate_limits[i];
        Policy& p = l->policies_[i];
        p.config = &rc;
        p.params = Params::make(rc.name, algorithm_of(rc.algorithm), rc.limit,
                                static_cast<uint64_t>(rc.period) * 1000000, rc.burst);
        p.body = http::json_error_body(rc.status, "rate limit exceeded");
        std::string label = "policy=\"" + metrics::escape_label_value(rc.name) + "\",result=";
        p.allowed = metrics.counter("gateway_ratelimit_decisions_total", label + "\"allowed\"", help);
        p.rejected = metrics.counter("gateway_ratelimit_decisions_total", label + "\"rejected\"", help);
        if (rc.dry_run)
            p.dry_run_rejected = metrics.counter("gateway_ratelimit_decisions_total", label + "\"dry_run_rejected\"", help);
        known.push_back(p.params);
    }
    l->table_->set_policies(std::move(known));
    l->evictions_ = metrics.counter("gateway_ratelimit_evictions_total", "",
                                    "Rate limit entries still in use that were dropped to make room for "
                                    "new keys (rate_limit_zone_size is too small when this grows).");
    l->routes_.resize(cfg.routes.size());
    for (size_t i = 0; i < cfg.routes.size(); ++i) {
        l->routes_[i].route = cfg.routes[i].name;
        for (int index : cfg.routes[i].rate_limits)
            l->routes_[i].policies.push_back(&l->policies_[static_cast<size_t>(index)]);
    }
    return l;
}

bool Limiter::key(const Policy& policy, std::string_view route, const RequestInfo& info, uint64_t& hash,
                  char* text, size_t cap) {
    Hasher h(policy.params.id);
    KeyText t;
    if (text && cap) {
        t.p = text;
        t.end = text + cap - 1;
    }
    bool missing = false;
    for (const RateLimitKeyPart& part : policy.config->key) {
        std::string_view v;
        switch (part.kind) {
            case RateLimitKeyPart::Kind::Ip: v = info.ip; break;
            case RateLimitKeyPart::Kind::Route: v = route; break;
            case RateLimitKeyPart::Kind::Global: break;
            case RateLimitKeyPart::Kind::Header: v = info.request->header(part.name); break;
            case RateLimitKeyPart::Kind::Query: http::chars::query_param(info.request->query, part.name, v); break;
        }
        if (v.empty() && part.kind != RateLimitKeyPart::Kind::Global) missing = true;
        h.add(v);
        t.add(part.kind == RateLimitKeyPart::Kind::Global ? std::string_view("global") : v);
    }
    if (t.p) *t.p = '\0';
    hash = h.finish();
    return !missing || policy.config->missing_key == RateLimitPolicy::MissingKey::Limit;
}

void Limiter::check(const RoutePolicies& route, const RequestInfo& info, uint64_t now_ns, Verdict& out) {
    struct Eval {
        const Policy* policy;
        uint64_t hash;
        Decision d;
        Table::Ref ref;
        bool counted;
    };
    Eval ev[kMaxRoutePolicies];
    size_t n = 0;
    for (const Policy* p : route.policies) {
        if (n == kMaxRoutePolicies) break;
        uint64_t hash;
        if (!key(*p, route.route, info, hash)) continue;  // missing key, skipped
        ev[n++] = Eval{p, hash, {}, {}, false};
    }
    out = Verdict{};
    if (n == 0) return;

    bool evicted = false;
    bool rejected = false;
    if (n == 1) {
        ev[0].d = table_->consume(ev[0].policy->params, ev[0].hash, now_ns, nullptr, &evicted);
        rejected = !ev[0].d.allowed && !ev[0].policy->config->dry_run;
    } else {
        // Check all first: a request one of them rejects is counted by none.
        for (size_t i = 0; i < n; ++i) {
            ev[i].d = table_->peek(ev[i].policy->params, ev[i].hash, now_ns);
            rejected |= !ev[i].d.allowed && !ev[i].policy->config->dry_run;
        }
        for (size_t i = 0; i < n && !rejected; ++i) {
            ev[i].d = table_->consume(ev[i].policy->params, ev[i].hash, now_ns, &ev[i].ref, &evicted);
            ev[i].counted = ev[i].d.allowed;
            if (!ev[i].d.allowed && !ev[i].policy->config->dry_run) {
                // Used up by a concurrent request since the check: give back what was counted.
                rejected = true;
                for (size_t j = 0; j < i; ++j)
                    if (ev[j].counted) table_->refund(ev[j].policy->params, ev[j].ref);
            }
        }
    }
    if (evicted && evictions_) evictions_->fetch_add(1, std::memory_order_relaxed);

    // Metrics (each policy counts the requests it let through, and those it rejected), logs,
    // and which policy the answer reports: when rejected, the rejecting policy
    // that asks the longest wait; otherwise the one with the fewest requests left (on a tie, the
    // one that takes longest to come back). Dry-run policies never show in the answer.
    const Eval* report = nullptr;
    for (size_t i = 0; i < n; ++i) {
        const Eval& e = ev[i];
        const RateLimitPolicy& rc = *e.policy->config;
        if (e.d.allowed) {
            // A request another policy rejected is not counted here: it was not let through.
            if (!rejected && e.policy->allowed) e.policy->allowed->fetch_add(1, std::memory_order_relaxed);
        } else if (rc.dry_run) {
            if (e.policy->dry_run_rejected) e.policy->dry_run_rejected->fetch_add(1, std::memory_order_relaxed);
            if (log::enabled(LogLevel::Info)) {
                char text[kKeyTextSize];
                uint64_t unused;
                key(*e.policy, route.route, info, unused, text, sizeof text);
                LOG_INFO("rate limit dry run: route \"%.*s\" policy \"%s\" key \"%s\": would be rejected",
                         static_cast<int>(route.route.size()), route.route.data(), rc.name.c_str(), text);
            }
        } else {
            if (e.policy->rejected) e.policy->rejected->fetch_add(1, std::memory_order_relaxed);
        }
        if (rc.dry_run) continue;
        if (rejected) {
            if (!e.d.allowed && (!report || e.d.retry_after_ns > report->d.retry_after_ns)) report = &e;
        } else if (rc.headers) {
            if (!report || e.d.remaining < report->d.remaining ||
                (e.d.remaining == report->d.remaining && e.d.reset_ns > report->d.reset_ns))
                report = &e;
        }
    }
    if (!report) return;
    out.rejected = rejected;
    if (rejected) {
        out.status = report->policy->config->status;
        out.body = report->policy->body;
        out.retry_after_s = std::max<uint64_t>(1, seconds_up(report->d.retry_after_ns));
    }
    out.headers = report->policy->config->headers;
    out.limit = report->d.limit;
    out.remaining = report->d.remaining;
    out.reset_s = seconds_up(report->d.reset_ns);
}

}  // namespace gw::ratelimit
