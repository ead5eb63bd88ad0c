#include "modules/tls/ticket_sync.h"

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/config/config.h"
#include "core/log.h"
#include "core/redis/options.h"
#include "core/shm/zone.h"

namespace gw::tls {

namespace {

constexpr uint8_t kFormat = 1;
constexpr size_t kBinarySize = 1 + 8 + 3 * sizeof(TicketKey);
constexpr int64_t kAwayLogInterval = 60 * 1000;

int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// SET the value only if it is still the one the node read ('' for none): exactly one of the
// nodes that found a rotation due makes it. Returns the value now in Redis.
const redis::Script& compare_and_set() {
    static const redis::Script script(
        "local cur = redis.call('GET', KEYS[1])\n"
        "if (cur or '') == ARGV[1] then\n"
        "  redis.call('SET', KEYS[1], ARGV[2])\n"
        "  return ARGV[2]\n"
        "end\n"
        "return cur\n");
    return script;
}

bool same_keys(const TicketKeys& a, const TicketKeys& b) {
    return a.current == b.current && a.previous == b.previous && a.next == b.next &&
           a.rotated_at_ms == b.rotated_at_ms;
}

}  // namespace

std::string encode_keys(const TicketKeys& keys) {
    unsigned char bin[kBinarySize];
    size_t at = 0;
    bin[at++] = kFormat;
    for (int i = 7; i >= 0; --i) bin[at++] = static_cast<unsigned char>(static_cast<uint64_t>(keys.rotated_at_ms) >> (8 * i));
    for (const TicketKey* k : {&keys.current, &keys.previous, &keys.next}) {
        std::memcpy(bin + at, k, sizeof *k);
        at += sizeof *k;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(2 * kBinarySize, '0');
    for (size_t i = 0; i < kBinarySize; ++i) {
        out[2 * i] = kHex[bin[i] >> 4];
        out[2 * i + 1] = kHex[bin[i] & 15];
    }
    OPENSSL_cleanse(bin, sizeof bin);
    return out;
}

std::optional<TicketKeys> decode_keys(std::string_view value) {
    if (value.size() != 2 * kBinarySize) return std::nullopt;
    unsigned char bin[kBinarySize];
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (size_t i = 0; i < kBinarySize; ++i) {
        int hi = nibble(value[2 * i]), lo = nibble(value[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        bin[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    if (bin[0] != kFormat) return std::nullopt;
    TicketKeys keys;
    uint64_t at_ms = 0;
    for (size_t i = 1; i <= 8; ++i) at_ms = at_ms << 8 | bin[i];
    keys.rotated_at_ms = static_cast<int64_t>(at_ms);
    size_t at = 9;
    for (TicketKey* k : {&keys.current, &keys.previous, &keys.next}) {
        std::memcpy(k, bin + at, sizeof *k);
        at += sizeof *k;
    }
    OPENSSL_cleanse(bin, sizeof bin);
    return keys;
}

TicketKeys rotated(const TicketKeys& keys, const TicketKey& fresh, int64_t now_ms) {
    TicketKeys out;
    out.previous = keys.current;
    out.current = keys.next;
    out.next = fresh;
    out.rotated_at_ms = now_ms;
    return out;
}

// One listener: a GET, then (when Redis has nothing, or a rotation is due) a compare-and-set;
// one command in flight at a time.
struct TicketKeySync::Entry final : redis::Waiter {
    Entry(TicketKeySync& s, Listener l) : sync(s), listener(std::move(l)), key("gatewayd:tls-tickets:" + listener.address) {}

    void start() {
        if (pending) return;
        step = Step::Get;
        std::string_view argv[] = {"GET", key};
        pending = sync.client_->submit(argv, this);
    }

    void on_redis_reply(redis::Result result, const redisReply* reply) override {
        pending = nullptr;
        if (result != redis::Result::Ok || !reply) return;  // the client reports it down; the next tick retries
        if (reply->type == REDIS_REPLY_ERROR) {
            LOG_WARN("TLS listener %s: Redis refused the session ticket keys: %.*s", listener.address.c_str(),
                     static_cast<int>(reply->len), reply->str);
            return;
        }
        std::unique_ptr<TicketKeyRing> ring = this->ring();
        if (!ring) return;
        bool have = reply->type == REDIS_REPLY_STRING;
        std::string_view value = have ? std::string_view(reply->str, reply->len) : std::string_view();
        if (step == Step::Set) {
            if (std::optional<TicketKeys> keys = have ? decode_keys(value) : std::nullopt) adopt(*ring, *keys);
            return;
        }
        TicketKeys local;
        if (!ring->read(local)) return;
        std::optional<TicketKeys> cluster = have ? decode_keys(value) : std::nullopt;
        if (have && !cluster)
            LOG_WARN("TLS listener %s: the session ticket keys in Redis (%s) are not in gatewayd's layout; replacing them",
                     listener.address.c_str(), key.c_str());
        int64_t now = wall_ms();
        TicketKeys proposal;
        if (!cluster) {
            proposal = local;  // the first node: its keys become the cluster's
        } else if (now - cluster->rotated_at_ms >= listener.rotate_ms || now < cluster->rotated_at_ms) {
            TicketKey fresh;
            if (!make_ticket_key(fresh)) return;
            proposal = rotated(*cluster, fresh, now);
            OPENSSL_cleanse(&fresh, sizeof fresh);
        } else {
            adopt(*ring, *cluster);
            return;
        }
        step = Step::Set;
        expected.assign(value);
        proposed = encode_keys(proposal);
        OPENSSL_cleanse(&proposal, sizeof proposal);
        std::string_view keys[] = {key};
        std::string_view args[] = {expected, proposed};
        pending = sync.client_->eval(compare_and_set(), keys, args, this);
    }

    std::unique_ptr<TicketKeyRing> ring() const {
        shm::Zone* zone = sync.zone_(listener.zone);
        return zone ? TicketKeyRing::attach(*zone) : nullptr;
    }

    // The cluster's keys into the zone (the workers see them at their next ticket).
    void adopt(TicketKeyRing& ring, const TicketKeys& cluster) {
        TicketKeys local;
        if (ring.read(local) && same_keys(local, cluster)) {
            if (!in_step) LOG_NOTICE("TLS listener %s: session ticket keys shared through Redis", listener.address.c_str());
            in_step = true;
            return;
        }
        bool rotation = in_step && local.next == cluster.current;
        ring.replace(cluster.current, cluster.previous, cluster.next, cluster.rotated_at_ms);
        if (rotation)
            LOG_INFO("TLS listener %s: session ticket keys rotated (shared through Redis)", listener.address.c_str());
        else
            LOG_NOTICE("TLS listener %s: session ticket keys adopted from Redis", listener.address.c_str());
        in_step = true;
        OPENSSL_cleanse(&local, sizeof local);
    }

    enum class Step { Get, Set };
    TicketKeySync& sync;
    Listener listener;
    std::string key;
    redis::Client::Pending* pending = nullptr;
    Step step = Step::Get;
    std::string expected, proposed;  // the compare-and-set's arguments, alive while it runs
    bool in_step = false;            // the zone has held the cluster's keys
};

int64_t TicketKeySync::poll_interval(int64_t rotate_ms) { return std::clamp<int64_t>(rotate_ms / 4, 250, 5000); }

TicketKeySync::TicketKeySync(event::Loop& loop, const RedisConfig& redis,
                             std::function<shm::Zone*(std::string_view)> zone, std::vector<Listener> listeners)
    : loop_(loop), zone_(std::move(zone)) {
    client_ = std::make_unique<redis::Client>(loop_, redis::options_for(redis));
    client_->add_script(&compare_and_set());
    for (Listener& l : listeners) {
        interval_ms_ = std::min(interval_ms_, poll_interval(l.rotate_ms));
        entries_.push_back(std::make_unique<Entry>(*this, std::move(l)));
    }
    client_->add_state_listener(state_callback, this);
    timer_.set_callback([this] { tick(); });
    client_->start();
    loop_.arm(timer_, static_cast<event::Millis>(interval_ms_));
}

TicketKeySync::~TicketKeySync() {
    loop_.cancel(timer_);
    client_->remove_state_listener(state_callback, this);
    for (auto& e : entries_)
        if (e->pending) client_->cancel(e->pending);
    for (auto& e : entries_) OPENSSL_cleanse(e->proposed.data(), e->proposed.size());
}

void TicketKeySync::state_callback(void* self, bool up) { static_cast<TicketKeySync*>(self)->on_state(up); }

void TicketKeySync::on_state(bool up) {
    if (!up) return;
    LOG_INFO("TLS session ticket keys: Redis is reachable");
    tick();
}

void TicketKeySync::tick() {
    loop_.arm(timer_, static_cast<event::Millis>(interval_ms_));
    if (!client_->up()) {
        LogThrottle::Held held;
        if (away_.admit(loop_.now(), kAwayLogInterval, held)) {
            char more[96];
            LOG_WARN("TLS session ticket keys: Redis is away (%.*s); each node keeps its current keys, unrotated%s",
                     static_cast<int>(client_->last_error().size()), client_->last_error().data(),
                     LogThrottle::suffix(more, held));
        }
        return;
    }
    for (auto& e : entries_) e->start();
}

}  // namespace gw::tls
