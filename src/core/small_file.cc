#include "core/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gw {

namespace {

std::string size_text(uint64_t bytes) {
    if (bytes % (1024 * 1024) == 0) return std::to_string(bytes >> 20) + "m";
    return std::to_string(bytes >> 10) + "k";
}

}  // namespace

bool read_small_file(const std::string& path, uint64_t limit, std::string& out, std::string& why) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = strerror(errno);
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > limit) {
        why = !S_ISREG(st.st_mode) ? "not a regular file" : "larger than " + size_text(limit);
        ::close(fd);
        return false;
    }
    out.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < out.size()) {
        ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    out.resize(got);
    return true;
}

}  // namespace gw
