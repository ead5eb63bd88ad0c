#include "core/process/master.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "core/log.h"
#include "core/process/channel.h"
#include "core/process/pidfile.h"
#include "core/process/proctitle.h"
#include "core/process/worker.h"
#include "http/proxy/queue_wake.h"

namespace gw::process {

namespace {

constexpr uint64_t kMetricsZoneSize = 8ull << 20;
constexpr uint64_t kStatusZoneSize = 1ull << 20;
constexpr event::Millis kQuickDeath = 1000;       // a worker dying sooner than this backs off
constexpr event::Millis kMaxRespawnDelay = 10000;
constexpr event::Millis kKillGrace = 5000;        // after shutdown_timeout, before SIGKILL

}  // namespace

struct Master::Worker : event::IoHandler {
    Master* master = nullptr;
    pid_t pid = -1;
    uint32_t generation = 0;
    int index = 0;
    int board_slot = -1;
    int channel = -1;
    bool ready = false;
    bool draining = false;
    bool abandoned = false;  // killed by a rollback: not to be respawned
    bool reaped = false;     // exited; freed after the current batch of events
    event::Millis started = 0;
    void on_io(uint32_t) override {
        // An event for this channel can still be in the batch that also reaped the worker.
        if (!reaped) master->on_channel(*this);
    }
};

struct Master::SignalHandler : event::IoHandler {
    Master* master;
    void on_io(uint32_t) override { master->on_signal(); }
};

Master::Master(MasterOptions options, std::shared_ptr<const Config> config)
    : options_(std::move(options)) {
    current_.config = std::move(config);
    current_.count = current_.config->worker_processes;
}

Master::~Master() {
    listeners_.close_all();
    if (signal_fd_ >= 0) close(signal_fd_);
}

bool Master::prepare() {
    raise_fd_limit(*current_.config);
    std::string error;
    if (options_.inherited) {
        if (!listeners_.adopt(options_.inherited->listeners, error)) LOG_ALERT("binary upgrade: %s", error.c_str());
        for (const auto& [name, fd] : options_.inherited->zones) zones_.offer(name, fd);
        error.clear();
    }
    if (!listeners_.ensure(*current_.config, current_.count, error)) {
        LOG_EMERG("%s", error.c_str());
        return false;
    }
    auto zone = [this](const char* name, uint64_t size, uint32_t version) {
        shm::Zone* z = zones_.get(name, size, version);
        if (z && zones_.last_origin() == shm::ZoneRegistry::Origin::Adopted)
            LOG_NOTICE("shared memory zone \"%s\" adopted from the previous binary, with its state", name);
        else if (z && zones_.last_origin() == shm::ZoneRegistry::Origin::Replaced)
            LOG_WARN("shared memory zone \"%s\" of the previous binary has another layout or size; "
                     "created afresh (its state starts over)", name);
        return z;
    };
    shm::Zone* status = zone("status", kStatusZoneSize, kStatusLayoutVersion);
    shm::Zone* metrics = zone("metrics", kMetricsZoneSize, metrics::kLayoutVersion);
    bool module_zones = make_zones(*current_.config, current_.zones);  // logs what fails
    zones_.drop_offers();
    if (!status || !metrics || !(board_ = StatusBoard::attach(*status))) {
        LOG_EMERG("cannot create shared memory zones: %m");
        return false;
    }
    if (!module_zones) return false;
    metrics_ = std::make_unique<metrics::Store>(*metrics);
    services_config_ = current_.config;
    services_ = std::make_unique<services::Registry>(loop_, *services_config_);
    module::MasterEnv env{
        .loop = loop_,
        .metrics = *metrics_,
        .services = *services_,
        .zone = [this](std::string_view name) { return zones_.find(std::string(name)); },
        // During a binary upgrade two masters run: only the one that serves the node is.
        .still_master = [this] { return board_->master_pid.load() == getpid(); },
        .notify_workers =
            [this](const module::Descriptor& d, uint16_t code) {
                uint32_t n = module::notification(d, code);
                for (auto& [pid, w] : workers_) send_message(w->channel, Command::Notify, n);
            },
    };
    parts_ = module::make_masters(env);
    reloads_ok_ = metrics_->counter("gateway_config_reloads_total", "result=\"ok\"",
                                    "Configuration reloads, by result.");
    reloads_failed_ = metrics_->counter("gateway_config_reloads_total", "result=\"failed\"",
                                        "Configuration reloads, by result.");
    restarts_ = metrics_->counter("gateway_worker_restarts_total", "",
                                  "Workers respawned after exiting abnormally.");
    retired_ = metrics_->counter("gateway_generations_retired_total", "",
                                 "Draining generations closed early because more than "
                                 "max_draining_generations were draining.");
    upgrades_ok_ = metrics_->counter("gateway_binary_upgrades_total", "result=\"ok\"",
                                     "Binary upgrades (USR2) started by this node's masters, by result.");
    upgrades_failed_ = metrics_->counter("gateway_binary_upgrades_total", "result=\"failed\"",
                                         "Binary upgrades (USR2) started by this node's masters, by result.");
    upgrades_rolled_back_ = metrics_->counter("gateway_binary_upgrades_total", "result=\"rolled_back\"",
                                              "Binary upgrades (USR2) started by this node's masters, by result.");
    return true;
}

int Master::run() {
    if (!options_.inherited) {
        board_->master_pid.store(getpid());
        board_->master_started_unix.store(time(nullptr));
    }
    set_proctitle("gatewayd: master process " + original_command_line());

    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&set, s);
    signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) {
        LOG_EMERG("signalfd() failed: %m");
        return 1;
    }
    signal_handler_ = std::make_unique<SignalHandler>();
    signal_handler_->master = this;
    loop_.add(signal_fd_, EPOLLIN, signal_handler_.get());
    ready_deadline_.set_callback([this] {
        if (!first_ready_) {
            // Only armed for a master started by a binary upgrade: the old one carries on.
            LOG_EMERG("binary upgrade: the new workers were not ready within worker_ready_timeout; exiting");
            fast_stop();
            exit_code_ = 1;
            return;
        }
        roll_back("workers not ready within worker_ready_timeout");
    });
    free_reaped_.set_callback([this] { reaped_.clear(); });
    kill_timer_.set_callback([this] {
        for (auto& [pid, w] : workers_) {
            LOG_ALERT("worker process %d did not exit in time, sending SIGKILL", pid);
            kill(pid, SIGKILL);
        }
    });

    // After a binary upgrade the generation numbers go on from the old master's (the status
    // board is shared), so that they stay unique on the node.
    current_.number = last_generation_ = next_generation_number();
    if (!options_.inherited) {
        board_->generation.store(current_.number);
        board_->worker_processes.store(current_.count);
    }
    // The parts first: what they prepare before the workers fork (say, OCSP staples fetched
    // within a short deadline) is there from the first request.
    configure_parts();
    if (!start_generation(current_)) return 1;
    if (options_.inherited) {
        LOG_NOTICE("gatewayd %s started by a binary upgrade from master %d, generation %u, %d workers",
                   GW_VERSION, options_.inherited->parent, current_.number, current_.count);
        loop_.arm(ready_deadline_, current_.config->worker_ready_timeout);
    } else {
        LOG_NOTICE("gatewayd %s started, generation %u, %d workers", GW_VERSION, current_.number, current_.count);
    }
    loop_.run();
    LOG_NOTICE("exit");
    return exit_code_;
}

