#include "core/process/pidfile.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gw::process {

bool write_pid_file(const std::string& path, pid_t pid, std::string& error) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = "cannot create pid file \"" + tmp + "\": " + strerror(errno);
        return false;
    }
    std::string text = std::to_string(pid) + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = (::close(fd) == 0) && ok;
    if (!ok || rename(tmp.c_str(), path.c_str()) < 0) {
        error = "cannot write pid file \"" + path + "\": " + strerror(errno);
        unlink(tmp.c_str());
        return false;
    }
    return true;
}

pid_t read_pid_file(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot open pid file \"" + path + "\": " + strerror(errno);
        return -1;
    }
    long pid = 0;
    if (!(in >> pid) || pid <= 0) {
        error = "invalid pid file \"" + path + "\"";
        return -1;
    }
    return static_cast<pid_t>(pid);
}

void remove_pid_file(const std::string& path, pid_t pid) {
    std::string error;
    if (read_pid_file(path, error) == pid) unlink(path.c_str());
}

bool is_running_gatewayd(pid_t pid) {
    if (kill(pid, 0) < 0 && errno != EPERM) return false;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str().find("gatewayd") != std::string::npos;
}

}  // namespace gw::process
