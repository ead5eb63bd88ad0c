// Binary upgrade (USR2): the running master execs the binary on disk as a child, and hands it
// the listening sockets and the shared-memory zones by inheritance — the descriptors stay open
// across fork and exec, and one environment variable says which is which:
//
//   GATEWAYD_INHERIT="v1;parent=PID;listen=FD,FD,...;zone=NAME:FD;zone=NAME:FD"
//
// Listening sockets are listed in the order of their socket numbers within each address (the
// new master groups them again by the address the kernel reports for each, so the list need not
// be trusted to say it). A zone is adopted with its contents when its layout version matches
// the new binary's; otherwise the new master creates it afresh and says so.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace gw::process {

constexpr const char* kInheritEnv = "GATEWAYD_INHERIT";

struct Inheritance {
    pid_t parent = 0;                   // the old master
    std::vector<int> listeners;         // in socket-number order per address
    std::map<std::string, int> zones;   // by zone name
};

std::string encode_inheritance(const Inheritance& in);
// False with `error` set when `text` is not a valid inheritance string.
bool parse_inheritance(const std::string& text, Inheritance& out, std::string& error);

// Forks and execs `argv` (argv[0] a path) with the descriptors of `in` kept open and
// GATEWAYD_INHERIT set. Returns the child's pid, or -1 with errno set when fork fails; a failed
// exec shows up as the child exiting with status 127.
pid_t exec_new_binary(const std::vector<std::string>& argv, const Inheritance& in);

// The command line this process was started with, with argv[0] made absolute (searched in PATH
// when it has no slash), recorded once at start-up so that a later exec finds the same file
// whatever the working directory has become.
void remember_command_line(int argc, char** argv);
const std::vector<std::string>& startup_command_line();

}  // namespace gw::process
