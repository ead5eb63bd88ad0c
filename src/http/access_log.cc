#include "http/access_log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "core/log.h"
#include "core/text_escape.h"
#include "http/redact.h"

namespace gw::http {

namespace {

void append_iso_time(std::string& out) {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     static_cast<int>(tv.tv_usec / 1000));
    out.append(buf, n);
}

void append_clf_time(std::string& out) {
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    char buf[40];
    size_t n = strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S %z", &tm);
    out.append(buf, n);
}

void append_or_dash(std::string& out, std::string_view s) {
    if (s.empty())
        out += '-';
    else
        out += s;
}

}  // namespace

AccessLog::~AccessLog() {
    flush();
    if (fd_ >= 0) close(fd_);
}

bool AccessLog::open() {
    if (!config_.enabled) return true;
    int fd = ::open(config_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, log::kFileMode);
    if (fd < 0) return false;
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
    buf_.reserve(config_.buffer + 4096);
    return true;
}

bool AccessLog::reopen() {
    flush();
    return open();
}

void AccessLog::flush() {
    if (buf_.empty() || fd_ < 0) return;
    size_t off = 0;
    while (off < buf_.size()) {
        ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
        if (n <= 0) {
            LOG_ERROR("write() to access log \"%s\" failed: %m", config_.path.c_str());
            break;
        }
        off += static_cast<size_t>(n);
    }
    buf_.clear();
}

void AccessLog::write(const AccessLogEntry& e) {
    if (fd_ < 0) return;
    switch (config_.format) {
        case AccessLogConfig::Format::Json:
            if (config_.fields.empty())
                write_json(e);
            else
                write_fields(e);
            break;
        case AccessLogConfig::Format::Combined: write_combined(e); break;
        case AccessLogConfig::Format::Template: write_template(e); break;
    }
    if (buf_.size() >= config_.buffer) flush();
}

// ,"key":"value" (the value escaped)
void AccessLog::append_json_field(std::string_view key, std::string_view value) {
    buf_ += ",\"";
    buf_ += key;
    buf_ += "\":\"";
    append_json_escaped_text(buf_, value);
    buf_ += '"';
}

void AccessLog::append_redacted_json(std::string_view key, std::string_view target) {
    scratch_.clear();  // reused: no allocation per line once it has grown
    append_redacted_target(scratch_, target, logs_);
    append_json_field(key, scratch_);
}

void AccessLog::append_redacted_header_json(std::string_view key, std::string_view name, std::string_view value) {
    scratch_.clear();
    append_redacted_header(scratch_, name, value, logs_);
    append_json_field(key, scratch_);
}

namespace {

vars::Env log_env(const AccessLogEntry& e, const LogsConfig& logs) {
    vars::Env env;
    env.stream = e.stream;
    env.status = e.status;
    env.body_bytes = e.body_bytes_sent;
    env.bytes_sent = e.bytes_sent;
    env.finished = true;
    env.request_time = e.request_time;
    env.generation = e.generation;
    env.redact = &logs;  // secrets are redacted, as in the built-in formats
    return env;
}

}  // namespace

// Every variable escaped as log text (\xHH), a missing one as "-".
void AccessLog::write_template(const AccessLogEntry& e) {
    vars::Env env = log_env(e, logs_);
    config_.line.render(env, buf_, vars::Template::Escape::Log);
    buf_ += '\n';
}

// Exactly the configured keys. A field that is one numeric variable ($status, $request_time,
// ...) is a JSON number, or null without a value; any other is a string ("-" for a variable
// without a value).
void AccessLog::write_fields(const AccessLogEntry& e) {
    vars::Env env = log_env(e, logs_);
    char sep = '{';
    for (const auto& [key, t] : config_.fields) {
        buf_ += sep;
        sep = ',';
        buf_ += '"';
        append_json_escaped_text(buf_, key);
        buf_ += "\":";
        const vars::Template::Piece* only = t.single_variable();
        if (only && only->numeric) {
            size_t at = buf_.size();
            if (!only->get(env, only->param, buf_)) {
                buf_.resize(at);
                buf_ += "null";
            }
            continue;
        }
        buf_ += '"';
        t.render(env, buf_, vars::Template::Escape::Json);
        buf_ += '"';
    }
    buf_ += "}\n";
}

