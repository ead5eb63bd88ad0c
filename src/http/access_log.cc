#include "http/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/log.h"
#include "core/text_escape.h"
#include "core/text_time.h"
#include "http/redact.h"

namespace gw::http {

namespace {

using Mode = TextWriter::Escape;

}  // namespace

void AccessLog::Buffer::allocate(size_t capacity) {
    if (capacity <= capacity_) return;
    flush();
    data_ = std::make_unique<char[]>(capacity);
    capacity_ = capacity;
    set_window(data_.get(), data_.get() + capacity);
    line_ = begin_;
}

void AccessLog::Buffer::flush() {
    if (line_ != begin_) log_.write_out(std::string_view(begin_, static_cast<size_t>(line_ - begin_)));
    size_t partial = static_cast<size_t>(cur_ - line_);  // (none, between lines)
    drained_ += static_cast<uint64_t>(line_ - begin_);
    std::memmove(begin_, line_, partial);
    line_ = begin_;
    cur_ = begin_ + partial;
}

void AccessLog::Buffer::overflow() {
    flush();
    if (room() >= kMinWindow) return;
    // One line fills the buffer: a bigger one (a rare line; kept for the next).
    size_t used = this->used(), capacity = capacity_ * 2;
    auto bigger = std::make_unique<char[]>(capacity);
    std::memcpy(bigger.get(), begin_, used);
    data_ = std::move(bigger);
    capacity_ = capacity;
    set_window(data_.get(), data_.get() + capacity);
    line_ = begin_;
    cur_ = begin_ + used;
}

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
    out_.allocate(config_.buffer + 4096);
    return true;
}

bool AccessLog::reopen() {
    flush();
    return open();
}

void AccessLog::flush() {
    if (fd_ >= 0) out_.flush();
}

void AccessLog::write_out(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n <= 0) {
            LOG_ERROR("write() to access log \"%s\" failed: %m", config_.path.c_str());
            return;
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
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
    out_.line_done();
    if (out_.used() >= config_.buffer) out_.flush();
}

void AccessLog::json_field(std::string_view key, std::string_view value) {
    out_ += ",\"";
    out_ += key;
    out_ += "\":\"";
    out_.set_escape(Mode::Json);
    out_ += value;
    out_.set_escape(Mode::None);
    out_ += '"';
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
    config_.line.render(env, out_, vars::Template::Escape::Log);
    out_ += '\n';
}

// Exactly the configured keys. A field that is one numeric variable ($status, $request_time,
// ...) is a JSON number, or null without a value; any other is a string ("-" for a variable
// without a value).
void AccessLog::write_fields(const AccessLogEntry& e) {
    vars::Env env = log_env(e, logs_);
    char sep = '{';
    for (const auto& [key, t] : config_.fields) {
        out_ += sep;
        sep = ',';
        out_ += '"';
        out_.set_escape(Mode::Json);
        out_ += key;
        out_.set_escape(Mode::None);
        out_ += "\":";
        const vars::Template::Piece* only = t.single_variable();
        if (only && only->numeric) {
            if (!only->get(env, only->param, out_)) out_ += "null";  // (nothing written then)
            continue;
        }
        out_ += '"';
        t.render(env, out_, vars::Template::Escape::Json);
        out_ += '"';
    }
    out_ += "}\n";
}

void AccessLog::write_json(const AccessLogEntry& e) {
    TextWriter& o = out_;
    o += "{\"time\":\"";
    write_time_utc_ms(o);
    o += '"';
    json_field("remote_addr", e.remote_addr);
    json_field("method", e.method);
    o += ",\"uri\":\"";
    o.set_escape(Mode::Json);
    append_redacted_target(o, e.uri, logs_);
    o.set_escape(Mode::None);
    o += e.http2 ? std::string_view("\",\"protocol\":\"HTTP/2.") : std::string_view("\",\"protocol\":\"HTTP/1.");
    o += static_cast<char>('0' + (e.http2 ? 0 : e.version_minor));
    o += "\",\"status\":";
    o.number(static_cast<uint64_t>(std::max(e.status, 0)));
    o += ",\"body_bytes_sent\":";
    o.number(e.body_bytes_sent);
    o += ",\"bytes_sent\":";
    o.number(e.bytes_sent);
    o += ",\"request_time\":";
    write_seconds(o, static_cast<uint64_t>(std::llround(std::max(e.request_time, 0.0) * 1e6)), 6);
    json_field("route", e.route);
    json_field("host", e.host);
    auto header_field = [&](std::string_view key, std::string_view name, std::string_view value) {
        o += ",\"";
        o += key;
        o += "\":\"";
        o.set_escape(Mode::Json);
        append_redacted_header(o, name, value, logs_);
        o.set_escape(Mode::None);
        o += '"';
    };
    header_field("user_agent", "user-agent", e.user_agent);
    header_field("referer", "referer", e.referer);
    json_field("request_id", e.request_id);
    // The upstream attempts, as nginx lists them: "addr, addr", "502, 200", "0.001, 0.004".
    const UpstreamTrace* u = e.upstream;
    size_t shown = u ? std::min<size_t>(u->count, UpstreamTrace::kMax) : 0;
    bool more = u && u->count > UpstreamTrace::kMax;
    o += ",\"upstream_addr\":\"";
    for (size_t i = 0; i < shown; ++i) {
        if (i) o += ", ";
        o.set_escape(Mode::Json);
        o += u->attempts[i].addr;
        o.set_escape(Mode::None);
    }
    if (more) o += ", ...";
    o += "\",\"upstream_status\":\"";
    for (size_t i = 0; i < shown; ++i) {
        if (i) o += ", ";
        o.number(static_cast<uint64_t>(std::max(u->attempts[i].status, 0)));
    }
    if (more) o += ", ...";
    o += "\",\"upstream_response_time\":\"";
    for (size_t i = 0; i < shown; ++i) {
        if (i) o += ", ";
        write_seconds(o, u->attempts[i].micros + 500, 3);  // rounded, as %.3f was
    }
    if (more) o += ", ...";
    o += "\",\"generation\":";
    o.number(e.generation);
    o += "}\n";
}

// nginx's combined format; every field that comes from the request is escaped (\xHH).
// $remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
void AccessLog::write_combined(const AccessLogEntry& e) {
    TextWriter& o = out_;
    if (e.remote_addr.empty())
        o += '-';
    else
        o += e.remote_addr;
    o += " - - [";
    write_time_local(o);
    o += "] \"";
    o.set_escape(Mode::Log);
    o += e.method;
    o.set_escape(Mode::None);
    o += ' ';
    o.set_escape(Mode::Log);
    append_redacted_target(o, e.uri, logs_);
    o.set_escape(Mode::None);
    o += e.http2 ? std::string_view(" HTTP/2.") : std::string_view(" HTTP/1.");
    o += static_cast<char>('0' + (e.http2 ? 0 : e.version_minor));
    o += "\" ";
    o.number(static_cast<uint64_t>(std::max(e.status, 0)));
    o += ' ';
    o.number(e.body_bytes_sent);
    o += " \"";
    auto header_or_dash = [&](std::string_view name, std::string_view value) {
        uint64_t at = o.size();
        o.set_escape(Mode::Log);
        append_redacted_header(o, name, value, logs_);
        o.set_escape(Mode::None);
        if (o.size() == at) o += '-';
    };
    header_or_dash("referer", e.referer);
    o += "\" \"";
    header_or_dash("user-agent", e.user_agent);
    o += "\"\n";
}

}  // namespace gw::http
