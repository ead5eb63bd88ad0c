#include "core/process/proctitle.h"

#include <cstring>

extern char** environ;

namespace gw::process {

namespace {
char* title_start = nullptr;
size_t title_space = 0;
std::string command_line;
}  // namespace

void init_proctitle(int argc, char** argv) {
    for (int i = 0; i < argc; ++i) {
        if (i) command_line += ' ';
        command_line += argv[i];
    }
    if (argc == 0) return;
    // The usable area is argv[0] up to the end of the last contiguous argv/environ string.
    char* end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; ++i)
        if (argv[i] == end) end = argv[i] + strlen(argv[i]) + 1;
    size_t env_count = 0;
    while (environ[env_count]) ++env_count;
    char** new_env = new char*[env_count + 1];
    for (size_t i = 0; i < env_count; ++i) {
        if (environ[i] == end) end = environ[i] + strlen(environ[i]) + 1;
        new_env[i] = strdup(environ[i]);
    }
    new_env[env_count] = nullptr;
    environ = new_env;
    // argv[1..] must stay readable for nothing else: getopt has run before this is called.
    title_start = argv[0];
    title_space = static_cast<size_t>(end - argv[0]);
}

void set_proctitle(const std::string& title) {
    // comm (/proc/PID/comm) stays "gatewayd" so that pgrep/pkill gatewayd keep working.
    if (!title_start || title_space < 2) return;
    size_t n = std::min(title.size(), title_space - 1);
    memcpy(title_start, title.data(), n);
    memset(title_start + n, 0, title_space - n);
}

const std::string& original_command_line() { return command_line; }

}  // namespace gw::process