uint32_t Master::next_generation_number() const {
    return std::max(last_generation_, board_->generation.load()) + 1;
}

// Every worker of the first generation is ready: a master started by a binary upgrade now
// takes over the node — its pid file tells `gatewayd -s upgrade` (and operators) so.
void Master::on_first_generation_ready() {
    first_ready_ = true;
    if (!options_.inherited) return;
    loop_.cancel(ready_deadline_);
    board_->master_pid.store(getpid());
    board_->master_started_unix.store(time(nullptr));
    board_->generation.store(current_.number);
    board_->worker_processes.store(current_.count);
    upgrades_ok_->fetch_add(1);
    std::string error;
    if (write_pid_file(options_.pid_path, getpid(), error))
        pid_file_ = options_.pid_path;
    else
        LOG_ALERT("%s", error.c_str());
    LOG_NOTICE("binary upgrade: new master %d is serving generation %u; old master %d can now be sent "
               "WINCH (stop its workers), then QUIT, or HUP to roll back",
               getpid(), current_.number, options_.inherited->parent);
    if (reload_queued_) {  // a HUP that came while this master's first workers were starting
        reload_queued_ = false;
        reload();
    }
}

int Master::free_board_slot() const {
    for (uint32_t i = 0; i < kMaxWorkerSlots; ++i) {
        if (board_->slots[i].state.load() != static_cast<uint32_t>(SlotState::Free)) continue;
        bool taken = std::any_of(workers_.begin(), workers_.end(),
                                 [&](const auto& kv) { return kv.second->board_slot == static_cast<int>(i); });
        if (!taken) return static_cast<int>(i);
    }
    return -1;
}

