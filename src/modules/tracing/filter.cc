#include "modules/tracing/filter.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "http/access_log.h"
#include "http/proxy/upstream.h"
#include "http/stream.h"

namespace gw::tracing {

namespace {

uint64_t ns_of(const timespec& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

}  // namespace

Sampler::Sampler(double ratio, uint64_t seed) : state_(seed) {
    if (ratio >= 1) {
        always_ = true;
    } else if (ratio > 0) {
        // ratio * 2^64, exactly enough (a double has 53 bits; the error is below 2^-53).
        threshold_ = static_cast<uint64_t>(std::ldexp(ratio, 64));
    }
}

TracingFilter::TracingFilter(Recorder& recorder, std::string_view route_name)
    : http::Filter(http::kHookRequest, sizeof(Ctx), alignof(Ctx)),  // (the stream's end: ended())
      recorder_(recorder),
      route_(route_name) {}

http::FilterStatus TracingFilter::on_request(http::Stream& s, void* p) {
    Ctx* c = new (p) Ctx;
    c->trace.sampled = false;
    c->done = true;
    std::string_view tp = s.request().header("traceparent");
    IncomingTrace in;
    bool valid = !tp.empty() && parse_traceparent(tp, in);
    if (!(valid && in.sampled) && !recorder_.sampler().sample()) {
        if (valid) return http::FilterStatus::Continue;  // the proxy passes the caller's on
        // A new trace nobody records: the proxy sends it unsampled.
        c->trace.attempt_spans = false;
        c->trace.finish = finish_unsampled;
        c->trace.ended = nullptr;
        s.set_trace(&c->trace);
        return http::FilterStatus::Continue;
    }
    c->trace.sampled = true;
    c->trace.attempt_spans = false;
    c->trace.finish = finish;
    c->trace.ended = ended;
    c->self = this;
    c->done = false;
    c->https = s.io().transport() != nullptr;
    if (valid) {
        memcpy(c->trace.trace_id, in.trace_id.data(), 32);
        memcpy(c->parent_id, in.parent_id.data(), 16);
        c->has_parent = true;
    } else {
        recorder_.ids().request_id(c->trace.trace_id);
        c->has_parent = false;
    }
    recorder_.ids().span_id(c->trace.span_id);
    s.set_trace(&c->trace);
    return http::FilterStatus::Continue;
}

// The stream ends (it forgets the context): a sampled request that ended without its response
// (the client went away) still has its spans recorded.
void TracingFilter::ended(http::TraceContext& t, http::Stream& s) {
    Ctx& c = reinterpret_cast<Ctx&>(t);
    if (!c.done) c.self->record(c, s, 0, true);
}

void TracingFilter::finish(http::TraceContext& t, http::Stream& s, int status, uint64_t) {
    Ctx& c = reinterpret_cast<Ctx&>(t);
    if (c.done) return;
    c.self->record(c, s, status, false);
}

void TracingFilter::record(Ctx& c, http::Stream& s, int status, bool aborted) {
    c.done = true;
    http::UpstreamTrace& ut = s.upstream_trace();
    size_t attempts = c.trace.attempt_spans ? std::min<size_t>(ut.count, http::UpstreamTrace::kMax) : 0;
    Exporter& ex = recorder_.exporter();
    if (!ex.reserve(1 + attempts)) return;
    timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    // Monotonic times (the stream's start, the attempts') to unix time.
    int64_t offset = static_cast<int64_t>(ns_of(real)) - static_cast<int64_t>(ns_of(mono));
    auto unix_ns = [offset](uint64_t mono_ns) { return static_cast<uint64_t>(static_cast<int64_t>(mono_ns) + offset); };
    const http::Request& req = s.request();

    Span& sp = *ex.ring().push();
    sp.clear(Span::kServer);
    memcpy(sp.trace_id, c.trace.trace_id, 32);
    memcpy(sp.span_id, c.trace.span_id, 16);
    if (c.has_parent) {
        memcpy(sp.parent_id, c.parent_id, 16);
        sp.has_parent = true;
    }
    sp.start_ns = unix_ns(s.start_ns());
    sp.end_ns = ns_of(real);
    sp.status = status;
    sp.error = aborted || status >= 500;
    if (aborted) sp.error_message = "the client went away before the response was complete";
    sp.route = route_;
    sp.method.set(req.method);
    sp.path.set(req.path);
    sp.scheme = c.https ? "https" : "http";
    sp.protocol = req.http2 ? "2" : req.version_minor == 0 ? "1.0" : "1.1";
    sp.user_agent.set(req.header("user-agent"));
    sp.host.set(req.host);
    sp.client.set(s.client_address());
    // (After an abort the identity may have ended with its filter's state already.)
    if (!aborted)
        if (const http::Identity* who = s.identity()) sp.consumer.set(who->consumer());
    sp.request_id.set(s.request_id());
    if (c.trace.cache_status) sp.cache_status = c.trace.cache_status;
    if (c.trace.ratelimit) sp.ratelimit = c.trace.ratelimit;
    if (ut.count) {
        sp.upstream = ut.attempts[std::min<size_t>(ut.count, http::UpstreamTrace::kMax) - 1].addr;
        sp.retries = ut.count - 1;
    }

    for (size_t i = 0; i < attempts; ++i) {
        const http::UpstreamTrace::Attempt& a = ut.attempts[i];
        const http::UpstreamTrace::Span& as = ut.spans[i];
        Span& cs = *ex.ring().push();
        cs.clear(Span::kClient);
        memcpy(cs.trace_id, c.trace.trace_id, 32);
        memcpy(cs.span_id, as.id, 16);
        memcpy(cs.parent_id, c.trace.span_id, 16);
        cs.has_parent = true;
        cs.start_ns = unix_ns(as.start_ns);
        // An attempt ends when it failed or the next one started; the answered one lasts
        // until the response is complete.
        cs.end_ns = as.end_ns ? unix_ns(as.end_ns) : ns_of(real);
        cs.method.set(req.method);
        cs.route = route_;
        cs.upstream = a.addr;
        if (as.error) {
            cs.error = true;
            cs.error_message = http::proxy::error_kind_name(static_cast<http::proxy::ErrorKind>(as.error - 1));
        } else {
            cs.status = a.status;
            cs.error = a.status >= 500;
        }
    }
    ex.recorded();
}

}  // namespace gw::tracing
