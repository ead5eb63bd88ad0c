// `rate_limits:` - named rate-limit policies, and `rate_limit_zone_size`; and a route's
// `rate_limit:`, the list of policies that apply to its requests; and their `-T` dump. How they
// are enforced is in limiter.h.
#include "modules/ratelimit/config.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "core/config/config_sections.h"
#include "core/config/dump.h"

namespace gw::ratelimit {

namespace {

using config_detail::for_each_named;
using config_detail::is_token;
using config_detail::to_lower;
using schema::MapReader;
using yaml::Node;

constexpr uint64_t kMaxLimit = 1000000000;         // requests per period, any algorithm
constexpr uint64_t kMaxSlidingLimit = (1u << 24) - 1;  // what a sliding-window counter holds
constexpr uint64_t kMaxBucketRatePerSecond = 1000000;  // token bucket: one token per microsecond
constexpr uint64_t kMaxRefillMicros = 366ull * 86400 * 1000000;  // a bucket refills within a year
constexpr size_t kMaxKeyParts = 8;
constexpr size_t kMaxPoliciesPerRoute = 8;

constexpr std::string_view kRateForms = "expected N/s, N/m, N/h or N/d, as in 100/s";
constexpr std::string_view kKeyForms =
    "expected ip, route, global, header:NAME, query:NAME, consumer or claim:NAME, joined with '+'";

// "100/s", "1000/m", "100000/h", "5/d".
bool parse_rate(std::string_view text, uint64_t& limit, Millis& period) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 2 != text.size()) return false;
    std::string_view digits = text.substr(0, slash);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), limit);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
        limit = UINT64_MAX;  // too many digits: out of range, reported as such
    }
    switch (text.back()) {
        case 's': period = 1000; return true;
        case 'm': period = 60 * 1000; return true;
        case 'h': period = 3600 * 1000; return true;
        case 'd': period = 86400 * 1000; return true;
        default: return false;
    }
}

bool read_rate(const Node& v, const std::string& path, RateLimitPolicy& p, Diagnostics& diags) {
    std::optional<std::string> text = schema::read_string(v, path, diags);
    if (!text) return false;
    uint64_t limit = 0;
    Millis period = 0;
    if (!parse_rate(*text, limit, period)) {
        schema::report(diags, v.mark, path, "bad rate \"" + *text + "\" (" + std::string(kRateForms) + ")");
        return false;
    }
    if (limit < 1 || limit > kMaxLimit) {
        schema::report(diags, v.mark, path,
                       "\"" + *text + "\": the number of requests is out of range (1.." +
                           std::to_string(kMaxLimit) + ")");
        return false;
    }
    p.limit = limit;
    p.period = period;
    return true;
}

