// Listening sockets. The master owns them: one SO_REUSEPORT socket per listener address and
// worker slot, created once and kept across reloads, so connections waiting in an accept queue
// are never lost when workers change.
#pragma once

#include <sys/socket.h>

#include <map>
#include <string>
#include <vector>

#include "core/config/config.h"

namespace gw::process {

// A canonical key for an address ("127.0.0.1:8080", "[::1]:8080").
std::string address_key(const sockaddr_storage& sa);

// Creates, binds and listens a non-blocking, close-on-exec SO_REUSEPORT socket.
// On failure returns -1 and sets `error` ("bind() to 127.0.0.1:8080 failed: Address in use").
int open_listener(const ListenerConfig& listener, std::string& error);

// For `-t` and `-s reload`: binds (without listening) each listener with SO_REUSEPORT, as the
// master will, which succeeds when the port is free or held by the running gatewayd (same user,
// also SO_REUSEPORT) and fails when another program holds it. A program of the same user that
// listens on the address with SO_REUSEPORT too (the bind succeeds; connections would be shared)
// is found through /proc and reported as well. Errors go to `diags` at the listener's mark.
void check_listeners_bindable(const Config& config, Diagnostics& diags);

class ListenerSet {
  public:
    struct Sockets {
        std::vector<int> fds;  // index = socket number within the reuseport group
    };

    // Makes sure every listener of `config` has at least `count` sockets. On failure sets `error`
    // and returns false; sockets created so far are kept (they are closed by prune()).
    bool ensure(const Config& config, int count, std::string& error);

    // The sockets a worker in `slot` (of `count` workers) accepts on, for listener `index` of
    // `config`: every socket number s with s % count == slot, so that sockets left over from a
    // generation with more workers keep being served.
    std::vector<int> for_worker(const ListenerConfig& listener, int slot, int count) const;

    // Takes over listening sockets inherited from the previous binary (binary upgrade), in
    // socket-number order per address. A descriptor that is not a listening TCP socket is
    // closed and reported in `error` (the others are still adopted); false then.
    bool adopt(const std::vector<int>& fds, std::string& error);

    // Closes the sockets of addresses not in `in_use` (addresses of live generations).
    void prune(const std::vector<std::string>& in_use);

    // Every descriptor, for closing in children that do not need them.
    std::vector<int> all_fds() const;
    void close_all();

  private:
    std::map<std::string, Sockets> sockets_;
};

}  // namespace gw::process
