#include "modules/cache/filter.h"

#include <time.h>

#include <algorithm>
#include <new>

#include "core/log.h"
#include "http/chars.h"
#include "http/identity.h"
#include "http/parser.h"
#include "http/stream.h"
#include "modules/cache/freshness.h"
#include "modules/cache/refresh.h"
#include "modules/cache/stored.h"

namespace gw::cache {

namespace {

using http::chars::iequals;

enum class State : uint8_t {
    Bypass,       // not cached (method, Range): passes through
    Hit,          // answered from a fresh object
    Updating,     // answered from a stale one while a background refresh runs
    Stale,        // answered from a stale one on an upstream error (stale-if-error)
    Revalidated,  // the stale one, refreshed by the upstream's 304
    Miss,         // upstream; the response is stored when it may be
    Expired,      // upstream with the stale object's validators
    Waiting,      // paused for another request's fill of the same key
    Upstream,     // upstream, not stored (a HEAD miss, a fill that did not come in time)
};

const char* status_text(State s) {
    switch (s) {
        case State::Bypass: return "BYPASS";
        case State::Hit: return "HIT";
        case State::Updating: return "UPDATING";
        case State::Stale: return "STALE";
        case State::Revalidated: return "REVALIDATED";
        case State::Miss: return "MISS";
        case State::Expired: return "EXPIRED";
        case State::Waiting:
        case State::Upstream: return "MISS";
    }
    return "MISS";
}

int64_t now_s() { return now_seconds(); }

constexpr int64_t kPassMs = 10000;  // hit-for-pass: how long a key whose response was not storable passes

int64_t age_of(const Meta& m, int64_t now) { return m.initial_age + std::max<int64_t>(0, now - m.stored_at); }

// Strong or weak, an entity tag compares without its W/ for a GET's If-None-Match (RFC 9110
// §13.1.2: the weak comparison).
std::string_view opaque_tag(std::string_view t) {
    if (t.starts_with("W/")) t.remove_prefix(2);
    return t;
}

bool none_match(std::string_view if_none_match, std::string_view etag) {
    if (etag.empty()) return false;
    std::string_view mine = opaque_tag(etag);
    for (size_t i = 0; i <= if_none_match.size();) {
        size_t comma = if_none_match.find(',', i);
        std::string_view item =
            if_none_match.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
        while (!item.empty() && http::chars::is_ows(item.front())) item.remove_prefix(1);
        while (!item.empty() && http::chars::is_ows(item.back())) item.remove_suffix(1);
        if (item == "*" || (!item.empty() && opaque_tag(item) == mine)) return true;
        if (comma == std::string_view::npos) break;
        i = comma + 1;
    }
    return false;
}

void count(std::atomic<uint64_t>* c, uint64_t n = 1) {
    if (c) c->fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

struct CacheFilter::Ctx {
    State state = State::Bypass;
    bool claimed = false;       // this request fills its key
    int64_t claim_ms = 0;       // since when (the claim's identity for end_fill)
    bool authorization = false;
    uint64_t hash = 0;
    int64_t request_time = 0;
    Store::Object obj;          // pinned: the object answered with, or the stale one
    Capture* capture = nullptr;  // the response being copied (or the 304 head answered with)
    Waiter waiter;
    http::ResumeHandle handle;
    http::Stream* stream = nullptr;
};

void build_key(const RoutePolicy& p, const http::Stream& s, std::string& out) {
    const http::Request& req = s.request();
    out.clear();
    for (size_t i = 0; i < p.key.size(); ++i) {
        if (i) out += ' ';
        const KeyPart& k = p.key[i];
        switch (k.kind) {
            case KeyPart::Kind::Method: out += req.method == "HEAD" ? std::string_view("GET") : req.method; break;
            case KeyPart::Kind::Host:
                for (char ch : req.host) out += http::chars::ascii_lower(ch);
                break;
            case KeyPart::Kind::Path: out += req.path; break;
            case KeyPart::Kind::Query: out += req.query; break;
            case KeyPart::Kind::Header: out += req.header(k.name); break;
            case KeyPart::Kind::Cookie: out += req.cookie(k.name); break;
            case KeyPart::Kind::Consumer:
                if (const http::Identity* who = s.identity()) out += who->consumer();
                break;
        }
    }
}

void append_variant(std::string_view names, const http::Request& req, std::string& out) {
    out += '\0';
    for (size_t i = 0; i <= names.size();) {
        size_t comma = names.find(',', i);
        std::string_view name = names.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
        out += name;
        out += '=';
        // Several fields of the name are one list.
        bool first = true;
        for (size_t h = 0; h < req.header_count; ++h) {
            if (!iequals(req.headers[h].name, name)) continue;
            if (!first) out += ", ";
            out += req.headers[h].value;
            first = false;
        }
        out += '\n';
        if (comma == std::string_view::npos) break;
        i = comma + 1;
    }
}

CacheFilter::CacheFilter(const RoutePolicy& policy, Runtime& rt, BackgroundRefresh* refresh)
    : http::Filter(http::kHookRequest | http::kHookResponseHead | http::kHookBody | http::kHookReplace |
                       http::kHookDestroy,
                   sizeof(Ctx), alignof(Ctx)),
      policy_(policy),
      rt_(rt),
      store_(*rt.store(policy.zone)),
      max_object_(rt.settings().zones[policy.zone].max_object),
      refresh_(refresh),
      status_field_(rt.settings().status_header) {}

std::span<const std::string_view> CacheFilter::request_field_names() const {
    static constexpr std::string_view kNames[] = {"if-none-match", "if-modified-since"};
    return kNames;
}

std::span<const std::string_view> CacheFilter::response_field_names() const {
    // An upstream's own status field (a cache behind this one) would contradict ours.
    if (status_field_.empty()) return {};
    return {&status_field_, 1};
}

static void variant_fn(std::string_view names, void* arg, std::string& out) {
    append_variant(names, *static_cast<const http::Request*>(arg), out);
}

http::FilterStatus CacheFilter::on_request(http::Stream& s, void* ctx) {
    Ctx* c = new (ctx) Ctx();
    c->stream = &s;
    const http::Request& req = s.request();
    bool get = req.method == "GET";
    bool head = req.method == "HEAD" && policy_.head;
    if ((!get && !head) || !req.header("range").empty()) {
        // The client's conditional fields are dropped on this route (request_field_names): a
        // request the cache does not answer takes them upstream as they came (a PUT with
        // If-None-Match: * must not become an unconditional overwrite).
        for (size_t i = 0; i < req.header_count; ++i) {
            std::string_view n = req.headers[i].name;
            if (iequals(n, "if-none-match") || iequals(n, "if-modified-since")) s.add_request_header(n, req.headers[i].value);
        }
        count(rt_.counters().bypass);
        return http::FilterStatus::Continue;
    }
    c->authorization = !req.header("authorization").empty();
    c->request_time = now_s();
    switch (look(s, *c)) {
        case Next::Answered: return http::FilterStatus::Done;
        case Next::Upstream: return http::FilterStatus::Continue;
        case Next::Wait: break;
    }
    c->state = State::Waiting;
    c->handle = s.pause_handle();
    c->waiter.hash = c->hash;
    c->waiter.zone = policy_.zone;
    c->waiter.deadline = rt_.loop().now() + policy_.lock_timeout;
    c->waiter.wake = [this, c] { wake(*c); };
    count(rt_.counters().coalesced);
    rt_.wait(&c->waiter);
    return http::FilterStatus::Pause;
}

CacheFilter::Next CacheFilter::look(http::Stream& s, Ctx& c) {
    const http::Request& req = s.request();
    build_key(policy_, s, key_);
    c.hash = Store::hash(key_);
    if (c.obj) store_.unpin(c.obj);
    c.obj = store_.find(key_, variant_fn, const_cast<http::Request*>(&req), variant_);
    int64_t now = now_s();
    if (c.obj) {
        const Meta& m = c.obj.meta;
        int64_t age = age_of(m, now);
        if (age < m.lifetime) {
            c.state = State::Hit;
            count(rt_.counters().hit);
            answer(s, c);
            return Next::Answered;
        }
        if (!m.must_revalidate && age < m.lifetime + m.swr) {
            // Stale, within stale-while-revalidate: answered now; one refresh runs behind it.
            if (refresh_ && refresh_->can_refresh(s.route_index(), s)) {
                if (store_.claim_update(c.obj, now, now + std::max<int64_t>(1, policy_.lock_timeout / 1000)))
                    refresh_->start(policy_, s, key_, c.obj);
                c.state = State::Updating;
                count(rt_.counters().updating);
                answer(s, c);
                return Next::Answered;
            }
        }
    }
    if (req.method == "HEAD") {
        // A HEAD miss goes upstream as it is, and is not stored - but a GET's fill of the key in
        // progress is waited for, as a GET would (it answers HEAD too).
        bool waited_enough = c.state == State::Waiting && rt_.loop().now() >= c.waiter.deadline;
        if (!waited_enough && store_.fill_pending(c.hash, rt_.loop().now(), policy_.lock_timeout)) return Next::Wait;
        c.state = State::Upstream;
        count(rt_.counters().miss);
        return Next::Upstream;
    }
    // A miss, or a stale object to revalidate: one request per key fills; the others wait.
    switch (store_.claim_fill(c.hash, rt_.loop().now(), policy_.lock_timeout, &c.claim_ms)) {
        case Store::Claim::Busy:
            if (c.state == State::Waiting && rt_.loop().now() >= c.waiter.deadline) break;  // waited enough
            return Next::Wait;
        case Store::Claim::Pass:  // the key's responses may not be stored: no waiting, no storing
            c.state = State::Upstream;
            count(rt_.counters().miss);
            return Next::Upstream;
        case Store::Claim::Claimed: c.claimed = true; [[fallthrough]];
        case Store::Claim::NoRoom:
            if (c.obj) {
                c.state = State::Expired;
                count(rt_.counters().expired);
                // Revalidation: the stale object's validators go upstream.
                if (std::string_view etag = field_of(c.obj.head, "etag"); !etag.empty())
                    s.add_request_header("if-none-match", etag);
                if (std::string_view lm = field_of(c.obj.head, "last-modified"); !lm.empty())
                    s.add_request_header("if-modified-since", lm);
            } else {
                c.state = State::Miss;
                count(rt_.counters().miss);
            }
            return Next::Upstream;
    }
    // The fill did not come within lock_timeout: upstream, without storing (the filler stores).
    c.state = State::Upstream;
    count(rt_.counters().miss);
    return Next::Upstream;
}

void CacheFilter::wake(Ctx& c) {
    switch (look(*c.stream, c)) {
        case Next::Answered: c.handle.answer(); return;
        case Next::Upstream: c.handle.resume(); return;
        case Next::Wait: rt_.wait(&c.waiter); return;  // another key's fill ended: still waiting
    }
}

// Answers from the object: 304 to a matching conditional request, the object otherwise.
void CacheFilter::answer(http::Stream& s, Ctx& c) {
    if (answer_conditional(s, c)) return;
    s.reply_stored(c.obj.head, c.obj.body);
    count(rt_.counters().served_bytes, c.obj.body.size());
}

// Answers a client's conditional request from the object: 304 when its If-None-Match has the
// object's entity tag, or (without If-None-Match) its If-Modified-Since is not before the
// object's Last-Modified. False: answer with the object itself.
bool CacheFilter::answer_conditional(http::Stream& s, Ctx& c) {
    const http::Request& req = s.request();
    std::string_view inm = req.header("if-none-match");
    std::string_view ims = inm.empty() ? req.header("if-modified-since") : std::string_view();
    if (inm.empty() && ims.empty()) return false;
    static http::Response r;  // one worker thread: reused
    if (!parse_stored(c.obj.head, r)) return false;
    if (r.status != 200) return false;
    bool not_modified = false;
    if (!inm.empty()) {
        not_modified = none_match(inm, r.header("etag"));
    } else {
        int64_t since = parse_http_date(ims), lm = parse_http_date(r.header("last-modified"));
        not_modified = since >= 0 && lm >= 0 && lm <= since;
    }
    if (!not_modified) return false;
    // 304 with the fields that describe the object (RFC 9110 §15.4.5).
    if (!c.capture) c.capture = rt_.take_capture();
    std::string& h = c.capture->head;
    h = "HTTP/1.1 304 Not Modified\r\n";
    for (size_t i = 0; i < r.header_count; ++i) {
        std::string_view n = r.headers[i].name;
        if (iequals(n, "etag") || iequals(n, "last-modified") || iequals(n, "cache-control") || iequals(n, "expires") ||
            iequals(n, "vary") || iequals(n, "date") || iequals(n, "content-location")) {
            h += n;
            h += ": ";
            h += r.headers[i].value;
            h += "\r\n";
        }
    }
    h += "\r\n";
    s.reply_stored(h, {});
    return true;
}

void CacheFilter::on_response_head(http::Stream& s, void* ctx, http::ResponseHead& head) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    const std::string& name = rt_.settings().status_header;
    bool from_cache = c.state == State::Hit || c.state == State::Updating || c.state == State::Stale ||
                      c.state == State::Revalidated;
    if (!name.empty()) head.add(name, status_text(c.state));
    if (http::TraceContext* t = s.trace(); t && t->sampled) [[unlikely]] t->cache_status = status_text(c.state);
    if (from_cache && c.obj) {
        head.replace("age");
        char digits[24];
        char* end = digits + sizeof digits;
        char* p = end;
        uint64_t age = static_cast<uint64_t>(std::max<int64_t>(0, age_of(c.obj.meta, now_s())));
        do *--p = static_cast<char>('0' + age % 10);
        while (age /= 10);
        head.add("age", {p, static_cast<size_t>(end - p)});
        return;
    }
    if ((c.state != State::Miss && c.state != State::Expired) || !head.upstream()) {
        end_fill(c);
        return;
    }
    const http::Response& r = *head.upstream();
    ResponseFacts f = facts_of(r);
    Policy p{policy_.default_ttl / 1000, policy_.swr / 1000, policy_.sie / 1000};
    StoreDecision d = decide_store(f, c.authorization, p);
    bool too_large = r.body == http::ResponseBody::ContentLength && r.content_length > max_object_;
    if (!d.store || too_large || r.body == http::ResponseBody::UntilClose) {
        if (d.store) count(rt_.counters().not_stored);
        // Hit-for-pass: a response of the key that may not be stored (an error excepted: the
        // next one may be) lets the key's requests go upstream at once for a while, instead of
        // each waiting for the one before it.
        end_fill(c, r.status < 500 ? kPassMs : 0);
        return;
    }
    c.capture = rt_.take_capture();
    stored_head_of(r, c.capture->head);
    vary_names(r, c.capture->vary);
    c.capture->meta = meta_of(f, d, c.request_time, now_s());
    if (r.body == http::ResponseBody::ContentLength) c.capture->body.reserve(static_cast<size_t>(r.content_length));
    if (r.body == http::ResponseBody::None) {
        store(s, c);  // (a 204, or a body of length 0)
        return;
    }
    s.add_body_filter(this, false);
}

void CacheFilter::on_body(http::Stream& s, void* ctx, std::string_view in, bool last, std::string&) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    if (!c.capture) return;
    if (!c.capture->too_large) {
        if (c.capture->body.size() + in.size() > max_object_) {
            c.capture->too_large = true;
            c.capture->body.clear();
            count(rt_.counters().not_stored);
            end_fill(c, kPassMs);  // the waiters go upstream now, not at this body's end
        } else {
            c.capture->body.append(in);
        }
    }
    if (last && !c.capture->too_large) store(s, c);
}

void CacheFilter::store(http::Stream& s, Ctx& c) {
    Capture& cap = *c.capture;
    end_stored_head(cap.head, cap.body.size());
    build_key(policy_, s, key_);
    if (!cap.vary.empty()) {
        variant_ = key_;
        append_variant(cap.vary, s.request(), variant_);
    }
    if (store_.insert(key_, cap.vary, variant_, cap.head, cap.body, cap.meta)) {
        count(rt_.counters().stored);
        count(rt_.counters().stored_bytes, cap.body.size());
    } else {
        count(rt_.counters().not_stored);
        LOG_WARN("cache: an object of %zu bytes does not fit in zone \"%s\"", cap.body.size(),
                 rt_.settings().zones[policy_.zone].name.c_str());
    }
    rt_.give_capture(c.capture);
    c.capture = nullptr;
    end_fill(c);
}

void CacheFilter::end_fill(Ctx& c, int64_t pass_ms) {
    if (!c.claimed) return;
    c.claimed = false;
    store_.end_fill(c.hash, c.claim_ms, rt_.loop().now(), pass_ms);
    rt_.fill_ended(policy_.zone, c.hash);
}

bool CacheFilter::on_replace(http::Stream& s, void* ctx, int status, const http::Response* upstream) {
    Ctx& c = *static_cast<Ctx*>(ctx);
    if (!c.obj || c.state != State::Expired) return false;
    int64_t now = now_s();
    if (upstream && status == 304) {
        // The stale object is still good: its fields updated from the 304 (RFC 9111 §4.3.4),
        // stored again with the new freshness, and answered with (the body is the old object's,
        // which stays pinned).
        Capture* cap = rt_.take_capture();
        merge_304(c.obj.head, *upstream, c.obj.body.size(), cap->head);
        static http::Response merged;  // one worker thread: reused
        if (!parse_stored(cap->head, merged)) {
            rt_.give_capture(cap);
            return false;
        }
        ResponseFacts f = facts_of(merged);
        Policy p{policy_.default_ttl / 1000, policy_.swr / 1000, policy_.sie / 1000};
        StoreDecision d = decide_store(f, c.authorization, p);
        build_key(policy_, s, key_);
        vary_names(merged, cap->vary);
        if (!cap->vary.empty()) {
            variant_ = key_;
            append_variant(cap->vary, s.request(), variant_);
        }
        Meta fresh = meta_of(f, d, c.request_time, now);
        if (d.store) store_.insert(key_, cap->vary, variant_, cap->head, c.obj.body, fresh);
        c.obj.meta = fresh;  // (its Age is the refreshed one's)
        c.capture = cap;
        c.state = State::Revalidated;
        count(rt_.counters().revalidated);
        end_fill(c);
        s.reply_stored(cap->head, c.obj.body);
        return true;
    }
    // stale-if-error: an error from the upstream (5xx), or none at all (the gateway's 502/504).
    const Meta& m = c.obj.meta;
    if (status >= 500 && !m.must_revalidate && age_of(m, now) < m.lifetime + m.sie) {
        c.state = State::Stale;
        count(rt_.counters().stale);
        end_fill(c);
        s.reply_stored(c.obj.head, c.obj.body);
        return true;
    }
    return false;
}

void CacheFilter::on_destroy(http::Stream&, void* ctx) {
    Ctx* c = static_cast<Ctx*>(ctx);
    if (c->state == State::Waiting) rt_.stop_waiting(&c->waiter);
    end_fill(*c);  // a fill that did not complete: its waiters go on
    if (c->obj) store_.unpin(c->obj);
    if (c->capture) rt_.give_capture(c->capture);
    c->~Ctx();
}

}  // namespace gw::cache
