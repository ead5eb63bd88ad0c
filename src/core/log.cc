#include "core/log.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace gw {

namespace {

constexpr std::string_view kLevelNames[] = {"emerg", "alert", "crit",   "error",
                                            "warn",  "notice", "info", "debug"};

struct LoggerState {
    int fd = STDERR_FILENO;
    std::string path;  // empty = stderr
    LogLevel level = LogLevel::Notice;
    bool stderr_follows = false;  // fd 2 is pointed at the file on every (re)open
    int journal_fd = -1;          // datagram socket to the journal, under systemd
    sockaddr_un journal{};
    socklen_t journal_len = 0;
};

LoggerState& state() {
    static LoggerState s;
    return s;
}

int open_log_file(const std::string& path) {
    if (path.empty() || path == "stderr") return STDERR_FILENO;
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, log::kFileMode);
}

// The journal's native protocol: KEY=value lines in one datagram; MESSAGE in the binary-safe
// form (name, newline, 64-bit little-endian length, bytes, newline). `line` has no newline.
void send_to_journal(const LoggerState& s, LogLevel level, const char* line, size_t len) {
    char head[96];
    // syslog priorities: emerg 0, alert 1, crit 2 -- the same order as LogLevel.
    int n = snprintf(head, sizeof head, "PRIORITY=%d\nSYSLOG_IDENTIFIER=gatewayd\nSYSLOG_PID=%d\nMESSAGE\n",
                     static_cast<int>(level), static_cast<int>(getpid()));
    uint64_t size = len;
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(size >> (8 * i));
    iovec iov[4] = {{head, static_cast<size_t>(n)}, {le, sizeof le}, {const_cast<char*>(line), len},
                    {const_cast<char*>("\n"), 1}};
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr_un*>(&s.journal);
    msg.msg_namelen = s.journal_len;
    msg.msg_iov = iov;
    msg.msg_iovlen = 4;
    ssize_t w = ::sendmsg(s.journal_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;  // the journal being away must not stop the error log
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
    if (s.stderr_follows && fd != STDERR_FILENO) ::dup2(fd, STDERR_FILENO);
    return true;
}

void redirect_stderr() {
    LoggerState& s = state();
    s.stderr_follows = true;
    if (s.fd != STDERR_FILENO) ::dup2(s.fd, STDERR_FILENO);
}

void open_journal() {
    LoggerState& s = state();
    const char* path = getenv("GATEWAYD_JOURNAL_SOCKET");
    if (!path || !*path) {
        if (!getenv("INVOCATION_ID") && !getenv("JOURNAL_STREAM")) return;  // not under systemd
        path = "/run/systemd/journal/socket";
    }
    if (s.journal_fd >= 0 || strlen(path) >= sizeof s.journal.sun_path) return;
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    s.journal.sun_family = AF_UNIX;
    memcpy(s.journal.sun_path, path, strlen(path) + 1);
    s.journal_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + strlen(path) + 1);
    s.journal_fd = fd;
}

bool reopen() {
    LoggerState& s = state();
    if (s.path.empty()) return true;
    int fd = open_log_file(s.path);
    if (fd < 0) return false;
    // dup3 keeps the descriptor number (other code may hold it) and, unlike dup2, keeps it
    // close-on-exec: the log descriptor must not leak into a new binary (upgrade). stderr is
    // pointed at the new file as well when it was redirected to the log.
    if (::dup3(fd, s.fd, O_CLOEXEC) < 0) {
        ::close(fd);
        return false;
    }
    if (s.stderr_follows) ::dup2(fd, STDERR_FILENO);
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
    // Alerts reach the journal too (a log on stderr under systemd reaches it already).
    const LoggerState& s = state();
    if (level <= LogLevel::Crit && s.journal_fd >= 0 && s.fd != STDERR_FILENO)
        send_to_journal(s, level, buf + n, len - n - 1);
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