// `ip`, `header:x-user-id`, `ip+route`, ... Reported at the value; false when bad.
bool read_key(const Node& v, std::string_view path, RateLimitPolicy& p, Diagnostics& diags) {
    std::optional<std::string> text = schema::read_string(v, path, diags);
    if (!text) return false;
    std::vector<RateLimitKeyPart> parts;
    std::string_view rest = *text;
    bool ok = true;
    for (;;) {
        size_t plus = rest.find('+');
        std::string_view word = rest.substr(0, plus);
        RateLimitKeyPart part;
        if (word == "ip") {
            part.kind = RateLimitKeyPart::Kind::Ip;
        } else if (word == "route") {
            part.kind = RateLimitKeyPart::Kind::Route;
        } else if (word == "global") {
            part.kind = RateLimitKeyPart::Kind::Global;
        } else if (word.starts_with("header:")) {
            part.kind = RateLimitKeyPart::Kind::Header;
            part.name = to_lower(word.substr(7));
            if (!is_token(part.name)) {
                schema::report(diags, v.mark, path, "bad header name \"" + std::string(word.substr(7)) + "\" in key");
                ok = false;
            }
        } else if (word == "consumer") {
            part.kind = RateLimitKeyPart::Kind::Consumer;
        } else if (word.starts_with("claim:")) {
            part.kind = RateLimitKeyPart::Kind::Claim;
            part.name = word.substr(6);
            if (part.name.empty() || part.name.size() > 128) {
                schema::report(diags, v.mark, path, "bad claim name \"" + part.name + "\" in key");
                ok = false;
            }
        } else if (word.starts_with("query:")) {
            part.kind = RateLimitKeyPart::Kind::Query;
            part.name = word.substr(6);
            if (part.name.empty() || part.name.find_first_of("&= \t#") != std::string::npos) {
                schema::report(diags, v.mark, path,
                               "bad query parameter name \"" + part.name + "\" in key");
                ok = false;
            }
        } else {
            schema::report(diags, v.mark, path,
                           "bad key part \"" + std::string(word) + "\" (" + std::string(kKeyForms) + ")");
            return false;
        }
        bool repeated = std::any_of(parts.begin(), parts.end(), [&](const RateLimitKeyPart& x) {
            return x.kind == part.kind && x.name == part.name;
        });
        if (repeated) {
            schema::report(diags, v.mark, path, "key part \"" + std::string(word) + "\" is listed twice");
            ok = false;
        }
        parts.push_back(std::move(part));
        if (plus == std::string_view::npos) break;
        rest.remove_prefix(plus + 1);
    }
    if (parts.size() > kMaxKeyParts) {
        schema::report(diags, v.mark, path, "more than " + std::to_string(kMaxKeyParts) + " key parts");
        ok = false;
    }
    bool global = std::any_of(parts.begin(), parts.end(),
                              [](const RateLimitKeyPart& x) { return x.kind == RateLimitKeyPart::Kind::Global; });
    if (global && parts.size() > 1) {
        schema::report(diags, v.mark, path, "global is one counter for every request: it cannot be combined");
        ok = false;
    }
    if (ok) p.key = std::move(parts);
    return ok;
}

// `local` (this node's shared memory) or `global` (Redis, shared by the nodes): the latter only
// with a `redis:` section that says which Redis.
void read_scope(MapReader& m, const Config& c, RateLimitPolicy& p) {
    const Node* v = m.take("scope");
    if (!v) return;
    std::string path = m.path("scope");
    std::optional<RateLimitPolicy::Scope> scope = schema::read_enum<RateLimitPolicy::Scope>(
        *v, path, {{"local", RateLimitPolicy::Scope::Local}, {"global", RateLimitPolicy::Scope::Global}}, m.diags());
    if (!scope) return;
    if (*scope == RateLimitPolicy::Scope::Global && !c.redis) {
        schema::report(m.diags(), v->mark, path,
                       "global needs a top-level redis: section (the Redis server that keeps the counters)");
        return;
    }
    p.scope = *scope;
}

// `algorithm: concurrency`: `limit: N` requests in flight, no rate, no burst; counted in this
// node's shared memory only, and sending no RateLimit-* headers (nothing resets at a time).
void read_concurrency(MapReader& m, RateLimitPolicy& p) {
    Diagnostics& diags = m.diags();
    if (m.require("limit")) {
        if (std::optional<int64_t> n = schema::read_int(*m.take("limit"), m.path("limit"), {1, int64_t(kMaxLimit)}, diags))
            p.limit = static_cast<uint64_t>(*n);
    }
    for (std::string_view key : {"rate", "burst"})
        if (const Node* v = m.take(key); v)
            schema::report(diags, m.key_node(key)->mark, m.path(key),
                           "not with algorithm: concurrency (it counts requests in flight: use limit: N)");
    if (m.take("headers"))
        schema::report(diags, m.key_node("headers")->mark, m.path("headers"),
                       "not with algorithm: concurrency (it sends no RateLimit headers)");
    if (const Node* v = m.take("scope")) {
        std::optional<RateLimitPolicy::Scope> scope = schema::read_enum<RateLimitPolicy::Scope>(
            *v, m.path("scope"), {{"local", RateLimitPolicy::Scope::Local}, {"global", RateLimitPolicy::Scope::Global}},
            diags);
        if (scope == RateLimitPolicy::Scope::Global)
            schema::report(diags, v->mark, m.path("scope"),
                           "not with algorithm: concurrency (concurrency limits are counted per node, in shared memory)");
    }
}

