#include "modules/ratelimit/limiter.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/log.h"
#include "core/redis/options.h"
#include "http/chars.h"
#include "http/response.h"
#include "modules/ratelimit/global.h"

namespace gw::ratelimit {

namespace {

constexpr size_t kKeyTextSize = 256;      // of a key in a log line
constexpr uint64_t kLogHashDomain = 0x6c6f672d6b6579ULL;  // "log-key": hashes of key parts in logs

Algorithm algorithm_of(RateLimitPolicy::Algorithm a) {
    switch (a) {
        case RateLimitPolicy::Algorithm::TokenBucket: return Algorithm::TokenBucket;
        case RateLimitPolicy::Algorithm::SlidingWindow: return Algorithm::SlidingWindow;
        case RateLimitPolicy::Algorithm::FixedWindow: return Algorithm::FixedWindow;
        case RateLimitPolicy::Algorithm::Concurrency: return Algorithm::Concurrency;
    }
    return Algorithm::TokenBucket;
}

char* put(char* p, char* end, std::string_view s) {
    size_t n = std::min(s.size(), static_cast<size_t>(end - p));
    std::memcpy(p, s.data(), n);
    return p + n;
}

uint64_t seconds_up(uint64_t ns) { return ns / 1000000000 + (ns % 1000000000 != 0); }

constexpr event::Millis kErrorLogInterval = 10000;  // Redis error replies: one log line at most per
constexpr uint64_t kDenyRetryAfterNs = 1000000000;  // `fallback: deny`: Retry-After: 1
constexpr uint64_t kFullLogIntervalNs = 10000000000;  // a full lease ledger: one log line at most per
constexpr int kDenyStatus = 503;

// `n` scaled by the fallback share, at least 1 (the epsilon keeps 0.3 * 100 at 30).
uint64_t share_of(uint64_t n, double share) {
    return std::max<uint64_t>(1, static_cast<uint64_t>(std::floor(static_cast<double>(n) * share + 1e-9)));
}

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
    // Once per request: the fixed texts are copied with their lengths known here (plain stores,
    // no memcpy call), which the bound checked once makes safe.
    if (cap < kMaxHeaderBytes) return 0;
    char* p = buf;
    auto text = [&p](std::string_view s) {
        std::memcpy(p, s.data(), s.size());
        p += s.size();
    };
    auto number = [&p, end = buf + cap](uint64_t v) { p = std::to_chars(p, end, v).ptr; };
    if (rejected && retry_after_s) {
        text("retry-after: ");
        number(retry_after_s);
        text("\r\n");
    }
    if (headers) {
        text("ratelimit-limit: ");
        number(limit);
        text("\r\nratelimit-remaining: ");
        number(remaining);
        text("\r\nratelimit-reset: ");
        number(reset_s);
        text("\r\n");
    }
    return static_cast<size_t>(p - buf);
}

// One policy's part in a decision.
struct Limiter::Eval {
    enum class By : uint8_t { Table, Redis, Fallback, Skipped };
    const Policy* policy = nullptr;
    KeyHash hash;
    Decision d;
    Table::Ref ref;
    uint32_t lease = Ledger::kNone;  // concurrency, counted: the ledger word that names the entry
    bool counted = false;  // in the table (and so to refund if the request is rejected after all)
    bool denied = false;   // `fallback: deny` while Redis was away
    By by = By::Table;
};

// A decision waiting for Redis: what check() had done and must finish when the answer comes.
struct Check final : redis::Waiter {
    Limiter* limiter = nullptr;
    const RoutePolicies* route = nullptr;
    RequestInfo info;
    uint64_t now_ns = 0;
    Verdict* out = nullptr;
    OnDecided decided;
    redis::Client::Pending* pending = nullptr;
    bool in_use = false;
    bool evicted = false;
    size_t n = 0;
    size_t local = 0;  // ev[0..local) are local policies, already counted; the rest are global
    Limiter::Eval ev[kMaxRoutePolicies];
    global::Call call;

