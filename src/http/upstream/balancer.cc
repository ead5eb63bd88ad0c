// Load balancing algorithms: smooth weighted round robin, least connections, power of two random
// choices and consistent hashing on a ketama-style ring.
//
// Every algorithm works on one group of servers at a time: the non-backup servers first, and the
// backups only when no non-backup server is usable. pick() never allocates; whatever it needs is
// sized in the constructor.
#include "http/upstream/balancer.h"

#include <algorithm>
#include <string>

namespace gw::upstream {

namespace {

using Balance = UpstreamConfig::Balance;

// Common state: per-server weight, group membership and the shared in-flight counters.
class BalancerBase : public Balancer {
  public:
    BalancerBase(const UpstreamConfig& upstream, std::vector<std::atomic<int64_t>*>& active) {
        size_t n = upstream.servers.size();
        weight_.resize(n);
        active_.assign(n, nullptr);
        for (size_t i = 0; i < n; ++i) {
            const UpstreamServerConfig& s = upstream.servers[i];
            weight_[i] = s.weight == 0 ? 1 : static_cast<int64_t>(s.weight);
            if (i < active.size()) active_[i] = active[i];
            group_[s.backup ? 1 : 0].push_back(static_cast<uint32_t>(i));
        }
    }

    int pick(const PickInput& in) final {
        int chosen = pick_in_group(in, 0);
        if (chosen < 0) chosen = pick_in_group(in, 1);
        return chosen;
    }

  protected:
    // Picks among the usable servers of group 0 (primaries) or 1 (backups); -1 when none is.
    virtual int pick_in_group(const PickInput& in, int group) = 0;

    static bool usable(const PickInput& in, uint32_t i) { return i < in.usable.size() && in.usable[i] != 0; }

    int64_t load(uint32_t i) const {
        const std::atomic<int64_t>* a = active_[i];
        if (a == nullptr) return 0;
        int64_t v = a->load(std::memory_order_relaxed);
        return v < 0 ? 0 : v;
    }

    // load_a / weight_a < load_b / weight_b, without division.
    bool lighter(int64_t load_a, uint32_t a, int64_t load_b, uint32_t b) const {
        return static_cast<__int128>(load_a) * weight_[b] < static_cast<__int128>(load_b) * weight_[a];
    }

    std::vector<int64_t> weight_;
    std::vector<std::atomic<int64_t>*> active_;
    std::vector<uint32_t> group_[2];  // server indexes: [0] non-backup, [1] backup
};

// Smooth weighted round robin, as nginx does it: every usable server's current weight grows by
// its weight, the highest wins (the first of equals) and gives back the total.
class RoundRobin final : public BalancerBase {
  public:
    RoundRobin(const UpstreamConfig& upstream, std::vector<std::atomic<int64_t>*>& active)
        : BalancerBase(upstream, active), current_(weight_.size(), 0) {}

  private:
    int pick_in_group(const PickInput& in, int group) override {
        int64_t total = 0;
        int best = -1;
        for (uint32_t i : group_[group]) {
            if (!usable(in, i)) continue;
            current_[i] += weight_[i];
            total += weight_[i];
            if (best < 0 || current_[i] > current_[best]) best = static_cast<int>(i);
        }
        if (best >= 0) current_[best] -= total;
        return best;
    }

    std::vector<int64_t> current_;
};

// Least connections, weighted: the lowest active/weight wins; equals share by smooth WRR.
class LeastConn final : public BalancerBase {
  public:
    LeastConn(const UpstreamConfig& upstream, std::vector<std::atomic<int64_t>*>& active)
        : BalancerBase(upstream, active), current_(weight_.size(), 0), snapshot_(weight_.size(), 0) {}

  private:
    int pick_in_group(const PickInput& in, int group) override {
        // Pass 1: the lowest load. The counters are read once, so both passes see the same values
        // even while other workers change them.
        int least = -1;
        for (uint32_t i : group_[group]) {
            if (!usable(in, i)) continue;
            snapshot_[i] = load(i);
            if (least < 0 || lighter(snapshot_[i], i, snapshot_[least], static_cast<uint32_t>(least)))
                least = static_cast<int>(i);
        }
        if (least < 0) return -1;

        // Pass 2: smooth WRR among the servers as light as the lightest.
        uint32_t l = static_cast<uint32_t>(least);
        int64_t total = 0;
        int best = -1;
        for (uint32_t i : group_[group]) {
            if (!usable(in, i) || lighter(snapshot_[l], l, snapshot_[i], i)) continue;
            current_[i] += weight_[i];
            total += weight_[i];
            if (best < 0 || current_[i] > current_[best]) best = static_cast<int>(i);
        }
        current_[best] -= total;
        return best;
    }

    std::vector<int64_t> current_;
    std::vector<int64_t> snapshot_;
};

// Power of two random choices: two distinct usable servers drawn with probability proportional to
// their weight; the one with the lower active/weight wins (the first drawn on a tie).
class RandomTwo final : public BalancerBase {
  public:
    RandomTwo(const UpstreamConfig& upstream, std::vector<std::atomic<int64_t>*>& active, uint64_t seed)
        : BalancerBase(upstream, active), state_(seed) {}

