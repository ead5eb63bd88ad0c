#include "core/process/upgrade.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace gw::process {

namespace {

std::vector<std::string> g_command_line;

bool parse_int(std::string_view s, int& out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && out >= 0;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    for (;;) {
        size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
        if (p == std::string_view::npos) return out;
        start = p + 1;
    }
}

bool valid_zone_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

std::string find_in_path(const std::string& name) {
    const char* path = getenv("PATH");
    if (!path) return name;
    for (std::string_view dir : split(path, ':')) {
        std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return name;
}

}  // namespace

std::string encode_inheritance(const Inheritance& in) {
    std::string s = "v1;parent=" + std::to_string(in.parent);
    if (!in.listeners.empty()) {
        s += ";listen=";
        for (size_t i = 0; i < in.listeners.size(); ++i) {
            if (i) s += ',';
            s += std::to_string(in.listeners[i]);
        }
    }
    for (const auto& [name, fd] : in.zones) s += ";zone=" + name + ":" + std::to_string(fd);
    return s;
}

bool parse_inheritance(const std::string& text, Inheritance& out, std::string& error) {
    out = {};
    std::vector<std::string_view> parts = split(text, ';');
    if (parts.empty() || parts[0] != "v1") {
        error = "unknown format (expected \"v1;...\")";
        return false;
    }
    for (size_t i = 1; i < parts.size(); ++i) {
        std::string_view part = parts[i];
        size_t eq = part.find('=');
        if (eq == std::string_view::npos) {
            error = "item without '=': \"" + std::string(part) + "\"";
            return false;
        }
        std::string_view key = part.substr(0, eq), value = part.substr(eq + 1);
        if (key == "parent") {
            int pid;
            if (!parse_int(value, pid) || pid == 0) {
                error = "bad parent pid \"" + std::string(value) + "\"";
                return false;
            }
            out.parent = pid;
        } else if (key == "listen") {
            for (std::string_view fd_text : split(value, ',')) {
                int fd;
                if (!parse_int(fd_text, fd) || fd < 3) {
                    error = "bad listener descriptor \"" + std::string(fd_text) + "\"";
                    return false;
                }
                out.listeners.push_back(fd);
            }
        } else if (key == "zone") {
            size_t colon = value.rfind(':');
            int fd;
            if (colon == std::string_view::npos || !valid_zone_name(value.substr(0, colon)) ||
                !parse_int(value.substr(colon + 1), fd) || fd < 3) {
                error = "bad zone \"" + std::string(value) + "\"";
                return false;
            }
            out.zones[std::string(value.substr(0, colon))] = fd;
        } else {
            error = "unknown item \"" + std::string(key) + "\"";
            return false;
        }
    }
    if (out.parent == 0) {
        error = "no parent pid";
        return false;
    }
    return true;
}

pid_t exec_new_binary(const std::vector<std::string>& argv, const Inheritance& in) {
    std::string env = std::string(kInheritEnv) + "=" + encode_inheritance(in);
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<int> keep = in.listeners;
    for (const auto& [name, fd] : in.zones) keep.push_back(fd);

    pid_t pid = fork();
    if (pid != 0) return pid;
    for (int fd : keep) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    putenv(env.data());
    // The signal mask (the master's signals, blocked for its signalfd) is kept on purpose: a
    // signal sent to the new master before it has set up its own signalfd waits instead of
    // killing it with the default action.
    execv(args[0], args.data());
    _exit(127);
}

void remember_command_line(int argc, char** argv) {
    g_command_line.assign(argv, argv + argc);
    if (g_command_line.empty()) return;
    std::string& exe = g_command_line[0];
    if (exe.find('/') == std::string::npos) {
        exe = find_in_path(exe);
    } else if (exe[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) exe = std::string(cwd) + "/" + exe;
    }
}

const std::vector<std::string>& startup_command_line() { return g_command_line; }

}  // namespace gw::process
