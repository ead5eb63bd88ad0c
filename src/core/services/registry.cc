#include "core/services/registry.h"

#include <algorithm>

namespace gw::services {

void Registry::set(Id id, void* service) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == id; });
    if (it != entries_.end()) {
        if (service)
            it->second = service;
        else
            entries_.erase(it);
    } else if (service) {
        entries_.emplace_back(id, service);
    }
}

void* Registry::get(Id id) const {
    for (const auto& [key, service] : entries_)
        if (key == id) return service;
    return nullptr;
}

}  // namespace gw::services