    void on_redis_reply(redis::Result result, const redisReply* reply) override {
        limiter->on_redis_reply(*this, result, reply);
    }
};

namespace {

// A part of a request's key (empty when the request lacks it).
std::string_view part_value(const RateLimitKeyPart& part, std::string_view route, const RequestInfo& info) {
    std::string_view v;
    switch (part.kind) {
        case RateLimitKeyPart::Kind::Ip: v = info.ip; break;
        case RateLimitKeyPart::Kind::Route: v = route; break;
        case RateLimitKeyPart::Kind::Global: break;
        case RateLimitKeyPart::Kind::Header: v = info.request->header(part.name); break;
        case RateLimitKeyPart::Kind::Query: http::chars::query_param(info.request->query, part.name, v); break;
        case RateLimitKeyPart::Kind::Consumer: if (info.identity) v = info.identity->consumer(); break;
        case RateLimitKeyPart::Kind::Claim: if (info.identity) v = info.identity->claim(part.name); break;
    }
    return v;
}

std::string percent(double share) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.4g%%", share * 100);
    return buf;
}

}  // namespace

std::unique_ptr<Limiter> Limiter::create(const Config& cfg, shm::Zone& zone, metrics::Store& metrics,
                                         event::Loop* loop, redis::Client* redis) {
    std::unique_ptr<Limiter> l(new Limiter());
    l->table_ = Table::attach(zone);
    if (!l->table_) {
        LOG_EMERG("shared memory zone \"%s\" holds no usable rate limit table", zone.name().c_str());
        return nullptr;
    }
    const char* help = "Rate limit decisions, by policy and result (dry_run_rejected: a dry-run "
                       "policy would have rejected the request; fallback_*: a policy of scope global "
                       "decided locally while redis was away).";
    const Settings& settings = ratelimit::settings(cfg);
    double share = cfg.redis ? cfg.redis->share() : 1.0;
    bool any_global = false;
    std::vector<Params> known;
    l->policies_.resize(settings.policies.size());
    for (size_t i = 0; i < settings.policies.size(); ++i) {
        const RateLimitPolicy& rc = settings.policies[i];
        Policy& p = l->policies_[i];
        p.config = &rc;
        Algorithm algorithm = algorithm_of(rc.algorithm);
        uint64_t period_ns = static_cast<uint64_t>(rc.period) * 1000000;
        p.params = Params::make(rc.name, algorithm, rc.limit, period_ns, rc.burst);
        p.concurrency = rc.concurrency();
        p.body = http::json_error_body(rc.status, p.concurrency ? "too many requests in flight" : "rate limit exceeded");
        if (rc.fallback == RateLimitPolicy::Fallback::Deny)
            p.deny_body = http::json_error_body(kDenyStatus, "rate limit unavailable");
        std::string label = "policy=\"" + metrics::escape_label_value(rc.name) + "\",result=";
        p.allowed = metrics.counter("gateway_ratelimit_decisions_total", label + "\"allowed\"", help);
        p.rejected = metrics.counter("gateway_ratelimit_decisions_total", label + "\"rejected\"", help);
        if (rc.dry_run)
            p.dry_run_rejected = metrics.counter("gateway_ratelimit_decisions_total", label + "\"dry_run_rejected\"", help);
        if (rc.scope == RateLimitPolicy::Scope::Global) {
            any_global = true;
            p.global = true;
            p.redis = p.params;
            p.redis_prefix = global::key_prefix(rc.name, p.params);
            // The name cannot hold a space, so no local policy has this identity.
            p.params = Params::make(rc.name + " (redis fallback)", algorithm, share_of(rc.limit, share), period_ns,
                                    rc.burst ? share_of(rc.burst, share) : 0);
            p.fallback_allowed = metrics.counter("gateway_ratelimit_decisions_total", label + "\"fallback_allowed\"", help);
            p.fallback_rejected = metrics.counter("gateway_ratelimit_decisions_total", label + "\"fallback_rejected\"", help);
            if (rc.dry_run)
                p.fallback_dry_run_rejected =
                    metrics.counter("gateway_ratelimit_decisions_total", label + "\"fallback_dry_run_rejected\"", help);
        }
        p.hasher = l->table_->hasher(p.params);
        known.push_back(p.params);
    }
    l->table_->set_policies(std::move(known));
    if (std::any_of(l->policies_.begin(), l->policies_.end(), [](const Policy& p) { return p.concurrency; }))
        l->ledger_ = Ledger::local(std::max<uint64_t>(1, ledger_words(cfg)));
    l->evictions_ = metrics.counter("gateway_ratelimit_evictions_total", "",
                                    "Rate limit entries still in use that were dropped to make room for "
                                    "new keys (rate_limit_zone_size is too small when this grows).");
    l->routes_.resize(cfg.routes.size());
    for (size_t i = 0; i < cfg.routes.size(); ++i) {
        RoutePolicies& r = l->routes_[i];
        r.route = cfg.routes[i].name;
        for (bool global : {false, true})
            for (int index : settings.route(i)) {
                const Policy* p = &l->policies_[static_cast<size_t>(index)];
                if (p->global == global) r.policies.push_back(p);
            }
        r.local = static_cast<size_t>(std::count_if(r.policies.begin(), r.policies.end(),
                                                    [](const Policy* p) { return !p->global; }));
    }
    if (any_global && loop && cfg.redis) l->start_redis(*cfg.redis, *loop, metrics, redis);
    return l;
}