// The zones the modules need for `config` (module::Descriptor::zones): reused, with their
// contents, across reloads and from the previous binary when name, size and layout match.
// False (logged) when one cannot be had.
bool Master::make_zones(const Config& config, ZoneMap& out) {
    out.clear();
    for (const module::ZoneSpec& spec : module::zones(config)) {
        const char* name = spec.name.c_str();
        bool existed = zones_.find(spec.name) != nullptr;
        shm::Zone* zone = zones_.get(spec.name, spec.size, spec.version);
        if (!zone) {
            LOG_EMERG("cannot create the shared memory zone \"%s\" (%s): %m", name, format_size(spec.size).c_str());
            return false;
        }
        int kept = static_cast<int>(spec.kept.size()), lost = static_cast<int>(spec.lost.size());
        switch (zones_.last_origin()) {
            case shm::ZoneRegistry::Origin::Adopted:
                LOG_NOTICE("shared memory zone \"%s\" adopted from the previous binary, with %.*s", name, kept,
                           spec.kept.data());
                break;
            case shm::ZoneRegistry::Origin::Replaced:
                LOG_WARN("shared memory zone \"%s\" of the previous binary has another layout or size; "
                         "created afresh (%.*s)",
                         name, lost, spec.lost.data());
                break;
            case shm::ZoneRegistry::Origin::Created:
                if (existed)
                    LOG_NOTICE("shared memory zone \"%s\" resized to %s: %.*s", name, format_size(spec.size).c_str(),
                               lost, spec.lost.data());
                break;
            case shm::ZoneRegistry::Origin::Reused: break;
        }
        if (zones_.last_origin() != shm::ZoneRegistry::Origin::Reused && spec.attach && !spec.attach(*zone, spec))
            return false;
        out[spec.name] = zone;
    }
    return true;
}

// Frees the zones no generation uses any more - dropped or resized by a reload, once the last
// worker of the generations that used them has exited (a generation is forgotten then), or
// made for a reload that was rolled back. The workers had their own mappings, so the master's
// is the last: the memory goes back to the system.
void Master::free_unused_zones() {
    std::set<const shm::Zone*> in_use = {zones_.find("status"), zones_.find("metrics")};
    auto add = [&](const Generation& g) {
        for (const auto& [name, zone] : g.zones) in_use.insert(zone);
    };
    add(current_);
    if (pending_) add(*pending_);
    for (const Generation& g : old_) add(g);
    for (const shm::ZoneRegistry::Released& z : zones_.release_unused(in_use))
        LOG_NOTICE("shared memory zone \"%s\" (%s) freed: no configuration uses it any more", z.name.c_str(),
                   format_size(z.size).c_str());
}

// The modules' master parts learn the configuration that is now serving.
void Master::configure_parts() {
    for (const std::unique_ptr<module::MasterPart>& part : parts_)
        if (part) part->configure(current_.config);
}

bool Master::start_generation(const Generation& gen) {
    http::proxy::queue_wake::prepare(*gen.config);  // before fork: the workers share them
    for (int i = 0; i < gen.count; ++i)
        if (!spawn(gen, i)) return false;
    return true;
}