void read_policy(MapReader& m, const Config& c, RateLimitPolicy& p) {
    Diagnostics& diags = m.diags();
    if (m.require("key")) read_key(*m.take("key"), m.path("key"), p, diags);
    bool has_algorithm = m.key_node("algorithm") != nullptr;
    bool algorithm_ok = m.get_enum<RateLimitPolicy::Algorithm>(
                            "algorithm", p.algorithm,
                            {{"token_bucket", RateLimitPolicy::Algorithm::TokenBucket},
                             {"sliding_window", RateLimitPolicy::Algorithm::SlidingWindow},
                             {"fixed_window", RateLimitPolicy::Algorithm::FixedWindow},
                             {"concurrency", RateLimitPolicy::Algorithm::Concurrency}}) ||
                        !has_algorithm;
    const Node* rate = nullptr;
    const Node* burst = nullptr;
    if (!algorithm_ok) {
        // Reported: whether rate or limit belongs here is unknown, so neither is reported too.
        for (std::string_view key : {"rate", "limit", "burst"}) m.take(key);
    } else if (p.concurrency()) {
        read_concurrency(m, p);
    } else {
        if (m.take("limit"))
            schema::report(diags, m.key_node("limit")->mark, m.path("limit"),
                           "only with algorithm: concurrency (the other algorithms take rate: N/UNIT)");
        rate = m.require("rate") ? m.take("rate") : nullptr;
        burst = m.take("burst");
    }
    bool rate_ok = rate && read_rate(*rate, m.path("rate"), p, diags);
    if (burst) {
        if (std::optional<int64_t> b = schema::read_int(*burst, m.path("burst"), {1, int64_t(kMaxLimit)}, diags))
            p.burst = static_cast<uint64_t>(*b);
    }
    if (!p.concurrency()) read_scope(m, c, p);
    m.get_enum<RateLimitPolicy::MissingKey>("missing_key", p.missing_key,
                                             {{"skip", RateLimitPolicy::MissingKey::Skip},
                                              {"limit", RateLimitPolicy::MissingKey::Limit}});
    m.get_int("status", p.status, {400, 599});
    if (p.concurrency())
        p.headers = false;  // read (and refused) above
    else
        m.get_bool("headers", p.headers);
    m.get_bool("dry_run", p.dry_run);
    if (const Node* fb = m.take("fallback")) {
        std::string path = m.path("fallback");
        std::optional<RateLimitPolicy::Fallback> f = schema::read_enum<RateLimitPolicy::Fallback>(
            *fb, path, {{"local", RateLimitPolicy::Fallback::Local}, {"deny", RateLimitPolicy::Fallback::Deny}}, diags);
        if (f && p.scope != RateLimitPolicy::Scope::Global)
            schema::report(diags, fb->mark, path, "only for scope: global (a local policy never waits for Redis)");
        else if (f)
            p.fallback = *f;
    }

    // What each algorithm can hold.
    if (burst && p.algorithm != RateLimitPolicy::Algorithm::TokenBucket) {
        schema::report(diags, m.key_node("burst")->mark, m.path("burst"), "only allowed with algorithm: token_bucket");
    }
    if (!rate_ok) return;
    uint64_t period_us = static_cast<uint64_t>(p.period) * 1000;
    if (p.algorithm == RateLimitPolicy::Algorithm::SlidingWindow && p.limit > kMaxSlidingLimit) {
        schema::report(diags, rate->mark, m.path("rate"),
                       "\"" + rate->text + "\": sliding_window counts at most " + std::to_string(kMaxSlidingLimit) +
                           " requests per window (use a shorter window, fixed_window or token_bucket)");
    }
    if (p.algorithm == RateLimitPolicy::Algorithm::TokenBucket) {
        if (period_us / p.limit < 1) {
            schema::report(diags, rate->mark, m.path("rate"),
                           "\"" + rate->text + "\" is too fast for token_bucket (at most " +
                               std::to_string(kMaxBucketRatePerSecond) + "/s)");
        } else if ((p.burst ? p.burst : p.limit) > kMaxRefillMicros / (period_us / p.limit)) {
            const Node* at = p.burst ? burst : rate;
            schema::report(diags, at->mark, m.path(p.burst ? "burst" : "rate"),
                           "the bucket would take more than a year to refill (lower burst or raise the rate)");
        }
    }
}

