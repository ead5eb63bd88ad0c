// The access log: one line per answered request - JSON (the built-in fields, or the operator's
// `fields:`), nginx's "combined" format, or a template of variables (src/http/vars) - buffered per
// worker and written in batches (when the buffer fills, at least every `flush` interval, and when
// the worker drains or exits). Every field is escaped so that any input keeps a JSON line valid
// JSON and a combined line its fields (core/text_escape.h), and secrets are redacted first
// (http/redact.h). Lines are written straight into the buffer through a TextWriter
// (core/text_writer.h): no allocation, and each value is copied and escaped in one pass.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/config/config.h"
#include "core/text_writer.h"

namespace gw::http {

class Stream;

// The upstream attempts of a proxied request, listed as nginx lists $upstream_addr,
// $upstream_status and $upstream_response_time ("a, b"): the first kMax of them, without
// allocation. A failed attempt has the status the gateway gave it (502, or 504 on a timeout).
struct UpstreamTrace {
    static constexpr size_t kMax = 4;
    struct Attempt {
        std::string_view addr;  // the server's configured address (lives as long as the config)
        int status = 0;
        uint64_t micros = 0;    // from the request first sent upstream to this attempt's head or failure
    };
    // The attempts' spans, for a traced request only (Stream::trace(), sampled, attempt_spans;
    // set by the proxy, read by the tracing module): the span's id (as sent upstream in
    // traceparent), its monotonic start and end (ns; end 0: it lasted until the response's end),
    // and its failure (0: none; else 1 + the proxy's ErrorKind).
    struct Span {
        uint64_t start_ns, end_ns;
        char id[16];
        uint8_t error;
    };
    Attempt attempts[kMax];
    Span spans[kMax];
    uint32_t count = 0;         // attempts made; those beyond kMax are only counted

    void clear() { count = 0; }
    void add(std::string_view addr, int status, uint64_t micros) {
        if (count < kMax) attempts[count] = {addr, status, micros};
        ++count;
    }
};

struct AccessLogEntry {
    std::string_view remote_addr;
    std::string_view method;
    std::string_view uri;
    int version_minor = 1;
    bool http2 = false;  // logged as HTTP/2.0
    int status = 0;
    uint64_t body_bytes_sent = 0;
    uint64_t bytes_sent = 0;    // head and body
    double request_time = 0;  // seconds
    std::string_view route;
    std::string_view host;
    std::string_view user_agent;
    std::string_view referer;
    uint32_t generation = 0;
    std::string_view request_id;
    const UpstreamTrace* upstream = nullptr;  // proxied requests
    const Stream* stream = nullptr;  // what templates' variables read (null in some unit tests)
};

class AccessLog {
  public:
    AccessLog(const AccessLogConfig& config, const LogsConfig& logs) : config_(config), logs_(logs) {}
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    bool enabled() const { return config_.enabled; }
    // The line is a built-in one (JSON or combined), which reads the entry's user_agent and
    // referer; templates and `fields:` read what they name through variables.
    bool builtin_fields() const {
        return config_.format == AccessLogConfig::Format::Combined ||
               (config_.format == AccessLogConfig::Format::Json && config_.fields.empty());
    }
    bool open();    // opens (creating) the file; false with errno on failure
    bool reopen();  // USR1: flush, then open the path again (after logrotate renamed it)
    void write(const AccessLogEntry& e);
    void flush();
    bool has_pending() const { return out_.pending(); }

  private:
    // The buffer the lines are written into. Only whole lines go to the file (workers append
    // to one file: a line written in two parts could be split by another's), so a buffer full
    // in the middle of a line writes the lines before it, and one line longer than the buffer
    // makes it grow.
    class Buffer final : public TextWriter {
      public:
        explicit Buffer(AccessLog& log) : log_(log) {}
        void allocate(size_t capacity);
        bool pending() const { return cur_ != begin_; }
        size_t used() const { return static_cast<size_t>(cur_ - begin_); }
        void line_done() { line_ = cur_; }
        void flush();

      private:
        void overflow() override;
        // (Never called: the line being written, where a mark is taken, stays in the buffer.)
        void take_back(uint64_t, std::string&) override {}
        AccessLog& log_;
        std::unique_ptr<char[]> data_;
        size_t capacity_ = 0;
        char* line_ = nullptr;  // where the line being written starts
    };

    void write_out(std::string_view bytes);  // to the file
    void write_json(const AccessLogEntry& e);
    void write_combined(const AccessLogEntry& e);
    void write_template(const AccessLogEntry& e);  // `format: '$remote_addr ...'`
    void write_fields(const AccessLogEntry& e);    // `format: json` with `fields:`
    // ,"key":"value" (the value escaped)
    void json_field(std::string_view key, std::string_view value);

    const AccessLogConfig& config_;
    const LogsConfig& logs_;
    int fd_ = -1;
    Buffer out_{*this};
};

}  // namespace gw::http