bool Master::spawn(const Generation& gen, int index) {
    int slot = free_board_slot();
    if (slot < 0) {
        LOG_ALERT("no free worker slot on the status board");
        return false;
    }
    int ch[2];
    if (!open_channel(ch)) {
        LOG_ALERT("socketpair() failed: %m");
        return false;
    }
    WorkerSpec spec;
    spec.config = gen.config;
    spec.generation = gen.number;
    spec.index = index;
    spec.board_slot = slot;
    spec.channel_fd = ch[1];
    spec.zones.insert(gen.zones.begin(), gen.zones.end());
    spec.zones["metrics"] = zones_.find("metrics");
    spec.board = board_;
    std::vector<int> keep = {ch[1], log::fd()};
    http::proxy::queue_wake::append_fds(keep);
    for (size_t li = 0; li < gen.config->listeners.size(); ++li)
        for (int fd : listeners_.for_worker(gen.config->listeners[li], index, gen.count)) {
            spec.listens.push_back({fd, li});
            keep.push_back(fd);
        }

    // Fill the slot before fork: the child marks itself Ready, and must not be overwritten.
    WorkerSlot& s = board_->slots[slot];
    s.pid.store(0);
    s.generation.store(gen.number);
    s.connections.store(0);
    s.requests.store(0);
    s.started_unix.store(time(nullptr));
    s.state.store(static_cast<uint32_t>(SlotState::Starting));

    pid_t pid = fork();
    if (pid < 0) {
        LOG_ALERT("fork() failed: %m");
        s.state.store(static_cast<uint32_t>(SlotState::Free));
        close(ch[0]);
        close(ch[1]);
        return false;
    }
    if (pid == 0) {
        close_fds_except(keep);
        run_worker(spec);
    }
    close(ch[1]);
    s.pid.store(pid);
    auto w = std::make_unique<Worker>();
    w->master = this;
    w->pid = pid;
    w->generation = gen.number;
    w->index = index;
    w->board_slot = slot;
    w->channel = ch[0];
    w->started = loop_.now();
    loop_.add(ch[0], EPOLLIN, w.get());
    workers_[pid] = std::move(w);
    LOG_NOTICE("started worker process %d (slot %d, generation %u)", pid, index, gen.number);
    return true;
}

Master::Generation* Master::generation(uint32_t number) {
    if (current_.number == number) return &current_;
    if (pending_ && pending_->number == number) return &*pending_;
    for (Generation& g : old_)
        if (g.number == number) return &g;
    return nullptr;
}

