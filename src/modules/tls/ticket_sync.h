// Session ticket keys shared by every gateway node through the configuration's `redis:`
// (`session_tickets: {shared: redis}`), run by the master next to the local rotation
// (master.h), for the listeners that ask for it.
//
// Redis holds one value per listener, under "gatewayd:tls-tickets:ADDRESS" (nodes share the
// keys of the listeners they write alike: "0.0.0.0:443" everywhere): the three keys and the
// time of the last rotation, in a fixed binary layout written as hex (encode_keys()). Every
// few seconds each node GETs it and adopts what it finds into the listener's zone, where its
// workers read it as they read local keys. The node that finds a rotation due makes it with a
// compare-and-set (a Lua script: SET only if the value is still the one it read), so exactly
// one node rotates however many try at once - the same effect as a lock taken with
// SET NX PX, in one round trip and with nothing to expire. A listener with no value yet in
// Redis gets the node's own keys (compare-and-set from nothing).
//
// Redis away: the node keeps the keys it has (no rotation), warns once per minute, and never
// fails a handshake. A node that starts with Redis away makes its own keys (the zone's) and
// adopts the cluster's when Redis comes back: tickets it issued meanwhile then make a full
// handshake (documented).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/log_throttle.h"
#include "core/redis/client.h"
#include "event/loop.h"
#include "modules/tls/ticket_keys.h"

namespace gw {
struct RedisConfig;
}
namespace gw::shm {
class Zone;
}

namespace gw::tls {

// The value kept in Redis for a listener (hex of: version 1, rotated_at_ms as 8 bytes big-endian,
// current, previous, next), and back; nullopt for anything else.
std::string encode_keys(const TicketKeys& keys);
std::optional<TicketKeys> decode_keys(std::string_view value);
// The keys after one rotation at `now_ms`, with `fresh` as the new next key.
TicketKeys rotated(const TicketKeys& keys, const TicketKey& fresh, int64_t now_ms);

class TicketKeySync {
  public:
    struct Listener {
        std::string address;
        std::string zone;    // ticket_zone_name(address)
        int64_t rotate_ms;
    };
    // Starts syncing `listeners` through a client of `redis` on `loop`.
    TicketKeySync(event::Loop& loop, const RedisConfig& redis, std::function<shm::Zone*(std::string_view)> zone,
                  std::vector<Listener> listeners);
    ~TicketKeySync();
    TicketKeySync(const TicketKeySync&) = delete;
    TicketKeySync& operator=(const TicketKeySync&) = delete;

    // How often a node looks at Redis: a quarter of the shortest rotation, 250 ms to 5 s.
    static int64_t poll_interval(int64_t rotate_ms);

  private:
    struct Entry;
    void tick();
    void on_state(bool up);
    static void state_callback(void* self, bool up);

    event::Loop& loop_;
    std::function<shm::Zone*(std::string_view)> zone_;
    std::unique_ptr<redis::Client> client_;
    std::vector<std::unique_ptr<Entry>> entries_;
    event::Timer timer_;
    int64_t interval_ms_ = 5000;
    LogThrottle away_;
};

}  // namespace gw::tls
