#include "core/process/upgrade_command.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/process/pidfile.h"

namespace gw::process {

namespace {

void say(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gatewayd: upgrade: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

// /proc/PID/stat: "pid (comm) state ppid ...". comm may hold spaces and parentheses: parse from
// the last ')'.
bool read_stat(pid_t pid, char& state, pid_t& ppid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    size_t close = s.rfind(')');
    if (!in || close == std::string::npos || close + 4 >= s.size()) return false;
    state = s[close + 2];
    ppid = static_cast<pid_t>(atol(s.c_str() + close + 4));
    return true;
}

// Alive and not a zombie (a master that exited stays a zombie until its parent reaps it).
bool running(pid_t pid) {
    char state;
    pid_t ppid;
    return pid > 0 && read_stat(pid, state, ppid) && state != 'Z' && state != 'X';
}

std::vector<pid_t> live_children(pid_t parent) {
    std::vector<pid_t> out;
    DIR* d = opendir("/proc");
    if (!d) return out;
    while (struct dirent* e = readdir(d)) {
        char* end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        char state;
        pid_t ppid;
        if (read_stat(static_cast<pid_t>(pid), state, ppid) && ppid == parent && state != 'Z' && state != 'X')
            out.push_back(static_cast<pid_t>(pid));
    }
    closedir(d);
    return out;
}

std::string cmdline(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool has_master_child(pid_t parent) {
    for (pid_t child : live_children(parent))
        if (cmdline(child).find("worker process") == std::string::npos) return true;
    return false;
}

// Polls `done` every 50 ms until it holds or `ms` pass.
bool wait_for(Millis ms, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

pid_t pid_in(const std::string& path) {
    std::string ignored;
    return read_pid_file(path, ignored);
}

}  // namespace

int run_stop_command(const Config& config, int sig, bool wait) {
    const std::string& pid_path = config.pid_path;
    const std::string oldbin = pid_path + ".oldbin";
    std::vector<pid_t> masters;
    auto add = [&](pid_t p) {
        if (p > 0 && running(p) && is_running_gatewayd(p) &&
            std::find(masters.begin(), masters.end(), p) == masters.end())
            masters.push_back(p);
    };
    std::string error;
    pid_t current = read_pid_file(pid_path, error);
    add(current);
    if (pid_t old_master = pid_in(oldbin); old_master > 0 && running(old_master)) {
        add(old_master);
        for (pid_t child : live_children(old_master))
            if (cmdline(child).find("worker process") == std::string::npos) add(child);
    }
    if (masters.empty()) {
        if (current < 0)
            fprintf(stderr, "gatewayd: [error] %s (is gatewayd running?)\n", error.c_str());
        else
            fprintf(stderr, "gatewayd: [error] pid file %s names %d, which is not a running gatewayd\n",
                    pid_path.c_str(), current);
        return 1;
    }
    for (pid_t p : masters) {
        if (kill(p, sig) < 0 && errno != ESRCH) {
            fprintf(stderr, "gatewayd: [error] kill(%d, %d) failed: %s\n", p, sig, strerror(errno));
            return 1;
        }
    }
    if (!wait) return 0;
    // A graceful stop ends within shutdown_timeout, then the masters' backstop (SIGKILL to stuck
    // workers after 5 s more); a fast stop well before.
    Millis deadline = config.shutdown_timeout + 10000;
    bool gone = wait_for(deadline, [&] {
        return std::none_of(masters.begin(), masters.end(), [](pid_t p) { return running(p); });
    });
    if (!gone) {
        for (pid_t p : masters)
            if (running(p)) fprintf(stderr, "gatewayd: [error] master %d still running after %lld ms\n", p,
                                    static_cast<long long>(deadline));
        return 1;
    }
    return 0;
}

int run_upgrade_command(const Config& config) {
    const std::string& pid_path = config.pid_path;
    const std::string oldbin = pid_path + ".oldbin";
    std::string error;
    pid_t old_master = read_pid_file(pid_path, error);
    if (old_master < 0) {
        say("%s (is gatewayd running?)", error.c_str());
        return 1;
    }
    if (!is_running_gatewayd(old_master)) {
        say("pid file %s names %d, which is not a running gatewayd", pid_path.c_str(), old_master);
        return 1;
    }
    if (pid_t other = pid_in(oldbin); other > 0 && running(other)) {
        say("an upgrade is already in progress (%s names master %d)", oldbin.c_str(), other);
        return 1;
    }

    // 1. USR2
    say("[1/4] SIGUSR2 to master %d: it starts the new binary", old_master);
    if (kill(old_master, SIGUSR2) < 0) {
        say("kill(%d, SIGUSR2) failed: %s", old_master, strerror(errno));
        return 1;
    }

    // 2. The new master writes the pid file once every one of its workers is ready. If it
    // fails, the old master puts its own pid file back.
    pid_t new_master = -1;
    bool restored = false;
    bool seen_upgrade = false;
    auto started = std::chrono::steady_clock::now();
    Millis ready_wait = config.worker_ready_timeout + 10000;
    bool ready = wait_for(ready_wait, [&] {
        pid_t p = pid_in(pid_path);
        if (p > 0 && p != old_master && running(p)) {
            new_master = p;
            return true;
        }
        // The upgrade shows as the renamed pid file or the new master (a child of the old one
        // that is not a worker). Neither, once it had started (or after a second), means the
        // new binary failed and the old master has taken its pid file back.
        if (access(oldbin.c_str(), F_OK) == 0 || has_master_child(old_master)) {
            seen_upgrade = true;
        } else if (seen_upgrade || std::chrono::steady_clock::now() - started > std::chrono::seconds(1)) {
            restored = true;
            return true;
        }
        return !running(old_master);
    });
    if (!running(old_master) && new_master < 0) {
        say("master %d exited during the upgrade", old_master);
        return 1;
    }
    if (restored) {
        say("the new binary did not start (see the error log); master %d carries on", old_master);
        return 1;
    }
    if (!ready) {
        say("no new master was ready within %lld ms; rolling back (SIGHUP to master %d)",
            static_cast<long long>(ready_wait), old_master);
        kill(old_master, SIGHUP);
        wait_for(10000, [&] { return pid_in(pid_path) == old_master; });
        return 1;
    }
    say("[2/4] new master %d is ready: its workers serve", new_master);

    // 3. WINCH: the old workers drain like on a reload.
    say("[3/4] SIGWINCH to old master %d: its workers drain", old_master);
    if (kill(old_master, SIGWINCH) < 0) {
        say("kill(%d, SIGWINCH) failed: %s", old_master, strerror(errno));
        return 1;
    }
    Millis drain_wait = config.shutdown_timeout + 10000;
    bool drained = wait_for(drain_wait, [&] {
        if (!running(new_master)) return true;
        for (pid_t child : live_children(old_master))
            if (child != new_master) return false;
        return true;
    });
    if (!running(new_master)) {
        say("new master %d exited during the drain; master %d takes over again (it restarts its workers)",
            new_master, old_master);
        return 1;
    }
    if (!drained)
        say("old workers still running after %lld ms; asking the old master to quit anyway",
            static_cast<long long>(drain_wait));
    else
        say("[3/4] the old workers are gone");

    // 4. QUIT the old master.
    say("[4/4] SIGQUIT to old master %d", old_master);
    if (kill(old_master, SIGQUIT) < 0 && errno != ESRCH) {
        say("kill(%d, SIGQUIT) failed: %s", old_master, strerror(errno));
        return 1;
    }
    if (!wait_for(drain_wait, [&] { return !running(old_master); })) {
        say("old master %d has not exited after %lld ms", old_master, static_cast<long long>(drain_wait));
        return 1;
    }
    if (!running(new_master) || pid_in(pid_path) != new_master) {
        say("new master %d is not running after the old one quit", new_master);
        return 1;
    }
    say("done: master %d serves", new_master);
    return 0;
}

}  // namespace gw::process