void Master::on_signal() {
    struct signalfd_siginfo si;
    while (read(signal_fd_, &si, sizeof si) == sizeof si) {
        switch (si.ssi_signo) {
            case SIGCHLD: reap(); break;
            case SIGHUP:
                if (new_master_ > 0) {
                    LOG_NOTICE("SIGHUP received during a binary upgrade: rolling back to this master");
                    roll_back_upgrade();
                } else {
                    LOG_NOTICE("SIGHUP received, reloading configuration");
                    reload();
                }
                break;
            case SIGQUIT:
                LOG_NOTICE("SIGQUIT received, shutting down gracefully");
                graceful_stop();
                break;
            case SIGTERM:
            case SIGINT:
                LOG_NOTICE("%s received, exiting", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                fast_stop();
                break;
            case SIGUSR1:
                LOG_NOTICE("SIGUSR1 received, reopening logs");
                reopen_logs();
                break;
            case SIGUSR2:
                LOG_NOTICE("SIGUSR2 received, upgrading the binary");
                start_upgrade();
                break;
            case SIGWINCH:
                LOG_NOTICE("SIGWINCH received");
                stop_workers_for_upgrade();
                break;
            default: break;
        }
    }
}

void Master::on_channel(Worker& w) {
    Message m;
    int r;
    while ((r = receive_message(w.channel, m)) > 0) {
        if (m.command == Command::Ask) {
            module::deliver_to_master(parts_, m.arg);
            continue;
        }
        if (m.command != Command::Ready || w.ready) continue;
        w.ready = true;
        if (!first_ready_ && w.generation == current_.number) {
            int ready = 0;
            for (auto& [pid, x] : workers_)
                if (x->generation == current_.number && x->ready) ++ready;
            if (ready == current_.count) on_first_generation_ready();
        }
        if (pending_ && w.generation == pending_->number) {
            int ready = 0;
            for (auto& [pid, x] : workers_)
                if (x->generation == pending_->number && x->ready) ++ready;
            if (ready == pending_->count) commit_pending();
        }
    }
    if (r == 0) loop_.remove(w.channel);  // the worker is exiting; reap() cleans up
}

void Master::reload() {
    if (stopping_) return;
    if (pending_ || (options_.inherited && !first_ready_)) {
        // One reload at a time; this one runs when the current one has finished.
        reload_queued_ = true;
        LOG_NOTICE("a reload is in progress; this one is queued");
        return;
    }
    Diagnostics diags;
    Config partial;
    std::optional<Config> loaded = load_config(options_.conf_path, options_.prefix, diags, &partial);
    diags.sort(loaded ? loaded->files : partial.files);  // by file and line, as -t prints them
    for (const Diagnostic& d : diags.all())
        GW_LOG(d.severity == Diagnostic::Severity::Error ? LogLevel::Emerg : LogLevel::Warn, "%s",
               d.str().c_str());
    if (!loaded) {
        LOG_ALERT("reload failed, still serving configuration generation %u", current_.number);
        reloads_failed_->fetch_add(1);
        return;
    }
    auto config = std::make_shared<const Config>(std::move(*loaded));
    if (config->worker_connections != current_.config->worker_connections) raise_fd_limit(*config);
    std::string error;
    if (!listeners_.ensure(*config, config->worker_processes, error)) {
        LOG_EMERG("%s", error.c_str());
        LOG_ALERT("reload failed, still serving configuration generation %u", current_.number);
        reloads_failed_->fetch_add(1);
        prune_listeners();
        return;
    }
    if (config->error_log.path != current_.config->error_log.path ||
        config->error_log.level != current_.config->error_log.level) {
        if (!log::open(config->error_log.path, config->error_log.level))
            LOG_ALERT("cannot open error log \"%s\": %m; keeping the old one", config->error_log.path.c_str());
    }
    start_pending(config);
}

// Starts a generation of workers with `config`; it replaces the current one once all of its
// workers are ready (commit_pending), or is rolled back.
bool Master::start_pending(std::shared_ptr<const Config> config) {
    Generation gen;
    gen.number = last_generation_ = next_generation_number();
    gen.config = std::move(config);
    gen.count = gen.config->worker_processes;
    bool zone_ok = make_zones(*gen.config, gen.zones);
    pending_ = gen;
    loop_.arm(ready_deadline_, gen.config->worker_ready_timeout);
    if (!zone_ok || !start_generation(*pending_)) {
        roll_back("cannot start the new workers");
        return false;
    }
    return true;
}

void Master::commit_pending() {
    loop_.cancel(ready_deadline_);
    Generation previous = current_;
    current_ = *pending_;
    pending_.reset();
    board_->worker_processes.store(current_.count);
    board_->generation.store(current_.number);
    old_.push_back(previous);
    respawn_.clear();
    drain_generation(previous.number);
    configure_parts();
    LOG_NOTICE("configuration generation %u is serving; generation %u is draining", current_.number,
               previous.number);
    forget_finished_generations();
    limit_draining();
    board_->master_pid.store(getpid());
    if (quit_new_master_on_commit_) {
        // Upgrade rolled back: our workers serve again, so the new master may go.
        quit_new_master_on_commit_ = false;
        if (new_master_ > 0) {
            LOG_NOTICE("binary upgrade rolled back: this master's workers serve again; telling new master %d to quit",
                       new_master_);
            kill(new_master_, SIGQUIT);
        }
    } else {
        reloads_ok_->fetch_add(1);
    }
    if (reload_queued_) {
        reload_queued_ = false;
        reload();
    }
}

void Master::roll_back(const std::string& why) {
    if (!pending_) return;
    loop_.cancel(ready_deadline_);
    LOG_ALERT("reload rolled back (%s): generation %u stays", why.c_str(), current_.number);
    for (auto& [pid, w] : workers_)
        if (w->generation == pending_->number) {
            w->abandoned = true;
            kill(pid, SIGKILL);
        }
    pending_.reset();
    reloads_failed_->fetch_add(1);
    prune_listeners();
    free_unused_zones();
    if (reload_queued_) {
        reload_queued_ = false;
        reload();
    }
}

// At most max_draining_generations old generations drain at once: frequent reloads with
// long-lived connections open must not pile up old workers (and their memory). Beyond it, the
// oldest are retired: they close idle connections and tunnels now rather than at
// shutdown_timeout.
void Master::limit_draining() {
    uint32_t limit = current_.config->max_draining_generations;
    size_t draining = std::count_if(old_.begin(), old_.end(), [](const Generation& g) { return !g.retired; });
    for (Generation& g : old_) {  // oldest first
        if (draining <= limit) break;
        if (g.retired) continue;
        g.retired = true;
        --draining;
        retired_->fetch_add(1);
        LOG_NOTICE("more than max_draining_generations (%u) generations draining: retiring generation %u", limit,
                   g.number);
        for (auto& [pid, w] : workers_)
            if (w->generation == g.number) send_message(w->channel, Command::Retire);
    }
}

void Master::drain_generation(uint32_t number) {
    for (auto& [pid, w] : workers_)
        if (w->generation == number && !w->draining) {
            w->draining = true;
            send_message(w->channel, Command::Drain);
        }
}

void Master::reap() {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == new_master_) {
            on_new_master_exit(status);
            continue;
        }
        auto it = workers_.find(pid);
        if (it == workers_.end()) continue;
        std::unique_ptr<Worker> w = std::move(it->second);
        workers_.erase(it);
        loop_.remove(w->channel);
        close(w->channel);
        w->reaped = true;
        WorkerSlot& s = board_->slots[w->board_slot];
        // Take back what it still held in the shared gauges (it may have died with requests in
        // flight) -- before the slot is freed and a respawned worker publishes its own ledger.
        metrics_->settle_ledger(s.gauge_ledger.exchange(0));
        // And what it held in the modules' zones (the requests in flight a concurrency limit
        // counts), in those of its generation.
        const Generation* gen = generation(w->generation);
        module::worker_exited(w->board_slot, [&](std::string_view name) -> shm::Zone* {
            if (!gen) return zones_.find(std::string(name));
            auto z = gen->zones.find(name);
            return z == gen->zones.end() ? nullptr : z->second;
        });
        http::proxy::queue_wake::wake_all();  // its max_conns slots may be free now
        s.connections.store(0);
        s.pid.store(0);
        s.state.store(static_cast<uint32_t>(SlotState::Free));

        bool abnormal = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
        if (WIFSIGNALED(status))
            LOG_ALERT("worker process %d exited on signal %d%s", pid, WTERMSIG(status),
                      WCOREDUMP(status) ? " (core dumped)" : "");
        else if (abnormal)
            LOG_ALERT("worker process %d exited with code %d", pid, WEXITSTATUS(status));
        else
            LOG_NOTICE("worker process %d exited with code 0", pid);

        if (pending_ && w->generation == pending_->number && !w->abandoned) {
            roll_back("a new worker exited during startup");
        } else if (!stopping_ && w->generation == current_.number && !w->draining && !w->abandoned) {
            // Respawn at once; if it keeps dying right after start, back off exponentially.
            Respawn& r = respawn_[w->index];
            r.failures = (loop_.now() - w->started < kQuickDeath) ? r.failures + 1 : 0;
            event::Millis delay = r.failures <= 1 ? 0 : std::min<event::Millis>(100LL << (r.failures - 2), kMaxRespawnDelay);
            if (abnormal) restarts_->fetch_add(1);
            int index = w->index;
            if (delay == 0) {
                spawn(current_, index);
            } else {
                LOG_ALERT("worker %d keeps exiting; respawning it in %lld ms", index, static_cast<long long>(delay));
                r.timer.set_callback([this, index, gen = current_.number] {
                    if (!stopping_ && current_.number == gen) spawn(current_, index);
                });
                loop_.arm(r.timer, delay);
            }
        }
        // Freed once this batch of events is handled (timers run after I/O dispatch).
        reaped_.push_back(std::move(w));
        loop_.arm(free_reaped_, 0);
    }
    forget_finished_generations();
    maybe_finish();
}