Limiter::~Limiter() {
    if (!redis_) return;
    redis_->remove_state_listener(&Limiter::redis_state_changed, this);  // no "lost" for our own closing
    for (auto& c : checks_)
        if (c->in_use) redis_->cancel(c->pending);
    if (redis_->up()) redis_up_.dec();
    own_redis_.reset();
}

void Limiter::start_redis(const RedisConfig& rc, event::Loop& loop, metrics::Store& metrics, redis::Client* shared) {
    loop_ = &loop;
    redis_address_ = rc.address;
    fallback_share_ = rc.share();
    redis_up_ = metrics.owned_gauge("gateway_redis_up", "",
                                    "Worker processes connected to the redis server of the rate limits of "
                                    "scope global (each counts 1).");
    if (shared) {
        redis_ = shared;
    } else {
        own_redis_ = std::make_unique<redis::Client>(loop, redis::options_for(rc));
        redis_ = own_redis_.get();
    }
    redis_->add_script(&global::script());
    redis_->add_state_listener(&Limiter::redis_state_changed, this);
    first_connect_.set_callback([this] {
        if (redis_was_up_ || redis_->up()) return;
        std::string why(redis_->last_error());
        LOG_WARN("redis %s: not connected yet (%s); rate limits of scope global are decided by this node "
                 "alone, with %s of each limit, until it is",
                 redis_address_.c_str(), why.empty() ? "no answer" : why.c_str(), percent(fallback_share_).c_str());
    });
    loop.arm(first_connect_, rc.connect_timeout + 100);
    if (own_redis_)
        redis_->start();
    else if (redis_->up())
        on_redis_state(true);  // connected already, for another module: counted and logged as if just now
}

void Limiter::on_redis_state(bool up) {
    if (up) {
        redis_up_.inc();
        if (redis_was_up_)
            LOG_NOTICE("redis %s is back: rate limits of scope global are decided by redis again",
                       redis_address_.c_str());
        else
            LOG_NOTICE("redis %s connected: rate limits of scope global are decided by redis", redis_address_.c_str());
        redis_was_up_ = true;
        return;
    }
    redis_up_.dec();
    std::string why(redis_->last_error());
    LOG_WARN("redis %s lost (%s): rate limits of scope global are decided by this node alone, with %s of "
             "each limit, until it is back",
             redis_address_.c_str(), why.empty() ? "connection closed" : why.c_str(), percent(fallback_share_).c_str());
}

bool Limiter::key(const Policy& policy, std::string_view route, const RequestInfo& info, KeyHash& hash) const {
    Hasher h = *policy.hasher;
    bool missing = false;
    for (const RateLimitKeyPart& part : policy.config->key) {
        std::string_view v = part_value(part, route, info);
        if (v.empty() && part.kind != RateLimitKeyPart::Kind::Global) missing = true;
        h.add(v);
    }
    hash = h.finish();
    return !missing || policy.config->missing_key == RateLimitPolicy::MissingKey::Limit;
}

