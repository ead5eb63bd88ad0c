#include "http/router.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <limits>

#include "http/chars.h"

namespace gw::http {

namespace {

// Lower-cases `host` into `buf` (bounded) and returns it; the port, if any, is kept.
std::string_view lower_host(std::string_view host, char* buf, size_t cap) {
    size_t n = std::min(host.size(), cap);
    for (size_t i = 0; i < n; ++i) buf[i] = chars::ascii_lower(host[i]);
    return {buf, n};
}

std::string_view strip_port(std::string_view host) {
    if (!host.empty() && host.front() == '[') {  // [v6]:port
        size_t close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    size_t colon = host.rfind(':');
    return colon == std::string_view::npos ? host : host.substr(0, colon);
}

// A header condition holds when the first header of that name has exactly this value. An empty
// expected value needs the header present (with an empty value), which header() cannot tell.
bool header_holds(const Request& req, std::string_view name, std::string_view value) {
    if (req.header(name) != value) return false;
    if (!value.empty()) return true;
    for (size_t i = 0; i < req.header_count; ++i)
        if (chars::iequals(req.headers[i].name, name)) return true;
    return false;
}

// Backtracking bound for one regex match: a pathological pattern fails to match rather than
// stalling the worker.
constexpr uint32_t kMatchLimit = 1'000'000;

}  // namespace

struct Router::Regexes {
    struct Pattern {
        pcre2_code* code = nullptr;  // null: no path_regex, or it did not compile
        bool jit = false;
    };
    std::vector<Pattern> by_route;
    pcre2_match_data* match_data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* jit_stack = nullptr;

    Regexes() = default;
    Regexes(const Regexes&) = delete;
    Regexes& operator=(const Regexes&) = delete;
    ~Regexes() {
        for (Pattern& p : by_route) pcre2_code_free(p.code);
        pcre2_match_data_free(match_data);
        pcre2_match_context_free(context);
        pcre2_jit_stack_free(jit_stack);
    }

    void compile(const std::vector<RouteConfig>& routes) {
        by_route.resize(routes.size());
        uint32_t max_groups = 0;
        bool any_jit = false;
        for (size_t i = 0; i < routes.size(); ++i) {
            const std::string& pattern = routes[i].match.path_regex;
            if (pattern.empty()) continue;
            int error = 0;
            PCRE2_SIZE offset = 0;
            pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                                             pattern.size(), 0, &error, &offset, nullptr);
            if (!code) continue;
            uint32_t groups = 0;
            pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
            max_groups = std::max(max_groups, groups);
            by_route[i].code = code;
            by_route[i].jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
            any_jit = any_jit || by_route[i].jit;
        }
        match_data = pcre2_match_data_create(max_groups + 1, nullptr);
        context = pcre2_match_context_create(nullptr);
        if (context) {
            pcre2_set_match_limit(context, kMatchLimit);
            if (any_jit) {
                jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
                if (jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
            }
        }
    }