// Forgets old generations whose workers are all gone, and closes listeners nobody uses.
void Master::forget_finished_generations() {
    size_t before = old_.size();
    std::erase_if(old_, [&](const Generation& g) {
        return std::none_of(workers_.begin(), workers_.end(),
                            [&](const auto& kv) { return kv.second->generation == g.number; });
    });
    if (old_.size() != before) {
        prune_listeners();
        free_unused_zones();
    }
}

// USR2: exec the binary on disk as a new master that inherits our listening sockets and
// shared-memory zones. Our pid file becomes PATH.oldbin, as with nginx, until the new master is
// gone (rollback, or it failed) or we exit.
void Master::start_upgrade() {
    if (stopping_) return;
    if (new_master_ > 0) {
        LOG_NOTICE("binary upgrade already in progress (new master %d); SIGUSR2 ignored", new_master_);
        return;
    }
    if (pending_) {
        LOG_ALERT("binary upgrade refused: a reload is in progress; send SIGUSR2 again when it has finished");
        upgrades_failed_->fetch_add(1);
        return;
    }
    const std::vector<std::string>& argv = startup_command_line();
    if (argv.empty()) return;
    std::string oldbin = options_.pid_path + ".oldbin";
    if (!pid_file_.empty()) {
        if (rename(pid_file_.c_str(), oldbin.c_str()) < 0) {
            LOG_ALERT("binary upgrade aborted: rename(\"%s\", \"%s\") failed: %m", pid_file_.c_str(), oldbin.c_str());
            upgrades_failed_->fetch_add(1);
            return;
        }
        pid_file_ = oldbin;
    }
    Inheritance in;
    in.parent = getpid();
    in.listeners = listeners_.all_fds();
    in.zones = zones_.descriptors();
    pid_t pid = exec_new_binary(argv, in);
    if (pid < 0) {
        LOG_ALERT("binary upgrade aborted: fork() failed: %m");
        upgrades_failed_->fetch_add(1);
        restore_pid_file();
        return;
    }
    new_master_ = pid;
    winched_ = false;
    LOG_NOTICE("binary upgrade: started new master %d (%s); pid file is now %s", pid, argv[0].c_str(),
               pid_file_.c_str());
}

