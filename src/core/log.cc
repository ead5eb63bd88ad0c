#include "core/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

namespace gw {

namespace {

constexpr std::string_view kLevelNames[] = {"emerg", "alert", "crit",   "error",
                                            "warn",  "notice", "info", "debug"};

struct LoggerState {
    int fd = STDERR_FILENO;
    std::string path;  // empty = stderr
    LogLevel level = LogLevel::Notice;
};

LoggerState& state() {
    static LoggerState s;
    return s;
}

int open_log_file(const std::string& path) {
    if (path.empty() || path == "stderr") return STDERR_FILENO;
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

}  // namespace

std::string_view log_level_name(LogLevel level) { return kLevelNames[static_cast<int>(level)]; }

std::optional<LogLevel> parse_log_level(std::string_view name) {
    for (size_t i = 0; i < std::size(kLevelNames); ++i)
        if (kLevelNames[i] == name) return static_cast<LogLevel>(i);
    return std::nullopt;
}

namespace log {

bool open(const std::string& path, LogLevel level) {
    int fd = open_log_file(path);
    if (fd < 0) return false;
    LoggerState& s = state();
    if (s.fd != STDERR_FILENO && s.fd != fd) ::close(s.fd);
    s.fd = fd;
    s.path = (path == "stderr") ? std::string() : path;
    s.level = level;
    return true;
}

bool reopen() {
    LoggerState& s = state();
    if (s.path.empty()) return true;
    int fd = open_log_file(s.path);
    if (fd < 0) return false;
    // dup2 keeps the descriptor number, so a stderr redirected to the log follows the new file.
    if (::dup2(fd, s.fd) < 0) {
        ::close(fd);
        return false;
    }
    ::close(fd);
    return true;
}

void set_level(LogLevel level) { state().level = level; }
bool enabled(LogLevel level) { return level <= state().level; }
int fd() { return state().fd; }
const std::string& path() { return state().path; }

void vwrite(LogLevel level, const char* fmt, va_list ap) {
    int saved_errno = errno;
    char buf[4096];
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(buf, sizeof buf, "%04d/%02d/%02d %02d:%02d:%02d [%.*s] %d#0: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     static_cast<int>(log_level_name(level).size()), log_level_name(level).data(),
                     static_cast<int>(getpid()));
    int m = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    size_t len = n + (m < 0 ? 0 : std::min<size_t>(m, sizeof buf - n - 2));
    buf[len++] = '\n';
    // One write per line with O_APPEND: lines of different processes never interleave.
    ssize_t w = ::write(state().fd, buf, len);
    (void)w;
    errno = saved_errno;
}

void write(LogLevel level, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, fmt, ap);
    va_end(ap);
}

}  // namespace log
}  // namespace gw