  private:
    // splitmix64.
    uint64_t next() {
        state_ += 0x9e3779b97f4a7c15ULL;
        return mix64(state_);
    }

    // Uniform in [0, bound), bound > 0 (multiply-shift; the bias is below 2^-40 for our bounds).
    uint64_t below(uint64_t bound) {
        return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
    }

    // The usable server of `group` where the running weight passes `r`, skipping `skip`.
    int locate(const PickInput& in, int group, uint64_t r, int skip) const {
        int last = -1;
        for (uint32_t i : group_[group]) {
            if (!usable(in, i) || static_cast<int>(i) == skip) continue;
            uint64_t w = static_cast<uint64_t>(weight_[i]);
            if (r < w) return static_cast<int>(i);
            r -= w;
            last = static_cast<int>(i);
        }
        return last;
    }

    int pick_in_group(const PickInput& in, int group) override {
        uint64_t total = 0;
        int count = 0, only = -1;
        for (uint32_t i : group_[group]) {
            if (!usable(in, i)) continue;
            total += static_cast<uint64_t>(weight_[i]);
            ++count;
            only = static_cast<int>(i);
        }
        if (count <= 1) return only;

        int first = locate(in, group, below(total), -1);
        uint32_t a = static_cast<uint32_t>(first);
        int second = locate(in, group, below(total - static_cast<uint64_t>(weight_[a])), first);
        uint32_t b = static_cast<uint32_t>(second);
        return lighter(load(b), b, load(a), a) ? second : first;
    }

    uint64_t state_;
};

// Consistent hashing: each server owns weight*160 points on a 64-bit ring; a key goes to the
// first point at or after its hash (clockwise, wrapping) whose server is usable. Marking a server
// unusable moves only its own keys, spread over the others.
class Hash final : public BalancerBase {
  public:
    static constexpr int kPointsPerWeight = 160;

    Hash(const UpstreamConfig& upstream, std::vector<std::atomic<int64_t>*>& active)
        : BalancerBase(upstream, active) {
        const auto& servers = upstream.servers;
        for (int g = 0; g < 2; ++g) {
            size_t points = 0;
            for (uint32_t i : group_[g]) points += static_cast<size_t>(weight_[i]) * kPointsPerWeight;
            ring_[g].reserve(points);
        }
        std::string key;
        for (uint32_t i = 0; i < servers.size(); ++i) {
            // A server is identified by its address (so reordering the list moves nothing); the
            // second and later servers with the same address get an occurrence number.
            key = servers[i].address;
            uint32_t seen = 0;
            for (uint32_t j = 0; j < i; ++j)
                if (servers[j].address == servers[i].address) ++seen;
            if (seen > 0) key += "/" + std::to_string(seen);
            key += '#';
            size_t base = key.size();
            auto& ring = ring_[servers[i].backup ? 1 : 0];
            int64_t points = weight_[i] * kPointsPerWeight;
            for (int64_t p = 0; p < points; ++p) {
                key.resize(base);
                key += std::to_string(p);
                ring.push_back({hash_key(key), i});
            }
        }
        for (auto& ring : ring_)
            std::sort(ring.begin(), ring.end(), [](const Point& x, const Point& y) {
                return x.hash != y.hash ? x.hash < y.hash : x.server < y.server;
            });
    }

  private:
    struct Point {
        uint64_t hash;
        uint32_t server;
    };

    int pick_in_group(const PickInput& in, int group) override {
        bool any = false;
        for (uint32_t i : group_[group])
            if (usable(in, i)) {
                any = true;
                break;
            }
        if (!any) return -1;

        const auto& ring = ring_[group];
        size_t n = ring.size();
        auto it = std::lower_bound(ring.begin(), ring.end(), in.hash,
                                   [](const Point& p, uint64_t h) { return p.hash < h; });
        size_t start = static_cast<size_t>(it - ring.begin());
        for (size_t k = 0; k < n; ++k) {
            size_t idx = start + k;
            if (idx >= n) idx -= n;
            if (usable(in, ring[idx].server)) return static_cast<int>(ring[idx].server);
        }
        return -1;  // not reached: some server of the group is usable and has points
    }

    std::vector<Point> ring_[2];
};

}  // namespace

std::unique_ptr<Balancer> Balancer::create(const UpstreamConfig& upstream,
                                           std::vector<std::atomic<int64_t>*> active, uint64_t seed) {
    switch (upstream.balance) {
        case Balance::LeastConn:
            return std::make_unique<LeastConn>(upstream, active);
        case Balance::RandomTwo:
            return std::make_unique<RandomTwo>(upstream, active, seed);
        case Balance::Hash:
            return std::make_unique<Hash>(upstream, active);
        case Balance::RoundRobin:
            break;
    }
    return std::make_unique<RoundRobin>(upstream, active);
}

// FNV-1a 64 over the bytes, then the 64-bit finalizer above: FNV-1a alone leaves short keys that
// differ in their last byte close together, which would cluster them on the ring.
uint64_t hash_key(std::string_view key) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : key) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return mix64(h);
}

}  // namespace gw::upstream