void Limiter::key_for_log(const Policy& policy, std::string_view route, const RequestInfo& info, char* text,
                          size_t cap) const {
    if (!cap) return;
    KeyText t{text, text + cap - 1};
    for (const RateLimitKeyPart& part : policy.config->key) {
        std::string_view v = part_value(part, route, info);
        switch (part.kind) {
            case RateLimitKeyPart::Kind::Global: t.add("global"); break;
            case RateLimitKeyPart::Kind::Ip:
            case RateLimitKeyPart::Kind::Route: t.add(v); break;
            case RateLimitKeyPart::Kind::Header:
            case RateLimitKeyPart::Kind::Query:
            case RateLimitKeyPart::Kind::Consumer:
            case RateLimitKeyPart::Kind::Claim: {
                // 32 bits of the keyed hash: enough to tell keys apart in a log, and nothing to
                // find the value by (the secret never leaves the zone).
                Hasher h(table_->secret(), kLogHashDomain);
                h.add(v);
                char hex[10] = "#";
                uint64_t x = h.finish().hi;
                for (int i = 0; i < 8; ++i) hex[1 + i] = "0123456789abcdef"[(x >> (60 - 4 * i)) & 15];
                t.add(v.empty() ? std::string_view() : std::string_view(hex, 9));
                break;
            }
        }
    }
    *t.p = '\0';
}

bool Limiter::redis_key(const Policy& policy, std::string_view route, const RequestInfo& info, std::string& out) {
    size_t start = out.size();
    out += policy.redis_prefix;
    size_t parts = out.size();
    bool missing = false;
    for (const RateLimitKeyPart& part : policy.config->key) {
        std::string_view v = part_value(part, route, info);
        if (v.empty() && part.kind != RateLimitKeyPart::Kind::Global) missing = true;
        if (out.size() > parts) out += '+';
        global::append_escaped(out, part.kind == RateLimitKeyPart::Kind::Global ? std::string_view("global") : v);
    }
    if (missing && policy.config->missing_key == RateLimitPolicy::MissingKey::Skip) {
        out.resize(start);
        return false;
    }
    if (out.size() - parts > global::kMaxKeyText) {
        // Every node must name the key alike, and a client must not be able to make its key
        // collide with another's: a cryptographic hash, not the zone's (which is per node).
        static const char hex[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_Digest(out.data() + parts, out.size() - parts, md, &len, EVP_sha256(), nullptr);
        out.resize(parts);
        out += '#';
        for (unsigned i = 0; i < 16 && i < len; ++i) {
            out += hex[md[i] >> 4];
            out += hex[md[i] & 15];
        }
    }
    return true;
}

// Counts the request in the table for ev[0..n), each with its policy's table parameters: in all
// of them, or (returning false) in none when one that is not a dry run rejects it.
bool Limiter::count_in_table(Eval* ev, size_t n, uint64_t now_ns, bool& evicted) {
    if (n == 0) return true;
    if (n == 1) {
        count_one(ev[0], now_ns, evicted);
        return ev[0].d.allowed || ev[0].policy->config->dry_run;
    }
    // Check all first: a request one of them rejects is counted by none.
    bool rejected = false;
    for (size_t i = 0; i < n; ++i) {
        ev[i].d = table_->peek(ev[i].policy->params, ev[i].hash, now_ns);
        rejected |= !ev[i].d.allowed && !ev[i].policy->config->dry_run;
    }
    if (rejected) return false;
    for (size_t i = 0; i < n; ++i) {
        count_one(ev[i], now_ns, evicted);
        if (!ev[i].d.allowed && !ev[i].policy->config->dry_run) {
            // Used up by a concurrent request since the check: give back what was counted.
            refund(ev, i);
            return false;
        }
    }
    return true;
}

// One policy counts the request: a rate in its entry, or a concurrency policy one more request
// in flight, recorded in a word of the ledger (taken first: see Table::consume). With no word
// free - more requests in flight than the ledger was sized for - the request is not admitted.
void Limiter::count_one(Eval& e, uint64_t now_ns, bool& evicted) {
    if (!e.policy->concurrency) {
        e.d = table_->consume(e.policy->params, e.hash, now_ns, &e.ref, &evicted);
        e.counted = e.d.allowed;
        return;
    }
    e.lease = ledger_->take();
    if (e.lease == Ledger::kNone) {
        if (last_full_log_ns_ == 0 || now_ns - last_full_log_ns_ >= kFullLogIntervalNs) {
            last_full_log_ns_ = now_ns ? now_ns : 1;
            LOG_ERROR("rate limit \"%s\": all %llu lease words of this worker are in use; request not admitted",
                      e.policy->config->name.c_str(), static_cast<unsigned long long>(ledger_->capacity()));
        }
        e.d = Decision{};
        e.d.allowed = false;
        e.d.limit = e.policy->params.limit;
        e.counted = false;
        return;
    }
    e.d = table_->consume(e.policy->params, e.hash, now_ns, &e.ref, &evicted, ledger_->word(e.lease));
    e.counted = e.d.allowed;
    if (!e.counted) {
        ledger_->give_back(e.lease);
        e.lease = Ledger::kNone;
    }
}

void Limiter::refund(Eval* ev, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (!ev[i].counted) continue;
        if (ev[i].lease != Ledger::kNone) {
            table_->release(ledger_->word(ev[i].lease)->load(std::memory_order_relaxed));
            ledger_->give_back(ev[i].lease);
            ev[i].lease = Ledger::kNone;
        } else {
            table_->refund(ev[i].policy->params, ev[i].ref);
        }
        ev[i].counted = false;
    }
}

