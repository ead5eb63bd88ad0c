// The error log: nginx-style lines "2026/11/22 07:48:00 [error] 1234#0: message".
// One process-wide logger; the master and each worker write through it with O_APPEND, so lines
// from different processes never interleave within a line.
#pragma once

#include <cstdarg>
#include <optional>
#include <string>
#include <string_view>

namespace gw {

enum class LogLevel { Emerg, Alert, Crit, Error, Warn, Notice, Info, Debug };

std::string_view log_level_name(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view name);

namespace log {

// Log files are created rw-r----- (umask aside): requests' URIs, addresses and headers are not
// for every local user.
constexpr int kFileMode = 0640;

// Opens (or reopens, for USR1) the error log. "stderr" or an empty path writes to fd 2.
// Returns false with errno set when the file cannot be opened; the previous target stays.
bool open(const std::string& path, LogLevel level);
bool reopen();
// Points stderr (fd 2) at the error log file, now and after every later open() or reopen(), so
// that what a child writes to stderr (a new binary that fails to start) lands in the current
// file, not in a rotated or deleted one. Nothing happens while the log is stderr itself.
void redirect_stderr();
// Under systemd (INVOCATION_ID or JOURNAL_STREAM set), emerg, alert and crit lines also go to
// the journal as native datagrams on /run/systemd/journal/socket; GATEWAYD_JOURNAL_SOCKET names
// another socket (tests). Call once, before forking workers; a no-op outside systemd.
void open_journal();
void set_level(LogLevel level);
bool enabled(LogLevel level);
int fd();  // the current error log descriptor (for redirecting stderr after daemonizing)
const std::string& path();

void write(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vwrite(LogLevel level, const char* fmt, va_list ap);

}  // namespace log

#define GW_LOG(level, ...)                                 \
    do {                                                   \
        if (::gw::log::enabled(level)) ::gw::log::write(level, __VA_ARGS__); \
    } while (0)
#define LOG_EMERG(...) GW_LOG(::gw::LogLevel::Emerg, __VA_ARGS__)
#define LOG_ALERT(...) GW_LOG(::gw::LogLevel::Alert, __VA_ARGS__)
#define LOG_CRIT(...) GW_LOG(::gw::LogLevel::Crit, __VA_ARGS__)
#define LOG_ERROR(...) GW_LOG(::gw::LogLevel::Error, __VA_ARGS__)
#define LOG_WARN(...) GW_LOG(::gw::LogLevel::Warn, __VA_ARGS__)
#define LOG_NOTICE(...) GW_LOG(::gw::LogLevel::Notice, __VA_ARGS__)
#define LOG_INFO(...) GW_LOG(::gw::LogLevel::Info, __VA_ARGS__)
#define LOG_DEBUG(...) GW_LOG(::gw::LogLevel::Debug, __VA_ARGS__)

}  // namespace gw
