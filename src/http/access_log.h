// The access log: one line per answered request, JSON or nginx's "combined" format, buffered per
// worker and written in batches (when the buffer fills, at least every `flush` interval, and when
// the worker drains or exits). Secrets in query strings are redacted before they reach the disk.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/config/config.h"

namespace gw::http {

struct AccessLogEntry {
    std::string_view remote_addr;
    std::string_view method;
    std::string_view uri;
    int version_minor = 1;
    int status = 0;
    uint64_t body_bytes_sent = 0;
    double request_time = 0;  // seconds
    std::string_view route;
    std::string_view host;
    std::string_view user_agent;
    std::string_view referer;
    uint32_t generation = 0;
};

class AccessLog {
  public:
    explicit AccessLog(const AccessLogConfig& config) : config_(config) {}
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    bool enabled() const { return config_.enabled; }
    bool open();    // opens (creating) the file; false with errno on failure
    bool reopen();  // USR1: flush, then open the path again (after logrotate renamed it)
    void write(const AccessLogEntry& e);
    void flush();
    bool has_pending() const { return !buf_.empty(); }

  private:
    const AccessLogConfig& config_;
    int fd_ = -1;
    std::string buf_;
    std::string scratch_;
};

// Replaces the values of secret-looking query parameters (token, access_token, api_key, apikey,
// key, password, secret, signature, sig) with REDACTED. Appends the result to `out`.
void append_redacted_uri(std::string& out, std::string_view uri);

}  // namespace gw::http