// The index of the policy `v` names; -1 (reported) when there is none.
int find_policy(const Node& v, std::string_view path, const Settings& s, Diagnostics& diags) {
    std::optional<std::string> name = schema::read_string(v, path, diags);
    if (!name) return -1;
    std::vector<std::string> names;
    for (size_t i = 0; i < s.policies.size(); i++) {
        if (s.policies[i].name == *name) return static_cast<int>(i);
        names.push_back(s.policies[i].name);
    }
    std::string msg = "unknown rate limit \"" + *name + "\"";
    std::string_view hint = schema::suggest(*name, names);
    if (!hint.empty()) msg += " (did you mean \"" + std::string(hint) + "\"?)";
    schema::report(diags, v.mark, path, msg);
    return -1;
}

std::string key_text(const std::vector<RateLimitKeyPart>& key) {
    std::string out;
    for (const RateLimitKeyPart& part : key) {
        if (!out.empty()) out += '+';
        switch (part.kind) {
            case RateLimitKeyPart::Kind::Ip: out += "ip"; break;
            case RateLimitKeyPart::Kind::Route: out += "route"; break;
            case RateLimitKeyPart::Kind::Global: out += "global"; break;
            case RateLimitKeyPart::Kind::Header: out += "header:" + part.name; break;
            case RateLimitKeyPart::Kind::Query: out += "query:" + part.name; break;
            case RateLimitKeyPart::Kind::Consumer: out += "consumer"; break;
            case RateLimitKeyPart::Kind::Claim: out += "claim:" + part.name; break;
        }
    }
    return out;
}

const char* rate_unit(Millis period) {
    switch (period) {
        case 1000: return "s";
        case 60 * 1000: return "m";
        case 3600 * 1000: return "h";
        default: return "d";
    }
}

}  // namespace

const std::vector<int>& Settings::route(size_t index) const {
    static const std::vector<int> none;
    return index < routes.size() ? routes[index] : none;
}

const Settings& settings(const Config& config) {
    static const Settings defaults;
    const Settings* s = module::find_part<Settings>(config, module::ratelimit_module);
    return s ? *s : defaults;
}

void read_sections(MapReader& top, Config& c) {
    // Made even without a policy: -T shows the defaults.
    Settings& s = module::loading_part<Settings>(c, module::ratelimit_module);
    top.get_size("rate_limit_zone_size", s.zone_size, {64 * 1024, 4ull << 30});
    for_each_named(top, "rate_limits", "rate limit", [&](const yaml::MapEntry& e, MapReader& m) {
        RateLimitPolicy p;
        p.name = e.key.text;
        p.mark = e.key.mark;
        read_policy(m, c, p);
        m.finish();
        for (const RateLimitKeyPart& part : p.key)
            if (part.kind == RateLimitKeyPart::Kind::Claim &&
                std::find(c.claims_in_use.begin(), c.claims_in_use.end(), part.name) == c.claims_in_use.end())
                c.claims_in_use.push_back(part.name);
        // Kept even when something above was wrong, so that routes naming it are not also
        // reported as naming an unknown policy.
        s.policies.push_back(std::move(p));
    });
}

