#include "core/process/worker.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "core/process/channel.h"
#include "core/process/proctitle.h"
#include "core/services/registry.h"
#include "event/loop.h"
#include "http/access_log.h"
#include "http/server.h"

namespace gw::process {

void close_fds_except(const std::vector<int>& keep) {
    std::vector<int> fds;
    if (DIR* d = opendir("/proc/self/fd")) {
        int self = dirfd(d);
        while (struct dirent* e = readdir(d)) {
            int fd = atoi(e->d_name);
            if (fd > 2 && fd != self) fds.push_back(fd);
        }
        closedir(d);
    }
    for (int fd : fds)
        if (std::find(keep.begin(), keep.end(), fd) == keep.end()) close(fd);
}

namespace {

bool drop_privileges(const Config& cfg) {
    if (geteuid() != 0 || cfg.user.empty()) return true;
    struct passwd* pw = getpwnam(cfg.user.c_str());
    if (!pw) {
        LOG_EMERG("getpwnam(\"%s\") failed", cfg.user.c_str());
        return false;
    }
    gid_t gid = pw->pw_gid;
    if (!cfg.group.empty()) {
        struct group* gr = getgrnam(cfg.group.c_str());
        if (!gr) {
            LOG_EMERG("getgrnam(\"%s\") failed", cfg.group.c_str());
            return false;
        }
        gid = gr->gr_gid;
    }
    if (setgid(gid) < 0 || initgroups(cfg.user.c_str(), gid) < 0 || setuid(pw->pw_uid) < 0) {
        LOG_EMERG("cannot switch to user \"%s\": %m", cfg.user.c_str());
        return false;
    }
    return true;
}

class Worker {
  public:
    explicit Worker(const WorkerSpec& spec) : spec_(spec), access_log_(spec.config->access_log, spec.config->logs) {}

    int run();

  private:
    struct FdHandler : event::IoHandler {
        std::function<void(uint32_t)> fn;
        void on_io(uint32_t ev) override { fn(ev); }
    };

    void on_signal();
    void on_channel();
    void drain(const char* why);
    void retire();
    void reopen_logs();
    shm::Zone* zone(std::string_view name) const {
        auto it = spec_.zones.find(name);
        return it == spec_.zones.end() ? nullptr : it->second;
    }

    const WorkerSpec& spec_;
    event::Loop loop_;
    http::AccessLog access_log_;
    std::unique_ptr<metrics::Store> metrics_;
    std::unique_ptr<services::Registry> services_;  // made in run(), destroyed after the parts
    // The modules' parts, parallel to module::modules(); made before the server and destroyed
    // after it (the server and its proxy use what they provide).
    std::vector<std::unique_ptr<module::WorkerPart>> parts_;
    http::WorkerContext ctx_;
    std::unique_ptr<http::Server> server_;
    int signal_fd_ = -1;
    FdHandler signal_handler_, channel_handler_;
    event::Timer shutdown_timer_, flush_timer_;
    bool draining_ = false;
    event::Millis shutdown_deadline_ = 0;  // when shutdown_timer_ fires (loop clock)
};

// A retired worker's requests in progress get at most this long before they are cut.
constexpr event::Millis kRetireGrace = 5000;

int Worker::run() {
    const Config& cfg = *spec_.config;
    WorkerSlot& slot = spec_.board->slots[spec_.board_slot];
    slot.pid.store(getpid());

    if (!access_log_.open()) {
        LOG_EMERG("cannot open access log \"%s\": %m", cfg.access_log.path.c_str());
        return 2;
    }
    if (!drop_privileges(cfg)) return 2;

    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
    signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0 || !loop_.ok()) {
        LOG_EMERG("worker setup failed: %m");
        return 2;
    }

    metrics_ = std::make_unique<metrics::Store>(*zone("metrics"));
    // Gauges this worker moves are also kept in a ledger the master can settle if we die.
    metrics_->set_ledger_home(&slot.gauge_ledger);
    services_ = std::make_unique<services::Registry>(loop_, cfg);
    module::WorkerEnv env{
        .config = cfg,
        .generation = spec_.generation,
        .loop = loop_,
        .metrics = *metrics_,
        .services = *services_,
        .zone = [this](std::string_view name) { return zone(name); },
        .slot = spec_.board_slot,
        .ask_master =
            [this](const module::Descriptor& d, uint16_t code) {
                send_message(spec_.channel_fd, Command::Ask, module::notification(d, code));
            },
    };
    if (!module::make_workers(env, parts_)) return 2;  // the module said why
    ctx_.config = &cfg;
    ctx_.generation = spec_.generation;
    ctx_.loop = &loop_;
    ctx_.board = spec_.board;
    ctx_.slot = &slot;
    ctx_.metrics = metrics_.get();
    ctx_.access_log = &access_log_;
    ctx_.services = services_.get();
    for (const std::unique_ptr<module::WorkerPart>& part : parts_) ctx_.modules.push_back(part.get());

    std::vector<http::Server::Listen> listens;
    for (const auto& l : spec_.listens) listens.push_back({l.fd, &cfg.listeners[l.listener]});
    server_ = std::make_unique<http::Server>(ctx_, std::move(listens));
    server_->on_drained = [this] { loop_.stop(); };
    if (!server_->start()) return 2;

    signal_handler_.fn = [this](uint32_t) { on_signal(); };
    channel_handler_.fn = [this](uint32_t) { on_channel(); };
    loop_.add(signal_fd_, EPOLLIN, &signal_handler_);
    loop_.add(spec_.channel_fd, EPOLLIN, &channel_handler_);

