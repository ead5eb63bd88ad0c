// The pid file: written atomically (temporary file + rename), removed on exit.
#pragma once

#include <sys/types.h>

#include <string>

namespace gw::process {

bool write_pid_file(const std::string& path, pid_t pid, std::string& error);
void remove_pid_file(const std::string& path, pid_t pid);  // only if it still names `pid`
// The pid in the file, or -1 (with `error` set) when missing or unreadable.
pid_t read_pid_file(const std::string& path, std::string& error);
// True when `pid` is a live gatewayd process (guards against a stale file naming a reused pid).
bool is_running_gatewayd(pid_t pid);

}  // namespace gw::process
