// gatewayd: the command line, as nginx's, so operators' habits work.
//   gatewayd [-c file] [-p prefix] [-t] [-T] [-q] [-s signal [-w]] [-F] [-v] [-V] [-h]

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "core/config/config.h"
#include "core/log.h"
#include "core/process/listeners.h"
#include "core/process/master.h"
#include "core/process/pidfile.h"
#include "core/process/proctitle.h"
#include "core/process/upgrade.h"
#include "core/process/upgrade_command.h"
#include "core/version.h"

using namespace gw;

namespace {

struct Options {
    std::string conf;
    std::string prefix;
    bool test = false;
    bool dump = false;
    bool quiet = false;
    bool foreground = false;
    std::string signal;
    bool wait = false;  // -w: with -s stop or quit, until every master has exited
};

void usage(FILE* out) {
    fprintf(out,
            "Usage: gatewayd [-c file] [-p prefix] [-t] [-T] [-q] [-s signal [-w]] [-F] [-v] [-V] [-h]\n"
            "\n"
            "Options:\n"
            "  -c file    configuration file (default: " GW_CONF_PATH ")\n"
            "  -p prefix  prefix for relative paths in the configuration (default: " GW_PREFIX ")\n"
            "  -t         test the configuration and exit\n"
            "  -T         test the configuration, print the effective configuration, and exit\n"
            "  -q         print only errors while testing the configuration\n"
            "  -s signal  send a signal to the master process: stop, quit, reload, reopen;\n"
            "             or upgrade: the whole binary upgrade (USR2, WINCH, QUIT), step by step;\n"
            "             stop and quit reach both masters while an upgrade runs; reload\n"
            "             first runs the whole -t check and refuses to signal if it fails\n"
            "  -w         with -s stop or quit: wait until every master has exited\n"
            "  -F         stay in the foreground (as daemon: false)\n"
            "  -v         print the version and exit\n"
            "  -V         print the version, compiler, build options and libraries, and exit\n"
            "  -h         print this help and exit\n");
}

std::string absolute(const std::string& path) {
    if (path.empty() || path[0] == '/') return path;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return path;
    return std::string(cwd) + "/" + path;
}

void print_diagnostics(const Diagnostics& diags) {
    for (const Diagnostic& d : diags.all())
        fprintf(stderr, "gatewayd: [%s] %s\n", d.severity == Diagnostic::Severity::Error ? "emerg" : "warn",
                d.str().c_str());
}

// Everything a start (or a reload) would check, without starting: the file, then that every
// listener can be bound -- also when the file has other errors, with the listeners that could be
// read, so that one run reports every problem -- and, for a valid file, that the logs open.
// Listeners bound by the running gatewayd count as bindable (see check_listeners_bindable).
// Prints every diagnostic; returns the configuration when there is no error.
std::optional<Config> check_config(const Options& o) {
    Diagnostics diags;
    Config partial;
    std::optional<Config> config = load_config(o.conf, o.prefix, diags, &partial);
    process::check_listeners_bindable(config ? *config : partial, diags);
    if (config) {
        for (const std::string& path : {config->error_log.path, config->access_log.path}) {
            if (path.empty() || path == "stderr") continue;
            if (path == config->access_log.path && !config->access_log.enabled) continue;
            int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, log::kFileMode);
            if (fd < 0)
                diags.error(Mark{}, "cannot open log file \"" + path + "\": " + strerror(errno));
            else
                close(fd);
        }
    }
    diags.sort(config ? config->files : partial.files);  // in the order of the files
    print_diagnostics(diags);
    if (diags.has_errors()) return std::nullopt;
    return config;
}

// -t / -T
int test_config(const Options& o) {
    std::optional<Config> config = check_config(o);
    std::string file = absolute(o.conf);
    if (!config) {
        fprintf(stderr, "gatewayd: configuration file %s test failed\n", file.c_str());
        return 1;
    }
    if (!o.quiet) {
        fprintf(stderr, "gatewayd: the configuration file %s syntax is ok\n", file.c_str());
        fprintf(stderr, "gatewayd: configuration file %s test is successful\n", file.c_str());
    }
    if (o.dump) fputs(dump_config(*config).c_str(), stdout);
    return 0;
}

