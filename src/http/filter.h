// Filters: the per-route policies of the request path (rate limits, access rules, and later
// authentication, CORS, compression, cache). A filter is one object per worker and route (made
// by its module's WorkerPart for the generation's configuration); its per-request state lives in
// the Stream (`ctx`, ctx_size bytes of the Stream's arena), never in a heap object per request.
//
// Hooks run per event, never per byte. The request's hooks run in the order of the module list;
// the response's in the reverse order, nearest the upstream first (as Envoy's encoder filters,
// and nginx's body filters after the upstream module): a filter that keeps a response (a cache,
// an idempotency record) is listed after one that transforms it (compression), so it keeps the
// upstream's bytes, and what it serves itself is still transformed.
//   on_request        the request head is read and routed: Continue, Done (a local reply was set
//                     with Stream::reply*), or Pause (the filter keeps a ResumeHandle and later
//                     resumes the chain or answers; resuming inline, before returning Pause,
//                     works too - the chain driver notices);
//   on_response_head  the response head is being written: the filter may add header lines, and
//                     may put itself on the response body path (Stream::add_body_filter: the
//                     body then meets the filters in the order they added themselves);
//   on_body           only for filters that added themselves for this response;
//   on_replace        a proxied response is about to be sent - the upstream's (its head), or the
//                     gateway's own 502/503/504 after a failed attempt (no upstream head): the
//                     filter may answer with a stored response instead (Stream::reply_stored)
//                     and return true (a cache refreshed by a 304, a stale object on an error);
//   on_log            the access log entry is being written;
//   on_destroy        always, for every filter whose on_request ran, when the stream ends -
//                     complete, answered, or its client gone while the filter was paused. It
//                     cancels whatever is pending; nothing may touch the stream afterwards.
// `ctx` is raw storage until on_request constructs it (placement new); on_destroy ends it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw::http {

class Stream;
struct AccessLogEntry;
struct Response;

enum class FilterStatus : uint8_t { Continue, Pause, Done };

// Which hooks a filter has: the chain calls only those (a filter sets them in its constructor).
enum FilterHook : uint8_t {
    kHookRequest = 1u << 0,
    kHookResponseHead = 1u << 1,
    kHookLog = 1u << 2,
    kHookDestroy = 1u << 3,
    kHookBody = 1u << 4,
    kHookReplace = 1u << 5,
};

// The response head as filters see it: its status, the upstream's fields (a proxied response),
// and header lines they may add.
class ResponseHead {
  public:
    // The names of the upstream's fields filters replace on this one response (see replace()).
    struct Replaced {
        static constexpr size_t kMax = 4;
        std::string_view names[kMax];
        uint8_t count = 0;
        std::span<const std::string_view> span() const { return {names, count}; }
    };
    ResponseHead(int status, std::string& extra, const Response* upstream = nullptr, Replaced* replaced = nullptr)
        : status_(status), extra_(extra), upstream_(upstream), replaced_(replaced) {}
    int status() const { return status_; }
    // The upstream's response head (null: the gateway answers the request itself).
    const Response* upstream() const { return upstream_; }
    // The upstream's first field called `name` (case-insensitive); empty without one.
    std::string_view upstream_header(std::string_view name) const;
    // One "name: value" header field (no CRLF: it is added).
    void add(std::string_view name, std::string_view value);
    // Ready-made lines, each ending in CRLF.
    void add_lines(std::string_view lines) { extra_.append(lines); }
    // Drops the upstream's fields called `name` (lower-case, a string that outlives the
    // response) from this response only - the filter adds its own version (a weakened ETag, a
    // Vary that also names Accept-Encoding). False when the per-response list is full.
    bool replace(std::string_view name);

  private:
    int status_;
    std::string& extra_;
    const Response* upstream_;
    Replaced* replaced_;
};

class Filter {
  public:
    virtual ~Filter() = default;

    virtual FilterStatus on_request(Stream&, void* /*ctx*/) { return FilterStatus::Continue; }
    virtual void on_response_head(Stream&, void* /*ctx*/, ResponseHead&) {}
    // A body filter: `in` is the next piece of the response body (last: it is the end); what it
    // produces is appended to `out`.
    virtual void on_body(Stream&, void* /*ctx*/, std::string_view /*in*/, bool /*last*/, std::string& /*out*/) {}
    virtual bool on_replace(Stream&, void* /*ctx*/, int /*status*/, const Response* /*upstream*/) { return false; }
    virtual void on_log(Stream&, void* /*ctx*/, AccessLogEntry&) {}
    virtual void on_destroy(Stream&, void* /*ctx*/) {}
    // The response fields this filter sets itself (lower-case names): when a response's filters
    // add lines, the upstream's fields of these names are dropped. Asked once, at chain build.
    virtual std::span<const std::string_view> response_field_names() const { return {}; }
    // The upstream request fields this filter sets (Stream::add_request_header; lower-case
    // names): the client's own fields of these names never reach the upstream, whether or not
    // the filter sets them on a given request. Asked once, at chain build.
    virtual std::span<const std::string_view> request_field_names() const { return {}; }

    uint8_t hooks() const { return hooks_; }
    uint16_t ctx_size() const { return ctx_size_; }
    uint16_t ctx_align() const { return ctx_align_; }

  protected:
    Filter(uint8_t hooks, uint16_t ctx_size = 0, uint16_t ctx_align = alignof(std::max_align_t))
        : hooks_(hooks), ctx_size_(ctx_size), ctx_align_(ctx_align) {}

  private:
    uint8_t hooks_;
    uint16_t ctx_size_;
    uint16_t ctx_align_;
};

// The filters of one route, with each one's place in the Stream's arena: built once per worker
// (generation) and route; a route without filters has none (a null pointer in its RouteRuntime).
class FilterChain {
  public:
    static constexpr size_t kArenaSize = 512;  // per-request state of all filters of a route
    struct Entry {
        Filter* filter;
        uint16_t ctx_offset;
    };
    // False when the filters' state does not fit in the arena (the caller logs it).
    bool add(Filter* f);
    const std::vector<Entry>& entries() const { return entries_; }
    bool empty() const { return entries_.empty(); }
    uint8_t hooks() const { return hooks_; }  // the union of the filters' hooks
    std::span<const std::string_view> response_field_names() const { return field_names_; }
    std::span<const std::string_view> request_field_names() const { return request_field_names_; }

  private:
    std::vector<Entry> entries_;
    std::vector<std::string_view> field_names_;
    std::vector<std::string_view> request_field_names_;
    size_t arena_used_ = 0;
    uint8_t hooks_ = 0;
};

// Held by a paused filter. resume() continues the chain after that filter; respond*() answers
// the request now instead. A handle whose stream has ended (or moved on to another request) is
// stale: using it does nothing. Valid from inside on_request (inline completion) and from any
// later event-loop callback.
class ResumeHandle {
  public:
    ResumeHandle() = default;
    void resume();
    void respond(int status, std::string_view content_type, std::string_view body);
    void respond_error(int status, std::string_view message);  // the usual JSON error body
    // Answers with the reply the filter has set on the stream itself (Stream::reply_with_headers:
    // an answer with header fields of its own, such as a replayed response).
    void answer();
    bool stale() const;

  private:
    friend class Stream;
    ResumeHandle(Stream* s, uint32_t serial) : stream_(s), serial_(serial) {}
    Stream* stream_ = nullptr;
    uint32_t serial_ = 0;
};

}  // namespace gw::http
