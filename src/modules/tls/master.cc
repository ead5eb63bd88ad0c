#include "modules/tls/master.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>

#include "core/config/config.h"
#include "core/log.h"
#include "core/services/registry.h"
#include "modules/tls/module.h"
#include "modules/tls/ocsp_fetch.h"
#include "modules/tls/storage.h"
#include "modules/tls/ticket_keys.h"
#include "modules/tls/ticket_sync.h"
#include "modules/tls/tls_clients.h"

namespace gw::tls {

namespace {

int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// A rotation that could not be made (no random key) is tried again this much later.
constexpr int64_t kRetryMs = 1000;

}  // namespace

std::unique_ptr<module::MasterPart> make_master(module::MasterEnv& env) {
    env.services.provide<httpc::TlsClients>(&tls_clients());  // for the key sets the auth module fetches
    return std::make_unique<TicketRotator>(env);
}

TicketRotator::TicketRotator(module::MasterEnv& env)
    : loop_(env.loop), zone_(env.zone),
      ocsp_(std::make_unique<OcspFetcher>(env.loop, env.metrics, env.zone, env.still_master)) {
    timer_.set_callback([this] { on_timer(); });
}

TicketRotator::~TicketRotator() { loop_.cancel(timer_); }

void TicketRotator::configure(const std::shared_ptr<const Config>& config) {
    listeners_.clear();
    std::vector<TicketKeySync::Listener> shared;
    if (const Settings* s = settings(*config))
        for (size_t i = 0; i < config->listeners.size(); ++i)
            if (const ListenerTls* tls = s->listener(i); tls && tls->session_tickets) {
                const std::string& address = config->listeners[i].address;
                Listener l{address, ticket_zone_name(address), static_cast<int64_t>(tls->ticket_rotate_ms)};
                if (tls->tickets_shared_redis && config->redis)
                    shared.push_back({l.address, l.zone, l.rotate_ms});
                else
                    listeners_.push_back(std::move(l));
            }
    // Made afresh for every configuration (a reload may change `redis:`): a new connection per
    // reload, and the keys stay in the zones meanwhile.
    sync_.reset();
    if (!shared.empty()) sync_ = std::make_unique<TicketKeySync>(loop_, *config->redis, zone_, std::move(shared));
    on_timer();
    ocsp_->configure(config);
}

void TicketRotator::on_timer() {
    int64_t next = rotate_due(wall_ms());
    if (next < 0)
        loop_.cancel(timer_);
    else
        loop_.arm(timer_, static_cast<event::Millis>(next));
}

int64_t TicketRotator::rotate_due(int64_t now_ms) {
    int64_t next = -1;
    auto soonest = [&next](int64_t in) { next = next < 0 ? in : std::min(next, in); };
    for (const Listener& l : listeners_) {
        shm::Zone* zone = zone_(l.zone);
        std::unique_ptr<TicketKeyRing> ring = zone ? TicketKeyRing::attach(*zone) : nullptr;
        if (!ring) continue;  // the zone's attach hook said why
        int64_t at = ring->rotated_at_ms();
        if (now_ms - at >= l.rotate_ms || now_ms < at) {  // due, or the clock went back
            TicketKey fresh;
            if (!make_ticket_key(fresh)) {
                LOG_ERROR("TLS listener %s: no random session ticket key could be made; the keys stay", l.address.c_str());
                soonest(kRetryMs);
                continue;
            }
            if (ring->rotate_if_due(now_ms, l.rotate_ms, fresh))
                LOG_INFO("TLS listener %s: session ticket keys rotated", l.address.c_str());
            OPENSSL_cleanse(&fresh, sizeof fresh);
            at = ring->rotated_at_ms();
        }
        soonest(std::max<int64_t>(at + l.rotate_ms - now_ms, 0));
    }
    return next;
}

}  // namespace gw::tls
