// `gatewayd -s upgrade`: the whole binary-upgrade dance in one command, each step printed, each
// wait bounded, and a rollback (the old master takes over again) on any failure:
//   1. SIGUSR2 to the master: it execs the binary on disk, handing over sockets and zones;
//   2. wait until the new master's workers are ready (it then writes the pid file);
//   3. SIGWINCH to the old master: its workers drain; wait until they are gone;
//   4. SIGQUIT to the old master; wait until it has exited.
#pragma once

#include "core/config/config.h"

namespace gw::process {

// Returns the exit status for the command: 0 when the new master serves alone, 1 otherwise.
int run_upgrade_command(const Config& config);

// `gatewayd -s stop|quit [-w]`: sends `sig` (SIGTERM or SIGQUIT) to every master of the node --
// the one in the pid file and, while a binary upgrade runs, the old one (PID.oldbin) and a new
// one that is not ready yet (a child of the old one that is not a worker) -- so that a stop
// during an upgrade is as graceful for both masters as for one. With `wait`, returns only once
// all of them have exited (bounded by shutdown_timeout plus a grace), as systemd's ExecStop
// must. Returns the exit status: 0, or 1 (no master running, or still running at the deadline).
int run_stop_command(const Config& config, int sig, bool wait);

}  // namespace gw::process
