#include "core/services/registry.h"

#include "core/config/config.h"
#include "core/redis/client.h"
#include "core/redis/options.h"
#include "http/client/client.h"

namespace gw::services {

Registry::Registry(event::Loop& loop, const Config& config) : loop_(loop), config_(config) {}

Registry::~Registry() = default;

redis::Client* Registry::redis() {
    if (!redis_ && config_.redis) {
        redis_ = std::make_unique<redis::Client>(loop_, redis::options_for(*config_.redis));
        redis_->start();
    }
    return redis_.get();
}

httpc::Client& Registry::http() {
    if (!http_) http_ = std::make_unique<httpc::Client>(loop_);
    return *http_;
}

void Registry::set(TypeId id, void* object) {
    for (auto& [key, value] : provided_) {
        if (key != id) continue;
        value = object;
        return;
    }
    provided_.emplace_back(id, object);
}

void* Registry::get(TypeId id) const {
    for (const auto& [key, value] : provided_)
        if (key == id) return value;
    return nullptr;
}

}  // namespace gw::services