int send_signal(const Options& o) {
    int sig;
    if (o.signal == "stop") sig = SIGTERM;
    else if (o.signal == "quit") sig = SIGQUIT;
    else if (o.signal == "reload") sig = SIGHUP;
    else if (o.signal == "reopen") sig = SIGUSR1;
    else if (o.signal == "upgrade") sig = SIGUSR2;
    else {
        fprintf(stderr, "gatewayd: invalid option: \"-s %s\" (use stop, quit, reload, reopen or upgrade)\n",
                o.signal.c_str());
        return 2;
    }
    std::optional<Config> config;
    if (sig == SIGHUP) {
        // A reload runs the whole -t check first: a file the master would refuse is refused here,
        // where the operator sees why, and the running configuration stays.
        config = check_config(o);
        if (!config) {
            fprintf(stderr,
                    "gatewayd: configuration file %s test failed: reload refused, SIGHUP not sent; "
                    "the running gatewayd keeps its configuration\n",
                    absolute(o.conf).c_str());
            return 1;
        }
    } else {
        Diagnostics diags;
        Config partial;
        config = load_config(o.conf, o.prefix, diags, &partial);
        if (!config) {
            diags.sort(partial.files);
            print_diagnostics(diags);
            return 1;
        }
    }
    if (sig == SIGUSR2) return process::run_upgrade_command(*config);
    if (sig == SIGTERM || sig == SIGQUIT) return process::run_stop_command(*config, sig, o.wait);
    std::string error;
    pid_t pid = process::read_pid_file(config->pid_path, error);
    if (pid < 0) {
        fprintf(stderr, "gatewayd: [error] %s (is gatewayd running?)\n", error.c_str());
        return 1;
    }
    if (kill(pid, sig) < 0) {
        fprintf(stderr, "gatewayd: [error] kill(%d, %d) failed: %s\n", pid, sig, strerror(errno));
        return 1;
    }
    return 0;
}

// Forks into the background. The parent waits until the child reports that it is serving (one
// byte on a pipe), so the exit status of `gatewayd` tells whether the start worked.
// Returns the descriptor the child writes its status to, or -1 when not daemonizing.
int daemonize() {
    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) < 0) {
        fprintf(stderr, "gatewayd: [emerg] pipe() failed: %s\n", strerror(errno));
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "gatewayd: [emerg] fork() failed: %s\n", strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(status_pipe[1]);
        char ok = 0;
        ssize_t n = read(status_pipe[0], &ok, 1);
        _exit(n == 1 && ok == 1 ? 0 : 1);
    }
    close(status_pipe[0]);
    setsid();
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        if (devnull > 2) close(devnull);
    }
    return status_pipe[1];
}