void Limiter::release(Verdict& v) {
    for (uint8_t i = 0; i < v.lease_count; ++i) {
        table_->release(ledger_->word(v.leases[i])->load(std::memory_order_relaxed));
        ledger_->give_back(v.leases[i]);
    }
    v.lease_count = 0;
}

// The global policies ev[local..n) decided without Redis, after the local ones ev[0..local)
// counted the request: those with `fallback: deny` reject it, the others are decided by the local
// table (their fallback share). False (and nothing counted) when one rejects it.
bool Limiter::decide_locally(Eval* ev, size_t n, size_t local, uint64_t now_ns, bool& evicted) {
    bool denied = false;
    size_t shared = local;  // ev[local..shared) take the local share, ev[shared..n) deny
    for (size_t i = local; i < n; ++i) {
        ev[i].by = Eval::By::Fallback;
        if (ev[i].policy->config->fallback != RateLimitPolicy::Fallback::Deny) continue;
        ev[i].d = Decision{};
        ev[i].d.allowed = false;
        ev[i].d.limit = ev[i].policy->redis.limit;
        ev[i].d.retry_after_ns = kDenyRetryAfterNs;
        ev[i].d.reset_ns = kDenyRetryAfterNs;
        ev[i].denied = true;
        denied |= !ev[i].policy->config->dry_run;
    }
    if (denied) {
        refund(ev, local);
        return false;
    }
    // Only dry-run policies deny: the others go to the table, side by side, the denying ones
    // after them (a few elements, moved by hand: std::stable_partition may allocate).
    for (size_t i = local; i < n; ++i) {
        if (ev[i].denied) continue;
        Eval e = ev[i];
        for (size_t j = i; j > shared; --j) ev[j] = ev[j - 1];
        ev[shared++] = e;
    }
    if (count_in_table(ev + local, shared - local, now_ns, evicted)) return true;
    refund(ev, local);
    return false;
}