// WINCH: during an upgrade, our workers drain (as in a reload) and are not respawned; the new
// master's workers take every connection. The master stays, to roll back on HUP.
void Master::stop_workers_for_upgrade() {
    if (new_master_ <= 0) {
        LOG_NOTICE("SIGWINCH ignored: no binary upgrade in progress");
        return;
    }
    if (winched_ || stopping_) return;
    if (pending_) roll_back("SIGWINCH during a binary upgrade");
    winched_ = true;
    LOG_NOTICE("binary upgrade: stopping this master's workers gracefully; new master %d serves", new_master_);
    drain_generation(current_.number);
    for (Generation& g : old_) drain_generation(g.number);
}

// HUP during an upgrade: this master takes the node back. Its workers are started again if WINCH
// stopped them, and the new master is told to quit once they are ready.
void Master::roll_back_upgrade() {
    if (stopping_ || new_master_ <= 0) return;
    restore_pid_file();
    upgrades_rolled_back_->fetch_add(1);
    if (!winched_) {
        LOG_NOTICE("binary upgrade rolled back; telling new master %d to quit", new_master_);
        kill(new_master_, SIGQUIT);
        board_->master_pid.store(getpid());
        return;
    }
    if (pending_) return;  // already bringing the workers back
    winched_ = false;
    quit_new_master_on_commit_ = true;
    LOG_NOTICE("binary upgrade rollback: starting this master's workers again");
    start_pending(current_.config);
}

