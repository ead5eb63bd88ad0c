// Spans as the tracing module keeps them until their export: fixed-size records in a ring
// preallocated per worker (SpanRing), so that recording a span allocates nothing. Texts copied
// from the request are cut at a bound (a path at 512 bytes, a User-Agent at 256).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace gw::tracing {

template <size_t N>
struct Text {
    char data[N];
    uint16_t len;
    void set(std::string_view s) {
        len = static_cast<uint16_t>(s.size() < N ? s.size() : N);
        memcpy(data, s.data(), len);
    }
    std::string_view view() const { return {data, len}; }
    bool empty() const { return len == 0; }
};

struct Span {
    // No member initializers: the ring's storage stays untouched until a span is recorded
    // there; clear() sets what a record may leave unset.
    // OTLP's SpanKind values.
    enum Kind : uint8_t { kServer = 2, kClient = 3 };
    Kind kind;
    bool has_parent;
    bool error;                      // status ERROR
    char trace_id[32];
    char span_id[16];
    char parent_id[16];
    uint64_t start_ns;               // unix time
    uint64_t end_ns;
    int status;                      // HTTP status (0: none: no response)
    std::string_view error_message;  // static text, or empty
    std::string_view route;          // the route's name (the configuration's, lives with the worker)
    std::string_view upstream;       // server span: the last attempt's server; client span: its server
    std::string_view protocol;       // "1.1", "1.0", "2" (static)
    std::string_view scheme;         // "http", "https" (static)
    std::string_view cache_status;   // static, or empty
    std::string_view ratelimit;      // static, or empty
    uint32_t retries;
    Text<16> method;
    Text<512> path;
    Text<256> user_agent;
    Text<128> host;
    Text<48> client;
    Text<128> consumer;
    Text<128> request_id;

    void clear(Kind k) {
        kind = k;
        has_parent = error = false;
        start_ns = end_ns = 0;
        status = 0;
        error_message = route = upstream = protocol = scheme = cache_status = ratelimit = {};
        retries = 0;
        method.len = path.len = user_agent.len = host.len = client.len = consumer.len = request_id.len = 0;
    }
};

// A bounded FIFO of spans: push() hands out the next free slot (nullptr when full), front() and
// pop() take the oldest. The storage is made once and not touched until used (no zeroing).
class SpanRing {
  public:
    explicit SpanRing(size_t capacity) : slots_(new Span[capacity]), capacity_(capacity) {}
    size_t size() const { return size_; }
    size_t capacity() const { return capacity_; }
    size_t room() const { return capacity_ - size_; }
    Span* push() {
        if (size_ == capacity_) return nullptr;
        Span* s = &slots_[(head_ + size_) % capacity_];
        ++size_;
        return s;
    }
    // The i-th oldest (i < size()).
    const Span& at(size_t i) const { return slots_[(head_ + i) % capacity_]; }
    void pop(size_t n) {
        if (n > size_) n = size_;
        head_ = (head_ + n) % capacity_;
        size_ -= n;
    }

  private:
    std::unique_ptr<Span[]> slots_;
    size_t capacity_;
    size_t head_ = 0;
    size_t size_ = 0;
};

// Appends an OTLP/HTTP JSON ExportTraceServiceRequest for spans [0, n) of `ring` to `out`
// (cleared first): one resource (service.name, service.version), one scope, the spans with
// their attributes (OpenTelemetry semantic-convention names), ids as hex, times as unix-nano
// strings, integers as strings (the protobuf JSON mapping of int64). Every text is escaped:
// the result is valid JSON (and UTF-8) whatever the request held.
void encode_spans(const SpanRing& ring, size_t n, std::string_view service_name, std::string& out);

}  // namespace gw::tracing