bool Limiter::check(const RoutePolicies& route, const RequestInfo& info, uint64_t now_ns, Verdict& out,
                    OnDecided decided, Check** pending) {
    if (pending) *pending = nullptr;
    // Room for the most policies a route may have, constructed only as far as used: most routes
    // have one to three, and initialising all eight cost more than counting one of them.
    union Slots {
        Slots() {}
        Eval at[kMaxRoutePolicies];
    } slots;
    Eval* ev = slots.at;
    size_t n = 0;
    size_t local = 0;
    for (const Policy* p : route.policies) {
        if (n == kMaxRoutePolicies) break;
        KeyHash hash;
        if (!key(*p, route.route, info, hash)) continue;  // missing key, skipped
        new (&ev[n]) Eval{};
        ev[n].policy = p;
        ev[n].hash = hash;
        ev[n].by = p->global ? Eval::By::Skipped : Eval::By::Table;
        local += !p->global;
        ++n;
    }
    out = Verdict{};
    if (n == 0) return true;

    bool evicted = false;
    bool rejected = !count_in_table(ev, local, now_ns, evicted);  // a local rejection costs no round trip
    if (!rejected && local < n && redis_ && redis_->up() && decided && pending) {
        Check* c = acquire_check();
        c->route = &route;
        c->info = info;
        c->now_ns = now_ns;
        c->out = &out;
        c->decided = decided;
        c->evicted = evicted;
        c->n = n;
        c->local = local;
        std::copy(ev, ev + n, c->ev);
        c->call.clear(0, redis_->deadline_us());
        for (size_t i = local; i < n; ++i) {
            redis_key(*ev[i].policy, route.route, info, c->call.key());
            c->call.add_policy(ev[i].policy->redis, ev[i].policy->config->dry_run);
        }
        c->pending = redis_->eval(global::script(), c->call.keys(), c->call.args(), c);
        if (c->pending) {
            *pending = c;
            return false;
        }
        release_check(c);  // no connection ready after all: decided here
    }
    if (!rejected && local < n) rejected = !decide_locally(ev, n, local, now_ns, evicted);
    finish(route, info, ev, n, rejected, evicted, out);
    return true;
}

void Limiter::on_redis_reply(Check& c, redis::Result result, const redisReply* reply) {
    c.pending = nullptr;
    Eval* ev = c.ev;
    size_t global_n = c.n - c.local;
    Decision d[kMaxRoutePolicies];
    bool rejected = false;
    if (result == redis::Result::Ok && global::parse_reply(reply, global_n, d)) {
        for (size_t i = 0; i < global_n; ++i) {
            Eval& e = ev[c.local + i];
            e.by = Eval::By::Redis;
            e.d = d[i];
            e.d.limit = e.policy->redis.limit;
            rejected |= !e.d.allowed && !e.policy->config->dry_run;
        }
        if (rejected) refund(ev, c.local);
    } else {
        // A timeout or a lost connection marks the client down (the state change is logged);
        // an error reply leaves it up, and is logged here, now and then. A call that reached
        // Redis past its deadline counted nothing there: decided here, as a timeout is.
        if (result == redis::Result::Ok && global::is_late(reply)) {
            // Answered in time, yet past the deadline on Redis's clock: a clock was set since the
            // connection read Redis's. Read it again; meanwhile such calls count nothing there.
            redis_->refresh_clock();
            if (last_error_log_ < 0 || loop_->now() - last_error_log_ >= kErrorLogInterval) {
                last_error_log_ = loop_->now();
                LOG_WARN("redis %s ran a rate limit call past its deadline although it answered in time (a clock "
                         "was set?): decided locally; reading redis's clock again",
                         redis_address_.c_str());
            }
        } else if (result == redis::Result::Ok && (last_error_log_ < 0 || loop_->now() - last_error_log_ >= kErrorLogInterval)) {
            last_error_log_ = loop_->now();
            std::string what = reply && reply->type == REDIS_REPLY_ERROR && reply->str ? std::string(reply->str, reply->len)
                                                                                        : "an unexpected reply";
            LOG_ERROR("redis %s answered the rate limit script with %s; decided locally", redis_address_.c_str(),
                      what.c_str());
        }
        rejected = !decide_locally(ev, c.n, c.local, c.now_ns, c.evicted);
    }
    finish(*c.route, c.info, ev, c.n, rejected, c.evicted, *c.out);
    OnDecided then = c.decided;
    release_check(&c);
    then.fn(then.arg);
}

void Limiter::cancel(Check* c) {
    if (!c || !c->in_use) return;
    if (redis_) redis_->cancel(c->pending);
    refund(c->ev, c->local);  // the request was not let through
    release_check(c);
}