void Master::on_new_master_exit(int status) {
    pid_t pid = new_master_;
    new_master_ = 0;
    if (WIFSIGNALED(status))
        LOG_ALERT("new master process %d exited on signal %d", pid, WTERMSIG(status));
    else if (WEXITSTATUS(status) == 127)
        LOG_ALERT("new master process %d could not execute the binary (exit code 127)", pid);
    else if (WEXITSTATUS(status) != 0)  // a failed upgrade: an alert (it reaches the journal too)
        LOG_ALERT("new master process %d exited with code %d", pid, WEXITSTATUS(status));
    else
        LOG_NOTICE("new master process %d exited with code %d", pid, WEXITSTATUS(status));
    bool was_serving = first_ready_ && !stopping_;
    if (!pid_file_.empty() && pid_file_ != options_.pid_path) {
        // It failed, or quit before we did: we are the node's master again.
        std::string error;
        bool it_was_ready = read_pid_file(options_.pid_path, error) == pid;
        LOG_NOTICE("binary upgrade did not complete; this master (%d) carries on", getpid());
        if (!it_was_ready) upgrades_failed_->fetch_add(1);
        restore_pid_file();
    }
    quit_new_master_on_commit_ = false;
    if (winched_ && was_serving) {
        // Our workers were stopped: bring them back, or the node would serve nothing.
        winched_ = false;
        LOG_NOTICE("starting this master's workers again");
        start_pending(current_.config);
    }
    winched_ = false;
    board_->master_pid.store(getpid());
}

void Master::restore_pid_file() {
    std::string oldbin = options_.pid_path + ".oldbin";
    if (pid_file_ != oldbin) return;
    if (rename(oldbin.c_str(), options_.pid_path.c_str()) < 0) {
        LOG_ALERT("rename(\"%s\", \"%s\") failed: %m", oldbin.c_str(), options_.pid_path.c_str());
        return;
    }
    pid_file_ = options_.pid_path;
}

void Master::prune_listeners() {
    std::vector<std::string> in_use;
    auto add = [&](const Generation& g) {
        if (!g.config) return;
        for (const ListenerConfig& l : g.config->listeners) in_use.push_back(address_key(l.sockaddr));
    };
    add(current_);
    if (pending_) add(*pending_);
    for (const Generation& g : old_) add(g);
    listeners_.prune(in_use);
}

void Master::graceful_stop() {
    if (stopping_) return;
    stopping_ = true;
    if (pending_) roll_back("shutting down");
    for (auto& [pid, w] : workers_)
        if (!w->draining) {
            w->draining = true;
            send_message(w->channel, Command::Drain);
        }
    // Workers enforce shutdown_timeout themselves; this is the backstop if one is stuck.
    loop_.arm(kill_timer_, current_.config->shutdown_timeout + kKillGrace);
    maybe_finish();
}

void Master::fast_stop() {
    stopping_ = true;
    for (auto& [pid, w] : workers_) kill(pid, SIGTERM);
    loop_.arm(kill_timer_, kKillGrace);
    maybe_finish();
}

void Master::maybe_finish() {
    if (stopping_ && workers_.empty()) loop_.stop();
}

// Workers may run as an unprivileged `user:` that cannot create files in the log directory.
// As nginx does, the master (still root) creates the new files and hands them to that user
// before it tells the workers to reopen.
static void prepare_log_file(const std::string& path, const Config& cfg) {
    if (path.empty() || path == "stderr") return;
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, log::kFileMode);
    if (fd < 0) {
        LOG_ALERT("cannot open log file \"%s\": %m", path.c_str());
        return;
    }
    if (geteuid() == 0 && !cfg.user.empty()) {
        if (struct passwd* pw = getpwnam(cfg.user.c_str())) {
            gid_t gid = pw->pw_gid;
            if (!cfg.group.empty())
                if (struct group* gr = getgrnam(cfg.group.c_str())) gid = gr->gr_gid;
            if (fchown(fd, pw->pw_uid, gid) < 0) LOG_ALERT("fchown(\"%s\") failed: %m", path.c_str());
        }
    }
    close(fd);
}

void Master::reopen_logs() {
    if (!log::reopen()) LOG_ALERT("cannot reopen error log \"%s\": %m", log::path().c_str());
    const Config& cfg = *current_.config;
    prepare_log_file(log::path(), cfg);
    if (cfg.access_log.enabled) prepare_log_file(cfg.access_log.path, cfg);
    for (auto& [pid, w] : workers_) send_message(w->channel, Command::Reopen);
}

}  // namespace gw::process