void AccessLog::write_json(const AccessLogEntry& e) {
    std::string& o = buf_;
    char num[96];
    o += "{\"time\":\"";
    append_iso_time(o);
    o += '"';
    append_json_field("remote_addr", e.remote_addr);
    append_json_field("method", e.method);
    append_redacted_json("uri", e.uri);
    o += ",\"protocol\":\"HTTP/1.";
    o += static_cast<char>('0' + e.version_minor);
    int n = snprintf(num, sizeof num, "\",\"status\":%d,\"body_bytes_sent\":%llu,\"bytes_sent\":%llu,\"request_time\":%.6f",
                     e.status, static_cast<unsigned long long>(e.body_bytes_sent),
                     static_cast<unsigned long long>(e.bytes_sent), e.request_time);
    o.append(num, n);
    append_json_field("route", e.route);
    append_json_field("host", e.host);
    append_redacted_header_json("user_agent", "user-agent", e.user_agent);
    append_redacted_header_json("referer", "referer", e.referer);
    append_json_field("request_id", e.request_id);
    // The upstream attempts, as nginx lists them: "addr, addr", "502, 200", "0.001, 0.004".
    const UpstreamTrace* u = e.upstream;
    size_t shown = u ? std::min<size_t>(u->count, UpstreamTrace::kMax) : 0;
    bool more = u && u->count > UpstreamTrace::kMax;
    o += ",\"upstream_addr\":\"";
    for (size_t i = 0; i < shown; ++i) {
        if (i) o += ", ";
        append_json_escaped_text(o, u->attempts[i].addr);
    }
    if (more) o += ", ...";
    o += "\",\"upstream_status\":\"";
    for (size_t i = 0; i < shown; ++i) {
        n = snprintf(num, sizeof num, "%s%d", i ? ", " : "", u->attempts[i].status);
        o.append(num, n);
    }
    if (more) o += ", ...";
    o += "\",\"upstream_response_time\":\"";
    for (size_t i = 0; i < shown; ++i) {
        n = snprintf(num, sizeof num, "%s%.3f", i ? ", " : "", static_cast<double>(u->attempts[i].micros) / 1e6);
        o.append(num, n);
    }
    if (more) o += ", ...";
    n = snprintf(num, sizeof num, "\",\"generation\":%u}\n", e.generation);
    o.append(num, n);
}

// nginx's combined format; every field that comes from the request is escaped (\xHH).
// $remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
void AccessLog::write_combined(const AccessLogEntry& e) {
    std::string& o = buf_;
    char num[64];
    append_or_dash(o, e.remote_addr);
    o += " - - [";
    append_clf_time(o);
    o += "] \"";
    append_log_escaped(o, e.method);
    o += ' ';
    scratch_.clear();
    append_redacted_target(scratch_, e.uri, logs_);
    append_log_escaped(o, scratch_);
    o += " HTTP/1.";
    o += static_cast<char>('0' + e.version_minor);
    int n = snprintf(num, sizeof num, "\" %d %llu \"", e.status, static_cast<unsigned long long>(e.body_bytes_sent));
    o.append(num, n);
    scratch_.clear();
    append_redacted_header(scratch_, "referer", e.referer, logs_);
    if (scratch_.empty()) scratch_ = "-";
    append_log_escaped(o, scratch_);
    o += "\" \"";
    scratch_.clear();
    append_redacted_header(scratch_, "user-agent", e.user_agent, logs_);
    if (scratch_.empty()) scratch_ = "-";
    append_log_escaped(o, scratch_);
    o += "\"\n";
}

}  // namespace gw::http
