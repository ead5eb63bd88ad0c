// The tls module's part in the master: it fetches the OCSP responses certificates staple
// (`ocsp_staple: {fetch: true}`, ocsp_fetch.h), and it rotates every TLS listener's session ticket keys
// (ticket_keys.h) on schedule, `session_tickets: {rotate: ...}` (1h by default), or, for the
// listeners with `shared: redis`, keeps them in step with the other nodes through Redis
// (ticket_sync.h). Made whatever the first configuration holds, so that a reload can add TLS
// listeners.
//
// The schedule lives in the zone (the time of the last rotation), not in this process: a
// reload, or the master of a binary upgrade that adopts the zone, goes on where the previous
// one was, and a rotation is made under the zone mutex only when it is due, so the two masters
// of an upgrade never rotate twice.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/module/module.h"
#include "event/loop.h"

namespace gw::tls {

class TicketKeySync;
class OcspFetcher;

class TicketRotator final : public module::MasterPart {
  public:
    explicit TicketRotator(module::MasterEnv& env);
    ~TicketRotator() override;
    void configure(const std::shared_ptr<const Config>& config) override;

    // Rotates what is due at `now_ms` (CLOCK_REALTIME) and returns the milliseconds until the
    // next rotation is due (-1: nothing to rotate). Public for tests.
    int64_t rotate_due(int64_t now_ms);

  private:
    struct Listener {
        std::string address;
        std::string zone;  // ticket_zone_name(address)
        int64_t rotate_ms;
    };
    void on_timer();

    event::Loop& loop_;
    std::function<shm::Zone*(std::string_view)> zone_;
    std::vector<Listener> listeners_;  // rotated here (not shared)
    std::unique_ptr<TicketKeySync> sync_;  // the shared ones
    event::Timer timer_;
    std::unique_ptr<OcspFetcher> ocsp_;
};

std::unique_ptr<module::MasterPart> make_master(module::MasterEnv& env);

}  // namespace gw::tls