void read_route(MapReader& m, Config& c, size_t index) {
    Diagnostics& diags = m.diags();
    const Node* v = m.take("rate_limit");
    if (!v) return;
    Settings& s = module::loading_part<Settings>(c, module::ratelimit_module);
    std::vector<int> listed;
    std::string path = m.path("rate_limit");
    std::optional<std::vector<const Node*>> items = schema::read_list(*v, path, true, diags);
    if (!items) return;
    if (items->empty()) {
        schema::report(diags, v->mark, path, "empty list (leave rate_limit out for no limit)");
        return;
    }
    if (items->size() > kMaxPoliciesPerRoute) {
        schema::report(diags, v->mark, path,
                       "more than " + std::to_string(kMaxPoliciesPerRoute) + " rate limits on one route");
        return;
    }
    std::map<int, Mark> seen;
    for (size_t i = 0; i < items->size(); i++) {
        const Node& item = *(*items)[i];
        std::string item_path = v->is_sequence() ? schema::index_path(path, i) : path;
        int policy = find_policy(item, item_path, s, diags);
        if (policy < 0) continue;
        if (auto [it, inserted] = seen.emplace(policy, item.mark); !inserted) {
            schema::report(diags, item.mark, item_path,
                           "rate limit \"" + item.text + "\" is already listed (at " + it->second.str() + ")");
            continue;
        }
        listed.push_back(policy);
    }
    if (listed.empty()) return;
    if (s.routes.size() <= index) s.routes.resize(index + 1);
    s.routes[index] = std::move(listed);
}

void dump(const Config& c, std::string& out) {
    const Settings& s = settings(c);
    dump::line(out, 0, "rate_limit_zone_size", format_size(s.zone_size));
    dump::line(out, 0, "rate_limits", s.policies.empty() ? "{}" : "");
    for (const RateLimitPolicy& p : s.policies) {
        dump::line(out, 2, dump::quote(p.name), "");
        dump::line(out, 4, "key", dump::quote(key_text(p.key)));
        if (p.concurrency()) {
            dump::line(out, 4, "algorithm", "concurrency");
            dump::line(out, 4, "limit", std::to_string(p.limit));
            dump::line(out, 4, "missing_key", p.missing_key == RateLimitPolicy::MissingKey::Skip ? "skip" : "limit");
            dump::line(out, 4, "status", std::to_string(p.status));
            dump::line(out, 4, "dry_run", dump::boolean(p.dry_run));
            continue;
        }
        dump::line(out, 4, "rate", dump::quote(std::to_string(p.limit) + "/" + rate_unit(p.period)));
        switch (p.algorithm) {
            case RateLimitPolicy::Algorithm::TokenBucket:
                dump::line(out, 4, "algorithm", "token_bucket");
                dump::line(out, 4, "burst", std::to_string(p.burst ? p.burst : p.limit));
                break;
            case RateLimitPolicy::Algorithm::SlidingWindow: dump::line(out, 4, "algorithm", "sliding_window"); break;
            case RateLimitPolicy::Algorithm::FixedWindow: dump::line(out, 4, "algorithm", "fixed_window"); break;
            case RateLimitPolicy::Algorithm::Concurrency: break;  // above
        }
        dump::line(out, 4, "scope", p.scope == RateLimitPolicy::Scope::Global ? "global" : "local");
        dump::line(out, 4, "missing_key", p.missing_key == RateLimitPolicy::MissingKey::Skip ? "skip" : "limit");
        dump::line(out, 4, "status", std::to_string(p.status));
        dump::line(out, 4, "headers", dump::boolean(p.headers));
        dump::line(out, 4, "dry_run", dump::boolean(p.dry_run));
        if (p.scope == RateLimitPolicy::Scope::Global)
            dump::line(out, 4, "fallback", p.fallback == RateLimitPolicy::Fallback::Deny ? "deny" : "local");
    }
}

void dump_route(const Config& c, size_t index, int indent, std::string& out) {
    const Settings& s = settings(c);
    const std::vector<int>& listed = s.route(index);
    if (listed.empty()) return;
    std::string list = "[";
    for (size_t i = 0; i < listed.size(); i++) {
        if (i > 0) list += ", ";
        list += dump::quote(s.policies[static_cast<size_t>(listed[i])].name);
    }
    dump::line(out, indent, "rate_limit", list + "]");
}

}  // namespace gw::ratelimit