Check* Limiter::acquire_check() {
    Check* c;
    if (free_checks_.empty()) {
        checks_.push_back(std::make_unique<Check>());
        c = checks_.back().get();
        c->limiter = this;
    } else {
        c = free_checks_.back();
        free_checks_.pop_back();
    }
    c->in_use = true;
    return c;
}

void Limiter::release_check(Check* c) {
    c->in_use = false;
    c->pending = nullptr;
    c->decided = {};
    c->out = nullptr;
    free_checks_.push_back(c);
}

// Metrics (each policy counts the requests it let through, and those it rejected), logs, and
// which policy the answer reports: when rejected, the rejecting policy that asks the longest
// wait; otherwise the one with the fewest requests left (on a tie, the one that takes longest to
// come back). Dry-run policies never show in the answer; global policies that were not asked
// (a local one rejected first) take no part.
void Limiter::finish(const RoutePolicies& route, const RequestInfo& info, Eval* ev, size_t n, bool rejected,
                     bool evicted, Verdict& out) {
    if (evicted && evictions_) evictions_->fetch_add(1, std::memory_order_relaxed);
    auto bump = [](std::atomic<uint64_t>* c) {
        if (c) c->fetch_add(1, std::memory_order_relaxed);
    };
    const Eval* report = nullptr;
    for (size_t i = 0; i < n; ++i) {
        const Eval& e = ev[i];
        if (e.by == Eval::By::Skipped) continue;
        const Policy& p = *e.policy;
        const RateLimitPolicy& rc = *p.config;
        bool fallback = e.by == Eval::By::Fallback;
        if (e.d.allowed) {
            // A request another policy rejected is not counted here: it was not let through.
            if (!rejected) bump(fallback ? p.fallback_allowed : p.allowed);
        } else if (rc.dry_run) {
            bump(fallback ? p.fallback_dry_run_rejected : p.dry_run_rejected);
            if (log::enabled(LogLevel::Info)) {
                char text[kKeyTextSize];
                key_for_log(p, route.route, info, text, sizeof text);
                LOG_INFO("rate limit dry run: route \"%.*s\" policy \"%s\" key \"%s\": would be rejected%s",
                         static_cast<int>(route.route.size()), route.route.data(), rc.name.c_str(), text,
                         fallback ? " (decided locally, redis away)" : "");
            }
        } else {
            bump(fallback ? p.fallback_rejected : p.rejected);
            if (p.concurrency && log::enabled(LogLevel::Info)) {
                char text[kKeyTextSize];
                key_for_log(p, route.route, info, text, sizeof text);
                LOG_INFO("rate limit: route \"%.*s\" policy \"%s\" key \"%s\": %llu requests in flight already, "
                         "rejected",
                         static_cast<int>(route.route.size()), route.route.data(), rc.name.c_str(), text,
                         static_cast<unsigned long long>(rc.limit));
            }
        }
        // Allowed through: the requests in flight it holds, given back when it ends.
        if (!rejected && e.counted && e.lease != Ledger::kNone) out.leases[out.lease_count++] = e.lease;
        if (rc.dry_run) continue;
        if (rejected) {
            // A `fallback: deny` comes first: the answer is then 503, Redis being away.
            if (!e.d.allowed && (!report || (e.denied && !report->denied) ||
                                 (e.denied == report->denied && e.d.retry_after_ns > report->d.retry_after_ns)))
                report = &e;
        } else if (rc.headers) {
            if (!report || e.d.remaining < report->d.remaining ||
                (e.d.remaining == report->d.remaining && e.d.reset_ns > report->d.reset_ns))
                report = &e;
        }
    }
    if (!report) return;
    out.rejected = rejected;
    if (rejected) {
        out.status = report->denied ? kDenyStatus : report->policy->config->status;
        out.body = report->denied ? report->policy->deny_body : report->policy->body;
        // A concurrency limit frees up when a request ends, not at a time the gateway knows.
        out.retry_after_s = report->policy->concurrency ? 0 : std::max<uint64_t>(1, seconds_up(report->d.retry_after_ns));
    }
    out.headers = report->policy->config->headers;
    out.limit = report->d.limit;
    out.remaining = report->d.remaining;
    out.reset_s = seconds_up(report->d.reset_ns);
}

}  // namespace gw::ratelimit
