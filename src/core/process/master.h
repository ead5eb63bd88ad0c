// The master process: owns the listening sockets and shared-memory zones, starts one generation
// of workers per configuration load, replaces generations on reload (HUP) without dropping a
// connection, respawns crashed workers, and stops gracefully (QUIT) or fast (TERM/INT).
//
// Signals are taken through a signalfd in the master's event loop: no code runs in signal
// context at all, which is the strict form of "handlers only set flags".
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/metrics/store.h"
#include "core/module/module.h"
#include "core/process/listeners.h"
#include "core/services/registry.h"
#include "core/process/upgrade.h"
#include "core/shm/zone.h"
#include "core/status.h"
#include "event/loop.h"

namespace gw::process {

struct MasterOptions {
    std::string conf_path;   // as given (for reloads)
    std::string prefix;
    std::string pid_path;    // where this master's pid file is (written by main, or on readiness)
    // Set when this master was started by a binary upgrade: what the old master handed over.
    // It then writes its pid file only once its first generation of workers is ready, and
    // exits if that does not happen within worker_ready_timeout.
    std::optional<Inheritance> inherited;
};

class Master {
  public:
    Master(MasterOptions options, std::shared_ptr<const Config> config);
    ~Master();

    // Binds listeners and creates zones; errors are logged. Called before daemonizing so that a
    // failure reaches the operator's terminal.
    bool prepare();
    // Runs until stopped; returns the exit code.
    int run();
    // The pid file that holds this master's pid now ("" when none was written yet): the
    // configured path, or PATH.oldbin while a binary upgrade runs.
    const std::string& pid_file() const { return pid_file_; }
    void set_pid_file(std::string path) { pid_file_ = std::move(path); }

  private:
    using ZoneMap = std::map<std::string, shm::Zone*, std::less<>>;
    struct Worker;
    struct Generation {
        uint32_t number = 0;
        std::shared_ptr<const Config> config;
        int count = 0;
        bool retired = false;  // told to close now: beyond max_draining_generations
        ZoneMap zones;         // the modules' zones its workers use, by name
    };

    bool start_generation(const Generation& gen);
    bool make_zones(const Config& config, ZoneMap& zones);
    void free_unused_zones();
    void configure_parts();
    bool spawn(const Generation& gen, int index);
    void on_signal();
    void on_channel(Worker& w);
    void reap();
    void reload();
    bool start_pending(std::shared_ptr<const Config> config);
    uint32_t next_generation_number() const;
    void limit_draining();
    void forget_finished_generations();
    void on_first_generation_ready();
    void start_upgrade();
    void stop_workers_for_upgrade();
    void roll_back_upgrade();
    void on_new_master_exit(int status);
    void restore_pid_file();
    void commit_pending();
    void roll_back(const std::string& why);
    void graceful_stop();
    void fast_stop();
    void reopen_logs();
    void drain_generation(uint32_t number);
    void prune_listeners();
    int free_board_slot() const;
    void maybe_finish();
    Generation* generation(uint32_t number);

    MasterOptions options_;
    event::Loop loop_;
    ListenerSet listeners_;
    shm::ZoneRegistry zones_;
    StatusBoard* board_ = nullptr;
    std::unique_ptr<metrics::Store> metrics_;
    // The master's services registry (module::MasterEnv::services), on the first configuration
    // it served, which it keeps; made before the parts and destroyed after them.
    std::shared_ptr<const Config> services_config_;
    std::unique_ptr<services::Registry> services_;
    // The modules' work in the master (the health module's active checks, once per node).
    std::vector<std::unique_ptr<module::MasterPart>> parts_;
    std::atomic<uint64_t>* reloads_ok_ = nullptr;
    std::atomic<uint64_t>* reloads_failed_ = nullptr;
    std::atomic<uint64_t>* restarts_ = nullptr;
    std::atomic<uint64_t>* retired_ = nullptr;
    std::atomic<uint64_t>* upgrades_ok_ = nullptr;
    std::atomic<uint64_t>* upgrades_failed_ = nullptr;
    std::atomic<uint64_t>* upgrades_rolled_back_ = nullptr;

    std::string pid_file_;
    bool first_ready_ = false;        // the first generation this master started is ready
    pid_t new_master_ = 0;            // binary upgrade: the new master, while it runs
    bool winched_ = false;            // binary upgrade: our workers were stopped (WINCH)
    bool quit_new_master_on_commit_ = false;  // upgrade rollback: once our workers are back

    uint32_t last_generation_ = 0;
    Generation current_;
    std::optional<Generation> pending_;
    std::vector<Generation> old_;           // draining generations with live workers
    std::map<pid_t, std::unique_ptr<Worker>> workers_;
    std::vector<std::unique_ptr<Worker>> reaped_;  // exited, kept until the event batch ends
    event::Timer free_reaped_;
    bool reload_queued_ = false;
    bool stopping_ = false;
    int signal_fd_ = -1;
    int exit_code_ = 0;

    struct Respawn {
        int failures = 0;      // consecutive quick deaths
        event::Timer timer;
    };
    std::map<int, Respawn> respawn_;        // by worker index, for the current generation
    event::Timer ready_deadline_;
    event::Timer kill_timer_;
    struct SignalHandler;
    std::unique_ptr<SignalHandler> signal_handler_;
};

}  // namespace gw::process
