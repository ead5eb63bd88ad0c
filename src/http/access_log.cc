#include "http/access_log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "core/log.h"
#include "http/response.h"

namespace gw::http {

namespace {

constexpr std::array<std::string_view, 9> kSecretParams = {
    "token", "access_token", "api_key", "apikey", "key", "password", "secret", "signature", "sig"};

bool is_secret(std::string_view name) {
    for (std::string_view s : kSecretParams) {
        if (s.size() != name.size()) continue;
        bool same = true;
        for (size_t i = 0; i < s.size() && same; ++i)
            same = tolower(static_cast<unsigned char>(name[i])) == s[i];
        if (same) return true;
    }
    return false;
}

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

void append_redacted_uri(std::string& out, std::string_view uri) {
    size_t q = uri.find('?');
    if (q == std::string_view::npos) {
        out += uri;
        return;
    }
    out += uri.substr(0, q + 1);
    std::string_view query = uri.substr(q + 1);
    bool first = true;
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view param = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (!first) out += '&';
        first = false;
        size_t eq = param.find('=');
        if (eq != std::string_view::npos && is_secret(param.substr(0, eq))) {
            out += param.substr(0, eq + 1);
            out += "REDACTED";
        } else {
            out += param;
        }
    }
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
    std::string& o = buf_;
    char num[64];
    if (config_.format == AccessLogConfig::Format::Json) {
        o += "{\"time\":\"";
        append_iso_time(o);
        o += "\",\"remote_addr\":\"";
        append_json_escaped(o, e.remote_addr);
        o += "\",\"method\":\"";
        append_json_escaped(o, e.method);
        o += "\",\"uri\":\"";
        scratch_.clear();  // reused: no allocation per line once it has grown
        append_redacted_uri(scratch_, e.uri);
        append_json_escaped(o, scratch_);
        o += "\",\"protocol\":\"HTTP/1.";
        o += static_cast<char>('0' + e.version_minor);
        int n = snprintf(num, sizeof num, "\",\"status\":%d,\"body_bytes_sent\":%llu,\"request_time\":%.6f",
                         e.status, static_cast<unsigned long long>(e.body_bytes_sent), e.request_time);
        o.append(num, n);
        o += ",\"route\":\"";
        append_json_escaped(o, e.route);
        o += "\",\"host\":\"";
        append_json_escaped(o, e.host);
        o += "\",\"user_agent\":\"";
        append_json_escaped(o, e.user_agent);
        o += "\",\"referer\":\"";
        append_json_escaped(o, e.referer);
        n = snprintf(num, sizeof num, "\",\"generation\":%u}\n", e.generation);
        o.append(num, n);
    } else {
        // $remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
        append_or_dash(o, e.remote_addr);
        o += " - - [";
        append_clf_time(o);
        o += "] \"";
        o += e.method;
        o += ' ';
        append_redacted_uri(o, e.uri);
        o += " HTTP/1.";
        o += static_cast<char>('0' + e.version_minor);
        int n = snprintf(num, sizeof num, "\" %d %llu \"", e.status,
                         static_cast<unsigned long long>(e.body_bytes_sent));
        o.append(num, n);
        append_or_dash(o, e.referer);
        o += "\" \"";
        append_or_dash(o, e.user_agent);
        o += "\"\n";
    }
    if (o.size() >= config_.buffer) flush();
}

}  // namespace gw::http