int start(const Options& o) {
    // A master started by a binary upgrade (USR2) inherits the old master's sockets and zones.
    std::optional<process::Inheritance> inherited;
    if (const char* text = getenv(process::kInheritEnv)) {
        process::Inheritance in;
        std::string why;
        if (!process::parse_inheritance(text, in, why)) {
            fprintf(stderr, "gatewayd: [emerg] invalid %s: %s\n", process::kInheritEnv, why.c_str());
            return 1;
        }
        unsetenv(process::kInheritEnv);  // not for our workers, nor a later upgrade
        inherited = std::move(in);
    }

    Diagnostics diags;
    Config partial;
    std::optional<Config> loaded = load_config(o.conf, o.prefix, diags, &partial);
    diags.sort(loaded ? loaded->files : partial.files);
    print_diagnostics(diags);
    if (!loaded) return 1;
    auto config = std::make_shared<const Config>(std::move(*loaded));

    std::string error;
    pid_t running = process::read_pid_file(config->pid_path, error);
    if (!inherited && running > 0 && running != getpid() && process::is_running_gatewayd(running)) {
        fprintf(stderr, "gatewayd: [emerg] already running (pid %d, pid file %s)\n", running,
                config->pid_path.c_str());
        return 1;
    }
    if (!log::open(config->error_log.path, config->error_log.level)) {
        fprintf(stderr, "gatewayd: [emerg] cannot open error log \"%s\": %s\n", config->error_log.path.c_str(),
                strerror(errno));
        return 1;
    }
    log::open_journal();

    // Every signal the master handles is taken through its signalfd; block them before any fork.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);

    process::MasterOptions mo{o.conf, o.prefix, config->pid_path, inherited};
    process::Master master(mo, config);
    if (!master.prepare()) {
        if (log::fd() != STDERR_FILENO) fprintf(stderr, "gatewayd: [emerg] cannot start, see %s\n", log::path().c_str());
        return 1;
    }
    // An upgraded master is already where the old one was (a daemon, or not): no second fork.
    bool daemon = config->daemon && !o.foreground && !inherited;
    int status_fd = daemon ? daemonize() : -1;
    // A daemon's stderr is its error log, and follows it when it is reopened (USR1). A master
    // started by an upgrade of a daemon is one too (its stderr is the old master's).
    if (config->daemon && !o.foreground) log::redirect_stderr();

    // An upgraded master writes its pid file once its workers are ready (Master does it).
    if (!inherited) {
        if (!process::write_pid_file(config->pid_path, getpid(), error)) {
            LOG_EMERG("%s", error.c_str());
            return 1;
        }
        master.set_pid_file(config->pid_path);
    }
    if (status_fd >= 0) {
        char ok = 1;
        ssize_t n = write(status_fd, &ok, 1);
        (void)n;
        close(status_fd);
    }
    int code = master.run();
    if (!master.pid_file().empty()) process::remove_pid_file(master.pid_file(), getpid());
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::string prefix_arg, conf_arg;
    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "c:p:tTqs:FwvVh")) != -1) {
        switch (c) {
            case 'c': conf_arg = optarg; break;
            case 'p': prefix_arg = optarg; break;
            case 't': o.test = true; break;
            case 'T': o.test = o.dump = true; break;
            case 'q': o.quiet = true; break;
            case 's': o.signal = optarg; break;
            case 'F': o.foreground = true; break;
            case 'w': o.wait = true; break;
            case 'v': printf("%s\n", version_line().c_str()); return 0;
            case 'V': fputs(build_info().c_str(), stdout); return 0;
            case 'h': usage(stdout); return 0;
            default:
                if (optopt == 'c' || optopt == 'p' || optopt == 's')
                    fprintf(stderr, "gatewayd: option \"-%c\" requires an argument\n", optopt);
                else
                    fprintf(stderr, "gatewayd: invalid option: \"-%c\"\n", optopt);
                usage(stderr);
                return 2;
        }
    }
    if (o.wait && o.signal != "stop" && o.signal != "quit") {
        fprintf(stderr, "gatewayd: option \"-w\" goes with \"-s stop\" or \"-s quit\"\n");
        usage(stderr);
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "gatewayd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    o.prefix = absolute(prefix_arg.empty() ? GW_PREFIX : prefix_arg);
    while (o.prefix.size() > 1 && o.prefix.back() == '/') o.prefix.pop_back();
    // -c is relative to the current directory; without -c, the configured path, or
    // PREFIX/conf/gateway.conf when -p was given.
    if (!conf_arg.empty())
        o.conf = absolute(conf_arg);
    else if (!prefix_arg.empty())
        o.conf = o.prefix + "/conf/gateway.conf";
    else
        o.conf = GW_CONF_PATH;

    process::remember_command_line(argc, argv);  // before init_proctitle may move argv
    process::init_proctitle(argc, argv);
    if (o.test) return test_config(o);
    if (!o.signal.empty()) return send_signal(o);
    return start(o);
}
