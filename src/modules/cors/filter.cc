#include "modules/cors/filter.h"

#include <new>

#include "http/chars.h"
#include "http/stream.h"

namespace gw::cors {

namespace {

// The request's outcome.
enum class State : uint8_t {
    None,              // no Origin, or one the policy does not allow: Vary only
    Allowed,           // an actual request from an allowed origin: echo it
    AllowedAny,        // ... allowed by "*" (no credentials): "*"
    Preflight,         // a preflight answered 204
    PreflightAny,      // ... allowed by "*"
    PreflightRefused,  // a preflight answered 403
};

// What on_request leaves in the stream's arena for on_response_head: the outcome and the Origin
// field's value (a view into the request head, which outlives the response head).
struct Ctx {
    State state = State::None;
    std::string_view origin;
};

constexpr std::string_view kFieldNames[] = {
    "access-control-allow-origin",  "access-control-allow-credentials", "access-control-expose-headers",
    "access-control-allow-methods", "access-control-allow-headers",     "access-control-max-age",
};

constexpr std::string_view kVaryActual = "vary: Origin\r\n";
constexpr std::string_view kVaryPreflight =
    "vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n";

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view v) {
    while (!v.empty() && is_ows(v.front())) v.remove_prefix(1);
    while (!v.empty() && is_ows(v.back())) v.remove_suffix(1);
    return v;
}

bool is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// The request's Origin field and how many it has. Two or more (which no browser sends) are
// treated as an origin that is not allowed.
std::string_view single_origin(const http::Request& req, int* count = nullptr) {
    std::string_view found;
    int n = 0;
    for (size_t i = 0; i < req.header_count; ++i)
        if (http::chars::iequals(req.headers[i].name, "origin")) {
            found = req.headers[i].value;
            ++n;
        }
    if (count) *count = n;
    return n == 1 ? found : std::string_view();
}

}  // namespace

bool preflight_allowed(const Policy& policy, std::string_view method, std::string_view request_headers) {
    bool method_ok = false;
    for (const std::string& m : policy.methods)
        if (m == method) method_ok = true;
    if (!method_ok) return false;
    // "a, b,c": every item a token the policy lists; empty items (",,") are skipped, as a list's are.
    while (!request_headers.empty()) {
        size_t comma = request_headers.find(',');
        std::string_view item = trim(request_headers.substr(0, comma));
        request_headers = comma == std::string_view::npos ? std::string_view() : request_headers.substr(comma + 1);
        if (item.empty()) continue;
        for (char c : item)
            if (!is_tchar(c)) return false;
        bool listed = false;
        for (const std::string& h : policy.headers)
            if (http::chars::iequals(h, item)) listed = true;
        if (!listed) return false;
    }
    return true;
}

CorsFilter::CorsFilter(const Policy& policy)
    : http::Filter(http::kHookRequest | http::kHookResponseHead, sizeof(Ctx), alignof(Ctx)), policy_(policy) {}

std::span<const std::string_view> CorsFilter::response_field_names() const { return kFieldNames; }

// The policy's answer for one Origin value: the pattern that allows it, or null. A browser app's
// requests all carry the same Origin: the last value's answer is kept (a compare, not a parse
// and a match, per request).
const OriginPattern* CorsFilter::allowed_pattern(std::string_view origin_text) {
    if (memo_valid_ && origin_text == memo_origin_) return memo_allowed_;
    std::optional<Origin> origin = parse_origin(origin_text);  // nullopt for a bad one
    const OriginPattern* allowed = origin ? match(policy_.origins, *origin) : nullptr;
    if (origin_text.size() <= kMemoMax) {
        memo_origin_.assign(origin_text);  // (capacity kept: no allocation once warm)
        memo_allowed_ = allowed;
        memo_valid_ = true;
    }
    return allowed;
}

http::FilterStatus CorsFilter::on_request(http::Stream& s, void* ctx) {
    Ctx& c = *new (ctx) Ctx();
    const http::Request& req = s.request();
    int origins = 0;
    std::string_view origin_text = single_origin(req, &origins);
    if (origins == 0) return http::FilterStatus::Continue;  // not a CORS request
    c.origin = origin_text;
    const OriginPattern* allowed = origins == 1 ? allowed_pattern(origin_text) : nullptr;  // two: not allowed
    State& state = c.state;
    std::string_view wanted_method = req.method == "OPTIONS" ? req.header("access-control-request-method") : std::string_view();
    if (!wanted_method.empty()) {
        if (allowed && preflight_allowed(policy_, wanted_method, req.header("access-control-request-headers"))) {
            state = allowed->kind == OriginPattern::Kind::Any ? State::PreflightAny : State::Preflight;
            s.reply(204, {}, {});
        } else {
            state = State::PreflightRefused;
            s.reply_error(403, "CORS preflight refused");
        }
        return http::FilterStatus::Done;
    }
    if (allowed) state = allowed->kind == OriginPattern::Kind::Any ? State::AllowedAny : State::Allowed;
    return http::FilterStatus::Continue;
}

void CorsFilter::on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) {
    const Ctx& c = *static_cast<const Ctx*>(ctx);
    State state = c.state;
    const http::Request& req = s.request();
    switch (state) {
        case State::None: head.add_lines(kVaryActual); return;
        case State::PreflightRefused: head.add_lines(kVaryPreflight); return;
        case State::AllowedAny:
            head.add_lines(kVaryActual);
            head.add("access-control-allow-origin", "*");
            head.add_lines(policy_.actual_lines);
            return;
        case State::Allowed:
            head.add_lines(kVaryActual);
            // parse_origin() let only an origin's characters through: safe to echo.
            head.add("access-control-allow-origin", c.origin);
            head.add_lines(policy_.actual_lines);
            return;
        case State::Preflight:
        case State::PreflightAny: {
            head.add_lines(kVaryPreflight);
            head.add("access-control-allow-origin",
                     state == State::PreflightAny ? std::string_view("*") : c.origin);
            head.add_lines(policy_.preflight_lines);
            // Every item was checked to be a token (preflight_allowed): safe to echo.
            std::string_view wanted = trim(req.header("access-control-request-headers"));
            if (!wanted.empty()) head.add("access-control-allow-headers", wanted);
            return;
        }
    }
}

}  // namespace gw::cors