    if (access_log_.enabled()) {
        flush_timer_.set_callback([this] {
            access_log_.flush();
            loop_.arm(flush_timer_, spec_.config->access_log.flush);
        });
        loop_.arm(flush_timer_, cfg.access_log.flush);
    }
    shutdown_timer_.set_callback([this] {
        LOG_NOTICE("shutdown_timeout reached, closing %zu connections", server_->active());
        server_->close_all();
        loop_.stop();
    });

    slot.state.store(static_cast<uint32_t>(SlotState::Ready));
    send_message(spec_.channel_fd, Command::Ready, spec_.generation);
    loop_.run();

    // Last work of the modules on the loop (the tracing's buffered spans), each bounded.
    bool last_work = false;
    for (const std::unique_ptr<module::WorkerPart>& part : parts_)
        if (part && part->on_exit()) last_work = true;
    if (last_work) {
        loop_.cancel(shutdown_timer_);
        loop_.run();
    }

    access_log_.flush();
    server_.reset();
    return 0;
}

void Worker::on_signal() {
    struct signalfd_siginfo si;
    while (read(signal_fd_, &si, sizeof si) == sizeof si) {
        switch (si.ssi_signo) {
            case SIGQUIT: drain("SIGQUIT received"); break;
            case SIGTERM:
            case SIGINT:
                server_->close_all();
                loop_.stop();
                break;
            case SIGUSR1: reopen_logs(); break;
            default: break;  // HUP, USR2, WINCH are for the master
        }
    }
}

void Worker::on_channel() {
    Message m;
    for (;;) {
        int r = receive_message(spec_.channel_fd, m);
        if (r < 0) return;
        if (r == 0) {
            // The master is gone: finish what we are doing and leave, rather than serve orphaned.
            loop_.remove(spec_.channel_fd);
            drain("the master process exited");
            return;
        }
        switch (m.command) {
            case Command::Drain: drain("asked to drain"); break;
            case Command::Terminate:
                server_->close_all();
                loop_.stop();
                return;
            case Command::Reopen: reopen_logs(); break;
            case Command::Retire: retire(); break;
            case Command::Notify: module::deliver(parts_, m.arg); break;
            default: break;
        }
    }
}

void Worker::drain(const char* why) {
    if (draining_) return;
    draining_ = true;
    LOG_NOTICE("worker of generation %u draining (%s), %zu connections open", spec_.generation, why,
               server_->active());
    spec_.board->slots[spec_.board_slot].state.store(static_cast<uint32_t>(SlotState::Draining));
    set_proctitle("gatewayd: worker process (generation " + std::to_string(spec_.generation) + ", draining)");
    access_log_.flush();
    shutdown_deadline_ = loop_.now() + spec_.config->shutdown_timeout;
    loop_.arm(shutdown_timer_, spec_.config->shutdown_timeout);
    server_->drain();  // may call on_drained at once when no connection is open
}

// More generations are draining than max_draining_generations allows, and this one is the
// oldest: close what is idle now and do not wait for shutdown_timeout.
void Worker::retire() {
    drain("retired: too many generations draining");
    size_t before = server_->active();
    server_->retire();  // may call on_drained when the last connection closes
    LOG_NOTICE("worker of generation %u retired: closed %zu idle connections or tunnels, %zu requests finishing",
               spec_.generation, before - server_->active(), server_->active());
    event::Millis left = shutdown_deadline_ - loop_.now();
    if (left > kRetireGrace) {
        shutdown_deadline_ = loop_.now() + kRetireGrace;
        loop_.arm(shutdown_timer_, kRetireGrace);
    }
}

void Worker::reopen_logs() {
    if (!log::reopen()) LOG_ALERT("cannot reopen error log \"%s\": %m", log::path().c_str());
    if (access_log_.enabled() && !access_log_.reopen())
        LOG_ALERT("cannot reopen access log \"%s\": %m", spec_.config->access_log.path.c_str());
}

}  // namespace

void run_worker(const WorkerSpec& spec) {
    // If the master dies without a word, the channel's end-of-file tells us too; the death
    // signal is a second, independent path to the same graceful drain.
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    set_proctitle("gatewayd: worker process (generation " + std::to_string(spec.generation) + ")");
    int code;
    {
        Worker w(spec);
        code = w.run();
    }
    _exit(code);  // never run the master's destructors (they would remove its pid file)
}

// Each client connection may hold an upstream connection too (a proxied request, a WebSocket
// tunnel): make room for twice worker_connections descriptors, as far as the hard limit allows
// (root may raise the hard limit as well). The master does it, once per configuration load,
// and its workers inherit the limit.
void raise_fd_limit(const Config& cfg) {
    rlim_t want = static_cast<rlim_t>(cfg.worker_connections) * 2 + 1024;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rlim_t hard = rl.rlim_max;
    if (hard < want && geteuid() == 0) {
        rl.rlim_cur = rl.rlim_max = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0) return;
        rl.rlim_max = hard;  // not permitted here (a container, say): go as far as the hard limit
    }
    rl.rlim_cur = std::min(want, hard);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) LOG_WARN("setrlimit(RLIMIT_NOFILE, %llu) failed: %m", (unsigned long long)rl.rlim_cur);
    if (rl.rlim_cur < want)
        LOG_WARN("worker_connections %u need %llu descriptors, the hard limit is %llu", cfg.worker_connections,
                 (unsigned long long)want, (unsigned long long)hard);
}


}  // namespace gw::process
