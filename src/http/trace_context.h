// A request's trace, as the tracing module decided it (src/modules/tracing/): the proxy puts it
// into the traceparent it sends upstream, one span id per attempt, and the codec tells it when
// the response is complete. Null on the stream (Stream::trace()) when tracing is not configured
// or the route opted out: the core then pays a pointer check or two per request.
#pragma once

#include <cstdint>

namespace gw::http {

class Stream;

struct TraceContext {
    char trace_id[32];   // lowercase hex: the incoming traceparent's, or a new one
    char span_id[16];    // the request's (server) span: the parent of the upstream attempts' spans
    // The spans of this request are recorded (and the traceparent sent upstream says so). When
    // false the context only asks the proxy to send a new trace's traceparent unsampled ("-00").
    bool sampled = false;
    // Set by the proxy when it records a span per attempt (UpstreamTrace::Attempt's span fields):
    // false when the route's own header operations set traceparent.
    bool attempt_spans = false;
    // What other filters decided, for the span's attributes (static texts; set only when sampled):
    // the cache's status (HIT, MISS...), the rate limits' outcome (allowed, rejected).
    const char* cache_status = nullptr;
    const char* ratelimit = nullptr;
    // Called by the codec once the response is complete (before the stream ends and its
    // filters' state with it: the identity, the upstream attempts are still there).
    void (*finish)(TraceContext& t, Stream& s, int status, uint64_t body_bytes) = nullptr;
    // Called when the stream ends (Stream::end, before its filters' on_destroy), finished or
    // not - a client that went away before its response was complete. The stream forgets the
    // context then.
    void (*ended)(TraceContext& t, Stream& s) = nullptr;
};

}  // namespace gw::http
