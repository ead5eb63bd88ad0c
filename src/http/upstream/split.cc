#include "http/upstream/split.h"

#include <cmath>

#include "http/upstream/balancer.h"

namespace gw::upstream {

namespace {

// A key's draw for one target: the two hashes combined, then a full-avalanche finalizer (the
// splitmix64 output function), so that the draws of one key for two targets are independent.
uint64_t draw(uint64_t key_hash, uint64_t target_seed) {
    return mix64(key_hash ^ (target_seed * 0x9e3779b97f4a7c15ULL));
}

}  // namespace

KeyedSplit::KeyedSplit(const std::vector<SplitTarget>& targets) {
    targets_.reserve(targets.size());
    for (const SplitTarget& t : targets)
        targets_.push_back({hash_key(t.upstream), 1.0 / static_cast<double>(t.weight)});
}

size_t KeyedSplit::pick(uint64_t key_hash) const {
    size_t best = 0;
    double best_score = 0;
    for (size_t i = 0; i < targets_.size(); ++i) {
        // The top 53 bits as a double in (0, 1]: never 0, so the log is finite.
        double u = static_cast<double>((draw(key_hash, targets_[i].seed) >> 11) + 1) * 0x1.0p-53;
        double score = -std::log(u) * targets_[i].inverse_weight;
        if (i == 0 || score < best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

}  // namespace gw::upstream