    // Matches the route's pattern against `path`; on success fills out's captures.
    bool match(int route, std::string_view path, RouteMatchResult& out) {
        const Pattern& p = by_route[route];
        if (!p.code || !match_data || !context) return false;
        if (path.size() >= std::numeric_limits<uint32_t>::max()) return false;
        auto subject = reinterpret_cast<PCRE2_SPTR>(path.data());
        int rc = p.jit ? pcre2_jit_match(p.code, subject, path.size(), 0, 0, match_data, context)
                       : pcre2_match(p.code, subject, path.size(), 0, 0, match_data, context);
        if (rc <= 0) return false;  // no match, an error (match limit...), or ovector too small
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_data);
        out.captures = std::min(rc, RouteMatchResult::kMaxCaptures);
        for (int i = 0; i < 2 * out.captures; i += 2) {
            bool set = ov[i] != PCRE2_UNSET && ov[i + 1] != PCRE2_UNSET && ov[i] <= ov[i + 1];
            out.ovector[i] = set ? static_cast<uint32_t>(ov[i]) : 0;
            out.ovector[i + 1] = set ? static_cast<uint32_t>(ov[i + 1]) : 0;
        }
        return true;
    }
};

Router::Router(const std::vector<RouteConfig>& routes) : routes_(routes) {
    bool any_regex = false;
    for (size_t i = 0; i < routes.size(); ++i) {
        const std::string& host = routes[i].match.host;
        int index = static_cast<int>(i);
        any_regex = any_regex || !routes[i].match.path_regex.empty();
        if (host.empty()) {
            add(any_host_, routes[i], index);
        } else if (host.rfind("*.", 0) == 0) {
            std::string suffix = host.substr(1);
            auto it = std::find_if(wildcards_.begin(), wildcards_.end(),
                                   [&](const WildcardTier& w) { return w.suffix == suffix; });
            if (it == wildcards_.end()) {
                wildcards_.push_back({suffix, {}});
                it = wildcards_.end() - 1;
            }
            add(it->tier, routes[i], index);
        } else {
            add(by_host_[host], routes[i], index);
        }
    }
    std::stable_sort(wildcards_.begin(), wildcards_.end(), [](const auto& a, const auto& b) {
        return a.suffix.size() > b.suffix.size();
    });
    any_host_.prefix.finish();
    for (auto& [host, tier] : by_host_) tier.prefix.finish();
    for (auto& w : wildcards_) w.tier.prefix.finish();
    if (any_regex) {
        regexes_ = std::make_unique<Regexes>();
        regexes_->compile(routes);
    }
}

Router::~Router() = default;

// A route is filed under its most specific path condition; a path_regex given with `path` or
// `path_prefix` is still required by candidate().
void Router::add(Tier& tier, const RouteConfig& route, int index) {
    if (!route.match.path.empty())
        tier.exact[route.match.path].push_back(index);
    else if (!route.match.path_prefix.empty())
        tier.prefix.insert(route.match.path_prefix, index);
    else if (!route.match.path_regex.empty())
        tier.regex.push_back(index);
    else
        tier.any_path.push_back(index);
}

bool Router::method_allowed(int route, std::string_view method) const {
    const auto& methods = routes_[route].match.methods;
    if (methods.empty()) return true;
    if (std::find(methods.begin(), methods.end(), method) != methods.end()) return true;
    // As nginx's limit_except: allowing GET allows HEAD, which is GET without the body.
    return method == "HEAD" && std::find(methods.begin(), methods.end(), "GET") != methods.end();
}

// The cheap conditions first; the regex, which also sets the captures, last.
bool Router::candidate(int route, const Request& req, RouteMatchResult& out) const {
    const RouteMatch& m = routes_[route].match;
    if (m.listener_index >= 0 && m.listener_index != listener_) return false;
    if (!method_allowed(route, req.method)) return false;
    for (const auto& [name, value] : m.headers)
        if (!header_holds(req, name, value)) return false;
    for (const auto& [name, value] : m.query) {
        std::string_view got;
        if (!chars::query_param(req.query, name, got) || got != value) return false;
    }
    // `path` and `path_prefix` were checked by the lookup that found the route.
    if (!m.path_regex.empty()) return regexes_ && regexes_->match(route, req.path, out);
    out.captures = 0;
    return true;
}

bool Router::match_tier(const Tier& tier, const Request& req, RouteMatchResult& out) const {
    if (!tier.exact.empty()) {
        auto it = tier.exact.find(req.path);
        if (it != tier.exact.end())
            for (int r : it->second)
                if (candidate(r, req, out)) return out.route = r, true;
    }
    if (!tier.prefix.empty()) {
        int r = tier.prefix.find(req.path, [&](int c) { return candidate(c, req, out); });
        if (r >= 0) return out.route = r, true;
    }
    for (int r : tier.regex)
        if (candidate(r, req, out)) return out.route = r, true;
    for (int r : tier.any_path)
        if (candidate(r, req, out)) return out.route = r, true;
    return false;
}

RouteMatchResult Router::match(const Request& req, int listener) const {
    RouteMatchResult out;
    listener_ = listener;
    // A Host longer than any DNS name (253) plus a port cannot match a host route.
    constexpr size_t kMaxHost = 300;
    std::string_view host = req.host;
    if ((!by_host_.empty() || !wildcards_.empty()) && host.size() <= kMaxHost) {
        char buf[kMaxHost];
        std::string_view full = lower_host(host, buf, sizeof buf);
        std::string_view bare = strip_port(full);
        for (std::string_view h : {full, bare}) {
            auto it = by_host_.find(h);
            if (it != by_host_.end() && match_tier(it->second, req, out)) return out;
            if (h.size() == bare.size()) break;
        }
        for (const WildcardTier& w : wildcards_) {
            // A wildcard written with a port ("*.example.com:8443") is matched with the port.
            std::string_view h = w.suffix.find(':') == std::string::npos ? bare : full;
            if (h.size() > w.suffix.size() && h.ends_with(w.suffix) && match_tier(w.tier, req, out))
                return out;
        }
    }
    if (match_tier(any_host_, req, out)) return out;
    return RouteMatchResult{};
}

void expand_rewrite(std::string& out, std::string_view tmpl, std::string_view path,
                    const RouteMatchResult& m) {
    size_t i = 0;
    while (i < tmpl.size()) {
        size_t dollar = tmpl.find('$', i);
        if (dollar == std::string_view::npos || dollar + 1 == tmpl.size()) {
            out.append(tmpl.substr(i));
            return;
        }
        out.append(tmpl.substr(i, dollar - i));
        char next = tmpl[dollar + 1];
        if (next == '$') {
            out.push_back('$');
        } else if (next >= '0' && next <= '9') {
            int g = next - '0';
            if (g < m.captures && g < RouteMatchResult::kMaxCaptures) {
                uint32_t start = m.ovector[2 * g];
                uint32_t end = m.ovector[2 * g + 1];
                if (start <= end && end <= path.size()) out.append(path.substr(start, end - start));
            }
        } else {
            out.append(tmpl.substr(dollar, 2));  // not an escape: kept as written
        }
        i = dollar + 2;
    }
}

}  // namespace gw::http
